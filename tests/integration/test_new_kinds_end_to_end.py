"""The new kinds end to end: the real handler against the simulator (real boto3 clients) and moto, with
the events read from an SQS queue behind a rule on the bus and the notifications from a queue
subscribed to the topic."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from job_auditor.contract.kinds import registered
from simulator.world import REGION, World
from tests.kinds import THROUGHPUT
from tests.unit.test_event_schema import STRICT

INGESTION = "bedrock-kb-ingestion"
REASONS = ["Access denied to s3://docs/handbook.pdf", "20 files could not be parsed"]
STATS = {
    "numberOfDocumentsScanned": 120,
    "numberOfMetadataDocumentsScanned": 0,
    "numberOfNewDocumentsIndexed": 95,
    "numberOfModifiedDocumentsIndexed": 5,
    "numberOfMetadataDocumentsModified": 0,
    "numberOfDocumentsDeleted": 0,
    "numberOfDocumentsFailed": 20,
}


def _as_eventbridge_delivers(event: dict[str, Any]) -> dict[str, Any]:
    """moto 5.2.5 leaves the envelope's `account` out of the events it delivers to SQS; EventBridge
    always sets it (to the bus owner's account)."""
    return {"account": "123456789012", **event}


def _scope(w: World) -> tuple[str, str]:
    kb = w.plane.create_agent_knowledge_base(REGION, "handbooks")
    return kb, w.plane.create_data_source(REGION, kb, "s3-handbooks")


def test_a_failed_ingestion_job_produces_one_event_carrying_its_reasons_and_statistics(
    make_world: Any,
) -> None:
    # Given a discovered knowledge base and data source, and an ingestion job running in it
    w: World = make_world(JOB_KINDS=INGESTION)
    kb, ds = _scope(w)
    job = w.plane.create_job(INGESTION, REGION, scope_ids=(kb, ds), status="IN_PROGRESS")
    assert w.run()["status"] == "ok"  # the baseline
    # When it fails with reasons (which only GetIngestionJob reports) and statistics
    w.advance(timedelta(minutes=5))
    w.plane.set_job_status(
        INGESTION,
        REGION,
        job,
        "FAILED",
        scope_ids=(kb, ds),
        fields={"failureReasons": REASONS, "statistics": STATS},
    )
    summary = w.run()
    w.advance(timedelta(minutes=5))
    again = w.run()
    # Then exactly one event reached the bus's consumer, carrying the reasons and the statistics
    assert summary["status"] == "ok" and again["transitions"] == 0
    (event,) = w.events_received()
    detail = event["detail"]
    assert event["detail-type"] == "Bedrock Knowledge Base Ingestion Job Status Change"
    assert (detail["previousStatus"], detail["status"], detail["statusCategory"]) == (
        "IN_PROGRESS",
        "FAILED",
        "FAILED",
    )
    assert (detail["knowledgeBaseId"], detail["dataSourceId"], detail["jobId"]) == (kb, ds, job)
    assert detail["failureMessage"] == "; ".join(REASONS)
    assert detail["jobDetails"] == {"statistics": STATS}
    # And the event as the bus delivered it is one of the published schema, with no undeclared member
    STRICT.validate(_as_eventbridge_delivers(event))
    # And the notification people read says them too
    (note,) = w.notifications_received()
    assert note["Subject"].startswith(f"[FAILED] {INGESTION} ")
    assert "Data source:    " + ds in note["Message"]
    assert "Documents failed: 20" in note["Message"]
    assert "Access denied to s3://docs/handbook.pdf; 20 files could not be parsed" in note["Message"]


def _list_calls_per_run(make_world: Any, history: int) -> list[int]:
    """ListIngestionJobs calls of four runs (the first a baseline and a sweep, the third a sweep)
    over a data source with `history` ingestion jobs of the past month and a few recent ones."""
    w: World = make_world(JOB_KINDS=INGESTION, RECONCILE_EVERY_MINUTES="10")
    kb, ds = _scope(w)
    w.plane.bulk_create_jobs(
        INGESTION,
        REGION,
        history,
        scope_ids=(kb, ds),
        start=w.now() - timedelta(days=30),
        interval=timedelta(days=28) / history,
        status="COMPLETE",
    )
    running = w.plane.create_job(INGESTION, REGION, scope_ids=(kb, ds), status="STARTING")
    calls = []
    for step in range(4):
        before = w.plane.count_calls("ListIngestionJobs")
        if step == 2:
            w.plane.set_job_status(INGESTION, REGION, running, "COMPLETE", scope_ids=(kb, ds))
        assert w.run()["status"] == "ok"
        calls.append(w.plane.count_calls("ListIngestionJobs") - before)
        w.advance(timedelta(minutes=5))
    return calls


@pytest.mark.parametrize("history", [5_000])
def test_ingestion_list_calls_per_run_do_not_grow_with_history(make_world: Any, history: int) -> None:
    # Given the same data source with 50 and with 5,000 past ingestion jobs
    few = _list_calls_per_run(make_world, 50)
    many = _list_calls_per_run(make_world, history)
    # Then every run costs the same list calls: newest first, paging stops at the window's start
    # (a sweep adds one filtered list per running status, each one page)
    assert many == few
    assert max(many) <= 1 + len(("STARTING", "IN_PROGRESS", "STOPPING"))


def test_knowledge_bases_and_data_sources_being_deleted_are_not_audited(make_world: Any) -> None:
    # Given an active knowledge base, one being deleted, and in the active one a data source being deleted
    w: World = make_world(JOB_KINDS=INGESTION)
    active = w.plane.create_agent_knowledge_base(REGION, "active")
    kept = w.plane.create_data_source(REGION, active, "kept")
    w.plane.create_data_source(REGION, active, "going", status="DELETING")
    going = w.plane.create_agent_knowledge_base(REGION, "going", status="DELETING")
    w.plane.create_data_source(REGION, going, "under-a-going-base")
    # When the auditor runs
    summary = w.run()
    # Then only the active data source of the active knowledge base is a source
    assert summary["status"] == "ok"
    assert [s["source"] for s in summary["sources"]] == [f"123456789012/{REGION}/{INGESTION}/{active}/{kept}"]


def test_a_kind_described_in_the_test_alone_is_audited_end_to_end(make_world: Any) -> None:
    # Given a kind no module describes (Bedrock provisioned throughput), registered here only
    with registered(THROUGHPUT) as spec:
        w: World = make_world(JOB_KINDS=spec.id)
        arn = w.plane.create_job(spec, REGION, name="prod-throughput", status="Creating")
        assert w.run()["status"] == "ok"  # the baseline
        # When it comes into service
        w.advance(timedelta(minutes=5))
        w.plane.set_status(arn, "InService")
        summary = w.run()
    # Then the real handler, lister, diff and publishers announced it like any kind
    assert summary["status"] == "ok"
    (event,) = w.events_received()
    assert event["detail-type"] == "Bedrock Provisioned Throughput Status Change"
    assert (event["detail"]["jobKind"], event["detail"]["jobArn"]) == (spec.id, arn)
    assert (event["detail"]["previousStatus"], event["detail"]["status"]) == ("Creating", "InService")
    assert event["detail"]["statusCategory"] == "SUCCEEDED"
    STRICT.validate(_as_eventbridge_delivers(event))
    (note,) = w.notifications_received()
    assert note["Subject"] == f"[Succeeded] {spec.id} prod-throughput ({REGION})"
