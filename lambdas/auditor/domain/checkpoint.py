"""The checkpoint rule: which creation-time window a run lists, and which jobs it re-checks one by one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditor.domain.jobs import JobState


@dataclass(frozen=True)
class Checkpoint:
    """Per source: when the last fully committed run started."""

    last_run_started_at: datetime


@dataclass(frozen=True)
class WindowPlan:
    """What one run of one source looks at."""

    # List jobs created at or after this time (server-side filter where the API has one).
    window_start: datetime
    # No checkpoint yet: what is found is the baseline.
    baseline: bool
    # In-flight jobs created before the window: too old to widen the list for, re-checked with Get.
    recheck: tuple[JobState, ...]


def plan_window(
    checkpoint: Checkpoint | None,
    in_flight: Iterable[JobState],
    now: datetime,
    *,
    initial_lookback: timedelta,
    overlap: timedelta,
    recheck_horizon: timedelta,
) -> WindowPlan:
    """Choose the window of a run.

    First run: look back `initial_lookback`. Later runs: start at the earlier of the previous run's
    start and the creation of the oldest job still in progress, minus `overlap` for clock skew, so a
    job that takes days is listed until it ends. Jobs in flight for longer than `recheck_horizon` do
    not widen the window; they are re-checked one by one instead, which keeps every list bounded.
    """
    if checkpoint is None:
        return WindowPlan(window_start=now - initial_lookback, baseline=True, recheck=())

    horizon = now - recheck_horizon
    jobs = list(in_flight)
    recent = [job.created_at for job in jobs if job.created_at >= horizon]
    start = min([checkpoint.last_run_started_at, *recent]) - overlap
    recheck = tuple(job for job in jobs if job.created_at < start)
    return WindowPlan(window_start=start, baseline=False, recheck=recheck)


def advance(checkpoint: Checkpoint | None, run_started_at: datetime) -> Checkpoint:
    """The checkpoint after a fully committed run; it never moves backwards."""
    if checkpoint is not None and checkpoint.last_run_started_at >= run_started_at:
        return checkpoint
    return Checkpoint(last_run_started_at=run_started_at)
