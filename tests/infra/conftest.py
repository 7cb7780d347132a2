"""Shared CDK fixtures: each stack variant is synthesized once per test session (jsii is slow)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

KB_ID = "11111111-2222-3333-4444-555555555555"

# Everything optional switched on: emails with a status filter, Slack, named knowledge bases, two regions.
FULL_CONTEXT: dict[str, object] = {
    "stackName": "JobAuditorFull",
    "notificationEmails": "a@example.com,b@example.com",
    "opsEmails": "ops@example.com",
    "notifyStatuses": "Completed,Failed,COMPLETE,FAILED",
    "notifyNamePrefixes": "prod-,release-",
    "slackWorkspaceId": "T0123ABCD",
    "slackChannelId": "C0123ABCD",
    "qconnectKnowledgeBaseIds": KB_ID,
    "regions": "us-east-1,eu-west-1",
    "scheduleRateMinutes": "10",
    "heartbeatPeriods": "4",
    "functionTimeoutSeconds": "300",
    "functionMemoryMb": "512",
    "logRetentionDays": "90",
    "archiveRetentionDays": "0",
    "announceBaseline": "true",
    "stuckAfterHours": "bedrock-model-import=48,qconnect-import=6",
    "stuckRepeatHours": "12",
    "reconcileEveryMinutes": "0",
    "reconcileLookbackHours": "168",
    "publishRetryHours": "48",
    "digestThreshold": "0",
    "vanishedAfterChecks": "4",
}

# Every registered kind, Bedrock knowledge bases partly named (one whole, one data source of another).
BEDROCK_KB_ID = "KB12345678"
BEDROCK_KB_DS = ("KB87654321", "DS12345678")
ALL_KINDS_CONTEXT: dict[str, object] = {
    "stackName": "JobAuditorAllKinds",
    "jobKinds": "bedrock-model-import,bedrock-model-copy,qconnect-import,bedrock-evaluation,"
    "bedrock-kb-ingestion,bedrock-customization,bedrock-batch-inference",
    "bedrockKnowledgeBaseIds": f"{BEDROCK_KB_ID},{'/'.join(BEDROCK_KB_DS)}",
}

# One job kind only, test-stack removal policy.
BEDROCK_ONLY_CONTEXT: dict[str, object] = {
    "stackName": "JobAuditorBedrockOnly",
    "jobKinds": "bedrock-model-import",
    "removalPolicy": "destroy",
}


# discovery=cloudtrail: Q in Connect's job starts announced through a queue (with another kind).
CLOUDTRAIL_CONTEXT: dict[str, object] = {
    "stackName": "JobAuditorCloudTrail",
    "jobKinds": "qconnect-import,bedrock-model-import",
    "discovery": "cloudtrail",
}


# Organization mode. Two member accounts named, with an ExternalId.
MEMBER_ACCOUNTS = ("111111111111", "222222222222")
ACCOUNTS_CONTEXT: dict[str, object] = {
    "stackName": "JobAuditorAccounts",
    "accounts": ",".join(MEMBER_ACCOUNTS),
    "memberExternalId": "acme-job-auditor",
}
# Every account of two OUs, listed with AWS Organizations; the member role as a StackSet to them.
ORGANIZATION_ID = "o-a1b2c3d4e5"
ORGANIZATIONAL_UNITS = ("ou-ab12-cdef3456", "r-ab12")
ORGANIZATION_CONTEXT: dict[str, object] = {
    "stackName": "JobAuditorOrg",
    "accounts": "organization",
    "organizationalUnits": ",".join(ORGANIZATIONAL_UNITS),
    "organizationId": ORGANIZATION_ID,
    "memberDeployment": "stackset",
    "stackSetCallAs": "DELEGATED_ADMIN",
    "memberRoleName": "AuditReader",
}
# The stand-alone member stack (the management account's), every kind, a knowledge base named.
HUB_ROLE_ARN = "arn:aws:iam::999999999999:role/JobAuditor-AuditorRole7862C9B0-ABCDEF"
MEMBER_CONTEXT: dict[str, object] = {
    **ALL_KINDS_CONTEXT,
    "stackName": "JobAuditorHub",
    "accounts": "organization",
    "organizationId": ORGANIZATION_ID,
    "memberExternalId": "acme-job-auditor",
    "auditorRoleArn": HUB_ROLE_ARN,
}
# Reach: Microsoft Teams alone (no Slack), and PagerDuty paged through an API destination for the
# default categories, one named status and stuck alerts.
TEAMS_TEAM_ID = "00000000-1111-2222-3333-444444444444"
TEAMS_TENANT_ID = "55555555-6666-7777-8888-999999999999"
REACH_CONTEXT: dict[str, object] = {
    "stackName": "JobAuditorReach",
    "teamsTeamId": TEAMS_TEAM_ID,
    "teamsChannelId": "19:0123456789abcdef0123456789abcdef@thread.tacv2",
    "teamsTenantId": TEAMS_TENANT_ID,
    "alertDestination": "pagerduty",
    "alertSecret": "job-auditor/pagerduty",
    "alertStatuses": "Stopped",
}


@dataclass(frozen=True)
class Synth:
    """A synthesized stack variant."""

    stack: Any
    template: Template
    outdir: Path

    @property
    def json(self) -> dict[str, Any]:
        return dict(self.template.to_json())

    def resources(self, resource_type: str) -> dict[str, Any]:
        return dict(self.template.find_resources(resource_type))

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {list(found)}"
        return next(iter(found.items()))

    def logical_id(self, construct: Any) -> str:
        return str(self.stack.get_logical_id(construct.node.default_child))


def synth(context: Mapping[str, object], outdir: Path, *, member: bool = False) -> Synth:
    """Build the app exactly as app.py does (config model, stack, cdk-nag) and synthesize it; `member`:
    the Synth of its member stack (context with auditorRoleArn) rather than the hub's."""
    from app import build_app
    from job_auditor.infra.config import load_config
    from job_auditor.infra.member_role import member_stack_name

    app = cdk.App(outdir=str(outdir))
    config = load_config(context)
    stack: Any = build_app(app, config)
    if member:
        stack = app.node.find_child(member_stack_name(config))
    template = Template.from_stack(stack)
    app.synth()
    return Synth(stack=stack, template=template, outdir=outdir)


# Every synthesized variant, by its fixture name: what the checks of every template (cdk-nag, cfn-lint)
# run over.
VARIANT_CONTEXTS: dict[str, dict[str, object]] = {
    "default": {},
    "full": FULL_CONTEXT,
    "bedrock_only": BEDROCK_ONLY_CONTEXT,
    "all_kinds": ALL_KINDS_CONTEXT,
    "accounts": ACCOUNTS_CONTEXT,
    "organization": ORGANIZATION_CONTEXT,
    "member": MEMBER_CONTEXT,
    "reach": REACH_CONTEXT,
    "cloudtrail": CLOUDTRAIL_CONTEXT,
}
VARIANTS = tuple(VARIANT_CONTEXTS)


@pytest.fixture(scope="session")
def synth_variant(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Synth]:
    cache: dict[str, Synth] = {}

    def get(name: str) -> Synth:
        if name not in cache:
            outdir = tmp_path_factory.mktemp(f"cdk-{name}")
            cache[name] = synth(VARIANT_CONTEXTS[name], outdir, member=name == "member")
        return cache[name]

    return get


@pytest.fixture(scope="session")
def default(synth_variant: Callable[[str], Synth]) -> Synth:
    return synth_variant("default")


@pytest.fixture(scope="session")
def full(synth_variant: Callable[[str], Synth]) -> Synth:
    return synth_variant("full")


@pytest.fixture(scope="session")
def all_kinds(synth_variant: Callable[[str], Synth]) -> Synth:
    return synth_variant("all_kinds")


@pytest.fixture(scope="session")
def accounts(synth_variant: Callable[[str], Synth]) -> Synth:
    return synth_variant("accounts")


@pytest.fixture(scope="session")
def organization(synth_variant: Callable[[str], Synth]) -> Synth:
    return synth_variant("organization")


@pytest.fixture(scope="session")
def member(synth_variant: Callable[[str], Synth]) -> Synth:
    """The member stack of MEMBER_CONTEXT (its app also holds the hub)."""
    return synth_variant("member")


@pytest.fixture(scope="session")
def cloudtrail(synth_variant: Callable[[str], Synth]) -> Synth:
    return synth_variant("cloudtrail")


@pytest.fixture(scope="session")
def reach(synth_variant: Callable[[str], Synth]) -> Synth:
    return synth_variant("reach")


@pytest.fixture(scope="session")
def bedrock_only(synth_variant: Callable[[str], Synth]) -> Synth:
    return synth_variant("bedrock_only")


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def role_policies(synth: Synth, role: Any) -> list[dict[str, Any]]:
    """Every AWS::IAM::Policy attached to `role`: its default policy and the policies of the job kinds
    that exist only where the kind is offered."""
    role_id = synth.logical_id(role)
    return [
        p
        for p in synth.resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]


def role_statements(synth: Synth, role: Any) -> list[dict[str, Any]]:
    """Every statement of every policy attached to `role`."""
    return [s for p in role_policies(synth, role) for s in p["Properties"]["PolicyDocument"]["Statement"]]


def conditional_statements(synth: Synth, role: Any) -> dict[str, list[dict[str, Any]]]:
    """The statements of `role`'s conditional policies, by the expression of their condition."""
    conditions = synth.json.get("Conditions", {})
    grouped: dict[str, list[dict[str, Any]]] = {}
    for policy in role_policies(synth, role):
        if "Condition" in policy:
            expression = dumps(conditions[policy["Condition"]])
            grouped.setdefault(expression, []).extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return grouped
