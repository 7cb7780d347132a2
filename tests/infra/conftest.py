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
    "maxPublishAttempts": "10",
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


def synth(context: Mapping[str, object], outdir: Path) -> Synth:
    """Build the app exactly as app.py does (config model, stack, cdk-nag) and synthesize it."""
    from app import build_app
    from job_auditor.infra.config import load_config

    app = cdk.App(outdir=str(outdir))
    stack = build_app(app, load_config(context))
    template = Template.from_stack(stack)
    app.synth()
    return Synth(stack=stack, template=template, outdir=outdir)


@pytest.fixture(scope="session")
def synth_variant(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Synth]:
    cache: dict[str, Synth] = {}
    contexts = {
        "default": {},
        "full": FULL_CONTEXT,
        "bedrock_only": BEDROCK_ONLY_CONTEXT,
        "all_kinds": ALL_KINDS_CONTEXT,
    }

    def get(name: str) -> Synth:
        if name not in cache:
            cache[name] = synth(contexts[name], tmp_path_factory.mktemp(f"cdk-{name}"))
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
def bedrock_only(synth_variant: Callable[[str], Synth]) -> Synth:
    return synth_variant("bedrock_only")


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
