"""The CDK context of job-auditor: one typed model, validated before any construct is built.

Every key is documented in the README ("Context keys") with its default and an example. A bad value fails
`cdk synth` with a message that names the key and the form it expects.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from job_auditor.contract.discovery import start_event_pattern
from job_auditor.contract.environment import (
    ACCOUNT_ID_PATTERN,
    BOUNDS,
    DEFAULT_MEMBER_ROLE_NAME,
    EVENT_SOURCE_FORM,
    EVENT_SOURCE_PATTERN,
    MEMBER_EXTERNAL_ID_PATTERN,
    MEMBER_ROLE_NAME_PATTERN,
    OR_KEY,
    ORGANIZATION,
    ORGANIZATIONAL_UNIT_PATTERN,
    REGION_PATTERN,
    STUCK_TRANSITION,
    kinds_example,
    kinds_form,
    parse_scope_items,
    parse_stuck_hours,
    scope_form,
    scope_settings,
    split_csv,
    stuck_hours_form,
)
from job_auditor.contract.kinds import JOB_KINDS, StatusCategory, default_kind_ids, every_status

_NAME_PREFIX = re.compile(r"[A-Za-z0-9._+-]{1,63}")
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")
# Organization mode: the forms of AWS Organizations' and IAM's own ids, shared with the Lambda's
# settings (contract.environment).
_ACCOUNT_ID = ACCOUNT_ID_PATTERN
_OU_OR_ROOT_ID = ORGANIZATIONAL_UNIT_PATTERN
_ORGANIZATION_ID = r"^o-[a-z0-9]{10,32}$"
_ROLE_NAME = f"^{MEMBER_ROLE_NAME_PATTERN.pattern}$"
_EXTERNAL_ID = f"^{MEMBER_EXTERNAL_ID_PATTERN.pattern}$"
_ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/([A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}$"
# A Metrics Insights alarm evaluates the latest three hours of data only.
METRICS_INSIGHTS_ALARM_MINUTES = 180

# Context keys that the Lambda's environment variables of the same meaning share their range with.
_LOOKBACK = BOUNDS["INITIAL_LOOKBACK_MINUTES"]
_OVERLAP = BOUNDS["OVERLAP_SECONDS"]
_RECHECK = BOUNDS["RECHECK_HORIZON_HOURS"]
_HISTORY = BOUNDS["HISTORY_TTL_DAYS"]
_STUCK_REPEAT = BOUNDS["STUCK_REPEAT_HOURS"]
_RECONCILE_EVERY = BOUNDS["RECONCILE_EVERY_MINUTES"]
_RECONCILE_LOOKBACK = BOUNDS["RECONCILE_LOOKBACK_HOURS"]
_PUBLISH_ATTEMPTS = BOUNDS["MAX_PUBLISH_ATTEMPTS"]
_VANISHED_CHECKS = BOUNDS["VANISHED_AFTER_CHECKS"]
_ACCOUNT_REGION_CONCURRENCY = BOUNDS["ACCOUNT_REGION_CONCURRENCY"]

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# Context key -> the form it expects, quoted in every validation error and in the docs. The keys
# and forms that name job kinds, statuses or scopes come from the registry (expected_forms()).
_FIXED_FORMS: dict[str, str] = {
    "stackName": "a CloudFormation stack name: a letter, then letters, digits or hyphens, e.g. JobAuditor",
    "regions": "a comma list of AWS region names, e.g. us-east-1,eu-west-1 (empty: the stack's region)",
    "scheduleRateMinutes": "a whole number of minutes from 1 to 1440, e.g. 5",
    "notificationEmails": "a comma list of email addresses, e.g. a@example.com,b@example.com",
    "opsEmails": "a comma list of email addresses, e.g. oncall@example.com",
    "slackWorkspaceId": "a Slack workspace (team) id such as T0123ABCD, given together with slackChannelId",
    "slackChannelId": "a Slack channel id such as C0123ABCD, given together with slackWorkspaceId",
    "slackWebhookSecretName": "the name of a Secrets Manager secret holding a Slack incoming-webhook URL "
    "(1 to 512 of A-Z a-z 0-9 / _ + = . @ -), e.g. job-auditor/slack-webhook",
    "notifyStatusCategories": f"a comma list of status categories from {', '.join(StatusCategory)}, "
    "e.g. FAILED,PARTIAL,EXPIRED (any kind's statuses of those categories notify people)",
    "notifyNamePrefixes": "a comma list of job name prefixes (letters, digits, . _ + -), e.g. prod-,release-",
    "notifyStuckAlerts": "true or false (false: stuck alerts follow notifyStatuses like any transition)",
    "stuckRepeatHours": f"{_STUCK_REPEAT.form('hours')} (0: alert once), e.g. 12",
    "initialLookbackMinutes": f"{_LOOKBACK.form('minutes')}, e.g. 1440",
    "overlapSeconds": f"{_OVERLAP.form('seconds')}, e.g. 300",
    "recheckHorizonHours": f"{_RECHECK.form('hours')}, e.g. 72",
    "announceBaseline": "true or false",
    "historyRetentionDays": f"{_HISTORY.form('days')}, e.g. 90",
    "archiveRetentionDays": "a whole number of days from 0 to 36500 (0: keep forever), e.g. 90",
    "removalPolicy": "retain or destroy",
    "functionMemoryMb": "a whole number of MB from 128 to 10240, e.g. 256",
    "functionTimeoutSeconds": "a whole number of seconds from 10 to 900, e.g. 120",
    "logRetentionDays": f"one of {', '.join(str(d) for d in LOG_RETENTION_DAYS)}",
    "logLevel": "one of DEBUG, INFO, WARNING, ERROR",
    "heartbeatPeriods": "a whole number of schedule periods from 1 to 1440, at most one day in all, e.g. 3",
    "powertoolsLayerVersion": "latest, or a Powertools for AWS Lambda (Python) v3 release such as 3.37.0",
    "eventSource": f"{EVENT_SOURCE_FORM}, e.g. job-auditor",
    "reconcileEveryMinutes": f"{_RECONCILE_EVERY.form('minutes')} (0: every run), e.g. 60",
    "reconcileLookbackHours": f"{_RECONCILE_LOOKBACK.form('hours')}, e.g. 24",
    "maxPublishAttempts": f"{_PUBLISH_ATTEMPTS.form()}, e.g. 5",
    "vanishedAfterChecks": f"{_VANISHED_CHECKS.form()}, e.g. 3",
    "accounts": f"a comma list of 12-digit AWS account ids, e.g. 111111111111,222222222222, or "
    f"{ORGANIZATION!r} (every active account of the organization, from AWS Organizations)",
    "organizationalUnits": "a comma list of organizational unit or root ids, e.g. ou-ab12-cdef3456,r-ab12",
    "memberRoleName": "an IAM role name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -), e.g. JobAuditorReader",
    "memberExternalId": "an STS external id (2 to 1224 of A-Z a-z 0-9 + = , . @ : / _ -), "
    "e.g. acme-job-auditor",
    "memberDeployment": "none or stackset (the member role as a service-managed StackSet to "
    "organizationalUnits)",
    "stackSetCallAs": "SELF (the hub is the management account) or DELEGATED_ADMIN (a CloudFormation "
    "delegated administrator)",
    "organizationId": "an AWS Organizations organization id, e.g. o-a1b2c3d4e5",
    "auditorRoleArn": "the IAM role ARN of the hub's auditor function (its AuditorRoleArn output), e.g. "
    "arn:aws:iam::111111111111:role/JobAuditor-AuditorRole1234-ABCD",
    "accountFailurePeriods": f"a whole number of schedule periods from 1 to 180, at most "
    f"{METRICS_INSIGHTS_ALARM_MINUTES} minutes in all, e.g. 3",
    "auditMode": "direct (the schedule invokes the auditor function) or stepfunctions (the schedule "
    "starts a state machine that fans the sources out over a Distributed Map)",
    "mapMaxConcurrency": "a whole number of child executions from 1 to 10000, e.g. 40",
    "itemsPerBatch": "a whole number of account-regions per child execution from 1 to 100, e.g. 10",
    "accountRegionConcurrency": f"{_ACCOUNT_REGION_CONCURRENCY.form('calls in flight')}, e.g. 2",
    "toleratedFailurePercentage": "a whole number of percent from 0 to 100, e.g. 10",
    "mapChildExecutionType": "express or standard (the Distributed Map's child executions)",
    "discovery": "listing (every run lists each source's window) or cloudtrail (new Q in Connect import "
    "jobs are announced by CloudTrail and followed with Get; listed in full only by the sweep)",
}


def expected_forms() -> dict[str, str]:
    """Every context key job-auditor defines -> the form it expects, for the kinds registered now."""
    forms = dict(_FIXED_FORMS)
    forms["jobKinds"] = f"{kinds_form()}, e.g. {kinds_example()}"
    forms["notifyStatuses"] = (
        f"a comma list of job statuses from {', '.join(every_status())}, e.g. Completed,Failed"
    )
    forms["notifyJobKinds"] = f"{kinds_form()} (those that notify people)"
    forms["stuckAfterHours"] = stuck_hours_form()
    for spec, setting in scope_settings():
        forms[setting.context_key] = scope_form(spec)
    return forms


def context_keys() -> tuple[str, ...]:
    return tuple(expected_forms())


# Context keys that belong to CDK, not to job-auditor, and pass unchecked: what the CLI sets on every
# run (aws:cdk:enable-path-metadata, aws:cdk:enable-asset-metadata, aws:cdk:version-reporting,
# aws:cdk:bundling-stacks, ...), feature flags in cdk.json (@aws-cdk/..., and
# @aws-cdk-containers/ecs-service-extensions:enableDefaultLogDriver among the recommended ones), CDK
# v1's aws-cdk:* keys, cached lookups in cdk.context.json (provider:account=...:region=...), and the
# CLI's notice acknowledgements and telemetry switch. Any other key is a typo or a key of another
# library: it fails synth, since ignoring it silently changes what is deployed.
_CDK_KEY_PREFIXES = ("aws:", "aws-cdk:", "@aws-cdk/", "@aws-cdk-containers/")
_CDK_KEYS = frozenset({"acknowledged-issue-numbers", "cli-telemetry"})
_LOOKUP_KEY = re.compile(r"[a-z][a-z0-9-]*:.*=.*")


def is_cdk_key(key: str) -> bool:
    """Whether a context key belongs to CDK itself (feature flags, the CLI's own, cached lookups)."""
    return key.startswith(_CDK_KEY_PREFIXES) or key in _CDK_KEYS or _LOOKUP_KEY.fullmatch(key) is not None


def _unknown_key(key: str) -> str:
    """The problem with a key job-auditor does not define, naming the closest one it does."""
    by_case = {known.lower(): known for known in context_keys()}
    close = difflib.get_close_matches(key.lower(), by_case, n=1, cutoff=0.6)
    hint = f"did you mean {by_case[close[0]]!r}?" if close else "the README lists the context keys"
    return f"unknown context key {key!r} ({hint})"


# SNS rejects a subscription filter policy whose "total combination of values" exceeds 150, counted
# by multiplying the number of values in each array. Read literally for "$or" (its own array too),
# which is at least what SNS and CDK's own check count, so synth fails before a deploy would.
MAX_FILTER_COMBINATIONS = 150


def filter_combinations(policy: Mapping[str, Sequence[Any]] | None) -> int:
    """The product of the lengths of every array in the policy, nested "$or" policies included."""
    total = 1
    for name, values in (policy or {}).items():
        total *= len(values)
        if name == OR_KEY:
            for alternative in values:
                total *= filter_combinations(alternative)
    return total


class ConfigError(ValueError):
    """The CDK context holds a malformed value; the message names each bad key."""


def _bad(values: tuple[str, ...], ok: Callable[[str], bool]) -> list[str]:
    return [v for v in values if not ok(v)]


# The keys that take comma lists (or JSON lists from cdk.json): split, then each item kept once.
_LIST_FIELDS = (
    "job_kinds",
    "regions",
    "notification_emails",
    "ops_emails",
    "notify_statuses",
    "notify_job_kinds",
    "notify_status_categories",
    "notify_name_prefixes",
    "accounts",
    "organizational_units",
)


class JobAuditorProps(BaseModel):
    """The validated settings of one JobAuditor (its typed props; the CDK context keys are the aliases)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    stack_name: Annotated[str, Field(alias="stackName", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")] = (
        "JobAuditor"
    )
    job_kinds: tuple[str, ...] = Field(default_factory=default_kind_ids, alias="jobKinds", min_length=1)
    regions: tuple[str, ...] = ()
    # Kind id -> configured scope ids (from each kind's scope context key, e.g.
    # qconnectKnowledgeBaseIds); a kind not here discovers its scope. Filled by load_config.
    configured_scopes: dict[str, tuple[tuple[str, ...], ...]] = Field(default_factory=dict)
    schedule_rate_minutes: Annotated[int, Field(alias="scheduleRateMinutes", ge=1, le=1440)] = 5
    notification_emails: Annotated[tuple[str, ...], Field(alias="notificationEmails")] = ()
    ops_emails: Annotated[tuple[str, ...], Field(alias="opsEmails")] = ()
    slack_workspace_id: Annotated[
        str | None, Field(alias="slackWorkspaceId", pattern=r"^[0-9A-Z]{1,255}$")
    ] = None
    slack_channel_id: Annotated[
        str | None, Field(alias="slackChannelId", pattern=r"^[A-Za-z0-9]{1,256}$")
    ] = None
    slack_webhook_secret_name: Annotated[
        str | None, Field(alias="slackWebhookSecretName", pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$")
    ] = None
    notify_statuses: Annotated[tuple[str, ...], Field(alias="notifyStatuses")] = ()
    notify_job_kinds: Annotated[tuple[str, ...], Field(alias="notifyJobKinds")] = ()
    notify_status_categories: Annotated[tuple[str, ...], Field(alias="notifyStatusCategories")] = ()
    notify_name_prefixes: Annotated[tuple[str, ...], Field(alias="notifyNamePrefixes")] = ()
    # Stuck alerts reach people whatever notifyStatuses says (their status is an in-progress one).
    notify_stuck_alerts: Annotated[bool, Field(alias="notifyStuckAlerts")] = True
    stuck_after_hours: Annotated[str, Field(alias="stuckAfterHours")] = "24"
    stuck_repeat_hours: Annotated[
        int, Field(alias="stuckRepeatHours", ge=_STUCK_REPEAT.low, le=_STUCK_REPEAT.high)
    ] = 0
    initial_lookback_minutes: Annotated[
        int, Field(alias="initialLookbackMinutes", ge=_LOOKBACK.low, le=_LOOKBACK.high)
    ] = 24 * 60
    overlap_seconds: Annotated[int, Field(alias="overlapSeconds", ge=_OVERLAP.low, le=_OVERLAP.high)] = 300
    recheck_horizon_hours: Annotated[
        int, Field(alias="recheckHorizonHours", ge=_RECHECK.low, le=_RECHECK.high)
    ] = 72
    announce_baseline: Annotated[bool, Field(alias="announceBaseline")] = False
    history_retention_days: Annotated[
        int, Field(alias="historyRetentionDays", ge=_HISTORY.low, le=_HISTORY.high)
    ] = 90
    archive_retention_days: Annotated[int, Field(alias="archiveRetentionDays", ge=0, le=36_500)] = 90
    removal_policy: Annotated[Literal["retain", "destroy"], Field(alias="removalPolicy")] = "retain"
    function_memory_mb: Annotated[int, Field(alias="functionMemoryMb", ge=128, le=10_240)] = 256
    function_timeout_seconds: Annotated[int, Field(alias="functionTimeoutSeconds", ge=10, le=900)] = 120
    log_retention_days: Annotated[int, Field(alias="logRetentionDays")] = 30
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], Field(alias="logLevel")] = "INFO"
    heartbeat_periods: Annotated[int, Field(alias="heartbeatPeriods", ge=1, le=1440)] = 3
    powertools_layer_version: Annotated[
        str, Field(alias="powertoolsLayerVersion", pattern=r"^(latest|3\.\d+\.\d+)$")
    ] = "3.37.0"  # the Powertools release pinned in requirements.txt (tests/infra/test_powertools_pin.py)
    event_source: Annotated[str, Field(alias="eventSource")] = "job-auditor"
    # Passed on as the reconciliation sweep's and the publish protocol's variables (auditor.settings).
    reconcile_every_minutes: Annotated[
        int, Field(alias="reconcileEveryMinutes", ge=_RECONCILE_EVERY.low, le=_RECONCILE_EVERY.high)
    ] = 60
    reconcile_lookback_hours: Annotated[
        int, Field(alias="reconcileLookbackHours", ge=_RECONCILE_LOOKBACK.low, le=_RECONCILE_LOOKBACK.high)
    ] = 24
    max_publish_attempts: Annotated[
        int, Field(alias="maxPublishAttempts", ge=_PUBLISH_ATTEMPTS.low, le=_PUBLISH_ATTEMPTS.high)
    ] = 5
    vanished_after_checks: Annotated[
        int, Field(alias="vanishedAfterChecks", ge=_VANISHED_CHECKS.low, le=_VANISHED_CHECKS.high)
    ] = 3
    # Organization mode (docs/organization.md). Empty: the home account only; ("organization",): every
    # active account AWS Organizations lists (limited to organizational_units when given).
    accounts: tuple[str, ...] = ()
    organizational_units: Annotated[tuple[str, ...], Field(alias="organizationalUnits")] = ()
    member_role_name: Annotated[str, Field(alias="memberRoleName", pattern=_ROLE_NAME)] = (
        DEFAULT_MEMBER_ROLE_NAME
    )
    member_external_id: Annotated[str | None, Field(alias="memberExternalId", pattern=_EXTERNAL_ID)] = None
    member_deployment: Annotated[Literal["none", "stackset"], Field(alias="memberDeployment")] = "none"
    stack_set_call_as: Annotated[Literal["SELF", "DELEGATED_ADMIN"] | None, Field(alias="stackSetCallAs")] = (
        None
    )
    organization_id: Annotated[str | None, Field(alias="organizationId", pattern=_ORGANIZATION_ID)] = None
    # The stand-alone member stack's trusted principal (app.py defines <stackName>Member when given).
    auditor_role_arn: Annotated[str | None, Field(alias="auditorRoleArn", pattern=_ROLE_ARN)] = None
    account_failure_periods: Annotated[int, Field(alias="accountFailurePeriods", ge=1, le=180)] = 3

    # Fan-out (docs/performance.md, "Organization fan-out"): the defaults are the cheapest that keep
    # 1,000 sources within a minute per period.
    audit_mode: Annotated[Literal["direct", "stepfunctions"], Field(alias="auditMode")] = "direct"
    map_max_concurrency: Annotated[int, Field(alias="mapMaxConcurrency", ge=1, le=10_000)] = 40
    items_per_batch: Annotated[int, Field(alias="itemsPerBatch", ge=1, le=100)] = 20
    account_region_concurrency: Annotated[
        int,
        Field(
            alias="accountRegionConcurrency",
            ge=_ACCOUNT_REGION_CONCURRENCY.low,
            le=_ACCOUNT_REGION_CONCURRENCY.high,
        ),
    ] = 2
    tolerated_failure_percentage: Annotated[int, Field(alias="toleratedFailurePercentage", ge=0, le=100)] = 10
    map_child_execution_type: Annotated[
        Literal["express", "standard"], Field(alias="mapChildExecutionType")
    ] = "express"
    discovery: Annotated[Literal["listing", "cloudtrail"], Field(alias="discovery")] = "listing"

    @field_validator(*_LIST_FIELDS, mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return split_csv(value)

    @field_validator(*_LIST_FIELDS)
    @classmethod
    def _each_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Order kept; a repeated kind or knowledge base would be audited twice at once.
        return tuple(dict.fromkeys(value))

    # fullmatch throughout: with match, a pattern ending in $ lets a trailing newline through.
    @field_validator("job_kinds", "notify_job_kinds")
    @classmethod
    def _kind_form(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if bad := _bad(value, JOB_KINDS.__contains__):
            raise ValueError(f"unknown job kinds: {bad}")
        return value

    @field_validator("notify_status_categories")
    @classmethod
    def _category_form(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if bad := _bad(value, lambda v: v in StatusCategory.__members__):
            raise ValueError(f"unknown status categories: {bad}")
        return value

    @field_validator("regions")
    @classmethod
    def _region_form(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if bad := _bad(value, lambda v: bool(REGION_PATTERN.fullmatch(v))):
            raise ValueError(f"not region names: {bad}")
        return value

    @field_validator("notification_emails", "ops_emails")
    @classmethod
    def _email_form(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if bad := _bad(value, lambda v: bool(_EMAIL.fullmatch(v))):
            raise ValueError(f"not email addresses: {bad}")
        return value

    @field_validator("notify_statuses")
    @classmethod
    def _status_form(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if bad := _bad(value, every_status().__contains__):
            raise ValueError(f"unknown statuses: {bad}")
        return value

    @field_validator("accounts")
    @classmethod
    def _account_form(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value == (ORGANIZATION,):
            return value
        if ORGANIZATION in value:
            raise ValueError(f"{ORGANIZATION!r} stands alone, not in a list of account ids")
        if bad := _bad(value, lambda v: bool(_ACCOUNT_ID.fullmatch(v))):
            raise ValueError(f"not account ids: {bad}")
        return value

    @field_validator("organizational_units")
    @classmethod
    def _ou_form(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if bad := _bad(value, lambda v: bool(_OU_OR_ROOT_ID.fullmatch(v))):
            raise ValueError(f"not organizational unit or root ids: {bad}")
        return value

    @field_validator("member_deployment", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("stack_set_call_as", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("notify_name_prefixes")
    @classmethod
    def _prefix_form(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if bad := _bad(value, lambda v: bool(_NAME_PREFIX.fullmatch(v))):
            raise ValueError(f"not job name prefixes: {bad}")
        return value

    @field_validator("stuck_after_hours", mode="before")
    @classmethod
    def _stuck_form(cls, value: object) -> object:
        # Passed to the Lambda as STUCK_AFTER_HOURS: checked by the Lambda's own parser.
        text = str(value).strip()
        parse_stuck_hours(text)
        return text

    @field_validator("event_source")
    @classmethod
    def _event_source_form(cls, value: str) -> str:
        # The Lambda's own EVENT_SOURCE form: EventBridge reserves the aws. prefix for AWS services.
        if not EVENT_SOURCE_PATTERN.fullmatch(value):
            raise ValueError(f"got {value!r}")
        return value

    @field_validator("slack_webhook_secret_name", mode="before")
    @classmethod
    def _not_a_url(cls, value: object) -> object:
        # Context ends up in cdk.context.json, the cloud assembly and shell history: never a secret.
        # The message does not repeat the value.
        if isinstance(value, str) and re.match(r"^\s*(https?:|[^/]*hooks\.slack\.com)", value, re.IGNORECASE):
            raise ValueError(
                "this looks like the webhook URL itself; secrets never go in CDK context: store the URL "
                "in Secrets Manager and give the secret's name"
            )
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention_form(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs does not offer a retention of {value} days")
        return value

    @field_validator("announce_baseline", "notify_stuck_alerts", mode="before")
    @classmethod
    def _strict_bool(cls, value: object) -> object:
        # pydantic also takes yes/no/on/off/1/0; the documented form is true or false only.
        if isinstance(value, str) and value.strip().lower() not in {"true", "false"}:
            raise ValueError(f"got {value!r}")
        return value.strip().lower() == "true" if isinstance(value, str) else value

    @field_validator("audit_mode", "map_child_execution_type", "discovery", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("removal_policy", "log_level", mode="before")
    @classmethod
    def _normalise_case(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        return (
            value.strip().lower() if value.strip().lower() in {"retain", "destroy"} else value.strip().upper()
        )

    @model_validator(mode="before")
    @classmethod
    def _default_audit_mode(cls, data: object) -> object:
        """auditMode not given: direct for the home account alone, stepfunctions once `accounts` names
        others (one invocation does not reach an organization's sources inside its timeout)."""
        if isinstance(data, Mapping) and not {"auditMode", "audit_mode"} & set(data):
            accounts = data.get("accounts")
            if accounts not in (None, "", [], ()):
                return {**data, "auditMode": "stepfunctions"}
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> JobAuditorProps:
        if (self.slack_workspace_id is None) != (self.slack_channel_id is None):
            missing = "slackChannelId" if self.slack_channel_id is None else "slackWorkspaceId"
            raise ValueError(f"{missing}: required when the other Slack id is given")
        if (combinations := filter_combinations(self.notification_filter)) > MAX_FILTER_COMBINATIONS:
            raise ValueError(
                f"notifyStatuses, notifyStatusCategories, notifyJobKinds, notifyNamePrefixes: together they "
                "make an SNS filter "
                f"policy of {combinations} combinations of values, and SNS takes at most "
                f"{MAX_FILTER_COMBINATIONS}: list fewer (or set notifyStuckAlerts=false)"
            )
        if self.heartbeat_periods * self.schedule_rate_minutes > 1440:
            raise ValueError(
                "heartbeatPeriods: heartbeatPeriods x scheduleRateMinutes must be at most 1440 minutes "
                "(a CloudWatch alarm period is at most one day)"
            )
        self._organization_checks()
        if self.discovery == "cloudtrail" and self.audit_mode != "direct":
            raise ValueError(
                "discovery: cloudtrail needs auditMode=direct (one run drains the queue of announced "
                "starts; the fan-out's children would take each other's)"
            )
        if self.discovery == "cloudtrail" and start_event_pattern(self.job_kinds) is None:
            raise ValueError("discovery: cloudtrail needs a job kind whose starts CloudTrail announces")
        return self

    def _organization_checks(self) -> None:
        """The rules between the organization mode's keys; each message names the key it is about."""
        stackset = self.member_deployment == "stackset"
        if self.organizational_units and not (self.organization_mode or stackset):
            raise ValueError(
                f"organizationalUnits: only used with accounts={ORGANIZATION} (the OUs whose accounts are "
                "audited) or memberDeployment=stackset (the OUs the member role is deployed to)"
            )
        if stackset:
            missing = [
                key
                for key, given in (
                    ("accounts", self.multi_account),
                    ("organizationalUnits", self.organizational_units),
                    ("organizationId", self.organization_id),
                )
                if not given
            ]
            if missing:
                raise ValueError(
                    f"memberDeployment: stackset needs {', '.join(missing)} (the accounts to audit, the OUs "
                    "to deploy the member role to, and the organization the role trusts)"
                )
        elif self.stack_set_call_as is not None:
            raise ValueError("stackSetCallAs: only used with memberDeployment=stackset")
        minutes = self.account_failure_periods * self.schedule_rate_minutes
        if self.multi_account and minutes > METRICS_INSIGHTS_ALARM_MINUTES:
            raise ValueError(
                "accountFailurePeriods: accountFailurePeriods x scheduleRateMinutes must be at most "
                f"{METRICS_INSIGHTS_ALARM_MINUTES} minutes with several accounts (the per-account failure "
                "alarm is a Metrics Insights alarm, which evaluates the latest three hours only)"
            )

    @property
    def multi_account(self) -> bool:
        """Whether accounts other than the home one are audited (accounts is set)."""
        return bool(self.accounts)

    @property
    def organization_mode(self) -> bool:
        """Whether the accounts come from AWS Organizations (accounts=organization)."""
        return self.accounts == (ORGANIZATION,)

    @property
    def call_as(self) -> str:
        """The StackSet's CallAs: SELF unless stackSetCallAs says DELEGATED_ADMIN."""
        return self.stack_set_call_as or "SELF"

    @property
    def slack_enabled(self) -> bool:
        return self.slack_workspace_id is not None and self.slack_channel_id is not None

    @property
    def notification_filter(self) -> dict[str, list[Any]] | None:
        """Which transitions reach people, as an SNS filter policy over the Lambda's message
        attributes: carried by every human subscription, and applied by the Lambda to the chat topic.

        A stuck alert carries the job's in-progress status, which a filter of outcomes (Completed,
        Failed) would drop: unless notifyStuckAlerts is false, stuck alerts pass the status condition
        on their own ($or), while the job kind and name conditions still apply to them."""
        policy: dict[str, list[Any]] = {}
        # The outcomes asked for: a status or a category (either one lets a transition through).
        outcomes: list[dict[str, list[Any]]] = []
        if self.notify_statuses:
            outcomes.append({"status": list(self.notify_statuses)})
        if self.notify_status_categories:
            outcomes.append({"statusCategory": list(self.notify_status_categories)})
        if outcomes and self.notify_stuck_alerts:
            outcomes.append({"transition": [STUCK_TRANSITION]})
        if len(outcomes) == 1:
            policy |= outcomes[0]
        elif outcomes:
            policy[OR_KEY] = outcomes
        if self.notify_job_kinds:
            policy["jobKind"] = list(self.notify_job_kinds)
        if self.notify_name_prefixes:
            policy["jobName"] = [{"prefix": p} for p in self.notify_name_prefixes]
        return policy or None

    def scope_ids(self, kind_id: str) -> tuple[tuple[str, ...], ...]:
        """The configured scope ids of a kind (empty: discovered)."""
        return self.configured_scopes.get(kind_id, ())

    @property
    def claim_lease_seconds(self) -> int:
        """A claim's lease must outlive one run: the function timeout plus five minutes."""
        return self.function_timeout_seconds + 300


def _message(error: Mapping[str, Any]) -> str:
    loc = error.get("loc") or ()
    key = str(loc[0]) if loc else ""
    msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    forms = expected_forms()
    if key in forms:
        # Parsers shared with the Lambda's settings quote the expected form themselves.
        if msg.startswith("expected "):
            return f"{key}: {msg}"
        return f"{key}: {msg}; expected {forms[key]}"
    # Cross-field checks name their key at the start of the message.
    text = msg
    named = text.split(":", 1)[0]
    if named in forms:
        return f"{text}; expected {forms[named]}"
    return f"{key or 'context'}: {text}"


def _scope_values(
    context: Mapping[str, object], problems: list[str]
) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Each kind's scope context key, parsed with the Lambda's own parser (a comma string from -c, or a
    JSON list from cdk.json)."""
    scopes: dict[str, tuple[tuple[str, ...], ...]] = {}
    for spec, setting in scope_settings():
        value = context.get(setting.context_key)
        if value is None:
            continue
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        # cdk.json list items are taken whole, like every other list key's: no surrounding blanks.
        if isinstance(value, list | tuple) and (padded := [v for v in map(str, value) if v != v.strip()]):
            problems.append(f"{setting.context_key}: expected {scope_form(spec)}, got {padded[0]!r}")
            continue
        try:
            if items := parse_scope_items(spec, text):
                scopes[spec.id] = items
        except ValueError as exc:
            problems.append(f"{setting.context_key}: {exc}")
    return scopes


def as_props(props: JobAuditorProps | Mapping[str, object] | None) -> JobAuditorProps:
    """`props` as given to a construct: typed props as they are, context keys validated (None: defaults)."""
    if isinstance(props, JobAuditorProps):
        return props
    return load_config(props or {})


def load_config(context: Mapping[str, object]) -> JobAuditorProps:
    """Build the config from CDK context values (strings from `-c`, or JSON values from cdk.json).

    Keys CDK itself uses (is_cdk_key) pass unchecked; any other key job-auditor does not define fails,
    naming the closest one it does. Every problem is reported in one ConfigError.
    """
    forms = expected_forms()
    scope_keys = {setting.context_key for _, setting in scope_settings()}
    problems = [_unknown_key(key) for key in context if key not in forms and not is_cdk_key(key)]
    raw: dict[str, object] = {
        key: value
        for key, value in context.items()
        if key in forms and key not in scope_keys and value is not None
    }
    raw["configured_scopes"] = _scope_values(context, problems)
    config: JobAuditorProps | None = None
    try:
        config = JobAuditorProps.model_validate(raw)
    except ValidationError as exc:
        problems += [_message(error) for error in exc.errors()]
    if problems or config is None:
        raise ConfigError("invalid job-auditor context: " + " | ".join(problems))
    return config
