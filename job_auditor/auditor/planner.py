"""Plan a run: accounts x regions x kinds (with the configured scopes, and discovery where a kind's
sources are its knowledge bases) -> a frozen RunPlan that the audit step consumes.

The plan holds what the run will audit and what it knew before it began: the sources in order, each
discovered scope with whether it had been audited before this run (read before anything of this run
marks it), the discovery failures (as failed source summaries), how many accounts were expanded, why
the organization's accounts could not be listed, and whether the time budget stopped the expansion.
A change to which sources a run audits, or in which order, is a change here.

No boto3 here: discovery goes through the JobApi port, the scope marks through the StateStore port.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.ports import JobApi, SourceError, StateStore, StopCheck, never
from job_auditor.auditor.summary import SourceSummary, failure_reason

logger = logging.getLogger(__name__)

# Kind id -> configured scope ids (knowledge bases; knowledge base and data source), as settings has it.
ConfiguredScopes = Mapping[str, Sequence[tuple[str, ...]]]


@dataclass(frozen=True)
class ScopeMark:
    """A discovered scope (an account, region and kind whose sources are its knowledge bases), and
    whether it had been audited before this run. Only the first deployment's baseline is silent: a
    knowledge base that appears in a scope audited before is new, and its jobs are announced."""

    scope: Source
    audited_before: bool


@dataclass(frozen=True)
class RunPlan:
    """What one run audits, computed before it audits anything."""

    # In the order they are started.
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

    @cached_property
    def marks(self) -> Mapping[str, bool]:
        """Scope key -> whether it had been audited before this run."""
        return {mark.scope.key: mark.audited_before for mark in self.scopes}

    def audited_before(self, source: Source) -> bool:
        """Whether `source`'s scope had been audited before this run (False for a kind without
        discovery, whose first run is its deployment's baseline)."""
        return bool(source.spec.discovery) and self.marks.get(source.unscoped.key, False)

    @property
    def empty_scopes(self) -> tuple[ScopeMark, ...]:
        """The scopes none of the plan's sources is in (no knowledge base found)."""
        used = {s.unscoped.key for s in self.sources if s.spec.discovery}
        return tuple(mark for mark in self.scopes if mark.scope.key not in used)


@dataclass
class _Expansion:
    """One account's part of a plan."""

    sources: list[Source] = field(default_factory=list)
    scopes: list[ScopeMark] = field(default_factory=list)
    failures: list[SourceSummary] = field(default_factory=list)


class Planner:
    """Expands the configuration into a RunPlan, on the job API (discovery) and the state store (the
    scope marks)."""

    def __init__(self, job_api: JobApi, store: StateStore) -> None:
        self._api = job_api
        self._store = store

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
    ) -> RunPlan:
        """Every account's sources, in account order: a kind with a scope gets one source per
        knowledge base (and data source), configured or discovered. A region whose scope cannot be
        discovered (denied, throttled, a malformed or endless listing) becomes a failed summary
        instead of stopping the others; so does an account that cannot be expanded at all.

        `account_concurrency` accounts are expanded side by side (each account's regions in turn, so
        one account-region sees one discovery call at a time). Past the first account, none is
        started once `should_stop()` is true."""
        region_list, kind_list = tuple(regions), tuple(kinds)

        def expand(numbered: tuple[int, str]) -> _Expansion | None:
            number, account = numbered
            # Discovery lists each account's scopes: with many accounts it can take the budget.
            if number and should_stop():
                return None
            return self._expand_account(account, region_list, kind_list, configured_scopes)

        workers = max(1, min(account_concurrency, len(accounts)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="plan") as pool:
            expansions = [e for e in pool.map(expand, enumerate(accounts)) if e is not None]
        if len(expansions) < len(accounts):
            logger.warning(
                "time budget reached while expanding accounts; the rest wait for the next run",
                extra={"expanded": len(expansions), "accounts": len(accounts)},
            )
        return RunPlan(
            sources=tuple(s for e in expansions for s in e.sources),
            scopes=tuple(m for e in expansions for m in e.scopes),
            failures=tuple(f for e in expansions for f in e.failures),
            accounts=len(expansions),
            account_listing_error=account_listing_error,
            stopped_early=len(expansions) < len(accounts),
        )

    def resume(self, sources: Sequence[Source], marks: Mapping[str, bool]) -> RunPlan:
        """A plan for sources planned by another invocation (a fan-out batch's), with the scope marks
        it read (a mark it did not carry is read now)."""
        scopes: dict[str, ScopeMark] = {}
        for source in sources:
            key = source.unscoped.key
            if source.spec.discovery and key not in scopes:
                known = marks.get(key)
                audited = self._audited_before(source.unscoped) if known is None else bool(known)
                scopes[key] = ScopeMark(source.unscoped, audited)
        return RunPlan(sources=tuple(sources), scopes=tuple(scopes.values()))

    # -- one account ----------------------------------------------------------------------------
    def _expand_account(
        self,
        account: str,
        regions: Sequence[str],
        kinds: Sequence[str],
        configured_scopes: ConfiguredScopes,
    ) -> _Expansion:
        expansion = _Expansion()
        try:
            for region in regions:
                for kind_id in kinds:
                    scope = Source(account, region, JOB_KINDS[kind_id])
                    self._expand_scope(scope, configured_scopes, expansion)
        except Exception as exc:  # one account (its role, its session) must not stop the others
            logger.error("account discovery failed", extra={"account": account}, exc_info=True)
            failed = SourceSummary(account, "", "", account, error=f"InternalError: {exc}")
            return _Expansion(failures=[failed])
        return expansion

    def _expand_scope(self, scope: Source, configured_scopes: ConfiguredScopes, into: _Expansion) -> None:
        """A kind without discovery is one source; one with discovery, one per scope found, and its
        scope's mark (read now: before anything of this run marks it)."""
        kind = scope.spec
        if not kind.discovery:
            into.sources.append(scope)
            return
        try:
            scope_ids = self._scope_ids(scope, configured_scopes.get(kind.id, ()))
            mark = ScopeMark(scope, self._audited_before(scope))
        except Exception as exc:  # one region's discovery must not stop the run
            error = failure_reason(exc)
            logger.error(
                "scope discovery failed",
                extra={"source": scope.key, "error": error},
                exc_info=not isinstance(exc, SourceError),
            )
            into.failures.append(SourceSummary.of(scope, error))
            return
        into.scopes.append(mark)
        into.sources.extend(Source(scope.account, scope.region, kind, ids) for ids in scope_ids)

    def _audited_before(self, scope: Source) -> bool:
        return self._store.load_checkpoint(scope) is not None

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
