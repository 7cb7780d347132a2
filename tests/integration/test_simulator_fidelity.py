"""Every operation the simulator serves, through real boto3 clients, with each raw response body
checked against the operation's output shape in botocore's model (independently of the simulator's
own shape code): no member the shape lacks (recursively), every required member, enum values from the
model, and JSON types and timestamp formats as the shape declares them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

import botocore.session
import pytest
from botocore.client import BaseClient

from job_auditor.contract.kinds import JOB_KINDS, JobKindSpec, StatusCategory
from simulator import modeled, shapes
from tests.integration.simkit import REGION, Sim, running_sim

_Client = TypeVar("_Client", bound=BaseClient)
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "structure": (dict,),
    "map": (dict,),
    "list": (list,),
}


def _timestamp_problem(shape: Any, value: Any, protocol: str) -> str | None:
    fmt = shape.serialization.get("timestampFormat") or ("unixTimestamp" if "json" in protocol else "iso8601")
    if fmt == "unixTimestamp":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str) and bool(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", value))
    return None if ok else f"{value!r} is not a {fmt} timestamp"


def _scalar_problem(shape: Any, value: Any) -> str | None:
    wanted = _TYPES.get(shape.type_name, (object,))
    if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
        return f"{value!r} is not a {shape.type_name}"
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        return f"{value!r} is not one of {enum}"
    pattern = shape.metadata.get("pattern")
    if isinstance(value, str) and pattern and not re.fullmatch(pattern, value):
        return f"{value!r} does not match {pattern}"
    return None


def shape_problems(shape: Any, value: Any, where: str, protocol: str) -> list[str]:
    """What is wrong with a JSON value for a botocore output shape (empty: it fits)."""
    if shape.type_name == "timestamp":
        problem = _timestamp_problem(shape, value, protocol)
        return [f"{where}: {problem}"] if problem else []
    if shape.type_name not in ("structure", "list", "map"):
        problem = _scalar_problem(shape, value)
        return [f"{where}: {problem}"] if problem else []
    if not isinstance(value, _TYPES[shape.type_name]):
        return [f"{where}: {value!r} is not a {shape.type_name}"]
    return _container_problems(shape, value, where, protocol)


def _container_problems(shape: Any, value: Any, where: str, protocol: str) -> list[str]:
    if shape.type_name == "list":
        return [
            p for i, v in enumerate(value) for p in shape_problems(shape.member, v, f"{where}[{i}]", protocol)
        ]
    if shape.type_name == "map":
        return [p for k, v in value.items() for p in shape_problems(shape.value, v, f"{where}.{k}", protocol)]
    problems = [f"{where}.{k}: not a member of {shape.name}" for k in value if k not in shape.members]
    problems += [f"{where}.{k}: required member missing" for k in shape.required_members if k not in value]
    for name, item in value.items():
        if name in shape.members:
            problems += shape_problems(shape.members[name], item, f"{where}.{name}", protocol)
    return problems


class Bodies:
    """The raw JSON bodies of every successful call, captured from botocore's before-parse event."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any, Any]] = []

    def hook(self, client: _Client) -> _Client:
        protocol = client.meta.service_model.metadata["protocol"]

        def capture(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
            if response_dict["status_code"] == 200:
                body = json.loads(response_dict["body"] or b"{}")
                self.seen.append((client.meta.service_model.service_name, protocol, operation_model, body))

        client.meta.events.register("before-parse", capture)
        return client

    def problems(self) -> list[str]:
        return [
            f"{service} {op.name}: {p}"
            for service, protocol, op, body in self.seen
            for p in shape_problems(op.output_shape, body, "", protocol)
        ]

    def operations(self) -> set[tuple[str, str]]:
        return {(service, op.name) for service, _, op, _ in self.seen}


@pytest.fixture
def sim() -> Iterator[Sim]:
    with running_sim() as s:
        yield s


def _failure_fields(spec: JobKindSpec) -> dict[str, Any]:
    if spec.failure_field is None:
        return {}
    if spec.failure_field in ("failureReasons", "failureMessages"):
        return {spec.failure_field: ["first reason", "second reason"]}
    return {spec.failure_field: "the data set has no records"}


# The kinds `_original_kinds` makes with their own creators; `_other_kinds` makes the rest.
ORIGINAL = ("bedrock-model-import", "bedrock-model-copy", "qconnect-import")


def _original_kinds(sim: Sim) -> dict[str, tuple[str, ...]]:
    """Jobs of the three original kinds, made by their own creators, in each status (failure messages
    included)."""
    plane = sim.plane
    for status in ("InProgress", "Completed", "Failed"):
        arn = plane.create_model_import_job(region=REGION, name=f"import-{status.lower()}")
        plane.set_status(arn, status, "weights are not safetensors" if status == "Failed" else None)
        copy = plane.create_model_copy_job(region=REGION, target_model_name=f"copy-{status.lower()}")
        plane.set_status(copy, status)
    kb = plane.create_knowledge_base(region=REGION, name="quick-responses")
    for status in ("START_IN_PROGRESS", "COMPLETE", "FAILED"):
        plane.create_import_job(region=REGION, knowledge_base_id=kb, status=status, metadata={"k": "v"})
    return {"qconnect-import": (kb,)}


def _other_kinds(sim: Sim) -> dict[str, tuple[str, ...]]:
    """Jobs of every other kind in every status, failed ones with their failure members."""
    plane = sim.plane
    scopes: dict[str, tuple[str, ...]] = {}
    kb = plane.create_agent_knowledge_base(REGION, "manuals")
    ds = plane.create_data_source(REGION, kb, "s3-manuals")
    plane.create_data_source(REGION, kb, "web-crawl", status="DELETING")
    for op in modeled.operations():
        spec = next((s for s in JOB_KINDS.values() if s.list_method.endswith(_snake(op.name))), None)
        if spec is None or spec.id in ORIGINAL or spec.id in scopes:
            continue
        scopes[spec.id] = (kb, ds)[: len(spec.discovery)]
        for status, category in spec.statuses.items():
            sim.clock.advance(timedelta(minutes=1))
            job = plane.create_job(spec.id, REGION, scope_ids=scopes[spec.id])
            failed = category in (StatusCategory.FAILED, StatusCategory.PARTIAL)
            fields = _failure_fields(spec) if failed else {}
            if spec.detail_fields and category is StatusCategory.SUCCEEDED:
                fields.update(_detail_values(spec))
            plane.set_job_status(spec.id, REGION, job, status, scope_ids=scopes[spec.id], fields=fields)
    return scopes


def _detail_values(spec: JobKindSpec) -> dict[str, Any]:
    if "statistics" in spec.detail_fields:
        return {"statistics": {"numberOfDocumentsScanned": 40, "numberOfDocumentsFailed": 2}}
    return dict.fromkeys(spec.detail_fields, 10)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _drive(sim: Sim, bodies: Bodies, scopes: dict[str, tuple[str, ...]]) -> None:
    """List and get every job of every kind, and list every discovery level."""
    clients: dict[str, BaseClient] = {}

    def client(name: str) -> BaseClient:
        if name not in clients:
            clients[name] = bodies.hook(sim.client(name))
        return clients[name]

    for spec in JOB_KINDS.values():
        scope = dict(zip(spec.scope_params, scopes.get(spec.id, ()), strict=True))
        for depth, step in enumerate(spec.discovery):
            parents = dict(list(scope.items())[:depth])
            listed = getattr(client(step.client), step.list_method)(**parents)
            assert listed[step.result_key], f"{step.list_method} listed nothing"
        jobs = getattr(client(spec.client), spec.list_method)(**scope)[spec.list_result_key]
        assert len(jobs) >= 3, f"{spec.id}: {jobs}"
        for job in jobs:
            getattr(client(spec.client), spec.get_method)(**scope, **{spec.get_id_param: job[spec.id_field]})


def test_every_served_operation_answers_exactly_its_output_shape(sim: Sim) -> None:
    # Given: jobs of every kind in every status, failure and detail members included
    bodies = Bodies()
    scopes = {**_original_kinds(sim), **_other_kinds(sim)}

    # When: every job is listed and fetched and every scope level listed, through boto3
    _drive(sim, bodies, scopes)

    # Then: every operation the simulator routes was called, and every body fits its shape
    served = {(op.client, op.name) for op in modeled.operations()}
    assert bodies.operations() == served
    assert len(served) == 17
    assert bodies.problems() == [], "\n".join(bodies.problems())


def _with_extra_member(render: Callable[..., Any]) -> Callable[..., Any]:
    def rendered(*args: Any) -> Any:
        body = render(*args)
        if isinstance(body, dict):
            body["simulatorOnly"] = "not in the model"
        return body

    return rendered


def test_the_check_fails_when_a_renderer_adds_a_member_the_model_lacks(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: the renderer adds a member the model does not have
    monkeypatch.setattr("simulator.modeled.render", _with_extra_member(shapes.render))
    bodies = Bodies()
    scopes = {**_original_kinds(sim), **_other_kinds(sim)}

    # When
    _drive(sim, bodies, scopes)

    # Then: the member is reported for every kind
    problems = bodies.problems()
    assert any(p.startswith("bedrock GetModelCopyJob: .simulatorOnly: not a member") for p in problems)
    assert any(p.startswith("bedrock-agent GetIngestionJob: .ingestionJob.simulatorOnly") for p in problems)
    assert any("ListEvaluationJobs: .jobSummaries[0].simulatorOnly" in p for p in problems)


def test_the_check_reports_missing_required_members_enums_types_and_timestamps() -> None:
    model = botocore.session.get_session().get_service_model("bedrock-agent")
    shape = model.operation_model("GetIngestionJob").output_shape
    good = {
        "ingestionJob": {
            "knowledgeBaseId": "ABCDEFGHIJ",
            "dataSourceId": "ABCDEFGHIJ",
            "ingestionJobId": "ABCDEFGHIJ",
            "status": "COMPLETE",
            "startedAt": "2026-11-01T00:00:00.000Z",
            "updatedAt": "2026-11-01T00:00:00.000Z",
            "statistics": {"numberOfDocumentsScanned": 1},
        }
    }
    assert shape_problems(shape, good, "", "rest-json") == []
    bad = json.loads(json.dumps(good))
    job = bad["ingestionJob"]
    del job["dataSourceId"]
    job["status"] = "DONE"
    job["startedAt"] = 1_762_000_000
    job["statistics"]["numberOfDocumentsScanned"] = "1"
    assert len(shape_problems(shape, bad, "", "rest-json")) == 4
    assert isinstance(datetime.fromisoformat(str(job["updatedAt"])), datetime)
