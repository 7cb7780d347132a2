import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from job_auditor.auditor.settings import (
    BOUNDS,
    ENV_VARS,
    EVENT_SOURCE_FORM,
    Settings,
    SettingsError,
    load_settings,
)
from job_auditor.contract.environment import kinds_form, settings

ROOT = Path(__file__).resolve().parents[2]

VALID = {
    "AWS_REGION": "eu-west-1",
    "STATE_TABLE_NAME": "job-auditor-state",
    "EVENT_BUS_NAME": "job-auditor",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:job-auditor",
}


def test_defaults() -> None:
    settings = load_settings(VALID)
    # The silent kinds by default; the two with native events of their own are opt-in.
    assert settings.job_kinds == (
        "bedrock-model-import",
        "bedrock-model-copy",
        "qconnect-import",
        "bedrock-evaluation",
        "bedrock-kb-ingestion",
    )
    assert settings.audited_regions == ("eu-west-1",)
    assert settings.configured_scopes == {}
    assert settings.initial_lookback_minutes == 1440
    assert settings.overlap_seconds == 300
    assert settings.announce_baseline is False
    assert settings.event_source == "job-auditor"


def test_lists_are_parsed() -> None:
    settings = load_settings(
        VALID
        | {
            "JOB_KINDS": "qconnect-import, bedrock-model-copy",
            "REGIONS": "us-east-1,us-west-2",
            "QCONNECT_KNOWLEDGE_BASE_IDS": "0f2c4a1e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
            "ANNOUNCE_BASELINE": "true",
        }
    )
    assert settings.job_kinds == ("qconnect-import", "bedrock-model-copy")
    assert settings.audited_regions == ("us-east-1", "us-west-2")
    assert settings.configured_scopes == {"qconnect-import": (("0f2c4a1e-1b2c-4d5e-8f90-a1b2c3d4e5f6",),)}
    assert settings.announce_baseline is True


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STATE_TABLE_NAME", None, "STATE_TABLE_NAME: required"),
        ("EVENT_BUS_NAME", "", "EVENT_BUS_NAME: required"),
        (
            "NOTIFICATION_TOPIC_ARN",
            "not-an-arn",
            "NOTIFICATION_TOPIC_ARN: expected an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>), "
            "got 'not-an-arn'",
        ),
        (
            "JOB_KINDS",
            "bedrock-model-import,batch",
            f"JOB_KINDS: expected {kinds_form()}, got 'batch'",
        ),
        (
            "REGIONS",
            "us-east-1,mars-1,moon-2",
            "REGIONS: expected a comma list of AWS region names such as us-east-1, got 'mars-1', 'moon-2'",
        ),
        ("QCONNECT_KNOWLEDGE_BASE_IDS", "kb-1", "QCONNECT_KNOWLEDGE_BASE_IDS: expected a comma list of"),
        (
            "INITIAL_LOOKBACK_MINUTES",
            "-5",
            "INITIAL_LOOKBACK_MINUTES: expected a whole number from 1 to 43200, got '-5'",
        ),
        ("OVERLAP_SECONDS", "soon", "OVERLAP_SECONDS: expected a whole number from 0 to 86400, got 'soon'"),
        ("OVERLAP_SECONDS", "86401", "OVERLAP_SECONDS: expected a whole number from 0 to 86400, got '86401'"),
        ("OVERLAP_SECONDS", "5.5", "OVERLAP_SECONDS: expected a whole number from 0 to 86400, got '5.5'"),
        ("RECHECK_HORIZON_HOURS", "0", "RECHECK_HORIZON_HOURS: expected a whole number from 1 to 8760"),
        ("HISTORY_TTL_DAYS", "\u0665", "HISTORY_TTL_DAYS: expected a whole number from 1 to 3650"),
        ("ANNOUNCE_BASELINE", "perhaps", "ANNOUNCE_BASELINE: expected true or false, got 'perhaps'"),
        (
            "CLAIM_LEASE_SECONDS",
            "10",
            "CLAIM_LEASE_SECONDS: expected a whole number from 60 to 3600, got '10'",
        ),
        ("STUCK_REPEAT_HOURS", "-1", "STUCK_REPEAT_HOURS: expected a whole number from 0 to 8760, got '-1'"),
        ("ACCOUNT_ID", "12345", "ACCOUNT_ID: expected a 12-digit account id, got '12345'"),
        ("ACCOUNT_ID", "123456789012\n", "ACCOUNT_ID: expected a 12-digit account id"),
        ("CHAT_TOPIC_ARN", "arn:aws:sns:eu-west-1:1234:chat", "CHAT_TOPIC_ARN: expected an SNS topic ARN"),
        ("EVENT_SOURCE", "job auditor!", "EVENT_SOURCE: expected an event source"),
        ("STATE_TABLE_NAME", "ab", "STATE_TABLE_NAME: expected a DynamoDB table name"),
        ("EVENT_BUS_NAME", "b" * 1601, "EVENT_BUS_NAME: expected an EventBridge bus name or ARN, got 'bbb"),
        ("NOTIFY_FILTER", "{status", "NOTIFY_FILTER: expected a JSON SNS filter policy, got '{status'"),
        ("NOTIFY_FILTER", '["status"]', "NOTIFY_FILTER: expected a JSON object (an SNS filter policy)"),
        ("NOTIFY_FILTER", '{"colour": ["red"]}', "NOTIFY_FILTER: expected message attributes from account"),
        ("NOTIFY_FILTER", '{"status": []}', "NOTIFY_FILTER: expected status: a non-empty list of strings"),
        ("NOTIFY_FILTER", '{"status": "Failed"}', "NOTIFY_FILTER: expected status: a non-empty list"),
        ("NOTIFY_FILTER", '{"jobName": [{"suffix": "-x"}]}', "NOTIFY_FILTER: expected jobName: a non-empty"),
        ("NOTIFY_FILTER", '{"status": [5]}', "NOTIFY_FILTER: expected status: a non-empty list"),
        ("AWS_REGION", None, "AWS_REGION: required"),
        (
            "AWS_REGION",
            "US_EAST_1",
            "AWS_REGION: expected an AWS region name such as us-east-1, got 'US_EAST_1'",
        ),
    ],
)
def test_bad_variable_is_named_with_the_expected_form_and_the_bad_value(
    name: str, value: str | None, message: str
) -> None:
    # Given the valid environment with one variable removed or malformed
    env = dict(VALID)
    if value is None:
        env.pop(name)
    else:
        env[name] = value
    # When it is loaded, Then the error names it, the form it expects and the value it got
    with pytest.raises(SettingsError) as error:
        load_settings(env)
    problems = str(error.value).removeprefix("invalid auditor environment: ")
    assert problems.startswith(message)
    assert "; " not in problems  # this one problem only


def test_long_bad_values_are_cut_short_in_the_message() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(VALID | {"EVENT_BUS_NAME": "b" * 1601})
    assert "... (1601 characters)" in str(error.value)
    assert len(str(error.value)) < 300


def test_every_problem_is_reported_at_once_in_one_error() -> None:
    # Given an environment with a missing, a malformed and an out-of-range variable
    env = {k: v for k, v in VALID.items() if k != "STATE_TABLE_NAME"}
    env |= {"JOB_KINDS": "nope", "OVERLAP_SECONDS": "-1"}
    # When it is loaded
    with pytest.raises(SettingsError) as error:
        load_settings(env)
    # Then one error lists each of them, in the order of the variables
    assert str(error.value) == (
        "invalid auditor environment: STATE_TABLE_NAME: required; "
        f"JOB_KINDS: expected {kinds_form()}, got 'nope'; "
        "OVERLAP_SECONDS: expected a whole number from 0 to 86400, got '-1'"
    )


def test_empty_variables_mean_the_default_and_unknown_variables_are_ignored() -> None:
    env = VALID | {"OVERLAP_SECONDS": "", "JOB_KINDS": "", "NOTIFY_FILTER": "", "UNRELATED": "x"}
    assert load_settings(env) == load_settings(VALID)


def test_region_falls_back_to_aws_default_region_and_names_it_when_bad() -> None:
    env = {k: v for k, v in VALID.items() if k != "AWS_REGION"}
    assert load_settings(env | {"AWS_DEFAULT_REGION": "us-west-2"}).region == "us-west-2"
    assert load_settings(env | {"AWS_REGION": "", "AWS_DEFAULT_REGION": "us-west-2"}).region == "us-west-2"
    with pytest.raises(SettingsError, match="AWS_DEFAULT_REGION: expected an AWS region name"):
        load_settings(env | {"AWS_DEFAULT_REGION": "west"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(v, True) for v in ("true", "True", "TRUE", "1", "yes", "on", " true ")]
    + [(v, False) for v in ("false", "False", "0", "no", "off")],
)
def test_booleans_take_the_usual_spellings(value: str, expected: bool) -> None:
    assert load_settings(VALID | {"ANNOUNCE_BASELINE": value}).announce_baseline is expected


@pytest.mark.parametrize("value", ["discover", "DISCOVER", "  "])
def test_knowledge_base_ids_discover(value: str) -> None:
    assert load_settings(VALID | {"QCONNECT_KNOWLEDGE_BASE_IDS": value}).configured_scopes == {}


def test_numbers_and_the_filter_policy_are_parsed() -> None:
    policy = {"status": ["Failed"], "jobName": [{"prefix": "prod-"}]}
    settings = load_settings(
        VALID
        | {
            "INITIAL_LOOKBACK_MINUTES": " 60 ",
            "OVERLAP_SECONDS": "0",
            "RECHECK_HORIZON_HOURS": "+48",
            "HISTORY_TTL_DAYS": "30",
            "CLAIM_LEASE_SECONDS": "1_200",
            "STUCK_REPEAT_HOURS": "6",
            "ACCOUNT_ID": "123456789012",
            "CHAT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:chat",
            "NOTIFY_FILTER": json.dumps(policy),
        }
    )
    assert settings.initial_lookback == timedelta(minutes=60)
    assert settings.overlap == timedelta(0)
    assert settings.recheck_horizon == timedelta(hours=48)
    assert settings.history_ttl == timedelta(days=30)
    assert settings.claim_lease == timedelta(seconds=1200)
    assert settings.stuck_repeat == timedelta(hours=6)
    assert settings.account_id == "123456789012"
    assert settings.chat_topic_arn == "arn:aws:sns:eu-west-1:123456789012:chat"
    assert settings.notify_filter == policy


def test_settings_are_frozen() -> None:
    settings = load_settings(VALID)
    with pytest.raises(AttributeError):
        settings.region = "us-east-1"  # type: ignore[misc]


def test_every_variable_names_a_field_and_the_required_ones_are_the_tables() -> None:
    # Given the class's fields / When compared with the settings table / Then they line up: a
    # field per variable (the kinds' scope variables in configured_scopes, the runtime's AWS_REGION in
    # region, a setting the class does not declare in other)
    by_name = set(Settings._fields)
    assert set(ENV_VARS.values()) == by_name - {"region", "configured_scopes", "other"}
    required = {s.env_var for s in settings() if s.required}
    assert required == {"STATE_TABLE_NAME", "EVENT_BUS_NAME", "NOTIFICATION_TOPIC_ARN"}
    for name in required:
        with pytest.raises(SettingsError, match=f"{name}: required"):
            load_settings({k: v for k, v in VALID.items() if k != name})


def _modules_the_lambda_loads(handlers: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with `prefixes` that a fresh interpreter holds after importing `handlers`
    from the Lambda's asset (as synth stages it), as the runtime loads it."""
    from job_auditor.infra.auditor_function import lambda_asset_dir

    asset = lambda_asset_dir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(asset),
        "PYTHONDONTWRITEBYTECODE": "1",  # the asset stays as synth made it
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "job-auditor",
        "POWERTOOLS_METRICS_NAMESPACE": "JobAuditor",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    code = (
        f"import json, sys, {handlers}; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=asset,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_the_lambda_does_not_import_pydantic() -> None:
    # Given a fresh interpreter with the Lambda's asset on the path
    # The type stubs of boto3 are installed for mypy only (requirements-dev.txt), and the mypy_boto3_*
    # packages ship importable modules: a stray run-time import would pass here and fail in AWS.
    unwanted = ("pydantic", "aws_cdk", "mypy_boto3", "types_boto3", "boto3_stubs", "botocore_stubs")
    # When it imports the handlers (Powertools' Logger, Metrics and Tracer included)
    loaded = _modules_the_lambda_loads(
        "job_auditor.auditor.handler, job_auditor.slack_forwarder.handler", unwanted
    )
    # Then pydantic (~130 ms of cold start, benchmarks/coldstart.py), the CDK and the type stubs were
    # never imported
    assert loaded == []


def test_the_direct_handler_does_not_load_what_a_default_run_does_not_use() -> None:
    # Given the modules only some deployments run: the fan-out's steps and run bucket, the CloudTrail
    # start feed (discovery=cloudtrail), the X-Ray SDK (built on the first traced invocation)
    optional = (
        "job_auditor.auditor.fanout",
        "job_auditor.auditor.adapters.item_store",
        "job_auditor.auditor.adapters.start_queue",
        "aws_xray_sdk",
    )
    # When the runtime imports the direct handler / Then none of them is loaded (each costs a cold start)
    assert _modules_the_lambda_loads("job_auditor.auditor.handler", optional) == []


# Issue 10, item 11: every number bounded, every list de-duplicated, the same rules as the CDK context.


def test_history_ttl_beyond_ten_years_is_rejected() -> None:
    # Given a history TTL that used to pass validation and then overflow the expiry date after publishing
    # When it is loaded / Then the run fails before anything is read or published
    with pytest.raises(SettingsError, match="HISTORY_TTL_DAYS: expected a whole number from 1 to 3650"):
        load_settings(VALID | {"HISTORY_TTL_DAYS": "3000000"})
    assert load_settings(VALID | {"HISTORY_TTL_DAYS": "3650"}).history_ttl == timedelta(days=3650)


def test_claim_lease_beyond_an_hour_is_rejected() -> None:
    # A longer lease would leave a crashed run's claims unrecovered for that long
    with pytest.raises(SettingsError, match="CLAIM_LEASE_SECONDS: expected a whole number from 60 to 3600"):
        load_settings(VALID | {"CLAIM_LEASE_SECONDS": "3601"})
    assert load_settings(VALID | {"CLAIM_LEASE_SECONDS": "3600"}).claim_lease == timedelta(hours=1)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_every_bounded_number_accepts_its_ends_and_rejects_beyond_them(name: str) -> None:
    bounds = BOUNDS[name]
    for inside in (bounds.low, bounds.high):
        assert getattr(load_settings(VALID | {name: str(inside)}), ENV_VARS[name]) == inside
    for outside in (bounds.low - 1, bounds.high + 1):
        with pytest.raises(SettingsError, match=f"{name}: expected {bounds.form()}, got '{outside}'"):
            load_settings(VALID | {name: str(outside)})


def test_every_whole_number_variable_has_bounds() -> None:
    # Given the fields typed int / Then each one's variable has an entry in BOUNDS
    int_fields = {name for name, hint in get_type_hints(Settings).items() if hint is int}
    assert {ENV_VARS[name] for name in BOUNDS} == int_fields


def test_repeated_kinds_regions_and_knowledge_bases_are_audited_once_in_order() -> None:
    # Given lists that name the same source twice (one invocation would audit it twice at once)
    kb_a, kb_b = "0f2c4a1e-1b2c-4d5e-8f90-a1b2c3d4e5f6", "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
    settings = load_settings(
        VALID
        | {
            "JOB_KINDS": "qconnect-import,bedrock-model-copy,qconnect-import",
            "REGIONS": "us-west-2,us-east-1,us-west-2",
            "QCONNECT_KNOWLEDGE_BASE_IDS": f"{kb_b},{kb_a},{kb_b}",
        }
    )
    # Then each is kept once, first occurrence first
    assert settings.job_kinds == ("qconnect-import", "bedrock-model-copy")
    assert settings.audited_regions == ("us-west-2", "us-east-1")
    assert settings.configured_scopes == {"qconnect-import": ((kb_b,), (kb_a,))}


def test_star_is_not_a_knowledge_base_wildcard() -> None:
    # The CDK context never accepted '*'; 'discover' is the one word for every knowledge base
    with pytest.raises(SettingsError) as caught:
        load_settings(VALID | {"QCONNECT_KNOWLEDGE_BASE_IDS": "*"})
    assert str(caught.value).endswith(
        "QCONNECT_KNOWLEDGE_BASE_IDS: expected a comma list of knowledge base ids "
        "(lower-case UUIDs), or 'discover', got '*'"
    )


@pytest.mark.parametrize("source", ["aws.bedrock", "AWS.jobs", "Aws.x"])
def test_event_source_with_the_aws_prefix_is_rejected(source: str) -> None:
    # EventBridge reserves aws.* for AWS services; the CDK context already refused it
    with pytest.raises(SettingsError) as caught:
        load_settings(VALID | {"EVENT_SOURCE": source})
    assert f"EVENT_SOURCE: expected {EVENT_SOURCE_FORM}, got {source!r}" in str(caught.value)
    assert load_settings(VALID | {"EVENT_SOURCE": "my.aws.jobs"}).event_source == "my.aws.jobs"


@pytest.mark.parametrize("value", ["null", "{}", " { } "])
def test_notify_filter_null_or_empty_object_means_no_filter(value: str) -> None:
    assert load_settings(VALID | {"NOTIFY_FILTER": value}).notify_filter is None


# The reconciliation sweep's and the publish protocol's settings.


def test_reconciliation_and_publish_protocol_defaults() -> None:
    settings = load_settings(VALID)
    assert settings.reconcile_every == timedelta(hours=1)
    assert settings.reconcile_lookback == timedelta(hours=24)
    assert settings.publish_retry == timedelta(hours=24)
    assert settings.digest_threshold == 20
    assert settings.vanished_after_checks == 3


def test_the_retired_publish_attempts_variable_is_ignored_with_a_warning_naming_its_replacement(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a function that still has the variable an earlier version read (hand-set, or mid-deployment)
    # When its settings are loaded
    with caplog.at_level("WARNING", logger="job_auditor.auditor.settings"):
        settings = load_settings(VALID | {"MAX_PUBLISH_ATTEMPTS": "5"})
    # Then the run goes on with the time-based retry, and the log says what replaced the variable
    assert settings.publish_retry == timedelta(hours=24)
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "MAX_PUBLISH_ATTEMPTS is no longer read (ignored): it was replaced by PUBLISH_RETRY_HOURS ("
    )
    # And without it nothing is logged
    caplog.clear()
    with caplog.at_level("WARNING", logger="job_auditor.auditor.settings"):
        load_settings(VALID)
    assert not caplog.records


def test_reconcile_every_zero_means_every_run() -> None:
    assert load_settings(VALID | {"RECONCILE_EVERY_MINUTES": "0"}).reconcile_every == timedelta(0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RECONCILE_EVERY_MINUTES", "10081", "expected a whole number from 0 to 10080, got '10081'"),
        ("RECONCILE_EVERY_MINUTES", "-1", "expected a whole number from 0 to 10080, got '-1'"),
        ("RECONCILE_LOOKBACK_HOURS", "0", "expected a whole number from 1 to 8760, got '0'"),
        ("RECONCILE_LOOKBACK_HOURS", "8761", "expected a whole number from 1 to 8760, got '8761'"),
        ("PUBLISH_RETRY_HOURS", "0", "expected a whole number from 1 to 720, got '0'"),
        ("PUBLISH_RETRY_HOURS", "721", "expected a whole number from 1 to 720, got '721'"),
        ("DIGEST_THRESHOLD", "-1", "expected a whole number from 0 to 1000, got '-1'"),
        ("DIGEST_THRESHOLD", "1001", "expected a whole number from 0 to 1000, got '1001'"),
        ("VANISHED_AFTER_CHECKS", "0", "expected a whole number from 1 to 100, got '0'"),
        ("VANISHED_AFTER_CHECKS", "three", "expected a whole number from 1 to 100, got 'three'"),
    ],
)
def test_reconciliation_and_publish_protocol_values_out_of_range_are_named(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(VALID | {name: value})
    assert str(caught.value) == f"invalid auditor environment: {name}: {message}"


def test_notify_filter_takes_the_or_operator_the_context_builds_for_stuck_alerts() -> None:
    policy = {"$or": [{"status": ["Completed"]}, {"transition": ["stuck"]}], "jobName": [{"prefix": "prod-"}]}
    assert load_settings(VALID | {"NOTIFY_FILTER": json.dumps(policy)}).notify_filter == policy


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        # SNS reads "$or" as an operator only with at least two policies in it
        ({"$or": [{"status": ["Completed"]}]}, "NOTIFY_FILTER: expected $or: a list of at least two filter"),
        (
            {"$or": [{"status": ["Completed"]}, {}]},
            "NOTIFY_FILTER: expected $or: a list of at least two filter",
        ),
        ({"$or": {"status": ["Completed"]}}, "NOTIFY_FILTER: expected $or: a list of at least two filter"),
        (
            {"$or": [{"status": ["Completed"]}, {"colour": ["red"]}]},
            "NOTIFY_FILTER: expected message attributes",
        ),
        (
            {"$or": [{"status": ["Completed"]}, {"transition": []}]},
            "NOTIFY_FILTER: expected transition: a non-empty",
        ),
    ],
)
def test_notify_filter_or_operator_is_checked(policy: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(VALID | {"NOTIFY_FILTER": json.dumps(policy)})
    assert str(caught.value).removeprefix("invalid auditor environment: ").startswith(message)


def test_every_region_of_every_partition_botocore_knows_is_a_region_to_the_lambda() -> None:
    # The European Sovereign Cloud's eusc-de-east-1 among them: a run there must not fail on its region
    from botocore.loaders import create_loader

    partitions = create_loader().load_data("endpoints")["partitions"]
    names = [name for partition in partitions for name in partition["regions"]]
    assert "eusc-de-east-1" in names
    for name in names:
        assert load_settings({**VALID, "AWS_REGION": name, "REGIONS": name}).region == name
