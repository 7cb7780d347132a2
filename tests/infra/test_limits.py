"""CloudFormation's and IAM's hard limits, checked on every stack variant the tests synthesize: at most
500 resources a stack; a role's inline policies together at most 10,240 characters and a managed
policy at most 6,144 (whitespace not counted). aws-cdk-lib moves a role's statements past the inline
limit into managed policies of their own ("OverflowPolicy"); these tests make sure what it leaves is
within the limits, with each deploy-time value (a Ref, an attribute) counted as an ARN of
TOKEN_CHARS characters and a pseudo parameter at its longest (the measure of
job_auditor/infra/iam_limits.py, which checks every JobAuditor's roles at synth too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from job_auditor.infra.iam_limits import (
    MAX_MANAGED_POLICY_CHARS,
    MAX_ROLE_INLINE_CHARS,
    PSEUDO_PARAMETER_CHARS,
    TOKEN_CHARS,
    chars,
)
from tests.infra.conftest import Synth

MAX_RESOURCES = 500
VARIANTS = ("default", "full", "all_kinds", "accounts", "organization", "member", "reach")


def _inline_chars_by_role(resources: Mapping[str, Any]) -> dict[str, int]:
    """Each role's inline policies (its own and the AWS::IAM::Policy resources attached to it)."""
    totals = {
        name: sum(chars(p["PolicyDocument"]) for p in r["Properties"].get("Policies", []))
        for name, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
    }
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for role in resource["Properties"].get("Roles", []):
            if isinstance(role, Mapping) and role.get("Ref") in totals:
                totals[role["Ref"]] += chars(resource["Properties"]["PolicyDocument"])
    return totals


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_stack_variant_is_within_cloudformations_and_iams_limits(
    synth_variant: Callable[[str], Synth], variant: str
) -> None:
    resources = synth_variant(variant).json["Resources"]
    assert len(resources) <= MAX_RESOURCES
    inline = _inline_chars_by_role(resources)
    assert inline and max(inline.values()) <= MAX_ROLE_INLINE_CHARS, inline
    for name, resource in resources.items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            assert chars(resource["Properties"]["PolicyDocument"]) <= MAX_MANAGED_POLICY_CHARS, name


def test_the_measure_counts_a_deploy_time_value_as_a_long_arn_and_a_pseudo_parameter_at_its_longest() -> None:
    document = {
        "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":sns:", {"Ref": "Topic"}]]}
    }
    partition = PSEUDO_PARAMETER_CHARS["AWS::Partition"]
    assert chars(document) == len('{"Resource":"arn:') + partition + len(":sns:") + TOKEN_CHARS + len('"}')
    assert partition >= len("aws-us-gov")
