"""Reach: the Microsoft Teams channel (the chat topic's notifications, like Slack's) and paging through an
EventBridge API destination (PagerDuty, Opsgenie, any HTTPS endpoint)."""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.events.models import EventPattern

from job_auditor.contract.environment import STUCK_TRANSITION
from job_auditor.contract.kinds import JOB_KINDS, StatusCategory, every_status
from job_auditor.infra import nag
from job_auditor.infra.alert_destination import (
    SEVERITIES,
    STUCK,
    AlertPreset,
    Severity,
    alert_body,
    alert_patterns,
)
from job_auditor.infra.config import ConfigError, load_config
from tests.infra.conftest import REACH_CONTEXT, TEAMS_TEAM_ID, TEAMS_TENANT_ID, Synth, synth
from tests.input_transformer import transform

SECRET_REF = "{{resolve:secretsmanager:job-auditor/pagerduty:SecretString:::}}"


# -- the context keys -------------------------------------------------------------------------------

TEAMS = {
    "teamsTeamId": TEAMS_TEAM_ID,
    "teamsChannelId": "19:abc@thread.tacv2",
    "teamsTenantId": TEAMS_TENANT_ID,
}


def test_teams_ids_go_together_and_the_channel_id_is_url_encoded() -> None:
    config = load_config(TEAMS)
    assert config.teams_channel_id == "19%3Aabc%40thread.tacv2"
    assert load_config({**TEAMS, "teamsChannelId": "19%3Aabc%40thread.tacv2"}).teams_channel_id == (
        "19%3Aabc%40thread.tacv2"
    )
    for missing in TEAMS:
        context = {k: v for k, v in TEAMS.items() if k != missing}
        with pytest.raises(ConfigError, match=f"{missing}: required when another Teams id is given"):
            load_config(context)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"alertDestination": "pagerduty"}, "alertSecret: required with alertDestination=pagerduty"),
        ({"alertDestination": "https", "alertSecret": "s"}, "alertUrl: required with alertDestination=https"),
        ({"alertSecret": "job-auditor/pagerduty"}, "alertDestination: required when alertSecret or alertUrl"),
        (
            {
                "alertDestination": "opsgenie",
                "alertSecret": "s",
                "alertStatusCategories": "none",
                "alertStuckAlerts": "false",
            },
            "alertStatusCategories: empty, as are alertStatuses and alertStuckAlerts: nothing would page",
        ),
    ],
)
def test_a_paging_destination_needs_its_secret_and_something_to_page(
    context: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(context)


@pytest.mark.parametrize(
    "key", ["0123456789abcdef0123456789ABCDEF", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "GenieKey abc"]
)
def test_a_key_in_context_is_refused_without_being_echoed(key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"alertDestination": "pagerduty", "alertSecret": key})
    assert "this looks like the key itself" in str(raised.value)
    assert key not in str(raised.value)


def test_presets_default_to_the_failure_categories_and_stuck_alerts() -> None:
    config = load_config({"alertDestination": "opsgenie", "alertSecret": "job-auditor/opsgenie"})
    assert config.alert_status_categories == ("FAILED", "EXPIRED", "PARTIAL")
    assert config.alert_stuck_alerts is True
    assert config.alert_header_name == "Authorization"


# -- Teams ------------------------------------------------------------------------------------------


def test_teams_channel_relays_the_chat_topic_with_no_permissions(reach: Synth) -> None:
    # Given Teams ids without Slack
    _, config = reach.only("AWS::Chatbot::MicrosoftTeamsChannelConfiguration")
    props = config["Properties"]
    notifications = reach.stack.job_auditor.notifications
    # Then the channel relays the chat topic, the id URL-encoded as CloudFormation takes it
    assert props["SnsTopicArns"] == [{"Ref": reach.logical_id(notifications.chat_topic)}]
    assert props["TeamId"] == TEAMS_TEAM_ID
    assert props["TeamsTenantId"] == TEAMS_TENANT_ID
    assert props["TeamsChannelId"] == "19%3A0123456789abcdef0123456789abcdef%40thread.tacv2"
    # And it can do nothing else: a role without policies, behind a deny-all guardrail
    assert props["GuardrailPolicies"] == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AWSDenyAll"]]}
    ]
    role_id = reach.logical_id(notifications.teams_channel.role)
    assert props["IamRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    role = reach.resources("AWS::IAM::Role")[role_id]["Properties"]
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert not [
        p
        for p in reach.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    reach.template.resource_count_is("AWS::Chatbot::SlackChannelConfiguration", 0)


def test_the_auditor_publishes_to_the_chat_topic_for_teams_alone(reach: Synth) -> None:
    function = reach.resources("AWS::Lambda::Function")[reach.logical_id(reach.stack.job_auditor.function)]
    chat_topic = reach.stack.job_auditor.notifications.chat_topic
    assert function["Properties"]["Environment"]["Variables"]["CHAT_TOPIC_ARN"] == {
        "Ref": reach.logical_id(chat_topic)
    }


# -- the paging rules' patterns ---------------------------------------------------------------------

_SOURCE = "job-auditor"


def _event(kind: str, status: str, transition: str) -> dict[str, Any]:
    spec = JOB_KINDS[kind]
    return {
        "source": _SOURCE,
        "detail-type": spec.detail_type,
        "detail": {
            "transition": transition,
            "status": status,
            "statusCategory": spec.category(status).value,
            "jobKind": kind,
        },
    }


def _matching(patterns: list[tuple[Any, dict[str, Any]]], event: dict[str, Any]) -> list[str]:
    return [
        severity.name
        for severity, pattern in patterns
        if EventPattern.load(json.dumps(pattern)).matches_event(event)  # type: ignore[arg-type]
    ]


@settings(max_examples=300, deadline=None)
@given(
    categories=st.lists(st.sampled_from(list(StatusCategory)), unique=True),
    statuses=st.lists(st.sampled_from(every_status()), unique=True, max_size=4),
    stuck=st.booleans(),
    kind=st.sampled_from(sorted(JOB_KINDS)),
    data=st.data(),
)
def test_a_transition_pages_once_exactly_when_it_was_asked_for(
    categories: list[StatusCategory], statuses: list[str], stuck: bool, kind: str, data: st.DataObject
) -> None:
    # Given any selection of categories, statuses and stuck alerts, and any transition of any kind
    patterns = alert_patterns(
        _SOURCE, statuses=statuses, categories=[c.value for c in categories], stuck_alerts=stuck
    )
    status = data.draw(st.sampled_from([*JOB_KINDS[kind].statuses, "SomethingNew"]))
    transition = data.draw(st.sampled_from(["status-changed", "discovered", "disappeared", STUCK_TRANSITION]))
    event = _event(kind, status, transition)
    # When the rules' patterns are matched by EventBridge's rules (moto's implementation)
    matched = _matching(patterns, event)
    # Then it matches one rule if it was asked for, none otherwise
    category = JOB_KINDS[kind].category(status)
    asked = category in categories or status in statuses
    wanted = stuck if transition == STUCK_TRANSITION else asked
    assert len(matched) == (1 if wanted else 0), (matched, event)
    # And the rule is the severity of its category (stuck alerts have their own)
    if matched and transition != STUCK_TRANSITION:
        assert matched == [next(s.name for s in SEVERITIES if category in s.categories)]


def test_every_category_has_exactly_one_severity() -> None:
    for category in StatusCategory:
        assert len([s for s in SEVERITIES if category in s.categories]) == 1, category
    assert [(s.name, s.pagerduty, s.opsgenie) for s in (*SEVERITIES, STUCK)] == [
        ("error", "error", "P2"),
        ("warning", "warning", "P3"),
        ("info", "info", "P5"),
        ("stuck", "warning", "P3"),
    ]


# -- the synthesized destination --------------------------------------------------------------------


def _rules(synth: Synth) -> dict[str, dict[str, Any]]:
    alerts = synth.stack.job_auditor.alerts
    return {
        name: synth.resources("AWS::Events::Rule")[synth.logical_id(rule)]["Properties"]
        for name, rule in alerts.rules.items()
    }


def test_pagerduty_connection_holds_a_reference_to_the_secret_never_its_value(reach: Synth) -> None:
    _, connection = reach.only("AWS::Events::Connection")
    assert connection["Properties"]["AuthorizationType"] == "API_KEY"
    assert connection["Properties"]["AuthParameters"] == {
        "ApiKeyAuthParameters": {"ApiKeyName": "X-Routing-Key", "ApiKeyValue": SECRET_REF},
        "InvocationHttpParameters": {
            "BodyParameters": [{"IsValueSecret": True, "Key": "routing_key", "Value": SECRET_REF}]
        },
    }
    _, destination = reach.only("AWS::Events::ApiDestination")
    assert destination["Properties"]["InvocationEndpoint"] == "https://events.pagerduty.com/v2/enqueue"
    assert destination["Properties"]["HttpMethod"] == "POST"


def test_one_rule_per_severity_on_the_bus_each_to_the_destination_with_a_dead_letter_queue(
    reach: Synth,
) -> None:
    alerts = reach.stack.job_auditor.alerts
    rules = _rules(reach)
    assert sorted(rules) == ["error", "info", "stuck", "warning"]
    bus = {"Ref": reach.logical_id(reach.stack.job_auditor.events.bus)}
    destination_id = reach.stack.get_logical_id(alerts.destination.node.find_child("ApiDestination"))
    destination = {"Fn::GetAtt": [destination_id, "Arn"]}
    queue = {"Fn::GetAtt": [reach.logical_id(alerts.dead_letter_queue), "Arn"]}
    for rule in rules.values():
        assert rule["EventBusName"] == bus
        (target,) = rule["Targets"]
        assert target["Arn"] == destination
        assert target["DeadLetterConfig"] == {"Arn": queue}
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    # the default categories, and Stopped named on its own (an info transition)
    assert rules["error"]["EventPattern"]["detail"]["statusCategory"] == ["EXPIRED", "FAILED"]
    assert rules["info"]["EventPattern"]["detail"] == {
        "transition": [{"anything-but": "stuck"}],
        "status": ["Stopped"],
        "statusCategory": ["DELETED", "IN_PROGRESS", "STOPPED", "STOPPING", "SUCCEEDED"],
    }
    # The target role may invoke this destination only
    role = reach.logical_id(alerts.destination.node.find_child("EventsRole"))
    (policy,) = [
        p for p in reach.resources("AWS::IAM::Policy").values() if p["Properties"]["Roles"] == [{"Ref": role}]
    ]
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "events:InvokeApiDestination", "Effect": "Allow", "Resource": destination}
    ]


def test_an_undelivered_page_raises_the_ops_alarm(reach: Synth) -> None:
    alerts = reach.stack.job_auditor.alerts
    alarm = reach.resources("AWS::CloudWatch::Alarm")[reach.logical_id(alerts.alarm)]["Properties"]
    ops = {"Ref": reach.logical_id(reach.stack.job_auditor.monitoring.ops_topic)}
    assert alarm["AlarmActions"] == [ops] and alarm["OKActions"] == [ops]
    assert alarm["Dimensions"] == [
        {
            "Name": "QueueName",
            "Value": {"Fn::GetAtt": [reach.logical_id(alerts.dead_letter_queue), "QueueName"]},
        }
    ]
    queue = reach.resources("AWS::SQS::Queue")[reach.logical_id(alerts.dead_letter_queue)]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True


EVENT: dict[str, Any] = {
    "source": _SOURCE,
    "detail-type": "Bedrock Model Import Job Status Change",
    "detail": {
        "eventId": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "transition": "changed",
        "account": "123456789012",
        "region": "us-east-1",
        "jobKind": "bedrock-model-import",
        "jobId": "arn:aws:bedrock:us-east-1:123456789012:model-import-job/abc",
        "jobName": "prod-import-7",
        "previousStatus": "InProgress",
        "status": "Failed",
        "statusCategory": "FAILED",
        "observedTime": "2026-11-02T09:05:00Z",
        "failureMessage": 'The "model" could not be read \\ twice',
        "consoleUrl": "https://us-east-1.console.aws.amazon.com/go/view?arn=arn%3Aaws%3Abedrock",
    },
}


def _transformer(preset: AlertPreset, severity: Severity) -> dict[str, Any]:
    """The InputTransformer CDK synthesizes for a preset's body."""
    stack = cdk.Stack(cdk.App(), "Bodies")
    rule = events.Rule(stack, "Rule", event_pattern=events.EventPattern(source=[_SOURCE]))
    body = events.RuleTargetInput.from_object(alert_body(preset, severity))
    rule.add_target(targets.SqsQueue(sqs.Queue(stack, "Queue"), message=body))
    (resource,) = Template.from_stack(stack).find_resources("AWS::Events::Rule").values()
    transformer: dict[str, Any] = resource["Properties"]["Targets"][0]["InputTransformer"]
    return transformer


@pytest.mark.parametrize(("preset", "severity"), list(product(AlertPreset, (*SEVERITIES, STUCK))))
def test_every_body_is_valid_json_with_the_failure_message_only_as_a_value(
    preset: AlertPreset, severity: Severity
) -> None:
    # Given an event whose failure message holds quotes and a backslash
    # When EventBridge transforms it with the synthesized InputTransformer
    sent = transform(_transformer(preset, severity), EVENT)
    # Then the body parses, and the failure message arrives intact where the body carries the detail
    failure = EVENT["detail"]["failureMessage"]
    if preset == AlertPreset.PAGERDUTY:
        assert sent["payload"]["custom_details"]["failureMessage"] == failure
        assert sent["payload"]["severity"] == severity.pagerduty
    elif preset == AlertPreset.OPSGENIE:
        assert sent["priority"] == severity.opsgenie
    else:
        assert sent["detail"]["failureMessage"] == failure
        assert sent["severity"] in {"error", "warning", "info"}


def test_opsgenie_and_https_presets_synthesize_clean(tmp_path: Path) -> None:
    from cfnlint.api import lint

    for preset, extra in (
        ("opsgenie", {}),
        ("https", {"alertUrl": "https://hooks.example.com/page", "alertHeaderName": "X-Api-Key"}),
    ):
        outdir = tmp_path / preset
        result = synth({**REACH_CONTEXT, "alertDestination": preset, **extra}, outdir)
        assert nag.unacknowledged_findings(outdir) == []
        template = (outdir / result.stack.template_file).read_text()
        assert [m for m in lint(template, regions=["us-east-1"]) if m.rule.id.startswith("E")] == []
        _, connection = result.only("AWS::Events::Connection")
        key = connection["Properties"]["AuthParameters"]["ApiKeyAuthParameters"]
        if preset == "opsgenie":
            assert key == {"ApiKeyName": "Authorization", "ApiKeyValue": f"GenieKey {SECRET_REF}"}
        else:
            assert key == {"ApiKeyName": "X-Api-Key", "ApiKeyValue": SECRET_REF}
            _, destination = result.only("AWS::Events::ApiDestination")
            assert destination["Properties"]["InvocationEndpoint"] == "https://hooks.example.com/page"
        assert "InvocationHttpParameters" not in connection["Properties"]["AuthParameters"]
