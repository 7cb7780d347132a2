"""Overlapping runs, partial publish failures and crashes: no transition lost, none announced twice
except as a repeat with the same eventId. Real adapters against the simulator and moto; the runs are
interleaved deterministically by wrapping one port."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest

from job_auditor.auditor import wiring
from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.adapters.publishers import EventBridgePublisher
from job_auditor.auditor.adapters.state_store import DynamoStateStore
from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.jobs import Source
from job_auditor.auditor.ports import ClaimResult
from job_auditor.auditor.settings import load_settings
from job_auditor.auditor.source_auditor import SourceAuditor
from simulator import aws_faults
from simulator.world import ACCOUNT, REGION, World

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

# One message per transition on the topic too (no digest), so each SNS message has its eventId to count.
BEDROCK_ONLY = {"JOB_KINDS": "bedrock-model-import", "DIGEST_THRESHOLD": "0"}


def _checkpoint(auditor: SourceAuditor, source: Source) -> Checkpoint | None:
    """The source's checkpoint as its audit record holds it (read strongly consistent)."""
    record = auditor.store.read_audit_records([source]).get(source.key)
    return record.checkpoint if record else None


def _auditor() -> tuple[SourceAuditor, Any]:
    settings, clients = load_settings(), ClientFactory()
    auditor = wiring.build_source_auditor(settings, clients)
    planner = wiring.build_planner(settings, clients)
    (source,) = planner.plan([ACCOUNT], [REGION], ["bedrock-model-import"], {}).sources
    return auditor, source


def _store(auditor: SourceAuditor) -> DynamoStateStore:
    return cast(DynamoStateStore, auditor.store)


def _bus(auditor: SourceAuditor) -> EventBridgePublisher:
    return cast(EventBridgePublisher, auditor.publishers[0])


def _seed_and_complete(w: World, n: int) -> list[str]:
    arns = [
        w.plane.create_model_import_job(region=REGION, name=f"j{i}", status="InProgress") for i in range(n)
    ]
    w.run()  # baseline
    w.advance(timedelta(minutes=5))
    for arn in arns:
        w.plane.set_status(arn, "Completed")
    return arns


def test_two_overlapping_runs_publish_each_transition_once(make_world: Any) -> None:
    # Given 25 completed jobs and two runs that both listed and diffed before either claimed
    w: World = make_world(**BEDROCK_ONLY)
    arns = _seed_and_complete(w, 25)
    first, source = _auditor()
    second, _ = _auditor()
    store = _store(first)
    real_claim = store.claim
    other: dict[str, Any] = {}

    def claim_after_the_other_run(transitions: Sequence[Transition], lease_until: Any) -> ClaimResult:
        other["summary"] = second.audit(source)
        return real_claim(transitions, lease_until)

    store.claim = claim_after_the_other_run  # type: ignore[method-assign]
    # When the first run claims after the second has published everything
    mine = first.audit(source)
    # Then each transition was published exactly once in total
    events = w.events_received()
    assert sorted(e["detail"]["jobArn"] for e in events) == sorted(arns)
    assert max(Counter(e["detail"]["eventId"] for e in events).values()) == 1
    notes = w.notifications_received()
    assert sorted(n["MessageAttributes"]["eventId"]["Value"] for n in notes) == sorted(
        e["detail"]["eventId"] for e in events
    )
    assert other["summary"].published == 25
    assert mine.published == 0
    assert mine.claimed_elsewhere == 25


def test_putevents_partial_failure_resends_only_failed_entries(
    make_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a bus that fails entries 1 and 3 of the first PutEvents call
    w: World = make_world(**BEDROCK_ONLY)
    _seed_and_complete(w, 6)
    auditor, source = _auditor()
    eventbridge = _bus(auditor)
    real_put_events = eventbridge._client.put_events
    calls: list[list[str]] = []

    def flaky_put_events(Entries: list[PutEventsRequestEntryTypeDef]) -> object:
        calls.append([e["Detail"] for e in Entries])
        if len(calls) > 1:
            return real_put_events(Entries=Entries)
        failing = {1, 3}
        passed = [e for i, e in enumerate(Entries) if i not in failing]
        real_put_events(Entries=passed)
        return {
            "FailedEntryCount": len(failing),
            "Entries": [
                {"ErrorCode": "InternalFailure", "ErrorMessage": "x"} if i in failing else {"EventId": str(i)}
                for i in range(len(Entries))
            ],
        }

    monkeypatch.setattr(eventbridge._client, "put_events", flaky_put_events)
    eventbridge._sleep = lambda _: None
    # When the run publishes
    summary = auditor.audit(source)
    # Then the retry carried only the two failed entries, and every event arrived once
    assert [len(c) for c in calls] == [6, 2]
    assert calls[1] == [calls[0][1], calls[0][3]]
    events = w.events_received()
    assert len(events) == 6
    assert len({e["detail"]["eventId"] for e in events}) == 6
    assert summary.published == 6
    assert summary.checkpoint_advanced


def test_publish_failure_keeps_the_claims_and_next_run_delivers_with_same_event_id(
    make_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a bus that is down for a whole run
    w: World = make_world(**BEDROCK_ONLY)
    _seed_and_complete(w, 3)
    auditor, source = _auditor()
    checkpoint_before = _checkpoint(auditor, source)
    eventbridge = _bus(auditor)

    def down_put_events(Entries: list[PutEventsRequestEntryTypeDef]) -> object:
        return {
            "FailedEntryCount": len(Entries),
            "Entries": [{"ErrorCode": "ServiceUnavailable", "ErrorMessage": "down"}] * len(Entries),
        }

    monkeypatch.setattr(eventbridge._client, "put_events", down_put_events)
    eventbridge._sleep = lambda _: None
    failed_run = auditor.audit(source)
    # Then the bus has nothing and the claims are not confirmed: no history, three claims stay open,
    # owed to the bus only: the topic, which is up, had them at once. The checkpoint may move: the
    # claims are durable and retried whatever the window
    assert failed_run.publish_failures == 3
    assert failed_run.refused == {"eventbridge": 3}
    assert w.events_received() == []
    assert len(w.notifications_received()) == 3
    assert [i for i in w.table_items("SRC#") if i["sk"].startswith("HIST#")] == []
    claimed = w.pending_claims()
    assert len(claimed) == 3
    assert failed_run.checkpoint_advanced
    assert _checkpoint(auditor, source) != checkpoint_before
    # When the next scheduled run happens with the bus back
    w.advance(timedelta(minutes=5))
    summary = w.run()
    # Then the three transitions arrive, with the event ids that were claimed
    events = w.events_received()
    assert {e["detail"]["eventId"] for e in events} == claimed
    assert summary["sources"][0]["recovered"] == 3
    assert w.pending_claims() == set()
    # And the topic did not get them twice
    assert w.notifications_received() == []


def test_crash_between_publish_and_commit_repeats_with_the_same_event_id(make_world: Any) -> None:
    # Given a run that dies right after publishing, before confirming
    w: World = make_world(**BEDROCK_ONLY)
    _seed_and_complete(w, 4)
    auditor, source = _auditor()

    class Crash(BaseException):  # the process dies: nothing of the run catches it
        pass

    def crash(*_: Any) -> None:
        raise Crash

    _store(auditor).finalize = crash  # type: ignore[method-assign,assignment]
    with pytest.raises(Crash):
        auditor.audit(source)
    first = w.events_received()
    assert len(first) == 4
    # When the next run comes before the claim lease expires, it neither repeats nor loses anything
    w.advance(timedelta(minutes=5))
    w.run()
    assert w.events_received() == []
    # And once the lease has expired, the claimed transitions are delivered again, same eventId
    w.advance(timedelta(minutes=15))
    summary = w.run()
    again = w.events_received()
    assert sorted(e["detail"]["eventId"] for e in again) == sorted(e["detail"]["eventId"] for e in first)
    assert summary["sources"][0]["recovered"] == 4
    assert w.pending_claims() == set()
    # And never a third time
    w.advance(timedelta(minutes=30))
    w.run()
    assert w.events_received() == []


def test_a_failed_claim_write_among_concurrent_ones_loses_nothing(make_world: Any) -> None:
    # Given 60 completed jobs (more than one claim chunk, written several at a time) and a DynamoDB
    # that answers one job's claim write with an error the SDK gave up retrying
    w: World = make_world(**BEDROCK_ONLY)
    arns = _seed_and_complete(w, 60)
    auditor, source = _auditor()
    doomed = json.dumps(arns[37]).encode()
    threads: set[str] = set()

    def fail_one(params: dict[str, Any], **_: Any) -> Any:
        threads.add(threading.current_thread().name)
        if doomed in params["body"]:  # the serialized request
            return aws_faults._error("InternalServerError", "injected", 500)
        return None

    _store(auditor)._db.meta.events.register("before-call.dynamodb.PutItem", fail_one)
    # When the run claims, the source fails with the error
    summary = auditor.audit(source)
    assert summary.error is not None and "InternalServerError" in summary.error
    # Then the writes ran on several threads and the checkpoint stayed put; the claims won before the
    # error are durable: handed to the run's outbox (delivered at its end, once each) or, when the
    # error came first, held open for a later run; the doomed job's claim was never written
    assert len({t for t in threads if t.startswith("claim")}) > 1
    assert not summary.checkpoint_advanced
    delivered_first = w.events_received()  # (read off the queue: counted again below)
    first = [e["detail"]["jobArn"] for e in delivered_first]
    assert arns[37] not in first and len(set(first)) == len(first)
    assert 0 < len(first) + len(w.pending_claims()) < 60
    # And the next runs (the failure gone) deliver every transition exactly once
    _store(auditor)._db.meta.events.unregister("before-call.dynamodb.PutItem", fail_one)
    w.advance(timedelta(minutes=5))
    w.run()  # the doomed job is claimed and published; the others wait for their lease
    w.advance(timedelta(minutes=15))
    w.run()  # the expired claims are taken over and published
    events = delivered_first + w.events_received()
    assert sorted(e["detail"]["jobArn"] for e in events) == sorted(arns)
    assert max(Counter(e["detail"]["eventId"] for e in events).values()) == 1
    assert w.pending_claims() == set()
