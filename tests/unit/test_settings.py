import pytest

from auditor.settings import SettingsError, load_settings

VALID = {
    "AWS_REGION": "eu-west-1",
    "STATE_TABLE_NAME": "job-auditor-state",
    "EVENT_BUS_NAME": "job-auditor",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:job-auditor",
}


def test_defaults() -> None:
    settings = load_settings(VALID)
    assert settings.job_kinds == ("bedrock-model-import", "bedrock-model-copy", "qconnect-import")
    assert settings.audited_regions == ("eu-west-1",)
    assert settings.qconnect_knowledge_base_ids == ()
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
    assert settings.qconnect_knowledge_base_ids == ("0f2c4a1e-1b2c-4d5e-8f90-a1b2c3d4e5f6",)
    assert settings.announce_baseline is True


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STATE_TABLE_NAME", None, "STATE_TABLE_NAME: Field required"),
        ("EVENT_BUS_NAME", None, "EVENT_BUS_NAME: Field required"),
        (
            "NOTIFICATION_TOPIC_ARN",
            "not-an-arn",
            "NOTIFICATION_TOPIC_ARN: Value error, expected an SNS topic ARN",
        ),
        ("JOB_KINDS", "bedrock-model-import,batch", "JOB_KINDS: Input should be"),
        ("REGIONS", "us-east-1,mars-1", "REGIONS: Value error, expected AWS region names"),
        ("QCONNECT_KNOWLEDGE_BASE_IDS", "kb-1", "QCONNECT_KNOWLEDGE_BASE_IDS: Value error"),
        ("INITIAL_LOOKBACK_MINUTES", "-5", "INITIAL_LOOKBACK_MINUTES: Input should be greater than 0"),
        ("OVERLAP_SECONDS", "soon", "OVERLAP_SECONDS: Input should be a valid integer"),
        ("ANNOUNCE_BASELINE", "perhaps", "ANNOUNCE_BASELINE: Input should be a valid boolean"),
        ("CLAIM_LEASE_SECONDS", "10", "CLAIM_LEASE_SECONDS: Input should be greater than or equal to 60"),
        ("ACCOUNT_ID", "12345", "ACCOUNT_ID: Value error, expected a 12-digit account id"),
        ("AWS_REGION", None, "AWS_REGION: Field required"),
    ],
)
def test_bad_variable_is_named(name: str, value: str | None, message: str) -> None:
    env = dict(VALID)
    if value is None:
        env.pop(name)
    else:
        env[name] = value
    with pytest.raises(SettingsError) as error:
        load_settings(env)
    assert message in str(error.value)
