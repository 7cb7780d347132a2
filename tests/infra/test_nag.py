"""cdk-nag AwsSolutions: no unacknowledged finding, every acknowledgment is used and gives its reason."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from job_auditor.infra import nag
from job_auditor.infra.config import load_config
from tests.infra.conftest import VARIANTS, Synth


def _acknowledgments(synth: Synth) -> set[tuple[str, str]]:
    """(construct path, finding) of every acknowledgment recorded on the constructs of the stack's app
    (the member variant's app holds the hub stack too)."""
    return _acknowledgments_of(synth.stack.node.root)


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_unacknowledged_finding(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(variant)
    assert nag.unacknowledged_findings(synth.outdir) == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_nag_ran_and_every_acknowledgment_is_used_and_gives_its_reason(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(variant)
    acknowledged = nag.acknowledged_findings(synth.outdir)
    # The pack really ran: the auditor's wildcards are in the report, acknowledged.
    assert any(f.plugin == nag.PACK and f.rule.startswith("AwsSolutions-IAM5[") for f in acknowledged)
    for finding in acknowledged:
        assert finding.reason is not None and len(finding.reason) > 40, finding
    # No acknowledgment waits for a finding that is not there (a stale one would hide a future finding).
    used = {(f.acknowledged_at, f.rule) for f in acknowledged}
    assert _acknowledgments(synth) == used


def test_a_new_wildcard_fails_the_synth(tmp_path: Path) -> None:
    # Given the stack plus a role with a wildcard nobody acknowledged
    from app import build_app

    app = cdk.App(outdir=str(tmp_path))
    stack = build_app(app, load_config({}))
    role = iam.Role(stack, "Extra", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    # When it synthesizes, Then the synth fails and the report names that finding only
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    path = f"{stack.stack_name}/Extra/DefaultPolicy/Resource"
    assert nag.unacknowledged_findings(tmp_path) == [
        f"[error] {path}: AwsSolutions-IAM5[Resource::*] (AwsSolutions)"
    ]


# The acknowledgments quote ARNs as CDK writes them: a stack with a concrete environment gets its literal
# region and account where CDK formats an ARN (the Distributed Map's child executions), tokens elsewhere.
CONCRETE_ENV_CASES = {
    "direct": {},
    "accounts": {"accounts": ["222222222222"]},
    "organization": {
        "accounts": "organization",
        "organizational_units": ["ou-ab12-cdef3456"],
        "organization_id": "o-a1b2c3d4e5",
        "member_deployment": "stackset",
    },
}


@pytest.mark.parametrize("case", CONCRETE_ENV_CASES)
def test_a_library_stack_with_a_concrete_environment_has_no_unacknowledged_finding(
    case: str, tmp_path: Path
) -> None:
    from job_auditor import JobAuditor

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Platform", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    JobAuditor(stack, "JobAuditor", **CONCRETE_ENV_CASES[case])  # type: ignore[arg-type]
    nag.add_nag_checks(app)
    app.synth()  # a finding left unacknowledged fails here (ValidationFailed)
    assert nag.unacknowledged_findings(tmp_path) == []
    acknowledged = nag.acknowledged_findings(tmp_path)
    assert {(f.acknowledged_at, f.rule) for f in acknowledged} == {
        (path, rule) for path, rule in _acknowledgments_of(app) if path.startswith("Platform")
    }


def _acknowledgments_of(app: IConstruct) -> set[tuple[str, str]]:
    """(construct path, finding) of every acknowledgment recorded on the constructs of `app`."""
    return {
        (construct.node.path, rule_id.removeprefix(f"{nag.PACK}::"))
        for construct in app.node.find_all()
        for entry in construct.node.metadata
        if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule_id in entry.data
    }
