"""IAM's limits on a role's policies with configurations that grow them: many member accounts, many
knowledge bases in several regions. What fits is spread over managed policies within IAM's limits,
granting every account and every knowledge base; what cannot fit fails synth naming the settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from job_auditor.infra import nag
from job_auditor.infra.config import ConfigError
from job_auditor.infra.iam_limits import (
    CHUNK_CHARS,
    MAX_MANAGED_POLICY_CHARS,
    MAX_ROLE_INLINE_CHARS,
    chars,
    chunked,
)
from tests.infra.conftest import ORGANIZATION_ID, Synth, synth

REGIONS = "us-east-1,us-west-2,eu-west-1,eu-central-1"


def _ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n:08d}" for n in range(count)]


def _statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    statements = document["Statement"]
    yield from statements if isinstance(statements, list) else [statements]


def _role_policies(synthed: Synth, role_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The inline and the managed policy documents attached to the role `role_id` (logical id)."""
    inline, managed = [], []
    for resource in synthed.json["Resources"].values():
        roles = resource.get("Properties", {}).get("Roles", [])
        if {"Ref": role_id} not in roles:
            continue
        if resource["Type"] == "AWS::IAM::Policy":
            inline.append(resource["Properties"]["PolicyDocument"])
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            managed.append(resource["Properties"]["PolicyDocument"])
    return inline, managed


def _auditor_role(synthed: Synth) -> str:
    return str(synthed.stack.get_logical_id(synthed.stack.job_auditor.auditor.role.node.default_child))


def _within_limits(inline: list[dict[str, Any]], managed: list[dict[str, Any]]) -> None:
    assert sum(chars(d) for d in inline) <= MAX_ROLE_INLINE_CHARS
    assert all(chars(d) <= MAX_MANAGED_POLICY_CHARS for d in managed), [chars(d) for d in managed]


def _resources(documents: list[dict[str, Any]], action: str) -> list[str]:
    """Every resource granted `action`, rendered (the ids are in the literal part of each ARN)."""
    found = []
    for document in documents:
        for statement in _statements(document):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action in actions:
                resources = statement["Resource"]
                found += [str(r) for r in (resources if isinstance(resources, list) else [resources])]
    return found


def test_many_member_accounts_are_spread_over_managed_policies_each_account_granted(
    tmp_path: Path,
) -> None:
    # Given 400 member accounts (one statement of them all would be ~24,000 characters)
    accounts = [str(100_000_000_000 + n) for n in range(400)]
    synthed = synth({"stackName": "ManyAccounts", "accounts": ",".join(accounts)}, tmp_path)
    inline, managed = _role_policies(synthed, _auditor_role(synthed))
    # Then every policy is within IAM's limits, no more than the default quota of managed policies
    _within_limits(inline, managed)
    assert 4 <= len(managed) <= 10
    # and each account's member role is granted, once
    granted = _resources(inline + managed, "sts:AssumeRole")
    assert sorted(a for a in accounts if any(f":iam::{a}:role/" in r for r in granted)) == accounts
    assert len(granted) == len(accounts)
    assert nag.unacknowledged_findings(tmp_path) == []


def test_many_knowledge_bases_in_several_regions_fit_and_each_is_granted(tmp_path: Path) -> None:
    knowledge_bases = _ids("KB", 40)
    context = {
        "stackName": "ManyKnowledgeBases",
        "regions": REGIONS,
        "bedrockKnowledgeBaseIds": ",".join(knowledge_bases),
    }
    synthed = synth(context, tmp_path)
    inline, managed = _role_policies(synthed, _auditor_role(synthed))
    _within_limits(inline, managed)
    granted = " ".join(_resources(inline + managed, "bedrock:GetIngestionJob"))
    for region in REGIONS.split(","):
        for knowledge_base in knowledge_bases:
            assert f"bedrock:{region}:" in granted and f"knowledge-base/{knowledge_base}" in granted
    assert nag.unacknowledged_findings(tmp_path) == []


def test_a_kind_granted_where_offered_goes_to_managed_policies_with_its_condition_when_large(
    tmp_path: Path,
) -> None:
    # Given an environment-agnostic stack without regions: each kind's policy exists only where the
    # kind is offered (a CloudFormation condition), here with 150 knowledge bases
    knowledge_bases = _ids("KB", 150)
    synthed = synth(
        {"stackName": "ManyKnowledgeBasesAnyRegion", "bedrockKnowledgeBaseIds": ",".join(knowledge_bases)},
        tmp_path,
    )
    role = _auditor_role(synthed)
    kind_policies = {
        name: resource
        for name, resource in synthed.json["Resources"].items()
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and "BedrockKbIngestion" in name
    }
    # Then they are managed policies, each with the kind's condition, each within IAM's limit
    assert len(kind_policies) >= 2
    conditions = {r.get("Condition") for r in kind_policies.values()}
    assert len(conditions) == 1 and None not in conditions
    inline, managed = _role_policies(synthed, role)
    _within_limits(inline, managed)
    granted = " ".join(
        _resources(
            [r["Properties"]["PolicyDocument"] for r in kind_policies.values()], "bedrock:GetIngestionJob"
        )
    )
    assert all(f"knowledge-base/{kb}" in granted for kb in knowledge_bases)
    assert nag.unacknowledged_findings(tmp_path) == []


def test_what_cannot_fit_fails_synth_naming_the_settings(tmp_path: Path) -> None:
    # Given 500 knowledge bases in four regions: ~59 managed policies, over IAM's default 10 a role
    from app import build_app
    from job_auditor.infra.config import load_config

    context = {"regions": REGIONS, "bedrockKnowledgeBaseIds": ",".join(_ids("KB", 500))}
    app = cdk.App(outdir=str(tmp_path))
    build_app(app, load_config(context))
    # Then synth fails with an error on the auditor's role that names the settings
    with pytest.raises(RuntimeError, match="IAM would refuse this role at deploy") as failed:
        app.synth()
    message = str(failed.value)
    assert "managed policies, over IAM's default quota of 10 per role" in message
    assert "bedrockKnowledgeBaseIds names 500" in message and "regions names 4 regions" in message


def test_a_stackset_member_template_too_large_is_a_config_error_naming_the_settings(tmp_path: Path) -> None:
    context = {
        "accounts": "organization",
        "organizationalUnits": "ou-ab12-cdef3456",
        "organizationId": ORGANIZATION_ID,
        "memberDeployment": "stackset",
        "regions": REGIONS,
        "bedrockKnowledgeBaseIds": ",".join(_ids("KB", 60)),
    }
    with pytest.raises(ConfigError, match=r"memberDeployment=stackset: .*bedrockKnowledgeBaseIds names 60"):
        synth(context, tmp_path)


def test_chunks_keep_every_resource_in_order_each_within_the_budget() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    resources = [f"arn:{cdk.Aws.PARTITION}:iam::{100_000_000_000 + n}:role/Reader" for n in range(300)]
    chunks = chunked(stack, resources)
    assert [r for chunk in chunks for r in chunk] == resources
    assert len(chunks) > 1
    for chunk in chunks:
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": chunk}]}
        assert chars(stack.resolve(document)) <= CHUNK_CHARS + 200
    # and a handful stays one statement
    assert chunked(stack, resources[:3]) == [resources[:3]]
