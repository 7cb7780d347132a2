"""Audit one source: recover -> plan the window -> observe -> diff -> claim -> advance; what it
claimed (and took over) goes to the run's outbox (`delivery.Outbox`), which delivers it once the run's
audits are done, then records the source's last audit. Every so often a source's run is a
reconciliation sweep (a wider listing diffed against all of its state), which catches whatever the
incremental window missed.

No boto3 here: everything goes through the ports in `auditor.ports`. Which sources a run audits, and
how many at once, is the planner's and the audit step's (`planner`, `audit_step`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from job_auditor.auditor.delivery import DeliveryPolicy, Outbox, deliver
from job_auditor.auditor.domain.checkpoint import WindowPlan, advance, plan_window, to_recheck
from job_auditor.auditor.domain.diff import (
    Transition,
    diff,
    disappeared,
    latest_observations,
    stuck,
    untracked_history,
)
from job_auditor.auditor.domain.events import iso
from job_auditor.auditor.domain.jobs import JobState, ObservedJob, Source, StatusCategory
from job_auditor.auditor.ports import (
    Claim,
    JobApi,
    LastAudit,
    Listing,
    Publisher,
    SourceError,
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
    # How long a channel that refuses a transition for a passing reason is retried before it parks it
    # (re-driven once the channel takes messages again); more transitions for people than
    # `digest_threshold` in one delivery: one digest on their channels instead (0: never).
    publish_retry: timedelta = timedelta(hours=24)
    digest_threshold: int = 20
    # Re-checks in a row that do not find a tracked job before it is announced as disappeared.
    vanished_after_checks: int = 3


@dataclass
class _Observation:
    """What one source's run saw: the jobs, their recorded state, and the jobs gone missing."""

    jobs: list[ObservedJob]
    previous: dict[str, JobState]
    vanished: list[JobState]


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
    ) -> None:
        self._api = job_api
        self._store = store
        self._publishers = list(publishers)
        self._policy = policy
        self._clock = clock
        self._delivery = DeliveryPolicy(
            retry_for=policy.publish_retry, digest_threshold=policy.digest_threshold
        )
        # The outbox of the audit under way on each thread (a source is audited on one thread).
        self._local = threading.local()

    def new_outbox(self) -> Outbox:
        """An outbox for one run's claims, on this auditor's store and channels."""
        return Outbox(self._store, self._publishers, self._delivery, self._clock)

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

    def audit(
        self,
        source: Source,
        should_stop: StopCheck = never,
        *,
        scope_audited_before: bool = False,
        outbox: Outbox | None = None,
    ) -> SourceSummary:
        """One source. Whatever goes wrong inside it stays its own: logged, counted, summarised.

        `scope_audited_before`: whether the source's scope (its account, region and kind, for a kind
        whose sources are discovered) had been audited before this run (`RunPlan.audited_before`): a
        knowledge base that appears after the first deployment is new, and its jobs are announced.
        `outbox`: the run's, which the caller delivers once every source is audited; without one, the
        source's claims are delivered before this returns."""
        started = time.monotonic()
        run_started = self._clock()
        calls_before = self._api.api_calls(source)
        result = SourceSummary.of(source)
        box = outbox or self.new_outbox()
        self._local.outbox = box
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
        finally:
            self._local.outbox = None
        result.api_calls = self._api.api_calls(source) - calls_before
        result.duration_ms = int((time.monotonic() - started) * 1000)
        box.after_delivery(lambda: self._record_audit(source, result, run_started))
        if outbox is None:
            deliver(box, [result])
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
        result.window_start = iso(plan.sweep_start if plan.sweep else plan.window_start)
        result.baseline = plan.baseline
        result.reconciled = plan.sweep

        seen = self._observe(source, plan, in_flight, result, should_stop, run_started)
        transitions = self._transitions(source, plan, seen, run_started, result)
        silent = self._silenced(plan, transitions, scope_audited_before)
        lease_until = run_started + policy.claim_lease
        complete = self._commit(source, transitions, silent, result, should_stop, lease_until)

        # One observation per job already: the listings are merged, and Get only fetches the others.
        listed = {job.job_id for job in seen.jobs}
        result.jobs_in_flight = sum(1 for job in seen.jobs if not source.spec.is_terminal(job.status))
        result.jobs_in_flight += sum(1 for job in in_flight if job.job_id not in listed)

        if complete:
            self._store.save_checkpoint(source, advance(checkpoint, run_started, swept=plan.sweep))
            result.checkpoint_advanced = True

    # -- observe --------------------------------------------------------------------------------
    def _list(self, source: Source, plan: WindowPlan, should_stop: StopCheck) -> list[Listing]:
        """The fast path lists the window. A sweep lists from `sweep_start`, and each in-progress
        status created before it (a job still running is news at any age); where the API has neither a
        time filter nor a newest-first order to stop at, every job on every page."""
        spec = source.spec
        if not plan.sweep:
            return [self._api.list_jobs(source, plan.window_start, should_stop)]
        if spec.time_filter_param is None and not spec.newest_first:
            return [self._api.list_jobs(source, None, should_stop)]
        listings = [self._api.list_jobs(source, plan.sweep_start, should_stop)]
        if spec.status_filter_param is not None:
            before = plan.sweep_start if spec.time_filter_before_param else None
            for status in spec.in_progress_statuses:
                listings.append(
                    self._api.list_jobs(source, None, should_stop, status=status, created_before=before)
                )
        return listings

    def _observe(
        self,
        source: Source,
        plan: WindowPlan,
        in_flight: Sequence[JobState],
        result: SourceSummary,
        should_stop: StopCheck,
        now: datetime,
    ) -> _Observation:
        """List, then re-check every tracked job the listing did not return."""
        listed_jobs: list[ObservedJob] = []
        for listing in self._list(source, plan, should_stop):
            result.pages += listing.pages
            for reason, count in listing.skipped.items():
                result.skip(reason, count)
            listed_jobs.extend(listing.jobs)
        jobs = latest_observations(listed_jobs)
        result.jobs_listed = len(jobs)

        since = min([plan.window_start, *(job.created_at for job in jobs)])
        previous = self._store.load_jobs_since(source, since)
        for state in in_flight:
            previous.setdefault(state.job_id, state)

        listed = {job.job_id for job in jobs}
        vanished: list[JobState] = []
        recheck = to_recheck(plan, in_flight, listed, source.spec, now, self._policy.recheck_horizon)
        for state in recheck:
            if should_stop():
                raise Stopped(f"{source.key}: time budget reached while re-checking in-flight jobs")
            current = self._api.get_job(source, state)
            result.jobs_rechecked += 1
            if current is not None:
                jobs.append(current)
                continue
            result.skip("not-found-on-recheck")
            if state.missing_checks + 1 >= self._policy.vanished_after_checks:
                vanished.append(state)
            else:
                logger.warning("tracked job not found", extra={"source": source.key, "job": state.job_id})
                self._store.record_missing(source, state)
        return _Observation(jobs, previous, vanished)

    # -- diff -----------------------------------------------------------------------------------
    def _transitions(
        self, source: Source, plan: WindowPlan, seen: _Observation, now: datetime, result: SourceSummary
    ) -> list[Transition]:
        jobs = seen.jobs
        if plan.sweep and plan.sweep_start is not None:
            old = untracked_history(source, seen.previous, jobs, plan.sweep_start)
            if old:
                result.skip("untracked-history", len(old))
                jobs = [job for job in jobs if job.job_id not in old]
        transitions = self._with_failure_messages(source, diff(source, seen.previous, jobs, now))
        gone = [disappeared(source, state, now) for state in seen.vanished]
        result.disappeared = len(gone)
        transitions += gone
        if not plan.baseline:
            threshold = self._policy.stuck_after.get(source.spec.id, timedelta(hours=24))
            alerts = stuck(source, seen.previous, jobs, now, threshold, self._policy.stuck_repeat)
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
        complete = True
        for start in range(0, len(transitions), CLAIM_CHUNK):
            if should_stop():
                # Claimed so far is delivered with the run; the rest is diffed again by the next run.
                result.stopped = True
                complete = False
                break
            outcome = self._store.claim(transitions[start : start + CLAIM_CHUNK], lease_until)
            # Handed over chunk by chunk: the run's outbox counts them against what it can deliver.
            self._deliver(outcome.won, result)
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
        return complete

    # -- deliver --------------------------------------------------------------------------------
    def _recover(self, source: Source, result: SourceSummary, now: datetime) -> None:
        """Deliver again what a crashed or failed earlier run claimed but did not finish, to the
        channels still owed it, once its lease (a crash's, or a refusal's back-off) is over."""
        box = self._local.outbox
        allowed = box.reserve_recoveries(self._delivery.recover_limit)
        if not allowed:
            return  # the run has taken over all it can deliver in time: the next run takes these
        expired = self._store.reclaim_expired(source, now, now + self._policy.claim_lease, allowed)
        box.refund(allowed - len(expired))
        if not expired:
            return
        result.recovered = len(expired)
        logger.warning("delivering claimed transitions left unfinished", extra={"count": len(expired)})
        box.add(expired, result)

    def _deliver(self, transitions: Sequence[Transition], result: SourceSummary) -> None:
        """Hand claimed transitions to the run's outbox: delivered to every channel once the run's
        audits are done (a crash before that leaves them claimed: a later run takes them over)."""
        self._local.outbox.add([Claim(t) for t in transitions], result)
