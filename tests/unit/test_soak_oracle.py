"""The soak's oracle on a knowledge base deleted with its jobs: a job the auditor still followed must be
announced as disappeared; one it recorded ended, whose later change (an ended job being deleted) was
made just before the deletion with no run between, may end its chain where the auditor saw it end.
And on a job the API lost for a while: announced as disappeared only by a run that met it lost, and
its end, if it ended meanwhile, announced all the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.oracle import Truth

T0 = datetime(2026, 11, 2, 12, tzinfo=UTC)
KB_SOURCE = "123456789012/us-east-1/qconnect-import/kb-1"


def _event(job_id: str, sequence: int, previous: str | None, status: str, kind: str) -> dict[str, Any]:
    detail = {
        "eventId": f"{job_id}-{sequence}",
        "jobId": job_id,
        "sequence": sequence,
        "previousStatus": previous,
        "status": status,
        "transition": kind,
    }
    return {"detail": detail}


def _completed_then_deleted_with_its_kb(ended_as: str | None) -> list[str]:
    """A job announced START_IN_PROGRESS -> COMPLETE, then (no run between) deleted, its
    knowledge base with it."""
    truth = Truth()
    truth.created("job-1", KB_SOURCE, T0, "START_IN_PROGRESS")
    truth.changed("job-1", T0 + timedelta(minutes=10), "COMPLETE")
    truth.changed("job-1", T0 + timedelta(hours=20), "DELETE_IN_PROGRESS")
    truth.deleted("job-1", T0 + timedelta(hours=20), "scope deleted", with_scope=True, ended_as=ended_as)
    events = [
        _event("job-1", 1, None, "START_IN_PROGRESS", "discovered"),
        _event("job-1", 2, "START_IN_PROGRESS", "COMPLETE", "status-changed"),
    ]
    item = {"sk": "JOB#x#job-1", "jobId": "job-1", "status": "COMPLETE", "sequence": 2}
    return truth.verify(events, [item], []).violations


def test_a_job_the_auditor_recorded_ended_may_end_where_it_saw_it_end() -> None:
    # Given the auditor had recorded the job COMPLETE when its knowledge base went
    # When the oracle checks the chain
    # Then nothing is missing: no run could see the change the deletion took along
    assert _completed_then_deleted_with_its_kb(ended_as="COMPLETE") == []


def test_a_job_the_auditor_still_followed_must_be_announced_as_disappeared() -> None:
    # Given the auditor still followed the job (not recorded ended) when its knowledge base went
    # When the oracle checks the chain
    # Then the missing disappeared announcement is a loss
    assert _completed_then_deleted_with_its_kb(ended_as=None) == [
        "lost: job-1 was deleted in flight but never announced as disappeared"
    ]


IMPORT_SOURCE = "123456789012/us-east-1/bedrock-model-import"


def _lost_for_an_hour_then_completed(announced: list[dict[str, Any]]) -> tuple[list[str], dict[str, int]]:
    """A job the API lost from 1 h to 2 h (lists and Get answering as for no job) that completed while
    lost, recorded Completed at sequence 3; `announced`: its events after its discovery."""
    truth = Truth()
    truth.created("job-1", IMPORT_SOURCE, T0, "InProgress")
    truth.lose("job-1", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    truth.changed("job-1", T0 + timedelta(hours=1, minutes=30), "Completed")
    events = [_event("job-1", 1, None, "InProgress", "discovered"), *announced]
    item = {"sk": "JOB#x#job-1", "jobId": "job-1", "status": "Completed", "sequence": 1 + len(announced)}
    verdict = truth.verify(events, [item], [])
    return verdict.violations, verdict.figures


def _at(event: dict[str, Any], when: datetime, reason: str = "job not found") -> dict[str, Any]:
    event["detail"].update(observedTime=when.isoformat(), reason=reason)
    return event


def test_a_job_announced_as_disappeared_while_lost_and_then_its_end_keeps_every_promise() -> None:
    # Given a job announced as disappeared by a run that met it lost, then completed once it was back
    violations, figures = _lost_for_an_hour_then_completed(
        [
            _at(
                _event("job-1", 2, "InProgress", "InProgress", "disappeared"),
                T0 + timedelta(hours=1, minutes=15),
            ),
            _event("job-1", 3, "InProgress", "Completed", "status-changed"),
        ]
    )
    # When the oracle checks it
    # Then nothing is wrong, and the disappearance is counted as the API's loss
    assert violations == []
    assert figures["disappeared, lost by the API"] == 1 and figures["lost"] == 0


def test_a_disappearance_met_after_the_job_was_back_is_a_phantom() -> None:
    violations, _ = _lost_for_an_hour_then_completed(
        [
            _at(_event("job-1", 2, "InProgress", "InProgress", "disappeared"), T0 + timedelta(hours=2)),
            _event("job-1", 3, "InProgress", "Completed", "status-changed"),
        ]
    )
    assert violations == ["phantom: job-1 announced as disappeared but never deleted nor lost"]


def test_the_end_of_a_job_lost_while_it_ended_must_be_announced() -> None:
    violations, figures = _lost_for_an_hour_then_completed(
        [
            _at(
                _event("job-1", 2, "InProgress", "InProgress", "disappeared"),
                T0 + timedelta(hours=1, minutes=15),
            )
        ]
    )
    assert "lost: job-1 ends at Completed but the last announced status is InProgress" in violations
    assert figures["lost"] == 1
