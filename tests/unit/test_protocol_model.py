"""A model-based test of the whole audit use case on the in-memory fakes (tests/fakes.py).

Hypothesis drives a world of jobs (created at any age, with a visibility lag, changed, deleted) and
injects faults (throttled and malformed API answers, failed or crashing store writes, refused
publishes, outages of any length of each channel: the bus, the notification topic, the chat topic;
entries a channel refuses for good) between scheduled runs of any spacing. The oracle:
- every run returns a summary (a crash injected on purpose is the only exception that escapes);
- nothing is announced that did not happen: every announced status (and previous status) is one the
  job really had, and a job announced as disappeared was really gone;
- one eventId is one transition, and a job's sequence number never gets two eventIds;
- a baseline records silently only jobs that have no state yet;
- once faults stop, within one sweep period (plus a claim lease) every job's recorded state is its
  real status, and every recorded state was announced on EVERY channel (one by one or in a digest),
  except on a channel that refused it for good (parked for operators), and except the first
  deployment's baseline and history from before it; what a channel parked for a passing reason (an
  outage longer than the retry time) has been re-driven to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.ports import SourceError
from tests.fakes import POLICY, Crash, FakeJob, Harness, down_until, fail_once, fail_store_once

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
    "retry_later",
    "reclaim_expired",
    "unpark",
    "load_jobs_since",
)
CHANNELS = ("eventbridge", "sns", "chat")
# A digest past three transitions for people in one run, so that the model meets digests often.
MODEL_POLICY = replace(POLICY, digest_threshold=3)
# What an outage answers: throttling, 5xx, a broken key policy, a deleted bus or topic, an SCP.
OUTAGE_CODES = (
    "ThrottlingException",
    "InternalFailure",
    "KMSAccessDenied",
    "ResourceNotFoundException",
    "AccessDeniedException",
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
        self.h = Harness(kinds=tuple(SOURCES), policy=MODEL_POLICY)
        self.h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB]
        self.truth: dict[str, Truth] = {}
        # Per channel: entries still to refuse for a passing reason, and jobs refused for good.
        self.refusals = dict.fromkeys(CHANNELS, 0)
        self.poisoned: dict[str, set[str]] = {name: set() for name in CHANNELS}
        for name in CHANNELS:
            self.h.channel(name).refuse = self._refuser(name)
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

    def _refuser(self, name: str) -> Any:
        def refuse(t: Any) -> str | None:
            if t.job.job_id in self.poisoned[name]:
                return "ValidationException"
            if self.refusals[name] > 0:
                self.refusals[name] -= 1
                return "ThrottlingException"
            return None

        return refuse

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

    @rule(channel=st.sampled_from(CHANNELS), times=st.integers(1, 3))
    def refuse_publishes(self, channel: str, times: int) -> None:
        self.refusals[channel] += times

    @rule(
        channel=st.sampled_from(CHANNELS),
        minutes=st.sampled_from([25, 3 * 60, 30 * 60, 30 * 60]),
        code=st.sampled_from(OUTAGE_CODES),
    )
    def channel_outage(self, channel: str, minutes: int, code: str) -> None:
        """The channel fails every call for this long, from now (any length: past the retry time too)."""
        self.h.channel(channel).outage = down_until(
            self.h.clock, self.h.clock() + timedelta(minutes=minutes), code
        )

    @precondition(lambda self: any(t.gone_at is None and t.statuses[-1] in NEXT for t in self.truth.values()))
    @rule(
        channel=st.sampled_from(CHANNELS),
        minutes=st.sampled_from([25, 3 * 60, 30 * 60]),
        code=st.sampled_from(OUTAGE_CODES),
        data=st.data(),
    )
    def a_job_moves_on_during_an_outage(
        self, channel: str, minutes: int, code: str, data: st.DataObject
    ) -> None:
        """A channel goes down, a job moves on, and runs go on every half hour until it is back."""
        back = self.h.clock() + timedelta(minutes=minutes)
        self.channel_outage(channel, minutes, code)
        self.change_status(data)
        while self.h.clock() < back:
            self.run(30)

    @precondition(lambda self: bool(self.truth))
    @rule(channel=st.sampled_from(CHANNELS), data=st.data())
    def channel_refuses_a_job_for_good(self, channel: str, data: st.DataObject) -> None:
        """One job's entries are invalid for this channel (parked at once for it alone)."""
        self.poisoned[channel].add(data.draw(st.sampled_from(sorted(self.truth))))

    # -- runs -----------------------------------------------------------------------------------
    @rule(minutes=st.sampled_from([5, 5, 20, 60, 120, 6 * 60, 25 * 60]))
    def run(self, minutes: int) -> None:
        try:
            summary = self.h.run(timedelta(minutes=minutes))
        except Crash:
            return  # the process died; the next run picks up
        assert summary.sources, "a run always returns a summary of its sources"
        if self.first_run_at is None:
            self.first_run_at = summary.started_at

    @rule(hours=st.sampled_from([4, 26]))
    def hours_of_runs(self, hours: int) -> None:
        """Runs every two hours for a while: long enough for an outage to pass the retry time."""
        for _ in range(hours // 2):
            self.run(120)

    @rule()
    def quiesce_and_check(self) -> None:
        """Faults stop; one sweep period and a lease later every job's state is caught up and was
        announced."""
        self.h.api.faults.clear()
        self.h.store.faults.clear()
        self.refusals = dict.fromkeys(CHANNELS, 0)
        for name in CHANNELS:
            self.h.channel(name).outage = lambda: None
            self.poisoned[name].clear()
        period = timedelta(minutes=5)
        runs = (POLICY.reconcile_every + POLICY.claim_lease) // period + POLICY.vanished_after_checks + 2
        for _ in range(runs):
            self.h.run(period)
        self._check_converged()

    def _check_converged(self) -> None:
        now = self.h.clock()
        self._check_every_channel()
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

    def _check_every_channel(self) -> None:
        """Every committed transition was announced on every channel (one by one or in a digest), or
        that channel refused it for good; nothing parked for a passing reason is left."""
        parked = self.h.store.parked_transitions
        assert all(not p.retryable for p in parked.values()), parked
        for item in self.h.store.items.values():
            event_id = item.last_event_id
            if event_id is None:
                continue
            for channel in self.h.channels:
                refused_for_good = event_id in parked and channel.name in parked[event_id].channels
                assert event_id in channel.announced() or refused_for_good, (channel.name, item)

    def _announcements(self) -> list[Any]:
        """Every transition any channel carried, one by one or in a digest."""
        return [
            t for c in self.h.channels for t in [*c.delivered, *(t for digest in c.digests for t in digest)]
        ]

    # -- always ---------------------------------------------------------------------------------
    @invariant()
    def a_baseline_silences_only_jobs_without_state(self) -> None:
        assert self.violations == []

    @invariant()
    def nothing_announced_that_did_not_happen(self) -> None:
        for t in self._announcements():
            truth = self.truth[t.job.job_id]
            assert t.status in truth.statuses, (t, truth.statuses)
            assert t.previous_status is None or t.previous_status in truth.statuses, (t, truth.statuses)
            if t.type == "disappeared":
                assert truth.gone_at is not None and truth.gone_at <= t.observed_at, (t, truth)

    @invariant()
    def one_event_id_per_transition(self) -> None:
        by_id: dict[str, tuple[Any, ...]] = {}
        by_sequence: dict[tuple[str, int], str] = {}
        for t in self._announcements():
            content = (t.job.job_id, t.sequence, t.previous_status, t.status, t.type)
            assert by_id.setdefault(t.event_id, content) == content, (t.event_id, content)
            assert by_sequence.setdefault((t.job.job_id, t.sequence), t.event_id) == t.event_id, t


AuditModel.TestCase.settings = settings(
    max_examples=80,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestAuditProtocol = AuditModel.TestCase
