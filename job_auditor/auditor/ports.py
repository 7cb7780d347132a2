"""The small interfaces the audit use case depends on; boto3 adapters implement them."""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple, Protocol

from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.jobs import JobState, ObservedJob, Source
from job_auditor.auditor.domain.schedule import AuditRecord
from job_auditor.auditor.domain.sweep import SweepProgress
from job_auditor.contract.kinds import DiscoveryStep


class SourceError(Exception):
    """A source could not be audited this run (denied, throttled out of retries, not found, ...)."""

    def __init__(self, message: str, code: str = "Error") -> None:
        super().__init__(message)
        self.code = code


# A SourceError's code for an answer the auditor cannot read (a page or a job without what it needs).
MALFORMED_RESPONSE = "MalformedResponse"


class Stopped(Exception):
    """The time budget ran out: stop before committing anything more; the next run resumes."""


# The time budget: true once the run must stop starting work (checked between pages, chunks, sources).
StopCheck = Callable[[], bool]


def never() -> bool:
    """A time budget that never runs out."""
    return False


# The records the ports pass are NamedTuples where they are only read, and dataclasses without the
# comparison nothing makes where they are filled in as a call goes: a dataclass compiles its generated
# methods as its module is imported, at every cold start (docs/architecture.md).
@dataclass(eq=False)
class Listing:
    """What one list pass over a source returned."""

    jobs: list[ObservedJob] = field(default_factory=list)
    pages: int = 0
    # Why items were passed over, counted: e.g. {"missing-creation-time": 2}.
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


@dataclass(eq=False)
class ListingPage(Listing):
    """One page of a listing, and the token of the page after it (None: the last page)."""

    next_token: str | None = None


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

    def list_pages(
        self, source: Source, should_stop: Callable[[], bool] | None = None, start_token: str | None = None
    ) -> Iterator[ListingPage]:
        """Every job of `source` whatever its age, one page at a time, from `start_token` (a page's
        `next_token`; None: the first page): a caller keeps only the page in hand. Raises `Stopped`
        before fetching a further page once `should_stop()` is true."""
        ...

    def get_job(self, source: Source, job: JobState) -> ObservedJob | None:
        """The job's current state, or None if the API no longer knows it."""
        ...

    def list_scope(self, scope: Source, step: DiscoveryStep, parent_ids: tuple[str, ...]) -> list[str]:
        """Ids of one level of a kind's scope in `scope`'s account and region (its knowledge bases;
        a knowledge base's data sources, `parent_ids` naming the knowledge base), less those being
        deleted; every page."""
        ...

    def check_access(self, source: Source) -> None:
        """Raises `SourceError` if the source's account cannot be read at all (its member role
        refused): what a source checks before it reads its state."""
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
        """Recorded jobs of `source` still followed, oldest first: not in a terminal status and not
        gone (`JobState.tracked`), or lost for a while (`JobState.lost`)."""
        ...

    def load_jobs(self, source: Source, keys: Sequence[tuple[str, datetime]]) -> dict[str, JobState]:
        """The recorded state of each (job id, creation time) of `source` that has one, by job id:
        a page's worth of jobs at a time (what a sweep holds at once)."""
        ...

    def load_sweep(self, source: Source) -> SweepProgress | None:
        """The record of the source's latest sweep attempt (None: none yet)."""
        ...

    def save_sweep(self, source: Source, progress: SweepProgress) -> None:
        """Replace the record of the source's sweep attempt."""
        ...

    def record_silently(self, transitions: Sequence[Transition]) -> int:
        """Commit the job states of `transitions` without announcing them (the baseline)."""
        ...

    def claim(self, transitions: Sequence[Transition], lease_until: datetime) -> "ClaimResult":
        """Commit each transition's job state, conditional on the recorded state it was computed from,
        and keep it as a pending claim under a lease. A failed condition is read back and explained:
        the same transition claimed or committed by another run, or a conflict (the job moved on,
        another claim is open, the item is not where the state said)."""
        ...

    def reclaim_expired(
        self,
        source: Source,
        now: datetime,
        lease_until: datetime,
        limit: int,
        reserve: Callable[[int], int] | None = None,
    ) -> "list[Claim]":
        """Pending claims whose lease expired (a crashed run left them, or a channel refused them and
        their back-off is over): take over at most `limit` of them, oldest lease first, each with
        where it stands on every channel. With `reserve`, only as many as it grants of those found
        (asked only when some are found: a source with none takes nothing from a shared allowance)."""
        ...

    def retry_later(self, claims: "Sequence[tuple[Claim, datetime]]") -> None:
        """Keep these claims pending with their delivery state as given, each until its new lease
        (the back-off): only while the claim is still that transition's."""
        ...

    def finalize(self, claims: "Sequence[Claim]", now: datetime) -> int:
        """Every channel accepted each of these claims or gave up on it: keep a parked transition for
        the channels that gave up (if any), clear each claim, conditional on it still being this
        transition's, and write history (with the channels that took it and those parked). Returns
        how many were cleared (a run that outlived its lease may find its claims taken over, even
        finished, by another run: it reverts nothing)."""
        ...

    def parked_due(self, limit: int) -> "list[Parked]":
        """Up to `limit` parked transitions that a channel gave up on for a passing reason (an outage
        longer than the retry time), for the automatic re-drive."""
        ...

    def unpark(
        self, parked: "Parked", delivered: Collection[str], refused: Mapping[str, str], now: datetime
    ) -> None:
        """A re-drive's outcome: the channels in `delivered` took the transition (removed from the
        parked item, which goes once none is left; history says so); those in `refused` (channel ->
        reason) refused it for good (no longer re-driven automatically)."""
        ...

    def record_missing(self, source: Source, state: JobState) -> None:
        """One more re-check that did not find the job, counted on its recorded state."""
        ...

    def follow_again(self, source: Source, states: Sequence[JobState]) -> None:
        """Jobs missed by re-checks (or announced as disappeared for it), found again: followed from
        their recorded states with no misses counted, no longer disappeared, among the jobs in flight;
        each only while its state is still the one recorded (no claim open on it)."""
        ...

    def let_go(self, source: Source, states: Sequence[JobState]) -> None:
        """Lost jobs (`JobState.lost`) no longer asked for: out of the jobs in flight, each only while
        its state is still the one recorded (no claim open on it)."""
        ...

    def record_audit(self, source: Source, audit: "LastAudit") -> None:
        """How this run's audit of `source` ended, and its checkpoint: the one write per source and
        run. Kept unless a run that started later has already recorded its own (a checkpoint this run
        advanced still moves forward then, never back). The first attempt's time is kept from the
        first write on."""
        ...


class LastAudit(NamedTuple):
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


@dataclass(eq=False)
class ClaimResult:
    """What a batch of claim writes came to."""

    won: list[Transition] = field(default_factory=list)
    # Already claimed or committed by another run, with the same eventId: that run announces it.
    elsewhere: list[Transition] = field(default_factory=list)
    # The condition failed for another reason (read back): not announced by anyone yet, so the
    # checkpoint must not move past it. Each with the reason found.
    conflicts: list[tuple[Transition, str]] = field(default_factory=list)


@dataclass(eq=False)
class PublishResult:
    delivered: list[Transition] = field(default_factory=list)
    failed: list[Transition] = field(default_factory=list)
    # Error code -> count, for logs and the summary.
    errors: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    # Why each failed transition failed, by eventId ("Code: message"), and those the channel refused
    # for good (validation, too large: sending it again can only fail again).
    reasons: dict[str, str] = field(default_factory=dict)
    permanent: set[str] = field(default_factory=set)

    def refused(self, code: str, count: int = 1) -> None:
        """Count refusals of one error code (retried ones included)."""
        self.errors[code] = self.errors.get(code, 0) + count

    def give_up(self, transition: Transition, reason: str, *, permanent: bool) -> None:
        """`transition` was not delivered this time, for `reason`."""
        self.failed.append(transition)
        self.reasons[transition.event_id] = reason
        if permanent:
            self.permanent.add(transition.event_id)


class Publisher(Protocol):
    """Delivers transitions to one channel (named: the delivery state on a claim is kept per name)."""

    name: str

    def publish(self, transitions: Sequence[Transition]) -> PublishResult:
        """One message per transition; stops calling the channel for the rest once a whole call fails
        for a passing reason (the SDK has retried it already: the channel is down)."""
        ...

    def for_people(self, transitions: Sequence[Transition]) -> list[Transition]:
        """Those of `transitions` people read on this channel (none on the bus)."""
        ...

    def publish_digest(self, transitions: Sequence[Transition]) -> PublishResult:
        """One summary message of `transitions` (people's channels only): all delivered, or all
        failed."""
        ...


# -- delivery state ----------------------------------------------------------------------------------
_NO_REASONS: Mapping[str, str] = MappingProxyType({})
_NO_TIMES: Mapping[str, datetime] = MappingProxyType({})


class Deliveries(NamedTuple):
    """Where a claimed transition stands on each channel, kept on its job item while the claim is
    open: each run delivers it only to the channels still owed it, so a channel that refuses it holds
    no other channel back."""

    # The channels owed it (recorded at its first failure; None: every channel configured now).
    channels: frozenset[str] | None = None
    delivered: frozenset[str] = frozenset()
    # Channels that gave up on it -> why; `retryable` of them gave up for a passing reason (refused
    # for longer than the retry time), so the automatic re-drive tries them again.
    parked: Mapping[str, str] = _NO_REASONS
    retryable: frozenset[str] = frozenset()
    # Channels refusing it for a passing reason -> the first refusal, and their last error.
    failing_since: Mapping[str, datetime] = _NO_TIMES
    errors: Mapping[str, str] = _NO_REASONS
    # Failed deliveries so far: the exponent of the back-off.
    attempts: int = 0

    def owed(self, configured: Collection[str]) -> list[str]:
        """The configured channels still owed it, in configured order: a channel removed since is done
        with it, a channel added since gets only newer transitions."""
        wanted = configured if self.channels is None else [c for c in configured if c in self.channels]
        return [c for c in wanted if c not in self.delivered and c not in self.parked]


class Claim(NamedTuple):
    """A claimed transition and where it stands on each channel."""

    transition: Transition
    deliveries: Deliveries = Deliveries()


class Parked(NamedTuple):
    """A transition some channels gave up on, kept for operators (pk=PARKED) until every one of them
    took it."""

    transition: Transition
    # Channel -> why it gave up; `retryable`: those whose reason was passing.
    channels: Mapping[str, str]
    retryable: frozenset[str]
    parked_at: datetime


class AnnouncedStart(NamedTuple):
    """A job start the control plane announced (a CloudTrail management event of its Start call),
    matched to one source."""

    # None: the event named no job (its response elements were left out): the source is listed.
    job_id: str | None
    # When the call was made (the event's time).
    announced_at: datetime
    # The feed's handle on the message, to acknowledge it.
    receipt: str


class StartFeed(Protocol):
    """Job starts announced between runs (adapters.start_queue: an SQS queue a rule on the default
    bus fills with the kinds' Start calls). A run takes them at its start (`take`), follows each
    announced job with Get instead of listing, and acknowledges them once their jobs are recorded."""

    def covers(self, source: Source) -> bool:
        """Whether every job start of `source` is announced here (its account, region and kind)."""
        ...

    def take(
        self, sources: Sequence[Source], expanded: Collection[str], should_stop: StopCheck = never
    ) -> None:
        """Receive what was announced (up to a bound per run) and keep the starts of `sources`. What
        no run will ask for is acknowledged at once (logged and counted): a malformed event, a failed
        call, another account or region, a kind not audited, and a scope missing from a kind whose
        sources this run expanded in full (`expanded`: the unscoped keys of account, region and kind
        whose scopes were all enumerated). The rest is left for a later run."""
        ...

    def starts(self, source: Source) -> list[AnnouncedStart]:
        """The starts taken for `source` (each job once)."""
        ...

    def acknowledge(self, starts: Sequence[AnnouncedStart]) -> None:
        """Done with these starts: they are not delivered again."""
        ...
