"""auditMode: direct keeps today's template; stepfunctions adds the fan-out state machine, whose
definition's structure is asserted here (its behaviour: tests/integration/test_fanout_end_to_end.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from job_auditor.contract.fanout_payload import BATCH_INPUT_MAX_BYTES
from job_auditor.infra import nag
from tests.infra.conftest import Synth, synth
from tests.integration.fanout_driver import synthesized

CONTEXT = {
    "stackName": "JobAuditorFanout",
    "auditMode": "stepfunctions",
    "mapMaxConcurrency": "25",
    "itemsPerBatch": "7",
    "toleratedFailurePercentage": "15",
    "accountRegionConcurrency": "3",
}


@pytest.fixture(scope="module")
def fanout(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth(CONTEXT, tmp_path_factory.mktemp("cdk-fanout"))


@pytest.fixture(scope="module")
def definition(fanout: Synth, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synthesized(CONTEXT, tmp_path_factory.mktemp("cdk-fanout-def"))[1]


def test_direct_mode_has_no_state_machine_and_the_schedule_invokes_the_function(default: Synth) -> None:
    assert default.resources("AWS::StepFunctions::StateMachine") == {}
    assert default.resources("AWS::S3::Bucket") == {}
    (_, schedule) = default.only("AWS::Scheduler::Schedule")
    target = schedule["Properties"]["Target"]["Arn"]["Fn::GetAtt"][0]
    assert default.resources("AWS::Lambda::Function")[target]["Properties"]["Handler"] == (
        "job_auditor.auditor.handler.lambda_handler"
    )


def test_stepfunctions_mode_is_nag_clean_and_the_schedule_starts_the_state_machine(fanout: Synth) -> None:
    assert nag.unacknowledged_findings(fanout.outdir) == []
    (machine_id, machine) = fanout.only("AWS::StepFunctions::StateMachine")
    assert machine["Properties"]["StateMachineType"] == "STANDARD"
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"
    (_, schedule) = fanout.only("AWS::Scheduler::Schedule")
    assert schedule["Properties"]["Target"]["Arn"] == {"Ref": machine_id}


def test_the_run_bucket_is_encrypted_tls_only_private_and_expires(fanout: Synth) -> None:
    (_, bucket) = fanout.only("AWS::S3::Bucket")
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert props["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    assert props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 7
    (_, policy) = fanout.only("AWS::S3::BucketPolicy")
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_plan_and_batch_run_under_the_auditors_role_and_summarize_under_its_own(fanout: Synth) -> None:
    functions = fanout.resources("AWS::Lambda::Function")
    by_handler = {f["Properties"]["Handler"]: f["Properties"] for f in functions.values()}
    auditor_role = by_handler["job_auditor.auditor.handler.lambda_handler"]["Role"]
    assert by_handler["job_auditor.auditor.fanout.plan_handler"]["Role"] == auditor_role
    assert by_handler["job_auditor.auditor.fanout.batch_handler"]["Role"] == auditor_role
    assert by_handler["job_auditor.auditor.fanout.summarize_handler"]["Role"] != auditor_role
    batch = by_handler["job_auditor.auditor.fanout.batch_handler"]
    assert batch["Timeout"] <= 240  # inside an Express child's 5 minutes
    assert batch["Environment"]["Variables"]["ACCOUNT_REGION_CONCURRENCY"] == "3"
    assert "ITEMS_BUCKET" in batch["Environment"]["Variables"]


@pytest.mark.parametrize("state", ["AuditInline", "AuditFromS3"])
def test_the_map_batches_bounds_tolerates_and_writes_results(definition: dict[str, Any], state: str) -> None:
    audit = definition["States"][state]
    assert audit["Type"] == "Map"
    assert audit["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert audit["ItemBatcher"] == {"MaxItemsPerBatch": 7, "MaxInputBytesPerBatch": BATCH_INPUT_MAX_BYTES}
    assert audit["MaxConcurrency"] == 25
    assert audit["ToleratedFailurePercentage"] == 15
    assert audit["ResultWriter"]["Resource"].endswith(":s3:putObject")
    assert audit["Catch"][0] == {
        "ErrorEquals": ["States.ALL"],
        "ResultPath": "$.mapError",
        "Next": "Summarize",
    }
    assert audit["Next"] == "Summarize"


def test_large_item_lists_are_read_from_s3_and_small_ones_inline(definition: dict[str, Any]) -> None:
    assert definition["States"]["AuditInline"]["ItemsPath"] == "$.plan.items"
    reader = definition["States"]["AuditFromS3"]["ItemReader"]
    assert (
        reader["ReaderConfig"] == {"InputType": "JSON"} and reader["Parameters"]["Key.$"] == "$.plan.itemsKey"
    )
    (rule,) = definition["States"]["ItemsInS3"]["Choices"]
    assert rule == {"Variable": "$.plan.itemsKey", "IsPresent": True, "Next": "AuditFromS3"}


def test_the_guard_comes_first_and_ends_an_overlapping_run(definition: dict[str, Any]) -> None:
    assert definition["StartAt"] == "Guard"
    guard = definition["States"]["Guard"]
    assert guard["Resource"].endswith(":aws-sdk:sfn:listExecutions")
    assert guard["Parameters"] == {
        "StateMachineArn.$": "$$.StateMachine.Id",
        "StatusFilter": "RUNNING",
        "MaxResults": 2,
    }
    (rule,) = definition["States"]["Overlap"]["Choices"]
    assert rule["Next"] == "Skipped" and definition["States"]["Overlap"]["Default"] == "Plan"
    assert definition["States"]["Skipped"]["Next"] == "EndedAtOnce"


def test_stepfunctions_mode_alarms_on_failed_and_timed_out_executions(fanout: Synth) -> None:
    alarms = fanout.resources("AWS::CloudWatch::Alarm")
    metrics = {a["Properties"].get("MetricName") for a in alarms.values()}
    assert {"ExecutionsFailed", "ExecutionsTimedOut", "RunSucceeded"} <= metrics


def _plan_function(synthesized: Synth) -> dict[str, Any]:
    functions = synthesized.resources("AWS::Lambda::Function").values()
    (plan,) = (f["Properties"] for f in functions if f["Properties"]["Handler"].endswith(".plan_handler"))
    return dict(plan)


def test_plan_gets_one_vcpu_and_time_for_every_account(fanout: Synth, tmp_path: Path) -> None:
    # Given a single-account fan-out: Plan keeps the function settings
    assert (_plan_function(fanout)["MemorySize"], _plan_function(fanout)["Timeout"]) == (256, 120)
    # Given 500 named accounts: one vCPU (1,769 MB) and 0.66 s per account plus 30 s
    accounts = ",".join(str(100000000000 + i) for i in range(500))
    named = _plan_function(synth(CONTEXT | {"accounts": accounts}, tmp_path / "named"))
    assert (named["MemorySize"], named["Timeout"]) == (1769, 360)
    # Given the organization's accounts (listed at run time): Lambda's 15 minutes
    org = _plan_function(synth(CONTEXT | {"accounts": "organization"}, tmp_path / "org"))
    assert (org["MemorySize"], org["Timeout"]) == (1769, 900)
    # And a larger memory asked for is kept
    big = _plan_function(
        synth(CONTEXT | {"accounts": "organization", "functionMemoryMb": "3008"}, tmp_path / "b")
    )
    assert big["MemorySize"] == 3008


def test_standard_children_are_a_context_key(tmp_path: Path) -> None:
    _, body = synthesized({"mapChildExecutionType": "standard"}, tmp_path)
    assert body["States"]["AuditInline"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"


def test_stepfunctions_template_has_no_cfn_lint_errors(fanout: Synth) -> None:
    from cfnlint.api import lint

    template = (fanout.outdir / fanout.stack.template_file).read_text()
    errors = [
        f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})"
        for m in lint(template, regions=["us-east-1", "eu-west-1"])
        if m.rule.id.startswith("E")
    ]
    assert errors == []
