"""In-memory fakes of the audit use case's ports: a job control plane, a state store that enforces the
same conditions as the DynamoDB adapter and can fail any write, and recording publishers that can
refuse. Any unit test can build the planner and the source auditor on them; the simulator and moto
prove the adapters."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from job_auditor.auditor.adapters.state_store import explain_claim_failure
from job_auditor.auditor.audit_step import AuditStep
from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.jobs import JobState, ObservedJob, Source
from job_auditor.auditor.domain.sweep import SweepProgress
from job_auditor.auditor.planner import Planner, RunPlan
from job_auditor.auditor.ports import (
    AnnouncedStart,
    ClaimResult,
    LastAudit,
    Listing,
    ListingPage,
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
        self._call(step.list_method, None, "/".join((scope.key, *parent_ids)))
        if parent_ids:
            return list(self.data_sources.get((scope.account, scope.region, parent_ids[-1]), []))
        return list(self.knowledge_bases.get((scope.account, scope.region), []))

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
    attempts: int = 0

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
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    history: dict[str, Transition] = field(default_factory=dict)
    parked_transitions: dict[str, tuple[Transition, str]] = field(default_factory=dict)
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
    def load_checkpoint(self, source: Source) -> Checkpoint | None:
        self._op("load_checkpoint")
        return self.checkpoints.get(source.key)

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
            states = [i.state for (k, _, _), i in self.items.items() if k == source.key]
        return sorted((s for s in states if s.tracked(source.spec)), key=lambda s: s.created_at)

    # -- writes ---------------------------------------------------------------------------------
    def save_checkpoint(self, source: Source, checkpoint: Checkpoint) -> None:
        self._op("save_checkpoint")
        with self._lock:
            old = self.checkpoints.get(source.key)
            if old is None or old.last_run_started_at < checkpoint.last_run_started_at:
                self.checkpoints[source.key] = checkpoint

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
            item = self.items.get(self._key(source, state.job_id, state.created_at))
            if item is not None and item.state.sequence == state.sequence and item.pending is None:
                item.state = replace(item.state, missing_checks=item.state.missing_checks + 1)

    def record_audit(self, source: Source, audit: LastAudit) -> None:
        self._op("record_audit")
        with self._lock:
            old = self.audits.get(source.key)
            if old is None or old.started_at <= audit.started_at:
                self.audits[source.key] = audit

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

    def reclaim_expired(self, source: Source, now: datetime, lease_until: datetime) -> list[Transition]:
        self._op("reclaim_expired")
        taken = []
        with self._lock:
            for item in self.items.values():
                if item.source.key != source.key or item.pending is None:
                    continue
                if item.lease_until is not None and item.lease_until < now:
                    item.lease_until = lease_until
                    taken.append(item.pending)
        return taken

    def release(self, transitions: Sequence[Transition]) -> dict[str, int]:
        attempts: dict[str, int] = {}
        for t in transitions:
            self._op("release")
            with self._lock:
                item = self._item_of(t)
                if item is None or item.pending is None or item.pending.event_id != t.event_id:
                    continue
                item.lease_until = datetime.min.replace(tzinfo=UTC)
                item.attempts += 1
                attempts[t.event_id] = item.attempts
        return attempts

    def park(self, transitions: Sequence[Transition], reason: str, now: datetime) -> None:
        for t in transitions:
            self._op("park")
            with self._lock:
                self.parked_transitions[t.event_id] = (t, reason)
            self._clear(t)

    def finalize(self, transitions: Sequence[Transition], now: datetime) -> int:
        cleared = 0
        for t in transitions:
            self._op("finalize")
            cleared += self._clear(t)
        self._op("history")
        with self._lock:
            for t in transitions:
                self.history[t.event_id] = t
        return cleared

    def _clear(self, t: Transition) -> bool:
        with self._lock:
            item = self._item_of(t)
            if item is None or item.pending is None or item.pending.event_id != t.event_id:
                return False
            item.pending, item.lease_until, item.attempts = None, None, 0
            item.state, item.last_event_id = t.as_state(), t.event_id
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
@dataclass
class RecordingPublisher:
    """Records every transition it accepts (repeats included); `refuse(t)` returns an error code to
    refuse one."""

    name: str = "recording"
    refuse: Callable[[Transition], str | None] = lambda _: None
    delivered: list[Transition] = field(default_factory=list)

    def publish(self, transitions: Sequence[Transition]) -> PublishResult:
        result = PublishResult(requests=1)
        for t in transitions:
            code = self.refuse(t)
            if code is None:
                result.delivered.append(t)
            else:
                result.failed.append(t)
                result.errors[code] = result.errors.get(code, 0) + 1
        self.delivered.extend(result.delivered)
        return result

    def statuses(self, job_id: str) -> list[tuple[str | None, str, str]]:
        return [(t.previous_status, t.status, t.type) for t in self.delivered if t.job.job_id == job_id]


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
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    # A start feed (discovery=cloudtrail), if the test wires one.
    feed: FakeStartFeed | None = None

    def __post_init__(self) -> None:
        self.api = FakeJobApi(self.clock)

    def source_auditor(self) -> SourceAuditor:
        return SourceAuditor(self.api, self.store, [self.publisher], self.policy, self.clock, self.feed)

    def planner(self) -> Planner:
        return Planner(self.api, self.store)

    def audit_step(self) -> AuditStep:
        return AuditStep(self.source_auditor(), self.store, self.clock)

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
