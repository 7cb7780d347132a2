"""The audit use case: for each source, recover -> plan -> observe -> diff -> claim -> publish ->
finalize -> advance. Every so often a source's run is a reconciliation sweep (a wider listing diffed
against all of its state), which catches whatever the incremental window missed.

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
from types import MappingProxyType
from typing import Any

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
from job_auditor.auditor.domain.jobs import JOB_KINDS, JobState, ObservedJob, Source, StatusCategory
from job_auditor.auditor.ports import (
    JobApi,
    LastAudit,
    Listing,
    Publisher,
    SourceError,
    StateStore,
    Stopped,
)

logger = logging.getLogger(__name__)
# Outcomes whose reasons people need: where the list omits them, Get is asked once.
_FAILURE_CATEGORIES = frozenset({StatusCategory.FAILED, StatusCategory.PARTIAL})

# Claims are written in chunks; the time budget is checked between chunks.
CLAIM_CHUNK = 50
# Sources share nothing (their own job items, checkpoints and API calls), so several are audited at
# once: a run lasts about as long as its slowest source, not the sum of them.
SOURCE_CONCURRENCY = 4
StopCheck = Callable[[], bool]


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
    source_concurrency: int = SOURCE_CONCURRENCY
    # A reconciliation sweep every this often (zero: every run), reaching back at least this far.
    reconcile_every: timedelta = timedelta(hours=1)
    reconcile_lookback: timedelta = timedelta(hours=24)
    # Failed publishes of one transition before it is parked instead of retried.
    max_publish_attempts: int = 5
    # Re-checks in a row that do not find a tracked job before it is announced as disappeared.
    vanished_after_checks: int = 3


@dataclass
class SourceSummary:
    """What one run did for one source (returned by the handler, logged, turned into metrics)."""

    source: str
    job_kind: str
    region: str
    account: str = ""
    window_start: str | None = None
    baseline: bool = False
    reconciled: bool = False
    pages: int = 0
    api_calls: int = 0
    jobs_listed: int = 0
    jobs_rechecked: int = 0
    jobs_in_flight: int = 0
    transitions: int = 0
    published: int = 0
    recorded_silently: int = 0
    claimed_elsewhere: int = 0
    claim_conflicts: int = 0
    recovered: int = 0
    publish_failures: int = 0
    parked: int = 0
    stuck_alerts: int = 0
    disappeared: int = 0
    unknown_statuses: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    transitions_by_status: dict[str, int] = field(default_factory=dict)
    checkpoint_advanced: bool = False
    # The time budget ran out inside this source: what was claimed is published and committed, the
    # rest (and the checkpoint) waits for the next run.
    stopped: bool = False
    error: str | None = None
    duration_ms: int = 0
    # The source's last-audit record could not be written (`job-auditor status` shows the previous one).
    audit_record_failures: int = 0

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# Distinct failure reasons kept per account in the summary (its sources may number thousands).
MAX_ACCOUNT_REASONS = 10


@dataclass
class RunSummary:
    started_at: str
    sources: list[SourceSummary] = field(default_factory=list)
    stopped_early: bool = False
    # How many accounts this run audited, and why the organization's accounts could not be listed (the
    # home account is audited alone then).
    accounts: int = 1
    account_listing_error: str | None = None

    @property
    def failed_sources(self) -> list[SourceSummary]:
        return [s for s in self.sources if s.error]

    @property
    def status(self) -> str:
        if self.failed_sources or self.stopped_early or self.account_listing_error:
            return "partial-failure"
        return "ok"

    def failed_accounts(self) -> dict[str, dict[str, Any]]:
        """Account -> its failed sources' count and their distinct reasons (first MAX_ACCOUNT_REASONS)."""
        failed: dict[str, dict[str, Any]] = {}
        for source in self.failed_sources:
            entry = failed.setdefault(source.account, {"sources": 0, "reasons": []})
            entry["sources"] += 1
            reason = _account_reason(source)
            if reason not in entry["reasons"] and len(entry["reasons"]) < MAX_ACCOUNT_REASONS:
                entry["reasons"].append(reason)
        return failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "startedAt": self.started_at,
            "stoppedEarly": self.stopped_early,
            "transitions": sum(s.transitions for s in self.sources),
            "published": sum(s.published for s in self.sources),
            "parked": sum(s.parked for s in self.sources),
            "failedSources": [s.source for s in self.failed_sources],
            "accounts": self.accounts,
            "failedAccounts": self.failed_accounts(),
            **({"accountListingError": self.account_listing_error} if self.account_listing_error else {}),
            "sources": [s.as_dict() for s in self.sources],
        }


def _account_reason(source: SourceSummary) -> str:
    """A failure as the account's reason: without the account in the source's key, so that a reason
    its sources share (its role, a region not enabled) is listed once per region and kind at most."""
    return (source.error or "").replace(f"{source.account}/", "", 1)


@dataclass
class _Observation:
    """What one source's run saw: the jobs, their recorded state, and the jobs gone missing."""

    jobs: list[ObservedJob]
    previous: dict[str, JobState]
    vanished: list[JobState]


def _failure(exc: Exception) -> str:
    if isinstance(exc, SourceError):
        return f"{exc.code}: {exc}"
    return f"InternalError: {type(exc).__name__}: {exc}"


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
        # Per run: whether a scope (account/region/kind) had been audited before this run began, read
        # before anything of this run marks it.
        self._scope_seen: dict[str, bool] = {}
        # Scopes whose knowledge bases this run could enumerate: marked audited when it ends.
        self._scopes_enumerated: dict[str, Source] = {}
        self._scope_lock = threading.Lock()

    # -- the whole run --------------------------------------------------------------------------
    def audit(
        self,
        account: str,
        regions: Iterable[str],
        kinds: Iterable[str],
        configured_scopes: Mapping[str, Sequence[tuple[str, ...]]],
        should_stop: StopCheck = lambda: False,
    ) -> RunSummary:
        """Expand the configuration into sources and audit them all; always returns a summary."""
        return self.audit_accounts((account,), regions, kinds, configured_scopes, should_stop)

    def audit_accounts(
        self,
        accounts: Sequence[str],
        regions: Iterable[str],
        kinds: Iterable[str],
        configured_scopes: Mapping[str, Sequence[tuple[str, ...]]],
        should_stop: StopCheck = lambda: False,
    ) -> RunSummary:
        """`audit` over several accounts in one run: every account's sources share one bounded pool
        and one time budget. An account that cannot be read fails only its own sources."""
        region_list, kind_list = tuple(regions), tuple(kinds)
        self._reset_scopes()
        sources: list[Source] = []
        failures: list[SourceSummary] = []
        expanded = 0
        for account in accounts:
            # Discovery lists each account's scopes in turn: with many accounts it can take the budget.
            if expanded and should_stop():
                logger.warning(
                    "time budget reached while expanding accounts; the rest wait for the next run",
                    extra={"expanded": expanded, "accounts": len(accounts)},
                )
                break
            found, failed = self._expand(account, region_list, kind_list, configured_scopes)
            sources += found
            failures += failed
            expanded += 1
        summary = self.run(sources, should_stop)
        summary.sources.extend(failures)
        summary.accounts = expanded
        summary.stopped_early = summary.stopped_early or expanded < len(accounts)
        return summary

    def sources(
        self,
        account: str,
        regions: Iterable[str],
        kinds: Iterable[str],
        configured_scopes: Mapping[str, Sequence[tuple[str, ...]]],
    ) -> tuple[list[Source], list[SourceSummary]]:
        """Expand the configuration into sources: a kind with a scope gets one source per knowledge
        base (and data source), configured or discovered. A region whose scope cannot be discovered
        (denied, throttled, a malformed or endless listing) becomes a failed summary instead of
        stopping the others."""
        self._reset_scopes()
        return self._expand(account, tuple(regions), tuple(kinds), configured_scopes)

    def _reset_scopes(self) -> None:
        self._scope_seen = {}
        self._scopes_enumerated = {}

    def _expand(
        self,
        account: str,
        regions: Sequence[str],
        kinds: Sequence[str],
        configured_scopes: Mapping[str, Sequence[tuple[str, ...]]],
    ) -> tuple[list[Source], list[SourceSummary]]:
        sources: list[Source] = []
        failures: list[SourceSummary] = []
        for region in regions:
            for kind_id in kinds:
                kind = JOB_KINDS[kind_id]
                scope = Source(account, region, kind)
                if not kind.discovery:
                    sources.append(scope)
                    continue
                try:
                    scope_ids = self._scope_ids(scope, configured_scopes.get(kind_id, ()))
                    if not scope_ids:
                        # Read now, so that the scope is marked below: the first knowledge base to
                        # appear later is then announced, not taken for the first deployment's.
                        self._scope_audited_before(scope)
                except Exception as exc:  # one region's discovery must not stop the run
                    error = _failure(exc)
                    logger.error(
                        "scope discovery failed",
                        extra={"source": scope.key, "error": error},
                        exc_info=not isinstance(exc, SourceError),
                    )
                    failures.append(SourceSummary(scope.key, kind.id, region, account, error=error))
                    continue
                self._scopes_enumerated[scope.key] = scope
                sources.extend(Source(account, region, kind, ids) for ids in scope_ids)
        return sources, failures

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

    def plan(
        self,
        account: str,
        regions: Iterable[str],
        kinds: Iterable[str],
        configured_scopes: Mapping[str, Sequence[tuple[str, ...]]],
    ) -> tuple[list[Source], list[SourceSummary], dict[str, bool]]:
        """Fan-out's first step: discovery only (`sources`), for batches that other invocations audit.

        Also returns, per scope of a discovered source, whether it had been audited before this run
        (read now, before anything of this run marks it), for `run(..., scope_seen=)`: the batch that
        audits a scope's sources marks it, as `audit` does at the end of a run. Scopes found empty have
        no batch, so they are marked here; a failed mark is one more failed summary."""
        sources, failures = self.sources(account, regions, kinds, configured_scopes)
        marks = RunSummary(started_at="")
        self._mark_scopes(marks)  # only the scopes found empty were read by `sources`
        failures.extend(marks.sources)
        seen = {s.unscoped.key: self._scope_audited_before(s) for s in sources if s.spec.discovery}
        return sources, failures, seen

    def run(
        self,
        sources: Sequence[Source],
        should_stop: StopCheck = lambda: False,
        scope_seen: Mapping[str, bool] | None = None,
    ) -> RunSummary:
        """Audit every source, several at once; one failing source does not stop the others.

        `scope_seen` (from `plan`, in another invocation) says which scopes had been audited before
        the run; their sources' scopes are marked at the end, as after `sources`."""
        if scope_seen is not None:
            self._scope_seen = dict(scope_seen)
            self._scopes_enumerated = {s.unscoped.key: s.unscoped for s in sources if s.spec.discovery}
        summary = RunSummary(started_at=iso(self._clock()) or "")

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
        self._mark_scopes(summary)
        return summary

    def _mark_scopes(self, summary: RunSummary) -> None:
        """A scope whose knowledge bases were enumerated has been audited: a knowledge base that
        appears in it later is new, and its jobs are announced. Marked even when it had none yet; read
        (and so marked) only where this run needed to know."""
        for key, scope in self._scopes_enumerated.items():
            if self._scope_seen.get(key) is not False:
                continue
            try:
                self._store.save_checkpoint(scope, advance(None, self._clock()))
            except Exception as exc:  # retried by the next run; nothing is lost meanwhile
                error = _failure(exc)
                logger.error("could not mark scope audited", extra={"source": key, "error": error})
                summary.sources.append(
                    SourceSummary(key, scope.spec.id, scope.region, scope.account, error=error)
                )
        self._scopes_enumerated = {}

    # -- one source -----------------------------------------------------------------------------
    def audit_source(self, source: Source, should_stop: StopCheck = lambda: False) -> SourceSummary:
        """One source. Whatever goes wrong inside it stays its own: logged, counted, summarised."""
        started = time.monotonic()
        run_started = self._clock()
        calls_before = self._api.api_calls(source)
        result = SourceSummary(source.key, source.spec.id, source.region, source.account)
        try:
            self._audit(source, result, should_stop, run_started)
        except Stopped as exc:
            result.stopped = True
            logger.warning(
                "time budget reached inside a source", extra={"source": source.key, "at": str(exc)}
            )
        except Exception as exc:  # a malformed page or a bug must not stop other sources
            result.error = _failure(exc)
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
            logger.warning("could not record the audit", extra={"source": source.key, "error": _failure(exc)})

    def _audit(
        self, source: Source, result: SourceSummary, should_stop: StopCheck, run_started: datetime
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
        lease_until = run_started + policy.claim_lease
        complete = self._commit(source, plan, transitions, result, should_stop, lease_until)

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
    def _silenced(self, source: Source, plan: WindowPlan, transitions: list[Transition]) -> list[Transition]:
        """The first deployment's baseline records jobs it finds without announcing them; only jobs
        with no recorded state: a baseline that is repeated (its checkpoint write failed) announces
        every change of a job it recorded before."""
        if not plan.baseline or self._policy.announce_baseline or self._scope_audited_before(source):
            return []
        return [t for t in transitions if t.type == "discovered"]

    def _commit(
        self,
        source: Source,
        plan: WindowPlan,
        transitions: list[Transition],
        result: SourceSummary,
        should_stop: StopCheck,
        lease_until: datetime,
    ) -> bool:
        """Record, claim and deliver; True if nothing is left that only a wider window would find."""
        silent = self._silenced(source, plan, transitions)
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

    def _scope_audited_before(self, source: Source) -> bool:
        """A knowledge base that appears after the first deployment is new: its jobs are announced.
        Only the first deployment's baseline is silent. Decided once per scope and run, under a lock,
        before this run marks the scope."""
        if not source.spec.discovery:
            return False
        key = source.unscoped.key
        with self._scope_lock:
            if key not in self._scope_seen:
                self._scope_seen[key] = self._store.load_checkpoint(source.unscoped) is not None
            return self._scope_seen[key]

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
