"""The checkpoint rule: which creation-time window a run lists, when it sweeps wider, and which jobs
it re-checks one by one. Pure; no I/O."""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from job_auditor.auditor.domain.jobs import JobKindSpec, JobState, ObservedJob


class Checkpoint(NamedTuple):
    """Per source: when the last fully committed run started, and when the last fully committed
    reconciliation sweep started (None: never)."""

    last_run_started_at: datetime
    last_reconciled_at: datetime | None = None


class WindowPlan(NamedTuple):
    """What one run of one source looks at."""

    # List jobs created at or after this time (server-side filter where the API has one).
    window_start: datetime
    # No checkpoint yet: what is found is the baseline.
    baseline: bool
    # A reconciliation sweep: list wider than the window (every in-progress job whatever its age, and
    # every job created since `sweep_start`; every job on every page where the API has no filters) and
    # diff all of it against state. It catches what the incremental window cannot see: a job that
    # became visible late, one that changed after it ended, one older than the first lookback.
    sweep: bool = False
    sweep_start: datetime | None = None
    # A baseline of a source attempted before (every earlier attempt failed, or stopped before it
    # committed): a catch-up from its first attempt, not a first deployment. What changed since then
    # is news (a job that failed during an outage); only what had last changed before it is what that
    # first attempt would have recorded silently.
    catch_up_from: datetime | None = None

    @property
    def first_deployment(self) -> bool:
        """A source no run has attempted: its first deployment's baseline, recorded silently."""
        return self.baseline and self.catch_up_from is None


def sweep_due(checkpoint: Checkpoint | None, now: datetime, every: timedelta) -> bool:
    """A sweep runs on the first run, then once every `every` (zero: every run)."""
    if checkpoint is None or checkpoint.last_reconciled_at is None or every <= timedelta(0):
        return True
    return now - checkpoint.last_reconciled_at >= every


def plan_window(
    checkpoint: Checkpoint | None,
    in_flight: Iterable[JobState],
    now: datetime,
    *,
    initial_lookback: timedelta,
    overlap: timedelta,
    recheck_horizon: timedelta,
    reconcile_every: timedelta = timedelta(hours=1),
    reconcile_lookback: timedelta = timedelta(hours=24),
    first_attempted_at: datetime | None = None,
) -> WindowPlan:
    """Choose the window of a run.

    First run: look back `initial_lookback` (from the first attempt, `first_attempted_at`, for a
    source attempted before whose attempts all failed: a catch-up). Later runs: start at the earlier
    of the previous run's start and the creation of the oldest job still in progress, minus `overlap`
    for clock skew, so a job that takes days is listed until it ends. Jobs in flight for longer than
    `recheck_horizon` do not widen the window; they are re-checked one by one instead (`to_recheck`),
    which keeps every list bounded.
    Every `reconcile_every` the run is also a sweep reaching back at least `reconcile_lookback`.
    """
    sweep = sweep_due(checkpoint, now, reconcile_every)
    if checkpoint is None:
        # A first attempt ahead of this clock (skew between invocations) counts as now.
        catch_up = min(first_attempted_at, now) if first_attempted_at is not None else None
        start = (now if catch_up is None else catch_up) - initial_lookback
        sweep_start = min(start, now - reconcile_lookback)
        return WindowPlan(start, baseline=True, sweep=True, sweep_start=sweep_start, catch_up_from=catch_up)

    horizon = now - recheck_horizon
    recent = [job.created_at for job in in_flight if job.created_at >= horizon]
    if ahead_of(checkpoint, now):
        # Written by a run whose clock was ahead of this one's (a laptop's `run --once`, a skewed
        # host): its times say nothing of what was listed. Taken as is, the window would start in
        # the future and no sweep would be due until this clock passed them, hours of jobs unseen.
        # The run lists from now and sweeps, which reaches back `reconcile_lookback`.
        start = min([now, *recent]) - overlap
        return WindowPlan(start, baseline=False, sweep=True, sweep_start=min(start, now - reconcile_lookback))
    start = min([checkpoint.last_run_started_at, *recent]) - overlap
    swept_from = min(start, now - reconcile_lookback) if sweep else None
    return WindowPlan(start, baseline=False, sweep=sweep, sweep_start=swept_from)


def ahead_of(checkpoint: Checkpoint, now: datetime) -> bool:
    """Whether either time of `checkpoint` is later than `now`: a clock ahead of this one wrote it."""
    reconciled = checkpoint.last_reconciled_at
    return checkpoint.last_run_started_at > now or (reconciled is not None and reconciled > now)


def to_recheck(
    plan: WindowPlan,
    in_flight: Iterable[JobState],
    listed: set[str],
    kind: JobKindSpec,
    now: datetime,
    recheck_horizon: timedelta,
) -> list[JobState]:
    """Tracked jobs the listing did not return: each is fetched with Get, since absence from a list
    is not a status (it may have ended long ago, been deleted, or the list may lag). A job held in a
    status this code does not know, for longer than the horizon, is fetched by sweeps only: it could
    stay there for ever and would cost a call every run. So is a lost job (`JobState.lost`): one Get a
    sweep period, until it is `given_up`."""
    out: list[JobState] = []
    for job in in_flight:
        if job.job_id in listed:
            continue
        if not plan.sweep and not kind.is_known(job.status) and job.created_at < now - recheck_horizon:
            continue
        if not plan.sweep and job.lost(kind):
            continue
        out.append(job)
    return out


def given_up(job: JobState, kind: JobKindSpec, now: datetime, lookback: timedelta) -> bool:
    """Whether a lost job that a sweep's Get did not find either is no longer asked for (the store lets
    it go: `StateStore.let_go`): announced as disappeared longer ago than a sweep reaches back
    (`reconcile_lookback`). Until then a job the API finds again is diffed (its end announced, or
    followed again in the status it had): a sweep's listing would not return one that ended and was
    created before its lookback."""
    disappeared = job.disappeared_at
    return job.lost(kind) and disappeared is not None and now - disappeared >= lookback


def advance(checkpoint: Checkpoint | None, run_started_at: datetime, *, swept: bool = False) -> Checkpoint:
    """The checkpoint after a fully committed run; neither time ever moves backwards."""
    reconciled = checkpoint.last_reconciled_at if checkpoint is not None else None
    if swept and (reconciled is None or reconciled < run_started_at):
        reconciled = run_started_at
    last = run_started_at
    if checkpoint is not None and checkpoint.last_run_started_at >= run_started_at:
        last = checkpoint.last_run_started_at
    return Checkpoint(last_run_started_at=last, last_reconciled_at=reconciled)


def last_change(job: ObservedJob, spec: JobKindSpec) -> datetime | None:
    """When the job last changed, as far as its API says: its end, else its last modification; for a
    job still running with neither, its creation (it has run since). None: unknown."""
    known = job.ended_at or job.last_modified_at
    if known is None and not spec.is_terminal(job.status):
        return job.created_at
    return known


def silent_on_catch_up(job: ObservedJob, spec: JobKindSpec, catch_up_from: datetime) -> bool:
    """Whether a catch-up records `job` without announcing it: only if it last changed before the
    source's first attempt, which would have recorded it silently. A change during the outage, or one
    whose time the API does not give, is announced."""
    changed = last_change(job, spec)
    return changed is not None and changed < catch_up_from
