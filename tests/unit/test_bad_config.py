"""Bad-input catalogue, configuration half (docs/bad-inputs.md): each malformed Lambda environment
variable or CDK context key fails early with a message naming it and the expected form."""

import pytest

from job_auditor.auditor.settings import SettingsError, load_settings
from job_auditor.infra.config import ConfigError, load_config

GOOD = {
    "AWS_REGION": "us-east-1",
    "STATE_TABLE_NAME": "job-auditor-state",
    "EVENT_BUS_NAME": "job-auditor",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:job-auditor",
}

ENV_CASES = [
    # (case id, variable, value or None to remove it, words the message must contain)
    ("missing-table", "STATE_TABLE_NAME", None, ["STATE_TABLE_NAME"]),
    ("missing-bus", "EVENT_BUS_NAME", None, ["EVENT_BUS_NAME"]),
    ("missing-topic", "NOTIFICATION_TOPIC_ARN", None, ["NOTIFICATION_TOPIC_ARN"]),
    ("missing-region", "AWS_REGION", None, ["AWS_REGION"]),
    ("unknown-job-kind", "JOB_KINDS", "bedrock-model-import,bedrock-fine-tune", ["JOB_KINDS"]),
    ("no-job-kind", "JOB_KINDS", " , ", ["JOB_KINDS", "expected a comma list of bedrock-model-import"]),
    ("bad-region", "REGIONS", "us-east-1,moon-base-1", ["REGIONS", "moon-base-1"]),
    ("bad-own-region", "AWS_REGION", "US_EAST_1", ["AWS_REGION", "US_EAST_1"]),
    ("malformed-kb-id", "QCONNECT_KNOWLEDGE_BASE_IDS", "kb-123", ["QCONNECT_KNOWLEDGE_BASE_IDS", "kb-123"]),
    ("negative-lookback", "INITIAL_LOOKBACK_MINUTES", "-60", ["INITIAL_LOOKBACK_MINUTES"]),
    ("zero-lookback", "INITIAL_LOOKBACK_MINUTES", "0", ["INITIAL_LOOKBACK_MINUTES"]),
    ("non-numeric-overlap", "OVERLAP_SECONDS", "five minutes", ["OVERLAP_SECONDS"]),
    ("overlap-over-a-day", "OVERLAP_SECONDS", "90000", ["OVERLAP_SECONDS"]),
    ("lease-too-short", "CLAIM_LEASE_SECONDS", "30", ["CLAIM_LEASE_SECONDS"]),
    ("bad-topic-arn", "NOTIFICATION_TOPIC_ARN", "job-auditor-topic", ["NOTIFICATION_TOPIC_ARN"]),
    ("not-a-boolean", "ANNOUNCE_BASELINE", "maybe", ["ANNOUNCE_BASELINE"]),
    ("bad-account", "ACCOUNT_ID", "1234", ["ACCOUNT_ID"]),
    ("bad-event-source", "EVENT_SOURCE", "job auditor!", ["EVENT_SOURCE"]),
    ("bad-table-name", "STATE_TABLE_NAME", "a", ["STATE_TABLE_NAME"]),
]


@pytest.mark.parametrize(("case", "name", "value", "words"), ENV_CASES, ids=[c[0] for c in ENV_CASES])
def test_bad_environment_fails_naming_the_variable(
    case: str, name: str, value: str | None, words: list[str]
) -> None:
    # Given the good environment with one variable removed or malformed
    env = dict(GOOD)
    if value is None:
        env.pop(name)
    else:
        env[name] = value
    # When it is loaded, Then the error names the variable (and the bad value where there is one)
    with pytest.raises(SettingsError) as error:
        load_settings(env)
    for word in words:
        assert word in str(error.value), case


def test_two_bad_variables_are_both_named() -> None:
    env = {**GOOD, "JOB_KINDS": "nope", "OVERLAP_SECONDS": "-1"}
    with pytest.raises(SettingsError) as error:
        load_settings(env)
    assert "JOB_KINDS" in str(error.value) and "OVERLAP_SECONDS" in str(error.value)


@pytest.mark.parametrize(
    ("value", "case"),
    [("0", "zero"), ("rate(5 minutes)", "cron-text"), ("1441", "over-a-day"), ("-5", "negative")],
    ids=["zero", "cron-text", "over-a-day", "negative"],
)
def test_malformed_schedule_fails_synth_naming_the_context_key(value: str, case: str) -> None:
    # Given a CDK context with a malformed schedule rate
    # When it is loaded, Then the error names the key and the expected form
    with pytest.raises(ConfigError) as error:
        load_config({"scheduleRateMinutes": value})
    assert "scheduleRateMinutes" in str(error.value), case
