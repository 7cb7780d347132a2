"""The stack outputs a JobAuditor construct declares, and how a reader (the CLI) finds them by stack
name wherever the construct sits. Standard library only.

CDK names an output after its construct path: `StateTableName` in this repo's stack (its construct is
the hidden "Default"), `JobAuditorStateTableName1A2B3C4D` for a construct "JobAuditor" in an app of
one's own. A reader matches the name with an optional prefix (the construct's path) and hash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

STATE_TABLE_NAME = "StateTableName"
EVENT_BUS_NAME = "EventBusName"
EVENT_BUS_ARN = "EventBusArn"
NOTIFICATION_TOPIC_ARN = "NotificationTopicArn"
OPS_TOPIC_ARN = "OpsTopicArn"
AUDITOR_FUNCTION_NAME = "AuditorFunctionName"
DEAD_LETTER_QUEUE_URL = "DeadLetterQueueUrl"
DASHBOARD_NAME = "DashboardName"
EVENT_SCHEMA_REGISTRY_NAME = "EventSchemaRegistryName"
EVENT_SCHEMA_NAME = "EventSchemaName"
SLACK_WEBHOOK_DEAD_LETTER_QUEUE_URL = "SlackWebhookDeadLetterQueueUrl"
# Only with a chat channel (Slack, Teams): the topic the auditor publishes chat notifications to.
CHAT_TOPIC_ARN = "ChatTopicArn"
# Only with discovery=cloudtrail: the queue of announced job starts the auditor drains.
START_QUEUE_ARN = "StartQueueArn"
# Only with several accounts: the role the member roles trust.
AUDITOR_ROLE_ARN = "AuditorRoleArn"
# What the auditor audits (comma lists): its regions (the stack's own where `regions` is not set) and
# its job kinds. `iam-policy` grants `run --once` these only (and refuses a stack deployed before them).
AUDITED_REGIONS = "AuditedRegions"
AUDITED_JOB_KINDS = "AuditedJobKinds"
# Only with several accounts: where they come from, "organization" (AWS Organizations lists them at
# run time: `run --once` lists them too) or "listed" (the accounts setting).
AUDITED_ACCOUNTS = "AuditedAccounts"
ORGANIZATION_ACCOUNTS = "organization"
LISTED_ACCOUNTS = "listed"
# Only where settings moved to SSM parameters (too large for Lambda's environment): their ARNs, a comma
# list, which `run --once` and `replay --parked` read as the auditor does.
SETTINGS_PARAMETER_ARNS = "SettingsParameterArns"

# Every stack has these.
_ALWAYS = (
    STATE_TABLE_NAME,
    EVENT_BUS_NAME,
    EVENT_BUS_ARN,
    NOTIFICATION_TOPIC_ARN,
    OPS_TOPIC_ARN,
    AUDITOR_FUNCTION_NAME,
    DEAD_LETTER_QUEUE_URL,
    DASHBOARD_NAME,
)
# The outputs a stack has only when configured so (or only since a version, or only where the service
# is offered): a reader must not expect them.
_SOMETIMES = (
    EVENT_SCHEMA_REGISTRY_NAME,
    EVENT_SCHEMA_NAME,
    SLACK_WEBHOOK_DEAD_LETTER_QUEUE_URL,
    CHAT_TOPIC_ARN,
    START_QUEUE_ARN,
    AUDITOR_ROLE_ARN,
    AUDITED_REGIONS,
    AUDITED_JOB_KINDS,
    AUDITED_ACCOUNTS,
    SETTINGS_PARAMETER_ARNS,
)
NAMES = (*_ALWAYS, *_SOMETIMES)
OPTIONAL = frozenset(_SOMETIMES)
# The outputs whose value is a comma list.
LISTS = frozenset({AUDITED_REGIONS, AUDITED_JOB_KINDS, SETTINGS_PARAMETER_ARNS})

_KEY = re.compile(r"^(?P<prefix>[A-Za-z0-9]*?)(?P<name>" + "|".join(NAMES) + r")(?:[0-9A-F]{8})?$")


class OutputsError(LookupError):
    """The stack holds no JobAuditor, or more than one and no prefix says which."""


def job_auditor_outputs(outputs: Iterable[Mapping[str, str]], prefix: str | None = None) -> dict[str, str]:
    """Output name -> value of the one JobAuditor among CloudFormation's `Outputs` of a stack
    (`OutputKey`/`OutputValue` pairs). `prefix` picks a construct when the stack holds several."""
    found: dict[str, dict[str, str]] = {}
    for output in outputs:
        match = _KEY.match(output.get("OutputKey", ""))
        if match and (prefix is None or match["prefix"] == prefix):
            found.setdefault(match["prefix"], {})[match["name"]] = output.get("OutputValue", "")
    complete = {p: values for p, values in found.items() if STATE_TABLE_NAME in values}
    if not complete:
        raise OutputsError("no JobAuditor outputs (StateTableName, EventBusName, ...) in the stack")
    if len(complete) > 1:
        names = ", ".join(sorted(p or "(none)" for p in complete))
        raise OutputsError(f"several JobAuditor constructs in the stack; pick one with --construct: {names}")
    return next(iter(complete.values()))
