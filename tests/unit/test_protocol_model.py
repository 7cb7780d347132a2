"""A model-based test of the whole audit use case on the in-memory fakes (tests/fakes.py).

Hypothesis drives a world of jobs (created at any age, with a visibility lag, changed, deleted) and
injects faults (throttled and malformed API answers, a running job the API answers for as for no job
for a while, in its listing and to Get, and which may move on and end meanwhile; failed or crashing
store writes, refused publishes, outages of any length of each channel: the bus, the notification
topic, the chat topic; entries a channel refuses for good) between scheduled runs of any spacing;
between runs it also deletes knowledge bases (and their jobs), takes a job kind or a member account
out of the configuration (and, for some, revokes the access to its API) and puts it back, lets a
member account's role go missing for a while (an outage), runs under a tight time budget, and lets a
run read the audit records a run behind (an eventually consistent read at its stalest). The oracle:
- every run returns a summary (a crash injected on purpose is the only exception that escapes);
- nothing is announced that did not happen: every announced status (and previous status) is one the
  job really had, and a job announced as disappeared was really gone (or lost by its API at the time),
  or no longer audited and its API no longer answering for it, with a reason that was true then;
- one eventId is one transition, and a job's sequence number never gets two eventIds;
- a baseline records silently only jobs that have no state yet, and (a catch-up after failed
  attempts) only jobs created before the source's first attempt;
- once faults stop, the configuration is put back and the API answers for every job again, within
  one sweep period (plus a claim lease) every job's recorded state is its real status (that of a job
  the API lost, which may have ended meanwhile, too), a job still running is followed, and every
  recorded state was announced on EVERY channel (one by one or in a digest), except on a channel that
  refused it for good (parked for operators), and except the first deployment's baseline and history
  from before it; what a channel parked for a passing reason (an outage longer than the retry time)
  has been re-driven to it; a job that was tracked when it went (or when its knowledge base went) was
  announced as disappeared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.ports import SourceError, StopCheck, never
from job_auditor.auditor.summary import RunSummary
from tests.fakes import (
    POLICY,
    Crash,
    FakeJob,
    FakeStartFeed,
    Harness,
    down_until,
    fail_once,
    fail_store_once,
)

ACCOUNT, MEMBER, REGION = "123456789012", "210987654321", "us-east-1"
KB, KB2 = "0f6f1c2e-1111-4a3b-9c8d-000000000002", "0f6f1c2e-1111-4a3b-9c8d-000000000003"
KINDS = ("bedrock-model-import", "qconnect-import")
# The sources jobs are created in, by name: the home account's, a second knowledge base, a member's.
SOURCES = {
    "bedrock-model-import": Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-import"]),
    "qconnect-import": Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (KB,)),
    "qconnect-kb2": Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (KB2,)),
    "member-import": Source(MEMBER, REGION, JOB_KINDS["bedrock-model-import"]),
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
    "record_audit",
    "record_silently",
    "retry_later",
    "reclaim_expired",
    "unpark",
    "load_jobs_since",
    "load_audit_records",
    "read_audit_records",
    "record_scope",
    "retire",
)
CHANNELS = ("eventbridge", "sns", "chat")
# A digest past three transitions for people in one run, so that the model meets digests often.
MODEL_POLICY = POLICY._replace(digest_threshold=3)
# What an outage answers: throttling, 5xx, a broken key policy, a deleted bus or topic, an SCP.
OUTAGE_CODES = (
    "ThrottlingException",
    "InternalFailure",
    "KMSAccessDenied",
    "ResourceNotFoundException",
    "AccessDeniedException",
)


@dataclass(frozen=True)
class Config:
    """The configuration and the world a run met: what a `disappeared` reason is checked against."""

    kinds: tuple[str, ...]
    member: bool
    # Source names whose API refuses the auditor (access revoked with the configuration).
    denied: frozenset[str]
    deleted_kbs: frozenset[str]


@dataclass
class Truth:
    # The name of its source in SOURCES.
    source: str
    created_at: datetime
    statuses: list[str]
    visible_from: datetime
    gone_at: datetime | None = None
    # The auditor followed it when it went: then it must be announced as disappeared.
    tracked_when_gone: bool = False
    # Times the API answered for it as for no job (list and Get), from and until: "not found" is true
    # then, and the job must be followed again after.
    lost: list[tuple[datetime, datetime]] = field(default_factory=list)
    history: list[str] = field(default_factory=list)


def _kind(name: str) -> str:
    return SOURCES[name].spec.id


class AuditModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness(kinds=KINDS, policy=MODEL_POLICY)
        self.h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB, KB2]
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
        # The configuration: the member account audited or not; source names whose API refuses.
        self.member = True
        self.denied: set[str] = set()
        self.deleted_kbs: set[str] = set()
        # Run time -> the configuration and world that run met.
        self.configs: dict[datetime, Config] = {}
        real_record = self.h.store.record_silently

        def record_silently(transitions: Any) -> int:
            for t in transitions:
                if self.h.store.state_of(t.source, t.job.job_id) is not None:
                    self.violations.append(f"baseline silenced {t.job.job_id}, which had a state")
                # Only what a first attempt would have seen: a job that appeared after the source's
                # first attempt (an outage's) is news.
                record = self.h.store.records.get(t.source.key)
                first = record.first_attempted_at if record is not None else None
                if first is not None and t.job.created_at >= first:
                    self.violations.append(f"catch-up silenced {t.job.job_id}, created after {first}")
                self.silent_keys.add((t.source.key, t.job.job_id))
            return real_record(transitions)

        self.h.store.record_silently = record_silently  # type: ignore[method-assign]
        self.h.api.faults.append(self._denied)

    def _refuser(self, name: str) -> Any:
        def refuse(t: Any) -> str | None:
            if t.job.job_id in self.poisoned[name]:
                return "ValidationException"
            if self.refusals[name] > 0:
                self.refusals[name] -= 1
                return "ThrottlingException"
            return None

        return refuse

    def _denied(self, operation: str, source: Source | None) -> None:
        """A source whose access was revoked (its kind's grants, its account's role) refuses every call."""
        names = {name for name, s in SOURCES.items() if source is not None and s.key == source.key}
        if source is not None and source.account == MEMBER and "member-import" in self.denied:
            names.add("member-import")
        if names & self.denied:
            raise SourceError(f"{operation}: not authorized", code="AccessDeniedException")

    # -- the world ------------------------------------------------------------------------------
    @initialize(jobs=st.integers(0, 3), first_record_fails=st.booleans(), role_missing=st.booleans())
    def deployed_into_a_busy_account(self, jobs: int, first_record_fails: bool, role_missing: bool) -> None:
        """Jobs exist before the first run, the first run may fail to write its records, and the
        member account's role may not be deployed yet (its every attempt fails until it is)."""
        for n in range(jobs):
            self.create_job(tuple(SOURCES)[n % len(SOURCES)], 0, (0, 30)[n % 2], 0)
        if first_record_fails:
            self.h.store.faults.append(fail_store_once("record_audit"))
        if role_missing:
            # A first run fails there, then a job starts there: news once the role is deployed.
            self.denied.add("member-import")
            self.run(5)
            self.job_during_an_outage(jobs)

    @rule(
        name=st.sampled_from(tuple(SOURCES)),
        first=st.integers(0, 2),
        age_hours=st.sampled_from([0, 2, 30, 80]),
        lag_minutes=st.sampled_from([0, 0, 40]),
    )
    def create_job(self, name: str, first: int, age_hours: int, lag_minutes: int) -> None:
        source = SOURCES[name]
        if source.knowledge_base_id in self.deleted_kbs:
            return  # no job is created in a deleted knowledge base
        statuses = FIRST[source.spec.id]
        status = statuses[first % len(statuses)]
        if age_hours > 24:
            status = statuses[0]  # an old job is news only while it runs
        now = self.h.clock()
        created = now - timedelta(hours=age_hours, microseconds=len(self.truth) * 7)
        job_id = f"job-{len(self.truth):04d}"
        if source.spec.id == "bedrock-model-import":
            job_id = f"arn:aws:bedrock:{REGION}:{source.account}:model-import-job/{job_id}"
        visible = now + timedelta(minutes=lag_minutes)
        self.h.api.add(source, FakeJob(job_id, status, created, visible_from=visible))
        self.truth[job_id] = Truth(name, created, [status], visible)

    @precondition(lambda self: "member-import" in self.denied)
    @rule(first=st.integers(0, 2))
    def job_during_an_outage(self, first: int) -> None:
        """A job starts in the member account while the auditor cannot reach it."""
        self.create_job("member-import", first, 0, 0)

    @precondition(lambda self: any(t.gone_at is None and t.statuses[-1] in NEXT for t in self.truth.values()))
    @rule(data=st.data())
    def change_status(self, data: st.DataObject) -> None:
        movable = sorted(j for j, t in self.truth.items() if t.gone_at is None and t.statuses[-1] in NEXT)
        job_id = data.draw(st.sampled_from(movable))
        truth = self.truth[job_id]
        status = data.draw(st.sampled_from(NEXT[truth.statuses[-1]]))
        truth.statuses.append(status)
        self.h.api.set_status(SOURCES[truth.source], job_id, status)

    def _gone(self, job_id: str) -> None:
        truth = self.truth[job_id]
        source = SOURCES[truth.source]
        state = self.h.store.state_of(source, job_id)
        truth.tracked_when_gone = state is not None and state.tracked(source.spec)
        truth.gone_at = self.h.clock()
        self.h.api.delete(source, job_id)

    @precondition(lambda self: any(t.gone_at is None for t in self.truth.values()))
    @rule(data=st.data())
    def delete_job(self, data: st.DataObject) -> None:
        self._gone(data.draw(st.sampled_from(sorted(j for j, t in self.truth.items() if t.gone_at is None))))

    def _losable(self) -> list[str]:
        """Jobs still running, as far as the API says."""
        return sorted(
            j
            for j, t in self.truth.items()
            if t.gone_at is None and not SOURCES[t.source].spec.is_terminal(t.statuses[-1])
        )

    @precondition(lambda self: bool(self._losable()))
    @rule(data=st.data(), minutes=st.sampled_from([10, 20, 60]))
    def api_loses_a_job_for_a_while(self, data: st.DataObject, minutes: int) -> None:
        """The API answers for a running job as for no job, in its listing and to Get, for a while (long
        enough for the auditor to announce it as disappeared), then as before; it may move on, and
        end, while lost (`change_status`): its end is announced once it is back."""
        job_id = data.draw(st.sampled_from(self._losable()))
        truth = self.truth[job_id]
        now = self.h.clock()
        back = max(now, truth.visible_from) + timedelta(minutes=minutes)
        self.h.api.jobs[SOURCES[truth.source].key][job_id].visible_from = back
        truth.lost.append((now, back))
        truth.visible_from = back

    @precondition(lambda self: KB2 not in self.deleted_kbs)
    @rule()
    def delete_knowledge_base(self) -> None:
        """The second knowledge base is deleted, and its jobs with it."""
        self.h.api.knowledge_bases[(ACCOUNT, REGION)].remove(KB2)
        self.deleted_kbs.add(KB2)
        for job_id, truth in self.truth.items():
            if truth.source == "qconnect-kb2" and truth.gone_at is None:
                self._gone(job_id)

    # -- the configuration ----------------------------------------------------------------------
    @precondition(lambda self: len(self.h.kinds) == len(KINDS))
    @rule(kind=st.sampled_from(KINDS), revoke=st.booleans())
    def remove_kind(self, kind: str, revoke: bool) -> None:
        """A kind taken out of JOB_KINDS; with `revoke`, its grants with it (its API refuses)."""
        self.h.kinds = tuple(k for k in KINDS if k != kind)
        if revoke:
            self.denied |= {name for name in SOURCES if _kind(name) == kind}

    @precondition(lambda self: self.member)
    @rule(revoke=st.booleans())
    def remove_member_account(self, revoke: bool) -> None:
        """The member account leaves the audit; with `revoke`, its role goes with it."""
        self.member = False
        if revoke:
            self.denied.add("member-import")

    @precondition(lambda self: self.member)
    @rule()
    def member_role_missing(self) -> None:
        """The member account stays audited, but its role is missing (not deployed yet, an SCP): every
        call to it fails until the configuration is restored. Its jobs meanwhile are news."""
        self.denied.add("member-import")

    @rule()
    def restore_configuration(self) -> None:
        """The configuration edited back: every kind and the member account, access restored."""
        self.h.kinds, self.member = KINDS, True
        self.denied.clear()

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

    @rule(minutes=st.sampled_from([5, 20]))
    def run_reading_stale_records(self, minutes: int) -> None:
        """Two runs, the second reading the audit records as they were before the first (an
        eventually consistent read at its stalest: a record the first run wrote is missing or older)."""
        snapshot = dict(self.h.store.records)
        self.run(minutes)
        self.h.store.stale_records = snapshot
        self.run(5)

    # -- runs -----------------------------------------------------------------------------------
    def _audit(self, minutes: int, should_stop: StopCheck = never) -> RunSummary | None:
        self.h.clock.advance(timedelta(minutes=minutes))
        self.configs[self.h.clock()] = Config(
            self.h.kinds, self.member, frozenset(self.denied), frozenset(self.deleted_kbs)
        )
        accounts = (ACCOUNT, MEMBER) if self.member else (ACCOUNT,)
        try:
            return self.h.audit(accounts, should_stop)
        except Crash:
            return None  # the process died; the next run picks up
        finally:
            self.h.store.stale_records = None

    @rule(minutes=st.sampled_from([5, 5, 20, 60]))
    def run(self, minutes: int) -> None:
        summary = self._audit(minutes)
        if summary is None:
            return
        assert summary.sources or summary.orphans, "a run always returns a summary of its sources"
        if self.first_run_at is None:
            self.first_run_at = summary.started_at

    @rule(times=st.integers(2, 5))
    def runs(self, times: int) -> None:
        """Several scheduled runs in a row (enough for an orphan's re-checks)."""
        for _ in range(times):
            self.run(5)

    @rule(calls=st.integers(1, 6))
    def run_under_a_tight_budget(self, calls: int) -> None:
        """A run whose time budget runs out after a few API calls."""
        before = sum(self.h.api.calls.values())
        self._audit(5, lambda: sum(self.h.api.calls.values()) - before >= calls)

    @rule(hours=st.sampled_from([4, 26]))
    def hours_of_runs(self, hours: int) -> None:
        """Runs every two hours for a while: long enough for an outage to pass the retry time."""
        for _ in range(hours // 2):
            self.run(120)

    @rule()
    def quiesce_and_check(self) -> None:
        """Faults stop and the configuration is put back; one sweep period and a lease later every
        job's state is caught up and was announced."""
        self.h.api.faults[:] = [self._denied]
        self.h.store.faults.clear()
        self.refusals = dict.fromkeys(CHANNELS, 0)
        for name in CHANNELS:
            self.h.channel(name).outage = lambda: None
            self.poisoned[name].clear()
        self.restore_configuration()
        # The API answers for every job again (what it lost for a while is back).
        while any(t.visible_from > self.h.clock() for t in self.truth.values() if t.lost):
            self._audit(5)
        period = timedelta(minutes=5)
        runs = (POLICY.reconcile_every + POLICY.claim_lease) // period + POLICY.vanished_after_checks + 2
        for _ in range(runs):
            self._audit(5)
        self._check_converged()

    def _check_converged(self) -> None:
        now = self.h.clock()
        self._check_every_channel()
        for job_id, truth in self.truth.items():
            source = SOURCES[truth.source]
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
            # A job still running is followed (one the API lost for a while, again since it is back).
            if not source.spec.is_terminal(state.status):
                assert state.tracked(source.spec), (job_id, state, truth.lost)
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
                assert t.reason in self._true_reasons(truth, t.observed_at), (t, t.reason, truth)

    def _true_reasons(self, truth: Truth, at: datetime) -> set[str]:
        """The `disappeared` reasons true of a job when a run met it: gone (not found; its knowledge
        base deleted), or out of the audit with its API refusing (its kind, its account)."""
        config = self.configs[at]
        name = truth.source
        gone = truth.gone_at is not None and truth.gone_at <= at
        refused = gone or name in config.denied
        reasons = {"job not found"} if gone or any(lost <= at < back for lost, back in truth.lost) else set()
        if gone and SOURCES[name].knowledge_base_id in config.deleted_kbs:
            reasons.add("scope deleted")
        if refused and _kind(name) not in config.kinds:
            reasons.add("configuration changed")
        if refused and SOURCES[name].account == MEMBER and not config.member:
            reasons.add("account removed")
        return reasons

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
        created = len(self.truth)
        self.create_job(kind, first, age_hours, lag_minutes)
        if len(self.truth) == created:
            return  # its knowledge base was deleted: no job, nothing announced
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
