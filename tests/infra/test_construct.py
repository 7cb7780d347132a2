"""The JobAuditor construct in a stack of one's own: props as a typed model or as context keys (validated
by the same model as `cdk synth`), the repo's stack keeps its logical ids, outputs found by path."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from job_auditor import ConfigError, JobAuditor, JobAuditorProps
from job_auditor.stack_outputs import STATE_TABLE_NAME, OutputsError, job_auditor_outputs
from tests.infra.conftest import Synth


def _outputs(template: Template) -> list[dict[str, str]]:
    return [{"OutputKey": key, "OutputValue": key} for key in template.to_json()["Outputs"]]


def test_props_given_as_context_keys_are_validated_naming_the_key() -> None:
    # Given a stack of one's own / When the construct gets a bad context value / Then it fails naming it
    stack = cdk.Stack(cdk.App(), "Host")
    with pytest.raises(
        ConfigError, match=r"scheduleRateMinutes: .*expected a whole number of minutes from 1 to 1440"
    ):
        JobAuditor(stack, "JobAuditor", props={"scheduleRateMinutes": "0"})
    with pytest.raises(ConfigError, match=r"notifcationEmails.*notificationEmails"):
        JobAuditor(stack, "Other", props={"notifcationEmails": "a@example.com"})


def test_typed_props_reach_the_function() -> None:
    # Given typed props
    stack = cdk.Stack(cdk.App(), "Host")
    props = JobAuditorProps(regions=("eu-west-1",), schedule_rate_minutes=15)
    # When the construct is built
    auditor = JobAuditor(stack, "JobAuditor", props=props)
    template = Template.from_stack(stack)
    # Then the stack holds its resources with them
    functions = template.find_resources("AWS::Lambda::Function")
    (function,) = functions.values()
    assert function["Properties"]["Environment"]["Variables"]["REGIONS"] == "eu-west-1"
    (schedule,) = template.find_resources("AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["ScheduleExpression"] == "rate(15 minutes)"
    assert auditor.config is props


def test_the_repo_stack_keeps_the_logical_ids_it_had_before_the_construct(default: Synth) -> None:
    # Given this repo's stack (a hidden "Default" construct) / Then no id carries the construct's
    resources: dict[str, Any] = default.json["Resources"]
    assert [k for k in resources if k.startswith("StateTable")]
    assert not [k for k in resources if k.startswith(("Default", "JobAuditor"))]
    assert STATE_TABLE_NAME in default.json["Outputs"]


def test_two_auditors_in_one_stack_are_told_apart_by_their_construct_path() -> None:
    # Given a stack of one's own with two job-auditors
    stack = cdk.Stack(cdk.App(), "Host")
    JobAuditor(stack, "Prod", props={"eventSource": "prod.job-auditor"})
    JobAuditor(stack, "Staging", props={"eventSource": "staging.job-auditor"})
    outputs = _outputs(Template.from_stack(stack))
    # When the outputs are looked up / Then without a prefix it is ambiguous, with one it is not
    with pytest.raises(OutputsError, match=r"several JobAuditor constructs.*Prod, Staging"):
        job_auditor_outputs(outputs)
    assert job_auditor_outputs(outputs, prefix="Staging")[STATE_TABLE_NAME].startswith(
        "StagingStateTableName"
    )
