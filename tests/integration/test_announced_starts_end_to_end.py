"""discovery=cloudtrail end to end: the simulator announces each Q in Connect job it starts as
CloudTrail would (an "AWS API Call via CloudTrail" event of StartImportJob on moto's default bus), the
rule routes it to the queue, and the real handler drains the queue, follows the jobs with Get and lists
the knowledge base only in its sweep."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.adapters.start_queue import SqsStartFeed
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.contract.discovery import CLOUDTRAIL
from simulator.aws_faults import AwsFaultInjector
from simulator.world import ACCOUNT, REGION, MotoServer, World
from tests.integration.conftest import START

FIVE = timedelta(minutes=5)
KIND = "qconnect-import"
Q_ONLY = {"JOB_KINDS": KIND}


@pytest.fixture
def world(moto_server: MotoServer) -> Iterator[World]:
    with World(moto_server, START, env=Q_ONLY, discovery=CLOUDTRAIL) as w:
        yield w


def _statuses(events: list[dict[str, Any]], job: str) -> list[tuple[str | None, str]]:
    return [
        (e["detail"]["previousStatus"], e["detail"]["status"]) for e in events if e["detail"]["jobId"] == job
    ]


def _source(summary: dict[str, Any]) -> dict[str, Any]:
    (source,) = summary["sources"]
    assert isinstance(source, dict)
    return source


def _queued(w: World) -> int:
    attributes = w.sqs.get_queue_attributes(
        QueueUrl=w.start_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_started_job_is_announced_without_listing_its_knowledge_base(world: World) -> None:
    w = world
    # Given a knowledge base with a long history (from before the deployment: not in the queue) and a
    # running auditor
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    assert w.announcer is not None
    w.announcer.enabled = False
    w.plane.bulk_create_jobs(
        "qconnect-import", REGION, 500, scope_ids=(kb,), start=w.now() - timedelta(days=30), status="COMPLETE"
    )
    w.announcer.enabled = True
    w.run()  # the baseline: a sweep, which lists every page
    w.plane.reset_calls()
    # When a job is started (CloudTrail announces it), then completes
    job = w.plane.create_import_job(REGION, kb)
    assert _queued(w) == 1
    w.advance(FIVE)
    first = _source(w.run())
    w.plane.set_status(job, "COMPLETE")
    w.advance(FIVE)
    w.run()
    # Then both transitions reach the bus, and no run listed the knowledge base: Get only
    assert _statuses(w.events_received(), job) == [
        (None, "START_IN_PROGRESS"),
        ("START_IN_PROGRESS", "COMPLETE"),
    ]
    assert first["starts_announced"] == 1 and first["pages"] == 0
    assert w.plane.count_calls("ListImportJobs") == 0
    assert w.plane.count_calls("GetImportJob") == 2
    assert _queued(w) == 0


def test_with_the_trail_switched_off_the_sweep_still_finds_every_job(world: World) -> None:
    w = world
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    w.run()
    # Given a trail that stops logging, and a job started and finished meanwhile
    assert w.announcer is not None
    w.announcer.enabled = False
    w.advance(FIVE)
    job = w.plane.create_import_job(REGION, kb, status="FAILED")
    # When runs go on for an hour
    fast = []
    for _ in range(12):
        w.advance(FIVE)
        fast.append(_source(w.run()))
    # Then the window runs did not see it (nothing announced, nothing listed), the sweep did, once
    assert [s["reconciled"] for s in fast].count(True) == 1
    assert _statuses(w.events_received(), job) == [(None, "FAILED")]


def test_events_no_run_will_use_are_consumed_and_the_rest_kept(world: World) -> None:
    w = world
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    w.run()
    # Given, in the queue: malformed bodies, a refused call, calls from another account and region,
    # a call for a knowledge base that does not exist (or is not audited), and a real start
    job_id = "5f0c3b5e-0000-4000-8000-00000000abcd"
    other_kb = "5f0c3b5e-0000-4000-8000-00000000ffff"

    def event(**overrides: Any) -> str:
        detail = {
            "eventSource": "wisdom.amazonaws.com",
            "eventName": "StartImportJob",
            "awsRegion": REGION,
            "recipientAccountId": ACCOUNT,
            "eventTime": w.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "requestParameters": {"knowledgeBaseId": kb},
            "responseElements": {"importJob": {"importJobId": job_id}},
        }
        detail.update(overrides)
        return json.dumps(
            {"detail-type": "AWS API Call via CloudTrail", "source": "aws.wisdom", "detail": detail}
        )

    bodies = [
        "not json",
        json.dumps({"detail-type": "AWS API Call via CloudTrail"}),
        event(errorCode="ValidationException"),
        event(recipientAccountId="210987654321"),
        event(awsRegion="eu-west-1"),
        event(requestParameters={"knowledgeBaseId": other_kb}),
        event(
            requestParameters={
                "knowledgeBaseId": f"arn:aws:wisdom:{REGION}:{ACCOUNT}:knowledge-base/{other_kb}"
            }
        ),
    ]
    for body in bodies:
        w.sqs.send_message(QueueUrl=w.start_queue_url, MessageBody=body)
    job = w.plane.create_import_job(REGION, kb)
    # When the next run drains the queue
    w.advance(FIVE)
    summary = _source(w.run())
    # Then the real start is announced and every message is gone: none will come back run after run
    assert summary["starts_announced"] == 1
    assert _statuses(w.events_received(), job) == [(None, "START_IN_PROGRESS")]
    assert _queued(w) == 0


def test_a_job_hidden_from_lists_is_found_by_get_from_its_announcement(world: World) -> None:
    w = world
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    w.run()
    # Given a job that the list API will not show for an hour (visibility lag)
    job = w.plane.create_import_job(REGION, kb, status="START_IN_PROGRESS")
    w.plane.hide_from_lists(job, w.now() + timedelta(hours=1))
    # When the next run drains its announcement
    w.advance(FIVE)
    w.run()
    # Then Get finds it: announced at once, not an hour later
    assert _statuses(w.events_received(), job) == [(None, "START_IN_PROGRESS")]


def test_a_long_bus_outage_does_not_hold_back_the_sweep_that_finds_an_unannounced_job(world: World) -> None:
    w = world
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    w.run()
    # Given the bus denied for 30 hours (an SCP), and a job announced on the topic but not on the bus:
    # its claim waits, so its completion conflicts, run after run
    injector = AwsFaultInjector()
    injector.start_outage("eventbridge", w.now() + timedelta(hours=30), "AccessDeniedException")
    clients = ClientFactory(session=injector.session())
    job = w.plane.create_import_job(REGION, kb)
    w.advance(FIVE)
    w.run(clients=clients)
    w.plane.set_status(job, "COMPLETE")
    runs = []
    for _ in range(3 * 5):
        w.advance(timedelta(minutes=20))
        runs.append(_source(w.run(clients=clients)))
    while not runs[-1]["reconciled"]:
        w.advance(FIVE)
        runs.append(_source(w.run(clients=clients)))
    assert all(s["claim_conflicts"] == 1 for s in runs)
    w.notifications_received()
    # When, five hours into the outage and just after a sweep, a job starts that the trail misses
    assert w.announcer is not None
    w.announcer.enabled = False
    missed = w.plane.create_import_job(REGION, kb)
    w.announcer.enabled = True
    for _ in range(13):
        w.advance(FIVE)
        runs.append(_source(w.run(clients=clients)))
    # Then no sweep backed off for the conflicts, and the next one announced the job on the topic
    assert [s["sweep_postponed"] for s in runs if s["sweep_postponed"]] == []
    (note,) = [n for n in w.notifications_received() if missed in n["Message"]]
    assert note["MessageAttributes"]["transition"]["Value"] == "discovered"


def test_a_backlog_is_taken_within_the_bound_and_the_time_budget(world: World) -> None:
    w = world
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    source = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (kb,))
    # Given 45 announced starts waiting after an outage
    jobs = w.plane.bulk_create_jobs("qconnect-import", REGION, 45, scope_ids=(kb,))
    assert _queued(w) == 45
    sqs = ClientFactory()("sqs", REGION)

    def feed(bound: int) -> SqsStartFeed:
        return SqsStartFeed(
            sqs, w.start_queue_url, account=ACCOUNT, region=REGION, kinds=[KIND], max_messages=bound
        )

    # When a run's time budget runs out after two receives (ten messages each)
    checks = iter(range(100))
    run = feed(1000)
    run.take([source], {source.unscoped.key}, should_stop=lambda: next(checks) >= 2)
    taken = run.starts(source)
    # Then it took what it received, and what it took is acknowledged; the rest waits for later runs
    assert len(taken) == 20 and {s.job_id for s in taken} <= set(jobs)
    run.acknowledge(taken)
    assert _queued(w) == 25
    # And a run takes at most its bound
    bounded = feed(15)
    bounded.take([source], {source.unscoped.key})
    assert len(bounded.starts(source)) == 15
    # And a run stopped at once takes nothing and loses nothing
    stopped = feed(1000)
    stopped.take([source], {source.unscoped.key}, should_stop=lambda: True)
    # (the bounded run did not acknowledge its 15: received, not deleted, they come back later)
    assert stopped.starts(source) == [] and _queued(w) == 25
