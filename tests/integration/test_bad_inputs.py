"""Bad-input catalogue, API half (docs/bad-inputs.md): answers the job APIs should not give but might.
Each gets a clear error for its source only, or a logged, counted skip, and never loses state.

The simulator's response mutator (`simulator.mutators`) produces the malformed answers on the wire,
so the real SDK parses them as it would parse AWS's."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from job_auditor.auditor.adapters.clients import named_client
from job_auditor.auditor.adapters.job_api import BotoJobApi
from job_auditor.auditor.domain.diff import diff
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.ports import SourceError
from simulator import ControlPlane, SimClock, SimulatorServer
from simulator.mutators import ResponseMutator, Rule
from simulator.world import ACCOUNT, REGION, World

IMPORT = JOB_KINDS["bedrock-model-import"]
COPY = JOB_KINDS["bedrock-model-copy"]
QCONNECT = JOB_KINDS["qconnect-import"]
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(hours=1)


# -- the adapter alone against the simulator (no DynamoDB needed) -------------------------------------
@pytest.fixture
def sim() -> Iterator[tuple[ControlPlane, BotoJobApi]]:
    plane = ControlPlane(clock=SimClock(start=NOW), seed=5)
    server = SimulatorServer(plane, host="127.0.0.1", port=0).start()
    plane.endpoint_url = server.endpoint_url  # type: ignore[attr-defined]
    yield plane, _api_with(plane, None)
    server.stop()


def _api_with(plane: ControlPlane, config: Config | None) -> BotoJobApi:
    clients: dict[tuple[str, str], BaseClient] = {}
    session = boto3.session.Session()

    def provider(service: str, region: str) -> BaseClient:
        key = (service, region)
        if key not in clients:
            clients[key] = named_client(
                session,
                service,
                region_name=region,
                endpoint_url=plane.endpoint_url,  # type: ignore[attr-defined]
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=config,
            )
        return clients[key]

    return BotoJobApi(provider)


def _imports(plane: ControlPlane, n: int) -> list[str]:
    return [
        plane.create_model_import_job(REGION, f"job-{i}", creation_time=NOW - timedelta(minutes=n - i))
        for i in range(n)
    ]


def _list(api: BotoJobApi, kind: Any = IMPORT, kb: str | None = None) -> Any:
    return api.list_jobs(Source(ACCOUNT, REGION, kind, (kb,) if kb else ()), LONG_AGO)


def test_missing_optional_fields_are_tolerated(sim: Any) -> None:
    plane, api = sim
    _imports(plane, 2)
    plane.mutator = ResponseMutator().drop_field("ListModelImportJobs", "lastModifiedTime", every=True)
    plane.mutator.drop_field("ListModelImportJobs", "jobName", every=True)
    listing = _list(api)
    assert len(listing.jobs) == 2 and listing.skipped == {}
    assert all(job.name is None and job.last_modified_at is None for job in listing.jobs)


@pytest.mark.parametrize(
    ("field", "reason"),
    [("creationTime", "missing-creation-time"), ("jobArn", "missing-job-id"), ("status", "missing-status")],
    ids=["missing-creation-time", "missing-job-id", "missing-status"],
)
def test_job_missing_a_required_field_is_a_counted_skip(sim: Any, field: str, reason: str) -> None:
    plane, api = sim
    _imports(plane, 3)
    plane.mutator = ResponseMutator(seed=1).drop_field("ListModelImportJobs", field)
    listing = _list(api)
    assert len(listing.jobs) == 2
    assert listing.skipped == {reason: 1}


def test_qconnect_creation_time_as_text_is_a_parse_error_for_that_source(sim: Any) -> None:
    plane, api = sim
    kb = plane.create_knowledge_base(REGION, "kb")
    plane.create_import_job(REGION, kb)
    plane.mutator = ResponseMutator().set_field("ListImportJobs", "createdTime", "yesterday")
    with pytest.raises(SourceError) as error:
        _list(api, QCONNECT, kb)
    assert kb in str(error.value)


def test_null_result_list_is_an_empty_page(sim: Any) -> None:
    plane, api = sim
    _imports(plane, 1)
    plane.mutator = ResponseMutator().add(
        Rule("ListModelImportJobs", lambda q, body, rng: {**body, "modelImportJobSummaries": None})
    )
    listing = _list(api)
    assert listing.jobs == [] and listing.pages == 1


def test_same_job_on_two_pages_is_listed_twice_and_diffed_once(sim: Any) -> None:
    plane, api = sim
    kb = plane.create_knowledge_base(REGION, "kb")
    plane.bulk_create_jobs(
        "qconnect-import", REGION, scope_ids=(kb,), count=150, start=NOW - timedelta(minutes=30)
    )
    plane.mutator = ResponseMutator().repeat_last_item_on_next_page("ListImportJobs")
    listing = _list(api, QCONNECT, kb)
    assert len(listing.jobs) == 151
    assert len({job.job_id for job in listing.jobs}) == 150
    assert len(diff(Source(ACCOUNT, REGION, QCONNECT, (kb,)), {}, listing.jobs, NOW)) == 150


def test_empty_page_with_a_token_is_followed(sim: Any) -> None:
    plane, api = sim
    _imports(plane, 3)
    plane.mutator = ResponseMutator().empty_first_page("ListModelImportJobs")
    listing = _list(api)
    assert listing.pages == 2 and len(listing.jobs) == 3


def test_next_token_repeating_for_ever_fails_the_source_clearly(sim: Any) -> None:
    plane, api = sim
    _imports(plane, 2)
    plane.mutator = ResponseMutator().loop_tokens("ListModelImportJobs", ("same-token",))
    with pytest.raises(SourceError) as error:
        _list(api)
    assert "token" in str(error.value).lower()


def test_next_tokens_cycling_for_ever_fail_the_source_clearly(sim: Any) -> None:
    plane, api = sim
    _imports(plane, 2)
    plane.mutator = ResponseMutator().loop_tokens("ListModelImportJobs", ("token-a", "token-b", "token-c"))
    with pytest.raises(SourceError) as error:
        _list(api)
    assert error.value.code == "PaginationLoop"
    assert plane.count_calls("ListModelImportJobs") == 4


@pytest.mark.parametrize(
    "name",
    [
        "modèle-😀-导入",  # emoji and CJK
        "\u202eevil\u202c-name",  # right-to-left override
        "zero\u200bwidth\ufeff",  # zero-width space, BOM
        "e\u0301\u0301\u0301",  # stacked combining marks
        "line\nbreak\ttab\x07bell",  # control characters
        "x" * 3000,  # far longer than any subject or Slack field
    ],
    ids=["emoji-cjk", "rtl-override", "zero-width", "combining", "control-chars", "very-long"],
)
def test_odd_unicode_names_are_kept_verbatim(sim: Any, name: str) -> None:
    plane, api = sim
    plane.create_model_copy_job(REGION, "target")
    plane.mutator = ResponseMutator().set_field("ListModelCopyJobs", "targetModelName", name)
    (job,) = _list(api, COPY).jobs
    assert job.name == name


# -- the whole handler: other jobs and sources go on, state is kept ----------------------------------
BEDROCK = {"JOB_KINDS": "bedrock-model-import,bedrock-model-copy"}


def _baseline(w: World, n: int = 3) -> list[str]:
    arns = [w.plane.create_model_import_job(REGION, f"job-{i}") for i in range(n)]
    w.plane.create_model_copy_job(REGION, "copy-target")
    w.run()
    w.advance(timedelta(minutes=5))
    return arns


def _source(result: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [s for s in result["sources"] if s["job_kind"] == kind]
    return cast(dict[str, Any], found)


def test_unknown_status_is_recorded_announced_and_counted(make_world: Any) -> None:
    w: World = make_world(**BEDROCK)
    arn, *_ = _baseline(w)
    w.plane.set_status(arn, "Stopping")
    result = w.run()
    (event,) = w.events_received()
    assert event["detail"]["status"] == "Stopping"
    assert event["detail"]["statusCategory"] == "UNKNOWN"
    assert _source(result, "bedrock-model-import")["unknown_statuses"] == 1
    # And the job stays watched: its next status is announced too
    w.advance(timedelta(minutes=5))
    w.plane.set_status(arn, "Completed")
    w.run()
    (event,) = w.events_received()
    assert (event["detail"]["previousStatus"], event["detail"]["status"]) == ("Stopping", "Completed")


def test_job_without_creation_time_is_skipped_counted_and_the_rest_go_on(make_world: Any) -> None:
    w: World = make_world(**BEDROCK)
    arns = _baseline(w)
    for arn in arns:
        w.plane.set_status(arn, "Completed")
    w.plane.mutator = ResponseMutator(seed=3).drop_field("ListModelImportJobs", "creationTime")
    result = w.run()
    source = _source(result, "bedrock-model-import")
    assert source["skipped"] == {"missing-creation-time": 1}
    # The skipped job is tracked, and missing from the listing: its Get finds it ended, nothing lost
    assert source["jobs_rechecked"] == 1
    assert len(w.events_received()) == 3
    w.plane.mutator = None
    w.advance(timedelta(minutes=5))
    w.run()
    assert w.events_received() == []


def test_job_older_than_creation_time_after_is_ignored_and_counted(make_world: Any) -> None:
    w: World = make_world(**BEDROCK)
    _baseline(w)
    w.plane.mutator = ResponseMutator().add_old_job(
        "ListModelImportJobs", "2020-01-01T00:00:00.000Z", times=None
    )
    result = w.run()
    assert w.events_received() == []
    assert _source(result, "bedrock-model-import")["skipped"] == {"created-before-window": 1}
    assert result["status"] == "ok"


def test_token_loop_fails_only_its_source_and_loses_no_state(make_world: Any) -> None:
    w: World = make_world(**BEDROCK)
    arns = _baseline(w)
    w.plane.set_status(arns[0], "Completed")
    w.plane.mutator = ResponseMutator().loop_tokens("ListModelImportJobs", ("a", "b"))
    result = w.run()
    assert result["status"] == "partial-failure"
    assert result["failedSources"] == [f"{ACCOUNT}/{REGION}/bedrock-model-import"]
    assert _source(result, "bedrock-model-copy")["error"] is None
    assert w.events_received() == []
    # When the API behaves again, the transition is announced once
    w.plane.mutator = None
    w.advance(timedelta(minutes=5))
    assert w.run()["status"] == "ok"
    (event,) = w.events_received()
    assert event["detail"]["jobArn"] == arns[0]


def test_failure_message_larger_than_the_event_limit_is_cut_in_the_event(make_world: Any) -> None:
    w: World = make_world(**BEDROCK)
    arn, *_ = _baseline(w)
    w.plane.set_status(arn, "Failed", "boom " * 2_000)
    w.run()
    (event,) = w.events_received()
    assert event["detail"]["failureMessageTruncated"] is True
    assert len(event["detail"]["failureMessage"]) <= 4_000


def test_failure_message_of_300_kb_does_not_wedge_the_source(make_world: Any) -> None:
    # DynamoDB items are limited to 400 KB: the job item holds the message and its claim again
    w: World = make_world(**BEDROCK)
    arn, other, _ = _baseline(w)
    w.plane.set_status(arn, "Failed", "é" * 150_000)
    w.plane.set_status(other, "Completed")
    result = w.run()
    assert result["status"] == "ok"
    events = w.events_received()
    assert {e["detail"]["jobArn"] for e in events} == {arn, other}
    assert w.pending_claims() == set()


def test_lone_surrogate_in_a_name_does_not_stop_the_run(make_world: Any) -> None:
    w: World = make_world(**BEDROCK)
    _baseline(w)
    w.plane.create_model_copy_job(REGION, "odd")
    w.plane.mutator = ResponseMutator().set_field("ListModelCopyJobs", "targetModelName", "bad\ud800name")
    w.plane.create_model_import_job(REGION, "fine")
    result = w.run()
    # The import source is unaffected; the copy job is announced with the name made safe
    assert _source(result, "bedrock-model-import")["published"] == 1
    names = {e["detail"]["jobName"] for e in w.events_received()}
    assert "fine" in names
    assert any(n and n.startswith("bad") for n in names)


def test_deleted_knowledge_base_fails_only_its_source(make_world: Any, monkeypatch: Any) -> None:
    w: World = make_world(JOB_KINDS="bedrock-model-import,bedrock-model-copy,qconnect-import")
    kb = w.plane.create_knowledge_base(REGION, "kb")
    gone = w.plane.create_knowledge_base(REGION, "gone")
    monkeypatch.setenv("QCONNECT_KNOWLEDGE_BASE_IDS", f"{kb},{gone}")
    w.run()
    w.plane.delete_knowledge_base(REGION, gone)
    w.advance(timedelta(minutes=5))
    result = w.run()
    assert result["failedSources"] == [f"{ACCOUNT}/{REGION}/qconnect-import/{gone}"]
    (failed,) = [s for s in result["sources"] if s["error"]]
    assert failed["error"].startswith("ResourceNotFoundException")
    assert len(result["sources"]) == 4


def test_response_slower_than_the_client_timeout_fails_only_that_source(sim: Any) -> None:
    # Given a knowledge base whose list answers after 1.5 s, and clients with a 0.5 s read timeout
    plane, _ = sim
    slow = plane.create_knowledge_base(REGION, "slow")
    fast = plane.create_knowledge_base(REGION, "fast")
    plane.create_import_job(REGION, fast)
    config = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1, read_timeout=0.5)
    api = _api_with(plane, config)
    plane.faults.set_rates("ListImportJobs", delay_seconds=1.5)
    with pytest.raises(SourceError) as error:
        _list(api, QCONNECT, slow)
    assert error.value.code == "ReadTimeoutError"
    plane.faults.clear()
    assert len(_list(api, QCONNECT, fast).jobs) == 1


# -- knowledge base discovery gets the list loop's guards (issue 10, case 2) ---------------------------
def test_knowledge_base_discovery_with_a_cycling_next_token_stops_with_pagination_loop(sim: Any) -> None:
    plane, api = sim
    plane.create_knowledge_base(REGION, "kb")
    plane.mutator = ResponseMutator().loop_tokens("ListKnowledgeBases", ("token-a", "token-b"))
    with pytest.raises(SourceError) as error:
        api.list_scope(Source(ACCOUNT, REGION, QCONNECT), QCONNECT.discovery[0], ())
    assert error.value.code == "PaginationLoop"
    assert plane.count_calls("ListKnowledgeBases") == 3


def test_knowledge_base_discovery_with_a_string_for_a_summary_fails_as_malformed(sim: Any) -> None:
    # Given a page whose first summary is a string where an object belongs (botocore's parser raises)
    plane, api = sim
    kb = plane.create_knowledge_base(REGION, "kb")

    def string_first(query: Any, body: Any, rng: Any) -> Any:
        body["knowledgeBaseSummaries"].insert(0, "not-an-object")
        return body

    plane.mutator = ResponseMutator().add(Rule("ListKnowledgeBases", string_first))
    # When knowledge bases are discovered, Then the error says what it is, for this region only
    with pytest.raises(SourceError) as error:
        api.list_scope(Source(ACCOUNT, REGION, QCONNECT), QCONNECT.discovery[0], ())
    assert error.value.code == "MalformedResponse"
    assert f"{ACCOUNT}/{REGION}/qconnect-import: list_knowledge_bases: malformed response" in str(error.value)
    assert kb


def test_malformed_discovery_fails_only_its_scope_and_bedrock_is_audited(make_world: Any) -> None:
    # Given a Bedrock job that completes and a knowledge base listing that never ends
    w: World = make_world(JOB_KINDS="bedrock-model-import,qconnect-import")
    arn = w.plane.create_model_import_job(region=REGION, name="imp", status="InProgress")
    w.plane.create_knowledge_base(region=REGION, name="kb")
    w.run()
    w.advance(timedelta(minutes=5))
    w.plane.set_status(arn, "Completed")
    w.plane.mutator = ResponseMutator().loop_tokens("ListKnowledgeBases", ("token-a", "token-b"))
    # When the run discovers knowledge bases
    result = w.run()
    # Then the run's summary names the scope's failure, and Bedrock's change is announced
    assert result["failedSources"] == [f"{ACCOUNT}/{REGION}/qconnect-import"]
    (failed,) = [s for s in result["sources"] if s["error"]]
    assert failed["error"].startswith("PaginationLoop")
    assert [e["detail"]["status"] for e in w.events_received()] == ["Completed"]
