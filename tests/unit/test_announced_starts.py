"""discovery=cloudtrail on the fakes: a Q in Connect source whose job starts are announced is followed
with Get and listed only in its sweep; what the announcements miss, the sweep catches (issue 23.3)."""

from __future__ import annotations

from datetime import timedelta

from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.observer import START_GRACE
from job_auditor.auditor.ports import SourceError
from tests.fakes import FakeJob, FakeStartFeed, Harness, down_until, fail_once

KB = "0f6f1c2e-1111-4a3b-9c8d-000000000001"
OTHER_KB = "0f6f1c2e-1111-4a3b-9c8d-000000000002"
ACCOUNT, REGION = "123456789012", "us-east-1"
QCONNECT = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (KB,))
FIVE = timedelta(minutes=5)


def _harness(history: int = 0) -> Harness:
    """A running auditor in cloudtrail mode over one knowledge base holding `history` old jobs."""
    h = Harness(kinds=("qconnect-import",), feed=FakeStartFeed())
    h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB]
    for n in range(history):
        h.api.add(QCONNECT, FakeJob(f"old-{n:06d}", "COMPLETE", h.clock() - timedelta(days=40, seconds=n)))
    h.run()  # the baseline (a sweep)
    return h


def _start(h: Harness, job_id: str, *, announce: bool = True, status: str = "START_IN_PROGRESS") -> None:
    h.api.add(QCONNECT, FakeJob(job_id, status, h.clock()))
    if announce:
        assert h.feed is not None
        h.feed.announce(QCONNECT, job_id, h.clock())


def _calls(h: Harness) -> list[str]:
    """The job API calls of the source (list and get; not the planner's knowledge base discovery)."""
    return [op for op, _ in h.api.requests if op in ("list", "get")]


def test_announced_jobs_are_followed_with_get_and_nothing_is_listed() -> None:
    # Given a knowledge base with a long history, in cloudtrail mode
    h = _harness(history=2_000)
    # When a job is started (and announced), runs, and completes
    _start(h, "job-1")
    h.api.requests.clear()
    h.run()
    h.api.set_status(QCONNECT, "job-1", "COMPLETE")
    h.run()
    # Then both transitions are announced, with no list call: one Get per run for the job
    assert h.publisher.statuses("job-1") == [
        (None, "START_IN_PROGRESS", "discovered"),
        ("START_IN_PROGRESS", "COMPLETE", "status-changed"),
    ]
    assert _calls(h) == ["get", "get"]
    assert h.feed is not None and h.feed.queue == []


def test_calls_per_run_do_not_grow_with_the_history() -> None:
    calls = []
    for history in (100, 1_000, 5_000):
        h = _harness(history)
        _start(h, "job-1")
        h.api.requests.clear()
        for _ in range(3):
            h.run()
        calls.append(len(_calls(h)))
    assert calls == [3, 3, 3]


def test_a_lost_announcement_is_caught_by_the_sweep() -> None:
    # Given a job whose start event never arrives (no trail, or a lost event)
    h = _harness()
    _start(h, "lost-1", announce=False)
    h.run()
    assert h.publisher.statuses("lost-1") == []
    # When the hourly sweep runs
    for _ in range(12):
        h.run()
    # Then it is announced once, and followed from then on without listing
    assert h.publisher.statuses("lost-1") == [(None, "START_IN_PROGRESS", "discovered")]
    h.api.set_status(QCONNECT, "lost-1", "FAILED")
    h.api.requests.clear()
    h.run()
    assert h.publisher.statuses("lost-1")[-1] == ("START_IN_PROGRESS", "FAILED", "status-changed")
    assert _calls(h) == ["get"]


def test_a_lost_announcement_is_caught_by_the_hourly_sweep_while_a_long_bus_outage_holds_a_claim() -> None:
    # Given a bus down for 30 hours (denied by an SCP), and a job whose start the topics announced
    # but the bus has not taken: its claim waits, so the change that follows conflicts, run after run
    h = _harness()
    h.channel("eventbridge").outage = down_until(
        h.clock, h.clock() + timedelta(hours=30), "AccessDeniedException"
    )
    _start(h, "job-1")
    h.run()
    h.api.set_status(QCONNECT, "job-1", "COMPLETE")
    runs = [h.run(timedelta(minutes=20)) for _ in range(3 * 10)]
    while not runs[-1].sources[0].reconciled:
        runs.append(h.run())
    assert all(s.sources[0].claim_conflicts == 1 for s in runs)
    # When, ten hours into the outage and just after a sweep, a job starts whose announcement is lost
    _start(h, "job-2", announce=False)
    started = h.clock()
    runs += [h.run() for _ in range(15)]
    # Then the sweeps went on every hour (a conflict is no failure of the sweep's: no back-off), and
    # the topic and the chat announced the job within a sweep period, as without the outage
    assert not [s.sources[0].sweep_postponed for s in runs if s.sources[0].sweep_postponed]
    for name in ("sns", "chat"):
        assert h.channel(name).statuses("job-2") == [(None, "START_IN_PROGRESS", "discovered")]
    (found,) = [t for t in h.channel("sns").delivered if t.job.job_id == "job-2"]
    assert found.observed_at - started <= h.policy.reconcile_every


def test_an_announcement_before_the_job_is_found_is_asked_again_then_dropped() -> None:
    # Given an announcement whose job Get does not find yet (the control plane lags behind its event)
    h = _harness()
    assert h.feed is not None
    h.feed.announce(QCONNECT, "lagging-1", h.clock())
    first = h.run().sources[0]
    # Then the run keeps it for a later run
    assert first.skipped == {"start-not-found-yet": 1} and len(h.feed.queue) == 1
    # When the job shows up
    h.api.add(QCONNECT, FakeJob("lagging-1", "START_IN_PROGRESS", h.clock() - FIVE))
    h.run()
    assert h.publisher.statuses("lagging-1") == [(None, "START_IN_PROGRESS", "discovered")]
    assert h.feed.queue == []
    # And an announcement whose job never shows up is dropped after the grace period
    h.feed.announce(QCONNECT, "never-1", h.clock())
    skipped = [h.run().sources[0].skipped for _ in range(START_GRACE // FIVE + 1)]
    assert {"start-not-found": 1} in skipped and h.feed.queue == []
    assert skipped.count({"start-not-found-yet": 1}) == START_GRACE // FIVE - 1


def test_duplicate_and_late_announcements_are_harmless() -> None:
    # Given a job announced twice, and a late announcement of a job from before the window
    h = _harness()
    _start(h, "dup-1")
    assert h.feed is not None
    h.feed.announce(QCONNECT, "dup-1", h.clock())
    old = h.clock() - timedelta(days=3)
    h.api.add(QCONNECT, FakeJob("late-1", "COMPLETE", old))
    h.feed.announce(QCONNECT, "late-1", old)
    summary = h.run().sources[0]
    # Then the job is fetched and announced once, the late one is left to the sweep, all are consumed
    assert h.publisher.statuses("dup-1") == [(None, "START_IN_PROGRESS", "discovered")]
    assert summary.skipped == {"duplicate-start": 1, "late-start": 1}
    assert h.feed.queue == []
    assert h.publisher.statuses("late-1") == []


def test_an_announcement_for_a_knowledge_base_not_audited_is_consumed() -> None:
    # Given an announcement for a knowledge base the plan does not hold (configured away or deleted)
    h = _harness()
    assert h.feed is not None
    other = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (OTHER_KB,))
    h.feed.announce(other, "elsewhere-1", h.clock())
    h.run()
    # Then it is dropped, not delivered again run after run
    assert h.feed.queue == [] and h.feed.dropped == {"scope-not-audited": 1}


def test_an_announcement_without_its_job_makes_the_run_list_the_source() -> None:
    # Given an event that does not name its job (CloudTrail left the response out)
    h = _harness()
    h.api.add(QCONNECT, FakeJob("unnamed-1", "START_IN_PROGRESS", h.clock()))
    assert h.feed is not None
    h.feed.announce(QCONNECT, None, h.clock())
    h.api.requests.clear()
    h.run()
    # Then the run lists the knowledge base and finds the job
    assert h.publisher.statuses("unnamed-1") == [(None, "START_IN_PROGRESS", "discovered")]
    assert "list" in _calls(h)
    assert h.feed.queue == []


def test_a_failed_source_keeps_its_announcements_for_the_next_run() -> None:
    # Given a throttled Get while a job's start is announced
    h = _harness()
    _start(h, "job-1")
    h.api.faults.append(fail_once("get", SourceError("Rate exceeded", code="ThrottlingException")))
    failed = h.run().sources[0]
    assert failed.error and h.feed is not None and len(h.feed.queue) == 1
    # When the next run goes through
    h.run()
    # Then the job is announced, and the announcement consumed
    assert h.publisher.statuses("job-1") == [(None, "START_IN_PROGRESS", "discovered")]
    assert h.feed.queue == []


def test_when_the_feed_cannot_be_read_the_sources_list() -> None:
    # Given a queue that cannot be read this run
    h = _harness()
    _start(h, "job-1", announce=False)
    assert h.feed is not None

    def broken(*_: object) -> None:
        raise SourceError("Access denied", code="AccessDenied")

    h.feed.take = broken  # type: ignore[method-assign,assignment]
    h.run()
    # Then the source lists its window, as in listing mode, and finds the new job
    assert h.publisher.statuses("job-1") == [(None, "START_IN_PROGRESS", "discovered")]


def test_a_backlog_is_drained_over_several_runs_within_the_bound() -> None:
    # Given 2,500 announced starts after an outage and a bound of 1,000 a run
    h = _harness()
    assert h.feed is not None
    h.feed.max_per_run = 1_000
    for n in range(2_500):
        _start(h, f"burst-{n:05d}", status="COMPLETE")
    # When three runs go by
    taken = [h.run().sources[0].starts_announced for _ in range(3)]
    # Then each took at most the bound, and every job was announced once
    assert taken == [1_000, 1_000, 500]
    assert h.feed.queue == []
    assert len({t.job.job_id for t in h.publisher.delivered}) == 2_500


def test_a_late_announcement_of_a_recorded_job_announces_nothing_again() -> None:
    # Given a job the sweep found (its start event lost), recorded and ended
    h = _harness()
    _start(h, "job-1", announce=False, status="COMPLETE")
    for _ in range(12):
        h.run()
    assert h.publisher.statuses("job-1") == [(None, "COMPLETE", "discovered")]
    # When its start event arrives an hour late
    assert h.feed is not None
    h.feed.announce(QCONNECT, "job-1", h.clock() - timedelta(hours=1))
    summary = h.run().sources[0]
    # Then it is consumed against the recorded state: nothing announced again, nothing skipped
    assert h.publisher.statuses("job-1") == [(None, "COMPLETE", "discovered")]
    assert summary.transitions == 0 and summary.skipped == {} and h.feed.queue == []


def test_a_deleted_knowledge_base_in_cloudtrail_mode_is_wound_down_and_its_late_starts_consumed() -> None:
    # Given a job the auditor follows through its announcement, and the knowledge base then deleted
    # with its jobs while a late start event of another of its jobs is still in the queue
    h = _harness()
    _start(h, "job-1")
    h.run()
    assert h.feed is not None
    h.api.knowledge_bases[(ACCOUNT, REGION)].remove(KB)
    h.api.jobs.pop(QCONNECT.key, None)
    h.feed.announce(QCONNECT, "job-2", h.clock())
    # When runs go on
    summaries = [h.run() for _ in range(h.policy.vanished_after_checks + 1)]
    # Then the orphan is wound down like any other: its tracked job announced once as disappeared,
    # naming the reason; the start event of a knowledge base no run audits is consumed, not kept
    gone = [t.reason for t in h.publisher.delivered if t.job.job_id == "job-1" and t.type == "disappeared"]
    assert gone == ["scope deleted"]
    assert summaries[0].as_dict()["orphanedSources"] == [{"source": QCONNECT.key, "reason": "scope deleted"}]
    assert h.feed.queue == [] and h.feed.dropped == {"scope-not-audited": 1}
    assert h.publisher.statuses("job-2") == []
