"""The time budget inside a source: a run that must stop does so between pages or between claim
chunks, keeps what it committed, leaves the checkpoint where it was, and the next run resumes."""

import random
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from job_auditor.auditor import wiring
from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.jobs import Source
from job_auditor.auditor.settings import load_settings
from job_auditor.auditor.source_auditor import CLAIM_CHUNK, SourceAuditor
from simulator.aws_faults import AwsFaultInjector
from simulator.mutators import Body, Query, ResponseMutator, Rule
from simulator.world import ACCOUNT, REGION, FakeLambdaContext, World

JOBS = 110  # two pages of Q in Connect's ListImportJobs (100 a page), three claim chunks (50, 50, 10)


def _checkpoint(auditor: SourceAuditor, source: Source) -> Checkpoint | None:
    """The source's checkpoint as its audit record holds it (read strongly consistent)."""
    record = auditor.store.read_audit_records([source]).get(source.key)
    return record.checkpoint if record else None


def _four_pages_recorded(w: World) -> tuple[World, str, list[str]]:
    """350 Q in Connect imports that ended long ago (four pages of ListImportJobs) in one knowledge
    base, recorded by the baseline; the world, the knowledge base and the jobs."""
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    jobs = w.plane.bulk_create_jobs(
        "qconnect-import",
        REGION,
        350,
        scope_ids=(kb,),
        start=w.now() - timedelta(hours=20),
        status="COMPLETE",
    )
    w.run()  # baseline (a sweep): records them
    return w, kb, jobs


def _world(make_world: Any) -> tuple[World, list[str]]:
    w: World = make_world(JOB_KINDS="qconnect-import")
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    jobs = w.plane.bulk_create_jobs(
        "qconnect-import", REGION, scope_ids=(kb,), count=JOBS, start=w.now() - timedelta(minutes=30)
    )
    w.run()  # baseline
    w.advance(timedelta(minutes=5))
    for job in jobs:
        w.plane.set_status(job, "COMPLETE")
    return w, jobs


def _auditor() -> tuple[SourceAuditor, Source]:
    settings, clients = load_settings(), ClientFactory()
    auditor = wiring.build_source_auditor(settings, clients)
    planner = wiring.build_planner(settings, clients)
    (source,) = planner.plan([ACCOUNT], [REGION], ["qconnect-import"], {}).sources
    return auditor, source


def test_stops_between_pages_without_committing_anything(make_world: Any) -> None:
    # Given 110 completed jobs over two pages, and a budget that runs out after the first page
    w, _ = _world(make_world)
    auditor, source = _auditor()
    checkpoint = _checkpoint(auditor, source)
    w.plane.reset_calls()
    # When the source is audited
    summary = auditor.audit(source, should_stop=lambda: auditor.job_api.api_calls(source) >= 1)
    # Then it stopped after one page, claimed and published nothing, and kept the checkpoint
    assert summary.stopped and summary.error is None
    assert w.plane.count_calls("ListImportJobs") == 1
    assert summary.published == 0
    assert w.events_received() == []
    assert w.pending_claims() == set()
    assert _checkpoint(auditor, source) == checkpoint
    # And the next run announces all 110, once each
    w.advance(timedelta(minutes=5))
    result = w.run()
    assert result["status"] == "ok"
    assert len({e["detail"]["eventId"] for e in w.events_received()}) == JOBS


def test_stops_between_claim_chunks_and_publishes_what_it_claimed(make_world: Any) -> None:
    # Given 110 transitions and a budget that runs out after the first claim chunk
    w, _ = _world(make_world)
    auditor, source = _auditor()
    checkpoint = _checkpoint(auditor, source)
    answers = iter([False, False, True])  # after page 1, before chunk 1, before chunk 2
    summary = auditor.audit(source, should_stop=lambda: next(answers, True))
    # Then the first chunk was claimed, published and committed; the checkpoint did not move
    assert summary.stopped
    assert summary.published == CLAIM_CHUNK
    assert w.pending_claims() == set()
    first = w.events_received()
    assert len(first) == CLAIM_CHUNK
    assert _checkpoint(auditor, source) == checkpoint
    # And the next run announces the other 60, none twice
    w.advance(timedelta(minutes=5))
    w.run()
    ids = Counter(e["detail"]["eventId"] for e in first + w.events_received())
    assert len(ids) == JOBS and max(ids.values()) == 1


def test_handler_stops_before_the_lambda_timeout_and_the_next_run_resumes(make_world: Any) -> None:
    # Given an invocation whose remaining time falls 2 s (virtual) per AWS call from 40 s
    w, _ = _world(make_world)
    injector = AwsFaultInjector(virtual_ms_per_call=2_000)
    injector.start_invocation(budget_ms=40_000)

    class Context(FakeLambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return injector.remaining_ms()

    # When the handler runs
    result = w.run(context=Context(), clients=ClientFactory(session=injector.session()))
    # Then it stopped cleanly (no timeout), said so, and left no claim open
    assert injector.counts["LambdaTimeout"] == 0
    assert result["stoppedEarly"] and result["status"] == "partial-failure"
    assert w.pending_claims() == set()
    announced = w.events_received()
    # And the next, unhurried run announces the rest, none twice
    w.advance(timedelta(minutes=5))
    w.run()
    ids = Counter(e["detail"]["eventId"] for e in announced + w.events_received())
    assert len(ids) == JOBS and max(ids.values()) == 1


@pytest.mark.parametrize(
    ("changed_on_page", "pages_listed_again"),
    [
        # The budget runs out after page 2 is listed: with nothing to claim there, page 2 is committed
        # and the next run lists pages 3 and 4; with a change to claim, the claim is not made, page 2
        # is not committed, and the next run lists it again (pages 2, 3 and 4).
        (1, 2),
        (2, 3),
    ],
)
def test_a_sweep_stopped_between_pages_resumes_there_at_the_next_run(
    make_world: Any, changed_on_page: int, pages_listed_again: int
) -> None:
    # Given 350 import jobs recorded long ago (four pages), and the hourly sweep due
    w, _, jobs = _four_pages_recorded(make_world(JOB_KINDS="qconnect-import"))
    w.advance(timedelta(hours=1))
    # The simulator lists Q in Connect imports by job id, 100 a page: one changed job on the page
    # chosen, one on the last.
    by_id = sorted(jobs)
    changed = (by_id[(changed_on_page - 1) * 100], by_id[-1])
    for job in changed:
        w.plane.set_status(job, "DELETE_IN_PROGRESS")
    auditor, source = _auditor()
    w.plane.reset_calls()
    # When the sweep's run stops once two pages are listed
    first = auditor.audit(source, should_stop=lambda: w.plane.count_calls("ListImportJobs") >= 2)
    assert first.stopped and first.reconciled and not first.checkpoint_advanced
    # Then the next run lists only the pages not committed, announces what changed anywhere, once,
    # and completes
    w.advance(timedelta(minutes=5))
    w.plane.reset_calls()
    second = w.run()
    (summary,) = second["sources"]
    assert summary["reconciled"] and summary["checkpoint_advanced"]
    assert w.plane.count_calls("ListImportJobs") == pages_listed_again
    announced = [(e["detail"]["jobId"], e["detail"]["status"]) for e in w.events_received()]
    assert sorted(announced) == sorted((job, "DELETE_IN_PROGRESS") for job in changed)


def test_a_stopped_sweep_whose_page_token_is_refused_starts_over_and_the_source_is_audited_again(
    make_world: Any,
) -> None:
    # Given a Q in Connect sweep stopped after two of its four pages, its page token saved to resume at
    w, kb, _ = _four_pages_recorded(make_world(JOB_KINDS="qconnect-import", DIGEST_THRESHOLD="0"))
    w.advance(timedelta(hours=1))
    auditor, source = _auditor()
    w.plane.reset_calls()
    assert auditor.audit(source, should_stop=lambda: w.plane.count_calls("ListImportJobs") >= 2).stopped
    (sweep,) = (item for item in w.table_items("SRC#") if item["sk"] == "SWEEP")
    saved = sweep["cursor"]

    # And the API no longer takes that token (it expired while the source could not be audited): a
    # token is good only once a listing has handed it out again
    handed_out: set[str] = set()

    def expired(query: Query) -> Query:
        token = query.get("nextToken")
        return (
            {**query, "nextToken": "expired-token"} if token == saved and token not in handed_out else query
        )

    def hand_out(query: Query, body: Body, rng: random.Random) -> Body:
        if body.get("nextToken"):
            handed_out.add(body["nextToken"])
        return body

    w.plane.mutator = ResponseMutator().add(Rule("ListImportJobs", hand_out, request=expired))
    # And a new import that fails a few minutes later
    job = w.plane.create_import_job(region=REGION, knowledge_base_id=kb, status="START_IN_PROGRESS")
    # When runs follow every 5 minutes
    results = []
    for run in range(6):
        w.advance(timedelta(minutes=5))
        if run == 2:
            w.plane.set_status(job, "FAILED")
        results.append(w.run())
    # Then only the run that resumed at the refused token failed: the sweep started over from the first
    # page, and the new import's start and failure were each announced once
    assert [r["status"] for r in results] == ["partial-failure", *["ok"] * 5]
    announced = [(e["detail"]["jobId"], e["detail"]["status"]) for e in w.events_received()]
    assert announced == [(job, "START_IN_PROGRESS"), (job, "FAILED")]
