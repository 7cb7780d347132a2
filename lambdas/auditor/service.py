"""The audit use case: for each source, list -> diff -> claim -> publish -> finalize -> advance.

No boto3 here: everything goes through the ports in `auditor.ports`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from auditor.domain.checkpoint import WindowPlan, advance, plan_window
from auditor.domain.diff import Transition, diff, stuck
from auditor.domain.events import iso
from auditor.domain.jobs import JOB_KINDS, JobState, ObservedJob, Source, StatusCategory
from auditor.ports import JobApi, Publisher, PublishResult, SourceError, StateStore, Stopped

logger = logging.getLogger(__name__)

# Claims are written in chunks; the time budget is checked between chunks.
CLAIM_CHUNK = 50
# Sources share nothing (their own job items, checkpoints and API calls), so several are audited at
# once: a run lasts about as long as its slowest source, not the sum of them.
SOURCE_CONCURRENCY = 4


@dataclass(frozen=True)
class AuditPolicy:
    """The knobs of the checkpoint rule and of claiming."""

    initial_lookback: timedelta
    overlap: timedelta
    recheck_horizon: timedelta
    claim_lease: timedelta
    announce_baseline: bool = False
    # Per job kind; a kind not listed gets 24 h.
    stuck_after: Mapping[str, timedelta] = field(default_factory=dict)
    stuck_repeat: timedelta | None = None
    source_concurrency: int = SOURCE_CONCURRENCY


@dataclass
class SourceSummary:
    """What one run did for one source (returned by the handler, logged, turned into metrics)."""

    source: str
    job_kind: str
    region: str
    window_start: str | None = None
    baseline: bool = False
    pages: int = 0
    api_calls: int = 0
    jobs_listed: int = 0
    jobs_rechecked: int = 0
    jobs_in_flight: int = 0
    transitions: int = 0
    published: int = 0
    recorded_silently: int = 0
    claimed_elsewhere: int = 0
    recovered: int = 0
    publish_failures: int = 0
    stuck_alerts: int = 0
    unknown_statuses: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    transitions_by_status: dict[str, int] = field(default_factory=dict)
    checkpoint_advanced: bool = False
    # The time budget ran out inside this source: what was claimed is published and committed, the
    # rest (and the checkpoint) waits for the next run.
    stopped: bool = False
    error: str | None = None
    duration_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunSummary:
    started_at: str
    sources: list[SourceSummary] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def failed_sources(self) -> list[SourceSummary]:
        return [s for s in self.sources if s.error]

    @property
    def status(self) -> str:
        if self.failed_sources or self.stopped_early:
            return "partial-failure"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "startedAt": self.started_at,
            "stoppedEarly": self.stopped_early,
            "transitions": sum(s.transitions for s in self.sources),
            "published": sum(s.published for s in self.sources),
            "failedSources": [s.source for s in self.failed_sources],
            "sources": [s.as_dict() for s in self.sources],
        }


class Auditor:
    """Runs the audit of sources against the ports it is given."""

    def __init__(
        self,
        job_api: JobApi,
        store: StateStore,
        publishers: Sequence[Publisher],
        policy: AuditPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._api = job_api
        self._store = store
        self._publishers = list(publishers)
        self._policy = policy
        self._clock = clock
        # Per run: whether a scope (account/region/kind) had been audited before this run began.
        self._scope_seen: dict[str, bool] = {}
        self._scope_lock = threading.Lock()

    def sources(
        self, account: str, regions: Iterable[str], kinds: Iterable[str], knowledge_base_ids: Sequence[str]
    ) -> tuple[list[Source], list[SourceSummary]]:
        """Expand the configuration into sources; a region whose knowledge bases cannot be discovered
        becomes a failed summary instead of stopping the others."""
        sources: list[Source] = []
        failures: list[SourceSummary] = []
        for region in regions:
            for kind_id in kinds:
                kind = JOB_KINDS[kind_id]
                if kind.scope_param is None:
                    sources.append(Source(account, region, kind))
                    continue
                try:
                    kb_ids = list(knowledge_base_ids) or self._api.list_knowledge_bases(account, region)
                except SourceError as exc:
                    key = f"{account}/{region}/{kind.id}"
                    logger.error("knowledge base discovery failed", extra={"source": key, "error": str(exc)})
                    failures.append(SourceSummary(key, kind.id, region, error=f"{exc.code}: {exc}"))
                    continue
                sources.extend(Source(account, region, kind, kb) for kb in kb_ids)
        return sources, failures

    def run(self, sources: Sequence[Source], should_stop: Callable[[], bool] = lambda: False) -> RunSummary:
        """Audit every source, several at once; one failing source does not stop the others."""
        summary = RunSummary(started_at=iso(self._clock()) or "")
        self._scope_seen = {}

        def audit(source: Source) -> SourceSummary | None:
            if should_stop():
                return None  # not started: waits for the next run
            return self.audit_source(source, should_stop)

        workers = max(1, min(self._policy.source_concurrency, len(sources)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="source") as pool:
            results = list(pool.map(audit, sources))
        for result in results:
            if result is not None:
                summary.sources.append(result)
            if result is None or result.stopped:
                summary.stopped_early = True
        if any(result is None for result in results):
            logger.warning("time budget reached; remaining sources wait for the next run")
        return summary

    def audit_source(self, source: Source, should_stop: Callable[[], bool] = lambda: False) -> SourceSummary:
        """One source: recover, plan, observe, diff, claim, publish, finalize, advance."""
        started = time.monotonic()
        calls_before = self._api.api_calls(source)
        result = SourceSummary(source.key, source.kind.id, source.region)
        try:
            self._audit(source, result, should_stop)
        except Stopped as exc:
            result.stopped = True
            logger.warning(
                "time budget reached inside a source", extra={"source": source.key, "at": str(exc)}
            )
        except SourceError as exc:
            result.error = f"{exc.code}: {exc}"
            logger.error("source failed", extra={"source": source.key, "error": result.error})
        result.api_calls = self._api.api_calls(source) - calls_before
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result

    def _audit(self, source: Source, result: SourceSummary, should_stop: Callable[[], bool]) -> None:
        run_started = self._clock()
        policy = self._policy
        all_delivered = self._recover(source, result, run_started)

        checkpoint = self._store.load_checkpoint(source)
        in_flight = self._store.load_in_flight(source)
        plan = plan_window(
            checkpoint,
            in_flight,
            run_started,
            initial_lookback=policy.initial_lookback,
            overlap=policy.overlap,
            recheck_horizon=policy.recheck_horizon,
        )
        result.window_start = iso(plan.window_start)
        result.baseline = plan.baseline

        observed, previous = self._observe(source, plan, result, should_stop)

        transitions = self._with_failure_messages(source, diff(source, previous, observed, run_started))
        if not plan.baseline:
            threshold = policy.stuck_after.get(source.kind.id, timedelta(hours=24))
            alerts = stuck(source, previous, observed, run_started, threshold, policy.stuck_repeat)
            result.stuck_alerts = len(alerts)
            transitions += alerts
        result.transitions = len(transitions)
        for transition in transitions:
            status = transition.status
            result.transitions_by_status[status] = result.transitions_by_status.get(status, 0) + 1
            if transition.unknown_status:
                result.unknown_statuses += 1
                logger.warning(
                    "unknown job status recorded and announced",
                    extra={"source": source.key, "job": transition.job.job_id, "status": status},
                )

        if plan.baseline and not policy.announce_baseline and not self._scope_audited_before(source):
            result.recorded_silently = self._store.record_silently(transitions)
        else:
            claimed: list[Transition] = []
            for start in range(0, len(transitions), CLAIM_CHUNK):
                if should_stop():
                    # Claimed so far is published below; the rest is diffed again by the next run.
                    result.stopped = True
                    all_delivered = False
                    transitions = transitions[:start]
                    break
                chunk = transitions[start : start + CLAIM_CHUNK]
                claimed += self._store.claim(chunk, run_started + policy.claim_lease)
            result.claimed_elsewhere = len(transitions) - len(claimed)
            all_delivered = self._deliver(claimed, result) and all_delivered

        seen = {job.job_id for job in observed}
        result.jobs_in_flight = sum(1 for job in observed if not source.kind.is_terminal(job.status))
        result.jobs_in_flight += sum(1 for job in in_flight if job.job_id not in seen)

        if all_delivered:
            self._store.save_checkpoint(source, advance(checkpoint, run_started))
            result.checkpoint_advanced = True
            if plan.baseline and source.knowledge_base_id:
                # Marks the scope as audited: knowledge bases discovered later are announced, not baselined.
                self._store.save_checkpoint(source.scope, advance(None, run_started))

    def _with_failure_messages(self, source: Source, transitions: list[Transition]) -> list[Transition]:
        """A failure without its message is of little use: where the list omits it, Get fills it in."""
        kind = source.kind
        if kind.failure_in_list or kind.failure_field is None:
            return transitions
        out = []
        for t in transitions:
            if kind.category(t.status) == StatusCategory.FAILED and t.job.failure_message is None:
                state = JobState(t.job.job_id, t.job.status, t.job.created_at, t.previous_sequence)
                current = self._api.get_job(source, state)
                if current is not None and current.failure_message:
                    t = replace(t, job=replace(t.job, failure_message=current.failure_message))  # noqa: PLW2901
            out.append(t)
        return out

    def _scope_audited_before(self, source: Source) -> bool:
        """A knowledge base that appears after the first deployment is new: its jobs are announced.
        Only the first deployment's baseline is silent. Decided once per scope and run, under a lock:
        a knowledge base asks before it marks its scope, so a sibling audited concurrently gets the
        answer read before that mark."""
        if source.knowledge_base_id is None:
            return False
        key = source.scope.key
        with self._scope_lock:
            if key not in self._scope_seen:
                self._scope_seen[key] = self._store.load_checkpoint(source.scope) is not None
            return self._scope_seen[key]

    def _observe(
        self, source: Source, plan: WindowPlan, result: SourceSummary, should_stop: Callable[[], bool]
    ) -> tuple[list[ObservedJob], dict[str, JobState]]:
        """List the window and re-check older in-flight jobs; return them with their recorded state."""
        listing = self._api.list_jobs(source, plan.window_start, should_stop)
        result.pages = listing.pages
        result.skipped = dict(listing.skipped)
        observed: list[ObservedJob] = []
        for job in listing.jobs:
            # An API asked for jobs created after the window start may return an older one anyway (the
            # adapter filters the APIs without a time filter itself).
            if job.created_at < plan.window_start:
                if source.kind.time_filter_param:
                    result.skipped["created-before-window"] = (
                        result.skipped.get("created-before-window", 0) + 1
                    )
                    logger.warning(
                        "job older than creationTimeAfter ignored",
                        extra={"source": source.key, "job": job.job_id},
                    )
                continue
            observed.append(job)
        result.jobs_listed = len(observed)

        previous = self._store.load_jobs_since(source, plan.window_start)
        for state in plan.recheck:
            if should_stop():
                raise Stopped(f"{source.key}: time budget reached while re-checking in-flight jobs")
            previous[state.job_id] = state
            current = self._api.get_job(source, state)
            result.jobs_rechecked += 1
            if current is None:
                result.skipped["not-found-on-recheck"] = result.skipped.get("not-found-on-recheck", 0) + 1
                logger.warning(
                    "in-flight job no longer found", extra={"source": source.key, "job": state.job_id}
                )
                continue
            observed.append(current)
        return observed, previous

    def _recover(self, source: Source, result: SourceSummary, now: datetime) -> bool:
        """Publish what a crashed or failed earlier run claimed but did not confirm."""
        expired = self._store.reclaim_expired(source, now, now + self._policy.claim_lease)
        if not expired:
            return True
        result.recovered = len(expired)
        logger.warning("re-publishing claimed transitions left unconfirmed", extra={"count": len(expired)})
        return self._deliver(expired, result)

    def _deliver(self, transitions: Sequence[Transition], result: SourceSummary) -> bool:
        """Publish to every channel, then confirm what all channels took. True if nothing failed."""
        if not transitions:
            return True
        pending = list(transitions)
        failed: list[Transition] = []
        for publisher in self._publishers:
            outcome: PublishResult = publisher.publish(pending)
            if outcome.failed:
                logger.error(
                    "publish failed",
                    extra={
                        "channel": publisher.name,
                        "failed": len(outcome.failed),
                        "errors": outcome.errors,
                    },
                )
            failed.extend(outcome.failed)
            pending = outcome.delivered
        self._store.finalize(pending, self._clock())
        result.published += len(pending)
        if failed:
            result.publish_failures += len(failed)
            self._store.release(failed)
        return not failed
