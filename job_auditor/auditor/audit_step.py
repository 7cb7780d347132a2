"""Audit a RunPlan: its sources, several at once, within the time budget; then mark its scopes.

The one audit path of every entry point: the direct handler and `job-auditor run --once` audit a
whole plan, a fan-out batch audits each of its items as a plan of its own (its sources, with the
scope marks the Plan step read).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from job_auditor.auditor.domain.checkpoint import advance
from job_auditor.auditor.domain.events import iso
from job_auditor.auditor.domain.jobs import Source
from job_auditor.auditor.planner import RunPlan, ScopeMark
from job_auditor.auditor.ports import StateStore, StopCheck, never
from job_auditor.auditor.source_auditor import SourceAuditor
from job_auditor.auditor.summary import RunSummary, SourceSummary, failure_reason

logger = logging.getLogger(__name__)

# Sources share nothing (their own job items, checkpoints and API calls), so several are audited at
# once: a run lasts about as long as its slowest source, not the sum of them.
SOURCE_CONCURRENCY = 4


class AuditStep:
    """Runs a plan's sources through one SourceAuditor, `concurrency` at a time."""

    def __init__(
        self,
        auditor: SourceAuditor,
        store: StateStore,
        clock: Callable[[], datetime],
        concurrency: int = SOURCE_CONCURRENCY,
    ) -> None:
        self._auditor = auditor
        self._store = store
        self._clock = clock
        self._concurrency = concurrency

    def run(self, plan: RunPlan, should_stop: StopCheck = never) -> RunSummary:
        """Audit every source of `plan`; one failing source does not stop the others, and none is
        started once `should_stop()` is true (it waits for the next run). Then mark the plan's scopes
        audited. The summary lists the audited sources, the marks that failed, then the plan's
        discovery failures."""
        summary = RunSummary(
            started_at=iso(self._clock()) or "",
            accounts=plan.accounts,
            account_listing_error=plan.account_listing_error,
            stopped_early=plan.stopped_early,
        )

        self._auditor.take_starts(plan.sources, [mark.scope.key for mark in plan.scopes], should_stop)

        def audit(source: Source) -> SourceSummary | None:
            if should_stop():
                return None
            return self._auditor.audit(source, should_stop, scope_audited_before=plan.audited_before(source))

        workers = max(1, min(self._concurrency, len(plan.sources)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="source") as pool:
            results = list(pool.map(audit, plan.sources))
        for source, result in zip(plan.sources, results, strict=True):
            if result is None:
                summary.not_started.append(source.key)
            else:
                summary.sources.append(result)
            summary.stopped_early = summary.stopped_early or result is None or result.stopped
        if summary.not_started:
            logger.warning("time budget reached; remaining sources wait for the next run")
        summary.sources += self.mark_scopes(plan.scopes)
        summary.sources += plan.failures
        return summary

    def mark_scopes(self, scopes: Iterable[ScopeMark]) -> list[SourceSummary]:
        """A scope whose knowledge bases were enumerated has been audited: a knowledge base that
        appears in it later is new, and its jobs are announced. Marked even when it had none yet;
        only scopes not audited before are written. A mark that cannot be written is a failed summary
        (retried by the next run; nothing is lost meanwhile)."""
        failures: list[SourceSummary] = []
        for mark in scopes:
            if mark.audited_before:
                continue
            scope = mark.scope
            try:
                self._store.save_checkpoint(scope, advance(None, self._clock()))
            except Exception as exc:
                error = failure_reason(exc)
                logger.error("could not mark scope audited", extra={"source": scope.key, "error": error})
                failures.append(SourceSummary.of(scope, error))
        return failures
