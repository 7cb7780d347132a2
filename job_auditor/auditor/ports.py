"""The small interfaces the audit use case depends on; boto3 adapters implement them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.jobs import JobState, ObservedJob, Source
from job_auditor.auditor.domain.schedule import AuditRecord
from job_auditor.contract.kinds import DiscoveryStep


class SourceError(Exception):
    """A source could not be audited this run (denied, throttled out of retries, not found, ...)."""

    def __init__(self, message: str, code: str = "Error") -> None:
        super().__init__(message)
        self.code = code


class Stopped(Exception):
    """The time budget ran out: stop before committing anything more; the next run resumes."""


# The time budget: true once the run must stop starting work (checked between pages, chunks, sources).
StopCheck = Callable[[], bool]


def never() -> bool:
    """A time budget that never runs out."""
    return False


@dataclass
class Listing:
    """What one list pass over a source returned."""

    jobs: list[ObservedJob] = field(default_factory=list)
    pages: int = 0
    # Why items were passed over, counted: e.g. {"missing-creation-time": 2}.
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


class JobApi(Protocol):
    """Reads one job control plane."""

    def list_jobs(
        self,
        source: Source,
        created_after: datetime | None,
        should_stop: Callable[[], bool] | None = None,
        status: str | None = None,
        created_before: datetime | None = None,
    ) -> Listing:
        """Every job of `source` created after `created_after` (None: whatever its age), and before
        `created_before` and in `status` if given (filters the kind must have), all pages; raises
        `Stopped` between pages once `should_stop()` is true."""
        ...

    def get_job(self, source: Source, job: JobState) -> ObservedJob | None:
        """The job's current state, or None if the API no longer knows it."""
        ...

    def list_scope(self, scope: Source, step: DiscoveryStep, parent_ids: tuple[str, ...]) -> list[str]:
        """Ids of one level of a kind's scope in `scope`'s account and region (its knowledge bases;
        a knowledge base's data sources, `parent_ids` naming the knowledge base), less those being
        deleted; every page."""
        ...

    def api_calls(self, source: Source) -> int:
        """Requests made so far for one source (pages and gets), for the run summary. Per source:
        sources are audited concurrently."""
        ...


class StateStore(Protocol):
    """Durable state: jobs, the sources' audit records (with their checkpoints), claimed transitions,
    history."""

    def load_audit_records(self) -> dict[str, AuditRecord]:
        """Every source's and discovered scope's record, by key: what the planner reads once per run.
        May be a moment stale (it is read eventually consistent): a stale checkpoint is an earlier one,
        which only widens a window; a record too new to be returned is read with
        `read_audit_records`."""
        ...

    def read_audit_records(self, sources: Sequence[Source]) -> dict[str, AuditRecord]:
        """The records of `sources` (sources, or unscoped discovered scopes), strongly consistent,
        with what an earlier version kept in items of their own (a source's checkpoint, a scope's
        mark) folded in; a source without any is left out."""
        ...

    def record_scope(self, scope: Source, now: datetime, *, enumerated: bool) -> None:
        """A discovered scope was attempted (its first attempt kept), and, `enumerated`, its knowledge
        bases were listed: a knowledge base found in it later is new."""
        ...

    def retire(self, source: Source, reason: str, now: datetime) -> None:
        """A source outside the audit has nothing left to wind down: later runs pass it over (until it
        is planned again)."""
        ...

    def count_pending(self, source: Source) -> int:
        """Claimed transitions of `source` not yet confirmed (open, or released for a retry)."""
        ...

    def load_jobs_since(self, source: Source, since: datetime) -> dict[str, JobState]:
        """Recorded jobs of `source` created at or after `since`."""
        ...

    def load_in_flight(self, source: Source) -> list[JobState]:
        """Recorded jobs of `source` not yet in a terminal status, oldest first."""
        ...

    def record_silently(self, transitions: Sequence[Transition]) -> int:
        """Commit the job states of `transitions` without announcing them (the baseline)."""
        ...

    def claim(self, transitions: Sequence[Transition], lease_until: datetime) -> ClaimResult:
        """Commit each transition's job state, conditional on the recorded state it was computed from,
        and keep it as a pending claim under a lease. A failed condition is read back and explained:
        the same transition claimed or committed by another run, or a conflict (the job moved on,
        another claim is open, the item is not where the state said)."""
        ...

    def reclaim_expired(self, source: Source, now: datetime, lease_until: datetime) -> list[Transition]:
        """Pending claims whose lease expired (a crashed or failed run left them): take them over."""
        ...

    def release(self, transitions: Sequence[Transition]) -> dict[str, int]:
        """Keep these claims pending with their lease expired, so the next run retries them at once.
        Returns each one's failed publish attempts so far, by eventId."""
        ...

    def park(self, transitions: Sequence[Transition], reason: str, now: datetime) -> None:
        """Give up publishing these claims: keep each as a parked transition for operators, and commit
        the job's state so the job (and the checkpoint) move on."""
        ...

    def finalize(self, transitions: Sequence[Transition], now: datetime) -> int:
        """Published: clear each claim, conditional on it still being this transition's, and write
        history. Returns how many were cleared (a run that outlived its lease may find its claims
        taken over, even finished, by another run: it reverts nothing)."""
        ...

    def record_missing(self, source: Source, state: JobState) -> None:
        """One more re-check that did not find the job, counted on its recorded state."""
        ...

    def record_audit(self, source: Source, audit: LastAudit) -> None:
        """How this run's audit of `source` ended, and its checkpoint: the one write per source and
        run. Kept unless a run that started later has already recorded its own (a checkpoint this run
        advanced still moves forward then, never back). The first attempt's time is kept from the
        first write on."""
        ...


@dataclass(frozen=True)
class LastAudit:
    """How the latest run's audit of one source ended (`job-auditor status` shows it)."""

    started_at: datetime
    finished_at: datetime
    # None: the audit went through (possibly stopped early by the time budget); else what failed.
    error: str | None = None
    stopped: bool = False
    transitions: int = 0
    published: int = 0
    jobs_in_flight: int = 0
    # `checkpoint` is where this run moved the source's window to; else it is the checkpoint the run
    # started from (written only where the record has none yet: state of an earlier version, moved in).
    checkpoint_advanced: bool = False
    checkpoint: Checkpoint | None = None
    # The source's first attempt as the run knew it (None: this run's start); kept once written.
    first_attempted_at: datetime | None = None

    @property
    def result(self) -> str:
        return "failed" if self.error else "ok"


@dataclass
class ClaimResult:
    """What a batch of claim writes came to."""

    won: list[Transition] = field(default_factory=list)
    # Already claimed or committed by another run, with the same eventId: that run announces it.
    elsewhere: list[Transition] = field(default_factory=list)
    # The condition failed for another reason (read back): not announced by anyone yet, so the
    # checkpoint must not move past it. Each with the reason found.
    conflicts: list[tuple[Transition, str]] = field(default_factory=list)


@dataclass
class PublishResult:
    delivered: list[Transition] = field(default_factory=list)
    failed: list[Transition] = field(default_factory=list)
    # Error code -> count, for logs and the summary.
    errors: dict[str, int] = field(default_factory=dict)
    requests: int = 0


class Publisher(Protocol):
    """Delivers transitions to one channel."""

    name: str

    def publish(self, transitions: Sequence[Transition]) -> PublishResult: ...
