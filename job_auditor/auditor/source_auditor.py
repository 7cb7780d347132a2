"""Audit one source: recover -> plan the window -> observe -> diff -> claim -> publish -> finalize ->
advance -> record the last audit. Every so often a source's run is a reconciliation sweep (a wider
listing diffed against all of its state), which catches whatever the incremental window missed.

No boto3 here: everything goes through the ports in `auditor.ports`. Which sources a run audits, and
how many at once, is the planner's and the audit step's (`planner`, `audit_step`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from job_auditor.auditor.domain.checkpoint import Checkpoint, WindowPlan, advance, plan_window
from job_auditor.auditor.domain.diff import Transition, diff, disappeared, stuck, untracked_history
from job_auditor.auditor.domain.events import iso
from job_auditor.auditor.domain.jobs import JobState, Source, StatusCategory
from job_auditor.auditor.domain.sweep import SweepProgress, completed, failed, start_sweep, stopped
from job_auditor.auditor.observer import Observation, Observer, SweepRun, streams
from job_auditor.auditor.ports import (
    AnnouncedStart,
    JobApi,
    LastAudit,
    Publisher,
    SourceError,
    StartFeed,
    StateStore,
    StopCheck,
    Stopped,
    never,
)
from job_auditor.auditor.summary import SourceSummary, failure_reason

logger = logging.getLogger(__name__)
# Outcomes whose reasons people need: where the list omits them, Get is asked once.
_FAILURE_CATEGORIES = frozenset({StatusCategory.FAILED, StatusCategory.PARTIAL})

# Claims are written in chunks; the time budget is checked between chunks.
CLAIM_CHUNK = 50


@dataclass(frozen=True)
class AuditPolicy:
    """The knobs of the checkpoint rule, the sweep and claiming."""

    initial_lookback: timedelta
    overlap: timedelta
    recheck_horizon: timedelta
    claim_lease: timedelta
    announce_baseline: bool = False
    # Per job kind; a kind not listed gets 24 h.
    stuck_after: Mapping[str, timedelta] = field(default_factory=dict)
    stuck_repeat: timedelta | None = None
    # A reconciliation sweep every this often (zero: every run), reaching back at least this far.
    reconcile_every: timedelta = timedelta(hours=1)
    reconcile_lookback: timedelta = timedelta(hours=24)
    # Failed publishes of one transition before it is parked instead of retried.
    max_publish_attempts: int = 5
    # Re-checks in a row that do not find a tracked job before it is announced as disappeared.
    vanished_after_checks: int = 3


class SourceAuditor:
    """Audits one source at a time against the ports it is given (several threads may share it:
    it keeps no state between sources)."""

    def __init__(
        self,
        job_api: JobApi,
        store: StateStore,
        publishers: Sequence[Publisher],
        policy: AuditPolicy,
        clock: Callable[[], datetime],
        start_feed: StartFeed | None = None,
    ) -> None:
        self._api = job_api
        self._store = store
        self._publishers = list(publishers)
        self._policy = policy
        self._clock = clock
        self._feed = start_feed
        self._observer = Observer(
            job_api,
            store,
            start_feed,
            recheck_horizon=policy.recheck_horizon,
            vanished_after_checks=policy.vanished_after_checks,
            reconcile_lookback=policy.reconcile_lookback,
        )

    @property
    def job_api(self) -> JobApi:
        return self._api

    @property
    def store(self) -> StateStore:
        return self._store

    @property
    def publishers(self) -> Sequence[Publisher]:
        return tuple(self._publishers)

    @property
    def policy(self) -> AuditPolicy:
        return self._policy

    def take_starts(
        self, sources: Sequence[Source], scope_keys: Sequence[str], should_stop: StopCheck = never
    ) -> None:
        """At the start of a run, take the announced job starts of its `sources` (if a start feed is
        wired). `scope_keys`: the plan's enumerated scopes; with the sources' own account, region and
        kind they are what this run expanded in full, so an announcement for a scope in none of them is
        for a scope no run audits."""
        if self._feed is None:
            return
        expanded = {source.unscoped.key for source in sources} | set(scope_keys)
        self._observer.feed_ready = False
        try:
            self._feed.take(sources, expanded, should_stop)
        except Exception as exc:  # the sources are listed instead: nothing is lost, only the saving
            logger.error("could not take announced job starts", extra={"error": failure_reason(exc)})
            return
        self._observer.feed_ready = True

    def audit(
        self, source: Source, should_stop: StopCheck = never, *, scope_audited_before: bool = False
    ) -> SourceSummary:
        """One source. Whatever goes wrong inside it stays its own: logged, counted, summarised.

        `scope_audited_before`: whether the source's scope (its account, region and kind, for a kind
        whose sources are discovered) had been audited before this run (`RunPlan.audited_before`): a
        knowledge base that appears after the first deployment is new, and its jobs are announced."""
        started = time.monotonic()
        run_started = self._clock()
        calls_before = self._api.api_calls(source)
        result = SourceSummary.of(source)
        try:
            self._audit(source, result, should_stop, run_started, scope_audited_before)
        except Stopped as exc:
            result.stopped = True
            logger.warning(
                "time budget reached inside a source", extra={"source": source.key, "at": str(exc)}
            )
        except Exception as exc:  # a malformed page or a bug must not stop other sources
            result.error = failure_reason(exc)
            logger.error(
                "source failed",
                extra={"source": source.key, "error": result.error},
                exc_info=not isinstance(exc, SourceError),
            )
        result.api_calls = self._api.api_calls(source) - calls_before
        result.duration_ms = int((time.monotonic() - started) * 1000)
        self._record_audit(source, result, run_started)
        return result

    def _record_audit(self, source: Source, result: SourceSummary, run_started: datetime) -> None:
        """One write per source and run, for operators; it never fails the audit (counted instead)."""
        audit = LastAudit(
            started_at=run_started,
            finished_at=self._clock(),
            error=result.error,
            stopped=result.stopped,
            transitions=result.transitions,
            published=result.published,
            jobs_in_flight=result.jobs_in_flight,
            checkpoint_advanced=result.checkpoint_advanced,
        )
        try:
            self._store.record_audit(source, audit)
        except Exception as exc:  # what the run did stands; only the operators' view of it is late
            result.audit_record_failures += 1
            logger.warning(
                "could not record the audit", extra={"source": source.key, "error": failure_reason(exc)}
            )

    def _audit(
        self,
        source: Source,
        result: SourceSummary,
        should_stop: StopCheck,
        run_started: datetime,
        scope_audited_before: bool,
    ) -> None:
        policy = self._policy
        self._recover(source, result, run_started)

        checkpoint = self._store.load_checkpoint(source)
        in_flight = self._store.load_in_flight(source)
        plan = plan_window(
            checkpoint,
            in_flight,
            run_started,
            initial_lookback=policy.initial_lookback,
            overlap=policy.overlap,
            recheck_horizon=policy.recheck_horizon,
            reconcile_every=policy.reconcile_every,
            reconcile_lookback=policy.reconcile_lookback,
        )
        sweep = self._begin_sweep(source, plan, checkpoint, run_started, result) if plan.sweep else None
        if plan.sweep and sweep is None:
            plan = replace(plan, sweep=False, sweep_start=None)
        result.window_start = iso(plan.sweep_start if plan.sweep else plan.window_start)
        result.baseline = plan.baseline
        result.reconciled = plan.sweep
        starts = self._observer.starts(source)
        result.starts_announced = len(starts)

        try:
            complete, keep = self._observe_and_commit(
                source, plan, in_flight, starts, result, should_stop, run_started, scope_audited_before, sweep
            )
        except Stopped:
            if sweep is not None and sweep.streamed:
                self._save_sweep(source, stopped(sweep.progress, self._clock(), sweep.cursor, sweep.pages))
            raise
        except Exception as exc:
            if sweep is not None:
                self._save_sweep(source, failed(sweep.progress, self._clock(), failure_reason(exc)))
            raise
        if complete and starts:
            self._acknowledge(source, [s for s in starts if s not in keep])
        if complete:
            done = completed(checkpoint, sweep.progress) if sweep is not None else None
            self._store.save_checkpoint(source, done or advance(checkpoint, run_started, swept=False))
            result.checkpoint_advanced = True
        elif sweep is not None:
            self._save_sweep(source, failed(sweep.progress, self._clock(), "not committed in full"))

    def _observe_and_commit(
        self,
        source: Source,
        plan: WindowPlan,
        in_flight: Sequence[JobState],
        starts: Sequence[AnnouncedStart],
        result: SourceSummary,
        should_stop: StopCheck,
        run_started: datetime,
        scope_audited_before: bool,
        sweep: SweepRun | None,
    ) -> tuple[bool, list[AnnouncedStart]]:
        """Each batch of the observation diffed and committed before the next is read. True if
        nothing is left that only a wider window would find; and the announced starts to keep."""
        lease_until = run_started + self._policy.claim_lease
        complete = True
        keep: list[AnnouncedStart] = []
        tracked = {state.job_id for state in in_flight}
        seen_tracked: set[str] = set()
        batches = self._observer.batches(
            source, plan, in_flight, starts, result, should_stop, run_started, sweep
        )
        for seen in batches:
            transitions = self._transitions(source, plan, seen, run_started, result)
            silent = self._silenced(plan, transitions, scope_audited_before)
            complete = (
                self._commit(source, transitions, silent, result, should_stop, lease_until) and complete
            )
            keep += seen.keep
            # One observation per job already: the listings are merged, and Get only fetches the others.
            result.jobs_in_flight += sum(1 for job in seen.jobs if not source.spec.is_terminal(job.status))
            seen_tracked.update(job.job_id for job in seen.jobs if job.job_id in tracked)
            if result.stopped:
                # Claimed so far is published; this batch is observed again by the next run.
                raise Stopped(f"{source.key}: time budget reached while claiming")
        result.jobs_in_flight += len(tracked - seen_tracked)
        return complete, keep

    def _begin_sweep(
        self,
        source: Source,
        plan: WindowPlan,
        checkpoint: Checkpoint | None,
        now: datetime,
        result: SourceSummary,
    ) -> SweepRun | None:
        """The sweep this run makes of `source`, or None: backing off after failed sweeps (or another
        run's may still be going), the run audits its window. A sweep that reads the whole history
        writes its record before the first page, so one that dies is known as such."""
        policy = self._policy
        decision = start_sweep(
            self._store.load_sweep(source),
            checkpoint,
            now,
            every=policy.reconcile_every,
            lease=policy.claim_lease,
        )
        if not decision.allowed or decision.progress is None:
            result.sweep_postponed = decision.reason
            logger.warning("sweep postponed", extra={"source": source.key, "reason": decision.reason})
            return None
        streamed = streams(source)
        if streamed:
            self._store.save_sweep(source, decision.progress)
        return SweepRun(decision.progress, streamed, cursor=decision.resume_at if streamed else None)

    def _save_sweep(self, source: Source, progress: SweepProgress) -> None:
        """Best effort: a record left `running` counts as a failure once its run must have ended."""
        try:
            self._store.save_sweep(source, progress)
        except Exception as exc:  # the run's own failure is what the summary reports
            logger.warning(
                "could not record the sweep", extra={"source": source.key, "error": failure_reason(exc)}
            )

    def _acknowledge(self, source: Source, starts: Sequence[AnnouncedStart]) -> None:
        """The announced starts are recorded: not delivered again. A failure only delivers them again."""
        if not starts or self._feed is None:
            return
        try:
            self._feed.acknowledge(starts)
        except Exception as exc:
            logger.warning(
                "could not acknowledge announced starts",
                extra={"source": source.key, "error": failure_reason(exc)},
            )

    # -- diff -----------------------------------------------------------------------------------
    def _transitions(
        self, source: Source, plan: WindowPlan, seen: Observation, now: datetime, result: SourceSummary
    ) -> list[Transition]:
        jobs = seen.jobs
        if plan.sweep and plan.sweep_start is not None:
            old = untracked_history(source, seen.previous, jobs, plan.sweep_start)
            if old:
                result.skip("untracked-history", len(old))
                jobs = [job for job in jobs if job.job_id not in old]
        transitions = self._with_failure_messages(source, diff(source, seen.previous, jobs, now))
        gone = [disappeared(source, state, now) for state in seen.vanished]
        result.disappeared += len(gone)
        transitions += gone
        if not plan.baseline:
            threshold = self._policy.stuck_after.get(source.spec.id, timedelta(hours=24))
            alerts = stuck(source, seen.previous, jobs, now, threshold, self._policy.stuck_repeat)
            result.stuck_alerts += len(alerts)
            transitions += alerts
        result.transitions += len(transitions)
        for transition in transitions:
            status = transition.status
            result.transitions_by_status[status] = result.transitions_by_status.get(status, 0) + 1
            if transition.unknown_status:
                result.unknown_statuses += 1
                logger.warning(
                    "unknown job status recorded and announced",
                    extra={"source": source.key, "job": transition.job.job_id, "status": status},
                )
        return transitions

    def _with_failure_messages(self, source: Source, transitions: list[Transition]) -> list[Transition]:
        """A failure without its message is of little use: where the list omits it, Get fills it in
        (and the job's details, which Get reports in full)."""
        spec = source.spec
        if spec.failure_in_list or spec.failure_field is None:
            return transitions
        out = []
        for t in transitions:
            if spec.category(t.status) in _FAILURE_CATEGORIES and t.job.failure_message is None:
                state = JobState(t.job.job_id, t.job.status, t.job.created_at, t.previous_sequence)
                current = self._api.get_job(source, state)
                if current is not None and current.failure_message:
                    details = MappingProxyType({**t.job.details, **current.details})
                    job = replace(t.job, failure_message=current.failure_message, details=details)
                    t = replace(t, job=job)  # noqa: PLW2901
            out.append(t)
        return out

    # -- commit ---------------------------------------------------------------------------------
    def _silenced(
        self, plan: WindowPlan, transitions: list[Transition], scope_audited_before: bool
    ) -> list[Transition]:
        """The first deployment's baseline records jobs it finds without announcing them; only jobs
        with no recorded state: a baseline that is repeated (its checkpoint write failed) announces
        every change of a job it recorded before. A knowledge base that appears after the first
        deployment (its scope audited before) is new: its jobs are announced."""
        if not plan.baseline or self._policy.announce_baseline or scope_audited_before:
            return []
        return [t for t in transitions if t.type == "discovered"]

    def _commit(
        self,
        source: Source,
        transitions: list[Transition],
        silent: list[Transition],
        result: SourceSummary,
        should_stop: StopCheck,
        lease_until: datetime,
    ) -> bool:
        """Record `silent` without announcing it, claim and deliver the rest; True if nothing is left
        that only a wider window would find."""
        if silent:
            result.recorded_silently = self._store.record_silently(silent)
            chosen = {t.event_id for t in silent}
            transitions = [t for t in transitions if t.event_id not in chosen]
        claimed: list[Transition] = []
        complete = True
        for start in range(0, len(transitions), CLAIM_CHUNK):
            if should_stop():
                # Claimed so far is published below; the rest is diffed again by the next run.
                result.stopped = True
                complete = False
                break
            outcome = self._store.claim(transitions[start : start + CLAIM_CHUNK], lease_until)
            claimed += outcome.won
            result.claimed_elsewhere += len(outcome.elsewhere)
            for t, reason in outcome.conflicts:
                result.claim_conflicts += 1
                complete = False
                logger.warning(
                    "claim condition failed: left for the next run",
                    extra={
                        "source": source.key,
                        "job": t.job.job_id,
                        "eventId": t.event_id,
                        "reason": reason,
                    },
                )
        self._deliver(claimed, result)
        return complete

    # -- deliver --------------------------------------------------------------------------------
    def _recover(self, source: Source, result: SourceSummary, now: datetime) -> None:
        """Publish what a crashed or failed earlier run claimed but did not confirm."""
        expired = self._store.reclaim_expired(source, now, now + self._policy.claim_lease)
        if not expired:
            return
        result.recovered = len(expired)
        logger.warning("re-publishing claimed transitions left unconfirmed", extra={"count": len(expired)})
        self._deliver(expired, result)

    def _deliver(self, transitions: Sequence[Transition], result: SourceSummary) -> None:
        """Publish to every channel, then confirm what all channels took. A transition a channel
        refused stays claimed (durably: the next run retries it whatever its window) until it has
        failed `max_publish_attempts` times; then it is parked, so one poison transition cannot hold
        its job or its source back for ever."""
        if not transitions:
            return
        pending = list(transitions)
        failed: list[Transition] = []
        errors: dict[str, int] = {}
        for publisher in self._publishers:
            outcome = publisher.publish(pending)
            if outcome.failed:
                logger.error(
                    "publish failed",
                    extra={
                        "channel": publisher.name,
                        "failed": len(outcome.failed),
                        "errors": outcome.errors,
                    },
                )
                for code, count in outcome.errors.items():
                    key = f"{publisher.name}: {code}"
                    errors[key] = errors.get(key, 0) + count
            failed.extend(outcome.failed)
            pending = outcome.delivered
        self._store.finalize(pending, self._clock())
        result.published += len(pending)
        if not failed:
            return
        result.publish_failures += len(failed)
        attempts = self._store.release(failed)
        poison = [t for t in failed if attempts.get(t.event_id, 0) >= self._policy.max_publish_attempts]
        if poison:
            refused = "; ".join(f"{k} x{v}" for k, v in sorted(errors.items())) or "publish failed"
            reason = f"refused {self._policy.max_publish_attempts} times; last run: {refused}"
            self._store.park(poison, reason, self._clock())
            result.parked += len(poison)
            logger.error(
                "transitions parked after repeated publish failures",
                extra={"eventIds": [t.event_id for t in poison], "reason": reason},
            )
