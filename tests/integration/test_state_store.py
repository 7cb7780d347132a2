"""The DynamoDB state store's protocol writes against moto: what the in-memory fake (tests/fakes.py)
promises, the real adapter does with real condition expressions."""

from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.adapters.state_codec import parked_of, timestamp
from job_auditor.auditor.adapters.state_reader import StateReader, replayable
from job_auditor.auditor.adapters.state_store import DynamoStateStore
from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.diff import Transition, diff, disappeared
from job_auditor.auditor.domain.jobs import JOB_KINDS, ObservedJob, Source
from job_auditor.auditor.domain.sweep import SweepProgress, SweepState, stopped
from job_auditor.auditor.ports import Claim, Deliveries, LastAudit
from simulator.world import ACCOUNT, REGION, TABLE, World

SOURCE = Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-import"])
ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/abcdef123456"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LEASE = T0 + timedelta(minutes=15)


def _store() -> DynamoStateStore:
    return DynamoStateStore(ClientFactory()("dynamodb", REGION), TABLE, timedelta(days=90))


def _job(status: str, created: datetime = T0) -> ObservedJob:
    return ObservedJob(ARN, status, created, name="imp", arn=ARN)


def _first(store: DynamoStateStore, status: str = "InProgress") -> Transition:
    (t,) = diff(SOURCE, {}, [_job(status)], T0)
    assert store.claim([t], LEASE).won == [t]
    assert store.finalize([Claim(t)], T0) == 1
    return t


def _next(store: DynamoStateStore, status: str, at: datetime) -> Transition:
    (t,) = diff(SOURCE, store.load_jobs_since(SOURCE, T0 - timedelta(days=1)), [_job(status)], at)
    return t


def test_a_claim_that_lost_to_the_same_transition_is_elsewhere_and_one_that_lost_to_another_conflicts(
    make_world: Any,
) -> None:
    make_world()
    store = _store()
    _first(store)
    # Given two runs that computed the same change, and a third that computed another from the same state
    same = _next(store, "Completed", T0 + timedelta(minutes=5))
    other = _next(store, "Failed", T0 + timedelta(minutes=5))
    assert store.claim([same], LEASE).won == [same]
    # When the same transition is claimed again, Then it is another run's: announced by that run
    again = store.claim([same], LEASE)
    assert again.won == [] and again.elsewhere == [same] and again.conflicts == []
    # And when a different transition from the same state is claimed, Then it is a conflict, read back
    lost = store.claim([other], LEASE)
    assert lost.elsewhere == []
    ((t, reason),) = lost.conflicts
    assert t == other and reason.startswith("another claim is open on the job")


def test_a_claim_addressed_to_no_item_is_a_conflict_not_another_runs_claim(make_world: Any) -> None:
    make_world()
    store = _store()
    _first(store)
    # Given a transition whose creation time (and so its key) differs from the recorded one
    moved = Transition(
        SOURCE, _job("Failed", T0 + timedelta(milliseconds=1)), "status-changed", "InProgress", 1, T0
    )
    # When it is claimed, Then the condition fails with no item to explain it: a conflict
    result = store.claim([moved], LEASE)
    assert result.won == [] and result.elsewhere == []
    assert result.conflicts == [(moved, "no job item where the recorded state was read")]


def test_clearing_a_claim_taken_over_and_superseded_reverts_nothing(make_world: Any) -> None:
    w: World = make_world()
    store = _store()
    _first(store)
    # Given a claim whose run stalled, then a newer claim on the same job after it was cleared
    stalled = _next(store, "Completed", T0 + timedelta(minutes=5))
    assert store.claim([stalled], LEASE).won == [stalled]
    assert store.finalize([Claim(stalled)], T0 + timedelta(minutes=20)) == 1  # the run that took it over
    newer = _next(store, "Failed", T0 + timedelta(hours=1))
    assert store.claim([newer], LEASE + timedelta(hours=1)).won == [newer]
    # When the stalled run finally clears its old claim
    cleared = store.finalize([Claim(stalled)], T0 + timedelta(hours=1))
    # Then nothing was reverted: the newer claim is open and the state is the newer one
    assert cleared == 0
    assert w.pending_claims() == {newer.event_id}
    (state,) = store.load_jobs_since(SOURCE, T0 - timedelta(days=1)).values()
    assert state.status == "Failed"


def test_a_refused_claim_keeps_its_channels_state_and_waits_for_its_backoff(make_world: Any) -> None:
    make_world()
    store = _store()
    _first(store)
    t = _next(store, "Failed", T0 + timedelta(minutes=5))
    assert store.claim([t], LEASE).won == [t]
    # Given the bus took it and the topic refused it; its back-off runs to T0 + 1 hour
    state = Deliveries(
        channels=frozenset({"eventbridge", "sns"}),
        delivered=frozenset({"eventbridge"}),
        failing_since=MappingProxyType({"sns": T0}),
        errors=MappingProxyType({"sns": "KMSAccessDenied: key policy"}),
        attempts=1,
    )
    store.retry_later([(Claim(t, state), T0 + timedelta(hours=1))])
    # When a run looks for expired claims before the back-off is over, Then it finds none
    assert store.reclaim_expired(SOURCE, T0 + timedelta(minutes=30), T0 + timedelta(minutes=45), 10) == []
    # And after it, Then it takes the claim over with where it stands on each channel
    (claim,) = store.reclaim_expired(SOURCE, T0 + timedelta(hours=2), T0 + timedelta(hours=2, minutes=15), 10)
    assert claim == Claim(t, state)


def test_finalize_parks_for_the_channels_that_gave_up_and_unpark_removes_them(make_world: Any) -> None:
    w: World = make_world()
    store = _store()
    _first(store)
    poison = _next(store, "Failed", T0 + timedelta(minutes=5))
    assert store.claim([poison], LEASE).won == [poison]
    # Given every channel is done with it: the topic took it, the bus refused it as invalid, the chat
    # topic refused it for longer than the retry time
    done = Deliveries(
        delivered=frozenset({"sns"}),
        parked=MappingProxyType({"eventbridge": "ValidationException: bad", "chat": "refused for 24 h"}),
        retryable=frozenset({"chat"}),
    )
    # When it is finalized
    assert store.finalize([Claim(poison, done)], T0) == 1
    # Then operators find it parked, with its channels, the claim is gone and the job moved on
    (parked,) = store.parked()
    assert parked["eventId"] == poison.event_id and parked["source"] == SOURCE.key
    assert parked["channels"] == {"eventbridge": "ValidationException: bad", "chat": "refused for 24 h"}
    assert "ValidationException" in parked["reason"]
    assert w.pending_claims() == set()
    assert store.reclaim_expired(SOURCE, T0 + timedelta(days=1), T0 + timedelta(days=2), 10) == []
    (state,) = store.load_jobs_since(SOURCE, T0 - timedelta(days=1)).values()
    assert (state.status, state.sequence) == ("Failed", 2)
    # And history holds it, with the channel that took it and those that gave up
    reader = StateReader(ClientFactory()("dynamodb", REGION), TABLE)
    (item,) = [h for h in reader.history(SOURCE.key) if h["eventId"] == poison.event_id]
    assert item["channels"] == {"sns"} and item["parkedChannels"] == {"eventbridge", "chat"}
    # And only the channel parked for a passing reason is due for the automatic re-drive
    (due,) = store.parked_due(10)
    assert due.transition == poison and due.retryable == {"chat"}
    # When the chat topic takes it, Then only the bus is left, and history says so
    store.unpark(due, ["chat"], {}, T0 + timedelta(days=2))
    (left,) = store.parked()
    assert left["channels"] == {"eventbridge": "ValidationException: bad"} and "retryable" not in left
    assert store.parked_due(10) == []
    (item,) = [h for h in reader.history(SOURCE.key) if h["eventId"] == poison.event_id]
    assert item["channels"] == {"sns", "chat"} and item["parkedChannels"] == {"eventbridge"}
    # And once the bus takes it too, Then nothing is parked any more
    (last,) = store.parked()
    store.unpark(parked_of(last), ["eventbridge"], {}, T0 + timedelta(days=3))
    assert store.parked() == []


def test_misses_are_counted_on_the_state_and_a_lost_job_stays_in_flight_until_let_go(make_world: Any) -> None:
    make_world()
    store = _store()
    _first(store)
    (state,) = store.load_in_flight(SOURCE)
    # When two re-checks miss the job
    store.record_missing(SOURCE, state)
    store.record_missing(SOURCE, state)
    (missed,) = store.load_in_flight(SOURCE)
    # Then the misses are on its recorded state
    assert missed.missing_checks == 2
    # And once its disappearance (not found) is claimed and cleared, it is still in flight, as lost
    gone = disappeared(SOURCE, missed, T0 + timedelta(hours=1))
    assert store.claim([gone], LEASE + timedelta(hours=1)).won == [gone]
    assert store.finalize([Claim(gone)], T0 + timedelta(hours=1)) == 1
    (lost,) = store.load_in_flight(SOURCE)
    assert lost.disappeared_at == T0 + timedelta(hours=1) and lost.missing_checks == 0
    assert lost.lost(SOURCE.spec) and not lost.tracked(SOURCE.spec)
    # (which operators are not shown as a job in flight)
    reader = StateReader(ClientFactory()("dynamodb", REGION), TABLE)
    assert reader.in_flight_count(SOURCE.key) == 0 and reader.jobs(SOURCE.key, in_flight=True) == []
    # And it leaves the jobs in flight when let go, only from the state it was let go from
    store.let_go(SOURCE, [missed])
    assert store.load_in_flight(SOURCE) == [lost]
    store.let_go(SOURCE, [lost])
    assert store.load_in_flight(SOURCE) == []
    (final,) = store.load_jobs_since(SOURCE, T0 - timedelta(days=1)).values()
    assert final == lost
    # And it comes back among them when it is followed again
    store.follow_again(SOURCE, [final])
    (again,) = store.load_in_flight(SOURCE)
    assert again.tracked(SOURCE.spec) and again.disappeared_at is None
    assert reader.in_flight_count(SOURCE.key) == 1


def test_last_audit_records_are_read_back_and_never_replaced_by_an_earlier_run(make_world: Any) -> None:
    make_world()
    store = _store()
    reader = StateReader(ClientFactory()("dynamodb", REGION), TABLE)
    other = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], ("kb-1",))
    # Given a run's records of two sources, one of them failed
    later = LastAudit(T0, T0 + timedelta(seconds=3), transitions=2, published=2, jobs_in_flight=1)
    store.record_audit(SOURCE, later)
    store.record_audit(
        other, LastAudit(T0, T0 + timedelta(seconds=1), error="AccessDenied: no", stopped=True)
    )
    # When a run that started earlier records its own afterwards (an overlap)
    store.record_audit(SOURCE, LastAudit(T0 - timedelta(minutes=5), T0 + timedelta(seconds=9)))
    # Then one query finds both sources, each with the latest-started run's record
    found = {s.key: s for s in reader.sources()}
    assert set(found) == {SOURCE.key, other.key}
    assert found[SOURCE.key].audit == later
    assert (found[SOURCE.key].job_kind, found[SOURCE.key].scope_ids) == ("bedrock-model-import", ())
    failed = found[other.key]
    assert failed.audit.result == "failed" and failed.audit.stopped and failed.scope_ids == ("kb-1",)
    # and the source's other items are untouched (its checkpoint is not the record)
    assert store.load_checkpoint(SOURCE) is None
    assert reader.checkpoints([SOURCE.key, other.key]) == {}


def test_one_update_records_the_audit_moves_the_checkpoint_and_keeps_the_first_attempt(
    make_world: Any,
) -> None:
    make_world()
    store = _store()
    reader = StateReader(ClientFactory()("dynamodb", REGION), TABLE)
    moved = Checkpoint(T0, T0)
    # Given a first run that failed, then one that committed fully
    store.record_audit(
        SOURCE, LastAudit(T0 - timedelta(hours=1), T0 - timedelta(hours=1), error="Throttled: x")
    )
    store.record_audit(
        SOURCE, LastAudit(T0, T0 + timedelta(seconds=2), checkpoint_advanced=True, checkpoint=moved)
    )
    # When a later run fails without advancing it
    store.record_audit(
        SOURCE, LastAudit(T0 + timedelta(minutes=5), T0 + timedelta(minutes=5), checkpoint=moved)
    )
    # Then one query reads it all: the checkpoint where it was moved, the first attempt, the last run
    (record,) = store.load_audit_records().values()
    assert record.checkpoint == moved and not record.legacy
    assert record.first_attempted_at == T0 - timedelta(hours=1)
    assert record.last_started_at == T0 + timedelta(minutes=5)
    assert store.read_audit_records([SOURCE]) == {SOURCE.key: record}
    # and the operators' view: the latest run's word (its error gone with it), the checkpoint
    (row,) = reader.sources()
    assert row.audit.error is None and row.audit.checkpoint == moved


def test_an_earlier_runs_advance_still_moves_the_checkpoint_forward_never_back(make_world: Any) -> None:
    make_world()
    store = _store()
    # Given a run that started later and recorded its audit without advancing the checkpoint
    store.record_audit(SOURCE, LastAudit(T0, T0, checkpoint_advanced=True, checkpoint=Checkpoint(T0)))
    store.record_audit(SOURCE, LastAudit(T0 + timedelta(minutes=10), T0 + timedelta(minutes=11)))
    # When an overlapping run that started between them records its full commit afterwards
    store.record_audit(
        SOURCE,
        LastAudit(
            T0 + timedelta(minutes=5),
            T0 + timedelta(minutes=12),
            checkpoint_advanced=True,
            checkpoint=Checkpoint(T0 + timedelta(minutes=5)),
        ),
    )
    # Then its checkpoint stands, the later run's record too; and an older advance moves nothing back
    store.record_audit(
        SOURCE, LastAudit(T0 - timedelta(minutes=5), T0, checkpoint_advanced=True, checkpoint=Checkpoint(T0))
    )
    record = store.read_audit_records([SOURCE])[SOURCE.key]
    assert record.checkpoint == Checkpoint(T0 + timedelta(minutes=5))
    assert record.last_started_at == T0 + timedelta(minutes=10)


def test_state_an_earlier_version_wrote_is_read_and_moved_into_the_records(make_world: Any) -> None:
    w = make_world()
    store = _store()
    scope = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"])
    legacy = {"lastRunStartedAt": {"S": timestamp(T0)}, "lastReconciledAt": {"S": timestamp(T0)}}
    # Given a checkpoint item per source, a scope's mark, and a last-audit record as the previous
    # version wrote them (PutItem, no first attempt)
    for key in (SOURCE.key, scope.key):
        w.dynamodb.put_item(
            TableName=TABLE, Item={"pk": {"S": f"SRC#{key}"}, "sk": {"S": "CHECKPOINT"}, **legacy}
        )
    w.dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "AUDIT"},
            "sk": {"S": SOURCE.key},
            "source": {"S": SOURCE.key},
            "account": {"S": ACCOUNT},
            "region": {"S": REGION},
            "jobKind": {"S": SOURCE.spec.id},
            "startedAt": {"S": timestamp(T0)},
            "finishedAt": {"S": timestamp(T0)},
            "result": {"S": "ok"},
        },
    )
    # When the planner reads them
    (queried,) = store.load_audit_records().values()
    read = store.read_audit_records([SOURCE, scope])
    # Then the record is an earlier version's, its checkpoint read from the item; the mark likewise
    assert queried.legacy and queried.checkpoint is None
    assert read[SOURCE.key].checkpoint == Checkpoint(T0, T0) and read[SOURCE.key].first_attempted_at == T0
    assert read[scope.key].is_scope and read[scope.key].enumerated
    # And a run that fails (no advance) moves the checkpoint it started from into the record
    store.record_audit(
        SOURCE,
        LastAudit(
            T0 + timedelta(minutes=5),
            T0 + timedelta(minutes=5),
            error="x: y",
            checkpoint=Checkpoint(T0, T0),
            first_attempted_at=T0,
        ),
    )
    store.record_scope(scope, T0 + timedelta(minutes=5), enumerated=True)
    records = store.load_audit_records()
    assert not records[SOURCE.key].legacy and records[SOURCE.key].checkpoint == Checkpoint(T0, T0)
    assert records[SOURCE.key].first_attempted_at == T0
    assert records[scope.key].enumerated and records[scope.key].first_attempted_at == T0 + timedelta(
        minutes=5
    )


def test_scope_records_retirement_and_pending_claims(make_world: Any) -> None:
    make_world()
    store = _store()
    reader = StateReader(ClientFactory()("dynamodb", REGION), TABLE)
    scope = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"])
    # Given a scope whose discovery failed, then succeeded; and a source with an open claim
    store.record_scope(scope, T0, enumerated=False)
    store.record_scope(scope, T0 + timedelta(minutes=5), enumerated=True)
    (t,) = diff(SOURCE, {}, [_job("InProgress")], T0)
    store.claim([t], LEASE)
    store.record_audit(SOURCE, LastAudit(T0, T0))
    # Then the scope's record keeps its first attempt and says it was enumerated; operators do not see it
    record = store.load_audit_records()[scope.key]
    assert record.is_scope and record.enumerated and record.first_attempted_at == T0
    assert [s.key for s in reader.sources()] == [SOURCE.key]
    assert store.count_pending(SOURCE) == 1
    # And a retired source is marked so, until its next audit record
    store.retire(SOURCE, "account removed", T0 + timedelta(minutes=10))
    assert store.load_audit_records()[SOURCE.key].retired == "account removed"
    store.record_audit(SOURCE, LastAudit(T0 + timedelta(minutes=15), T0 + timedelta(minutes=15)))
    assert store.load_audit_records()[SOURCE.key].retired is None


def test_the_reader_finds_jobs_claims_and_history_by_source(make_world: Any) -> None:
    make_world()
    store = _store()
    reader = StateReader(ClientFactory()("dynamodb", REGION), TABLE)
    # Given a job announced, then a transition claimed but not yet confirmed
    first = _first(store)
    claimed = _next(store, "Completed", T0 + timedelta(minutes=5))
    assert store.claim([claimed], LEASE).won == [claimed]
    # When the reader is asked
    (job,) = reader.jobs(SOURCE.key)
    in_flight = reader.jobs(SOURCE.key, in_flight=True)
    (item,) = reader.history(SOURCE.key, job_ids=[ARN])
    # Then it sees the job with its open claim, the claim counted, and the history of the first
    assert job["pendingEventId"] == claimed.event_id and in_flight == []
    assert reader.pending_count(SOURCE.key) == 1 and reader.in_flight_count(SOURCE.key) == 0
    assert item["eventId"] == first.event_id
    assert replayable(item) == first
    assert reader.history(SOURCE.key, since=T0 + timedelta(seconds=1)) == []
    assert reader.history(SOURCE.key, job_ids=["another-job"]) == []


def test_jobs_are_read_by_key_a_page_at_a_time_and_a_sweep_record_round_trips(make_world: Any) -> None:
    make_world()
    store = _store()
    # Given 150 recorded jobs
    jobs = [
        ObservedJob(f"{ARN}{n:03d}", "Completed", T0 - timedelta(days=30, seconds=n), arn=f"{ARN}{n:03d}")
        for n in range(150)
    ]
    transitions = diff(SOURCE, {}, jobs, T0)
    assert store.record_silently(transitions) == 150
    # When 120 of them and 3 unknown keys are read by key
    keys = [(j.job_id, j.created_at) for j in jobs[:120]] + [(f"{ARN}-missing-{n}", T0) for n in range(3)]
    found = store.load_jobs(SOURCE, keys)
    # Then exactly the recorded ones come back (two BatchGetItem requests), by job id
    assert set(found) == {j.job_id for j in jobs[:120]}
    assert found[jobs[7].job_id].status == "Completed" and found[jobs[7].job_id].sequence == 1
    # And a sweep record is kept as written
    assert store.load_sweep(SOURCE) is None
    progress = stopped(
        SweepProgress(T0, T0, SweepState.RUNNING, failures=2), T0 + timedelta(minutes=1), "tok", 7
    )
    store.save_sweep(SOURCE, progress)
    assert store.load_sweep(SOURCE) == progress
