"""Plan a run: accounts x regions x kinds (with the configured scopes, and discovery where a kind's
sources are its knowledge bases) -> a frozen RunPlan that the audit step consumes.

The plan holds what the run will audit and what it knew before it began: the sources in the order
they start (the least recently audited first), what earlier runs left of each (its audit record: the
checkpoint, the first attempt), each discovered scope with whether it had been audited before this run,
the discovery failures (as failed source summaries), the known sources that fell out of this run's
expansion (orphans, with the reason), the kinds skipped where they are not offered, how many accounts
were expanded, why the organization's accounts could not be listed, and whether the time budget
stopped the expansion. A change to which sources a run audits, or in which order, is a change here.

No boto3 here: discovery goes through the JobApi port, the records through the StateStore port, and
where a kind is offered is `job_auditor.availability`'s rule (botocore's endpoint data, read without
a client or a call), the one synth uses: a kind not offered is never planned, a counted skip.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from types import MappingProxyType
from typing import NamedTuple

from job_auditor import availability
from job_auditor.auditor.domain.jobs import (
    ACCOUNT_REMOVED,
    CONFIGURATION_CHANGED,
    JOB_KINDS,
    SCOPE_DELETED,
    JobKindSpec,
    OrphanReason,
    Source,
)
from job_auditor.auditor.domain.schedule import (
    AuditRecord,
    Orphan,
    account_order,
    fair_order,
    record_of,
    stalest_age,
)
from job_auditor.auditor.ports import JobApi, SourceError, StateStore, StopCheck, never
from job_auditor.auditor.summary import SourceSummary, failure_reason

logger = logging.getLogger(__name__)

# Kind id -> configured scope ids (knowledge bases; knowledge base and data source), as settings has it.
ConfiguredScopes = Mapping[str, Sequence[tuple[str, ...]]]
# Whether a job kind is offered in a region: `availability.offered` (botocore's endpoint data, the rule
# synth uses too), unless a test states its own world.
KindOffered = Callable[[JobKindSpec, str], bool]


# NamedTuples where a record is only read; a dataclass compiles its generated methods as its module is
# imported, at every cold start (docs/architecture.md).
class ScopeMark(NamedTuple):
    """A discovered scope (an account, region and kind whose sources are its knowledge bases), and
    whether it had been audited before this run. Only the first deployment's baseline is silent: a
    knowledge base that appears in a scope audited before is new, and its jobs are announced."""

    scope: Source
    audited_before: bool
    # Its record in the AUDIT partition already says so (else the audit step writes it).
    recorded: bool = False


class _PlanFields(NamedTuple):
    """RunPlan's fields."""

    # In the order they are started: the least recently audited first.
    sources: tuple[Source, ...] = ()
    # Every scope whose knowledge bases were enumerated (found empty or not), in discovery order.
    scopes: tuple[ScopeMark, ...] = ()
    # Scopes (and accounts) that could not be discovered, as failed summaries.
    failures: tuple[SourceSummary, ...] = ()
    # Accounts expanded, and why the organization's accounts could not be listed.
    accounts: int = 1
    account_listing_error: str | None = None
    # The time budget ran out before every account was expanded: the rest wait for the next run.
    stopped_early: bool = False
    # Source (or scope) key -> what earlier runs left of it: the checkpoint, the first attempt. A
    # knowledge base not audited yet carries its scope's first attempt when the scope was attempted
    # (its discovery failed) but never enumerated.
    records: Mapping[str, AuditRecord] = MappingProxyType({})
    # Scopes whose discovery failed: attempted all the same (their first attempt is recorded).
    failed_scopes: tuple[Source, ...] = ()
    # Known sources outside this run's expansion: wound down (claims published, tracked jobs got a
    # final Get) after the planned sources.
    orphans: tuple[Orphan, ...] = ()
    # Reason -> (kind, region) pairs left out of the plan (a kind not offered in a region).
    skipped: Mapping[str, int] = MappingProxyType({})
    # The stalest planned source's age (since its last fully committed audit), in seconds.
    stalest_age_seconds: int = 0


class RunPlan(_PlanFields):
    """What one run audits, computed before it audits anything. A NamedTuple subclassed, so that an
    instance has a dictionary to cache its scope marks in."""

    @cached_property
    def marks(self) -> Mapping[str, bool]:
        """Scope key -> whether it had been audited before this run."""
        return {mark.scope.key: mark.audited_before for mark in self.scopes}

    def audited_before(self, source: Source) -> bool:
        """Whether `source`'s scope had been audited before this run (False for a kind without
        discovery, whose first run is its deployment's baseline)."""
        return bool(source.spec.discovery) and self.marks.get(source.unscoped.key, False)

    def record(self, source: Source) -> AuditRecord | None:
        """What earlier runs left of `source` (None: no run has attempted it)."""
        return self.records.get(source.key)

    @property
    def empty_scopes(self) -> tuple[ScopeMark, ...]:
        """The scopes none of the plan's sources is in (no knowledge base found)."""
        used = {s.unscoped.key for s in self.sources if s.spec.discovery}
        return tuple(mark for mark in self.scopes if mark.scope.key not in used)


@dataclass(eq=False)
class _Expansion:
    """One account's part of a plan."""

    sources: list[Source] = field(default_factory=list)
    scopes: list[Source] = field(default_factory=list)
    failed_scopes: list[Source] = field(default_factory=list)
    failures: list[SourceSummary] = field(default_factory=list)
    # The account itself could not be expanded (nothing of it is known this run).
    failed: bool = False


class _Expanded(NamedTuple):
    """What the expansion covered: the test an orphan's reason is read from."""

    accounts: frozenset[str]
    listed_accounts: frozenset[str] | None
    regions: frozenset[str]
    kinds: frozenset[str]
    configured_scopes: ConfiguredScopes
    offered: KindOffered
    # The keys of the sources expanded and of the scopes discovered.
    keys: frozenset[str]

    def reason(self, record: AuditRecord) -> OrphanReason | None:
        """Why a known source is outside the expansion; None where this run cannot tell (its account
        was not listed or not expanded, its discovery failed) or it is planned."""
        if record.key in self.keys:
            return None
        if self.listed_accounts is not None and record.account not in self.listed_accounts:
            return ACCOUNT_REMOVED
        if record.account not in self.accounts:
            return None  # not expanded this run (time budget, a failed account, an unlisted one)
        spec = JOB_KINDS[record.job_kind]
        configured = record.region in self.regions and spec.id in self.kinds
        if not configured or not self.offered(spec, record.region):
            return CONFIGURATION_CHANGED
        if len(record.scope_ids) != len(spec.discovery) or not self._under_configured(record):
            return CONFIGURATION_CHANGED
        scope = Source(record.account, record.region, spec).key
        return SCOPE_DELETED if scope in self.keys else None

    def _under_configured(self, record: AuditRecord) -> bool:
        prefixes = self.configured_scopes.get(record.job_kind) or [()]
        return any(record.scope_ids[: len(prefix)] == tuple(prefix) for prefix in prefixes)


class Planner:
    """Expands the configuration into a RunPlan, on the job API (discovery), the state store (the
    audit records) and a predicate of where each kind is offered."""

    def __init__(
        self,
        job_api: JobApi,
        store: StateStore,
        offered: KindOffered = availability.offered,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = job_api
        self._store = store
        self._offered = offered
        self._clock = clock

    def plan(
        self,
        accounts: Sequence[str],
        regions: Iterable[str],
        kinds: Iterable[str],
        configured_scopes: ConfiguredScopes,
        *,
        should_stop: StopCheck = never,
        account_concurrency: int = 1,
        account_listing_error: str | None = None,
        find_orphans: bool = True,
    ) -> RunPlan:
        """Every account's sources: a kind with a scope gets one source per knowledge base (and data
        source), configured or discovered. A region whose scope cannot be discovered (denied,
        throttled, a malformed or endless listing) becomes a failed summary instead of stopping the
        others; so does an account that cannot be expanded at all. A kind not offered in a region is
        left out, counted.

        Accounts are expanded the one with the least recently audited source first,
        `account_concurrency` side by side (each account's regions in turn, so one account-region sees
        one discovery call at a time). Past the first account, none is started once `should_stop()`
        is true. The sources start the least recently audited first. With `find_orphans` (a run of
        the deployed configuration), the known sources outside this expansion are wound down."""
        now = self._clock()
        known = self._known()
        region_list, kind_list = tuple(regions), tuple(kinds)
        offered, skipped = self._offered_pairs(region_list, kind_list)
        ordered_accounts = account_order(accounts, (known or {}).values())

        def expand(numbered: tuple[int, str]) -> tuple[str, _Expansion] | None:
            number, account = numbered
            # Discovery lists each account's scopes: with many accounts it can take the budget.
            if number and should_stop():
                return None
            return account, self._expand_account(account, offered, configured_scopes)

        workers = max(1, min(account_concurrency, len(accounts)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="plan") as pool:
            done = [e for e in pool.map(expand, enumerate(ordered_accounts)) if e is not None]
        if len(done) < len(accounts):
            logger.warning(
                "time budget reached while expanding accounts; the rest wait for the next run",
                extra={"expanded": len(done), "accounts": len(accounts)},
            )
        expansions = [e for _, e in done]
        sources = [s for e in expansions for s in e.sources]
        scopes = [s for e in expansions for s in e.scopes]
        failed_scopes = [s for e in expansions for s in e.failed_scopes]
        expanded_keys = frozenset(s.key for s in [*sources, *scopes])
        records, unreadable = self._records(known or {}, [*sources, *scopes, *failed_scopes])
        failures = [f for e in expansions for f in e.failures]
        if unreadable:
            # Without its record (or its scope's) a source could be taken for a first deployment.
            error, keys = unreadable
            lost = [s for s in sources if s.key in keys or s.unscoped.key in keys]
            failures += [SourceSummary.of(s, error) for s in lost]
            sources = [s for s in sources if s not in lost]
            scopes = [s for s in scopes if s.key not in keys]
        expanded = _Expanded(
            accounts=frozenset(a for a, e in done if not e.failed),
            listed_accounts=None if account_listing_error else frozenset(accounts),
            regions=frozenset(region_list),
            kinds=frozenset(kind_list),
            configured_scopes=configured_scopes,
            offered=self._offered,
            keys=expanded_keys,
        )
        planned = fair_order(sources, records)
        return RunPlan(
            sources=tuple(planned),
            scopes=tuple(_mark(scope, records.get(scope.key)) for scope in scopes),
            failures=tuple(failures),
            accounts=len(done),
            account_listing_error=account_listing_error,
            stopped_early=len(done) < len(accounts),
            records=records,
            failed_scopes=tuple(failed_scopes),
            orphans=tuple(_orphans(known, expanded)) if known is not None and find_orphans else (),
            skipped={availability.NOT_OFFERED: skipped} if skipped else {},
            stalest_age_seconds=int(stalest_age(planned, records, now).total_seconds()),
        )

    def resume(
        self,
        sources: Sequence[Source],
        marks: Mapping[str, bool],
        records: Mapping[str, AuditRecord] | None = None,
        orphans: Sequence[Orphan] = (),
    ) -> RunPlan:
        """A plan for sources planned by another invocation (a fan-out batch's), with the scope marks
        and audit records it read (a mark it did not carry is read now; so are the records, if it
        carried none), and the orphans it found."""
        missing = [s.unscoped for s in sources if s.spec.discovery and s.unscoped.key not in marks]
        wanted = list(missing) if records is not None else [*sources, *missing]
        unique = list({s.key: s for s in wanted}.values())
        read = self._store.read_audit_records(unique) if unique else {}
        scopes: dict[str, ScopeMark] = {}
        for source in sources:
            key = source.unscoped.key
            if source.spec.discovery and key not in scopes:
                known = marks.get(key)
                scopes[key] = (
                    _mark(source.unscoped, read.get(key))
                    if known is None
                    else ScopeMark(source.unscoped, bool(known), recorded=True)
                )
        carried = (
            dict(records) if records is not None else {s.key: read[s.key] for s in sources if s.key in read}
        )
        return RunPlan(
            sources=tuple(sources), scopes=tuple(scopes.values()), records=carried, orphans=tuple(orphans)
        )

    # -- records --------------------------------------------------------------------------------
    def _known(self) -> dict[str, AuditRecord] | None:
        """Every record, with one Query; None when it cannot be read (each planned source's record is
        read on its own then, and nothing is taken for an orphan this run)."""
        try:
            return self._store.load_audit_records()
        except Exception as exc:  # the run goes on without orphans; its sources' records are read one by one
            logger.error("audit records not read", extra={"error": failure_reason(exc)})
            return None

    def _records(
        self, known: Mapping[str, AuditRecord], wanted: Sequence[Source]
    ) -> tuple[dict[str, AuditRecord], tuple[str, frozenset[str]] | None]:
        """The records of the planned sources and scopes: as the Query read them, and read again,
        strongly consistent, where it had none (a source never attempted, or one so recent the Query
        missed it: taking it for never attempted would silence its baseline) or one an earlier version
        wrote (its checkpoint is in an item of its own). A knowledge base not attempted yet carries
        its scope's first attempt. Also, should the second read fail, why, and the keys it left unread."""
        fresh = [s for s in wanted if (r := known.get(s.key)) is None or r.legacy]
        records = {s.key: known[s.key] for s in wanted if s.key in known}
        unreadable = None
        try:
            records.update(self._store.read_audit_records(fresh) if fresh else {})
        except Exception as exc:  # those sources wait for the next run
            error = failure_reason(exc)
            logger.error(
                "audit records not read: their sources wait for the next run", extra={"error": error}
            )
            unreadable = (error, frozenset(s.key for s in fresh))
        for source in wanted:
            if source.spec.discovery and source.scope_ids:
                inherited = _from_scope(records.get(source.key), records.get(source.unscoped.key), source)
                if inherited is not None:
                    records[source.key] = inherited
        return records, unreadable

    # -- one account ----------------------------------------------------------------------------
    def _offered_pairs(
        self, regions: Sequence[str], kinds: Sequence[str]
    ) -> tuple[dict[str, tuple[JobKindSpec, ...]], int]:
        """Region -> the configured kinds offered there; and how many (kind, region) pairs are not
        (each logged once per process)."""
        split = availability.plan_offered([JOB_KINDS[k] for k in kinds], regions, self._offered)
        offered = {
            region: tuple(JOB_KINDS[k] for k in kept) for region, kept in split.kinds_by_region.items()
        }
        return offered, len(split.not_offered)

    def _expand_account(
        self,
        account: str,
        offered: Mapping[str, Sequence[JobKindSpec]],
        configured_scopes: ConfiguredScopes,
    ) -> _Expansion:
        expansion = _Expansion()
        try:
            for region, specs in offered.items():
                for spec in specs:
                    self._expand_scope(Source(account, region, spec), configured_scopes, expansion)
        except Exception as exc:  # one account (its role, its session) must not stop the others
            logger.error("account discovery failed", extra={"account": account}, exc_info=True)
            failed = SourceSummary(account, "", "", account, error=f"InternalError: {exc}")
            return _Expansion(failures=[failed], failed=True)
        return expansion

    def _expand_scope(self, scope: Source, configured_scopes: ConfiguredScopes, into: _Expansion) -> None:
        """A kind without discovery is one source; one with discovery, one per scope found."""
        kind = scope.spec
        if not kind.discovery:
            into.sources.append(scope)
            return
        try:
            scope_ids = self._scope_ids(scope, configured_scopes.get(kind.id, ()))
        except Exception as exc:  # one region's discovery must not stop the run
            error = failure_reason(exc)
            logger.error(
                "scope discovery failed",
                extra={"source": scope.key, "error": error},
                exc_info=not isinstance(exc, SourceError),
            )
            into.failures.append(SourceSummary.of(scope, error))
            into.failed_scopes.append(scope)
            return
        into.scopes.append(scope)
        into.sources.extend(Source(scope.account, scope.region, kind, ids) for ids in scope_ids)

    def _scope_ids(self, scope: Source, configured: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
        """Every full set of scope ids under the configured ones (each item discovered down to the
        kind's last level; nothing configured: everything discovered), each once."""
        found: list[tuple[str, ...]] = []
        for prefix in configured or [()]:
            found.extend(self._discover(scope, prefix))
        return list(dict.fromkeys(found))

    def _discover(self, scope: Source, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
        steps = scope.spec.discovery
        if len(prefix) >= len(steps):
            return [prefix[: len(steps)]]
        children = self._api.list_scope(scope, steps[len(prefix)], prefix)
        return [ids for child in dict.fromkeys(children) for ids in self._discover(scope, (*prefix, child))]


def _mark(scope: Source, record: AuditRecord | None) -> ScopeMark:
    enumerated = record is not None and record.enumerated
    return ScopeMark(scope, enumerated, recorded=enumerated and record is not None and not record.legacy)


def _from_scope(own: AuditRecord | None, scope: AuditRecord | None, source: Source) -> AuditRecord | None:
    """A knowledge base no run has attempted, in a scope attempted (its discovery failed) but never
    enumerated: the scope's first attempt is its own (its jobs during the outage are news)."""
    if (own is not None and own.attempted) or scope is None or scope.enumerated:
        return None
    if scope.first_attempted_at is None:
        return None
    return (
        own._replace(first_attempted_at=scope.first_attempted_at)
        if own
        else record_of(source, first_attempted_at=scope.first_attempted_at)
    )


def _orphans(known: Mapping[str, AuditRecord], expanded: _Expanded) -> list[Orphan]:
    """The known sources outside this run's expansion that it can tell the reason of."""
    orphans: list[Orphan] = []
    for record in known.values():
        source = record.source()
        if source is None or record.retired:
            continue
        reason = expanded.reason(record)
        if reason is not None:
            orphans.append(Orphan(source, reason))
    if orphans:
        logger.warning(
            "sources outside this run's expansion: winding them down",
            extra={"orphans": {o.source.key: o.reason for o in orphans[:100]}, "count": len(orphans)},
        )
    return orphans
