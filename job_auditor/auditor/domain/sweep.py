"""The sweep's own record: when a sweep of a source began, whether it is still going, where to resume a
listing it stopped in, and how many attempts in a row failed. Pure; no I/O.

A sweep that reads every page of a long history may outlast the time budget, or die (out of memory,
killed at the timeout) before it can say so. Its record is written before it lists anything, so the
next run can tell a sweep that stopped (resume it where it stopped) from one that died or failed
(try again later, exponentially later, instead of making every run that sweep again).
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from job_auditor.auditor.domain.checkpoint import Checkpoint

# The first retry after a failed sweep waits this long (about one schedule period), each further one
# twice as long, up to RETRY_CAP_PERIODS sweep periods.
RETRY_BASE = timedelta(minutes=5)
RETRY_CAP_PERIODS = 4


class SweepState(StrEnum):
    # Written before the first page: a record still `running` when the next run reads it, long after
    # the run that wrote it must have ended, is a sweep that died.
    RUNNING = "running"
    # The time budget ran out between pages: the next run resumes at `cursor`.
    STOPPED = "stopped"
    FAILED = "failed"


class SweepProgress(NamedTuple):
    """Where one source's current sweep attempt stands."""

    # When the attempt's first run began: a sweep completed over several runs counts from here.
    started_at: datetime
    updated_at: datetime
    state: SweepState
    # Attempts in a row that failed or died (this one included once it has).
    failures: int = 0
    # The listing's token of the first page not yet committed (STOPPED only).
    cursor: str | None = None
    # Pages committed so far by this attempt.
    pages: int = 0
    error: str | None = None

    def completed_by(self, checkpoint: Checkpoint | None) -> bool:
        """Whether a checkpoint says this attempt (or a later sweep) completed."""
        reconciled = checkpoint.last_reconciled_at if checkpoint is not None else None
        return reconciled is not None and reconciled >= self.started_at


def retry_delay(failures: int, every: timedelta) -> timedelta:
    """How long after its last failed attempt a sweep is tried again: RETRY_BASE doubled per failure
    in a row, at most RETRY_CAP_PERIODS sweep periods (no wait when sweeps run every run)."""
    cap = every * RETRY_CAP_PERIODS
    if failures <= 0 or cap <= timedelta(0):
        return timedelta(0)
    return min(RETRY_BASE * (1 << min(failures - 1, 20)), cap)


class SweepStart(NamedTuple):
    """What a run whose checkpoint says a sweep is due does about it."""

    # False: not now (backing off after failures, or another run's sweep may still be going); the run
    # audits its window as usual.
    allowed: bool
    # The record to write before the first page (allowed only).
    progress: SweepProgress | None = None
    # A listing token to resume at (a sweep stopped by the previous run's time budget).
    resume_at: str | None = None
    # Why not, for the log.
    reason: str = ""


def start_sweep(
    progress: SweepProgress | None,
    checkpoint: Checkpoint | None,
    now: datetime,
    *,
    every: timedelta,
    lease: timedelta,
) -> SweepStart:
    """Decide, for a run whose checkpoint says a sweep is due, whether it sweeps and from where.

    A record the checkpoint shows completed starts a fresh attempt. A stopped attempt resumes at
    its cursor at once (it makes progress each run). A record still `running`, written less than
    `lease` ago, may be another run's sweep in progress (not now); older, its run died: it counts as a
    failure. A failed attempt is tried again `retry_delay` after it failed."""
    if progress is None or progress.completed_by(checkpoint):
        return SweepStart(True, SweepProgress(now, now, SweepState.RUNNING))
    if progress.state is SweepState.STOPPED:
        resumed = progress._replace(updated_at=now, state=SweepState.RUNNING)
        return SweepStart(True, resumed, resume_at=progress.cursor)
    failures = progress.failures
    if progress.state is SweepState.RUNNING:
        if now - progress.updated_at < lease:
            return SweepStart(False, reason="a sweep started by another run may still be going")
        failures += 1  # it died without a word
    retry_at = progress.updated_at + retry_delay(failures, every)
    if now < retry_at:
        return SweepStart(False, reason=f"backing off after {failures} failed sweeps, until {retry_at}")
    return SweepStart(True, SweepProgress(now, now, SweepState.RUNNING, failures=failures))


def stopped(progress: SweepProgress, now: datetime, cursor: str | None, pages: int) -> SweepProgress:
    """The record of an attempt the time budget stopped, to resume at `cursor` (None: the start)."""
    return progress._replace(updated_at=now, state=SweepState.STOPPED, cursor=cursor, pages=pages)


def failed(progress: SweepProgress, now: datetime, error: str) -> SweepProgress:
    """The record of an attempt that failed: the next one starts afresh, after `retry_delay`."""
    return progress._replace(
        updated_at=now,
        state=SweepState.FAILED,
        failures=progress.failures + 1,
        cursor=None,
        error=error[:1000],
    )


def completed(checkpoint: Checkpoint | None, progress: SweepProgress) -> Checkpoint:
    """The checkpoint after a sweep attempt that committed every page: reconciled as of the attempt's
    start, and the window's start no later than it either (pages an earlier run of a resumed attempt
    listed were not listed again, so the next window reaches back to where they were). Later than the
    checkpoint's own start all the same (its conditional write keeps only a later one): a run that
    committed after the attempt began listed its window in full."""
    started = progress.started_at
    if checkpoint is None:
        return Checkpoint(last_run_started_at=started, last_reconciled_at=started)
    last = checkpoint.last_run_started_at
    last = last + timedelta(microseconds=1) if last >= started else started
    reconciled = max(checkpoint.last_reconciled_at or started, started)
    return Checkpoint(last_run_started_at=last, last_reconciled_at=reconciled)


def reconciled_with_conflicts(checkpoint: Checkpoint, progress: SweepProgress) -> Checkpoint:
    """The checkpoint after a sweep attempt that listed everything and committed all but some claims
    whose condition failed (a job whose earlier transition still waits on a channel that is down, or
    that another writer moved on): no failure of the sweep's, so no back-off; reconciled as of the
    attempt's start, the next sweep due one sweep period on. The window's start stays (as after any
    run with a conflict): the jobs that conflicted are diffed again, in flight by every run, the rest
    by the window or the next sweep. Backing off instead would hold back, for up to four sweep
    periods after a long channel outage, every job only a sweep finds, on the channels that were up
    too."""
    started = progress.started_at
    reconciled = max(checkpoint.last_reconciled_at or started, started)
    return Checkpoint(last_run_started_at=checkpoint.last_run_started_at, last_reconciled_at=reconciled)
