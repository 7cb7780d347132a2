"""Exact request shapes and partial failures of the publishers, with botocore's Stubber."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from job_auditor.auditor.adapters.publishers import ChatPublisher, EventBridgePublisher, SnsPublisher
from job_auditor.auditor.domain.diff import Transition
from job_auditor.infra.config import load_config
from tests.unit.factories import T0, job, transition

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sns import SNSClient

BUS = "job-auditor-bus"
TOPIC = "arn:aws:sns:us-east-1:123456789012:job-auditor"


def _events() -> EventBridgeClient:
    return boto3.client("events", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _sns() -> SNSClient:
    return boto3.client("sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _transitions(n: int) -> list[Transition]:
    return [transition(job(i, "Completed")) for i in range(n)]


def test_eventbridge_batches_of_ten_and_resends_only_failed_entries() -> None:
    # Given 12 transitions and a bus that rejects entries 2 and 5 of the first call once
    client = _events()
    sent: list[list[str]] = []
    transitions = _transitions(12)
    with Stubber(client) as stub:

        def expect(ids: list[int], failed: set[int]) -> None:
            stub.add_response(
                "put_events",
                {
                    "FailedEntryCount": len(failed),
                    "Entries": [
                        {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
                        if i in failed
                        else {"EventId": f"e{i}"}
                        for i in range(len(ids))
                    ],
                },
                {"Entries": ANY},
            )
            sent.append([transitions[i].event_id for i in ids])

        expect(list(range(10)), {2, 5})
        expect([2, 5], set())
        expect([10, 11], set())
        publisher = EventBridgePublisher(client, BUS, "job-auditor", sleep=lambda _: None)
        # When published
        result = publisher.publish(transitions)
        stub.assert_no_pending_responses()
    # Then all are delivered, the second call carried only the two failed entries, 3 requests in all
    assert sorted(t.event_id for t in result.delivered) == sorted(t.event_id for t in transitions)
    assert result.failed == []
    assert result.requests == 3
    assert result.errors == {"InternalFailure": 2}


def test_eventbridge_entry_shape() -> None:
    client = _events()
    t = transition(job(1, "Failed", failure_message="boom"))
    with Stubber(client) as stub:
        stub.add_response(
            "put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}, {"Entries": ANY}
        )
        captured: dict[str, Any] = {}
        client.meta.events.register(
            "provide-client-params.events.PutEvents", lambda params, **_: captured.update(params)
        )
        EventBridgePublisher(client, BUS, "acme.jobs").publish([t])
    (entry,) = captured["Entries"]
    assert entry["EventBusName"] == BUS
    assert entry["Source"] == "acme.jobs"
    assert entry["DetailType"] == "Bedrock Model Import Job Status Change"
    assert entry["Resources"] == [t.job.arn]
    detail = json.loads(entry["Detail"])
    assert detail["eventId"] == t.event_id
    assert detail["failureMessage"] == "boom"


def test_eventbridge_gives_up_after_max_attempts_and_reports_failed() -> None:
    client = _events()
    t = transition()
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_response(
                "put_events",
                {
                    "FailedEntryCount": 1,
                    "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow"}],
                },
                {"Entries": ANY},
            )
        result = EventBridgePublisher(
            client, BUS, "job-auditor", max_attempts=3, sleep=lambda _: None
        ).publish([t])
    assert result.delivered == []
    assert result.failed == [t]
    assert result.errors == {"ThrottlingException": 3}


def test_eventbridge_whole_call_error_fails_the_batch() -> None:
    client = _events()
    with Stubber(client) as stub:
        stub.add_client_error("put_events", "AccessDeniedException", http_status_code=400)
        result = EventBridgePublisher(client, BUS, "job-auditor", max_attempts=1).publish(_transitions(2))
    assert len(result.failed) == 2
    assert result.errors == {"AccessDeniedException": 2}


def test_sns_publish_batch_resends_only_failed_ids_with_attributes() -> None:
    client = _sns()
    transitions = _transitions(3)
    with Stubber(client) as stub:
        stub.add_response(
            "publish_batch",
            {
                "Successful": [{"Id": "0", "MessageId": "m0"}, {"Id": "2", "MessageId": "m2"}],
                "Failed": [{"Id": "1", "Code": "InternalError", "SenderFault": False}],
            },
            {"TopicArn": TOPIC, "PublishBatchRequestEntries": ANY},
        )
        stub.add_response(
            "publish_batch",
            {"Successful": [{"Id": "0", "MessageId": "m1"}], "Failed": []},
            {"TopicArn": TOPIC, "PublishBatchRequestEntries": ANY},
        )
        result = SnsPublisher(client, TOPIC, "job-auditor", sleep=lambda _: None).publish(transitions)
    assert [t.event_id for t in result.delivered] == [
        transitions[0].event_id,
        transitions[2].event_id,
        transitions[1].event_id,
    ]
    assert result.requests == 2


@pytest.mark.parametrize("size", [1, 10, 11, 25])
def test_sns_batches_respect_ten_entries(size: int) -> None:
    client = _sns()
    calls: list[int] = []
    client.meta.events.register(
        "provide-client-params.sns.PublishBatch",
        lambda params, **_: calls.append(len(params["PublishBatchRequestEntries"])),
    )
    with Stubber(client) as stub:
        for chunk in range(0, size, 10):
            n = min(10, size - chunk)
            stub.add_response(
                "publish_batch",
                {"Successful": [{"Id": str(i), "MessageId": str(i)} for i in range(n)], "Failed": []},
                {"TopicArn": TOPIC, "PublishBatchRequestEntries": ANY},
            )
        SnsPublisher(client, TOPIC, "job-auditor").publish([replace(t) for t in _transitions(size)])
    assert calls == [min(10, size - c) for c in range(0, size, 10)]


def _stuck_and_started() -> list[Transition]:
    stuck = replace(
        transition(job(1, "InProgress")),
        type="stuck",
        previous_status="InProgress",
        stuck_since=T0 - timedelta(hours=30),
    )
    return [stuck, transition(job(2, "InProgress"), previous_status=None), transition(job(3, "Completed"))]


@pytest.mark.parametrize(
    ("stuck_alerts", "published"), [("true", ["stuck", "status-changed"]), ("false", ["status-changed"])]
)
def test_chat_publisher_sends_stuck_alerts_under_a_status_filter_unless_opted_out(
    stuck_alerts: str, published: list[str]
) -> None:
    # Given the chat topic's filter as the stack builds it from notifyStatuses=Completed,Failed
    policy = load_config(
        {"notifyStatuses": "Completed,Failed", "notifyStuckAlerts": stuck_alerts}
    ).notification_filter
    client = _sns()
    entries: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.sns.PublishBatch",
        lambda params, **_: entries.extend(params["PublishBatchRequestEntries"]),
    )
    publisher = ChatPublisher(client, TOPIC, "job-auditor", policy)
    with Stubber(client) as stub:
        stub.add_response(
            "publish_batch",
            {
                "Successful": [{"Id": str(i), "MessageId": str(i)} for i in range(len(published))],
                "Failed": [],
            },
            {"TopicArn": TOPIC, "PublishBatchRequestEntries": ANY},
        )
        # When a stuck alert, a new job and a completed job are published
        result = publisher.publish(_stuck_and_started())
        stub.assert_no_pending_responses()
    # Then the stuck alert reaches the channel (unless opted out); the new job in progress does not
    assert [e["MessageAttributes"]["transition"]["StringValue"] for e in entries] == published
    assert len(result.delivered) == 3 and result.failed == []
