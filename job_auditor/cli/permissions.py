"""What each command may call, in one table: the IAM actions and the resources they act on, as ARNs
built from the stack's outputs. `job-auditor iam-policy` prints the policy; a test records every AWS
call the commands make and checks this table covers it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from job_auditor import stack_outputs
from job_auditor.contract.kinds import JOB_KINDS, IamGrant, JobKindSpec
from job_auditor.contract.state_schema import STATE_STORE_ACTIONS


@dataclass(frozen=True)
class Access:
    """One statement: actions on resources (ARN templates with `${Name}` placeholders)."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Any] = field(default_factory=dict)
    # Only for a stack whose output (name, value) is so: e.g. organization mode's listing.
    only_where: tuple[str, str] | None = None


_ACCOUNT_ARN = "arn:${Partition}:{service}:${Region}:${Account}:"
_TABLE = "arn:${Partition}:dynamodb:${Region}:${Account}:table/${" + stack_outputs.STATE_TABLE_NAME + "}"

STACK = Access(
    "ReadTheStacksOutputs",
    ("cloudformation:DescribeStacks",),
    ("arn:${Partition}:cloudformation:${Region}:${Account}:stack/${StackName}/*",),
)
QUERY_STATE = Access("QueryTheStateTable", ("dynamodb:Query",), (_TABLE, _TABLE + "/index/*"))
READ_CHECKPOINTS = Access("ReadTheCheckpoints", ("dynamodb:BatchGetItem",), (_TABLE,))
# What the auditor's own run does to its table (its role's grant, less the Scan it never makes).
WRITE_STATE = Access(
    "AuditIntoTheStateTable",
    STATE_STORE_ACTIONS,
    (_TABLE, _TABLE + "/index/*"),
)
# `replay --parked`: a channel that takes a parked transition leaves its parked item (rewritten, or
# deleted with the last one) and is added to its history item.
UNPARK = Access(
    "RedriveParkedTransitions", ("dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"), (_TABLE,)
)
FUNCTION = Access(
    "ReadTheAuditorsConfiguration",
    ("lambda:GetFunctionConfiguration",),
    ("arn:${Partition}:lambda:${Region}:${Account}:function:${" + stack_outputs.AUDITOR_FUNCTION_NAME + "}",),
)
BUS = Access("PutEventsOnTheBus", ("events:PutEvents",), ("${" + stack_outputs.EVENT_BUS_ARN + "}",))
TOPIC = Access(
    "PublishToTheNotificationTopic", ("sns:Publish",), ("${" + stack_outputs.NOTIFICATION_TOPIC_ARN + "}",)
)
# Only where the stack has a chat channel (its ChatTopicArn output): the auditor's own channels, which
# `replay --parked` and `run --once` publish through, include the chat topic.
CHAT_TOPIC = Access("PublishToTheChatTopic", ("sns:Publish",), ("${" + stack_outputs.CHAT_TOPIC_ARN + "}",))
# Only where the stack has discovery=cloudtrail (its StartQueueArn output): `run --once` drains the
# announced job starts as the auditor does (the queue is encrypted with SQS's own keys).
START_QUEUE = Access(
    "ReadTheAnnouncedJobStarts",
    ("sqs:DeleteMessage", "sqs:ReceiveMessage"),
    ("${" + stack_outputs.START_QUEUE_ARN + "}",),
)
# Only where settings moved to SSM parameters (its SettingsParameterArns output): `run --once` and
# `replay --parked` load the auditor's settings as it does, reading them back.
SETTINGS = Access(
    "ReadTheMovedSettings", ("ssm:GetParameters",), ("${" + stack_outputs.SETTINGS_PARAMETER_ARNS + "}",)
)
# Only in organization mode (its AuditedAccounts output): `run --once` lists the accounts as the auditor
# does (ListAccounts has no resource type; with organizationalUnits, the OUs' accounts and child OUs).
_ORGANIZATION_MODE = (stack_outputs.AUDITED_ACCOUNTS, stack_outputs.ORGANIZATION_ACCOUNTS)
LIST_ACCOUNTS = Access(
    "ListTheOrganizationsAccounts", ("organizations:ListAccounts",), ("*",), only_where=_ORGANIZATION_MODE
)
LIST_TREE = Access(
    "ListTheOrganizationalUnits",
    ("organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"),
    (
        "arn:${Partition}:organizations::*:ou/o-*/ou-*",
        "arn:${Partition}:organizations::*:root/o-*/r-*",
    ),
    only_where=_ORGANIZATION_MODE,
)
# The topics' customer managed key, used only through SNS in the stack's region (its ARN is no output).
TOPIC_KEY = Access(
    "UseTheTopicsKeyThroughSns",
    ("kms:Decrypt", "kms:GenerateDataKey*"),
    ("arn:${Partition}:kms:${Region}:${Account}:key/*",),
    {"StringEquals": {"kms:ViaService": "sns.${Region}.amazonaws.com"}},
)


def _grants(spec: JobKindSpec) -> list[IamGrant]:
    return [*spec.iam, *(step.iam for step in spec.discovery)]


# The audited regions (the AuditedRegions output: `iam-policy` refuses a stack without it).
_IN_AUDITED_REGIONS = {"StringEquals": {"aws:RequestedRegion": "${" + stack_outputs.AUDITED_REGIONS + "}"}}


def job_kind_access(kinds: Iterable[str] = JOB_KINDS) -> list[Access]:
    """What `run --once` needs to read these kinds' jobs (the auditor role's grants, from the job-kind
    registry), in the audited regions only (aws:RequestedRegion): the list operations, which have no
    resource type, on `*`; the others on their resource type, any id."""
    specs = [JOB_KINDS[k] for k in kinds]
    unscoped = sorted({a for s in specs for g in _grants(s) if g.resource is None for a in g.actions})
    found = [Access("ListJobs", tuple(unscoped), ("*",), _IN_AUDITED_REGIONS)]
    for spec in specs:
        for number, grant in enumerate(g for g in _grants(spec) if g.resource is not None):
            resource = str(grant.resource).format(*("*" for _ in range(str(grant.resource).count("{"))))
            sid = "Read" + "".join(part.capitalize() for part in spec.id.split("-")) + str(number)
            arn = f"arn:${{Partition}}:{grant.service}:*:${{Account}}:{resource}"
            found.append(Access(sid, tuple(sorted(grant.actions)), (arn,), _IN_AUDITED_REGIONS))
    return found


def command_table(kinds: Iterable[str] = JOB_KINDS) -> dict[str, tuple[Access, ...]]:
    """The table for a stack auditing `kinds`: each command, and what it needs. `replay --notify` is apart
    from `replay` so that an operator may re-drive the bus without being able to notify people again."""
    return {
        "status": (STACK, QUERY_STATE, READ_CHECKPOINTS),
        "jobs": (STACK, QUERY_STATE),
        "history": (STACK, QUERY_STATE),
        "replay": (STACK, QUERY_STATE, FUNCTION, BUS),
        "replay --notify": (STACK, QUERY_STATE, FUNCTION, SETTINGS, BUS, TOPIC, CHAT_TOPIC, TOPIC_KEY),
        "replay --parked": (
            *(STACK, QUERY_STATE, FUNCTION, SETTINGS, UNPARK, BUS, TOPIC, CHAT_TOPIC, TOPIC_KEY),
        ),
        "run": (
            *(STACK, FUNCTION, SETTINGS, WRITE_STATE, BUS, TOPIC, CHAT_TOPIC, TOPIC_KEY, START_QUEUE),
            *(LIST_ACCOUNTS, LIST_TREE),
            *job_kind_access(kinds),
        ),
        "iam-policy": (STACK,),
    }


# The commands that load the auditor's settings (its regions, kinds, accounts, SSM parameters).
NEED_THE_AUDIT_SCOPE = frozenset({"run", "replay --parked", "replay --notify"})
# The table with every kind: what a command may call at most (`--template`, the tests' call check).
COMMANDS = command_table()

PLACEHOLDERS: dict[str, str] = {}  # `--template`: every ${Name} stays as it is


# API operations authorized by an action of another name (the Service Authorization Reference has no
# sns:PublishBatch nor sqs:DeleteMessageBatch: a batch is authorized by the single call's action, as the
# auditor's own role is granted).
_ACTION_OF_OPERATION = {"sns:PublishBatch": "sns:Publish", "sqs:DeleteMessageBatch": "sqs:DeleteMessage"}


def iam_action(service: str, operation: str) -> str:
    """The IAM action that authorizes an API operation (`service` is its signing name: wisdom, ...)."""
    name = f"{service}:{operation}"
    return _ACTION_OF_OPERATION.get(name, name)


def actions_of(command: str) -> set[str]:
    """The IAM actions the table grants `command`."""
    return {action for access in COMMANDS[command] for action in access.actions}


def values_of(stack: str, region: str, outputs: Mapping[str, str]) -> dict[str, str]:
    """The placeholders' values for one deployed stack: its outputs, its name and region, and the
    partition and account of its bus's ARN."""
    arn = outputs.get(stack_outputs.EVENT_BUS_ARN) or outputs.get(stack_outputs.NOTIFICATION_TOPIC_ARN, "")
    parts = arn.split(":")
    partition, account = (parts[1], parts[4]) if len(parts) > 4 else ("aws", "${Account}")
    return {**outputs, "StackName": stack, "Region": region, "Partition": partition, "Account": account}


def _fill(text: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


def _listed(text: str, values: Mapping[str, str]) -> list[str] | None:
    """The items of a comma-list output `text` names alone ("${AuditedRegions}"), if it has a value."""
    for name in stack_outputs.LISTS:
        if text == "${" + name + "}" and values.get(name):
            return [item for item in values[name].split(",") if item]
    return None


def _filled(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        listed = _listed(value, values)
        return listed if listed is not None else _fill(value, values)
    if isinstance(value, Mapping):
        return {k: _filled(v, values) for k, v in value.items()}
    return value


def _absent(resource: str, values: Mapping[str, str]) -> bool:
    """Whether `resource` names an output the stack does not have (a chat topic where no chat channel is
    configured). With no values at all (`--template`) every placeholder stays."""
    return bool(values) and any(
        "${" + name + "}" in resource and name not in values for name in stack_outputs.OPTIONAL
    )


def policy(commands: Sequence[str], values: Mapping[str, str]) -> dict[str, Any]:
    """The IAM policy document for `commands`: each statement once, placeholders filled from `values`;
    a statement only on resources the stack does not have is left out."""
    kinds = _listed("${" + stack_outputs.AUDITED_JOB_KINDS + "}", values)
    table = COMMANDS if kinds is None else command_table([k for k in kinds if k in JOB_KINDS])
    statements: dict[str, Access] = {}
    for command in commands:
        for access in table[command]:
            statements.setdefault(access.sid, access)
    found = []
    for access in statements.values():
        if values and access.only_where and values.get(access.only_where[0]) != access.only_where[1]:
            continue
        resources = [
            item
            for r in access.resources
            if not _absent(r, values)
            for item in (_listed(r, values) or [_fill(r, values)])
        ]
        if resources:
            found.append(
                {
                    "Sid": access.sid,
                    "Effect": "Allow",
                    "Action": list(access.actions),
                    "Resource": resources,
                    **({"Condition": _filled(access.condition, values)} if access.condition else {}),
                }
            )
    return {"Version": "2012-10-17", "Statement": found}


def unfilled(document: Mapping[str, Any]) -> list[str]:
    """The placeholders a filled policy still holds (`${Name}`: an output the stack does not have)."""
    return sorted(set(re.findall(r"\$\{([A-Za-z]+)\}", json.dumps(document))))
