"""Audit a RunPlan: its sources, several at once, within the time budget, then wind its orphans down;
deliver what they claimed (one outbox per run: `delivery`); then mark its scopes.

The one audit path of every entry point: the direct handler and `job-auditor run --once` audit a
whole plan, a fan-out batch audits each of its items as a plan of its own (its sources, with the
scope marks the Plan step read).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from job_auditor.auditor.delivery import Outbox, deliver
from job_auditor.auditor.domain.events import iso
from job_auditor.auditor.domain.jobs import Source
from job_auditor.auditor.domain.schedule import Orphan, record_of
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
        *,
        redrive_parked: bool = False,
    ) -> None:
        self._auditor = auditor
        self._store = store
        self._clock = clock
        self._concurrency = concurrency
        self._redrive = redrive_parked

    def new_outbox(self) -> Outbox:
        """An outbox several plans can share (a fan-out batch's items): `run(..., outbox=)`."""
        return self._auditor.new_outbox()

    def run(self, plan: RunPlan, should_stop: StopCheck = never, outbox: Outbox | None = None) -> RunSummary:
        """Audit every source of `plan` (in its order: the least recently audited first), then wind
        down its orphans; one failing source does not stop the others, and none is started once
        `should_stop()` is true (it waits for the next run). Then deliver what they claimed, to every
        channel at once (unless `outbox` is given: its owner delivers it), and re-drive parked
        transitions if this step does; then mark the plan's scopes audited (those whose every source
        was started) and record the attempt of those that could not be discovered. The summary lists
        the audited sources, the marks that failed, then the plan's discovery failures."""
        box = outbox or self.new_outbox()

        def should_stop_claiming() -> bool:
            """The time budget, or the run's outbox holds as many claims as it can deliver in time."""
            return should_stop() or box.full()

        summary = RunSummary(
            started_at=iso(self._clock()) or "",
            accounts=plan.accounts,
            account_listing_error=plan.account_listing_error,
            stopped_early=plan.stopped_early,
            skipped=dict(plan.skipped),
            stalest_age_seconds=plan.stalest_age_seconds,
        )

        self._auditor.take_starts(plan.sources, [mark.scope.key for mark in plan.scopes], should_stop)

        def audit(work: Source | Orphan) -> SourceSummary | None:
            if should_stop_claiming():
                return None
            if isinstance(work, Orphan):
                return self._auditor.wind_down(work, should_stop_claiming, outbox=box)
            return self._auditor.audit(
                work,
                should_stop_claiming,
                scope_audited_before=plan.audited_before(work),
                record=plan.record(work) or record_of(work),
                outbox=box,
            )

        work: list[Source | Orphan] = [*plan.sources, *plan.orphans]
        workers = max(1, min(self._concurrency, len(work)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="source") as pool:
            results = list(pool.map(audit, work))
        for item, result in zip(work, results, strict=True):
            source = item.source if isinstance(item, Orphan) else item
            if result is None:
                summary.not_started.append(source.key)
            elif isinstance(item, Orphan):
                summary.orphans.append(result)
            else:
                summary.sources.append(result)
            summary.stopped_early = summary.stopped_early or result is None or result.stopped
        if outbox is None:
            summary.redriven = deliver(
                box, [*summary.sources, *summary.orphans], redrive_parked=self._redrive
            )
        if summary.not_started:
            logger.warning("time budget reached; remaining sources wait for the next run")
        waiting = set(summary.not_started)
        unstarted = {s.unscoped.key for s in plan.sources if s.key in waiting}
        summary.sources += self.mark_scopes(m for m in plan.scopes if m.scope.key not in unstarted)
        self.record_attempts(plan)
        summary.sources += plan.failures
        return summary

    def mark_scopes(self, scopes: Iterable[ScopeMark]) -> list[SourceSummary]:
        """A scope whose knowledge bases were enumerated, and whose every source was started, has
        been audited: a knowledge base that appears in it later is new, and its jobs are announced.
        Marked even when it had none yet; only scopes whose record does not say so yet are written. A
        mark that cannot be written is a failed summary (retried by the next run; nothing is lost
        meanwhile)."""
        failures: list[SourceSummary] = []
        for mark in scopes:
            if mark.recorded:
                continue
            scope = mark.scope
            try:
                self._store.record_scope(scope, self._clock(), enumerated=True)
            except Exception as exc:
                error = failure_reason(exc)
                logger.error("could not mark scope audited", extra={"source": scope.key, "error": error})
                failures.append(SourceSummary.of(scope, error))
        return failures

    def record_attempts(self, plan: RunPlan) -> None:
        """A scope that could not be discovered was attempted all the same: its first attempt is
        recorded once, so that the knowledge bases found once it can be are caught up from then, not
        baselined silently. A write that fails is tried again by the next run."""
        for scope in plan.failed_scopes:
            record = plan.record(scope)
            if record is not None and record.first_attempted_at is not None:
                continue
            try:
                self._store.record_scope(scope, self._clock(), enumerated=False)
            except Exception as exc:
                logger.warning(
                    "could not record the scope's attempt",
                    extra={"source": scope.key, "error": failure_reason(exc)},
                )
