"""Per-channel renderings of a transition: email text, the chat custom notification, the lambda payload."""

import json
from typing import Any

import jsonschema
import pytest

from job_auditor.auditor.domain.digest import Digest
from job_auditor.auditor.domain.events import build_detail
from job_auditor.auditor.domain.jobs import JOB_KINDS
from job_auditor.auditor.domain.notifications import (
    attributes,
    chat_notification,
    matches,
    sns_message,
    subject,
)
from tests.unit.factories import job, transition

# The custom notification event schema of Amazon Q Developer in chat applications
# (docs: "Custom notifications using Amazon Q Developer in chat applications", Event schema).
CHAT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "source", "content"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": "1.0"},
        "source": {"const": "custom"},
        "id": {"type": "string"},
        "content": {
            "type": "object",
            "required": ["description"],
            "additionalProperties": False,
            "properties": {
                "textType": {"enum": ["client-markdown"]},
                "title": {"type": "string", "minLength": 1},
                "description": {"type": "string", "minLength": 1, "maxLength": 8000},
                "nextSteps": {"type": "array", "items": {"type": "string"}},
                "keywords": {"type": "array", "items": {"type": "string"}},
            },
        },
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "threadId": {"type": "string", "minLength": 1},
                "summary": {"type": "string"},
                "eventType": {"type": "string"},
                "relatedResources": {"type": "array", "items": {"type": "string"}},
                "additionalContext": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
}

CASES = {
    "discovered": transition(job(1, "InProgress"), previous_status=None),
    "completed": transition(job(2, "Completed")),
    "failed-long-message": transition(job(3, "Failed", failure_message="weights corrupt " * 20_000)),
    "unknown-status": transition(job(4, "Paused")),
    "copy-failed": transition(
        job(5, "Failed", failure_message="KMS key denied"), spec=JOB_KINDS["bedrock-model-copy"]
    ),
    "qconnect": transition(
        job(6, "COMPLETE")._replace(arn=None, name=None, job_id="11111111-2222-3333-4444-555555555555"),
        previous_status="START_IN_PROGRESS",
        spec=JOB_KINDS["qconnect-import"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_chat_notification_follows_the_documented_schema(case: str) -> None:
    detail = build_detail(CASES[case])
    payload = chat_notification(detail)
    jsonschema.validate(payload, CHAT_SCHEMA)
    # Updates of one job thread together
    assert payload["metadata"]["threadId"] == (detail["jobArn"] or detail["jobId"])
    assert payload["id"] == detail["eventId"]
    assert len(payload["content"]["description"]) <= 3000


def test_stuck_notification_reads_as_a_warning() -> None:
    detail = build_detail(transition(job(1, "InProgress"))) | {
        "transition": "stuck",
        "previousStatus": "InProgress",
        "stuckForSeconds": 26 * 3600,
    }
    payload = chat_notification(detail)
    jsonschema.validate(payload, CHAT_SCHEMA)
    assert payload["content"]["title"].startswith(":warning:")
    assert "still InProgress after 26h 00m 00s" in payload["content"]["description"]
    assert subject(detail).startswith("[STUCK] ")


def test_failed_chat_notification_quotes_the_failure_and_suggests_next_steps() -> None:
    payload = chat_notification(build_detail(CASES["copy-failed"]))
    assert payload["content"]["title"] == ":x: bedrock-model-copy import-5: FAILED"
    assert "```KMS key denied```" in payload["content"]["description"]
    assert payload["content"]["nextSteps"][0].startswith("Read the failure message")


def test_sns_message_has_a_rendering_per_protocol_within_256_kb() -> None:
    detail = build_detail(CASES["failed-long-message"])
    message = json.loads(sns_message(detail))
    assert set(message) == {"default", "email", "https", "lambda"}
    assert message["default"] == message["email"]
    assert "Failure message (truncated):" in message["email"]
    assert json.loads(message["lambda"]) == detail
    jsonschema.validate(json.loads(message["https"]), CHAT_SCHEMA)
    assert len(sns_message(detail).encode()) < 256 * 1024


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("modèle-ünïcode", "[Succeeded] bedrock-model-import modele-unicode (us-east-1)"),
        ("模型", "[Succeeded] bedrock-model-import ? (us-east-1)"),
        ("tab\there", "[Succeeded] bedrock-model-import tab here (us-east-1)"),
    ],
)
def test_subject_is_ascii_without_control_characters(name: str, expected: str) -> None:
    detail = build_detail(transition(job(1, "Completed", name=name)))
    assert subject(detail) == expected


def test_attributes_are_never_empty() -> None:
    attrs = attributes(build_detail(CASES["qconnect"]))
    assert all(attrs.values())
    assert attrs["jobName"] == "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (None, True),
        ({}, True),
        ({"status": ["Completed", "Failed"]}, True),
        ({"status": ["Failed"]}, False),
        ({"jobName": [{"prefix": "prod-"}]}, False),
        ({"jobName": [{"prefix": "imp"}, "x"]}, True),
        ({"status": ["Completed"], "jobKind": ["qconnect-import"]}, False),
        ({"knowledgeBase": ["x"]}, False),
    ],
)
def test_filter_matcher(policy: dict[str, list[Any]] | None, expected: bool) -> None:
    attrs = {"status": "Completed", "jobKind": "bedrock-model-import", "jobName": "import-1"}
    assert matches(policy, attrs) is expected


# Issue 10, item 12: stuck alerts pass a status filter (the "$or" the context builds), unless opted out.
STUCK_ON = {
    "$or": [{"status": ["Completed", "Failed"]}, {"transition": ["stuck"]}],
    "jobKind": ["bedrock-model-import"],
}
STUCK_OFF = {"status": ["Completed", "Failed"], "jobKind": ["bedrock-model-import"]}


@pytest.mark.parametrize(
    ("policy", "attrs", "expected"),
    [
        (STUCK_ON, {"status": "InProgress", "transition": "stuck", "jobKind": "bedrock-model-import"}, True),
        (
            STUCK_ON,
            {"status": "Completed", "transition": "status-changed", "jobKind": "bedrock-model-import"},
            True,
        ),
        (
            STUCK_ON,
            {"status": "InProgress", "transition": "discovered", "jobKind": "bedrock-model-import"},
            False,
        ),
        # the job kind still applies to a stuck alert
        (STUCK_ON, {"status": "InProgress", "transition": "stuck", "jobKind": "qconnect-import"}, False),
        (
            STUCK_OFF,
            {"status": "InProgress", "transition": "stuck", "jobKind": "bedrock-model-import"},
            False,
        ),
        (
            {"$or": [{"status": ["x"]}, {"jobName": [{"prefix": "prod-"}]}]},
            {"status": "y", "jobName": "prod-1"},
            True,
        ),
        ({"$or": [{"status": ["x"]}, {"region": ["eu-west-1"]}]}, {"status": "y"}, False),
    ],
)
def test_filter_matcher_or_operator(policy: dict[str, Any], attrs: dict[str, str], expected: bool) -> None:
    assert matches(policy, attrs) is expected


def test_a_digest_of_thousands_stays_small_and_its_chat_notification_follows_the_schema() -> None:
    # Given 2,000 failures with long messages and long names in one run
    details = [
        build_detail(
            transition(job(n, "Failed", name=f"job-{n}-" + "n" * 60, failure_message="oops " * 2_000))
        )
        for n in range(2_000)
    ]
    digest = Digest.of(details)
    # Then the whole SNS message stays far below 256 KB, and each rendering within its own limits
    assert len(digest.sns_message().encode()) < 64 * 1024
    assert len(digest.subject()) <= 100
    jsonschema.validate(digest.chat(), CHAT_SCHEMA)
    assert len(digest.chat()["content"]["description"]) <= 2_800
    assert "... and 1975 more transitions, not listed here." in digest.text()
