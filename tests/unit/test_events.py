import json
from dataclasses import replace
from datetime import timedelta

from auditor.domain.events import MAX_FAILURE_MESSAGE_CHARS, build_event, entry_size
from auditor.domain.jobs import QCONNECT_IMPORT
from tests.unit.factories import T0, job, transition


def test_event_carries_the_versioned_envelope() -> None:
    done = job(7, "Completed", ended_at=T0 + timedelta(hours=1, minutes=30))
    event = build_event(transition(done), "job-auditor")
    assert event.source == "job-auditor"
    assert event.detail_type == "Bedrock Model Import Job Status Change"
    assert event.resources == (done.arn,)
    detail = event.detail
    assert detail["version"] == "1"
    assert detail["transition"] == "status-changed"
    assert (detail["previousStatus"], detail["status"], detail["statusCategory"]) == (
        "InProgress",
        "Completed",
        "SUCCEEDED",
    )
    assert detail["durationSeconds"] == 5400
    assert detail["creationTime"] == "2026-11-20T12:00:00Z"
    assert detail["jobKind"] == "bedrock-model-import"
    assert detail["failureMessageTruncated"] is False
    assert detail["eventId"] == transition(done).event_id


def test_long_failure_message_is_truncated_and_flagged() -> None:
    failed = job(1, "Failed", failure_message="x" * 300_000)
    event = build_event(transition(failed), "job-auditor")
    assert len(event.detail["failureMessage"]) == MAX_FAILURE_MESSAGE_CHARS
    assert event.detail["failureMessage"].endswith("[truncated]")
    assert event.detail["failureMessageTruncated"] is True
    assert entry_size(event) < 256 * 1024


def test_entry_size_counts_utf8_bytes() -> None:
    event = build_event(transition(job(1, "Completed", name="модель-✓")), "job-auditor")
    expected = (
        14
        + len(b"job-auditor")
        + len(event.detail_type)
        + len(json.dumps(event.detail, separators=(",", ":"), ensure_ascii=False).encode())
        + len(event.resources[0])
    )
    assert entry_size(event) == expected


def test_qconnect_event_has_no_arn_but_names_the_knowledge_base() -> None:
    t = transition(
        replace(job(1, "COMPLETE"), arn=None, job_id="11111111-2222-3333-4444-555555555555"),
        previous_status="START_IN_PROGRESS",
        kind=QCONNECT_IMPORT,
    )
    event = build_event(t, "job-auditor")
    assert event.resources == ()
    assert event.detail_type == "Q in Connect Import Job Status Change"
    assert event.detail["statusCategory"] == "SUCCEEDED"
