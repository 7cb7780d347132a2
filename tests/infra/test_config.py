"""The context model: defaults, accepted forms, and one rejected value per key."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from job_auditor.auditor.settings import BOUNDS, SettingsError, load_settings
from job_auditor.contract.environment import setting, snake_case
from job_auditor.contract.kinds import default_kind_ids, every_status
from job_auditor.infra.config import (
    ConfigError,
    JobAuditorProps,
    context_keys,
    expected_forms,
    filter_combinations,
    filter_policy_problem,
    load_config,
)
from tests.unit.test_settings import VALID

CONTEXT_KEYS = context_keys()
EXPECTED_FORMS = expected_forms()
KNOWN_STATUSES = every_status()

ROOT = Path(__file__).resolve().parents[2]

# One malformed value per context key: every key must appear here (checked below).
BAD_VALUES: dict[str, object] = {
    "stackName": "9-starts-with-digit",
    "jobKinds": "bedrock-model-import,sagemaker-training",
    "regions": "us-east-1,mars-north-1a",
    "qconnectKnowledgeBaseIds": "not-a-uuid",
    "bedrockKnowledgeBaseIds": "ABCDEFGHIJ/too-short",
    "notifyStatusCategories": "FAILED,BROKEN",
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
    "reconcileEveryMinutes": "10081",
    "reconcileLookbackHours": "0",
    "publishRetryHours": "721",
    "digestThreshold": "-1",
    "vanishedAfterChecks": "101",
    "notifyStuckAlerts": "yes",
    "accounts": "111111111111,12345",
    "organizationalUnits": "ou-x",
    "memberRoleName": "has space",
    "memberExternalId": "x",
    "memberDeployment": "cloudformation",
    "stackSetCallAs": "MEMBER",
    "organizationId": "o-short",
    "auditorRoleArn": "arn:aws:iam::123:role/JobAuditor",
    "accountFailurePeriods": "0",
    "auditMode": "lambda",
    "mapMaxConcurrency": "10001",
    "itemsPerBatch": "0",
    "accountRegionConcurrency": "17",
    "toleratedFailurePercentage": "101",
    "mapChildExecutionType": "sync",
    "teamsTeamId": "not-a-guid",
    "teamsChannelId": "general",
    "teamsTenantId": "contoso",
    "alertDestination": "slack",
    "alertSecret": "job auditor/pager",
    "alertUrl": "http://hooks.example.com/page",
    "alertHeaderName": "X Api Key",
    "alertStatuses": "Failed,Broken",
    "alertStatusCategories": "FAILED,LOUD",
    "alertStuckAlerts": "yes",
    "metricsNamespace": "Job Auditor",
    "serviceName": "job auditor",
    "discovery": "events",
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
    assert config == JobAuditorProps()
    assert config.stack_name == "JobAuditor"
    assert config.job_kinds == default_kind_ids()
    assert "bedrock-customization" not in config.job_kinds  # opt-in: it has native events
    assert config.regions == ()
    assert config.configured_scopes == {}
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
    assert config.reconcile_every_minutes == 60
    assert config.reconcile_lookback_hours == 24
    assert config.publish_retry_hours == 24
    assert config.digest_threshold == 20
    assert config.vanished_after_checks == 3


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
    assert config.configured_scopes == {}
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


def test_keys_cdk_itself_uses_are_let_through() -> None:
    config = load_config({"@aws-cdk/core:newStyleStackSynthesis": True, "acknowledged-issue-numbers": [1]})
    assert config == JobAuditorProps()


def _run_app(context: dict[str, object], outdir: Path) -> subprocess.CompletedProcess[str]:
    """app.py in a process of its own, given context as the CDK CLI passes it: in CDK_CONTEXT_JSON,
    which the jsii runtime reads only when it starts."""
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir)}
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cdk_synth_with_a_bad_context_value_fails_naming_the_key(tmp_path: Path) -> None:
    # Given the context the CDK CLI passes for `cdk synth -c scheduleRateMinutes=abc`
    # When the app runs
    result = _run_app({"scheduleRateMinutes": "abc"}, tmp_path)
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


# Issue 10, item 11: the same bounds and list rules as the Lambda's environment.

# Context key -> the environment variable the stack passes it on as.
SHARED_NUMBERS = {
    "initialLookbackMinutes": "INITIAL_LOOKBACK_MINUTES",
    "overlapSeconds": "OVERLAP_SECONDS",
    "recheckHorizonHours": "RECHECK_HORIZON_HOURS",
    "historyRetentionDays": "HISTORY_TTL_DAYS",
    "stuckRepeatHours": "STUCK_REPEAT_HOURS",
    "reconcileEveryMinutes": "RECONCILE_EVERY_MINUTES",
    "reconcileLookbackHours": "RECONCILE_LOOKBACK_HOURS",
    "publishRetryHours": "PUBLISH_RETRY_HOURS",
    "digestThreshold": "DIGEST_THRESHOLD",
    "vanishedAfterChecks": "VANISHED_AFTER_CHECKS",
    "accountRegionConcurrency": "ACCOUNT_REGION_CONCURRENCY",
}


def test_the_replaced_publish_attempts_key_fails_naming_its_replacement() -> None:
    # Given a cdk.json from before publishing was retried for a time
    # When it is synthesized
    with pytest.raises(ConfigError) as caught:
        load_config({"maxPublishAttempts": "5"})
    # Then synth fails and says which key replaced it
    assert "context key 'maxPublishAttempts' was replaced by publishRetryHours" in str(caught.value)


def test_the_replaced_publish_attempts_keyword_fails_naming_its_replacement() -> None:
    # Given an app that passed the retired keyword argument to the construct
    # When its props are built
    with pytest.raises(ConfigError) as caught:
        JobAuditorProps(max_publish_attempts=5)  # type: ignore[call-arg]
    # Then they fail naming the keyword that replaced it, not a near spelling of the old one
    assert "keyword argument 'max_publish_attempts' was replaced by publish_retry_hours" in str(caught.value)
    assert "did you mean" not in str(caught.value)


def test_history_retention_beyond_ten_years_is_rejected() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"historyRetentionDays": "3000000"})
    assert "historyRetentionDays: " in str(caught.value)
    assert "expected a whole number of days from 1 to 3650" in str(caught.value)
    assert load_config({"historyRetentionDays": "3650"}).history_retention_days == 3650


# Keys that act only with another (given alone they fail synth: test_a_key_that_would_do_nothing_...).
ONLY_WITH: dict[str, dict[str, object]] = {
    key: {"accounts": "111111111111"}
    for key in (
        "mapMaxConcurrency",
        "itemsPerBatch",
        "toleratedFailurePercentage",
        "mapChildExecutionType",
        "accountRegionConcurrency",
        "accountFailurePeriods",
    )
}


@pytest.mark.parametrize(("key", "variable"), sorted(SHARED_NUMBERS.items()))
def test_numbers_have_the_lambdas_bounds(key: str, variable: str) -> None:
    # Given a context key passed on as a Lambda variable
    bounds = BOUNDS[variable]
    # (with what the key needs to act at all)
    needs = ONLY_WITH.get(key, {})
    # Then synth accepts exactly the values the Lambda accepts
    for inside in (bounds.low, bounds.high):
        assert load_config({key: str(inside), **needs}).value(snake_case(key)) == inside
        load_settings(VALID | {variable: str(inside)})
    for outside in (bounds.low - 1, bounds.high + 1):
        with pytest.raises(ConfigError, match=f"{key}: "):
            load_config({key: str(outside), **needs})


def test_every_number_in_the_context_has_an_upper_and_a_lower_bound() -> None:
    # log retention takes one of CloudWatch's values, which bounds it too
    numbers = [f.name for f in dataclasses.fields(JobAuditorProps) if f.type == "int"]
    assert "schedule_rate_minutes" in numbers
    unbounded = [
        name for name in numbers if name != "log_retention_days" and setting(name).form.bounds is None
    ]
    assert unbounded == []


@pytest.mark.parametrize("timeout", ["10", "900"])
def test_derived_claim_lease_is_within_the_lambdas_bounds(timeout: str) -> None:
    lease = load_config({"functionTimeoutSeconds": timeout}).claim_lease_seconds
    assert BOUNDS["CLAIM_LEASE_SECONDS"].low <= lease <= BOUNDS["CLAIM_LEASE_SECONDS"].high


def test_repeated_list_items_are_kept_once_in_order() -> None:
    kb_a, kb_b = "0f2c4a1e-1b2c-4d5e-8f90-a1b2c3d4e5f6", "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
    config = load_config(
        {
            "jobKinds": "qconnect-import,bedrock-model-copy,qconnect-import",
            "qconnectKnowledgeBaseIds": [kb_b, kb_a, kb_b],
            "regions": "us-west-2,us-east-1,us-west-2",
            "notifyJobKinds": "qconnect-import,qconnect-import",
            "notifyStatuses": "Failed,Completed,Failed",
            "notifyNamePrefixes": "prod-,prod-",
            "notificationEmails": "a@example.com,a@example.com",
        }
    )
    assert config.job_kinds == ("qconnect-import", "bedrock-model-copy")
    assert config.scope_ids("qconnect-import") == ((kb_b,), (kb_a,))
    assert config.regions == ("us-west-2", "us-east-1")
    assert config.notify_job_kinds == ("qconnect-import",)
    assert config.notify_statuses == ("Failed", "Completed")
    assert config.notify_name_prefixes == ("prod-",)
    assert config.notification_emails == ("a@example.com",)


@pytest.mark.parametrize(
    ("key", "item"),
    [
        ("regions", "us-east-1\n"),
        ("qconnectKnowledgeBaseIds", "0f2c4a1e-1b2c-4d5e-8f90-a1b2c3d4e5f6\n"),
        ("notifyNamePrefixes", "prod-\n"),
        ("notificationEmails", "a@example.com\n"),
    ],
)
def test_a_trailing_newline_in_a_cdk_json_list_item_is_rejected(key: str, item: str) -> None:
    # cdk.json lists are not split and stripped like -c comma strings: the pattern must match it all
    with pytest.raises(ConfigError, match=f"{key}: "):
        load_config({key: [item]})


def test_discover_as_a_one_item_json_list_means_discover() -> None:
    assert load_config({"qconnectKnowledgeBaseIds": ["discover"]}).configured_scopes == {}


@pytest.mark.parametrize("source", ["aws.bedrock", "AWS.jobs", "job auditor", "x" * 257, "job-auditor\n"])
def test_event_source_is_checked_like_the_lambdas(source: str) -> None:
    with pytest.raises(ConfigError, match="eventSource: "):
        load_config({"eventSource": source})
    with pytest.raises(SettingsError, match="EVENT_SOURCE: "):
        load_settings(VALID | {"EVENT_SOURCE": source})


# Issue 10, item 11: a mistyped context key fails synth instead of being ignored.

# What the CDK CLI adds to every app's context (toolkit-lib's prepareContext / contextFromSettings),
# with versionReporting and staging switched off for the disable-* keys.
CLI_CONTEXT: dict[str, object] = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
    "aws:cdk:disable-version-reporting": True,
    "aws:cdk:disable-asset-staging": True,
    "aws:cdk:bundling-stacks": ["**"],
}


def _recommended_feature_flags() -> dict[str, object]:
    """The flags `cdk init` writes into cdk.json for this aws-cdk-lib (shipped in its jsii bundle)."""
    bundle = next((Path(cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz"))
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        flags: dict[str, object] = json.load(member)
    return flags


def test_mistyped_context_key_fails_synth_naming_the_closest_key(tmp_path: Path) -> None:
    # Given `cdk synth -c notifyStatus=Completed`: the CLI passes its own keys and the -c values
    # When the real app runs
    result = _run_app(CLI_CONTEXT | {"notifyStatus": "Completed"}, tmp_path)
    # Then synth fails before building anything, naming the key and the one that was meant
    assert result.returncode == 1
    assert result.stderr.endswith(
        "error: invalid job-auditor context: "
        "unknown context key 'notifyStatus' (did you mean 'notifyStatuses'?)\n"
    )
    assert not (tmp_path / "manifest.json").exists()


@pytest.mark.parametrize(
    ("key", "closest"),
    [
        ("notifystatuses", "notifyStatuses"),
        ("jobKind", "jobKinds"),
        ("schedule_rate_minutes", "scheduleRateMinutes"),
    ],
)
def test_unknown_keys_name_the_closest_known_key(key: str, closest: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({key: "x"})
    assert f"unknown context key {key!r} (did you mean {closest!r}?)" in str(caught.value)


def test_an_unknown_key_like_no_known_key_says_where_the_keys_are_listed() -> None:
    with pytest.raises(
        ConfigError, match="unknown context key 'colour' \\(the README lists the context keys\\)"
    ):
        load_config({"colour": "blue"})


def test_unknown_keys_and_bad_values_are_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"notifyStatus": "Completed", "scheduleRateMinutes": "0"})
    message = str(caught.value)
    assert "unknown context key 'notifyStatus'" in message and "scheduleRateMinutes: " in message


def test_every_key_the_cdk_cli_and_cdk_json_feature_flags_bring_passes() -> None:
    # Given an app whose context holds what the CLI adds, every recommended feature flag, this
    # project's cdk.json context, a cached lookup, and the CLI's notice and telemetry keys
    from app import app_config

    flags = _recommended_feature_flags()
    assert len(flags) > 80 and "@aws-cdk-containers/ecs-service-extensions:enableDefaultLogDriver" in flags
    project = json.loads((ROOT / "cdk.json").read_text())["context"]
    context = (
        CLI_CONTEXT
        | flags
        | project
        | {
            "availability-zones:account=123456789012:region=us-east-1": ["us-east-1a"],
            "acknowledged-issue-numbers": [34892],
            "cli-telemetry": False,
            "aws-cdk:enableDiffNoFail": "true",
            "notifyStatuses": "Completed,Failed",
        }
    )
    # When the app's whole context is validated / Then only job-auditor's own key is read
    config = app_config(cdk.App(context=context))
    assert config == JobAuditorProps(notify_statuses=("Completed", "Failed"))


# Issue 10, item 12: stuck alerts reach people under any status filter unless opted out.


def test_status_filter_lets_stuck_alerts_through_with_the_other_conditions() -> None:
    config = load_config(
        {
            "notifyStatuses": "Completed,Failed",
            "notifyJobKinds": "qconnect-import",
            "notifyNamePrefixes": "prod-",
        }
    )
    assert config.notify_stuck_alerts is True
    assert config.notification_filter == {
        "$or": [{"status": ["Completed", "Failed"]}, {"transition": ["stuck"]}],
        "jobKind": ["qconnect-import"],
        "jobName": [{"prefix": "prod-"}],
    }


def test_notify_stuck_alerts_false_lets_stuck_alerts_follow_the_status_filter() -> None:
    config = load_config({"notifyStatuses": "Completed,Failed", "notifyStuckAlerts": "false"})
    assert config.notification_filter == {"status": ["Completed", "Failed"]}


def test_without_a_status_filter_there_is_nothing_to_let_stuck_alerts_through() -> None:
    assert load_config({}).notification_filter is None
    assert load_config({"notifyJobKinds": "qconnect-import"}).notification_filter == {
        "jobKind": ["qconnect-import"]
    }


def test_a_filter_beyond_snss_150_combinations_fails_synth() -> None:
    # Given 9 statuses x 3 kinds x 3 prefixes, doubled by the stuck-alert $or (SNS counts every array)
    context = {
        "notifyStatuses": "InProgress,Completed,Failed,START_IN_PROGRESS,COMPLETE,FAILED,DELETE_IN_PROGRESS,"
        "DELETE_FAILED,DELETED",
        "notifyJobKinds": "bedrock-model-import,bedrock-model-copy,qconnect-import",
        "notifyNamePrefixes": "a,b,c",
    }
    # Then synth says why, instead of a deploy failing at the subscription
    with pytest.raises(ConfigError, match="SNS filter policy of 162 combinations of values"):
        load_config(context)
    # And without the $or (9 x 3 x 3 = 81) it is accepted, as before
    assert (
        filter_combinations(load_config(context | {"notifyStuckAlerts": "false"}).notification_filter) == 81
    )


# -- organization mode ---------------------------------------------------------------------------


def test_organization_mode_defaults_leave_the_home_account_alone() -> None:
    config = load_config({})
    assert config.accounts == () and not config.multi_account and not config.organization_mode
    assert config.organizational_units == ()
    assert config.member_role_name == "JobAuditorReader"
    assert config.member_external_id is None
    assert config.member_deployment == "none"
    assert config.call_as == "SELF"
    assert config.organization_id is None and config.auditor_role_arn is None
    assert config.account_failure_periods == 3


def test_accounts_take_a_comma_list_a_json_list_or_organization() -> None:
    ids = ("111111111111", "222222222222")
    assert load_config({"accounts": " 111111111111, 222222222222,111111111111"}).accounts == ids
    assert load_config({"accounts": list(ids)}).accounts == ids
    for form in ("organization", ["organization"]):
        config = load_config({"accounts": form})
        assert config.organization_mode and config.multi_account


def test_organization_in_a_list_of_account_ids_is_rejected() -> None:
    with pytest.raises(ConfigError, match="accounts: 'organization' stands alone"):
        load_config({"accounts": "organization,111111111111"})


def test_organizational_units_need_organization_mode_or_a_stackset() -> None:
    with pytest.raises(ConfigError, match="organizationalUnits: only used with accounts=organization"):
        load_config({"organizationalUnits": "ou-ab12-cdef3456"})
    with pytest.raises(ConfigError, match="organizationalUnits: only used"):
        load_config({"accounts": "111111111111", "organizationalUnits": "r-ab12"})
    config = load_config({"accounts": "organization", "organizationalUnits": "ou-ab12-cdef3456,r-ab12"})
    assert config.organizational_units == ("ou-ab12-cdef3456", "r-ab12")


@pytest.mark.parametrize(
    ("context", "missing"),
    [
        ({}, "accounts, organizationalUnits, organizationId"),
        ({"accounts": "organization"}, "organizationalUnits, organizationId"),
        ({"accounts": "organization", "organizationalUnits": "r-ab12"}, "organizationId"),
        ({"organizationalUnits": "r-ab12", "organizationId": "o-a1b2c3d4e5"}, "accounts"),
    ],
)
def test_a_stackset_needs_accounts_organizational_units_and_the_organization(
    context: dict[str, object], missing: str
) -> None:
    with pytest.raises(ConfigError, match=f"memberDeployment: stackset needs {missing} "):
        load_config({"memberDeployment": "stackset", **context})


def test_stackset_call_as_only_with_a_stackset() -> None:
    with pytest.raises(ConfigError, match="stackSetCallAs: only used with memberDeployment=stackset"):
        load_config({"stackSetCallAs": "DELEGATED_ADMIN"})
    config = load_config(
        {
            "accounts": "111111111111",
            "memberDeployment": "StackSet",
            "organizationalUnits": "r-ab12",
            "organizationId": "o-a1b2c3d4e5",
            "stackSetCallAs": "delegated_admin",
        }
    )
    assert config.member_deployment == "stackset" and config.call_as == "DELEGATED_ADMIN"


def test_account_failure_window_fits_metrics_insights_three_hours_with_several_accounts() -> None:
    with pytest.raises(ConfigError, match=r"accountFailurePeriods: .*at most 180 minutes"):
        load_config({"accounts": "111111111111", "scheduleRateMinutes": "61"})
    assert load_config({"accounts": "111111111111", "scheduleRateMinutes": "60"}).multi_account
    # A single account has no such alarm: a day's schedule stays valid
    assert load_config({"scheduleRateMinutes": "1440", "heartbeatPeriods": "1"}).schedule_rate_minutes == 1440


def test_member_stack_keys_are_accepted_in_their_forms() -> None:
    arn = "arn:aws:iam::111111111111:role/service-role/JobAuditor-AuditorRole-ABC"
    config = load_config(
        {
            "auditorRoleArn": arn,
            "organizationId": "o-a1b2c3d4e5",
            "memberRoleName": "Audit.Reader@team",
            "memberExternalId": "acme:job-auditor/1",
        }
    )
    assert config.auditor_role_arn == arn
    assert config.member_role_name == "Audit.Reader@team"
    assert config.member_external_id == "acme:job-auditor/1"


def test_a_filter_beyond_snss_key_and_size_limits_fails_synth() -> None:
    # Given policies SNS would refuse at the subscription: six keys, or more than 256 KB
    six_keys: dict[str, list[Any]] = {
        "a": ["1"],
        "b": ["1"],
        "c": ["1"],
        "$or": [{"d": ["1"]}, {"e": ["1"], "f": ["1"]}],
    }
    too_large = {"jobName": [{"prefix": "p" * 2_000}] * 140}
    # Then the check names the limit
    assert filter_policy_problem(six_keys) == "policy on 6 keys (a, b, c, d, e, f), and SNS takes at most 5"
    assert "bytes, and SNS takes at most 262144" in (filter_policy_problem(too_large) or "")
    # And the largest policy the context can make passes: every key, 150 combinations of the longest
    # prefixes the context takes (63 characters)
    context = {
        "notifyStatuses": "Failed",
        "notifyStatusCategories": "FAILED",
        "notifyJobKinds": "qconnect-import",
        "notifyNamePrefixes": ",".join(f"{n:02d}" + "p" * 61 for n in range(25)),
    }
    policy = load_config(context).notification_filter
    assert filter_combinations(policy) == 75 and filter_policy_problem(policy) is None


def test_the_powertools_layer_may_be_a_layer_version_arn_and_a_malformed_one_is_refused() -> None:
    arn = "arn:aws-cn:lambda:cn-north-1:123456789012:layer:PowertoolsPythonV3-python314-arm64:2"
    assert load_config({"powertoolsLayerVersion": arn}).powertools_layer_version == arn
    with pytest.raises(ConfigError, match=r"powertoolsLayerVersion: expected latest, .* a layer version ARN"):
        load_config({"powertoolsLayerVersion": "arn:aws:lambda:us-east-1:123456789012:function:pt"})


def test_a_metrics_namespace_of_aws_own_is_refused() -> None:
    # CloudWatch refuses PutMetricData in a namespace beginning with AWS/: the heartbeat would never beat
    with pytest.raises(ConfigError, match=r"metricsNamespace: .*not beginning with AWS/.*got 'AWS/Lambda'"):
        load_config({"metricsNamespace": "AWS/Lambda"})
    assert (
        load_config({"metricsNamespace": "Platform/AWS/JobAuditor"}).metrics_namespace
        == "Platform/AWS/JobAuditor"
    )


def test_regions_takes_every_region_name_of_every_partition() -> None:
    from botocore.loaders import create_loader

    partitions = create_loader().load_data("endpoints")["partitions"]
    names = tuple(name for partition in partitions for name in partition["regions"])
    assert load_config({"regions": ",".join(names)}).regions == names


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"alertStatuses": "Failed"}, "alertStatuses: only used with alertDestination"),
        ({"alertStuckAlerts": "false"}, "alertStuckAlerts: only used with alertDestination"),
        (
            {"alertDestination": "pagerduty", "alertSecret": "ops/pagerduty", "alertHeaderName": "X-Key"},
            "alertHeaderName: only used with alertDestination=https",
        ),
        ({"mapMaxConcurrency": "10"}, "mapMaxConcurrency: only used with auditMode=stepfunctions"),
        (
            {"accounts": "111111111111", "auditMode": "direct", "itemsPerBatch": "5"},
            "itemsPerBatch: only used with auditMode=stepfunctions",
        ),
        ({"accountFailurePeriods": "2"}, "accountFailurePeriods: only used with accounts"),
    ],
)
def test_a_key_that_would_do_nothing_in_its_configuration_fails_naming_what_it_needs(
    context: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(context)


def test_the_same_keys_with_what_they_need_are_taken() -> None:
    config = load_config(
        {
            "accounts": "111111111111",
            "mapMaxConcurrency": "10",
            "accountFailurePeriods": "2",
            "alertDestination": "https",
            "alertSecret": "ops/hook",
            "alertUrl": "https://hooks.example.com/page",
            "alertHeaderName": "X-Key",
            "alertStatuses": "Failed",
        }
    )
    assert (config.map_max_concurrency, config.account_failure_periods, config.alert_header_name) == (
        10,
        2,
        "X-Key",
    )


@pytest.mark.parametrize(
    "url", ["https://example.com:99999/x", "https://-/", "https://localhost/page", "https://a.example.com:0/"]
)
def test_an_alert_url_with_no_public_host_or_an_impossible_port_is_refused(url: str) -> None:
    context = {"alertDestination": "https", "alertSecret": "ops/hook", "alertUrl": url}
    with pytest.raises(ConfigError, match=f"alertUrl: expected an https:// URL.*got '{re.escape(url)}'"):
        load_config(context)


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com:8443/v2/page?team=ml", "https://events.pagerduty.com/v2"]
)
def test_an_alert_url_with_a_port_and_a_query_is_taken(url: str) -> None:
    context = {"alertDestination": "https", "alertSecret": "ops/hook", "alertUrl": url}
    assert load_config(context).alert_url == url
