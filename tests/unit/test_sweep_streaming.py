"""The sweep of an API without filters (Q in Connect's ListImportJobs) reads state page by page, and a
sweep that fails, dies or runs out of time neither repeats every run nor starves (issue 20.6)."""

from __future__ import annotations

import contextlib
import itertools
from datetime import timedelta

from job_auditor.auditor.domain.jobs import JOB_KINDS, JobState, Source
from job_auditor.auditor.domain.sweep import RETRY_BASE, SweepState, retry_delay, start_sweep
from job_auditor.auditor.ports import SourceError
from tests.fakes import POLICY, Crash, FakeJob, Harness, _Item, fail_once, fail_store_once

KB = "0f6f1c2e-1111-4a3b-9c8d-000000000001"
ACCOUNT, REGION = "123456789012", "us-east-1"
QCONNECT = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (KB,))
HOUR = timedelta(hours=1)


def _harness() -> Harness:
    h = Harness(kinds=("qconnect-import",))
    h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB]
    return h


def _history(h: Harness, jobs: int, *, age: timedelta = timedelta(days=30)) -> list[str]:
    """`jobs` import jobs that completed long ago, recorded in state as months of operation leave them."""
    ids = []
    for n in range(jobs):
        created = h.clock() - age + timedelta(seconds=n)
        job = h.api.add(QCONNECT, FakeJob(f"old-{n:06d}", "COMPLETE", created))
        state = JobState(job.job_id, "COMPLETE", created, sequence=2)
        h.store.items[(QCONNECT.key, job.job_id, created)] = _Item(QCONNECT, state, last_event_id="e")
        ids.append(job.job_id)
    return ids


def _sweeps(h: Harness, runs: int) -> list[bool]:
    """Which of the next `runs` five-minute runs swept."""
    return [h.run().sources[0].reconciled for _ in range(runs)]


def test_a_sweep_reads_state_page_by_page_whatever_the_history() -> None:
    # Given a knowledge base whose 3,000 import jobs ended a month ago, all recorded, and a running
    # auditor with a job in flight
    h = _harness()
    old = _history(h, 3_000)
    h.run()
    h.api.add(QCONNECT, FakeJob("new-1", "START_IN_PROGRESS", h.clock()))
    h.run()
    h.store.largest_read = 0
    # When one of the old jobs is deleted and the hourly sweep runs
    h.api.set_status(QCONNECT, old[1234], "DELETE_IN_PROGRESS")
    swept = [s for s in (h.run().sources[0] for _ in range(12)) if s.reconciled]
    # Then the sweep read every page and announced the old job's change, holding at most one page
    # of job states (plus the day's window) at once, not the 3,000 of the history
    assert len(swept) == 1 and swept[0].jobs_listed == 3_001 and swept[0].pages == 31
    assert h.publisher.statuses(old[1234]) == [("COMPLETE", "DELETE_IN_PROGRESS", "status-changed")]
    assert h.store.largest_read <= h.api.page_size + 1


def test_a_sweep_stopped_between_pages_resumes_where_it_stopped() -> None:
    # Given a long history and a time budget that lets a run read ten pages
    h = _harness()
    old = _history(h, 2_500)
    h.run()
    budget = {"pages": 0}

    def ten_pages() -> bool:
        budget["pages"] += 1
        return budget["pages"] > 10

    # When the next sweep is due and each run stops after ten pages
    h.clock.advance(HOUR)
    h.api.set_status(QCONNECT, old[5], "DELETE_IN_PROGRESS")  # on the first pages
    h.api.set_status(QCONNECT, old[2_400], "DELETE_IN_PROGRESS")  # on the last ones
    summaries = []
    for _ in range(4):
        budget["pages"] = 0
        summaries.append(h.audit(should_stop=ten_pages).sources[0])
        h.clock.advance(timedelta(minutes=5))
    # Then the sweep went on from where each run stopped, never re-reading a page, and completed
    assert [s.stopped for s in summaries[:2]] == [True, True]
    assert summaries[2].checkpoint_advanced and summaries[2].reconciled
    assert sum(s.pages for s in summaries[:3]) == 25
    assert not summaries[3].reconciled
    assert h.publisher.statuses(old[5])[-1][1] == "DELETE_IN_PROGRESS"
    assert h.publisher.statuses(old[2_400])[-1][1] == "DELETE_IN_PROGRESS"
    # and the sweep counts from the first run of the attempt, so the window reaches back to it
    first_start = h.store.sweeps[QCONNECT.key].started_at
    assert h.store.checkpoints[QCONNECT.key].last_reconciled_at == first_start


def test_a_sweep_stopped_while_claiming_a_page_reads_that_page_again() -> None:
    # Given a sweep due, with changes on the first page
    h = _harness()
    old = _history(h, 300)
    h.run()
    h.clock.advance(HOUR)
    for n in range(3):
        h.api.set_status(QCONNECT, old[n], "DELETE_IN_PROGRESS")
    # When the time budget runs out as the first page's transitions are claimed
    checks = {"n": 0}

    def out_at_claim() -> bool:
        checks["n"] += 1
        return checks["n"] > 1

    first = h.audit(should_stop=out_at_claim).sources[0]
    # Then the next run resumes at that same page and announces its changes
    assert first.stopped and h.store.sweeps[QCONNECT.key].cursor is None
    h.clock.advance(timedelta(minutes=5))
    second = h.audit().sources[0]
    assert second.reconciled and second.checkpoint_advanced
    for n in range(3):
        assert h.publisher.statuses(old[n]) == [("COMPLETE", "DELETE_IN_PROGRESS", "status-changed")]


def test_a_sweep_that_dies_is_not_repeated_every_run() -> None:
    # Given a sweep that kills the process every time it reads the older jobs' state (out of memory)
    h = _harness()
    _history(h, 500)
    h.run()
    h.api.add(QCONNECT, FakeJob("new-1", "START_IN_PROGRESS", h.clock()))
    h.run()

    def die(operation: str) -> None:
        if operation == "load_jobs":
            raise Crash

    h.store.faults.append(die)
    # When runs go on every five minutes for a day
    attempts: list[int] = []
    fast_runs = postponed = 0
    for n in range(12 * 24):
        h.clock.advance(timedelta(minutes=5))
        try:
            summary = h.audit()
        except Crash:
            attempts.append(n)
            continue
        fast_runs += 1
        postponed += bool(summary.sources[0].sweep_postponed)
        assert not summary.sources[0].reconciled
    # Then the sweep was tried at exponentially longer intervals (up to four sweep periods), and every
    # other run audited the window
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert len(attempts) <= 12 and gaps == sorted(gaps), attempts
    assert gaps[-1] * timedelta(minutes=5) == 4 * HOUR, gaps
    assert fast_runs == 12 * 24 - len(attempts) and postponed >= fast_runs - 12
    # and the job in flight is still followed: its completion is announced by the next window run
    h.api.set_status(QCONNECT, "new-1", "COMPLETE")
    for _ in range(3):
        h.clock.advance(timedelta(minutes=5))
        try:
            h.audit()
        except Crash:
            continue
    assert h.publisher.statuses("new-1")[-1] == ("START_IN_PROGRESS", "COMPLETE", "status-changed")


def test_a_failing_sweep_backs_off_and_runs_again_once_the_fault_clears() -> None:
    # Given a listing that is throttled on every page after the first while the sweep is due
    h = _harness()
    _history(h, 300)
    h.run()
    throttled = SourceError("Rate exceeded", code="ThrottlingException")

    def throttle(operation: str, source: Source | None) -> None:
        if operation == "list" and throttling["on"] and h.api.requests[-1][1].get("token"):
            raise throttled

    throttling = {"on": True}
    h.api.faults.append(throttle)
    h.clock.advance(HOUR - timedelta(minutes=5))
    # When runs go on for five hours
    swept = _sweeps(h, 12 * 5)
    attempts = [n for n, s in enumerate(swept) if s]
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    # Then each failed sweep waited twice as long as the one before, up to four sweep periods
    assert gaps[:4] == [1, 2, 4, 8] and max(gaps) <= 12 * 4, gaps
    record = h.store.sweeps[QCONNECT.key]
    assert record.state is SweepState.FAILED and "ThrottlingException" in (record.error or "")
    # and once the throttling stops, the next attempt sweeps and completes
    throttling["on"] = False
    later = [h.run().sources[0] for _ in range(12 * 4 + 1)]
    assert any(s.reconciled and s.checkpoint_advanced for s in later)


def test_retry_delay_doubles_from_one_period_up_to_four_sweep_periods() -> None:
    assert [retry_delay(n, HOUR) for n in range(6)] == [
        timedelta(0),
        RETRY_BASE,
        RETRY_BASE * 2,
        RETRY_BASE * 4,
        RETRY_BASE * 8,
        RETRY_BASE * 16,
    ]
    assert retry_delay(50, HOUR) == 4 * HOUR
    assert retry_delay(3, timedelta(0)) == timedelta(0)


def test_a_record_left_running_waits_for_the_lease_before_it_counts_as_dead() -> None:
    # Given a sweep record a run wrote ten minutes ago and never finished
    h = _harness()
    h.run()
    h.clock.advance(HOUR)
    h.store.faults.append(fail_store_once("load_jobs_since", Crash()))
    with contextlib.suppress(Crash):
        h.audit()
    record = h.store.sweeps[QCONNECT.key]
    assert record.state is SweepState.RUNNING
    # Then within the claim lease another run does not sweep; after it, the attempt counts as failed
    soon = start_sweep(
        record,
        h.store.checkpoints.get(QCONNECT.key),
        record.updated_at + timedelta(minutes=10),
        every=HOUR,
        lease=POLICY.claim_lease,
    )
    assert not soon.allowed and "another run" in soon.reason
    later = record.updated_at + POLICY.claim_lease + RETRY_BASE
    retry = start_sweep(
        record, h.store.checkpoints.get(QCONNECT.key), later, every=HOUR, lease=POLICY.claim_lease
    )
    assert retry.allowed and retry.progress is not None and retry.progress.failures == 1


def test_a_lost_page_fault_in_a_streamed_sweep_fails_only_that_source() -> None:
    # Given a malformed page in the middle of a sweep
    h = _harness()
    _history(h, 400)
    h.run()
    h.clock.advance(HOUR)
    malformed = fail_once("list", AttributeError("'str' object has no attribute 'get'"))

    def on_a_later_page(operation: str, source: Source | None) -> None:
        if h.api.requests and h.api.requests[-1][1].get("token"):
            malformed(operation, source)

    h.api.faults.append(on_a_later_page)
    summary = h.audit().sources[0]
    # Then the source fails, the failure is recorded and the checkpoint stays
    assert summary.error and not summary.checkpoint_advanced
    assert h.store.sweeps[QCONNECT.key].state is SweepState.FAILED


def test_a_sweep_that_fails_with_its_source_does_not_back_off_once_the_source_answers() -> None:
    # Given a streamed source whose every call is refused for a day (its role missing) while sweeps
    # are due
    h = _harness()
    _history(h, 300)
    h.run()
    denied = {"on": True}

    def refuse(operation: str, source: Source | None) -> None:
        if denied["on"] and source == QCONNECT:
            raise SourceError("not authorized", code="AccessDenied")

    h.api.faults.append(refuse)
    failing = [h.run().sources[0] for _ in range(12 * 24)]
    assert all(s.error for s in failing)
    # When access comes back
    denied["on"] = False
    summary = h.run().sources[0]
    # Then the very next run sweeps and completes: the day of refusals was the source's failure,
    # not the sweep's (no back-off of up to four sweep periods)
    assert summary.reconciled and summary.checkpoint_advanced and not summary.sweep_postponed


def test_a_streamed_sweep_delivers_its_pages_once_per_run_on_each_channel() -> None:
    # Given a recorded history of three pages and a job changed on each page
    h = _harness()
    old = _history(h, 300)
    h.run()
    h.clock.advance(HOUR)
    for n in (5, 150, 295):
        h.api.set_status(QCONNECT, old[n], "DELETE_IN_PROGRESS")
    calls = {c.name: c.calls for c in h.channels}
    # When the hourly sweep reads the three pages
    swept = h.run().sources[0]
    # Then the pages' transitions reach each channel together, with one call per channel for the run
    # (the run's outbox), not one per page; each once
    assert swept.reconciled and swept.pages >= 3 and swept.published == 3
    assert {c.name: c.calls - calls[c.name] for c in h.channels} == {"eventbridge": 1, "sns": 1, "chat": 1}
    for channel in h.channels:
        assert sorted(t.job.job_id for t in channel.delivered) == [old[5], old[150], old[295]]


def test_a_full_outbox_stops_a_streamed_sweep_between_pages_and_the_next_run_resumes() -> None:
    # Given 2,100 recorded jobs (21 pages) that all change before the next sweep: more transitions
    # than one run delivers (2,000)
    h = _harness()
    old = _history(h, 2_100)
    h.run()
    h.clock.advance(HOUR)
    for job_id in old:
        h.api.set_status(QCONNECT, job_id, "DELETE_IN_PROGRESS")
    # When the sweep runs
    first = h.run().sources[0]
    # Then it stopped claiming once the run's outbox was full, delivered what it claimed, and its record
    # says where to resume
    delivered = len(h.publisher.delivered)
    assert first.stopped and 2_000 <= delivered < 2_100
    record = h.store.sweeps[QCONNECT.key]
    assert record.state is SweepState.STOPPED and record.cursor is not None
    # And the next run resumes at that page, announces the rest, none twice, and completes the sweep
    second = h.run().sources[0]
    assert second.reconciled and second.checkpoint_advanced and second.pages < 21
    assert len({t.event_id for t in h.publisher.delivered}) == len(h.publisher.delivered) == 2_100
