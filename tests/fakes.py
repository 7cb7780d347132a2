"""In-memory fakes of the audit use case's ports: a job control plane, a state store that enforces the
same conditions as the DynamoDB adapter and can fail any write, and recording publishers (the bus,
the notification topic, the chat topic) that can each refuse entries or be down. Any unit test can
build the planner and the source auditor on them; the simulator and moto prove the adapters."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from job_auditor.auditor.adapters.publishers import is_permanent
from job_auditor.auditor.adapters.state_codec import with_legacy_checkpoint
from job_auditor.auditor.adapters.state_store import explain_claim_failure
from job_auditor.auditor.audit_step import AuditStep
from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.jobs import JobState, ObservedJob, Source
from job_auditor.auditor.domain.schedule import AuditRecord, record_of
from job_auditor.auditor.domain.sweep import SweepProgress
from job_auditor.auditor.planner import Planner, RunPlan
from job_auditor.auditor.ports import (
    AnnouncedStart,
    Claim,
    ClaimResult,
    Deliveries,
    LastAudit,
    Listing,
    ListingPage,
    Parked,
    PublishResult,
    SourceError,
    StopCheck,
    Stopped,
    never,
)
from job_auditor.auditor.source_auditor import AuditPolicy, SourceAuditor
from job_auditor.auditor.summary import RunSummary
from job_auditor.contract.kinds import DiscoveryStep

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


# -- job API ---------------------------------------------------------------------------------------
@dataclass
class FakeJob:
    job_id: str
    status: str
    created_at: datetime
    name: str | None = None
    # Listed (and found by Get) only from this time on: the list API's visibility lag.
    visible_from: datetime | None = None
    failure_message: str | None = None
    # The kind's detail fields (ingestion statistics, record counts).
    details: dict[str, Any] = field(default_factory=dict)
    # When it ended, as the API reports it (None: not reported).
    ended_at: datetime | None = None


ApiFault = Callable[[str, Source | None], None]


class FakeJobApi:
    """Jobs per source key. `fault(operation, source)` runs before every call and may raise."""

    def __init__(self, clock: Clock, page_size: int = 100) -> None:
        self.clock = clock
        self.page_size = page_size
        self.jobs: dict[str, dict[str, FakeJob]] = {}
        self.knowledge_bases: dict[tuple[str, str], list[str]] = {}
        self.data_sources: dict[tuple[str, str, str], list[str]] = {}
        self.faults: list[ApiFault] = []
        # Get reports creation times to the millisecond where the list gives microseconds.
        self.get_truncates_creation_time = False
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    # -- the world ------------------------------------------------------------------------------
    def add(self, source: Source, job: FakeJob) -> FakeJob:
        self.jobs.setdefault(source.key, {})[job.job_id] = job
        return job

    def set_status(self, source: Source, job_id: str, status: str) -> None:
        self.jobs[source.key][job_id].status = status

    def delete(self, source: Source, job_id: str) -> None:
        self.jobs[source.key].pop(job_id, None)

    def _visible(self, source: Source) -> list[FakeJob]:
        now = self.clock()
        jobs = self.jobs.get(source.key, {}).values()
        return [j for j in jobs if j.visible_from is None or j.visible_from <= now]

    def _call(self, operation: str, source: Source | None, count_as: str, **params: Any) -> None:
        with self._lock:
            self.calls[count_as] += 1
            self.requests.append((operation, params))
        for fault in list(self.faults):
            fault(operation, source)

    @staticmethod
    def _observed(job: FakeJob, created_at: datetime | None = None, *, failure: bool = True) -> ObservedJob:
        return ObservedJob(
            job_id=job.job_id,
            status=job.status,
            created_at=created_at or job.created_at,
            name=job.name,
            arn=job.job_id if job.job_id.startswith("arn:") else None,
            failure_message=job.failure_message if failure else None,
            details=MappingProxyType(dict(job.details)),
            ended_at=job.ended_at,
        )

    # -- JobApi ---------------------------------------------------------------------------------
    def list_jobs(
        self,
        source: Source,
        created_after: datetime | None,
        should_stop: Callable[[], bool] | None = None,
        status: str | None = None,
        created_before: datetime | None = None,
    ) -> Listing:
        spec = source.spec
        jobs = sorted(self._visible(source), key=lambda j: (j.created_at, j.job_id))
        if spec.time_filter_param and created_after is not None:
            jobs = [j for j in jobs if j.created_at > created_after]
        if spec.time_filter_before_param and created_before is not None:
            jobs = [j for j in jobs if j.created_at < created_before]
        if spec.status_filter_param and status is not None:
            jobs = [j for j in jobs if j.status == status]
        listing = Listing()
        pages = max(1, -(-len(jobs) // self.page_size))
        for page in range(pages):
            self._call("list", source, source.key, created_after=created_after, status=status)
            listing.pages += 1
            for job in jobs[page * self.page_size : (page + 1) * self.page_size]:
                if created_after is not None and job.created_at < created_after:
                    continue  # what the adapter drops for an API without a time filter
                # As the real list: without the failure where the kind's summary has none.
                listing.jobs.append(self._observed(job, failure=spec.failure_in_list))
            if should_stop is not None and page + 1 < pages and should_stop():
                raise Stopped(f"{source.key}: stopped after {listing.pages} pages")
        return listing

    def list_pages(
        self, source: Source, should_stop: Callable[[], bool] | None = None, start_token: str | None = None
    ) -> Iterator[ListingPage]:
        """Pages in creation order; a token is the index of the page it starts (what a real token
        resumes: the listing as it is when it is used)."""
        page = int(start_token) if start_token is not None else 0
        while True:
            token = str(page) if page else None
            self._call("list", source, source.key, created_after=None, status=None, token=token)
            jobs = sorted(self._visible(source), key=lambda j: (j.created_at, j.job_id))
            chunk = jobs[page * self.page_size : (page + 1) * self.page_size]
            more = (page + 1) * self.page_size < len(jobs)
            out = ListingPage(next_token=str(page + 1) if more else None)
            out.pages = 1
            out.jobs = [self._observed(job, failure=source.spec.failure_in_list) for job in chunk]
            yield out
            if not more:
                return
            if should_stop is not None and should_stop():
                raise Stopped(f"{source.key}: stopped after page {page + 1}")
            page += 1

    def get_job(self, source: Source, job: JobState) -> ObservedJob | None:
        self._call("get", source, source.key, job_id=job.job_id)
        found = next((j for j in self._visible(source) if j.job_id == job.job_id), None)
        if found is None:
            return None
        created = found.created_at
        if self.get_truncates_creation_time:
            created = created.replace(microsecond=created.microsecond // 1000 * 1000)
        return self._observed(found, created)

    def list_scope(self, scope: Source, step: DiscoveryStep, parent_ids: tuple[str, ...]) -> list[str]:
        """Knowledge bases by (account, region); a knowledge base's data sources by (account, region,
        knowledge base)."""
        self._call(step.list_method, scope, "/".join((scope.key, *parent_ids)))
        if parent_ids:
            return list(self.data_sources.get((scope.account, scope.region, parent_ids[-1]), []))
        return list(self.knowledge_bases.get((scope.account, scope.region), []))

    def check_access(self, source: Source) -> None:
        """No request of the source's own: a fault on "AssumeRole" stands for its role refused."""
        for fault in list(self.faults):
            fault("AssumeRole", source)

    def api_calls(self, source: Source) -> int:
        return self.calls[source.key]


def fail_once(operation: str, error: Exception, source: Source | None = None) -> ApiFault:
    """A fault that raises `error` on the next matching call, then never again."""
    armed = [True]

    def fault(op: str, src: Source | None) -> None:
        if armed[0] and op == operation and (source is None or src == source):
            armed[0] = False
            raise error

    return fault


# -- state store -----------------------------------------------------------------------------------
@dataclass
class _Item:
    source: Source
    state: JobState
    last_event_id: str | None = None
    pending: Transition | None = None
    lease_until: datetime | None = None
    deliveries: Deliveries = field(default_factory=Deliveries)
    # Whether the item carries the in-flight index's key: set by every write of a state that is
    # `indexed`, by follow_again; removed by let_go.
    in_flight_index: bool = True

    def plain(self) -> dict[str, Any]:
        """The attributes `explain_claim_failure` reads, as the DynamoDB item has them."""
        out: dict[str, Any] = {"status": self.state.status, "sequence": self.state.sequence}
        if self.last_event_id:
            out["lastEventId"] = self.last_event_id
        if self.pending is not None:
            out["pendingEventId"] = self.pending.event_id
        return out


class Crash(BaseException):
    """The process dies here (a Lambda timeout or an out-of-memory kill): nothing of the run catches it."""


@dataclass
class InMemoryStateStore:
    """`StateStore` with the DynamoDB adapter's conditions. `fail(operation)` runs before each write
    (and read) and may raise `SourceError` (a throttled or failed call) or `Crash`."""

    items: dict[tuple[str, str, datetime], _Item] = field(default_factory=dict)
    # The AUDIT partition: each source's (and discovered scope's) record, with its checkpoint.
    records: dict[str, AuditRecord] = field(default_factory=dict)
    # What an earlier version kept in items of its own: checkpoints, and scopes' marks (source key ->).
    legacy_checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    # While set, load_audit_records answers from this snapshot: an eventually consistent read at its
    # stalest (the records as some earlier moment had them).
    stale_records: dict[str, AuditRecord] | None = None
    history: dict[str, Claim] = field(default_factory=dict)
    parked_transitions: dict[str, Parked] = field(default_factory=dict)
    faults: list[Callable[[str], None]] = field(default_factory=list)
    audits: dict[str, LastAudit] = field(default_factory=dict)
    sweeps: dict[str, SweepProgress] = field(default_factory=dict)
    # The most job states one read returned: what a run holds of the state at once.
    largest_read: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.RLock()

    def _read(self, states: dict[str, JobState]) -> dict[str, JobState]:
        self.largest_read = max(self.largest_read, len(states))
        return states

    def _op(self, operation: str) -> None:
        for fault in list(self.faults):
            fault(operation)

    @staticmethod
    def _key(source: Source, job_id: str, created_at: datetime) -> tuple[str, str, datetime]:
        return (source.key, job_id, created_at)

    def _item_of(self, t: Transition) -> _Item | None:
        return self.items.get(self._key(t.source, t.job.job_id, t.job.created_at))

    # -- reads ----------------------------------------------------------------------------------
    @property
    def checkpoints(self) -> dict[str, Checkpoint]:
        """Source key -> its checkpoint (a copy, for assertions)."""
        with self._lock:
            return {k: r.checkpoint for k, r in self.records.items() if r.checkpoint and not r.is_scope}

    def load_audit_records(self) -> dict[str, AuditRecord]:
        self._op("load_audit_records")
        with self._lock:
            return dict(self.records if self.stale_records is None else self.stale_records)

    def read_audit_records(self, sources: Sequence[Source]) -> dict[str, AuditRecord]:
        self._op("read_audit_records")
        found: dict[str, AuditRecord] = {}
        with self._lock:
            for source in sources:
                record = self.records.get(source.key)
                legacy = self.legacy_checkpoints.get(source.key)
                if legacy is not None:
                    record = with_legacy_checkpoint(record or record_of(source), legacy)
                if record is not None:
                    found[source.key] = record
        return found

    def count_pending(self, source: Source) -> int:
        self._op("count_pending")
        with self._lock:
            return sum(1 for i in self.items.values() if i.source.key == source.key and i.pending is not None)

    def load_jobs_since(self, source: Source, since: datetime) -> dict[str, JobState]:
        self._op("load_jobs_since")
        with self._lock:
            return self._read(
                {
                    item.state.job_id: item.state
                    for (key, _, created), item in self.items.items()
                    if key == source.key and created >= since
                }
            )

    def load_jobs(self, source: Source, keys: Sequence[tuple[str, datetime]]) -> dict[str, JobState]:
        self._op("load_jobs")
        with self._lock:
            found = (self.items.get(self._key(source, job_id, created)) for job_id, created in keys)
            return self._read({item.state.job_id: item.state for item in found if item is not None})

    def load_sweep(self, source: Source) -> SweepProgress | None:
        self._op("load_sweep")
        return self.sweeps.get(source.key)

    def save_sweep(self, source: Source, progress: SweepProgress) -> None:
        self._op("save_sweep")
        self.sweeps[source.key] = progress

    def load_in_flight(self, source: Source) -> list[JobState]:
        self._op("load_in_flight")
        with self._lock:
            states = [i.state for (k, _, _), i in self.items.items() if k == source.key and i.in_flight_index]
        return sorted((s for s in states if s.indexed(source.spec)), key=lambda s: s.created_at)

    # -- writes ---------------------------------------------------------------------------------
    def record_scope(self, scope: Source, now: datetime, *, enumerated: bool) -> None:
        self._op("record_scope")
        with self._lock:
            old = self.records.get(scope.key) or record_of(scope)
            self.records[scope.key] = old._replace(
                first_attempted_at=old.first_attempted_at or now,
                enumerated=old.enumerated or enumerated,
                legacy=False,
            )

    def retire(self, source: Source, reason: str, now: datetime) -> None:
        self._op("retire")
        with self._lock:
            self.records[source.key] = (self.records.get(source.key) or record_of(source))._replace(
                retired=reason
            )

    def record_silently(self, transitions: Sequence[Transition]) -> int:
        self._op("record_silently")
        with self._lock:
            for t in transitions:
                key = self._key(t.source, t.job.job_id, t.job.created_at)
                self.items[key] = _Item(t.source, t.as_state())
        return len(transitions)

    def record_missing(self, source: Source, state: JobState) -> None:
        self._op("record_missing")
        with self._lock:
            item = self._unchanged(source, state)
            if item is not None:
                item.state = item.state._replace(missing_checks=item.state.missing_checks + 1)

    def follow_again(self, source: Source, states: Sequence[JobState]) -> None:
        self._op("follow_again")
        with self._lock:
            for state in states:
                item = self._unchanged(source, state)
                if item is not None:
                    item.state = item.state._replace(
                        disappeared_at=None, disappeared_reason=None, missing_checks=0
                    )
                    item.in_flight_index = True

    def let_go(self, source: Source, states: Sequence[JobState]) -> None:
        self._op("let_go")
        with self._lock:
            for state in states:
                item = self._unchanged(source, state)
                if item is not None:
                    item.in_flight_index = False

    def _unchanged(self, source: Source, state: JobState) -> _Item | None:
        """The job's item while it still holds `state` with no claim open on it (the adapter's
        `_update_unchanged` condition); None once it moved on. Called with the lock held."""
        item = self.items.get(self._key(source, state.job_id, state.created_at))
        if item is not None and item.state.sequence == state.sequence and item.pending is None:
            return item
        return None

    def record_audit(self, source: Source, audit: LastAudit) -> None:
        """As the adapter's UpdateItem: kept unless a later run recorded its own (then only an advance
        of the checkpoint stands)."""
        self._op("record_audit")
        with self._lock:
            old = self.records.get(source.key) or record_of(source)
            checkpoint = audit.checkpoint if audit.checkpoint_advanced else None
            if old.last_started_at is None or old.last_started_at <= audit.started_at:
                self.audits[source.key] = audit
                kept = None if old.legacy else old.first_attempted_at
                self.records[source.key] = old._replace(
                    checkpoint=checkpoint or old.checkpoint or audit.checkpoint,
                    first_attempted_at=kept or audit.first_attempted_at or audit.started_at,
                    last_started_at=audit.started_at,
                    last_turn_at=old.last_turn_at if audit.stopped else audit.started_at,
                    retired=None,
                    legacy=False,
                )
            elif checkpoint is not None and (
                old.checkpoint is None or old.checkpoint.last_run_started_at < checkpoint.last_run_started_at
            ):
                self.records[source.key] = old._replace(checkpoint=checkpoint)

    def claim(self, transitions: Sequence[Transition], lease_until: datetime) -> ClaimResult:
        result = ClaimResult()
        for t in transitions:
            self._op("claim")
            with self._lock:
                item = self._item_of(t)
                if t.previous_status is None:
                    ok = item is None
                else:
                    ok = (
                        item is not None
                        and item.state.status == t.previous_status
                        and item.state.sequence == t.previous_sequence
                        and item.pending is None
                    )
                if ok:
                    key = self._key(t.source, t.job.job_id, t.job.created_at)
                    self.items[key] = _Item(t.source, t.as_state(), t.event_id, t, lease_until)
                    result.won.append(t)
                    continue
                reason = explain_claim_failure(t, item.plain() if item is not None else None)
            if reason is None:
                result.elsewhere.append(t)
            else:
                result.conflicts.append((t, reason))
        return result

    def reclaim_expired(
        self,
        source: Source,
        now: datetime,
        lease_until: datetime,
        limit: int,
        reserve: Callable[[int], int] | None = None,
    ) -> list[Claim]:
        self._op("reclaim_expired")
        with self._lock:
            expired = [
                item
                for item in self.items.values()
                if item.source.key == source.key
                and item.pending is not None
                and item.lease_until is not None
                and item.lease_until < now
            ]
            expired = sorted(expired, key=lambda i: i.lease_until or now)[:limit]
            if expired and reserve is not None:
                expired = expired[: reserve(len(expired))]
            taken = []
            for item in expired:
                assert item.pending is not None
                item.lease_until = lease_until
                taken.append(Claim(item.pending, item.deliveries))
        return taken

    def retry_later(self, claims: Sequence[tuple[Claim, datetime]]) -> None:
        for claim, lease_until in claims:
            self._op("retry_later")
            with self._lock:
                item = self._item_of(claim.transition)
                if item is None or item.pending is None or item.pending.event_id != claim.transition.event_id:
                    continue
                item.lease_until, item.deliveries = lease_until, claim.deliveries

    def finalize(self, claims: Sequence[Claim], now: datetime) -> int:
        cleared = 0
        for claim in claims:
            self._op("finalize")
            deliveries = claim.deliveries
            if deliveries.parked:
                with self._lock:
                    parked = Parked(claim.transition, deliveries.parked, deliveries.retryable, now)
                    self.parked_transitions[claim.transition.event_id] = parked
            cleared += self._clear(claim.transition)
        self._op("history")
        with self._lock:
            for claim in claims:
                self.history[claim.transition.event_id] = claim
        return cleared

    def parked_due(self, limit: int) -> list[Parked]:
        self._op("parked_due")
        with self._lock:
            return [p for p in self.parked_transitions.values() if p.retryable][:limit]

    def unpark(
        self, parked: Parked, delivered: Collection[str], refused: Mapping[str, str], now: datetime
    ) -> None:
        self._op("unpark")
        event_id = parked.transition.event_id
        with self._lock:
            left = {c: refused.get(c, why) for c, why in parked.channels.items() if c not in delivered}
            if left:
                retryable = parked.retryable - set(delivered) - set(refused)
                self.parked_transitions[event_id] = parked._replace(channels=left, retryable=retryable)
            else:
                self.parked_transitions.pop(event_id, None)
            if (done := self.history.get(event_id)) is not None:
                d = done.deliveries
                parked_left = {c: why for c, why in d.parked.items() if c not in delivered}
                moved = d._replace(delivered=d.delivered | frozenset(delivered), parked=parked_left)
                self.history[event_id] = done._replace(deliveries=moved)

    def _clear(self, t: Transition) -> bool:
        with self._lock:
            item = self._item_of(t)
            if item is None or item.pending is None or item.pending.event_id != t.event_id:
                return False
            item.pending, item.lease_until, item.deliveries = None, None, Deliveries()
            item.state, item.last_event_id, item.in_flight_index = t.as_state(), t.event_id, True
            return True

    # -- for assertions -------------------------------------------------------------------------
    def state_of(self, source: Source, job_id: str) -> JobState | None:
        found = [i.state for (k, j, _), i in self.items.items() if k == source.key and j == job_id]
        return found[0] if found else None

    def pending(self) -> list[Transition]:
        return [i.pending for i in self.items.values() if i.pending is not None]


def fail_store_once(operation: str, error: BaseException | None = None) -> Callable[[str], None]:
    armed = [True]

    def fault(op: str) -> None:
        if armed[0] and op == operation:
            armed[0] = False
            raise error or SourceError(f"{operation} failed (injected)", code="ThrottlingException")

    return fault


# -- start feed ------------------------------------------------------------------------------------
@dataclass
class _Message:
    """An announced start as the queue holds it; `received` by a run and not acknowledged, it comes
    back to the next."""

    key: str  # the source key it names (account/region/kind/scope ids)
    job_id: str | None
    announced_at: datetime
    receipt: str
    receives: int = 0


@dataclass
class FakeStartFeed:
    """`StartFeed` with a queue's semantics: `announce` enqueues; a run `take`s up to `max_per_run`;
    what it does not acknowledge is delivered again to the next run."""

    covered: Callable[[Source], bool] = lambda _: True
    max_per_run: int = 1000
    queue: list[_Message] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    _taken: dict[str, list[AnnouncedStart]] = field(default_factory=dict)
    _count: int = 0

    def announce(self, source: Source, job_id: str | None, at: datetime) -> None:
        self._count += 1
        self.queue.append(_Message(source.key, job_id, at, f"r{self._count}"))

    def covers(self, source: Source) -> bool:
        return self.covered(source)

    def take(
        self, sources: Sequence[Source], expanded: Collection[str], should_stop: StopCheck = never
    ) -> None:
        wanted = {source.key for source in sources}
        self._taken = {}
        for message in list(self.queue[: self.max_per_run]):
            message.receives += 1
            unscoped = "/".join(message.key.split("/")[:3])
            if message.key in wanted:
                start = AnnouncedStart(message.job_id, message.announced_at, message.receipt)
                self._taken.setdefault(message.key, []).append(start)
            elif unscoped in expanded:
                self.dropped["scope-not-audited"] = self.dropped.get("scope-not-audited", 0) + 1
                self.acknowledge([AnnouncedStart(None, message.announced_at, message.receipt)])

    def starts(self, source: Source) -> list[AnnouncedStart]:
        return list(self._taken.get(source.key, []))

    def acknowledge(self, starts: Sequence[AnnouncedStart]) -> None:
        receipts = {start.receipt for start in starts}
        self.acknowledged += sorted(receipts)
        self.queue = [m for m in self.queue if m.receipt not in receipts]


# -- publishers ------------------------------------------------------------------------------------
def down_until(clock: Clock, until: datetime, code: str = "InternalFailure") -> Callable[[], str | None]:
    """An outage of a channel until `until` on `clock`: every call fails with `code`."""
    return lambda: code if clock() < until else None


@dataclass
class RecordingPublisher:
    """Records every transition it accepts (repeats included), and every digest. `refuse(t)` returns
    an error code to refuse one entry; `outage()` an error code while the whole channel is down (each
    call fails as a whole); `people`: a channel people read (digests apply)."""

    name: str = "eventbridge"
    refuse: Callable[[Transition], str | None] = lambda _: None
    outage: Callable[[], str | None] = lambda: None
    people: bool = False
    delivered: list[Transition] = field(default_factory=list)
    digests: list[list[Transition]] = field(default_factory=list)
    calls: int = 0

    def _down(self, transitions: Sequence[Transition], result: PublishResult) -> bool:
        self.calls += 1
        result.requests = 1
        code = self.outage()
        if code is None:
            return False
        for t in transitions:
            result.refused(code)
            result.give_up(t, f"{code}: {self.name} is down", permanent=is_permanent(code))
        return True

    def publish(self, transitions: Sequence[Transition]) -> PublishResult:
        result = PublishResult()
        if not transitions or self._down(transitions, result):
            return result
        for t in transitions:
            code = self.refuse(t)
            if code is None:
                result.delivered.append(t)
            else:
                result.refused(code)
                result.give_up(t, f"{code}: refused", permanent=is_permanent(code))
        self.delivered.extend(result.delivered)
        return result

    def for_people(self, transitions: Sequence[Transition]) -> list[Transition]:
        return list(transitions) if self.people else []

    def publish_digest(self, transitions: Sequence[Transition]) -> PublishResult:
        result = PublishResult()
        if self._down(transitions, result):
            return result
        self.digests.append(list(transitions))
        result.delivered.extend(transitions)
        return result

    def announced(self) -> set[str]:
        """EventIds this channel carried, one by one or in a digest."""
        return {t.event_id for t in self.delivered} | {t.event_id for d in self.digests for t in d}

    def statuses(self, job_id: str) -> list[tuple[str | None, str, str]]:
        return [(t.previous_status, t.status, t.type) for t in self.delivered if t.job.job_id == job_id]


def channels() -> list[RecordingPublisher]:
    """The bus, the notification topic and the chat topic, as the wiring configures them."""
    return [
        RecordingPublisher("eventbridge"),
        RecordingPublisher("sns", people=True),
        RecordingPublisher("chat", people=True),
    ]


POLICY = AuditPolicy(
    initial_lookback=timedelta(hours=24),
    overlap=timedelta(minutes=5),
    recheck_horizon=timedelta(hours=72),
    claim_lease=timedelta(minutes=15),
)


@dataclass
class Harness:
    """The planner, the source auditor and the audit step on the fakes, with their clock; `run()`
    plans and audits the configured sources."""

    clock: Clock = field(default_factory=Clock)
    policy: AuditPolicy = POLICY
    account: str = "123456789012"
    region: str = "us-east-1"
    kinds: tuple[str, ...] = ("bedrock-model-import",)
    # Kind id -> configured scope ids (knowledge bases, knowledge base/data source).
    scopes: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    api: FakeJobApi = field(init=False)
    store: InMemoryStateStore = field(default_factory=InMemoryStateStore)
    channels: list[RecordingPublisher] = field(default_factory=channels)
    # A start feed (discovery=cloudtrail), if the test wires one.
    feed: FakeStartFeed | None = None

    def __post_init__(self) -> None:
        self.api = FakeJobApi(self.clock)

    @property
    def publisher(self) -> RecordingPublisher:
        """The bus (the first channel)."""
        return self.channels[0]

    def channel(self, name: str) -> RecordingPublisher:
        return next(c for c in self.channels if c.name == name)

    def source_auditor(self) -> SourceAuditor:
        return SourceAuditor(self.api, self.store, list(self.channels), self.policy, self.clock, self.feed)

    def planner(self) -> Planner:
        return Planner(self.api, self.store, clock=self.clock)

    def audit_step(self) -> AuditStep:
        return AuditStep(self.source_auditor(), self.store, self.clock, redrive_parked=True)

    def plan(self, accounts: Sequence[str] = (), should_stop: StopCheck = never) -> RunPlan:
        """The configured sources of `accounts` (default: the harness's account)."""
        accounts = tuple(accounts) or (self.account,)
        return self.planner().plan(accounts, [self.region], self.kinds, self.scopes, should_stop=should_stop)

    def audit(self, accounts: Sequence[str] = (), should_stop: StopCheck = never) -> RunSummary:
        """Plan and audit, as an entry point does (the clock where it is)."""
        return self.audit_step().run(self.plan(accounts, should_stop), should_stop)

    def run(self, advance: timedelta = timedelta(minutes=5)) -> RunSummary:
        self.clock.advance(advance)
        return self.audit()
