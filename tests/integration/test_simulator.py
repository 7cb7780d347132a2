"""The job API simulator, exercised only through real boto3 clients (and its control HTTP API)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from simulator import FaultPlan
from tests.integration.simkit import REGION, START, running_sim
from tests.integration.simkit import Sim as SimBase


@dataclass
class Sim(SimBase):
    """The shared simulator harness, with a Bedrock and a Q in Connect client at hand."""

    bedrock: Any = None
    qconnect: Any = None

    def raw_get(self, path: str) -> Any:
        """An unsigned GET (served as us-east-1), to see the JSON exactly as it is on the wire."""
        with urllib.request.urlopen(f"{self.server.endpoint_url}{path}") as response:
            return json.loads(response.read())


@pytest.fixture
def sim() -> Iterator[Sim]:
    with running_sim() as base:
        s = Sim(base.clock, base.plane, base.server)
        s.bedrock = s.client("bedrock")
        s.qconnect = s.client("qconnect")
        yield s


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


# -- Bedrock model import jobs -----------------------------------------------------------------------


def test_model_import_job_list_and_get_carry_the_model_fields(sim: Sim) -> None:
    running = sim.plane.create_model_import_job(region=REGION, name="llama-import-1")
    done = sim.plane.create_model_import_job(region=REGION, name="mistral-import", status="InProgress")
    sim.clock.advance(timedelta(minutes=5, milliseconds=250))
    sim.plane.set_status(done, "Completed")

    summaries = {s["jobArn"]: s for s in sim.bedrock.list_model_import_jobs()["modelImportJobSummaries"]}

    assert set(summaries) == {running, done}
    assert running.startswith(f"arn:aws:bedrock:{REGION}:123456789012:model-import-job/")
    assert len(running.rsplit("/", 1)[1]) == 12
    assert summaries[running]["status"] == "InProgress"
    assert summaries[running]["creationTime"] == START
    assert "endTime" not in summaries[running]
    assert "importedModelArn" not in summaries[running]
    finished = START + timedelta(minutes=5, milliseconds=250)
    assert summaries[done]["endTime"] == finished
    assert summaries[done]["lastModifiedTime"] == finished
    assert ":imported-model/" in summaries[done]["importedModelArn"]
    assert summaries[done]["importedModelName"]

    by_arn = sim.bedrock.get_model_import_job(jobIdentifier=done)
    by_name = sim.bedrock.get_model_import_job(jobIdentifier="mistral-import")
    for got in (by_arn, by_name):
        assert got["jobArn"] == done
        assert got["status"] == "Completed"
        assert got["creationTime"] == START
        assert got["endTime"] == finished
        assert got["modelDataSource"]["s3DataSource"]["s3Uri"].startswith("s3://")


def test_failed_import_job_reports_its_failure_message_on_get(sim: Sim) -> None:
    arn = sim.plane.create_model_import_job(region=REGION, name="phi-import")
    sim.plane.set_status(arn, "Failed", failure_message="weights are not safetensors")

    got = sim.bedrock.get_model_import_job(jobIdentifier=arn)

    assert got["status"] == "Failed"
    assert got["failureMessage"] == "weights are not safetensors"
    assert got["endTime"] == START


def test_unknown_import_job_is_resource_not_found(sim: Sim) -> None:
    arn = f"arn:aws:bedrock:{REGION}:123456789012:model-import-job/zzzzzzzzzzzz"
    for ident in (arn, "no-such-job"):
        with pytest.raises(ClientError) as exc:
            sim.bedrock.get_model_import_job(jobIdentifier=ident)
        assert _code(exc) == "ResourceNotFoundException"
        assert _status(exc) == 404


def test_bedrock_timestamps_are_iso8601_strings_on_the_wire(sim: Sim) -> None:
    sim.plane.create_model_import_job(
        region=REGION, name="wire", creation_time=START + timedelta(seconds=1.5)
    )

    raw = sim.raw_get("/model-import-jobs")

    assert raw["modelImportJobSummaries"][0]["creationTime"] == "2026-11-01T00:00:01.500Z"


def test_import_job_filters(sim: Sim) -> None:
    t = [START + timedelta(hours=i) for i in range(4)]
    a = sim.plane.create_model_import_job(region=REGION, name="alpha-1", creation_time=t[0])
    b = sim.plane.create_model_import_job(region=REGION, name="beta-1", creation_time=t[1])
    c = sim.plane.create_model_import_job(region=REGION, name="alpha-2", creation_time=t[2])
    d = sim.plane.create_model_import_job(region=REGION, name="gamma", creation_time=t[3])
    sim.plane.set_status(c, "Completed")
    sim.plane.set_status(d, "Failed")

    def arns(**kwargs: Any) -> set[str]:
        return {s["jobArn"] for s in sim.bedrock.list_model_import_jobs(**kwargs)["modelImportJobSummaries"]}

    # "After" and "before" are strict: a job created exactly at the bound is excluded.
    assert arns(creationTimeAfter=t[1]) == {c, d}
    assert arns(creationTimeBefore=t[2]) == {a, b}
    assert arns(creationTimeAfter=t[0], creationTimeBefore=t[3]) == {b, c}
    assert arns(creationTimeAfter=t[1] - timedelta(milliseconds=1)) == {b, c, d}
    assert arns(statusEquals="InProgress") == {a, b}
    assert arns(statusEquals="Failed") == {d}
    assert arns(nameContains="alpha") == {a, c}
    assert arns(nameContains="alpha", statusEquals="Completed") == {c}


def test_sort_order_defaults_to_descending(sim: Sim) -> None:
    arns = [
        sim.plane.create_model_import_job(
            region=REGION, name=f"job-{i}", creation_time=START + timedelta(minutes=i)
        )
        for i in range(5)
    ]

    def listed(**kwargs: Any) -> list[str]:
        return [s["jobArn"] for s in sim.bedrock.list_model_import_jobs(**kwargs)["modelImportJobSummaries"]]

    assert listed() == arns[::-1]
    assert listed(sortBy="CreationTime", sortOrder="Descending") == arns[::-1]
    assert listed(sortBy="CreationTime", sortOrder="Ascending") == arns


def test_paging_2500_import_jobs_at_1000_takes_three_calls(sim: Sim) -> None:
    created = sim.plane.bulk_create_jobs("bedrock-model-import", REGION, 2500, start=START)
    sim.plane.reset_calls()

    pages = sim.bedrock.get_paginator("list_model_import_jobs").paginate(
        sortBy="CreationTime", sortOrder="Ascending", PaginationConfig={"PageSize": 1000}
    )
    sizes: list[int] = []
    seen: list[str] = []
    for page in pages:
        sizes.append(len(page["modelImportJobSummaries"]))
        seen.extend(s["jobArn"] for s in page["modelImportJobSummaries"])

    assert sizes == [1000, 1000, 500]
    assert seen == created
    assert sim.plane.count_calls("ListModelImportJobs") == 3


def test_jobs_created_while_paging_never_repeat_or_skip_returned_items(sim: Sim) -> None:
    sim.plane.bulk_create_jobs("bedrock-model-import", REGION, 30, start=START)
    sim.clock.set(START + timedelta(hours=1))
    seen: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"sortBy": "CreationTime", "sortOrder": "Ascending", "maxResults": 7}
        if token:
            kwargs["nextToken"] = token
        page = sim.bedrock.list_model_import_jobs(**kwargs)
        seen.extend(s["jobArn"] for s in page["modelImportJobSummaries"])
        # A job lands between every two pages, after everything already listed.
        sim.plane.create_model_import_job(region=REGION, name=f"late-{len(seen)}")
        token = page.get("nextToken")
        if not token or len(seen) > 200:
            break

    everything = [s["jobArn"] for s in _all_import_jobs(sim)]
    assert len(seen) == len(set(seen))
    assert seen == everything[: len(seen)]
    assert len(seen) >= 30


def _all_import_jobs(sim: Sim) -> list[dict[str, Any]]:
    pages = sim.bedrock.get_paginator("list_model_import_jobs").paginate(sortOrder="Ascending")
    return [s for page in pages for s in page["modelImportJobSummaries"]]


def test_creation_time_after_bisects_a_large_history(sim: Sim) -> None:
    sim.plane.bulk_create_jobs(
        "bedrock-model-import", REGION, 20_000, start=START, interval=timedelta(seconds=1)
    )

    page = sim.bedrock.list_model_import_jobs(
        creationTimeAfter=START + timedelta(seconds=19_994), sortOrder="Ascending"
    )

    times = [s["creationTime"] for s in page["modelImportJobSummaries"]]
    assert times == [START + timedelta(seconds=s) for s in range(19_995, 20_000)]
    assert "nextToken" not in page


# -- Bedrock model copy jobs -------------------------------------------------------------------------


def test_model_copy_job_list_and_get_by_url_encoded_arn(sim: Sim) -> None:
    source = f"arn:aws:bedrock:{REGION}:210987654321:custom-model/imported/abcdefghijkl"
    arn = sim.plane.create_model_copy_job(
        region=REGION, target_model_name="llama-copy", source_model_arn=source, status="InProgress"
    )
    sim.plane.set_status(arn, "Failed", failure_message="KMS key not accessible")

    listed = sim.bedrock.list_model_copy_jobs()["modelCopyJobSummaries"]
    got = sim.bedrock.get_model_copy_job(jobArn=arn)

    assert arn.startswith(f"arn:aws:bedrock:{REGION}:123456789012:model-copy-job/")
    assert [s["jobArn"] for s in listed] == [arn]
    for item in (listed[0], got):
        assert item["status"] == "Failed"
        assert item["failureMessage"] == "KMS key not accessible"
        assert item["sourceAccountId"] == "210987654321"
        assert item["sourceModelArn"] == source
        assert item["targetModelName"] == "llama-copy"
        assert ":custom-model/" in item["targetModelArn"]
        assert item["creationTime"] == START
    # The ARN travels percent-encoded in the path; the server must decode it, not split on '/'.
    assert sim.plane.calls.snapshot()[-1].params["jobArn"] == arn


def test_unknown_copy_job_is_resource_not_found(sim: Sim) -> None:
    with pytest.raises(ClientError) as exc:
        sim.bedrock.get_model_copy_job(
            jobArn=f"arn:aws:bedrock:{REGION}:123456789012:model-copy-job/000000000000"
        )
    assert _code(exc) == "ResourceNotFoundException"


def test_copy_job_filters(sim: Sim) -> None:
    mine = f"arn:aws:bedrock:{REGION}:123456789012:custom-model/imported/aaaaaaaaaaaa"
    theirs = f"arn:aws:bedrock:{REGION}:210987654321:custom-model/imported/bbbbbbbbbbbb"
    a = sim.plane.create_model_copy_job(
        region=REGION, target_model_name="support-bot", source_model_arn=mine, creation_time=START
    )
    b = sim.plane.create_model_copy_job(
        region=REGION,
        target_model_name="billing-bot",
        source_model_arn=theirs,
        creation_time=START + timedelta(hours=1),
    )
    c = sim.plane.create_model_copy_job(
        region=REGION,
        target_model_name="support-v2",
        source_model_arn=theirs,
        creation_time=START + timedelta(hours=2),
        status="Completed",
    )

    def arns(**kwargs: Any) -> list[str]:
        return [s["jobArn"] for s in sim.bedrock.list_model_copy_jobs(**kwargs)["modelCopyJobSummaries"]]

    assert arns() == [c, b, a]
    assert arns(sortOrder="Ascending") == [a, b, c]
    assert arns(sourceAccountEquals="210987654321") == [c, b]
    assert arns(sourceModelArnEquals=mine) == [a]
    assert arns(targetModelNameContains="support") == [c, a]
    assert sim.plane.calls.snapshot()[-1].params["outputModelNameContains"] == "support"
    assert arns(statusEquals="Completed") == [c]
    assert arns(creationTimeAfter=START, creationTimeBefore=START + timedelta(hours=2)) == [b]


# -- Q in Connect ------------------------------------------------------------------------------------


def test_knowledge_bases_and_import_jobs(sim: Sim) -> None:
    kb = sim.plane.create_knowledge_base(region=REGION, name="support")
    job = sim.plane.create_import_job(
        region=REGION, knowledge_base_id=kb, metadata={"source": "csv"}, status="START_IN_PROGRESS"
    )
    kb_arn = f"arn:aws:wisdom:{REGION}:123456789012:knowledge-base/{kb}"

    bases = sim.qconnect.list_knowledge_bases()["knowledgeBaseSummaries"]
    assert [(b["knowledgeBaseId"], b["knowledgeBaseArn"], b["status"]) for b in bases] == [
        (kb, kb_arn, "ACTIVE")
    ]

    for ref in (kb, kb_arn):  # the path accepts the id or the ARN
        summaries = sim.qconnect.list_import_jobs(knowledgeBaseId=ref)["importJobSummaries"]
        assert [s["importJobId"] for s in summaries] == [job]
        summary = summaries[0]
        assert summary["knowledgeBaseId"] == kb
        assert summary["knowledgeBaseArn"] == kb_arn
        assert summary["importJobType"] == "QUICK_RESPONSES"
        assert summary["status"] == "START_IN_PROGRESS"
        assert summary["uploadId"]
        assert summary["metadata"] == {"source": "csv"}

        got = sim.qconnect.get_import_job(knowledgeBaseId=ref, importJobId=job)["importJob"]
        assert got["importJobId"] == job
        assert got["url"].startswith("https://")
        assert got["urlExpiry"] == START + timedelta(hours=1)
        assert "failedRecordReport" not in got

    sim.plane.set_status(job, "FAILED")
    failed = sim.qconnect.get_import_job(knowledgeBaseId=kb, importJobId=job)["importJob"]
    assert failed["status"] == "FAILED"
    assert failed["failedRecordReport"]


def test_qconnect_timestamps_are_epoch_seconds_on_the_wire(sim: Sim) -> None:
    created = datetime(2026, 11, 1, 12, 30, 15, 125000, tzinfo=UTC)
    kb = sim.plane.create_knowledge_base(region=REGION, name="kb")
    job = sim.plane.create_import_job(region=REGION, knowledge_base_id=kb, created_time=created)
    sim.clock.set(created + timedelta(minutes=3))
    sim.plane.set_status(job, "COMPLETE")

    raw = sim.raw_get(f"/knowledgeBases/{kb}/importJobs")["importJobSummaries"][0]
    parsed = sim.qconnect.list_import_jobs(knowledgeBaseId=kb)["importJobSummaries"][0]

    assert raw["createdTime"] == pytest.approx(created.timestamp())
    assert isinstance(raw["lastModifiedTime"], int | float)
    assert parsed["createdTime"] == created
    assert parsed["lastModifiedTime"] == created + timedelta(minutes=3)


def test_qconnect_paginator_over_250_jobs_in_an_order_that_is_not_creation(sim: Sim) -> None:
    kb = sim.plane.create_knowledge_base(region=REGION, name="bulk")
    created = sim.plane.bulk_create_jobs("qconnect-import", REGION, scope_ids=(kb,), count=250, start=START)
    sim.plane.reset_calls()

    pages = list(
        sim.qconnect.get_paginator("list_import_jobs").paginate(
            knowledgeBaseId=kb, PaginationConfig={"PageSize": 100}
        )
    )
    ids = [s["importJobId"] for page in pages for s in page["importJobSummaries"]]

    assert [len(p["importJobSummaries"]) for p in pages] == [100, 100, 50]
    assert sorted(ids) == sorted(created)
    assert len(set(ids)) == 250
    assert ids != created  # clients must not rely on creation order
    assert ids == sorted(ids)  # but it is deterministic
    assert sim.plane.count_calls("ListImportJobs") == 3


def test_unknown_or_deleted_knowledge_base_is_resource_not_found(sim: Sim) -> None:
    kb = sim.plane.create_knowledge_base(region=REGION, name="short-lived")
    job = sim.plane.create_import_job(region=REGION, knowledge_base_id=kb)
    missing = "00000000-0000-4000-8000-000000000000"

    with pytest.raises(ClientError) as exc:
        sim.qconnect.list_import_jobs(knowledgeBaseId=missing)
    assert (_code(exc), _status(exc)) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        sim.qconnect.get_import_job(knowledgeBaseId=kb, importJobId=missing)
    assert _code(exc) == "ResourceNotFoundException"

    sim.plane.delete_knowledge_base(REGION, kb)
    gone: tuple[Callable[[], Any], ...] = (
        lambda: sim.qconnect.list_import_jobs(knowledgeBaseId=kb),
        lambda: sim.qconnect.get_import_job(knowledgeBaseId=kb, importJobId=job),
    )
    for call in gone:
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "ResourceNotFoundException"
    assert sim.qconnect.list_knowledge_bases()["knowledgeBaseSummaries"] == []


# -- validation and paging tokens --------------------------------------------------------------------


def test_max_results_above_the_limit_is_rejected_by_the_server(sim: Sim) -> None:
    kb = sim.plane.create_knowledge_base(region=REGION, name="kb")
    calls: list[Callable[[], Any]] = [
        lambda: sim.qconnect.list_import_jobs(knowledgeBaseId=kb, maxResults=101),
        lambda: sim.qconnect.list_knowledge_bases(maxResults=101),
        lambda: sim.bedrock.list_model_import_jobs(maxResults=1001),
        lambda: sim.bedrock.list_model_copy_jobs(maxResults=1001),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert (_code(exc), _status(exc)) == ("ValidationException", 400)
    # botocore validated nothing: every request reached the server and was rejected there.
    assert sim.plane.count_calls(status=400) == 4
    assert sim.qconnect.list_import_jobs(knowledgeBaseId=kb, maxResults=100)["importJobSummaries"] == []
    assert sim.bedrock.list_model_import_jobs(maxResults=1000)["modelImportJobSummaries"] == []


def test_bad_or_foreign_next_token_is_a_validation_error(sim: Sim) -> None:
    sim.plane.bulk_create_jobs("bedrock-model-import", REGION, 5, start=START)
    token = sim.bedrock.list_model_import_jobs(maxResults=2, statusEquals="InProgress")["nextToken"]

    for kwargs in (
        {"nextToken": "garbage"},
        {"nextToken": token},  # issued for a statusEquals query
        {"nextToken": token, "statusEquals": "InProgress", "sortOrder": "Ascending"},
    ):
        with pytest.raises(ClientError) as exc:
            sim.bedrock.list_model_import_jobs(**kwargs)
        assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        sim.bedrock.list_model_copy_jobs(nextToken=token)
    assert _code(exc) == "ValidationException"

    # The same query may change its page size between pages.
    page = sim.bedrock.list_model_import_jobs(nextToken=token, statusEquals="InProgress", maxResults=3)
    assert len(page["modelImportJobSummaries"]) == 3


def test_invalid_enum_values_are_validation_errors(sim: Sim) -> None:
    with pytest.raises(ClientError) as exc:
        sim.bedrock.list_model_import_jobs(statusEquals="Stopped")
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        sim.bedrock.list_model_copy_jobs(sortOrder="Sideways")
    assert _code(exc) == "ValidationException"


def test_unknown_status_strings_round_trip(sim: Sim) -> None:
    imp = sim.plane.create_model_import_job(region=REGION, name="odd")
    cpy = sim.plane.create_model_copy_job(region=REGION, target_model_name="odd-copy")
    kb = sim.plane.create_knowledge_base(region=REGION, name="kb")
    job = sim.plane.create_import_job(region=REGION, knowledge_base_id=kb)
    sim.plane.set_status(imp, "Stopping")
    sim.plane.set_status(cpy, "Paused")
    sim.plane.set_status(job, "VALIDATING")

    assert sim.bedrock.list_model_import_jobs()["modelImportJobSummaries"][0]["status"] == "Stopping"
    assert sim.bedrock.get_model_import_job(jobIdentifier=imp)["status"] == "Stopping"
    assert sim.bedrock.get_model_copy_job(jobArn=cpy)["status"] == "Paused"
    assert (
        sim.qconnect.list_import_jobs(knowledgeBaseId=kb)["importJobSummaries"][0]["status"] == "VALIDATING"
    )
    assert (
        sim.qconnect.get_import_job(knowledgeBaseId=kb, importJobId=job)["importJob"]["status"]
        == "VALIDATING"
    )


# -- regions, endpoint resolution --------------------------------------------------------------------


def test_state_is_per_region_taken_from_the_sigv4_scope(sim: Sim) -> None:
    east = sim.plane.create_model_import_job(region=REGION, name="east")
    west = sim.plane.create_model_import_job(region="us-west-2", name="west")
    west_client = sim.client("bedrock", region="us-west-2")

    assert [s["jobArn"] for s in west_client.list_model_import_jobs()["modelImportJobSummaries"]] == [west]
    assert ":us-west-2:" in west
    with pytest.raises(ClientError) as exc:
        west_client.get_model_import_job(jobIdentifier=east)
    assert _code(exc) == "ResourceNotFoundException"
    assert sim.plane.count_calls("ListModelImportJobs", region="us-west-2") == 1


def test_standard_endpoint_environment_variables_reach_the_simulator(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", sim.server.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_QCONNECT", sim.server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sim.plane.create_model_import_job(region="eu-west-1", name="via-env")
    kb = sim.plane.create_knowledge_base(region="eu-west-1", name="via-env")

    session = boto3.session.Session(region_name="eu-west-1")
    jobs = session.client("bedrock").list_model_import_jobs()["modelImportJobSummaries"]
    bases = session.client("qconnect").list_knowledge_bases()["knowledgeBaseSummaries"]

    assert [j["jobName"] for j in jobs] == ["via-env"]
    assert [b["knowledgeBaseId"] for b in bases] == [kb]


# -- errors and fault injection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ValidationException", 400),
        ("AccessDeniedException", 403),
        ("ResourceNotFoundException", 404),
        ("ThrottlingException", 429),
        ("InternalServerException", 500),
    ],
)
def test_every_error_code_parses_into_client_error(sim: Sim, code: str, status: int) -> None:
    sim.plane.faults.add_rule(code, operation="ListModelCopyJobs", times=1)

    with pytest.raises(ClientError) as exc:
        sim.bedrock.list_model_copy_jobs()

    assert (_code(exc), _status(exc)) == (code, status)
    assert exc.value.response["Error"]["Message"]
    assert sim.bedrock.list_model_copy_jobs()["modelCopyJobSummaries"] == []  # times=1: spent


def test_fault_plan_throttles_and_counts(sim: Sim) -> None:
    sim.plane.faults = FaultPlan(seed=3).set_rates("ListModelImportJobs", throttle=1.0)
    client = sim.client("bedrock", config=Config(retries={"max_attempts": 1}))

    with pytest.raises(ClientError) as exc:
        client.list_model_import_jobs()
    assert (_code(exc), _status(exc)) == ("ThrottlingException", 429)
    assert client.list_model_copy_jobs()["modelCopyJobSummaries"] == []  # other operations untouched
    # max_attempts=1 allows botocore one retry: two throttled calls, both counted.
    attempts = exc.value.response["ResponseMetadata"]["RetryAttempts"] + 1
    assert sim.plane.faults.counts == {"ThrottlingException": attempts}
    assert sim.plane.count_calls("ListModelImportJobs", status=429) == attempts


def test_fault_plan_is_reproducible_for_a_seed(sim: Sim) -> None:
    def outcomes(seed: int) -> list[str]:
        sim.plane.faults = FaultPlan(seed=seed).set_rates(throttle=0.3, internal_error=0.2)
        results = []
        for _ in range(40):
            try:
                sim.bedrock.list_model_import_jobs()
                results.append("ok")
            except ClientError as exc:
                results.append(exc.response["Error"]["Code"])
        return results

    first = outcomes(11)
    assert first == outcomes(11)
    assert {"ok", "ThrottlingException", "InternalServerException"} <= set(first)
    assert sim.plane.faults.counts["ThrottlingException"] == first.count("ThrottlingException")


def test_access_denied_rule_for_one_knowledge_base(sim: Sim) -> None:
    open_kb = sim.plane.create_knowledge_base(region=REGION, name="open")
    locked_kb = sim.plane.create_knowledge_base(region=REGION, name="locked")
    sim.plane.faults.deny(knowledge_base_id=locked_kb)

    assert sim.qconnect.list_import_jobs(knowledgeBaseId=open_kb)["importJobSummaries"] == []
    with pytest.raises(ClientError) as exc:
        sim.qconnect.list_import_jobs(
            knowledgeBaseId=f"arn:aws:wisdom:{REGION}:123456789012:knowledge-base/{locked_kb}"
        )
    assert (_code(exc), _status(exc)) == ("AccessDeniedException", 403)
    assert sim.plane.faults.counts == {"AccessDeniedException": 1}


# -- control HTTP API --------------------------------------------------------------------------------


def test_control_api_drives_the_simulation(sim: Sim) -> None:
    assert sim.control("GET", "clock")["now"] == "2026-11-01T00:00:00.000Z"
    arn = sim.control("POST", "model-import-jobs", {"region": REGION, "name": "ctl-1"})["jobArn"]
    assert sim.control("POST", "clock", {"advanceSeconds": 90})["now"] == "2026-11-01T00:01:30.000Z"
    sim.control("POST", "status", {"jobRef": arn, "status": "Completed"})
    kb = sim.control("POST", "knowledge-bases", {"region": REGION, "name": "kb"})["knowledgeBaseId"]
    job = sim.control("POST", "import-jobs", {"region": REGION, "knowledgeBaseId": kb})["importJobId"]
    bulk = sim.control("POST", "jobs/bulk", {"kind": "bedrock-model-copy", "region": REGION, "count": 3})[
        "jobIds"
    ]

    got = sim.bedrock.get_model_import_job(jobIdentifier=arn)
    assert got["status"] == "Completed"
    assert got["endTime"] == START + timedelta(seconds=90)
    assert sim.qconnect.get_import_job(knowledgeBaseId=kb, importJobId=job)["importJob"]["importJobId"] == job
    assert len(sim.bedrock.list_model_copy_jobs()["modelCopyJobSummaries"]) == len(bulk) == 3

    calls = sim.control("GET", "calls?operation=GetModelImportJob")["calls"]
    assert [(c["operation"], c["region"], c["status"]) for c in calls] == [("GetModelImportJob", REGION, 200)]

    sim.control("PUT", "faults", {"seed": 1, "rules": [{"code": "ThrottlingException", "times": 1}]})
    with pytest.raises(ClientError) as exc:
        sim.bedrock.list_model_copy_jobs()
    assert _code(exc) == "ThrottlingException"
    assert sim.control("GET", "faults")["counts"] == {"ThrottlingException": 1}

    sim.control("POST", "reset")
    assert sim.bedrock.list_model_import_jobs()["modelImportJobSummaries"] == []


def test_control_api_errors_use_the_aws_error_shape(sim: Sim) -> None:
    request = urllib.request.Request(
        f"{sim.server.endpoint_url}/_sim/status",
        data=json.dumps({"jobRef": "nope", "status": "Completed"}).encode(),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request)
    assert exc.value.code == 404
    assert exc.value.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert "nope" in json.loads(exc.value.read())["message"]


# -- list lag and deletion (the faults the reconciliation sweep and re-checks answer) ------------------
def test_a_job_hidden_from_lists_is_listed_from_its_time_and_found_by_get_at_once(sim: Sim) -> None:
    arn = sim.plane.create_model_import_job(REGION, "late")
    kb = sim.plane.create_knowledge_base(REGION, "kb")
    q_job = sim.plane.create_import_job(REGION, kb)
    sim.plane.hide_from_lists(arn, START + timedelta(minutes=30))
    sim.plane.hide_from_lists(q_job, START + timedelta(minutes=30))
    assert sim.bedrock.list_model_import_jobs()["modelImportJobSummaries"] == []
    assert sim.qconnect.list_import_jobs(knowledgeBaseId=kb)["importJobSummaries"] == []
    assert sim.bedrock.get_model_import_job(jobIdentifier=arn)["jobArn"] == arn
    sim.clock.advance(timedelta(minutes=30))
    assert [j["jobArn"] for j in sim.bedrock.list_model_import_jobs()["modelImportJobSummaries"]] == [arn]
    listed = sim.qconnect.list_import_jobs(knowledgeBaseId=kb)["importJobSummaries"]
    assert [j["importJobId"] for j in listed] == [q_job]


def test_a_deleted_job_is_gone_from_list_and_get(sim: Sim) -> None:
    arn = sim.plane.create_model_import_job(REGION, "gone")
    kept = sim.plane.create_model_import_job(REGION, "kept")
    sim.plane.delete_job(arn)
    listed = sim.bedrock.list_model_import_jobs()["modelImportJobSummaries"]
    assert [j["jobArn"] for j in listed] == [kept]
    with pytest.raises(ClientError) as error:
        sim.bedrock.get_model_import_job(jobIdentifier=arn)
    assert _code(error) == "ResourceNotFoundException"
    # Its name is free again, as after a deletion in AWS
    sim.plane.create_model_import_job(REGION, "gone")
