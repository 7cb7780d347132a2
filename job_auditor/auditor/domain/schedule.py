"""What earlier runs left of each source, and the rules the planner reads it with: which source starts
first (the least recently audited), how stale the stalest one is, and which known sources fell out of
the configuration (orphans) and why. Pure; no I/O.

One record per source (and per discovered scope) lives in the state table's AUDIT partition; the
planner reads them all with one Query at the start of a run.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.jobs import JOB_KINDS, OrphanReason, Source

# Sorts before any audit: a source (or account) no run has audited yet goes first.
_NEVER = datetime.min.replace(tzinfo=UTC)


class AuditRecord(NamedTuple):
    """What the state table holds of one source, or of one discovered scope (an account, region and
    kind whose sources are its knowledge bases), from earlier runs."""

    key: str
    account: str
    region: str
    job_kind: str
    scope_ids: tuple[str, ...] = ()
    # A discovered scope's record, not a source's.
    is_scope: bool = False
    # Where the source's window stands (None: no run of it has committed fully yet).
    checkpoint: Checkpoint | None = None
    # When a run first tried it (audit, or a scope's discovery), whatever came of it. None: never.
    first_attempted_at: datetime | None = None
    # When the latest run that audited it started, and the latest whose audit of it was not cut short
    # by the time budget (its turn: the fair order's key; a source stopped early keeps its place).
    last_started_at: datetime | None = None
    last_turn_at: datetime | None = None
    # A scope's record: its knowledge bases have been enumerated (a knowledge base found later is new).
    enumerated: bool = False
    # The source left the audit and was wound down (no tracked job, no claim left): the reason.
    retired: str | None = None
    # Written by a version that kept the checkpoint (and a scope's mark) in an item of its own.
    legacy: bool = False

    @property
    def attempted(self) -> bool:
        return self.first_attempted_at is not None or self.checkpoint is not None

    def source(self) -> Source | None:
        """The source this record names; None for a scope's record or a kind no longer registered."""
        spec = JOB_KINDS.get(self.job_kind)
        if spec is None or self.is_scope:
            return None
        return Source(self.account, self.region, spec, self.scope_ids)


def record_of(
    source: Source,
    *,
    checkpoint: Checkpoint | None = None,
    first_attempted_at: datetime | None = None,
    last_started_at: datetime | None = None,
    last_turn_at: datetime | None = None,
    enumerated: bool = False,
) -> AuditRecord:
    """A record naming `source` (a scope's when it is unscoped and its kind discovered)."""
    return AuditRecord(
        source.key,
        source.account,
        source.region,
        source.spec.id,
        source.scope_ids,
        is_scope=bool(source.spec.discovery) and not source.scope_ids,
        checkpoint=checkpoint,
        first_attempted_at=first_attempted_at,
        last_started_at=last_started_at,
        last_turn_at=last_turn_at,
        enumerated=enumerated,
    )


class Orphan(NamedTuple):
    """A known source this run's expansion does not hold, and why."""

    source: Source
    reason: OrphanReason


def fair_order(sources: Sequence[Source], records: Mapping[str, AuditRecord]) -> list[Source]:
    """The least recently audited first: sources no run has had its turn at yet, then by when their
    latest turn started, oldest first; otherwise as planned. A run the time budget cuts short leaves
    the sources it did not start, and those it stopped inside, at the front of the next run's order,
    so none starves."""

    def age_key(numbered: tuple[int, Source]) -> tuple[datetime, int]:
        number, source = numbered
        record = records.get(source.key)
        return (record.last_turn_at if record and record.last_turn_at else _NEVER, number)

    return [source for _, source in sorted(enumerate(sources), key=age_key)]


def account_order(accounts: Sequence[str], records: Iterable[AuditRecord]) -> list[str]:
    """Accounts whose stalest source is the least recently audited first (an account with a source
    never audited, or none known, first), so a planner that runs out of time before expanding every
    account leaves a different tail each run."""
    stalest: dict[str, datetime] = {}
    for record in records:
        if record.is_scope or record.retired:
            continue
        last = record.last_turn_at or _NEVER
        stalest[record.account] = min(stalest.get(record.account, last), last)

    def key(numbered: tuple[int, str]) -> tuple[datetime, int]:
        number, account = numbered
        return (stalest.get(account, _NEVER), number)

    return [account for _, account in sorted(enumerate(accounts), key=key)]


def source_age(record: AuditRecord | None, now: datetime) -> timedelta:
    """How far behind a source's audit is: since the start of its latest fully committed audit (its
    checkpoint), else since its first attempt; zero for a source no run has attempted yet."""
    if record is None:
        return timedelta(0)
    since = record.checkpoint.last_run_started_at if record.checkpoint else record.first_attempted_at
    return max(timedelta(0), now - since) if since is not None else timedelta(0)


def stalest_age(sources: Iterable[Source], records: Mapping[str, AuditRecord], now: datetime) -> timedelta:
    """The largest `source_age` over `sources` (zero for none)."""
    return max((source_age(records.get(s.key), now) for s in sources), default=timedelta(0))
