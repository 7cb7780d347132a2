from datetime import timedelta
from typing import Any

from job_auditor.auditor.domain.checkpoint import (
    Checkpoint,
    WindowPlan,
    advance,
    given_up,
    plan_window,
    to_recheck,
)
from job_auditor.auditor.domain.jobs import JOB_KINDS, JOB_NOT_FOUND, SCOPE_DELETED, JobState
from tests.unit.factories import T0

RULES: dict[str, Any] = {
    "initial_lookback": timedelta(hours=24),
    "overlap": timedelta(minutes=5),
    "recheck_horizon": timedelta(hours=72),
}


def _in_flight(age: timedelta, n: int = 1) -> JobState:
    return JobState(f"job-{n}", "InProgress", T0 - age, 1)


def _rechecked(plan: WindowPlan, in_flight: list[JobState]) -> tuple[JobState, ...]:
    """What the run fetches one by one once the window's listing returned the jobs created in it."""
    listed = {job.job_id for job in in_flight if job.created_at >= plan.window_start}
    return tuple(
        to_recheck(plan, in_flight, listed, JOB_KINDS["bedrock-model-import"], T0, RULES["recheck_horizon"])
    )


def test_first_run_looks_back_and_is_a_baseline() -> None:
    plan = plan_window(None, [], T0, **RULES)
    assert plan.window_start == T0 - timedelta(hours=24)
    assert plan.baseline
    assert _rechecked(plan, []) == ()


def test_later_run_starts_at_previous_run_minus_overlap() -> None:
    plan = plan_window(Checkpoint(T0 - timedelta(minutes=5)), [], T0, **RULES)
    assert plan.window_start == T0 - timedelta(minutes=10)
    assert not plan.baseline


def test_oldest_in_flight_job_within_horizon_widens_the_window() -> None:
    three_days_old = _in_flight(timedelta(days=2, hours=23))
    plan = plan_window(Checkpoint(T0 - timedelta(minutes=5)), [three_days_old], T0, **RULES)
    assert plan.window_start == three_days_old.created_at - timedelta(minutes=5)
    assert _rechecked(plan, [three_days_old]) == ()


def test_in_flight_job_beyond_horizon_is_rechecked_not_listed() -> None:
    ancient = _in_flight(timedelta(days=10), 1)
    recent = _in_flight(timedelta(hours=1), 2)
    plan = plan_window(Checkpoint(T0 - timedelta(minutes=5)), [ancient, recent], T0, **RULES)
    assert plan.window_start == recent.created_at - timedelta(minutes=5)
    assert _rechecked(plan, [ancient, recent]) == (ancient,)


def test_a_lost_job_is_rechecked_by_sweeps_only_and_given_up_a_lookback_after_it_disappeared() -> None:
    # Given a job announced as disappeared (not found) an hour ago, and one whose scope was deleted
    lost = _in_flight(timedelta(days=4), 1)._replace(disappeared_at=T0 - timedelta(hours=1))
    lost = lost._replace(disappeared_reason=JOB_NOT_FOUND)
    orphaned = lost._replace(job_id="job-2", disappeared_reason=SCOPE_DELETED)
    spec, day = JOB_KINDS["bedrock-model-import"], timedelta(hours=24)
    window = plan_window(Checkpoint(T0 - timedelta(minutes=5), T0), [], T0, **RULES)
    sweep = plan_window(Checkpoint(T0 - timedelta(minutes=5), T0 - timedelta(hours=1)), [], T0, **RULES)
    assert sweep.sweep and not window.sweep
    # Then only the lost one is lost: asked for by a sweep, not by the window's run
    assert lost.lost(spec) and not orphaned.lost(spec) and not lost.tracked(spec)
    assert _rechecked(window, [lost]) == ()
    assert _rechecked(sweep, [lost]) == (lost,)
    # And it is given up once it has been disappeared for the sweep's lookback, not before
    assert not given_up(lost, spec, T0, day)
    assert given_up(lost, spec, T0 + day - timedelta(hours=1), day)
    assert not given_up(orphaned, spec, T0 + 2 * day, day)


def test_old_checkpoint_covers_jobs_so_they_are_not_rechecked_twice() -> None:
    # The auditor was off for 5 days: the window itself reaches the 4-day-old job.
    four_days = _in_flight(timedelta(days=4))
    plan = plan_window(Checkpoint(T0 - timedelta(days=5)), [four_days], T0, **RULES)
    assert plan.window_start == T0 - timedelta(days=5, minutes=5)
    assert _rechecked(plan, [four_days]) == ()


def test_checkpoint_never_moves_backwards() -> None:
    later = Checkpoint(T0)
    assert advance(later, T0 - timedelta(minutes=1)) == later
    assert advance(later, T0 + timedelta(minutes=1)) == Checkpoint(T0 + timedelta(minutes=1))
    assert advance(None, T0) == Checkpoint(T0)


def test_a_checkpoint_ahead_of_the_clock_is_not_trusted_the_run_lists_from_now_and_sweeps() -> None:
    # Given checkpoints a run with its clock hours ahead wrote: its start, or its sweep, in the future
    ahead = [
        Checkpoint(T0 + timedelta(hours=3), T0 - timedelta(minutes=30)),
        Checkpoint(T0 - timedelta(minutes=5), T0 + timedelta(hours=25)),
    ]
    for checkpoint in ahead:
        # When a run with the right clock plans its window
        plan = plan_window(checkpoint, [_in_flight(timedelta(hours=2))], T0, **RULES)
        # Then it lists from its own time (or its oldest job in flight) less the overlap, and sweeps
        # back the sweep's lookback, whatever the sweep period says
        assert plan.window_start == T0 - timedelta(hours=2, minutes=5)
        assert plan.sweep and plan.sweep_start == T0 - timedelta(hours=24)
        assert not plan.baseline
    # And a checkpoint at the clock's own time is trusted as ever
    assert not plan_window(Checkpoint(T0, T0), [], T0, **RULES).sweep
