from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from job_auditor.auditor.domain.diff import diff, found_again, latest_observations
from job_auditor.auditor.domain.jobs import ACCOUNT_REMOVED, JOB_NOT_FOUND, JobState, ObservedJob
from tests.unit.factories import SOURCE, T0, job

STATUSES = ["InProgress", "Completed", "Failed", "SomethingNew"]


def _state(observed: ObservedJob, sequence: int = 1) -> JobState:
    return JobState(observed.job_id, observed.status, observed.created_at, sequence, name=observed.name)


jobs_strategy = st.lists(
    st.builds(
        job,
        st.integers(1, 40),
        st.sampled_from(STATUSES),
        st.integers(0, 10_000),
    ),
    max_size=30,
    unique_by=lambda j: j.job_id,
)


@given(jobs_strategy)
def test_no_change_gives_no_transition(jobs: list[ObservedJob]) -> None:
    # Given state that equals what is observed
    previous = {j.job_id: _state(j) for j in jobs}
    # When diffed
    transitions = diff(SOURCE, previous, jobs, T0)
    # Then nothing is announced
    assert transitions == []


@given(jobs_strategy, st.data())
def test_each_change_gives_exactly_one_transition(jobs: list[ObservedJob], data: st.DataObject) -> None:
    # Given recorded state, and an observation where some jobs changed status and some are new
    changed = set(data.draw(st.sets(st.sampled_from([j.job_id for j in jobs])) if jobs else st.just(set())))
    new = (
        set(data.draw(st.sets(st.sampled_from([j.job_id for j in jobs])) if jobs else st.just(set())))
        - changed
    )
    previous = {}
    for j in jobs:
        if j.job_id in new:
            continue
        before = j.status if j.job_id not in changed else next(s for s in STATUSES if s != j.status)
        previous[j.job_id] = _state(j)._replace(status=before)
    # When diffed (with every job seen twice, as on overlapping pages)
    transitions = diff(SOURCE, previous, jobs + jobs, T0)
    # Then exactly one transition per changed or new job, and none for the rest
    assert sorted(t.job.job_id for t in transitions) == sorted(changed | new)
    for t in transitions:
        if t.job.job_id in new:
            assert (t.type, t.previous_status, t.previous_sequence) == ("discovered", None, 0)
        else:
            assert t.type == "status-changed"
            assert t.previous_status == previous[t.job.job_id].status
            assert t.sequence == previous[t.job.job_id].sequence + 1


def test_event_id_is_deterministic_and_distinct_per_transition() -> None:
    j = job(1, "Completed")
    previous = {j.job_id: _state(j._replace(status="InProgress"))}
    first = diff(SOURCE, previous, [j], T0)
    again = diff(SOURCE, previous, [j], T0 + timedelta(minutes=5))
    assert [t.event_id for t in first] == [t.event_id for t in again]
    failed = diff(SOURCE, previous, [j._replace(status="Failed")], T0)
    assert failed[0].event_id != first[0].event_id


def test_job_absent_from_listing_is_not_a_transition() -> None:
    j = job(1)
    assert diff(SOURCE, {j.job_id: _state(j)}, [], T0) == []


def test_duplicate_observation_keeps_most_recently_modified() -> None:
    older = job(1, "InProgress", last_modified_at=T0)
    newer = job(1, "Completed", last_modified_at=T0 + timedelta(minutes=1))
    assert latest_observations([newer, older]) == [newer]
    assert latest_observations([older, newer]) == [newer]


def test_unknown_status_is_a_transition_and_flagged() -> None:
    j = job(1, "Paused")
    (t,) = diff(SOURCE, {j.job_id: _state(j._replace(status="InProgress"))}, [j], T0)
    assert t.unknown_status
    assert t.previous_status == "InProgress"
    assert t.status == "Paused"


def test_a_job_missed_or_gone_for_not_found_and_seen_again_unchanged_is_followed_again() -> None:
    # Given jobs announced as disappeared: one the API no longer found, one whose account left the
    # audit; a job in flight missed by two re-checks; and a job in flight
    back, orphaned, missed, live = job(1), job(2), job(4), job(3)
    gone = _state(back, 4)._replace(disappeared_at=T0, disappeared_reason=JOB_NOT_FOUND)
    twice = _state(missed, 2)._replace(missing_checks=2)
    previous = {
        back.job_id: gone,
        orphaned.job_id: _state(orphaned, 2)._replace(disappeared_at=T0, disappeared_reason=ACCOUNT_REMOVED),
        missed.job_id: twice,
        live.job_id: _state(live, 1),
    }
    # When all four are observed again in the status recorded
    # Then the one the API had lost and the one it had missed are to be followed again, from their
    # recorded states
    assert found_again(previous, [back, orphaned, missed, live]) == [gone, twice]
    # And none for a job that has a transition now (a stuck alert follows it again)
    assert found_again(previous, [back], changing=[back.job_id]) == []
    # And a job seen again in another status is the diff's: a status change, announced
    moved = back._replace(status="Completed")
    assert found_again(previous, [moved]) == []
    assert [t.type for t in diff(SOURCE, previous, [moved], T0)] == ["status-changed"]
