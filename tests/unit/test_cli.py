"""The CLI's pieces without AWS: time forms, stack discovery's errors (botocore's Stubber), and that
it stays light (no aws-cdk-lib, pydantic or Powertools on import)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from job_auditor.auditor.adapters.state_reader import StateReader
from job_auditor.auditor.ports import SourceError
from job_auditor.cli import cli
from job_auditor.cli.resources import ResourceError, Resources, Target
from job_auditor.cli.times import age, iso, parse_time

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - timedelta(seconds=90)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        ("1W", NOW - timedelta(weeks=1)),
        ("2026-11-01T08:30:00Z", datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ("2026-11-01T10:30:00+02:00", datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
    ],
)
def test_times_are_iso_or_an_age(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2h ago", "-1d", "", "1y"])
def test_other_times_name_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time(text, NOW)


def test_times_print_to_the_second_and_ages_as_people_read_them() -> None:
    assert iso(NOW.replace(microsecond=123456)) == "2026-11-02T09:00:00Z"
    assert [age(timedelta(seconds=s)) for s in (5, 125, 3 * 3600 + 300, 2 * 86400 + 4 * 3600, -30)] == [
        "5s",
        "2m",
        "3h 5m",
        "2d 4h",
        "-30s",
    ]


def _stubbed(target: Target) -> tuple[Resources, Stubber]:
    session = boto3.session.Session(
        region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    resources = Resources(target, session)
    client = session.client("cloudformation", region_name="eu-west-1")
    resources.cloudformation = lambda: client  # type: ignore[method-assign]
    return resources, Stubber(client)


def test_access_denied_on_the_stack_says_which_call_and_why() -> None:
    resources, stub = _stubbed(Target(stack="Platform"))
    stub.add_client_error(
        "describe_stacks",
        service_error_code="AccessDenied",
        service_message="User is not authorized to perform: cloudformation:DescribeStacks",
        http_status_code=403,
    )
    with stub, pytest.raises(ResourceError) as raised:
        _ = resources.table_name
    assert str(raised.value) == (
        "cannot read stack 'Platform': DescribeStacks: AccessDenied: "
        "User is not authorized to perform: cloudformation:DescribeStacks"
    )


def test_a_stack_without_the_output_a_command_needs_names_the_option() -> None:
    resources, stub = _stubbed(Target(stack="Platform"))
    outputs = [{"OutputKey": "JobAuditorStateTableName1A2B3C4D", "OutputValue": "state"}]
    stub.add_response("describe_stacks", {"Stacks": [_stack(outputs)]}, {"StackName": "Platform"})
    with stub:
        assert resources.table_name == "state"
        with pytest.raises(ResourceError, match="no EventBusName output: pass --bus"):
            _ = resources.bus_name
    # and a name given outright needs no stack at all
    assert Resources(Target(stack="Platform", bus="mine"), resources.session).bus_name == "mine"


def test_a_stack_without_a_job_auditor_says_so() -> None:
    resources, stub = _stubbed(Target(stack="Platform", construct="Other"))
    outputs = [{"OutputKey": "JobAuditorStateTableName1A2B3C4D", "OutputValue": "state"}]
    stub.add_response("describe_stacks", {"Stacks": [_stack(outputs)]}, {"StackName": "Platform"})
    with stub, pytest.raises(ResourceError, match="stack 'Platform' under construct 'Other': no JobAuditor"):
        _ = resources.table_name


def _stack(outputs: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "StackName": "Platform",
        "CreationTime": NOW,
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": outputs,
    }


def test_no_credentials_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given no credentials anywhere the SDK looks
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # When a command needs the stack
    result = CliRunner().invoke(cli, ["status", "--region", "us-east-1"])
    # Then it says so and exits 1
    assert result.exit_code == 1
    assert result.output.strip() == "Error: cannot read stack 'JobAuditor': Unable to locate credentials"


def test_an_unknown_profile_is_one_line() -> None:
    result = CliRunner().invoke(cli, ["jobs", "--profile", "no-such-profile-here"])
    assert result.exit_code == 1 and "no-such-profile-here" in result.output


def test_the_cli_imports_neither_the_cdk_nor_pydantic_nor_powertools() -> None:
    # When the CLI module is imported in a fresh interpreter
    code = (
        "import sys, json, job_auditor.cli; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    )
    # Then none of the heavy packages came with it
    loaded = set(json.loads(result.stdout))
    assert not loaded & {"aws_cdk", "jsii", "constructs", "cdk_nag", "pydantic", "aws_lambda_powertools"}


def test_a_table_the_caller_may_not_read_is_one_line_with_its_code() -> None:
    # Given a table whose Query the caller is denied
    session = boto3.session.Session(
        region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client = session.client("dynamodb", region_name="eu-west-1")
    stub = Stubber(client)
    stub.add_client_error(
        "query",
        service_error_code="AccessDeniedException",
        service_message="not authorized to dynamodb:Query",
    )
    # When the sources are read, Then the error names the call, the table and the service's code
    with stub, pytest.raises(SourceError) as raised:
        StateReader(client, "state").sources()
    assert raised.value.code == "AccessDeniedException"
    assert str(raised.value) == "DynamoDB Query on state failed: not authorized to dynamodb:Query"
