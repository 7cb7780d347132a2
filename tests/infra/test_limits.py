"""CloudFormation's and IAM's hard limits, checked on every stack variant the tests synthesize: at most
500 resources a stack; a role's inline policies together at most 10,240 characters and a managed
policy at most 6,144 (whitespace not counted). aws-cdk-lib moves a role's statements past the inline
limit into managed policies of their own ("OverflowPolicy"); these tests make sure what it leaves is
within the limits, with each deploy-time value (a Ref, an attribute) counted as an ARN of
TOKEN_CHARS characters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tests.infra.conftest import Synth

MAX_RESOURCES = 500
MAX_ROLE_INLINE_CHARS = 10_240
MAX_MANAGED_POLICY_CHARS = 6_144
# A deploy-time value, at the length of a long ARN.
TOKEN_CHARS = 128
VARIANTS = ("default", "full", "all_kinds", "accounts", "organization", "member", "reach")


def _rendered(value: Any) -> Any:
    """`value` with each intrinsic function replaced by text of its longest possible length."""
    if isinstance(value, list):
        return [_rendered(v) for v in value]
    if not isinstance(value, Mapping):
        return value
    if len(value) == 1:
        ((name, args),) = value.items()
        if name == "Fn::Join":
            return str(args[0]).join(str(_rendered(part)) for part in args[1])
        if name == "Fn::If":
            return max((json.dumps(_rendered(branch)) for branch in args[1:]), key=len)
        if name in ("Ref", "Fn::GetAtt", "Fn::ImportValue", "Fn::Sub", "Fn::Select", "Fn::FindInMap"):
            return "x" * TOKEN_CHARS
    return {k: _rendered(v) for k, v in value.items()}


def _chars(document: Any) -> int:
    """A policy document's characters as IAM counts them: without whitespace."""
    return len(json.dumps(_rendered(document), separators=(",", ":")))


def _inline_chars_by_role(resources: Mapping[str, Any]) -> dict[str, int]:
    """Each role's inline policies (its own and the AWS::IAM::Policy resources attached to it)."""
    totals = {
        name: sum(_chars(p["PolicyDocument"]) for p in r["Properties"].get("Policies", []))
        for name, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
    }
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for role in resource["Properties"].get("Roles", []):
            if isinstance(role, Mapping) and role.get("Ref") in totals:
                totals[role["Ref"]] += _chars(resource["Properties"]["PolicyDocument"])
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
            assert _chars(resource["Properties"]["PolicyDocument"]) <= MAX_MANAGED_POLICY_CHARS, name


def test_the_measure_counts_a_deploy_time_value_as_a_long_arn() -> None:
    document = {"Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":sns"]]}}
    assert _chars(document) == len('{"Resource":"arn:') + TOKEN_CHARS + len(':sns"}')
