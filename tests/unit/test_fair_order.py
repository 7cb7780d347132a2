"""No source starves under the time budget (issue 20, item 4), on the in-memory fakes: sources start the
least recently audited first (never audited first), so a run that needs more than its budget leaves a
different tail each time; the stalest source's age is counted. The regression test failed on the main,
whose sources started in the same order every run."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from job_auditor.auditor.audit_step import AuditStep
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.ports import StopCheck
from job_auditor.auditor.summary import RunSummary
from tests.fakes import FakeJob, Harness

ACCOUNT, REGION = "123456789012", "us-east-1"
KINDS = (
    "bedrock-model-import",
    "bedrock-model-copy",
    "bedrock-evaluation",
    "bedrock-customization",
    "bedrock-batch-inference",
)
PERIOD = timedelta(minutes=5)


def _budget(h: Harness, sources: int) -> StopCheck:
    """A time budget that runs out once `sources` sources have called their API this run."""
    before = Counter(h.api.calls)

    def spent() -> bool:
        return sum(1 for key, n in h.api.calls.items() if n > before[key]) >= sources

    return spent


def _run(h: Harness, sources: int) -> RunSummary:
    """A scheduled run, one source at a time, within a budget that fits `sources` of them."""
    h.clock.advance(PERIOD)
    step = AuditStep(h.source_auditor(), h.store, h.clock, concurrency=1)
    return step.run(h.plan(), _budget(h, sources))


def test_no_source_starves_under_a_budget_that_fits_two_of_five() -> None:
    # Given five sources and a time budget that fits two of them a run
    h = Harness(kinds=KINDS)
    # When three runs go
    summaries = [_run(h, 2) for _ in range(3)]
    # Then every source was audited within them, the least recently audited first each time
    audited = [[s.job_kind for s in summary.sources] for summary in summaries]
    assert audited == [list(KINDS[0:2]), list(KINDS[2:4]), [KINDS[4], KINDS[0]]]
    assert all(summary.stopped_early for summary in summaries)
    # And the run after starts where the last left off
    assert [s.job_kind for s in _run(h, 2).sources] == [KINDS[1], KINDS[2]]


def test_a_job_of_a_source_the_budget_skipped_is_announced_within_a_few_runs() -> None:
    # Given five sources, a budget that fits two a run, and a job that fails in the last source
    h = Harness(kinds=KINDS)
    for _ in range(3):
        _run(h, 2)
    last = Source(ACCOUNT, REGION, JOB_KINDS[KINDS[4]])
    h.api.add(last, FakeJob("arn:batch-1", "Failed", h.clock()))
    # When runs go on within the same budget
    for _ in range(3):
        _run(h, 2)
    # Then its failure was announced
    assert h.publisher.statuses("arn:batch-1") == [(None, "Failed", "discovered")]


def test_the_stalest_sources_age_is_counted() -> None:
    # Given five sources, each audited once over three runs within a tight budget
    h = Harness(kinds=KINDS)
    for _ in range(3):
        _run(h, 2)
    # When the next run is planned
    summary = _run(h, 2)
    # Then its stalest source is the one audited longest ago (three periods: the first run's), counted
    assert summary.stalest_age_seconds == int(3 * PERIOD.total_seconds())
    assert summary.as_dict()["stalestSourceAgeSeconds"] == 900
    # And without a budget every source is one period old
    h.clock.advance(PERIOD)
    h.audit()
    h.clock.advance(PERIOD)
    assert h.audit().stalest_age_seconds == int(PERIOD.total_seconds())


def test_a_source_the_budget_stopped_inside_keeps_its_place_in_line() -> None:
    # Given five sources audited once each, then a run whose budget stops the first source it starts
    # inside (after its first page)
    h = Harness(kinds=KINDS)
    for _ in range(3):
        _run(h, 2)
    order = [s.spec.id for s in h.plan().sources]
    h.api.page_size = 1
    first = Source(ACCOUNT, REGION, JOB_KINDS[order[0]])
    for n in range(2):
        h.api.add(first, FakeJob(f"arn:job-{n}", "Failed", h.clock()))
    h.clock.advance(PERIOD)
    stopped = AuditStep(h.source_auditor(), h.store, h.clock, concurrency=1).run(h.plan(), _budget(h, 1))
    assert [(s.job_kind, s.stopped) for s in stopped.sources] == [(order[0], True)]
    # When the next run is planned
    # Then the stopped source is still first: it did not have its turn
    assert h.plan().sources[0].spec.id == order[0]
