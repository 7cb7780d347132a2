"""Audit one source: recover -> plan the window -> observe -> diff -> claim -> advance; what it
claimed (and took over) goes to the run's outbox (`delivery.Outbox`), which delivers it once the run's
audits are done, then records the source's last audit. Every so often a source's run is a
reconciliation sweep (a wider listing diffed against all of its state), which catches whatever the
incremental window missed. What is observed, batch by batch (a streamed sweep's pages), is the
observer's (`observer`); each batch is diffed and claimed into the outbox before the next is read.

No boto3 here: everything goes through the ports in `auditor.ports`. Which sources a run audits, and
how many at once, is the planner's and the audit step's (`planner`, `audit_step`).
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple

from job_auditor.auditor.delivery import DeliveryPolicy, Outbox, deliver
from job_auditor.auditor.domain.checkpoint import (
    Checkpoint,
    WindowPlan,
    advance,
    ahead_of,
    plan_window,
    silent_on_catch_up,
)
from job_auditor.auditor.domain.diff import (
    Transition,
    diff,
    disappeared,
    found_again,
    stuck,
    untracked_history,
)
from job_auditor.auditor.domain.events import iso
from job_auditor.auditor.domain.jobs import (
    JOB_NOT_FOUND,
    SCOPE_DELETED,
    JobState,
    ObservedJob,
    Source,
    StatusCategory,
)
from job_auditor.auditor.domain.schedule import AuditRecord, Orphan, record_of
from job_auditor.auditor.domain.sweep import (
    SweepProgress,
    completed,
    failed,
    reconciled_with_conflicts,
    start_sweep,
    stopped,
)
from job_auditor.auditor.observer import Observation, Observer, SweepRun, streams
from job_auditor.auditor.ports import (
    MALFORMED_RESPONSE,
    AnnouncedStart,
    Claim,
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
# What a job API answers for a source that is outside the configuration and no longer reachable: the
# job (or its scope) not found, access refused (its member role or the kind's grants are gone), the
# service or region no longer there. For an orphan's tracked job, each is a miss towards `disappeared`.
NO_ANSWER = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "ServiceNotOffered",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "OptInRequired",
    }
)


class AuditPolicy(NamedTuple):
    """The knobs of the checkpoint rule, the sweep and claiming."""

    initial_lookback: timedelta
    overlap: timedelta
    recheck_horizon: timedelta
    claim_lease: timedelta
    announce_baseline: bool = False
    # Per job kind; a kind not listed gets 24 h.
    stuck_after: Mapping[str, timedelta] = MappingProxyType({})
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
        self._delivery = DeliveryPolicy(
            retry_for=policy.publish_retry, digest_threshold=policy.digest_threshold
        )
        # The outbox of the audit under way on each thread (a source is audited on one thread).
        self._local = threading.local()
        self._feed = start_feed
        self._observer = Observer(
            job_api,
            store,
            start_feed,
            recheck_horizon=policy.recheck_horizon,
            vanished_after_checks=policy.vanished_after_checks,
            reconcile_lookback=policy.reconcile_lookback,
        )

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
        self,
        source: Source,
        should_stop: StopCheck = never,
        *,
        scope_audited_before: bool = False,
        record: AuditRecord | None = None,
        outbox: Outbox | None = None,
    ) -> SourceSummary:
        """One source. Whatever goes wrong inside it stays its own: logged, counted, summarised.

        `scope_audited_before`: whether the source's scope (its account, region and kind, for a kind
        whose sources are discovered) had been audited before this run (`RunPlan.audited_before`): a
        knowledge base that appears after the first deployment is new, and its jobs are announced.
        `record`: what earlier runs left of it (`RunPlan.record`; an empty one for a source no run has
        attempted); None: read here.
        `outbox`: the run's, which the caller delivers once every source is audited; without one, the
        source's claims are delivered before this returns."""
        started = time.monotonic()
        run_started = self._clock()
        calls_before = self._api.api_calls(source)
        result = SourceSummary.of(source)
        advanced: Checkpoint | None = None
        box = outbox or self.new_outbox()
        self._local.outbox = box
        try:
            if record is None:
                record = self._store.read_audit_records([source]).get(source.key) or record_of(source)
            advanced = self._audit(source, result, should_stop, run_started, scope_audited_before, record)
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
        box.after_delivery(lambda: self._record_audit(source, result, run_started, record, advanced))
        if outbox is None:
            deliver(box, [result])
        return result

    def _record_audit(
        self,
        source: Source,
        result: SourceSummary,
        run_started: datetime,
        record: AuditRecord | None,
        advanced: Checkpoint | None,
    ) -> None:
        """The one write per source and run, once the run's outbox is delivered (so it counts what was
        published): how it ended, for operators and the next run's planner, and the checkpoint where
        the run claimed fully (the claims are durable whatever their delivery). A failed write costs
        the checkpoint (the next run lists this window again: the source's failure) and the operators'
        view (counted)."""
        audit = LastAudit(
            started_at=run_started,
            finished_at=self._clock(),
            error=result.error,
            stopped=result.stopped,
            transitions=result.transitions,
            published=result.published,
            jobs_in_flight=result.jobs_in_flight,
            checkpoint_advanced=advanced is not None,
            checkpoint=advanced or (record.checkpoint if record else None),
            first_attempted_at=record.first_attempted_at if record else None,
        )
        try:
            self._store.record_audit(source, audit)
        except Exception as exc:
            result.audit_record_failures += 1
            error = failure_reason(exc)
            logger.warning("could not record the audit", extra={"source": source.key, "error": error})
            if advanced is not None and result.error is None:
                result.error = error
            return
        result.checkpoint_advanced = advanced is not None

    def _plan(
        self, source: Source, record: AuditRecord, in_flight: Sequence[JobState], run_started: datetime
    ) -> WindowPlan:
        """The run's window of `source` (`plan_window`), from its audit record."""
        policy = self._policy
        checkpoint = record.checkpoint
        if checkpoint is not None and ahead_of(checkpoint, run_started):
            logger.warning(
                "checkpoint ahead of this run's clock: listing from now, and sweeping",
                extra={"source": source.key, "checkpoint": iso(checkpoint.last_run_started_at)},
            )
        return plan_window(
            checkpoint,
            # A lost job is the sweeps' (`to_recheck`): it does not widen the window.
            [state for state in in_flight if state.tracked(source.spec)],
            run_started,
            initial_lookback=policy.initial_lookback,
            overlap=policy.overlap,
            recheck_horizon=policy.recheck_horizon,
            reconcile_every=policy.reconcile_every,
            reconcile_lookback=policy.reconcile_lookback,
            first_attempted_at=record.first_attempted_at,
        )

    def _audit(
        self,
        source: Source,
        result: SourceSummary,
        should_stop: StopCheck,
        run_started: datetime,
        scope_audited_before: bool,
        record: AuditRecord,
    ) -> Checkpoint | None:
        """The audit; the checkpoint it advanced to, if it committed fully."""
        self._recover(source, result, run_started)
        # What earlier runs claimed is delivered whatever the account; its state is read only if the
        # account can be read (a thousand accounts without their role cost no reads).
        self._api.check_access(source)

        checkpoint = record.checkpoint
        in_flight = self._store.load_in_flight(source)
        plan = self._plan(source, record, in_flight, run_started)
        sweep = self._begin_sweep(source, plan, checkpoint, run_started, result) if plan.sweep else None
        if plan.sweep and sweep is None:
            plan = plan._replace(sweep=False, sweep_start=None)
        result.window_start = iso(plan.sweep_start if plan.sweep else plan.window_start)
        result.baseline = plan.first_deployment
        result.catch_up = plan.catch_up_from is not None
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
                self._sweep_failed(source, sweep, failure_reason(exc))
            raise
        if not complete:
            return self._with_conflicts(source, checkpoint, sweep)
        if starts:
            self._acknowledge(source, [s for s in starts if s not in keep])
        # Carried by the run's one audit-record write (`_record_audit`); a sweep's own record is
        # not written again: the checkpoint's lastReconciledAt says it completed.
        if sweep is not None:
            return completed(checkpoint, sweep.progress)
        return advance(checkpoint, run_started, swept=False)

    def _with_conflicts(
        self, source: Source, checkpoint: Checkpoint | None, sweep: SweepRun | None
    ) -> Checkpoint | None:
        """The checkpoint after a run some of whose claims conflicted (the time budget raises
        `Stopped` instead): the window's start stays, so the next run diffs those jobs again. A sweep
        did not fail for it (`reconciled_with_conflicts`), except a first one: it has no window to
        keep, and is made again (after its back-off) as a first run."""
        if sweep is None:
            return None
        if checkpoint is not None:
            return reconciled_with_conflicts(checkpoint, sweep.progress)
        self._save_sweep(source, failed(sweep.progress, self._clock(), "not committed in full"))
        return None

    # -- orphans --------------------------------------------------------------------------------
    def wind_down(
        self, orphan: Orphan, should_stop: StopCheck = never, *, outbox: Outbox | None = None
    ) -> SourceSummary:
        """A known source outside this run's expansion (`Orphan`): its expired claims are delivered
        and each of its tracked jobs gets a Get. A job the API still answers for is diffed and
        announced as usual, and followed run after run until it ends; one it no longer answers for (not
        found, or its access refused: the source is outside the configuration), `vanished_after_checks`
        runs in a row, gets one `disappeared` transition naming the orphan's reason. A throttle or a
        5xx is retried by the next run. Once nothing is tracked or claimed any more (after the run's
        delivery: a claim a channel still owes stays) the source is retired: later runs pass it over
        until it is planned again. `outbox` as for `audit`."""
        source = orphan.source
        started = time.monotonic()
        now = self._clock()
        calls_before = self._api.api_calls(source)
        result = SourceSummary.of(source)
        result.orphaned = orphan.reason
        box = outbox or self.new_outbox()
        self._local.outbox = box
        settled = False
        try:
            settled = self._wind_down(orphan, result, should_stop, now)
        except Stopped:
            result.stopped = True
        except Exception as exc:  # retried by the next run
            result.error = failure_reason(exc)
            logger.error(
                "orphaned source not wound down",
                extra={"source": source.key, "reason": orphan.reason, "error": result.error},
                exc_info=not isinstance(exc, SourceError),
            )
        finally:
            self._local.outbox = None
        result.api_calls = self._api.api_calls(source) - calls_before
        result.duration_ms = int((time.monotonic() - started) * 1000)
        if settled:
            box.after_delivery(lambda: self._retire(orphan, result, now))
        if outbox is None:
            deliver(box, [result])
        return result

    def _wind_down(
        self, orphan: Orphan, result: SourceSummary, should_stop: StopCheck, now: datetime
    ) -> bool:
        """The final Gets and their transitions, claimed; True when nothing of the source is left to
        follow (it is retired once its claims are delivered)."""
        source = orphan.source
        self._recover(source, result, now)
        # A job already announced as disappeared with an orphan's reason waits for its source's return.
        in_flight = [s for s in self._store.load_in_flight(source) if s.disappeared_at is None]
        result.orphaned_jobs = len(in_flight)
        observed, gone = self._final_gets(orphan, in_flight, result, should_stop, now)
        previous = {state.job_id: state for state in in_flight}
        transitions = diff(source, previous, observed, now)
        threshold = self._policy.stuck_after.get(source.spec.id, timedelta(hours=24))
        transitions += stuck(source, previous, observed, now, threshold, self._policy.stuck_repeat)
        transitions += [disappeared(source, state, now, reason) for state, reason in gone]
        result.disappeared = len(gone)
        result.transitions = len(transitions)
        self._commit(source, transitions, [], result, should_stop, now + self._policy.claim_lease)
        ended = {job.job_id for job in observed if source.spec.is_terminal(job.status)}
        result.jobs_in_flight = len(in_flight) - len(ended) - len(gone)
        return not (result.jobs_in_flight or result.stopped or result.claim_conflicts)

    def _retire(self, orphan: Orphan, result: SourceSummary, now: datetime) -> None:
        """After the delivery: retire the orphan if none of its claims is left (a channel that
        refused one keeps it until delivered or parked). A failure waits for the next run."""
        source = orphan.source
        try:
            if result.error or self._store.count_pending(source):
                return
            self._store.retire(source, orphan.reason, now)
        except Exception as exc:  # the next run winds it down again
            result.error = failure_reason(exc)
            logger.error("orphaned source not retired", extra={"source": source.key, "error": result.error})
            return
        logger.info("orphaned source wound down", extra={"source": source.key, "reason": orphan.reason})

    def _final_gets(
        self,
        orphan: Orphan,
        in_flight: Sequence[JobState],
        result: SourceSummary,
        should_stop: StopCheck,
        now: datetime,
    ) -> tuple[list[ObservedJob], list[tuple[JobState, str]]]:
        """Each tracked job's Get: the jobs it answered for, and the jobs gone (no answer, run after
        run), each with its reason; a job not answered for fewer times is counted on its state and
        asked again next run. The API that answers "not found" for a job of a source whose account or
        kind left the audit says the job is gone (`job not found`); one that refuses to answer, that
        the source left (`account removed`, `configuration changed`). A deleted scope takes its jobs
        with it: not found there is the scope's doing (`scope deleted`)."""
        source = orphan.source
        observed: list[ObservedJob] = []
        gone: list[tuple[JobState, str]] = []
        for state in in_flight:
            if should_stop():
                raise Stopped(f"{source.key}: time budget reached while winding the source down")
            refused = False
            try:
                current = self._api.get_job(source, state)
            except SourceError as exc:
                if exc.code not in NO_ANSWER:
                    raise
                current, refused = None, exc.code != "ResourceNotFoundException"
            result.jobs_rechecked += 1
            if current is not None:
                observed.append(current)
            elif state.missing_checks + 1 >= self._policy.vanished_after_checks:
                scoped = refused or orphan.reason == SCOPE_DELETED
                gone.append((state, orphan.reason if scoped else JOB_NOT_FOUND))
            else:
                result.skip("not-found-on-recheck")
                self._store.record_missing(source, state)
        return observed, gone

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
        tracked = {state.job_id for state in in_flight if state.tracked(source.spec)}
        seen_tracked: set[str] = set()
        batches = self._observer.batches(
            source, plan, in_flight, starts, result, should_stop, run_started, sweep
        )
        for seen in batches:
            transitions = self._transitions(source, plan, seen, run_started, result)
            silent = self._silenced(source, plan, transitions, scope_audited_before)
            again = found_again(seen.previous, seen.jobs, (t.job.job_id for t in transitions))
            if again:
                logger.warning(
                    "jobs re-checks had missed found again: followed again",
                    extra={"source": source.key, "jobs": [state.job_id for state in again]},
                )
                self._store.follow_again(source, again)
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

    def _sweep_failed(self, source: Source, sweep: SweepRun, error: str) -> None:
        """A sweep whose listing answered, then failed, backs off. One that failed before its listing
        answered failed with its source (a member role missing for a day, the API down): that is the
        source's failure, not the sweep's, so it adds nothing to the back-off and the sweep is made as
        soon as the source answers again. A streamed one starts over from the first page then: its
        first request may be what failed (a resumed page token that expired, or that the API no
        longer takes), and resuming at it would fail every run while the sweep stays due, the
        source's window never audited again. Pages read again cost calls, never an announcement."""
        now = self._clock()
        if sweep.reached:
            self._save_sweep(source, failed(sweep.progress, now, error))
        elif sweep.streamed:
            self._save_sweep(source, stopped(sweep.progress, now, cursor=None, pages=0))

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
                try:
                    current = self._api.get_job(source, state)
                except SourceError as exc:
                    if exc.code != MALFORMED_RESPONSE:
                        raise
                    current = None  # announced without its message rather than not at all
                if current is not None and current.failure_message:
                    details = MappingProxyType({**t.job.details, **current.details})
                    job = t.job._replace(failure_message=current.failure_message, details=details)
                    t = t._replace(job=job)  # noqa: PLW2901
            out.append(t)
        return out

    # -- commit ---------------------------------------------------------------------------------
    def _silenced(
        self, source: Source, plan: WindowPlan, transitions: list[Transition], scope_audited_before: bool
    ) -> list[Transition]:
        """The first deployment's baseline records jobs it finds without announcing them; only jobs
        with no recorded state: a baseline that is repeated (its record write failed) announces every
        change of a job it recorded before. A knowledge base that appears after the first deployment
        (its scope audited before) is new: its jobs are announced. A source attempted before whose
        attempts all failed (a role not yet deployed, an SCP) is no first deployment: its catch-up
        records silently only jobs that last changed before its first attempt."""
        if not plan.baseline or self._policy.announce_baseline or scope_audited_before:
            return []
        discovered = [t for t in transitions if t.type == "discovered"]
        if plan.catch_up_from is None:
            return discovered
        since = plan.catch_up_from
        return [t for t in discovered if silent_on_catch_up(t.job, source.spec, since)]

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
        if not box.can_recover():
            return  # the run has taken over all it can deliver in time: the next run takes these
        # The allowance is taken only for claims found: sources audited at once, most with nothing
        # to take over, must not hold it from one another (a source left out each time would wait).
        granted: list[int] = []

        def reserve(found: int) -> int:
            granted.append(box.reserve_recoveries(found))
            return granted[-1]

        expired = self._store.reclaim_expired(
            source, now, now + self._policy.claim_lease, self._delivery.recover_limit, reserve
        )
        box.refund(sum(granted) - len(expired))
        if not expired:
            return
        result.recovered = len(expired)
        logger.warning("delivering claimed transitions left unfinished", extra={"count": len(expired)})
        box.add(expired, result)

    def _deliver(self, transitions: Sequence[Transition], result: SourceSummary) -> None:
        """Hand claimed transitions to the run's outbox: delivered to every channel once the run's
        audits are done (a crash before that leaves them claimed: a later run takes them over)."""
        self._local.outbox.add([Claim(t) for t in transitions], result)
