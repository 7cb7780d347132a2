"""Observe one source: what its jobs are now, beside what was recorded of them, in batches the source
auditor diffs and commits one at a time.

- The window (every run): list the window (or, where a start feed announces every new job, list
  nothing), load the recorded state of the window, and follow with Get every tracked job the listing
  did not return and every announced job: one batch.
- A sweep of an API with neither a time filter nor an order (Q in Connect's ListImportJobs): every
  page of the history, one batch per page, the state of each page's older jobs read by key with the
  page; only the window's state and the in-flight jobs are held across pages, so memory does not grow
  with the history. Then the Gets, one last batch.
- Any other sweep: the sweep's listings (from the sweep's start, and each in-progress status), one
  batch as the window.

No boto3 here: the job API, the state store and the start feed are ports.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from job_auditor.auditor.domain.checkpoint import WindowPlan, given_up, to_recheck
from job_auditor.auditor.domain.diff import latest_observations
from job_auditor.auditor.domain.jobs import JobState, ObservedJob, Source
from job_auditor.auditor.domain.sweep import SweepProgress
from job_auditor.auditor.ports import (
    AnnouncedStart,
    JobApi,
    Listing,
    StartFeed,
    StateStore,
    StopCheck,
    Stopped,
)
from job_auditor.auditor.summary import SourceSummary

logger = logging.getLogger(__name__)

# Gets of one source made at once (the clients' pools are sized for the claim writes: as many).
GET_CONCURRENCY = 8
# An announced job that Get does not find yet (the control plane may lag behind its own event) is
# asked again by later runs for this long; then the start is dropped (the sweep lists the job if it
# ever appears).
START_GRACE = timedelta(minutes=30)


# Filled in as a source is observed: dataclasses, without the comparison nothing makes (a dataclass
# compiles its generated methods as its module is imported, at every cold start: docs/architecture.md).
@dataclass(eq=False)
class Observation:
    """One batch: jobs as observed now, the recorded state they are diffed against (by job id), the
    tracked jobs announced as gone."""

    jobs: list[ObservedJob]
    previous: dict[str, JobState]
    vanished: list[JobState] = field(default_factory=list)
    # Announced starts to leave for a later run (their job is not found yet).
    keep: list[AnnouncedStart] = field(default_factory=list)
    # The earliest creation time whose state the batch holds for announced jobs.
    late_from: datetime | None = None


@dataclass(eq=False)
class SweepRun:
    """A sweep in progress in this run: its record, and (a streamed sweep) the token of the first
    page not yet committed, to resume at should the run stop."""

    progress: SweepProgress
    streamed: bool
    cursor: str | None = None
    pages: int = 0
    # Whether the sweep's listing answered at all: a failure before it is the source's (its role
    # missing, its API down), not the sweep's, and does not count towards the sweep's back-off.
    reached: bool = False


def streams(source: Source) -> bool:
    """Whether a sweep of `source` reads every page of its history (no time filter, no order)."""
    spec = source.spec
    return spec.time_filter_param is None and not spec.newest_first


class Observer:
    """Observes sources through the job API, the state store and (if any) the start feed."""

    def __init__(
        self,
        api: JobApi,
        store: StateStore,
        feed: StartFeed | None,
        *,
        recheck_horizon: timedelta,
        vanished_after_checks: int,
        reconcile_lookback: timedelta,
    ) -> None:
        self._api = api
        self._store = store
        self._feed = feed
        self._horizon = recheck_horizon
        self._vanished_after = vanished_after_checks
        self._lookback = reconcile_lookback
        # The feed's starts were taken this run: until then (or if taking them failed) sources list.
        self.feed_ready = False

    def announced(self, source: Source) -> bool:
        """Whether the start feed announces every new job of `source` (and was read this run)."""
        return self._feed is not None and self.feed_ready and self._feed.covers(source)

    def starts(self, source: Source) -> list[AnnouncedStart]:
        return self._feed.starts(source) if self._feed is not None and self.announced(source) else []

    def batches(
        self,
        source: Source,
        plan: WindowPlan,
        in_flight: Sequence[JobState],
        starts: Sequence[AnnouncedStart],
        result: SourceSummary,
        should_stop: StopCheck,
        now: datetime,
        sweep: SweepRun | None = None,
    ) -> Iterator[Observation]:
        """The source's observation, batch by batch; the caller commits each batch before asking for
        the next (a streamed sweep's cursor then moves past it)."""
        if sweep is not None and sweep.streamed and plan.sweep_start is not None:
            yield from self._pages(
                source, plan, plan.sweep_start, in_flight, starts, result, should_stop, now, sweep
            )
            return
        yield self._window(source, plan, in_flight, starts, result, should_stop, now, sweep)

    # -- the window -----------------------------------------------------------------------------
    def _list(
        self,
        source: Source,
        plan: WindowPlan,
        starts: Sequence[AnnouncedStart],
        should_stop: StopCheck,
        sweep: SweepRun | None = None,
    ) -> list[Listing]:
        """The fast path lists the window, unless every start of the source is announced by job (an
        event that did not name its job makes the run list). A sweep lists from `sweep_start`, and each
        in-progress status created before it (a job still running is news at any age)."""
        spec = source.spec
        if not plan.sweep:
            if self.announced(source) and all(s.job_id for s in starts):
                return []
            return [self._api.list_jobs(source, plan.window_start, should_stop)]
        listings = [self._api.list_jobs(source, plan.sweep_start, should_stop)]
        if sweep is not None:
            sweep.reached = True
        if spec.status_filter_param is not None:
            before = plan.sweep_start if spec.time_filter_before_param else None
            for status in spec.in_progress_statuses:
                listings.append(
                    self._api.list_jobs(source, None, should_stop, status=status, created_before=before)
                )
        return listings

    def _window(
        self,
        source: Source,
        plan: WindowPlan,
        in_flight: Sequence[JobState],
        starts: Sequence[AnnouncedStart],
        result: SourceSummary,
        should_stop: StopCheck,
        now: datetime,
        sweep: SweepRun | None = None,
    ) -> Observation:
        listed_jobs: list[ObservedJob] = []
        for listing in self._list(source, plan, starts, should_stop, sweep):
            result.pages += listing.pages
            for reason, count in listing.skipped.items():
                result.skip(reason, count)
            listed_jobs.extend(listing.jobs)
        jobs = latest_observations(listed_jobs)
        result.jobs_listed += len(jobs)
        since = min([plan.window_start, *(job.created_at for job in jobs)])
        previous = self._store.load_jobs_since(source, since)
        for state in in_flight:
            previous.setdefault(state.job_id, state)
        listed = {job.job_id for job in jobs}
        return self._follow(source, plan, in_flight, starts, jobs, previous, listed, result, should_stop, now)

    # -- the streamed sweep -----------------------------------------------------------------------
    def _pages(
        self,
        source: Source,
        plan: WindowPlan,
        sweep_start: datetime,
        in_flight: Sequence[JobState],
        starts: Sequence[AnnouncedStart],
        result: SourceSummary,
        should_stop: StopCheck,
        now: datetime,
        sweep: SweepRun,
    ) -> Iterator[Observation]:
        """Every page, each diffed against its own jobs' state: the sweep window's state (read once,
        by creation time, so a job keyed with another precision is still found by id), the in-flight
        jobs, and for the older jobs of the page their items read by key."""
        window = self._store.load_jobs_since(source, sweep_start)
        tracked = {state.job_id: state for state in in_flight}
        wanted = {s.job_id for s in starts if s.job_id}
        listed: set[str] = set()
        for page in self._api.list_pages(source, should_stop, sweep.cursor):
            sweep.reached = True
            result.pages += 1
            for reason, count in page.skipped.items():
                result.skip(reason, count)
            jobs = latest_observations(page.jobs)
            result.jobs_listed += len(jobs)
            previous: dict[str, JobState] = {}
            older: list[tuple[str, datetime]] = []
            for job in jobs:
                state = window.get(job.job_id) or tracked.get(job.job_id)
                if state is not None:
                    previous[job.job_id] = state
                elif job.created_at < sweep_start:
                    older.append((job.job_id, job.created_at))
            if older:
                previous.update(self._store.load_jobs(source, older))
            listed.update(job.job_id for job in jobs if job.job_id in tracked or job.job_id in wanted)
            yield Observation(jobs, previous)
            sweep.cursor, sweep.pages = page.next_token, sweep.pages + 1
        for state in in_flight:
            window.setdefault(state.job_id, state)
        yield self._follow(source, plan, in_flight, starts, [], window, listed, result, should_stop, now)

    # -- Get ------------------------------------------------------------------------------------
    def _follow(
        self,
        source: Source,
        plan: WindowPlan,
        in_flight: Sequence[JobState],
        starts: Sequence[AnnouncedStart],
        jobs: list[ObservedJob],
        previous: dict[str, JobState],
        listed: set[str],
        result: SourceSummary,
        should_stop: StopCheck,
        now: datetime,
    ) -> Observation:
        """Re-check with Get every tracked job the listing did not return, and fetch every announced
        job it did not return."""
        recheck = to_recheck(plan, in_flight, listed, source.spec, now, self._horizon)
        announced = self._announced_to_get(starts, listed | {s.job_id for s in recheck}, result)
        fetch = [JobState(s.job_id or "", "", s.announced_at, 0) for s in announced]
        found = self._get_all(source, [*recheck, *fetch], should_stop)
        result.jobs_rechecked += len(found)
        seen = Observation(jobs, previous)
        let_go: list[JobState] = []
        for state, current in zip(recheck, found, strict=False):
            if current is not None:
                jobs.append(current)
                continue
            if state.lost(source.spec):
                # Announced as disappeared already: asked for again by the next sweep, or let go.
                if given_up(state, source.spec, now, self._lookback):
                    let_go.append(state)
                continue
            result.skip("not-found-on-recheck")
            if state.missing_checks + 1 >= self._vanished_after:
                seen.vanished.append(state)
            else:
                logger.warning("tracked job not found", extra={"source": source.key, "job": state.job_id})
                self._store.record_missing(source, state)
        if let_go:
            result.skip("lost-job-let-go", len(let_go))
            self._store.let_go(source, let_go)
        window_from = plan.sweep_start if plan.sweep and plan.sweep_start else plan.window_start
        found_starts = list(zip(announced, found[len(recheck) :], strict=True))
        self._state_of_late_starts(source, [job for _, job in found_starts], window_from, seen, now)
        for start, current in found_starts:
            self._announced_job(start, current, seen, result, now)
        return seen

    @staticmethod
    def _announced_to_get(
        starts: Sequence[AnnouncedStart], known: set[str], result: SourceSummary
    ) -> list[AnnouncedStart]:
        """One Get per announced job the run has not observed otherwise (a repeated event is counted)."""
        out: dict[str, AnnouncedStart] = {}
        for start in starts:
            if start.job_id is None or start.job_id in known:
                continue
            if start.job_id in out:
                result.skip("duplicate-start")
                continue
            out[start.job_id] = start
        return list(out.values())

    def _state_of_late_starts(
        self,
        source: Source,
        jobs: Sequence[ObservedJob | None],
        window_from: datetime,
        seen: Observation,
        now: datetime,
    ) -> None:
        """Announced jobs created before the window whose state the run has not read (events delivered
        late, a backlog after an outage): the state from the earliest of them on, by creation time and
        matched by id, as the window's. Only as far back as a sweep reaches: an older one is the
        sweep's to find (a job still running), or history (one that ended)."""
        late = [
            job.created_at
            for job in jobs
            if job is not None and job.job_id not in seen.previous and job.created_at < window_from
        ]
        seen.late_from = window_from
        earliest = max(min(late, default=window_from), now - self._lookback)
        if earliest < window_from:
            for job_id, state in self._store.load_jobs_since(source, earliest).items():
                seen.previous.setdefault(job_id, state)
            seen.late_from = earliest

    @staticmethod
    def _announced_job(
        start: AnnouncedStart,
        current: ObservedJob | None,
        seen: Observation,
        result: SourceSummary,
        now: datetime,
    ) -> None:
        """An announced job as Get found it: diffed with the rest; not found, kept for a later run
        for a while; created before the state the run read and not recorded, left to the sweep."""
        if current is None:
            if now - start.announced_at < START_GRACE:
                result.skip("start-not-found-yet")
                seen.keep.append(start)
            else:
                result.skip("start-not-found")
            return
        known = current.job_id in seen.previous
        if not known and seen.late_from is not None and current.created_at < seen.late_from:
            result.skip("late-start")
            return
        seen.jobs.append(current)

    def _get_all(
        self, source: Source, states: Sequence[JobState], should_stop: StopCheck
    ) -> list[ObservedJob | None]:
        """Get each job, several at once; `Stopped` once the time budget is spent."""

        def get(state: JobState) -> ObservedJob | None:
            if should_stop():
                raise Stopped(f"{source.key}: time budget reached while re-checking jobs")
            return self._api.get_job(source, state)

        if len(states) <= 1:
            return [get(state) for state in states]
        workers = min(GET_CONCURRENCY, len(states))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="get") as pool:
            return list(pool.map(get, states))
