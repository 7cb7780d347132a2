"""The context model: defaults, accepted forms, and one rejected value per key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import CONTEXT_KEYS, EXPECTED_FORMS, AuditorConfig, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]

# One malformed value per context key: every key must appear here (checked below).
BAD_VALUES: dict[str, object] = {
    "stackName": "9-starts-with-digit",
    "jobKinds": "bedrock-model-import,sagemaker-training",
    "regions": "us-east-1,mars-north-1a",
    "qconnectKnowledgeBaseIds": "not-a-uuid",
    "scheduleRateMinutes": "0",
    "notificationEmails": "a@example.com,not-an-email",
    "opsEmails": "oncall",
    "slackWorkspaceId": "lower-case",
    "slackChannelId": "C012 3",
    "slackWebhookSecretName": "job auditor/slack webhook",
    "notifyStatuses": "Completed,Done",
    "notifyJobKinds": "bedrock-model-import,batch-inference",
    "notifyNamePrefixes": "prod-,has space",
    "initialLookbackMinutes": "-5",
    "stuckAfterHours": "qconnect-import=0",
    "stuckRepeatHours": "-1",
    "overlapSeconds": "90000",
    "recheckHorizonHours": "0",
    "announceBaseline": "yes",
    "historyRetentionDays": "0",
    "archiveRetentionDays": "-1",
    "removalPolicy": "snapshot",
    "functionMemoryMb": "64",
    "functionTimeoutSeconds": "901",
    "logRetentionDays": "31",
    "logLevel": "VERBOSE",
    "heartbeatPeriods": "0",
    "powertoolsLayerVersion": "2.43.1",
    "eventSource": "aws.bedrock",
}


def test_every_key_has_a_bad_value_case_and_a_documented_form() -> None:
    # Given the keys the model defines / When compared with the cases and the docs / Then all match
    assert set(BAD_VALUES) == set(CONTEXT_KEYS)
    docs = (ROOT / "README.md").read_text()
    missing = [key for key in CONTEXT_KEYS if f"`{key}`" not in docs]
    assert missing == []


@pytest.mark.parametrize("key", sorted(BAD_VALUES))
def test_bad_value_names_the_key_and_the_expected_form(key: str) -> None:
    # Given one malformed value; Slack ids are only valid in pairs, so give the partner a good one
    context: dict[str, object] = {key: BAD_VALUES[key]}
    if key == "slackWorkspaceId":
        context["slackChannelId"] = "C0123ABCD"
    if key == "slackChannelId":
        context["slackWorkspaceId"] = "T0123ABCD"
    # When the context is loaded
    with pytest.raises(ConfigError) as caught:
        load_config(context)
    # Then the message names the key and quotes the expected form
    message = str(caught.value)
    assert f"{key}: " in message
    assert EXPECTED_FORMS[key] in message


def test_defaults() -> None:
    config = load_config({})
    assert config == AuditorConfig()
    assert config.stack_name == "JobAuditor"
    assert config.job_kinds == ("bedrock-model-import", "bedrock-model-copy", "qconnect-import")
    assert config.regions == ()
    assert config.discover_knowledge_bases
    assert config.schedule_rate_minutes == 5
    assert config.notification_emails == () and config.ops_emails == ()
    assert not config.slack_enabled
    assert config.notify_statuses == ()
    assert config.initial_lookback_minutes == 1440
    assert config.overlap_seconds == 300
    assert config.recheck_horizon_hours == 72
    assert config.announce_baseline is False
    assert config.history_retention_days == 90
    assert config.archive_retention_days == 90
    assert config.removal_policy == "retain"
    assert config.function_memory_mb == 256
    assert config.function_timeout_seconds == 120
    assert config.claim_lease_seconds == 420
    assert config.log_retention_days == 30
    assert config.log_level == "INFO"
    assert config.heartbeat_periods == 3
    assert config.powertools_layer_version == "3.37.0"  # requirements.txt's pin (test_powertools_pin.py)
    assert config.event_source == "job-auditor"


def test_comma_lists_from_the_command_line_and_json_lists_from_cdk_json_are_equal() -> None:
    from_cli = load_config(
        {"notificationEmails": " a@example.com , b@example.com,", "regions": "us-east-1,eu-west-1"}
    )
    from_json = load_config(
        {"notificationEmails": ["a@example.com", "b@example.com"], "regions": ["us-east-1", "eu-west-1"]}
    )
    assert from_cli == from_json
    assert from_cli.notification_emails == ("a@example.com", "b@example.com")


def test_numbers_booleans_and_case_are_accepted_in_their_documented_forms() -> None:
    config = load_config(
        {
            "scheduleRateMinutes": 15,
            "announceBaseline": "True",
            "removalPolicy": "DESTROY",
            "logLevel": "debug",
            "qconnectKnowledgeBaseIds": "discover",
            "powertoolsLayerVersion": "3.37.0",
        }
    )
    assert config.schedule_rate_minutes == 15
    assert config.announce_baseline is True
    assert config.removal_policy == "destroy"
    assert config.log_level == "DEBUG"
    assert config.discover_knowledge_bases
    assert config.powertools_layer_version == "3.37.0"


def test_one_slack_id_without_the_other_is_rejected() -> None:
    with pytest.raises(ConfigError, match="slackChannelId: required"):
        load_config({"slackWorkspaceId": "T0123ABCD"})
    with pytest.raises(ConfigError, match="slackWorkspaceId: required"):
        load_config({"slackChannelId": "C0123ABCD"})


def test_heartbeat_window_longer_than_a_day_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"heartbeatPeriods: .*1440 minutes"):
        load_config({"scheduleRateMinutes": "60", "heartbeatPeriods": "25"})
    assert load_config({"scheduleRateMinutes": "60", "heartbeatPeriods": "24"}).heartbeat_periods == 24


def test_unrelated_context_keys_are_ignored() -> None:
    config = load_config({"@aws-cdk/core:newStyleStackSynthesis": True, "acknowledged-issue-numbers": [1]})
    assert config == AuditorConfig()


def test_cdk_synth_with_a_bad_context_value_fails_naming_the_key(tmp_path: Path) -> None:
    # Given the context the CDK CLI passes for `cdk synth -c scheduleRateMinutes=abc`
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"scheduleRateMinutes": "abc"}),
        "CDK_OUTDIR": str(tmp_path),
    }
    # When the app runs
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Then it exits non-zero before synthesizing, naming the key and the expected form
    assert result.returncode == 1
    assert "scheduleRateMinutes: " in result.stderr
    assert EXPECTED_FORMS["scheduleRateMinutes"] in result.stderr
    assert not (tmp_path / "manifest.json").exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "http://example.com/hook",
        "hooks.slack.com/services/x",
    ],
)
def test_slack_webhook_url_in_context_is_refused_without_being_echoed(url: str) -> None:
    # Given the webhook URL itself instead of the secret's name
    with pytest.raises(ConfigError) as caught:
        load_config({"slackWebhookSecretName": url})
    # Then the message says secrets never go in context, and does not repeat the secret
    message = str(caught.value)
    assert message.startswith("invalid job-auditor context: slackWebhookSecretName: ")
    assert "secrets never go in CDK context" in message
    assert "/services/" not in message and "example.com" not in message


@pytest.mark.parametrize("name", ["job-auditor/slack-webhook", "a", "x" * 512, "team+ops=1.2@prod_hook"])
def test_slack_webhook_secret_names_accepted(name: str) -> None:
    assert load_config({"slackWebhookSecretName": name}).slack_webhook_secret_name == name
    assert load_config({}).slack_webhook_secret_name is None


def test_slack_webhook_secret_name_longer_than_512_is_refused() -> None:
    with pytest.raises(ConfigError, match="slackWebhookSecretName: "):
        load_config({"slackWebhookSecretName": "x" * 513})
