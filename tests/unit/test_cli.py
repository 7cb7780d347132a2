"""The CLI's pieces without AWS: time forms, stack discovery's errors (botocore's Stubber), and that
it stays light (no aws-cdk-lib, pydantic or Powertools on import)."""

from __future__ import annotations

import io
import json
import string
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from job_auditor.auditor.adapters.state_reader import StateReader
from job_auditor.auditor.ports import SourceError
from job_auditor.cli import cli, permissions, render, views
from job_auditor.cli.commands import _read_env_file
from job_auditor.cli.render import Column, field, left, prefix, right
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


# -- tables that fit the terminal ------------------------------------------------------------------
def _rendered(columns: list[Column], rows: list[dict[str, Any]], width: int) -> tuple[list[str], list[str]]:
    table, hidden = render.build("title", columns, rows, width)
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return [line.rstrip() for line in out.getvalue().splitlines()], hidden


STATUS_LIKE = [
    left("job kind", field("kind")),
    left("scope", field("scope"), rank=2, short=prefix("scope")),
    left("checkpoint", field("at"), rank=4),
    right("in flight", field("n"), rank=2),
    right("transitions", field("t"), rank=3),
    left("result", field("result")),
]
ROWS = [
    {
        "kind": "bedrock-batch-inference",
        "scope": "-",
        "at": "2026-11-05T08:30:12Z",
        "n": 0,
        "t": 12,
        "result": "ok",
    },
    {
        "kind": "qconnect-import",
        "scope": "41b48fda-578f-4000-bbee-29ebe334367a",
        "at": "2026-11-05T08:30:11Z",
        "n": 3,
        "t": 0,
        "result": "failed",
    },
]


def test_a_narrow_terminal_shortens_then_hides_the_least_important_columns() -> None:
    # At 120 columns everything fits in full
    wide, hidden = _rendered(STATUS_LIKE, ROWS, 120)
    assert hidden == [] and "41b48fda-578f-4000-bbee-29ebe334367a" in "\n".join(wide)
    # At 80 the scope takes its short form and the checkpoint (rank 4) gives way first
    narrow, hidden = _rendered(STATUS_LIKE, ROWS, 80)
    text = "\n".join(narrow)
    assert hidden == ["checkpoint"]
    assert "41b48fda " in text + " " and "41b48fda-" not in text
    assert all(len(line) <= 80 for line in narrow)
    # At 60 the transitions (rank 3) go too
    assert _rendered(STATUS_LIKE, ROWS, 60)[1] == ["checkpoint", "transitions"]
    # Headers wrap at their spaces, never inside a word; kinds stay whole
    assert "bedrock-batch-inference" in text and "transitions" in text
    # At 40 only the rank-1 columns are left, whole
    tiny, hidden = _rendered(STATUS_LIKE, ROWS, 40)
    assert hidden == ["scope", "checkpoint", "in flight", "transitions"]
    assert [line.split() for line in tiny[-2:]] == [
        ["bedrock-batch-inference", "ok"],
        ["qconnect-import", "failed"],
    ]


# Colons and brackets too: rich reads `:m:` as an emoji and `[b]` as markup unless told not to.
words = st.text(alphabet=string.ascii_lowercase + "-:/[]", min_size=1, max_size=24)


@settings(deadline=None)
@given(
    cells=st.lists(st.lists(words, min_size=5, max_size=5), min_size=1, max_size=4),
    ranks=st.lists(st.integers(1, 4), min_size=5, max_size=5),
    width=st.integers(60, 160),
)
def test_a_table_never_folds_a_word(cells: list[list[str]], ranks: list[int], width: int) -> None:
    # Given columns of any rank (one of rank 1 at least) and cells of one word each
    ranks[0] = 1
    columns = [left(f"head {i}", field(str(i)), rank=r, short=prefix(str(i), 4)) for i, r in enumerate(ranks)]
    rows = [{str(i): word for i, word in enumerate(row)} for row in cells]
    # When the table is planned for the width
    lines, hidden = _rendered(columns, rows, width)
    shown = [c for c in columns if c.header not in hidden]
    # Then no line is wider, each row is one line, and every cell shown is whole (or its short form)
    assert all(len(line) <= width for line in lines)
    body = lines[-len(rows) :]
    for line, row in zip(body, rows, strict=True):
        assert len(line.split()) == len(shown)
        for column, text in zip(shown, line.split(), strict=True):
            assert text in (column.cell(row), column.short(row) if column.short else None)


# -- environment files, with dotenv's rules --------------------------------------------------------
def test_an_environment_file_reads_as_dotenv_reads_it(tmp_path: Path) -> None:
    # Given a file with quotes, an export, inline comments, a blank line and a reference
    path = tmp_path / "auditor.env"
    path.write_text(
        "# the auditor's variables\n"
        'EVENT_BUS_NAME="job-auditor"  # the bus\n'
        "export STATE_TABLE_NAME='job-auditor-state'\n"
        "\n"
        "JOB_KINDS=bedrock-model-copy # one kind\n"
        'FAILURE_TOPIC="${EVENT_BUS_NAME}-failures"\n'
    )
    # When it is read
    env = _read_env_file(path)
    # Then quotes and comments are not part of the values
    assert env == {
        "EVENT_BUS_NAME": "job-auditor",
        "STATE_TABLE_NAME": "job-auditor-state",
        "JOB_KINDS": "bedrock-model-copy",
        "FAILURE_TOPIC": "job-auditor-failures",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'EVENT_BUS_NAME="unterminated\n',
            "line 1: expected NAME=VALUE, got 'EVENT_BUS_NAME=\"unterminated'",
        ),
        ("A=1\nJOB_KINDS\n", "JOB_KINDS: no value (expected NAME=VALUE)"),
    ],
)
def test_a_line_dotenv_cannot_read_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.env"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["run", "--once", "--env-file", str(path), "--region", "us-east-1"])
    assert result.exit_code == 2
    assert message in result.output and "--env-file" in result.output


# -- one style for every command's JSON ------------------------------------------------------------
def test_the_run_summary_prints_as_the_other_commands_do() -> None:
    # Given the auditor's summary of a run (snake_case sources, times to the microsecond)
    summary = {
        "status": "partial-failure",
        "startedAt": "2026-11-02T09:10:00.123456Z",
        "sources": [
            {
                "source": "123456789012/us-east-1/qconnect-import/kb-1",
                "job_kind": "qconnect-import",
                "window_start": "2026-11-02T09:00:00.993000Z",
                "jobs_listed": 3,
                "duration_ms": 412,
                "stopped": True,
                "error": None,
                "transitions_by_status": {"COMPLETE": 1},
            }
        ],
    }
    # When it is shaped for output
    out = views.run_summary(summary)
    # Then keys are camelCase, times are to the second, and the result reads as `status` reads it
    (source,) = out["sources"]
    assert out["startedAt"] == "2026-11-02T09:10:00Z"
    assert source["windowStart"] == "2026-11-02T09:00:00Z"
    assert (
        source["jobKind"] == "qconnect-import" and source["jobsListed"] == 3 and source["durationMs"] == 412
    )
    assert source["stoppedEarly"] is True and source["result"] == "stopped early"
    assert source["transitionsByStatus"] == {"COMPLETE": 1}  # data keys (statuses) stay as they are
    assert not [k for k in source if "_" in k]


# -- the README says what the code does ------------------------------------------------------------
def _fenced_after(text: str, marker: str, language: str = "") -> str:
    start = text.index(f"```{language}\n", text.index(marker)) + len(language) + 4
    return text[start : text.index("```", start)]


def test_the_readme_shows_the_golden_captures_and_the_policy_the_cli_prints() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The `job-auditor` CLI") : readme.index("## How it works")]
    golden = ROOT / "tests" / "integration" / "golden_cli"
    assert _fenced_after(section, "What a person sees") == (golden / "status-80.txt").read_text()
    assert _fenced_after(section, "and at 120 columns") == (golden / "history-120.txt").read_text()
    policy = permissions.policy(["status", "jobs", "history", "replay"], permissions.PLACEHOLDERS)
    assert json.loads(_fenced_after(section, "**Permissions.**", "json")) == policy
    for code in ("`0` ok", "`1` error", "`2` usage", "`3` partial"):
        assert code in section


@pytest.mark.parametrize("command", [[], *([name] for name in cli.commands)])
def test_every_help_reads_in_80_columns(command: list[str]) -> None:
    # When a command's help is shown in an 80-column terminal
    result = CliRunner().invoke(cli, [*command, "--help"], terminal_width=80)
    # Then no line is wider, and it names its exit codes
    assert result.exit_code == 0
    assert max(len(line) for line in result.output.splitlines()) <= 80, result.output
    assert "Exit codes:" in result.output and "  0  ok" in result.output


# -- what an operator may type by mistake -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("replay", "--since", "1d", "--until", "1d"), "the window is empty"),
        (("replay", "--since", "0m"), "the window is empty"),
        (("replay", "--since", "1000000d"), "reaches before year 1"),
        (("replay", "--since", "99999999999d"), "reaches before year 1"),
        (("replay", "--since", "1d", "--channel", "sns"), "--channel: not used with --since"),
        (("replay", "--parked", "--until", "1h"), "--until: not used with --parked"),
        (("replay", "--parked", "--notify"), "--notify: not used with --parked"),
    ],
)
def test_a_window_of_no_length_a_time_too_far_and_an_option_of_the_other_form_are_refused(
    args: tuple[str, ...], message: str
) -> None:
    # Refused before any AWS call (there is no stack here): exit 2, saying what is wrong
    result = CliRunner().invoke(cli, ["--stack", "Nowhere", "--region", "us-east-1", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
