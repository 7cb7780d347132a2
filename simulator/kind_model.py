"""What botocore's service model says about a registered job kind: its operations, their routes and
shapes, the paging members and where the sort order and attribute are in the list request.

A `JobKindSpec` names snake_case client methods; the operation is found by reverse `xform_name` over
the service's operation names. Everything else comes from the operation models and the paginator
model.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
from botocore import xform_name
from botocore.model import OperationModel, ServiceModel

from job_auditor.contract.kinds import DiscoveryStep, JobKindSpec
from simulator.shapes import Shape

# The default page size when a request has no maxResults, capped by the model's maximum.
DEFAULT_PAGE_SIZE = 100

_session_lock = threading.Lock()


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(client: str) -> ServiceModel:
    """botocore's ServiceModel for a client name ("bedrock", "bedrock-agent")."""
    with _session_lock:
        return _session().get_service_model(client)


@cache
def _paginators(client: str) -> Mapping[str, Any]:
    with _session_lock:
        try:
            model = _session().get_paginator_model(client)
        except Exception:
            return {}
    return dict(getattr(model, "_paginator_config", {}))


def operation_name(client: str, method: str) -> str:
    """The operation a snake_case client method calls (ListIngestionJobs for list_ingestion_jobs)."""
    for name in service_model(client).operation_names:
        if xform_name(name) == method:
            return str(name)
    raise ValueError(f"{client} has no operation for method {method!r}")


@dataclass(frozen=True)
class OperationInfo:
    """One operation as the simulator routes and serves it."""

    client: str
    name: str
    model: OperationModel
    http_method: str
    segments: tuple[str, ...]
    protocol: str
    signing_name: str
    input_token: str
    output_token: str
    limit_key: str

    @property
    def input_shape(self) -> Shape | None:
        return self.model.input_shape

    @property
    def output_shape(self) -> Shape:
        return self.model.output_shape

    def input_member(self, name: str) -> Shape | None:
        shape = self.input_shape
        return shape.members.get(name) if shape is not None else None


@cache
def operation(client: str, method: str) -> OperationInfo:
    """The routing and paging facts of a client method's operation."""
    model = service_model(client)
    name = operation_name(client, method)
    op = model.operation_model(name)
    uri = str(op.http["requestUri"]).split("?", 1)[0]
    segments = tuple(part.rstrip("+") for part in uri.strip("/").split("/") if part)
    paging = _paginators(client).get(name, {})
    return OperationInfo(
        client=client,
        name=name,
        model=op,
        http_method=str(op.http["method"]),
        segments=segments,
        protocol=str(model.metadata.get("protocol", "rest-json")),
        signing_name=str(model.metadata.get("signingName") or model.endpoint_prefix),
        input_token=str(paging.get("input_token", "nextToken")),
        output_token=str(paging.get("output_token", "nextToken")),
        limit_key=str(paging.get("limit_key", "maxResults")),
    )


def _order_words(shape: Shape) -> tuple[str, str] | None:
    """(ascending, descending) spellings when a string shape's enum is a sort direction."""
    enum = shape.metadata.get("enum") or []
    up = [v for v in enum if v.lower() in ("ascending", "asc")]
    down = [v for v in enum if v.lower() in ("descending", "desc")]
    return (up[0], down[0]) if up and down else None


@dataclass(frozen=True)
class SortInfo:
    """Where a list request carries its sort: member paths of the direction and of the attribute."""

    order_path: tuple[str, ...] | None
    ascending: str
    descending: str
    attribute_path: tuple[str, ...] | None


def _sort_info(input_shape: Shape | None) -> SortInfo:
    order: tuple[tuple[str, ...], tuple[str, str]] | None = None
    attribute: tuple[str, ...] | None = None
    members = list(input_shape.members.items()) if input_shape is not None else []
    candidates: list[tuple[tuple[str, ...], Shape]] = []
    for name, member in members:
        if member.type_name == "structure":
            candidates += [((name, sub), shape) for sub, shape in member.members.items()]
        else:
            candidates.append(((name,), member))
    for path, shape in candidates:
        words = _order_words(shape) if shape.type_name == "string" else None
        if words is not None and order is None:
            order = (path, words)
        elif path[-1].lower() in ("sortby", "attribute") and shape.metadata.get("enum"):
            attribute = attribute or path
    if order is None:
        return SortInfo(None, "Ascending", "Descending", attribute)
    return SortInfo(order[0], order[1][0], order[1][1], attribute)


def _normal(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def field_for_attribute(attribute: str, fields: tuple[str, ...]) -> str | None:
    """The record member a sort or filter attribute names (STARTED_AT -> startedAt)."""
    wanted = _normal(attribute)
    return next((f for f in fields if _normal(f) == wanted), None)


@dataclass(frozen=True)
class StepModel:
    """One discovery level (knowledge bases, data sources) as a served list operation."""

    step: DiscoveryStep
    op: OperationInfo
    item_shape: Shape
    # The levels above and their id params, outermost first.
    ancestors: tuple[DiscoveryStep, ...]
    parent_params: tuple[str, ...]


@dataclass(frozen=True)
class KindModel:
    """A job kind with the model facts the simulator serves it by."""

    spec: JobKindSpec
    list_op: OperationInfo
    get_op: OperationInfo
    item_shape: Shape
    job_shape: Shape
    sort: SortInfo
    steps: tuple[StepModel, ...]

    @property
    def members(self) -> dict[str, Shape]:
        """Every member a job record may carry: the Get shape's, then the list summary's."""
        return {**self.item_shape.members, **self.job_shape.members}

    @property
    def lists_by_id(self) -> bool:
        """Whether the list promises no order (no sort parameter, no creation-time filter), as Q in
        Connect's ListImportJobs. The simulator returns such a list by job id: deterministic, and
        unrelated to creation, so a client that relies on creation order fails here as in AWS."""
        sort = self.sort
        return sort.order_path is None and sort.attribute_path is None and not self.spec.time_filter_param

    @property
    def page_limits(self) -> tuple[int, int]:
        """(default, maximum) maxResults."""
        member = self.list_op.input_member(self.list_op.limit_key)
        maximum = int(member.metadata.get("max", self.spec.max_page_size)) if member is not None else 1000
        return min(DEFAULT_PAGE_SIZE, maximum), maximum


def scope_id(step: DiscoveryStep, raw: str) -> str:
    """The resource id a scope parameter names: the id itself, or the resource's ARN, whose resource
    part carries the id (Q in Connect takes either for knowledgeBaseId)."""
    if raw.startswith("arn:"):
        for part in raw.split(":", 5)[-1].split("/")[1:]:
            if re.fullmatch(step.id_pattern, part):
                return part
    return raw


def _list_item(op: OperationInfo, result_key: str) -> Shape:
    return op.output_shape.members[result_key].member


_models: dict[str, tuple[JobKindSpec, KindModel]] = {}


def kind_model(spec: JobKindSpec) -> KindModel:
    """The model of a registered spec (cached per spec object)."""
    cached = _models.get(spec.id)
    if cached is not None and cached[0] is spec:
        return cached[1]
    list_op = operation(spec.client, spec.list_method)
    get_op = operation(spec.client, spec.get_method)
    job_shape = get_op.output_shape
    if spec.get_result_key is not None:
        job_shape = job_shape.members[spec.get_result_key]
    steps = tuple(
        StepModel(
            step=step,
            op=operation(step.client, step.list_method),
            item_shape=_list_item(operation(step.client, step.list_method), step.result_key),
            ancestors=spec.discovery[:i],
            parent_params=tuple(s.id_param for s in spec.discovery[:i]),
        )
        for i, step in enumerate(spec.discovery)
    )
    model = KindModel(
        spec=spec,
        list_op=list_op,
        get_op=get_op,
        item_shape=_list_item(list_op, spec.list_result_key),
        job_shape=job_shape,
        sort=_sort_info(list_op.input_shape),
        steps=steps,
    )
    _models[spec.id] = (spec, model)
    return model
