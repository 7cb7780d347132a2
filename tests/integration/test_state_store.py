"""The DynamoDB state store's protocol writes against moto: what the in-memory fake (tests/fakes.py)
promises, the real adapter does with real condition expressions."""

from datetime import UTC, datetime, timedelta
from typing import Any

from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.adapters.state_reader import StateReader, replayable
from job_auditor.auditor.adapters.state_store import DynamoStateStore
from job_auditor.auditor.domain.diff import Transition, diff, disappeared
from job_auditor.auditor.domain.jobs import JOB_KINDS, ObservedJob, Source
from job_auditor.auditor.domain.sweep import SweepProgress, SweepState, stopped
from job_auditor.auditor.ports import LastAudit
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
    assert store.finalize([t], T0) == 1
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
    assert store.finalize([stalled], T0 + timedelta(minutes=20)) == 1  # the run that took it over
    newer = _next(store, "Failed", T0 + timedelta(hours=1))
    assert store.claim([newer], LEASE + timedelta(hours=1)).won == [newer]
    # When the stalled run finally clears its old claim
    cleared = store.finalize([stalled], T0 + timedelta(hours=1))
    # Then nothing was reverted: the newer claim is open and the state is the newer one
    assert cleared == 0
    assert w.pending_claims() == {newer.event_id}
    (state,) = store.load_jobs_since(SOURCE, T0 - timedelta(days=1)).values()
    assert state.status == "Failed"


def test_release_counts_attempts_and_park_keeps_the_transition_and_frees_the_job(make_world: Any) -> None:
    w: World = make_world()
    store = _store()
    _first(store)
    poison = _next(store, "Failed", T0 + timedelta(minutes=5))
    assert store.claim([poison], LEASE).won == [poison]
    # When publishing fails three times
    attempts = [store.release([poison]) for _ in range(3)]
    # Then each release counts one more attempt
    assert attempts == [{poison.event_id: 1}, {poison.event_id: 2}, {poison.event_id: 3}]
    # And when it is parked, Then operators find it, the claim is gone and the job holds its new state
    store.park([poison], "refused 3 times; last run: eventbridge: ValidationException x1", T0)
    (parked,) = store.parked()
    assert parked["eventId"] == poison.event_id and parked["source"] == SOURCE.key
    assert "ValidationException" in parked["reason"]
    assert w.pending_claims() == set()
    assert store.reclaim_expired(SOURCE, T0 + timedelta(days=1), T0 + timedelta(days=2)) == []
    (state,) = store.load_jobs_since(SOURCE, T0 - timedelta(days=1)).values()
    assert (state.status, state.sequence) == ("Failed", 2)


def test_misses_are_counted_on_the_state_and_a_disappeared_job_leaves_the_in_flight_index(
    make_world: Any,
) -> None:
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
    # And once its disappearance is claimed and cleared, it is no longer in flight
    gone = disappeared(SOURCE, missed, T0 + timedelta(hours=1))
    assert store.claim([gone], LEASE + timedelta(hours=1)).won == [gone]
    assert store.finalize([gone], T0 + timedelta(hours=1)) == 1
    assert store.load_in_flight(SOURCE) == []
    (final,) = store.load_jobs_since(SOURCE, T0 - timedelta(days=1)).values()
    assert final.disappeared_at == T0 + timedelta(hours=1) and final.missing_checks == 0


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
