"""Reach, end to end: transitions published by the real auditor (simulator + moto) page PagerDuty,
Opsgenie or a generic endpoint through the synthesized API destination, and the Teams channel's topic
gets the same custom notifications as Slack's.

EventBridge's delivery to an HTTPS endpoint is reproduced from the synthesized template: moto matches
each paging rule's EventPattern on the bus and delivers the events to a queue; the rule's
InputTransformer is applied as EventBridge documents it (tests/input_transformer.py); the connection's
header and body parameters are filled from moto's Secrets Manager, as CloudFormation resolves the
template's dynamic references; and the result is POSTed to a local HTTPS server with a self-signed
certificate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest

from simulator.world import REGION, World
from tests.infra.conftest import REACH_CONTEXT, Synth, synth
from tests.input_transformer import transform
from tests.integration.https_endpoint import HttpsEndpoint, https_endpoint
from tests.unit.test_channels import CHAT_SCHEMA

PAGERDUTY_KEY = "0123456789abcdef0123456789abcdef"
OPSGENIE_KEY = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
GENERIC_TOKEN = "Bearer s3cr3t-token"
PRESETS: dict[str, tuple[dict[str, object], str]] = {
    "pagerduty": ({}, PAGERDUTY_KEY),
    "opsgenie": ({"alertDestination": "opsgenie"}, OPSGENIE_KEY),
    "https": (
        {
            "alertDestination": "https",
            "alertUrl": "https://hooks.example.com/job-auditor",
            "alertHeaderName": "Authorization",
        },
        GENERIC_TOKEN,
    ),
}
_REFERENCE = re.compile(r"\{\{resolve:secretsmanager:([^:]+):SecretString:::\}\}")


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synth]:
    """The stack of each preset, synthesized once (Teams and the named Stopped status in all)."""
    return {
        preset: synth({**REACH_CONTEXT, **extra}, tmp_path_factory.mktemp(f"reach-{preset}"))
        for preset, (extra, _) in PRESETS.items()
    }


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[HttpsEndpoint]:
    with https_endpoint(tmp_path) as server:
        yield server


def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def _resolve(value: str, secrets: Any) -> str:
    """A template string with its Secrets Manager dynamic references resolved, as CloudFormation does."""
    return _REFERENCE.sub(lambda m: str(secrets.get_secret_value(SecretId=m.group(1))["SecretString"]), value)


class Delivery:
    """The synthesized paging rules on the world's bus, and EventBridge's delivery of what they match."""

    def __init__(self, w: World, template: dict[str, Any], endpoint: HttpsEndpoint, secret: str) -> None:
        self.w, self.endpoint = w, endpoint
        self.secrets = boto3.client("secretsmanager", region_name=REGION, endpoint_url=w.moto.url)
        (connection,) = _resources(template, "AWS::Events::Connection")
        auth = connection["AuthParameters"]
        key = auth["ApiKeyAuthParameters"]
        name = _REFERENCE.search(key["ApiKeyValue"])
        assert name is not None, "the connection must reference the secret, not hold it"
        self.secrets.create_secret(Name=name.group(1), SecretString=secret)
        self.headers = {key["ApiKeyName"]: _resolve(key["ApiKeyValue"], self.secrets)}
        self.body_parameters = {
            p["Key"]: _resolve(p["Value"], self.secrets)
            for p in auth.get("InvocationHttpParameters", {}).get("BodyParameters", [])
        }
        (destination,) = _resources(template, "AWS::Events::ApiDestination")
        self.path = re.sub(r"^https://[^/]+", "", destination["InvocationEndpoint"])
        # Each rule as moto's bus rule (its pattern) feeding a queue, with the rule's transformer kept.
        self.rules = [
            (w.subscribe_bus(rule["EventPattern"], f"page-{i}"), rule["Targets"][0]["InputTransformer"])
            for i, rule in enumerate(_resources(template, "AWS::Events::Rule"))
            if rule["Targets"][0]["Arn"]["Fn::GetAtt"][0].startswith("AlertsDestination")
        ]

    def deliver(self) -> list[dict[str, Any]]:
        """POST every matched event, transformed, with the connection's parameters; the events paged."""
        paged = []
        for queue, transformer in self.rules:
            for event in self.w.drain(queue):
                body = {**transform(transformer, event), **self.body_parameters}
                assert self.endpoint.post(self.path, body, self.headers) == 202
                paged.append(event)
        return paged


def _day_of_transitions(w: World) -> None:
    """Failed, completed, stopped and stuck jobs; the first run records them silently."""
    failing = w.plane.create_model_import_job(region=REGION, name="prod-import-1", status="InProgress")
    done = w.plane.create_model_import_job(region=REGION, name="prod-import-2", status="InProgress")
    stopping = w.plane.create_job("bedrock-evaluation", REGION, status="InProgress", name="eval-1")
    w.plane.create_model_import_job(region=REGION, name="slow-import", status="InProgress")
    w.run()
    w.advance(timedelta(minutes=5))
    w.plane.set_status(failing, "Failed", failure_message='Model "weights.bin" is \\ corrupt')
    w.plane.set_status(done, "Completed")
    w.plane.set_status(stopping, "Stopped")
    w.run()
    # the slow one runs on past the one-hour stuck threshold
    w.advance(timedelta(minutes=65))
    w.run()


def _wanted(event: dict[str, Any]) -> bool:
    """What REACH_CONTEXT pages for: the default categories, the Stopped status and stuck alerts."""
    d = event["detail"]
    return (
        d["transition"] == "stuck"
        or d["statusCategory"] in {"FAILED", "EXPIRED", "PARTIAL"}
        or (d["status"] == "Stopped")
    )


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_transitions_page_the_endpoint_through_the_synthesized_api_destination(
    preset: str, make_world: Any, synthesized: dict[str, Synth], endpoint: HttpsEndpoint
) -> None:
    # Given the synthesized rules on the bus, the secret in Secrets Manager and the endpoint
    w: World = make_world(STUCK_AFTER_HOURS="1")
    delivery = Delivery(w, synthesized[preset].json, endpoint, PRESETS[preset][1])
    # When the auditor announces a day of transitions and EventBridge delivers what the rules match
    _day_of_transitions(w)
    published = w.events_received()
    paged = delivery.deliver()
    # Then exactly the transitions asked for were paged, each once
    assert sorted(e["detail"]["eventId"] for e in paged) == sorted(
        e["detail"]["eventId"] for e in published if _wanted(e)
    )
    by_job = {(e["detail"]["jobName"], e["detail"]["transition"]): e["detail"] for e in paged}
    assert set(by_job) == {
        ("prod-import-1", "status-changed"),
        ("eval-1", "status-changed"),
        ("slow-import", "stuck"),
    }
    assert len(endpoint.received) == 3
    check = {"pagerduty": _pagerduty, "opsgenie": _opsgenie, "https": _generic}[preset]
    for received, event in zip(endpoint.received, paged, strict=True):
        check(received.headers, received.body, event["detail"])
    assert {r.path for r in endpoint.received} == {delivery.path}


_SEVERITY = {"FAILED": ("error", "P2"), "STOPPED": ("info", "P5")}


def _severity(detail: dict[str, Any]) -> tuple[str, str]:
    return ("warning", "P3") if detail["transition"] == "stuck" else _SEVERITY[detail["statusCategory"]]


def _summary(d: dict[str, Any]) -> str:
    return f"{d['jobKind']} {d['jobName']} is {d['status']}"


def _pagerduty(headers: dict[str, str], body: dict[str, Any], detail: dict[str, Any]) -> None:
    # The Events API v2 trigger, its routing key from the secret, deduplicated on the eventId
    assert body["routing_key"] == PAGERDUTY_KEY
    assert headers["x-routing-key"] == PAGERDUTY_KEY
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == detail["eventId"]
    payload = body["payload"]
    assert payload["summary"] == f"{_summary(detail)} ({detail['account']} {detail['region']})"
    assert payload["severity"] == _severity(detail)[0]
    assert payload["source"] == f"{detail['account']}/{detail['region']}"
    assert payload["component"] == detail["jobKind"]
    assert payload["custom_details"] == detail
    assert body["links"] == [{"href": detail["consoleUrl"], "text": "The job in the AWS console"}]


def _opsgenie(headers: dict[str, str], body: dict[str, Any], detail: dict[str, Any]) -> None:
    # The alert create API, authorized with the GenieKey, deduplicated on the alias
    assert headers["authorization"] == f"GenieKey {OPSGENIE_KEY}"
    assert body["alias"] == detail["eventId"]
    assert body["priority"] == _severity(detail)[1]
    assert body["message"] == f"{detail['status']}: {detail['jobKind']} {detail['jobName']}"
    assert len(body["message"]) <= 130
    assert body["entity"] == f"{detail['account']}/{detail['region']}"
    assert body["tags"] == ["job-auditor", detail["jobKind"], detail["statusCategory"]]
    assert body["details"]["consoleUrl"] == detail["consoleUrl"]
    assert all(isinstance(v, str) for v in body["details"].values())


def _generic(headers: dict[str, str], body: dict[str, Any], detail: dict[str, Any]) -> None:
    assert headers["authorization"] == GENERIC_TOKEN
    assert body["eventId"] == detail["eventId"]
    assert body["severity"] == _severity(detail)[0]
    assert body["detail"] == detail


def test_the_failure_message_reaches_pagerduty_intact(
    make_world: Any, synthesized: dict[str, Synth], endpoint: HttpsEndpoint
) -> None:
    # Given a failure message with quotes and a backslash (EventBridge does not escape text in strings)
    w: World = make_world()
    delivery = Delivery(w, synthesized["pagerduty"].json, endpoint, PAGERDUTY_KEY)
    job = w.plane.create_model_import_job(region=REGION, name="prod-import-9", status="InProgress")
    w.run()
    w.advance(timedelta(minutes=5))
    w.plane.set_status(job, "Failed", failure_message='Model "weights.bin" is \\ corrupt')
    w.run()
    delivery.deliver()
    # Then it arrives inside the detail, unchanged
    (received,) = endpoint.received
    assert received.body["payload"]["custom_details"]["failureMessage"] == 'Model "weights.bin" is \\ corrupt'


def test_teams_gets_the_chat_topic_that_the_auditor_publishes_custom_notifications_to(
    make_world: Any, synthesized: dict[str, Synth]
) -> None:
    # Given the stack with Teams alone: its channel relays the topic the function names as CHAT_TOPIC_ARN
    stack = synthesized["pagerduty"]
    (teams,) = _resources(stack.json, "AWS::Chatbot::MicrosoftTeamsChannelConfiguration")
    chat_topic = stack.stack.job_auditor.notifications.chat_topic
    assert teams["SnsTopicArns"] == [{"Ref": stack.logical_id(chat_topic)}]
    function = stack.resources("AWS::Lambda::Function")[stack.logical_id(stack.stack.job_auditor.function)]
    assert function["Properties"]["Environment"]["Variables"]["CHAT_TOPIC_ARN"] == teams["SnsTopicArns"][0]
    # When the auditor runs with that variable set
    w: World = make_world(CHAT_TOPIC_ARN="")
    w._set_env({"CHAT_TOPIC_ARN": w.chat_topic_arn})
    chat = w.subscribe_topic(None, "teams-channel", topic_arn=w.chat_topic_arn)
    _day_of_transitions(w)
    # Then the topic carries one custom notification per transition people are told of, each one
    # Amazon Q Developer in chat applications renders (in Teams as in Slack)
    people = w.notifications_received()
    messages = [json.loads(m["Message"]) for m in w.drain(chat)]
    assert len(messages) == len(people) > 0
    for payload in messages:
        jsonschema.validate(payload, CHAT_SCHEMA)
        assert payload["source"] == "custom"
    summaries = sorted(p["metadata"]["summary"] for p in messages)
    assert summaries == [
        "bedrock-evaluation eval-1: InProgress -> Stopped",
        "bedrock-model-import prod-import-1: InProgress -> Failed",
        "bedrock-model-import prod-import-2: InProgress -> Completed",
    ]
