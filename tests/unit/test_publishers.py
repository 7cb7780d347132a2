"""Exact request shapes and partial failures of the publishers, with botocore's Stubber."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from job_auditor.auditor.adapters.clients import ClientFactory
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
        SnsPublisher(client, TOPIC, "job-auditor").publish(_transitions(size))
    assert calls == [min(10, size - c) for c in range(0, size, 10)]


def _stuck_and_started() -> list[Transition]:
    stuck = transition(job(1, "InProgress"))._replace(
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


# Issue 20, item 1: which refusals are final, a down channel costs one call, one bad entry stays alone.


def test_a_whole_call_failing_for_a_passing_reason_stops_the_rest_of_the_publish() -> None:
    # Given 25 transitions (three requests) and a bus whose first request fails as a whole
    client = _events()
    with Stubber(client) as stub:
        stub.add_client_error("put_events", "InternalFailure", http_status_code=500)
        result = EventBridgePublisher(client, BUS, "job-auditor", sleep=lambda _: None).publish(
            _transitions(25)
        )
        stub.assert_no_pending_responses()
    # Then one request was made: the channel is down, the other 24 were not sent; none is final
    assert result.requests == 1
    assert len(result.failed) == 25 and result.permanent == set()
    assert result.errors == {"InternalFailure": 25}
    assert "not sent: the channel was down" in result.reasons[_transitions(25)[24].event_id]


def test_an_entry_larger_than_a_request_is_refused_for_good_and_the_others_go() -> None:
    # Given a transition whose failure message makes its entry larger than 256 KB, between two others
    client = _events()
    huge = transition(job(7, "Failed", details={"log": "x" * 300_000}))
    good = _transitions(2)
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "a"}, {"EventId": "b"}]},
            {"Entries": ANY},
        )
        result = EventBridgePublisher(client, BUS, "job-auditor").publish([good[0], huge, good[1]])
        stub.assert_no_pending_responses()
    # Then it was never sent and is refused for good; the others were delivered
    assert result.failed == [huge] and result.permanent == {huge.event_id}
    assert result.reasons[huge.event_id].startswith("EntryTooLarge: ")
    assert sorted(t.event_id for t in result.delivered) == sorted(t.event_id for t in good)


def test_a_request_refused_as_invalid_is_sent_again_entry_by_entry() -> None:
    # Given three entries whose request the bus refuses as invalid, because of the second one
    client = _events()
    transitions = _transitions(3)
    with Stubber(client) as stub:
        stub.add_client_error("put_events", "ValidationException", http_status_code=400)
        stub.add_response(
            "put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "0"}]}, {"Entries": ANY}
        )
        stub.add_client_error("put_events", "ValidationException", http_status_code=400)
        stub.add_response(
            "put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "2"}]}, {"Entries": ANY}
        )
        result = EventBridgePublisher(client, BUS, "job-auditor").publish(transitions)
        stub.assert_no_pending_responses()
    # Then only the second is refused, for good; the two others were delivered
    assert result.failed == [transitions[1]] and result.permanent == {transitions[1].event_id}
    assert [t.event_id for t in result.delivered] == [transitions[0].event_id, transitions[2].event_id]


def test_sns_digest_is_one_message_with_the_digests_id_and_a_transitions_attributes() -> None:
    # Given 25 transitions for people
    client = _sns()
    entries: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.sns.PublishBatch",
        lambda params, **_: entries.extend(params["PublishBatchRequestEntries"]),
    )
    transitions = _transitions(25)
    with Stubber(client) as stub:
        stub.add_response(
            "publish_batch",
            {"Successful": [{"Id": "0", "MessageId": "m"}], "Failed": []},
            {"TopicArn": TOPIC, "PublishBatchRequestEntries": ANY},
        )
        result = SnsPublisher(client, TOPIC, "job-auditor").publish_digest(transitions)
    # Then one message went, with a rendering per protocol, and all 25 count as delivered
    (entry,) = entries
    assert entry["Subject"] == "[DIGEST] 25 job transitions"
    assert set(json.loads(entry["Message"])) == {"default", "email", "https", "lambda"}
    attributes = {k: v["StringValue"] for k, v in entry["MessageAttributes"].items()}
    assert attributes["digest"] == "true" and attributes["eventId"].startswith("digest-")
    assert attributes["status"] == "Completed"
    assert len(result.delivered) == 25 and result.failed == []


def test_a_refused_digest_fails_every_transition_in_it() -> None:
    client = _sns()
    with Stubber(client) as stub:
        stub.add_client_error("publish_batch", "KMSAccessDenied", http_status_code=400)
        result = SnsPublisher(client, TOPIC, "job-auditor").publish_digest(_transitions(21))
    assert result.delivered == [] and len(result.failed) == 21 and result.permanent == set()


def test_the_channels_clients_fail_fast_and_the_others_keep_the_adaptive_retries() -> None:
    # Given the clients of a run
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    clients = ClientFactory(session)
    # Then the bus and the topics try three times in all, without the rate limiter's waits
    for service in ("events", "sns"):
        # botocore fills these in at run time; its type stubs declare them only as Config's arguments
        config: Any = clients(service, "us-east-1").meta.config
        assert config.retries == {"mode": "standard", "total_max_attempts": 3}
        assert config.read_timeout == 10 and config.max_pool_connections == 32
    # And the table keeps the adaptive mode's eight retries
    table: Any = clients("dynamodb", "us-east-1").meta.config
    assert table.retries == {
        "mode": "adaptive",
        "total_max_attempts": 9,
    }
