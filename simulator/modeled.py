"""The simulator's one engine: every operation of every registered job kind, routed and served from
botocore's service model and the kind's `JobKindSpec`.

`operations()` is the routing table. It is built from the registry: for each kind, its list and get
operations and the list operation of each scope discovery step, with the HTTP method and `requestUri`
of the operation model. Their handlers read input members from uri, querystring or JSON body as the
model locates them, validate them against the input shape (types, bounds, enums, patterns: a
`maxResults` over the model's maximum is the server's ValidationException, as in AWS), and render
records to exactly the output shape.

List semantics (from the spec and the model):

* the spec's time filter params keep jobs created strictly after / strictly before;
* its status filter (`statusEquals`, or a `filters` list of `{attribute, operator: EQ, values}`);
  any other `<member>Equals` / `<member>Contains` input filters on that record member (or on
  `<member>Id`: Bedrock's `sourceAccountEquals` is on `sourceAccountId`);
* sort: the input member whose enum is a direction (Bedrock `sortOrder`, bedrock-agent
  `sortBy.order`) and the attribute (`sortBy` / `sortBy.attribute`: a creation-time attribute, or
  another record member such as STATUS). Without one: newest first by the creation field (Bedrock
  documents Descending as the default; bedrock-agent documents none, so the same is used); a list
  with neither a sort nor a time filter promises no order and is returned by job id
  (`KindModel.lists_by_id`, Q in Connect's ListImportJobs);
* a scope parameter names its resource by id or by ARN (Q in Connect's knowledgeBaseId);
* paging with the paginator model's limit key (default 100, maximum the model's) and signed
  `nextToken`s bound to every filter and sort parameter (`simulator.paging`).

Sorting by creation time (or by id) bisects the table's sorted index, so a first page costs
O(log n + page) however long the history; sorting by another attribute sorts the matching jobs per
call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from job_auditor.contract.kinds import JOB_KINDS, DiscoveryStep, JobKindSpec, StatusFilterStyle
from simulator.clock import to_micros
from simulator.errors import constraint, not_found
from simulator.kind_model import (
    KindModel,
    OperationInfo,
    StepModel,
    field_for_attribute,
    kind_model,
    scope_id,
)
from simulator.modeled_store import JobTable, ModeledJob
from simulator.paging import binding_of, creation_bounds, decode_token, encode_token, scan
from simulator.shapes import InputSource, read_input, render
from simulator.state import ControlPlane

Body = dict[str, Any]


@dataclass(frozen=True)
class Request:
    """The decoded parts of one AWS call."""

    path: Mapping[str, str]
    query: Mapping[str, str]
    query_lists: Mapping[str, list[str]]
    body: Any

    def source(self) -> InputSource:
        return InputSource(self.path, self.query_lists, self.body)

    def value(self, name: str | None) -> str | None:
        """A path or body parameter (for fault rules scoped to a knowledge base)."""
        if name is None:
            return None
        raw = self.path.get(name)
        if raw is None and isinstance(self.body, dict):
            raw = self.body.get(name)
        return None if raw is None else str(raw)


Handler = Callable[[ControlPlane, str, Request], Body]


@dataclass(frozen=True)
class Operation:
    """One routed AWS operation."""

    name: str
    client: str
    signing_name: str
    method: str
    segments: tuple[str, ...]
    handler: Handler
    # The scope id fault rules match as knowledge_base_id.
    scope_of: Callable[[Request], str | None]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Path parameters when the decoded path segments fit this operation's template."""
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for template, part in zip(self.segments, parts, strict=True):
            if template.startswith("{"):
                if not part:
                    return None
                params[template[1:-1]] = part
            elif template != part:
                return None
        return params


# -- list ----------------------------------------------------------------------------------------------


def _micros(value: Any) -> int | None:
    return to_micros(value) if isinstance(value, datetime) else None


def _at(params: Mapping[str, Any], path: tuple[str, ...] | None) -> Any:
    value: Any = params
    for name in path or ():
        value = value.get(name) if isinstance(value, dict) else None
    return value if path else None


Predicate = Callable[[dict[str, Any]], bool]


def _filter_list(model: KindModel, filters: list[dict[str, Any]]) -> list[Predicate]:
    members = tuple(model.members)
    predicates: list[Predicate] = []
    for item in filters:
        field = field_for_attribute(str(item.get("attribute", "")), members) or model.spec.status_field
        values = frozenset(str(v) for v in item.get("values") or ())
        predicates.append(_member_in(field, values))
    return predicates


def _member_in(field: str, values: frozenset[str]) -> Predicate:
    return lambda record: str(record.get(field)) in values


def _member_test(field: str, wanted: Any, test: Callable[[Any, Any], bool]) -> Predicate:
    return lambda record: test(record.get(field), wanted)


def _convention_filter(model: KindModel, name: str, value: Any) -> Predicate | None:
    """`<member>Equals` and `<member>Contains` filter on that member (`name` is the job's name)."""
    members = model.members
    for suffix, test in (("Equals", _equals), ("Contains", _contains)):
        if name.endswith(suffix):
            stem = name.removesuffix(suffix)
            stem = model.spec.name_field if stem == "name" else stem
            for field in (stem, f"{stem}Id"):
                if field in members:
                    return _member_test(field, value, test)
    return None


def _equals(actual: Any, wanted: Any) -> bool:
    return bool(actual == wanted)


def _contains(actual: Any, wanted: Any) -> bool:
    return isinstance(actual, str) and str(wanted) in actual


@dataclass(frozen=True)
class ListQuery:
    """A list request's filters and sort, resolved against a kind."""

    after: int | None
    before: int | None
    predicates: tuple[Predicate, ...]
    descending: bool
    sort_field: str

    @classmethod
    def of(cls, model: KindModel, params: Mapping[str, Any]) -> ListQuery:
        spec, op, sort = model.spec, model.list_op, model.sort
        handled = {op.limit_key, op.input_token, *spec.scope_params}
        handled |= {p for p in (spec.time_filter_param, spec.time_filter_before_param) if p}
        handled |= {path[0] for path in (sort.order_path, sort.attribute_path) if path}
        predicates = cls._status_predicates(model, params)
        if spec.status_filter_param:
            handled.add(spec.status_filter_param)
        for name, value in params.items():
            found = None if name in handled else _convention_filter(model, name, value)
            if found is not None:
                predicates.append(found)
        attribute = _at(params, sort.attribute_path)
        sort_field = spec.creation_time_field
        if attribute is not None:
            sort_field = field_for_attribute(str(attribute), tuple(model.members)) or sort_field
        order = _at(params, sort.order_path)
        return cls(
            after=_micros(params.get(spec.time_filter_param or "")),
            before=_micros(params.get(spec.time_filter_before_param or "")),
            predicates=tuple(predicates),
            descending=order is None or order == sort.descending,
            sort_field=sort_field,
        )

    @staticmethod
    def _status_predicates(model: KindModel, params: Mapping[str, Any]) -> list[Predicate]:
        spec = model.spec
        wanted = params.get(spec.status_filter_param or "")
        if wanted is None:
            return []
        if spec.status_filter_style is StatusFilterStyle.FILTER_LIST:
            return _filter_list(model, list(wanted))
        return [lambda record: record.get(spec.status_field) == wanted]

    def keeps(self, record: dict[str, Any]) -> bool:
        return all(p(record) for p in self.predicates)


def _page_by_creation(
    table: JobTable,
    query: ListQuery,
    keep: Callable[[ModeledJob], bool],
    cursor: list[Any] | None,
    limit: int,
) -> tuple[list[ModeledJob], list[Any] | None]:
    index = table.index
    key = (int(cursor[0]), int(cursor[1])) if cursor is not None else None
    lo, hi = creation_bounds(index, query.after, query.before, key, query.descending)
    page = scan(index, lo, hi, query.descending, keep, limit)
    return page.items, list(page.next_key) if page.next_key is not None else None


def _in_window(query: ListQuery, job: ModeledJob) -> bool:
    micros = _micros(job.fields[_creation(job)]) or 0
    return (query.after is None or micros > query.after) and (query.before is None or micros < query.before)


def _page_by_id(
    table: JobTable,
    query: ListQuery,
    keep: Callable[[ModeledJob], bool],
    cursor: list[Any] | None,
    limit: int,
) -> tuple[list[ModeledJob], list[Any] | None]:
    """A list that promises no order, by job id."""
    index = table.index
    lo = index.bisect_right(str(cursor[0])) if cursor is not None else 0
    page = scan(index, lo, len(index), False, lambda job: _in_window(query, job) and keep(job), limit)
    return page.items, [page.next_key] if page.next_key is not None else None


def _page_by_attribute(
    table: JobTable,
    query: ListQuery,
    keep: Callable[[ModeledJob], bool],
    cursor: list[Any] | None,
    limit: int,
) -> tuple[list[ModeledJob], list[Any] | None]:
    """Sorted by another member (STATUS), ties by creation: the matching jobs sorted per call."""

    def key(job: ModeledJob) -> list[Any]:
        return [str(job.fields.get(query.sort_field)), _micros(job.fields[_creation(job)]), job.seq]

    matching = sorted((j for j in table.index.values if _in_window(query, j) and keep(j)), key=key)
    if query.descending:
        matching.reverse()
    if cursor is not None:
        matching = [j for j in matching if (key(j) < cursor if query.descending else key(j) > cursor)]
    items = matching[:limit]
    return items, key(items[-1]) if len(matching) > limit else None


def _pager(table: JobTable, query: ListQuery) -> Callable[..., tuple[list[ModeledJob], list[Any] | None]]:
    if table.by_id:
        return _page_by_id
    return _page_by_creation if query.sort_field == table.spec.creation_time_field else _page_by_attribute


def _creation(job: ModeledJob) -> str:
    return JOB_KINDS[job.kind].creation_time_field


def _limit(op: OperationInfo, params: Mapping[str, Any], limits: tuple[int, int]) -> int:
    default, maximum = limits
    limit = int(params.get(op.limit_key, default))
    if limit > maximum:
        raise constraint(limit, op.limit_key, f"have value less than or equal to {maximum}")
    return limit


def _binding(op: OperationInfo, region: str, params: Mapping[str, Any]) -> str:
    bound = {
        name: json.dumps(value, default=str, sort_keys=True)
        for name, value in params.items()
        if name not in (op.limit_key, op.input_token)
    }
    return binding_of(op.name, region, bound)


def _scope(model: KindModel, params: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(scope_id(step, str(params[step.id_param])) for step in model.spec.discovery)


def _require_scope(plane: ControlPlane, model: KindModel, region: str, scope: tuple[str, ...]) -> None:
    try:
        plane.store.require_scope(model, region, scope)
    except KeyError as exc:
        raise not_found(str(exc.args[0])) from None


def list_jobs(model: KindModel) -> Handler:
    """The generic handler of a kind's list operation."""
    op = model.list_op

    def handle(plane: ControlPlane, region: str, request: Request) -> Body:
        params = read_input(op.input_shape, request.source())
        scope = _scope(model, params)
        limit = _limit(op, params, model.page_limits)
        query = ListQuery.of(model, params)
        binding = _binding(op, region, params)
        token = params.get(op.input_token)
        cursor = decode_token(token, binding) if token is not None else None

        def keep(job: ModeledJob) -> bool:
            return query.keeps(job.fields) and plane.listed(job)

        with plane.lock:
            _require_scope(plane, model, region, scope)
            table = plane.store.table(model.spec, region, scope)
            items, next_cursor = _pager(table, query)(table, query, keep, cursor, limit)
            body: Body = {
                model.spec.list_result_key: [render(model.item_shape, j.fields, op.protocol) for j in items]
            }
        if next_cursor is not None:
            body[op.output_token] = encode_token(binding, next_cursor)
        return body

    return handle


# -- get and discovery -------------------------------------------------------------------------------


def get_job(model: KindModel) -> Handler:
    """The generic handler of a kind's get operation."""
    op, spec = model.get_op, model.spec

    def handle(plane: ControlPlane, region: str, request: Request) -> Body:
        params = read_input(op.input_shape, request.source())
        scope = _scope(model, params)
        ref = str(params[spec.get_id_param])
        with plane.lock:
            _require_scope(plane, model, region, scope)
            try:
                job = plane.store.find(spec, region, scope, ref)
                if not plane.answers_for(job):
                    raise KeyError(ref)
            except KeyError:
                raise not_found(f"The specified {spec.display_name} {ref} could not be found.") from None
            rendered = render(model.job_shape, job.fields, op.protocol)
        return {spec.get_result_key: rendered} if spec.get_result_key else rendered

    return handle


def list_resources(step: StepModel) -> Handler:
    """The generic handler of a discovery step's list operation (ordered by resource id)."""
    op = step.op

    def handle(plane: ControlPlane, region: str, request: Request) -> Body:
        params = read_input(op.input_shape, request.source())
        parents = tuple(
            scope_id(parent, str(params[name]))
            for parent, name in zip(step.ancestors, step.parent_params, strict=True)
        )
        member = op.input_member(op.limit_key)
        maximum = int(member.metadata.get("max", step.step.max_page_size)) if member is not None else 1000
        limit = _limit(op, params, (min(100, maximum), maximum))
        binding = _binding(op, region, params)
        token = params.get(op.input_token)
        with plane.lock:
            try:
                plane.store.require_parents(step, region, parents)
            except KeyError as exc:
                raise not_found(str(exc.args[0])) from None
            index = plane.store.resource_index(step, region, parents)
            lo = index.bisect_right(str(decode_token(token, binding)[0])) if token is not None else 0
            page = scan(index, lo, len(index), False, lambda _: True, limit)
            body: Body = {
                step.step.result_key: [render(step.item_shape, r.fields, op.protocol) for r in page.items]
            }
        if page.next_key is not None:
            body[op.output_token] = encode_token(binding, [page.next_key])
        return body

    return handle


# -- routing -------------------------------------------------------------------------------------------


def _scope_of(steps: tuple[DiscoveryStep, ...]) -> Callable[[Request], str | None]:
    """What fault rules match as knowledge_base_id: the outermost scope id of a call, by id even
    when the call names it by ARN."""
    if not steps:
        return lambda request: None
    step = steps[0]
    return lambda request: None if (raw := request.value(step.id_param)) is None else scope_id(step, raw)


def _served(model: KindModel) -> list[tuple[OperationInfo, Handler, tuple[DiscoveryStep, ...]]]:
    """A kind's operations with their handlers and the scope levels their parameters name."""
    scope = model.spec.discovery
    served: list[tuple[OperationInfo, Handler, tuple[DiscoveryStep, ...]]] = [
        (model.list_op, list_jobs(model), scope),
        (model.get_op, get_job(model), scope),
    ]
    served += [(step.op, list_resources(step), step.ancestors) for step in model.steps]
    return served


def _build() -> tuple[Operation, ...]:
    table: dict[tuple[str, str], Operation] = {}
    for spec in JOB_KINDS.values():
        for info, handler, scope in _served(kind_model(spec)):
            table.setdefault(
                (info.client, info.name),
                Operation(
                    name=info.name,
                    client=info.client,
                    signing_name=info.signing_name,
                    method=info.http_method,
                    segments=info.segments,
                    handler=handler,
                    scope_of=_scope_of(scope),
                ),
            )
    # Every more specific template first: literal segments win over parameters.
    return tuple(sorted(table.values(), key=lambda o: -sum(not s.startswith("{") for s in o.segments)))


_cache: tuple[tuple[JobKindSpec, ...], tuple[Operation, ...]] | None = None


def operations() -> tuple[Operation, ...]:
    """Every served operation, rebuilt when the registry changes."""
    global _cache  # noqa: PLW0603 - a cache of the registry's routes
    specs = tuple(JOB_KINDS.values())
    stale = _cache is None or len(_cache[0]) != len(specs)
    if _cache is None or stale or any(a is not b for a, b in zip(_cache[0], specs, strict=True)):
        _cache = (specs, _build())
    return _cache[1]


def resolve(
    method: str, parts: list[str], signing_name: str | None
) -> tuple[Operation, dict[str, str]] | None:
    """The operation and path parameters of a request; among several that fit, the one whose service
    signs as the request's credential scope says."""
    fallback: tuple[Operation, dict[str, str]] | None = None
    for op in operations():
        if op.method != method:
            continue
        params = op.match(parts)
        if params is None:
            continue
        if signing_name is None or op.signing_name == signing_name:
            return op, params
        fallback = fallback or (op, params)
    return fallback
