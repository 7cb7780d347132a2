"""A job the API loses for a while (its listing and Get answer as for no job, then as before): announced
as disappeared after the re-checks, asked for again by each sweep for a day, so that the status it
ended in meanwhile is announced once it is back; and what that costs, on the in-memory fakes."""

from __future__ import annotations

from datetime import timedelta

from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from tests.fakes import POLICY, FakeJob, Harness

ACCOUNT, REGION = "123456789012", "us-east-1"
IMPORT = Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-import"])
ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/long-import"
FIVE = timedelta(minutes=5)


def _following_a_long_import() -> Harness:
    """A running auditor following an import by Get: created four days ago, older than any sweep's
    lookback, so no listing by creation time returns it once it has ended."""
    h = Harness()
    h.api.add(IMPORT, FakeJob(ARN, "InProgress", h.clock() - timedelta(days=4)))
    h.run()
    assert h.store.load_in_flight(IMPORT)[0].job_id == ARN
    return h


def _lose(h: Harness, hours: float) -> None:
    """The API answers for the import as for no job for `hours`, then as before."""
    h.api.jobs[IMPORT.key][ARN].visible_from = h.clock() + timedelta(hours=hours)


def _gets(h: Harness) -> int:
    return sum(1 for op, params in h.api.requests if op == "get" and params.get("job_id") == ARN)


def test_a_job_the_api_loses_while_it_ends_is_announced_once_it_is_back() -> None:
    # Given an import the API loses for two hours: announced as disappeared after three misses
    h = _following_a_long_import()
    _lose(h, 2)
    for _ in range(POLICY.vanished_after_checks):
        h.run()
    assert h.publisher.statuses(ARN) == [("InProgress", "InProgress", "disappeared")]
    back = h.clock() + timedelta(hours=2) - FIVE * POLICY.vanished_after_checks
    # When it completes while lost, and runs go on until a sweep period after it is back
    h.api.set_status(IMPORT, ARN, "Completed")
    while h.clock() < back + POLICY.reconcile_every:
        h.run()
    # Then its completion was announced on every channel, once, within a sweep period of its return
    for channel in h.channels:
        assert channel.statuses(ARN) == [
            ("InProgress", "InProgress", "disappeared"),
            ("InProgress", "Completed", "status-changed"),
        ]
    (completed,) = [t for t in h.publisher.delivered if t.status == "Completed"]
    assert back <= completed.observed_at < back + POLICY.reconcile_every
    # And it is followed no more (it ended)
    assert h.store.load_in_flight(IMPORT) == []


def test_a_job_lost_for_good_costs_one_get_a_sweep_for_a_day_then_none() -> None:
    # Given an import the API never answers for again (deleted, or lost for longer than a day)
    h = _following_a_long_import()
    _lose(h, 24 * 30)
    for _ in range(POLICY.vanished_after_checks):
        h.run()
    (state,) = h.store.load_in_flight(IMPORT)
    assert state.disappeared_at == h.clock()
    announced_at = h.clock()
    before = _gets(h)
    # When runs go on every five minutes for two days
    runs = []
    while h.clock() < announced_at + 2 * POLICY.reconcile_lookback:
        summary = h.run()
        (source,) = summary.sources
        runs.append((h.clock() - announced_at, source.reconciled, _gets(h) - before, source.jobs_in_flight))
        before = _gets(h)
    # Then it was asked for once by each sweep, by no other run, until the first sweep once it had
    # been announced as disappeared for a day (the sweep's lookback), which let it go
    day, every = POLICY.reconcile_lookback, POLICY.reconcile_every
    last = max(since for since, _, gets, _ in runs if gets)
    assert day <= last < day + every
    assert [gets for _, _, gets, _ in runs] == [int(swept and since <= last) for since, swept, _, _ in runs]
    assert sum(gets for _, _, gets, _ in runs) == day // every + 1
    assert h.store.load_in_flight(IMPORT) == []
    # And it was never counted as a job in flight, nor announced again
    assert {in_flight for *_, in_flight in runs} == {0}
    assert h.publisher.statuses(ARN) == [("InProgress", "InProgress", "disappeared")]
