"""A model-based test of the whole audit use case on the in-memory fakes (tests/fakes.py).

Hypothesis drives a world of jobs (created at any age, with a visibility lag, changed, deleted) and
injects faults (throttled and malformed API answers, failed or crashing store writes, refused
publishes) between scheduled runs. The oracle:
- every run returns a summary (a crash injected on purpose is the only exception that escapes);
- nothing is announced that did not happen: every announced status (and previous status) is one the
  job really had, and a job announced as disappeared was really gone;
- one eventId is one transition, and a job's sequence number never gets two eventIds;
- a baseline records silently only jobs that have no state yet;
- once faults stop, within one sweep period (plus a claim lease) every job's recorded state is its
  real status, and every recorded state was announced (or parked), except the first deployment's
  baseline and history from before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.ports import SourceError
from tests.fakes import POLICY, Crash, FakeJob, FakeStartFeed, Harness, fail_once, fail_store_once

ACCOUNT, REGION = "123456789012", "us-east-1"
KB = "0f6f1c2e-1111-4a3b-9c8d-000000000002"
SOURCES = {
    "bedrock-model-import": Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-import"]),
    "qconnect-import": Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (KB,)),
}
# Where each status may go next: the APIs' own life cycles.
NEXT = {
    "InProgress": ("Completed", "Failed"),
    "START_IN_PROGRESS": ("COMPLETE", "FAILED"),
    "COMPLETE": ("DELETE_IN_PROGRESS",),
    "FAILED": ("DELETE_IN_PROGRESS",),
    "DELETE_IN_PROGRESS": ("DELETED", "DELETE_FAILED"),
}
FIRST = {
    "bedrock-model-import": ("InProgress", "Completed", "Failed"),
    "qconnect-import": ("START_IN_PROGRESS",),
}
STORE_OPS = (
    "claim",
    "finalize",
    "history",
    "save_checkpoint",
    "record_silently",
    "release",
    "load_jobs_since",
)


@dataclass
class Truth:
    kind: str
    created_at: datetime
    statuses: list[str]
    visible_from: datetime
    gone_at: datetime | None = None
    # The auditor followed it when it went: then it must be announced as disappeared.
    tracked_when_gone: bool = False
    history: list[str] = field(default_factory=list)


class AuditModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness(kinds=tuple(SOURCES), policy=POLICY)
        self.h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB]
        self.truth: dict[str, Truth] = {}
        self.refusals = 0
        self.h.publisher.refuse = self._refuse
        self.first_run_at: str | None = None
        self.silent_keys: set[tuple[str, str]] = set()
        # Noted here, asserted by an invariant: the run would catch an AssertionError as a failure.
        self.violations: list[str] = []
        real_record = self.h.store.record_silently

        def record_silently(transitions: Any) -> int:
            for t in transitions:
                if self.h.store.state_of(t.source, t.job.job_id) is not None:
                    self.violations.append(f"baseline silenced {t.job.job_id}, which had a state")
                self.silent_keys.add((t.source.key, t.job.job_id))
            return real_record(transitions)

        self.h.store.record_silently = record_silently  # type: ignore[method-assign]

    def _refuse(self, _: Any) -> str | None:
        if self.refusals > 0:
            self.refusals -= 1
            return "ThrottlingException"
        return None

    # -- the world ------------------------------------------------------------------------------
    @initialize(jobs=st.integers(0, 3), first_checkpoint_fails=st.booleans())
    def deployed_into_a_busy_account(self, jobs: int, first_checkpoint_fails: bool) -> None:
        """Jobs exist before the first run, and the first run may fail to write its checkpoint."""
        for n in range(jobs):
            self.create_job(tuple(SOURCES)[n % 2], 0, (0, 30)[n % 2], 0)
        if first_checkpoint_fails:
            self.h.store.faults.append(fail_store_once("save_checkpoint"))

    @rule(
        kind=st.sampled_from(tuple(SOURCES)),
        first=st.integers(0, 2),
        age_hours=st.sampled_from([0, 2, 30, 80]),
        lag_minutes=st.sampled_from([0, 0, 40]),
    )
    def create_job(self, kind: str, first: int, age_hours: int, lag_minutes: int) -> None:
        statuses = FIRST[kind]
        status = statuses[first % len(statuses)]
        if age_hours > 24:
            status = statuses[0]  # an old job is news only while it runs
        now = self.h.clock()
        created = now - timedelta(hours=age_hours, microseconds=len(self.truth) * 7)
        job_id = f"job-{len(self.truth):04d}"
        if kind == "bedrock-model-import":
            job_id = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/{job_id}"
        visible = now + timedelta(minutes=lag_minutes)
        self.h.api.add(SOURCES[kind], FakeJob(job_id, status, created, visible_from=visible))
        self.truth[job_id] = Truth(kind, created, [status], visible)

    @precondition(lambda self: any(t.gone_at is None and t.statuses[-1] in NEXT for t in self.truth.values()))
    @rule(data=st.data())
    def change_status(self, data: st.DataObject) -> None:
        movable = sorted(j for j, t in self.truth.items() if t.gone_at is None and t.statuses[-1] in NEXT)
        job_id = data.draw(st.sampled_from(movable))
        truth = self.truth[job_id]
        status = data.draw(st.sampled_from(NEXT[truth.statuses[-1]]))
        truth.statuses.append(status)
        self.h.api.set_status(SOURCES[truth.kind], job_id, status)

    @precondition(lambda self: any(t.gone_at is None for t in self.truth.values()))
    @rule(data=st.data())
    def delete_job(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(sorted(j for j, t in self.truth.items() if t.gone_at is None)))
        truth = self.truth[job_id]
        source = SOURCES[truth.kind]
        state = self.h.store.state_of(source, job_id)
        truth.tracked_when_gone = state is not None and state.tracked(source.spec)
        truth.gone_at = self.h.clock()
        self.h.api.delete(source, job_id)

    # -- faults ---------------------------------------------------------------------------------
    @rule(
        operation=st.sampled_from(["list", "get", "list_knowledge_bases"]),
        error=st.sampled_from(["throttle", "malformed", "loop"]),
    )
    def api_fault(self, operation: str, error: str) -> None:
        exc: Exception = {
            "throttle": SourceError("Rate exceeded", code="ThrottlingException"),
            "malformed": AttributeError("'str' object has no attribute 'get'"),
            "loop": SourceError("nextToken again", code="PaginationLoop"),
        }[error]
        self.h.api.faults.append(fail_once(operation, exc))

    @rule(operation=st.sampled_from(STORE_OPS), crash=st.booleans())
    def store_fault(self, operation: str, crash: bool) -> None:
        error = Crash() if crash else SourceError(f"{operation} throttled", code="ThrottlingException")
        self.h.store.faults.append(fail_store_once(operation, error))

    @rule(times=st.integers(1, 3))
    def refuse_publishes(self, times: int) -> None:
        self.refusals += times

    # -- runs -----------------------------------------------------------------------------------
    @rule(minutes=st.sampled_from([5, 5, 20, 60]))
    def run(self, minutes: int) -> None:
        try:
            summary = self.h.run(timedelta(minutes=minutes))
        except Crash:
            return  # the process died; the next run picks up
        assert summary.sources, "a run always returns a summary of its sources"
        if self.first_run_at is None:
            self.first_run_at = summary.started_at

    @rule()
    def quiesce_and_check(self) -> None:
        """Faults stop; one sweep period and a lease later every job's state is caught up and was
        announced."""
        self.h.api.faults.clear()
        self.h.store.faults.clear()
        self.refusals = 0
        period = timedelta(minutes=5)
        runs = (POLICY.reconcile_every + POLICY.claim_lease) // period + POLICY.vanished_after_checks + 2
        for _ in range(runs):
            self.h.run(period)
        self._check_converged()

    def _check_converged(self) -> None:
        now = self.h.clock()
        announced = {t.event_id for t in self.h.publisher.delivered}
        announced |= set(self.h.store.parked_transitions)
        for job_id, truth in self.truth.items():
            source = SOURCES[truth.kind]
            state = self.h.store.state_of(source, job_id)
            if truth.gone_at is not None:
                if truth.tracked_when_gone:
                    assert state is not None and state.disappeared_at is not None, (job_id, state)
                continue
            if state is None:
                # Only history from before the first deployment goes unrecorded.
                assert source.spec.is_terminal(truth.statuses[-1]), (job_id, truth)
                assert truth.created_at < now - POLICY.reconcile_lookback, (job_id, truth)
                continue
            assert state.status == truth.statuses[-1], (job_id, state.status, truth.statuses)
        for item in self.h.store.items.values():
            key = (item.source.key, item.state.job_id)
            if item.last_event_id is None:
                assert key in self.silent_keys and item.state.sequence == 1, item
            else:
                assert item.last_event_id in announced, item

    # -- always ---------------------------------------------------------------------------------
    @invariant()
    def a_baseline_silences_only_jobs_without_state(self) -> None:
        assert self.violations == []

    @invariant()
    def nothing_announced_that_did_not_happen(self) -> None:
        for t in self.h.publisher.delivered:
            truth = self.truth[t.job.job_id]
            assert t.status in truth.statuses, (t, truth.statuses)
            assert t.previous_status is None or t.previous_status in truth.statuses, (t, truth.statuses)
            if t.type == "disappeared":
                assert truth.gone_at is not None and truth.gone_at <= t.observed_at, (t, truth)

    @invariant()
    def one_event_id_per_transition(self) -> None:
        by_id: dict[str, tuple[Any, ...]] = {}
        by_sequence: dict[tuple[str, int], str] = {}
        for t in self.h.publisher.delivered:
            content = (t.job.job_id, t.sequence, t.previous_status, t.status, t.type)
            assert by_id.setdefault(t.event_id, content) == content, (t.event_id, content)
            assert by_sequence.setdefault((t.job.job_id, t.sequence), t.event_id) == t.event_id, t


AuditModel.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestAuditProtocol = AuditModel.TestCase


class AnnouncedStartsModel(AuditModel):
    """The same world and oracle with discovery=cloudtrail for Q in Connect: its job starts are
    announced, but events may be lost, repeated or delivered late, and the queue may be unreadable
    for a run. The sweep still catches everything within one sweep period."""

    def __init__(self) -> None:
        super().__init__()
        covered = SOURCES["qconnect-import"].key
        self.h.feed = FakeStartFeed(covered=lambda source: source.key == covered)
        self.late: list[tuple[str, Any]] = []

    @rule(
        kind=st.sampled_from(tuple(SOURCES)),
        first=st.integers(0, 2),
        age_hours=st.sampled_from([0, 2, 30, 80]),
        lag_minutes=st.sampled_from([0, 0, 40]),
        delivery=st.sampled_from(["on-time", "on-time", "lost", "twice", "late"]),
    )
    def start_announced_job(
        self, kind: str, first: int, age_hours: int, lag_minutes: int, delivery: str
    ) -> None:
        self.create_job(kind, first, age_hours, lag_minutes)
        job_id, truth = list(self.truth.items())[-1]
        if kind != "qconnect-import" or self.h.feed is None or delivery == "lost":
            return
        if delivery == "late":
            self.late.append((job_id, truth.created_at))
            return
        for _ in range(2 if delivery == "twice" else 1):
            self.h.feed.announce(SOURCES[kind], job_id, truth.created_at)

    @rule()
    def deliver_late_events(self) -> None:
        assert self.h.feed is not None
        for job_id, at in self.late:
            self.h.feed.announce(SOURCES["qconnect-import"], job_id, at)
        self.late.clear()

    @rule()
    def queue_unreadable_next_run(self) -> None:
        assert self.h.feed is not None
        feed = self.h.feed
        real = feed.take

        def once(*args: Any, **kwargs: Any) -> None:
            feed.take = real  # type: ignore[method-assign]
            raise SourceError("Access denied", code="AccessDenied")

        feed.take = once  # type: ignore[method-assign]


AnnouncedStartsModel.TestCase.settings = AuditModel.TestCase.settings
TestAnnouncedStartsProtocol = AnnouncedStartsModel.TestCase
