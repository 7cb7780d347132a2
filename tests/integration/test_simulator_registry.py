"""The simulator's engine: any registered job kind served from its spec and botocore's model, through
real boto3 clients and the control API."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from job_auditor.contract.kinds import registered
from simulator import modeled
from simulator.state import ControlPlane
from tests.integration.simkit import REGION, START, Sim, running_sim
from tests.kinds import THROUGHPUT

INGESTION = "bedrock-kb-ingestion"


@pytest.fixture
def sim() -> Iterator[Sim]:
    with running_sim() as s:
        yield s


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_a_newly_registered_kind_is_served_with_no_other_code_change(sim: Sim) -> None:
    bedrock = sim.client("bedrock")
    with registered(THROUGHPUT):
        # Given: three provisioned throughputs, one made through the control API, a minute apart
        old = sim.plane.create_job(THROUGHPUT.id, REGION, name="old-pt", status="InService")
        sim.clock.advance(timedelta(minutes=1))
        made = sim.control(
            "POST", "jobs", {"kind": THROUGHPUT.id, "region": REGION, "name": "mid-pt", "status": "Creating"}
        )
        sim.clock.advance(timedelta(minutes=1))
        new = sim.plane.create_job(THROUGHPUT.id, REGION, name="new-pt")

        # When: listed (default order, a status filter, a time filter ascending, paged) and fetched
        listed = bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
        creating = bedrock.list_provisioned_model_throughputs(statusEquals="Creating")
        after = bedrock.list_provisioned_model_throughputs(
            creationTimeAfter=START, sortBy="CreationTime", sortOrder="Ascending"
        )
        pages = list(
            bedrock.get_paginator("list_provisioned_model_throughputs").paginate(
                PaginationConfig={"PageSize": 1}
            )
        )
        by_arn = bedrock.get_provisioned_model_throughput(provisionedModelId=made["jobArn"])
        by_name = bedrock.get_provisioned_model_throughput(provisionedModelId="old-pt")

        # Then: newest first by default, filters strict, paging one by one, Get by ARN or name
        assert [s["provisionedModelArn"] for s in listed] == [new, made["jobId"], old]
        assert made["jobId"] == made["jobArn"]
        assert old.startswith(f"arn:aws:bedrock:{REGION}:123456789012:provisioned-model/")
        assert {s["provisionedModelName"] for s in creating["provisionedModelSummaries"]} == {
            "mid-pt",
            "new-pt",
        }
        assert [s["provisionedModelName"] for s in after["provisionedModelSummaries"]] == ["mid-pt", "new-pt"]
        assert [len(p["provisionedModelSummaries"]) for p in pages] == [1, 1, 1]
        assert by_arn["provisionedModelName"] == "mid-pt"
        assert by_arn["creationTime"] == START + timedelta(minutes=1)
        assert by_name["provisionedModelArn"] == old
        assert by_name["status"] == "InService"
        assert by_name["modelUnits"] >= 1
    # And: unregistered, the kind is no longer served
    with pytest.raises(ClientError) as exc:
        bedrock.list_provisioned_model_throughputs()
    assert _code(exc) == "UnknownOperationException"


def _ingestion_scope(sim: Sim) -> tuple[str, str]:
    kb = sim.control("POST", "agent-knowledge-bases", {"region": REGION, "name": "docs"})["knowledgeBaseId"]
    ds = sim.control("POST", "data-sources", {"region": REGION, "knowledgeBaseId": kb})["dataSourceId"]
    return kb, ds


def test_ingestion_jobs_are_scoped_discovered_sorted_and_filtered(sim: Sim) -> None:
    agent = sim.client("bedrock-agent")
    # Given: a knowledge base with a data source and three ingestion jobs a minute apart, one failed
    kb, ds = _ingestion_scope(sim)
    other_ds = sim.plane.create_data_source(REGION, kb, "other")
    jobs = []
    for status in ("COMPLETE", "FAILED", "IN_PROGRESS"):
        jobs.append(sim.plane.create_job(INGESTION, REGION, scope_ids=(kb, ds), status=status))
        sim.clock.advance(timedelta(minutes=1))
    sim.plane.set_job_status(
        INGESTION, REGION, jobs[1], "FAILED", scope_ids=(kb, ds), fields={"failureReasons": ["bad PDF"]}
    )

    # When: discovered and listed in each order and by status
    kbs = agent.list_knowledge_bases()["knowledgeBaseSummaries"]
    sources = agent.list_data_sources(knowledgeBaseId=kb)["dataSourceSummaries"]
    default = agent.list_ingestion_jobs(knowledgeBaseId=kb, dataSourceId=ds)["ingestionJobSummaries"]
    ascending = agent.list_ingestion_jobs(
        knowledgeBaseId=kb, dataSourceId=ds, sortBy={"attribute": "STARTED_AT", "order": "ASCENDING"}
    )
    by_status = agent.list_ingestion_jobs(
        knowledgeBaseId=kb, dataSourceId=ds, sortBy={"attribute": "STATUS", "order": "ASCENDING"}
    )
    failed = agent.list_ingestion_jobs(
        knowledgeBaseId=kb,
        dataSourceId=ds,
        filters=[{"attribute": "STATUS", "operator": "EQ", "values": ["FAILED"]}],
    )
    got = agent.get_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds, ingestionJobId=jobs[1])["ingestionJob"]

    # Then
    assert [(k["knowledgeBaseId"], k["name"], k["status"]) for k in kbs] == [(kb, "docs", "ACTIVE")]
    assert {s["dataSourceId"] for s in sources} == {ds, other_ds}
    assert all(len(i) == 10 and i.isalnum() and i == i.upper() for i in (kb, ds, *jobs))
    assert [j["ingestionJobId"] for j in default] == jobs[::-1]
    assert [j["ingestionJobId"] for j in ascending["ingestionJobSummaries"]] == jobs
    assert [j["status"] for j in by_status["ingestionJobSummaries"]] == ["COMPLETE", "FAILED", "IN_PROGRESS"]
    assert [j["ingestionJobId"] for j in failed["ingestionJobSummaries"]] == [jobs[1]]
    assert got["failureReasons"] == ["bad PDF"]
    assert got["startedAt"] == START + timedelta(minutes=1)
    assert got["updatedAt"] == START + timedelta(minutes=3)
    assert agent.list_ingestion_jobs(knowledgeBaseId=kb, dataSourceId=other_ds)["ingestionJobSummaries"] == []
    with pytest.raises(ClientError) as exc:
        agent.list_ingestion_jobs(knowledgeBaseId=kb, dataSourceId="NOSUCHDS00")
    assert _code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        agent.get_ingestion_job(knowledgeBaseId=kb, dataSourceId=other_ds, ingestionJobId=jobs[0])
    assert _code(exc) == "ResourceNotFoundException"


@pytest.mark.parametrize("history", [50, 5000])
def test_a_newest_first_first_page_costs_the_same_however_long_the_history(
    sim: Sim, history: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = sim.client("bedrock-agent")
    # Given: a data source with a long history, the newest jobs last
    kb, ds = _ingestion_scope(sim)
    sim.plane.bulk_create_jobs(
        INGESTION, REGION, history, scope_ids=(kb, ds), start=START - timedelta(days=30), status="COMPLETE"
    )
    examined = []
    listed = ControlPlane.listed

    def counting(plane: ControlPlane, job: Any) -> bool:
        examined.append(job)
        return listed(plane, job)

    monkeypatch.setattr(ControlPlane, "listed", counting)

    # When: the newest 25 are listed
    page = agent.list_ingestion_jobs(
        knowledgeBaseId=kb,
        dataSourceId=ds,
        maxResults=25,
        sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"},
    )

    # Then: the newest come first, and only a page's worth of jobs was looked at
    started = [j["startedAt"] for j in page["ingestionJobSummaries"]]
    assert started == sorted(started, reverse=True)
    assert started[0] == START - timedelta(days=30) + timedelta(seconds=history - 1)
    assert "nextToken" in page
    assert len(examined) == 26


def _raw_status(sim: Sim, method: str, path: str, body: Any = None) -> tuple[int, str]:
    status, reply = sim.raw(method, path, body)
    return status, str(reply.get("message", ""))


def test_requests_are_validated_against_the_input_shape(sim: Sim) -> None:
    kb, ds = _ingestion_scope(sim)
    ingestion = f"/knowledgebases/{kb}/datasources/{ds}/ingestionjobs/"
    sim.plane.bulk_create_jobs("bedrock-evaluation", REGION, 3)
    first = sim.client("bedrock").list_evaluation_jobs(maxResults=1)
    token = urllib.parse.quote(first["nextToken"])
    cases: list[tuple[str, str, Any, str]] = [
        ("GET", "/evaluation-jobs?maxResults=0", None, "greater than or equal to 1"),
        ("GET", "/evaluation-jobs?maxResults=1001", None, "less than or equal to 1000"),
        ("GET", "/evaluation-jobs?maxResults=ten", None, "not a valid integer"),
        ("GET", "/evaluation-jobs?statusEquals=Running", None, "enum value set"),
        ("GET", "/evaluation-jobs?sortOrder=Up", None, "enum value set"),
        ("GET", "/evaluation-jobs?nameContains=UPPER", None, "regular expression pattern"),
        ("GET", "/evaluation-jobs?creationTimeAfter=yesterday", None, "not a valid timestamp"),
        ("GET", f"/evaluation-jobs?statusEquals=Failed&nextToken={token}", None, "does not match"),
        ("GET", "/evaluation-jobs?nextToken=forged", None, "Invalid pagination token"),
        ("GET", "/evaluation-jobs/not-an-arn", None, "regular expression pattern"),
        ("POST", "/knowledgebases/too-short/datasources/", {}, "regular expression pattern"),
        ("POST", ingestion, {"sortBy": {"attribute": "STARTED_AT"}}, "not be null"),
        ("POST", ingestion, {"filters": []}, "length greater than or equal to 1"),
        ("POST", ingestion, {"maxResults": "5"}, "not a valid integer"),
    ]
    for method, path, body, message in cases:
        status, text = _raw_status(sim, method, path, body)
        assert (status, message in text) == (400, True), (path, body, text)
    status, _ = _raw_status(sim, "POST", ingestion, {"maxResults": 5})
    assert status == 200


def test_faults_apply_to_the_new_operations_by_name_and_scope(sim: Sim) -> None:
    agent = sim.client("bedrock-agent")
    bedrock = sim.client("bedrock")
    kb, ds = _ingestion_scope(sim)
    other_kb = sim.plane.create_agent_knowledge_base(REGION, "other")
    other_ds = sim.plane.create_data_source(REGION, other_kb)
    sim.plane.faults.add_rule("ThrottlingException", operation="ListIngestionJobs", knowledge_base_id=kb)
    sim.plane.faults.set_rates("GetModelInvocationJob", internal_error=1.0)

    with pytest.raises(ClientError) as exc:
        agent.list_ingestion_jobs(knowledgeBaseId=kb, dataSourceId=ds)
    assert _code(exc) == "ThrottlingException"
    assert (
        agent.list_ingestion_jobs(knowledgeBaseId=other_kb, dataSourceId=other_ds)["ingestionJobSummaries"]
        == []
    )
    with pytest.raises(ClientError) as exc:
        bedrock.get_model_invocation_job(jobIdentifier="abcdefghijkl")
    assert _code(exc) == "InternalServerException"
    assert sim.plane.count_calls("ListIngestionJobs", status=429) == 1
    assert sim.plane.count_calls("GetModelInvocationJob", status=500) == 1
    assert sim.plane.faults.counts == {"ThrottlingException": 1, "InternalServerException": 1}


def test_status_changes_set_the_modified_end_and_failure_members(sim: Sim) -> None:
    bedrock = sim.client("bedrock")
    # Given: a customization job and a batch inference job
    custom = sim.plane.create_job("bedrock-customization", REGION, name="tune-1")
    batch = sim.plane.create_job("bedrock-batch-inference", REGION, name="batch-1", status="Submitted")
    assert "/amazon.titan-text-express-v1/" in custom

    # When: the customization job fails (no message given), then the batch job partially completes
    sim.clock.advance(timedelta(hours=1))
    sim.control("POST", "status", {"jobRef": custom, "status": "Failed"})
    sim.clock.advance(timedelta(hours=1))
    sim.plane.set_job_status(
        "bedrock-batch-inference",
        REGION,
        batch,
        "PartiallyCompleted",
        fields={"message": "3 records failed", "errorRecordCount": 3, "totalRecordCount": 10},
    )
    failed = bedrock.get_model_customization_job(jobIdentifier="tune-1")
    summary = bedrock.list_model_invocation_jobs()["invocationJobSummaries"][0]

    # Then
    assert failed["status"] == "Failed"
    assert failed["failureMessage"] == "The job failed (simulated)."
    assert failed["endTime"] == failed["lastModifiedTime"] == START + timedelta(hours=1)
    assert summary["status"] == "PartiallyCompleted"
    assert summary["message"] == "3 records failed"
    assert (summary["errorRecordCount"], summary["totalRecordCount"]) == (3, 10)
    assert summary["endTime"] == START + timedelta(hours=2)
    assert summary["submitTime"] == START

    # And: back in progress, end time and failure are gone; hidden from lists, Get still finds it
    sim.plane.set_status(custom, "InProgress")
    again = bedrock.get_model_customization_job(jobIdentifier=custom)
    assert "endTime" not in again
    assert "failureMessage" not in again
    sim.plane.hide_from_lists(custom, until=START + timedelta(hours=3))
    assert bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []
    sim.clock.advance(timedelta(hours=1))
    assert len(bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"]) == 1

    # And: deleted, it is gone; reset forgets everything
    sim.control("POST", "jobs/delete", {"kind": "bedrock-customization", "region": REGION, "jobId": custom})
    with pytest.raises(ClientError) as exc:
        bedrock.get_model_customization_job(jobIdentifier=custom)
    assert _code(exc) == "ResourceNotFoundException"
    sim.control("POST", "reset")
    assert bedrock.list_model_invocation_jobs()["invocationJobSummaries"] == []


def test_control_api_creates_jobs_of_any_kind(sim: Sim) -> None:
    agent = sim.client("bedrock-agent")
    kb, ds = _ingestion_scope(sim)
    bulk = sim.control(
        "POST",
        "jobs/bulk",
        {
            "kind": INGESTION,
            "region": REGION,
            "scopeIds": [kb, ds],
            "count": 3,
            "start": "2026-10-01T00:00:00+00:00",
            "intervalSeconds": 60,
            "status": "STARTING",
        },
    )
    one = sim.control(
        "POST",
        "jobs",
        {
            "kind": INGESTION,
            "region": REGION,
            "scopeIds": [kb, ds],
            "creationTime": "2026-10-02T00:00:00+00:00",
            "fields": {"description": "nightly sync"},
        },
    )
    sim.control(
        "POST",
        "jobs/status",
        {
            "kind": INGESTION,
            "region": REGION,
            "scopeIds": [kb, ds],
            "jobId": one["jobId"],
            "status": "COMPLETE",
            "fields": {"statistics": {"numberOfDocumentsScanned": 12, "numberOfNewDocumentsIndexed": 12}},
        },
    )
    listed = agent.list_ingestion_jobs(knowledgeBaseId=kb, dataSourceId=ds)["ingestionJobSummaries"]

    assert "jobArn" not in one
    assert [j["ingestionJobId"] for j in listed] == [one["jobId"], *bulk["jobIds"][::-1]]
    assert listed[0]["statistics"]["numberOfDocumentsScanned"] == 12
    assert listed[0]["description"] == "nightly sync"
    assert listed[-1]["startedAt"].isoformat() == "2026-10-01T00:00:00+00:00"
    assert sim.control("GET", "state")[REGION]["jobs"] == {INGESTION: 4}
    for bad in (
        {"kind": INGESTION, "region": REGION, "scopeIds": [kb, ds], "fields": {"notAMember": 1}},
        {"kind": "no-such-kind", "region": REGION},
        {"kind": INGESTION, "region": REGION, "scopeIds": [kb]},
    ):
        status, text = _raw_status(sim, "POST", "/_sim/jobs", bad)
        assert status == 400, text
    status, _ = _raw_status(
        sim, "POST", "/_sim/jobs", {"kind": INGESTION, "region": REGION, "scopeIds": [kb, "NOSUCH0000"]}
    )
    assert status == 404


def test_the_routing_table_serves_every_kinds_operations_from_the_model() -> None:
    # Given the registry / When the routing table is built / Then every kind's list and get and every
    # discovery list is routed once, by the method and path template of botocore's operation model
    served = {(op.client, op.name): op for op in modeled.operations()}
    assert set(served) == {
        ("bedrock", "ListModelImportJobs"),
        ("bedrock", "GetModelImportJob"),
        ("bedrock", "ListModelCopyJobs"),
        ("bedrock", "GetModelCopyJob"),
        ("qconnect", "ListKnowledgeBases"),
        ("qconnect", "ListImportJobs"),
        ("qconnect", "GetImportJob"),
        ("bedrock", "ListEvaluationJobs"),
        ("bedrock", "GetEvaluationJob"),
        ("bedrock-agent", "ListIngestionJobs"),
        ("bedrock-agent", "GetIngestionJob"),
        ("bedrock-agent", "ListKnowledgeBases"),
        ("bedrock-agent", "ListDataSources"),
        ("bedrock", "ListModelCustomizationJobs"),
        ("bedrock", "GetModelCustomizationJob"),
        ("bedrock", "ListModelInvocationJobs"),
        ("bedrock", "GetModelInvocationJob"),
    }
    assert served[("qconnect", "GetImportJob")].segments == (
        "knowledgeBases",
        "{knowledgeBaseId}",
        "importJobs",
        "{importJobId}",
    )
    assert served[("bedrock", "GetModelCopyJob")].segments == ("model-copy-jobs", "{jobArn}")
    assert {op.method for (_, name), op in served.items() if name.startswith("Get")} == {"GET"}
    # bedrock-agent's POST /knowledgebases/ and Q in Connect's GET /knowledgeBases are different routes
    assert modeled.resolve("POST", ["knowledgebases"], "bedrock") is not None
    assert modeled.resolve("POST", ["knowledgebases"], "bedrock")[0].client == "bedrock-agent"  # type: ignore[index]
    assert modeled.resolve("GET", ["knowledgeBases"], "wisdom")[0].client == "qconnect"  # type: ignore[index]


def test_jobs_of_every_registered_kind_are_created_counted_and_listed_the_same_way(sim: Sim) -> None:
    # Given one job API per registered kind, each with its scope
    from job_auditor.contract.kinds import JOB_KINDS

    scopes = {
        0: (),
        1: (sim.plane.create_knowledge_base(REGION, "kb"),),
        2: _ingestion_scope(sim),
    }
    for spec in JOB_KINDS.values():
        scope = (
            scopes[len(spec.discovery)]
            if not (spec.discovery and spec.discovery[0].client == "qconnect")
            else scopes[1]
        )
        # When three old jobs and one new one are created through the kind-generic plane methods
        old = sim.plane.bulk_create_jobs(spec, REGION, 3, scope_ids=scope, start=START - timedelta(days=3))
        new = sim.plane.create_job(spec, REGION, scope_ids=scope)
        # Then the plane counts them, and the kind's own list operation returns them through boto3
        assert sim.plane.count_jobs(spec, REGION, scope_ids=scope) == 4
        assert (
            sim.plane.count_jobs(spec, REGION, scope_ids=scope, created_after=START - timedelta(days=1)) == 1
        )
        assert sim.plane.creation_time(new) == START
        client = sim.client(spec.client)
        listed = getattr(client, spec.list_method)(**dict(zip(spec.scope_params, scope, strict=True)))
        ids = {item[spec.id_field] for item in listed[spec.list_result_key]}
        assert ids == {*old, new}, spec.id
