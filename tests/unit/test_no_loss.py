"""One regression test per loss path of issue 10, on the in-memory fakes (tests/fakes.py). Each failed
on the main before the reconciliation sweep and the protocol fixes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.ports import Claim, SourceError
from tests.fakes import Crash, FakeJob, Harness, fail_once, fail_store_once

KB = "0f6f1c2e-1111-4a3b-9c8d-000000000001"
ACCOUNT, REGION = "123456789012", "us-east-1"
IMPORT = Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-import"])
COPY = Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-copy"])
QCONNECT = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (KB,))


def _arn(n: int) -> str:
    return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/job{n:06d}"


def _job(h: Harness, n: int, status: str = "InProgress", age: timedelta = timedelta(minutes=1)) -> str:
    job = h.api.add(IMPORT, FakeJob(_arn(n), status, h.clock() - age, name=f"import-{n}"))
    return job.job_id


def test_a_repeated_baseline_announces_changes_of_jobs_it_recorded_before() -> None:
    # Given a first run that records a job silently, then fails to write its record (its checkpoint)
    h = Harness()
    arn = _job(h, 1)
    h.store.faults.append(fail_store_once("record_audit"))
    first = h.run()
    assert first.sources[0].error is not None and h.store.records == {}
    assert h.publisher.delivered == []
    # When the job fails and the next run is again a baseline
    h.api.set_status(IMPORT, arn, "Failed")
    second = h.run()
    # Then the failure is announced: a baseline silences only jobs with no recorded state
    assert second.sources[0].baseline
    assert h.publisher.statuses(arn) == [("InProgress", "Failed", "status-changed")]


def test_first_knowledge_base_created_after_the_first_deploy_is_announced() -> None:
    # Given a first deploy in a region with no knowledge base yet
    h = Harness(kinds=("qconnect-import",))
    h.run()
    # When the first knowledge base appears, with an import job that fails
    h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB]
    h.api.add(QCONNECT, FakeJob("job-1", "FAILED", h.clock()))
    h.run()
    # Then its failed job is announced, not baselined silently
    assert h.publisher.statuses("job-1") == [(None, "FAILED", "discovered")]


def test_knowledge_base_discovery_that_raises_anything_fails_only_that_scope() -> None:
    # Given discovery that blows up on a malformed answer, and a Bedrock job that completes
    h = Harness(kinds=("bedrock-model-import", "qconnect-import"))
    arn = _job(h, 1)
    h.run()
    h.api.set_status(IMPORT, arn, "Completed")
    h.api.faults.append(
        fail_once("list_knowledge_bases", AttributeError("'str' object has no attribute 'get'"))
    )
    # When the run discovers knowledge bases
    summary = h.run()
    # Then the summary names the failed scope and Bedrock was audited all the same
    failed = {s.source: s.error for s in summary.sources if s.error}
    assert list(failed) == [f"{ACCOUNT}/{REGION}/qconnect-import"]
    assert "InternalError: AttributeError" in str(failed[f"{ACCOUNT}/{REGION}/qconnect-import"])
    assert h.publisher.statuses(arn) == [("InProgress", "Completed", "status-changed")]


def test_an_unexpected_error_inside_one_source_stays_that_source_s() -> None:
    # Given two sources, one whose listing raises a TypeError (a malformed page the adapter missed)
    h = Harness(kinds=("bedrock-model-import", "bedrock-model-copy"))
    arn = _job(h, 1)
    h.run()
    h.api.set_status(IMPORT, arn, "Completed")
    h.api.faults.append(fail_once("list", TypeError("unsupported operand"), COPY))
    # When the run audits both
    summary = h.run()
    # Then a summary comes back, the copy source failed with its reason, the import source went on
    by_kind = {s.job_kind: s for s in summary.sources}
    assert by_kind["bedrock-model-copy"].error == "InternalError: TypeError: unsupported operand"
    assert by_kind["bedrock-model-import"].error is None
    assert summary.status == "partial-failure"
    assert h.publisher.statuses(arn) == [("InProgress", "Completed", "status-changed")]


def test_a_job_that_changes_after_it_ended_is_announced_by_the_sweep() -> None:
    # Given a Q in Connect import job that completed long ago, announced then
    h = Harness(kinds=("qconnect-import",))
    h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB]
    h.run()
    h.api.add(QCONNECT, FakeJob("job-1", "START_IN_PROGRESS", h.clock()))
    h.run()
    h.api.set_status(QCONNECT, "job-1", "COMPLETE")
    for _ in range(24 * 12 * 2):  # two days of five-minute runs: the window moves past its creation
        h.run()
    # When it is deleted
    h.api.set_status(QCONNECT, "job-1", "DELETE_IN_PROGRESS")
    for _ in range(12):  # one sweep period
        h.run()
    h.api.set_status(QCONNECT, "job-1", "DELETED")
    for _ in range(12):
        h.run()
    # Then both changes were announced, each once
    assert h.publisher.statuses("job-1") == [
        (None, "START_IN_PROGRESS", "discovered"),
        ("START_IN_PROGRESS", "COMPLETE", "status-changed"),
        ("COMPLETE", "DELETE_IN_PROGRESS", "status-changed"),
        ("DELETE_IN_PROGRESS", "DELETED", "status-changed"),
    ]


def test_a_job_started_before_the_first_lookback_is_tracked_to_its_end() -> None:
    # Given a job that started 30 h before the first deploy (lookback 24 h) and is still running
    h = Harness()
    arn = _job(h, 1, age=timedelta(hours=30))
    h.run()
    # When it completes a day later
    for _ in range(12 * 24):
        h.run()
    h.api.set_status(IMPORT, arn, "Completed")
    h.run()
    # Then its completion is announced (after the stuck alert it earned by running for over a day)
    assert h.publisher.statuses(arn)[-1] == ("InProgress", "Completed", "status-changed")
    assert [s for s in h.publisher.statuses(arn) if s[2] != "stuck"] == [
        ("InProgress", "Completed", "status-changed")
    ]


def test_a_job_visible_later_than_the_overlap_is_announced_within_one_sweep() -> None:
    # Given a running auditor, and a job that shows up in the list API 40 minutes after its creation
    h = Harness()
    h.run()
    h.run()
    created = h.clock()
    arn = h.api.add(
        IMPORT, FakeJob(_arn(1), "Failed", created, visible_from=created + timedelta(minutes=40))
    ).job_id
    # When runs go on for one sweep period after it became visible
    for _ in range(8 + 12):
        h.run()
    # Then it was announced once
    assert h.publisher.statuses(arn) == [(None, "Failed", "discovered")]


def test_a_get_that_reports_the_creation_time_differently_still_claims_the_job() -> None:
    # Given a job older than the re-check horizon, re-checked with Get, whose Get reports its creation
    # time to the millisecond while the list gave microseconds
    h = Harness()
    created = h.clock() - timedelta(hours=80, microseconds=123_456)
    arn = h.api.add(IMPORT, FakeJob(_arn(1), "InProgress", created)).job_id
    h.run()
    h.api.get_truncates_creation_time = True
    # When it fails and the next run (not a sweep) re-checks it
    h.api.set_status(IMPORT, arn, "Failed")
    summary = h.run()
    # Then the failure is claimed on the job's own item and announced
    assert summary.sources[0].jobs_rechecked == 1
    assert h.publisher.statuses(arn) == [("InProgress", "Failed", "status-changed")]
    assert h.store.state_of(IMPORT, arn) is not None
    assert len(h.store.items) == 1


def test_a_claim_whose_condition_fails_for_another_reason_does_not_move_the_checkpoint() -> None:
    # Given a recorded job whose item another writer moved on behind the auditor's back
    h = Harness()
    arn = _job(h, 1)
    h.run()
    ((key, item),) = h.store.items.items()

    def move_on(op: str) -> None:
        if op == "claim":
            h.store.items[key] = replace(item, state=item.state._replace(sequence=7))

    h.store.faults.append(move_on)
    checkpoint = h.store.checkpoints[IMPORT.key]
    # When the job completes and the run's claim finds sequence 7 where it expected 1
    h.api.set_status(IMPORT, arn, "Completed")
    summary = h.run()
    # Then the conflict is counted and the checkpoint stays, so the job is diffed again
    (source,) = summary.sources
    assert source.claim_conflicts == 1
    assert source.claimed_elsewhere == 0
    assert not source.checkpoint_advanced
    assert h.store.checkpoints[IMPORT.key] == checkpoint


def test_a_transition_the_bus_refuses_for_good_is_parked_for_the_bus_only_and_the_checkpoint_moves() -> None:
    # Given a bus that refuses one job's transition as invalid every time, and another job that is fine
    h = Harness()
    poison, fine = _job(h, 1), _job(h, 2)
    h.run()
    h.publisher.refuse = lambda t: "ValidationException" if t.job.job_id == poison else None
    h.api.set_status(IMPORT, poison, "Failed")
    h.api.set_status(IMPORT, fine, "Completed")
    # When runs go on
    summaries = [h.run(timedelta(minutes=20)) for _ in range(3)]
    # Then the fine job was announced at once; the poison one was parked at once for the bus alone,
    # kept for operators, and still reached the topic and the chat channel, once each
    assert h.publisher.statuses(fine) == [("InProgress", "Completed", "status-changed")]
    (parked,) = h.store.parked_transitions.values()
    assert parked.transition.job.job_id == poison
    assert (
        list(parked.channels) == ["eventbridge"] and "ValidationException" in parked.channels["eventbridge"]
    )
    assert parked.retryable == frozenset()  # refused for good: not re-driven automatically
    for name in ("sns", "chat"):
        assert h.channel(name).statuses(poison) == [("InProgress", "Failed", "status-changed")]
    assert summaries[0].sources[0].parked == 1
    assert sum(s.sources[0].parked for s in summaries) == 1
    # And from then on the checkpoint moves again and nothing is retried
    assert h.store.pending() == []
    assert summaries[-1].sources[0].checkpoint_advanced
    assert summaries[-1].sources[0].publish_failures == 0


def test_a_tracked_job_that_is_not_found_again_is_announced_as_disappeared_once() -> None:
    # Given a running job the auditor tracks, that then vanishes from the API
    h = Harness()
    arn = _job(h, 1)
    h.run()
    h.api.delete(IMPORT, arn)
    # When runs go on
    for _ in range(h.policy.vanished_after_checks + 5):
        h.run()
    # Then it is announced as disappeared once, with its last status, and no longer re-checked by
    # every run (a sweep asks for it again: tests/unit/test_lost_jobs.py)
    assert h.publisher.statuses(arn) == [("InProgress", "InProgress", "disappeared")]
    state = h.store.state_of(IMPORT, arn)
    assert state is not None and state.disappeared_at is not None
    calls = h.api.api_calls(IMPORT)
    assert not h.run().sources[0].reconciled
    gets = [op for op, params in h.api.requests if op == "get" and params.get("job_id") == arn]
    assert len(gets) == h.policy.vanished_after_checks
    assert h.api.api_calls(IMPORT) > calls  # the run itself still lists


def test_a_run_that_outlived_its_lease_reverts_nothing() -> None:
    # Given a run that claims and publishes a transition, then stalls before confirming it
    h = Harness()
    arn = _job(h, 1)
    h.run()
    h.api.set_status(IMPORT, arn, "Completed")
    stalled: list[object] = []

    def stall(op: str) -> None:
        if op == "finalize" and not stalled:
            stalled.append(op)
            raise Crash

    h.store.faults.append(stall)
    with pytest.raises(Crash):
        h.run()
    (claimed,) = h.store.pending()
    # When its lease expires, a later run takes the claim over and confirms it, and the job then moves
    # on to a newer state whose claim is still open
    h.run(timedelta(minutes=20))
    assert h.store.pending() == []
    h.api.set_status(IMPORT, arn, "Failed")  # an odd API, but a newer state all the same
    h.publisher.refuse = lambda t: "Down"
    h.run(timedelta(hours=1))  # the sweep sees an ended job change
    (newer,) = h.store.pending()
    # And the stalled run finally confirms its old claim
    cleared = h.store.finalize([Claim(claimed)], h.clock())
    # Then it reverted nothing: the newer claim is still open, the state is the newer one
    assert cleared == 0
    assert h.store.pending() == [newer]
    state = h.store.state_of(IMPORT, arn)
    assert state is not None and state.status == "Failed"


def test_a_throttled_claim_write_fails_the_source_and_the_next_run_delivers() -> None:
    h = Harness()
    arn = _job(h, 1)
    h.run()
    h.api.set_status(IMPORT, arn, "Completed")
    h.store.faults.append(fail_store_once("claim", SourceError("throttled", code="ThrottlingException")))
    failed = h.run()
    assert failed.sources[0].error == "ThrottlingException: throttled"
    h.run()
    assert h.publisher.statuses(arn) == [("InProgress", "Completed", "status-changed")]
