"""The default configuration works in every region: synth grants exactly the kinds botocore offers there,
and decides as the Lambda's run does (`regions.offered`), for every region of the commercial, GovCloud and
China partitions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from job_auditor.availability import offered, partition_regions
from job_auditor.contract.kinds import JOB_KINDS, default_kind_ids, kind_ids
from job_auditor.infra.config import ConfigError, load_config
from job_auditor.infra.member_role import JobAuditorMemberStack
from job_auditor.infra.stack import JobAuditorStack
from tests.infra.conftest import HUB_ROLE_ARN, Synth

REGIONS = partition_regions(["aws", "aws-us-gov", "aws-cn"])


def _holds(expression: Any, region: str, conditions: Mapping[str, Any]) -> bool:
    """A CloudFormation condition's value in `region` (the intrinsics job-auditor's conditions use)."""
    ((name, args),) = expression.items()
    if name == "Fn::Not":
        return not _holds(args[0], region, conditions)
    if name == "Fn::Or":
        return any(_holds(a, region, conditions) for a in args)
    if name == "Fn::And":
        return all(_holds(a, region, conditions) for a in args)
    if name == "Fn::Equals":
        left, right = (region if value == {"Ref": "AWS::Region"} else value for value in args)
        return bool(left == right)
    if name == "Condition":
        return _holds(conditions[args], region, conditions)
    raise AssertionError(f"unexpected intrinsic {name}")


def _granted_actions(template: Mapping[str, Any], role_id: str, region: str) -> set[str]:
    """Every action the policies attached to the role grant when the template is deployed in `region`."""
    conditions = template.get("Conditions", {})
    actions: set[str] = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy" or resource["Properties"]["Roles"] != [{"Ref": role_id}]:
            continue
        condition = resource.get("Condition")
        if condition and not _holds(conditions[condition], region, conditions):
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            actions.update(action if isinstance(action, list) else [action])
    return actions


def _job_actions(kind: str) -> set[str]:
    """A kind's own actions (what no other kind grants): its iam grants'."""
    return {a for grant in JOB_KINDS[kind].iam for a in grant.actions}


def _granted_kinds(actions: set[str], kinds: tuple[str, ...]) -> set[str]:
    granted = {k for k in kinds if _job_actions(k) <= actions}
    # nothing of a kind not granted leaks in
    assert not {k for k in kinds if k not in granted and _job_actions(k) & actions}
    return granted


def _offered_kinds(kinds: tuple[str, ...], region: str) -> set[str]:
    return {k for k in kinds if offered(JOB_KINDS[k], region)}


def test_every_partition_is_covered() -> None:
    assert {"us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1"} <= set(REGIONS)
    assert len(REGIONS) >= 38


@pytest.mark.parametrize("region", REGIONS)
def test_the_environment_agnostic_template_grants_what_the_run_audits(
    region: str, default: Synth, all_kinds: Synth
) -> None:
    # Given the one template of an environment-agnostic stack, deployed in `region`
    for synth, kinds in ((default, default_kind_ids()), (all_kinds, kind_ids())):
        role = synth.logical_id(synth.stack.job_auditor.auditor.role)
        granted = _granted_kinds(_granted_actions(synth.json, role, region), kinds)
        # Then its conditions leave exactly the kinds the run audits there (the same rule)
        assert granted == _offered_kinds(kinds, region)


def _member_template(region: str, context: Mapping[str, object]) -> tuple[dict[str, Any], str]:
    app = cdk.App()
    stack = JobAuditorMemberStack(
        app,
        "Member",
        config=load_config(context),
        auditor_role_arn=HUB_ROLE_ARN,
        env=cdk.Environment(region=region),
    )
    role_id = stack.get_logical_id(cast(cdk.CfnElement, stack.member_role.role.node.default_child))
    return dict(Template.from_stack(stack).to_json()), role_id


@pytest.mark.parametrize("region", REGIONS)
def test_a_stack_in_the_region_grants_only_the_offered_kinds(region: str) -> None:
    # Given a stack whose region is known at synth (the member role's: the same statements as the
    # auditor's), with the default configuration
    offered_here = _offered_kinds(default_kind_ids(), region)
    if not offered_here:
        # Then a region offering none of the default kinds fails synth, naming it
        with pytest.raises(ConfigError, match=f"regions: none of the job kinds .* is offered in {region}"):
            _member_template(region, {})
        return
    template, role = _member_template(region, {})
    # Then exactly the offered kinds are granted, with no condition left to decide at deploy time
    assert "Conditions" not in template
    assert _granted_kinds(_granted_actions(template, role, region), default_kind_ids()) == offered_here


def _stack_in(region: str, context: Mapping[str, object], outdir: Path) -> Synth:
    app = cdk.App(outdir=str(outdir))
    stack = JobAuditorStack(
        app, "JobAuditor", config=load_config(context), env=cdk.Environment(region=region)
    )
    return Synth(stack=stack, template=Template.from_stack(stack), outdir=outdir)


def _environment(synth: Synth) -> dict[str, str]:
    function = synth.resources("AWS::Lambda::Function")[synth.logical_id(synth.stack.job_auditor.function)]
    return dict(function["Properties"]["Environment"]["Variables"])


def test_a_default_kind_not_offered_is_left_out_of_the_functions_kinds(tmp_path: Path) -> None:
    # Given the default configuration in eu-west-1, where Q in Connect is not offered
    synth = _stack_in("eu-west-1", {}, tmp_path)
    # Then the function audits the other default kinds only, and its role grants nothing of Q in Connect
    kinds = tuple(k for k in default_kind_ids() if k != "qconnect-import")
    assert _environment(synth)["JOB_KINDS"] == ",".join(kinds)
    role = synth.logical_id(synth.stack.job_auditor.auditor.role)
    actions = _granted_actions(synth.json, role, "eu-west-1")
    assert not [a for a in actions if a.startswith("wisdom:")]
    assert _granted_kinds(actions, default_kind_ids()) == set(kinds)


def test_regions_decide_kind_by_kind_and_the_function_keeps_a_kind_offered_in_one(tmp_path: Path) -> None:
    # Given two audited regions, one of which offers Q in Connect
    synth = _stack_in("eu-west-1", {"regions": "eu-west-1,us-east-1"}, tmp_path)
    # Then the function audits Q in Connect (the run skips it in eu-west-1) and the role grants it in
    # us-east-1 only
    assert "qconnect-import" in _environment(synth)["JOB_KINDS"].split(",")
    role = synth.logical_id(synth.stack.job_auditor.auditor.role)
    assert "wisdom:ListImportJobs" in _granted_actions(synth.json, role, "us-east-1")
    wisdom = [
        s
        for p in synth.resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if any(
            a.startswith("wisdom:") for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        )
    ]
    assert wisdom and all("eu-west-1" not in str(s) for s in wisdom)


def test_a_kind_named_in_job_kinds_that_no_region_offers_fails_synth(tmp_path: Path) -> None:
    # Given jobKinds naming Q in Connect and regions that do not offer it
    context = {"jobKinds": "bedrock-model-import,qconnect-import", "regions": "eu-west-1,eu-west-3"}
    # Then synth fails, naming the kind and the regions
    with pytest.raises(ConfigError) as raised:
        _stack_in("eu-west-1", context, tmp_path)
    assert str(raised.value) == (
        "jobKinds: qconnect-import not offered in eu-west-1, eu-west-3 (botocore's endpoint data): leave "
        "them out of jobKinds, or add a region where they are offered to regions"
    )
