"""The four kinds added as registry entries, on the in-memory fakes: knowledge base + data source
scopes, the new status categories, failure reasons fetched once and the kind's own figures carried."""

from __future__ import annotations

from datetime import timedelta

import pytest

from job_auditor.auditor.domain.events import build_detail
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source, StatusCategory
from tests.fakes import FakeJob, Harness

ACCOUNT, REGION = "123456789012", "us-east-1"
INGESTION = JOB_KINDS["bedrock-kb-ingestion"]
BATCH = JOB_KINDS["bedrock-batch-inference"]
EVALUATION = JOB_KINDS["bedrock-evaluation"]
CUSTOMIZATION = JOB_KINDS["bedrock-customization"]
KB_A, KB_B, DS_1, DS_2, DS_3 = "KBAAAAAAAA", "KBBBBBBBBB", "DS11111111", "DS22222222", "DS33333333"
STATS = {"numberOfDocumentsScanned": 120, "numberOfNewDocumentsIndexed": 100, "numberOfDocumentsFailed": 20}


def _ingestion(kb: str, ds: str) -> Source:
    return Source(ACCOUNT, REGION, INGESTION, (kb, ds))


def _discoverable(h: Harness) -> None:
    h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB_A, KB_B]
    h.api.data_sources[(ACCOUNT, REGION, KB_A)] = [DS_1, DS_2]
    h.api.data_sources[(ACCOUNT, REGION, KB_B)] = [DS_3]


def test_ingestion_sources_are_every_data_source_of_every_knowledge_base() -> None:
    # Given two knowledge bases with three data sources between them
    h = Harness(kinds=("bedrock-kb-ingestion",))
    _discoverable(h)
    # When the auditor expands its configuration
    plan = h.planner().plan([ACCOUNT], [REGION], h.kinds, {})
    sources, failures = list(plan.sources), list(plan.failures)
    # Then there is one source per knowledge base and data source, keyed by both
    assert failures == []
    assert [s.key for s in sources] == [
        f"{ACCOUNT}/{REGION}/bedrock-kb-ingestion/{KB_A}/{DS_1}",
        f"{ACCOUNT}/{REGION}/bedrock-kb-ingestion/{KB_A}/{DS_2}",
        f"{ACCOUNT}/{REGION}/bedrock-kb-ingestion/{KB_B}/{DS_3}",
    ]
    assert sources[0].scope_params == {"knowledgeBaseId": KB_A, "dataSourceId": DS_1}


def test_configured_scopes_are_narrowed_and_only_the_missing_level_is_discovered() -> None:
    # Given KB_A named whole (its data sources discovered) and one data source of KB_B named
    h = Harness(kinds=("bedrock-kb-ingestion",), scopes={"bedrock-kb-ingestion": ((KB_A,), (KB_B, DS_3))})
    _discoverable(h)
    # When the sources are expanded
    sources = h.plan([ACCOUNT]).sources
    # Then ListKnowledgeBases is not called, ListDataSources only for KB_A
    assert [s.scope_ids for s in sources] == [(KB_A, DS_1), (KB_A, DS_2), (KB_B, DS_3)]
    operations = [op for op, _ in h.api.requests]
    assert operations == ["list_data_sources"]


def test_a_data_source_added_after_the_first_deploy_has_its_jobs_announced() -> None:
    # Given a first run over one knowledge base with one data source (a silent baseline)
    h = Harness(kinds=("bedrock-kb-ingestion",))
    h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB_A]
    h.api.data_sources[(ACCOUNT, REGION, KB_A)] = [DS_1]
    h.api.add(_ingestion(KB_A, DS_1), FakeJob("INGEST0001", "COMPLETE", h.clock() - timedelta(hours=1)))
    h.run()
    assert h.publisher.delivered == []
    # When a second data source appears with a failed ingestion job
    h.api.data_sources[(ACCOUNT, REGION, KB_A)] = [DS_1, DS_2]
    h.api.add(_ingestion(KB_A, DS_2), FakeJob("INGEST0002", "FAILED", h.clock(), failure_message="denied"))
    h.run()
    # Then that job is announced: only the first deployment's baseline is silent
    assert h.publisher.statuses("INGEST0002") == [(None, "FAILED", "discovered")]


def test_a_failed_ingestion_job_carries_its_reasons_and_statistics_from_one_get() -> None:
    # Given an ingestion job that is running, then fails with reasons the list summary does not carry
    h = Harness(kinds=("bedrock-kb-ingestion",), scopes={"bedrock-kb-ingestion": ((KB_A, DS_1),)})
    source = _ingestion(KB_A, DS_1)
    job = h.api.add(source, FakeJob("INGEST0001", "IN_PROGRESS", h.clock(), details={"statistics": STATS}))
    h.run()
    job.status = "FAILED"
    job.failure_message = "S3 access denied; 20 documents could not be parsed"
    # When the next run sees it fail
    h.run()
    # Then one event carries the reasons (fetched with one Get) and the statistics
    assert h.publisher.statuses("INGEST0001") == [("IN_PROGRESS", "FAILED", "status-changed")]
    detail = build_detail(h.publisher.delivered[-1])
    assert detail["failureMessage"] == "S3 access denied; 20 documents could not be parsed"
    assert detail["jobDetails"] == {"statistics": STATS}
    assert (detail["knowledgeBaseId"], detail["dataSourceId"]) == (KB_A, DS_1)
    assert [op for op, _ in h.api.requests].count("get") == 1


@pytest.mark.parametrize(
    ("spec", "status", "category", "terminal"),
    [
        (BATCH, "Submitted", StatusCategory.IN_PROGRESS, False),
        (BATCH, "Validating", StatusCategory.IN_PROGRESS, False),
        (BATCH, "Scheduled", StatusCategory.IN_PROGRESS, False),
        (BATCH, "Stopping", StatusCategory.STOPPING, False),
        (BATCH, "Stopped", StatusCategory.STOPPED, True),
        (BATCH, "PartiallyCompleted", StatusCategory.PARTIAL, True),
        (BATCH, "Expired", StatusCategory.EXPIRED, True),
        (EVALUATION, "Deleting", StatusCategory.IN_PROGRESS, False),
        (EVALUATION, "Stopped", StatusCategory.STOPPED, True),
        (CUSTOMIZATION, "Stopping", StatusCategory.STOPPING, False),
        (INGESTION, "STARTING", StatusCategory.IN_PROGRESS, False),
        (INGESTION, "STOPPED", StatusCategory.STOPPED, True),
        (BATCH, "SomethingNew", StatusCategory.UNKNOWN, False),
    ],
)
def test_status_categories(spec: object, status: str, category: StatusCategory, terminal: bool) -> None:
    assert spec.category(status) is category  # type: ignore[attr-defined]
    assert spec.is_terminal(status) is terminal  # type: ignore[attr-defined]


def test_a_stopping_job_stays_tracked_until_it_is_stopped() -> None:
    # Given a batch inference job a person stops
    h = Harness(kinds=("bedrock-batch-inference",))
    source = Source(ACCOUNT, REGION, BATCH)
    arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/abcdefabcdef"
    job = h.api.add(source, FakeJob(arn, "InProgress", h.clock()))
    h.run()
    for status in ("Stopping", "Stopped"):
        job.status = status
        h.run()
    # Then both steps are announced, Stopped as an outcome of its own (not a failure)
    assert h.publisher.statuses(arn) == [
        ("InProgress", "Stopping", "status-changed"),
        ("Stopping", "Stopped", "status-changed"),
    ]
    assert build_detail(h.publisher.delivered[-1])["statusCategory"] == "STOPPED"
    # And a stopped job is no longer followed (not in flight)
    assert h.store.load_in_flight(source) == []


def test_a_partially_completed_batch_job_carries_its_record_counts() -> None:
    # Given a batch inference job whose summary reports record counts and a message
    h = Harness(kinds=("bedrock-batch-inference",))
    source = Source(ACCOUNT, REGION, BATCH)
    arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/abcdefabcdef"
    job = h.api.add(source, FakeJob(arn, "InProgress", h.clock()))
    h.run()
    counts = {
        "totalRecordCount": 100,
        "processedRecordCount": 100,
        "successRecordCount": 93,
        "errorRecordCount": 7,
    }
    job.status, job.details, job.failure_message = "PartiallyCompleted", counts, "7 records failed"
    # When it ends partly done
    h.run()
    # Then the event says so, with the counts and the message, and no Get was needed (the list has both)
    detail = build_detail(h.publisher.delivered[-1])
    assert (detail["status"], detail["statusCategory"]) == ("PartiallyCompleted", "PARTIAL")
    assert detail["jobDetails"] == counts
    assert detail["failureMessage"] == "7 records failed"
    assert [op for op, _ in h.api.requests].count("get") == 0
