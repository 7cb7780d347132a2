"""What the simulated control planes hold: jobs of every registered kind (a dict of wire members per
job) and the scope resources their lists are scoped to (knowledge bases, data sources), per region,
kind and scope.

A job table keeps its jobs sorted by (creation micros, sequence number), so a newest-first first page
of a long history costs O(log n + page); a kind whose list promises no order (`KindModel.lists_by_id`)
is kept by job id instead. Values nobody set are generated from the model once per kind and region (a
template copied into every job) and ids are drawn per job; timestamps come from the plane's clock. A
job carries its scope resources' members of the same family (a Q in Connect import job the
knowledgeBaseArn of its knowledge base). A status change sets the last-modified and end times, a
failure's members (`fail*` and the spec's failure field) on a failed status, and the model a job made
(`*ModelArn`, `*ModelName`: Bedrock's imported or custom model) on success. Callers hold the plane's
lock.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from job_auditor.contract.kinds import JOB_KINDS, DiscoveryStep, JobKindSpec, StatusCategory
from simulator.clock import SimClock, to_micros, truncate_ms
from simulator.errors import ApiError
from simulator.kind_model import KindModel, StepModel, kind_model
from simulator.shapes import Shape, ValueMaker, coerce, compiled, validate
from simulator.sorted_index import SortedIndex

DEFAULT_FAILURE = "The job failed (simulated)."
_FAILURE_CATEGORIES = frozenset({StatusCategory.FAILED, StatusCategory.PARTIAL, StatusCategory.EXPIRED})
# The members naming the model a succeeded job made (importedModelArn, customModelName).
_PRODUCT_SUFFIXES = ("ModelArn", "ModelName")


@dataclass
class ModeledJob:
    """One job of any kind: its wire members (timestamps as datetimes)."""

    kind: str
    region: str
    scope: tuple[str, ...]
    job_id: str
    seq: int
    fields: dict[str, Any]
    listed_from: datetime | None = None
    # Until then the API answers for it as for no job, in lists and to Get (`ControlPlane.lose_job`).
    lost_until: datetime | None = None

    def refs(self, spec: JobKindSpec) -> list[str]:
        """Every value a Get may name this job by: id, ARN, the ARN's last segment, name."""
        refs = [self.job_id]
        arn = self.fields.get(spec.arn_field) if spec.arn_field else None
        if isinstance(arn, str):
            refs += [arn, arn.rsplit("/", 1)[-1]]
        name = self.fields.get(spec.name_field)
        if isinstance(name, str):
            refs.append(name)
        return refs


@dataclass
class JobTable:
    """The jobs of one kind in one region and scope, in the order the kind's list returns them."""

    spec: JobKindSpec
    # Ordered by job id (a list that promises no order), else by (creation micros, sequence number).
    by_id: bool
    index: SortedIndex[Any, ModeledJob] = field(default_factory=SortedIndex)
    by_ref: dict[str, ModeledJob] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    def key(self, job: ModeledJob) -> Any:
        """A job's position in the index."""
        return job.job_id if self.by_id else (to_micros(job.fields[self.spec.creation_time_field]), job.seq)


@dataclass
class ScopeResource:
    """A resource a kind's jobs are scoped to (a knowledge base, a data source)."""

    resource_id: str
    fields: dict[str, Any]


TableKey = tuple[str, str, tuple[str, ...]]
ResourceKey = tuple[str, str, str, tuple[str, ...]]


def spec_of(kind: str | JobKindSpec) -> JobKindSpec:
    """A registered spec by id (KeyError if unknown), or the spec itself."""
    if isinstance(kind, JobKindSpec):
        return kind
    spec = JOB_KINDS.get(kind)
    if spec is None:
        raise ValueError(f"no registered job kind {kind!r}")
    return spec


def kind_listed_by(client: str, list_method: str) -> JobKindSpec:
    """The registered kind whose jobs `client.list_method` lists (the simulator names kinds by their
    API, as it names scope levels, never by id)."""
    for spec in JOB_KINDS.values():
        if (spec.client, spec.list_method) == (client, list_method):
            return spec
    raise ValueError(f"no registered kind lists its jobs with {client} {list_method}")


def step_of(client: str, list_method: str) -> StepModel:
    """The discovery level a (client, list method) pair names in any registered kind."""
    for spec in JOB_KINDS.values():
        for step in kind_model(spec).steps:
            if step.step.client == client and step.step.list_method == list_method:
                return step
    raise ValueError(f"no registered kind discovers its scope with {client} {list_method}")


class ModeledStore:
    """Jobs of every kind and their scope resources (not thread-safe: hold the plane's lock)."""

    def __init__(self, clock: SimClock, account_id: str, seed: int | None) -> None:
        self.clock = clock
        self.account_id = account_id
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        self.rng = random.Random(self._seed)  # noqa: S311 - ids, not secrets
        self.tables: dict[TableKey, JobTable] = {}
        self.refs: dict[str, ModeledJob] = {}
        self.resources: dict[ResourceKey, SortedIndex[str, ScopeResource]] = {}
        self._templates: dict[tuple[str, str], dict[str, Any]] = {}
        self._seq = 0

    @property
    def next_seq(self) -> int:
        """The sequence number the next job gets (bulk names use it)."""
        return self._seq + 1

    def maker(self, region: str, now: datetime | None = None) -> ValueMaker:
        """Values for a region's members, drawn from this store's seeded generator."""
        return ValueMaker(self.rng, region, self.account_id, now or self.clock.now())

    # -- scope resources -----------------------------------------------------------------------------

    def resource_index(self, step: StepModel, region: str, parents: tuple[str, ...]) -> SortedIndex[str, Any]:
        """The resources of one discovery level under its parents (created empty on first use)."""
        key = (step.step.client, step.step.list_method, region, parents)
        index = self.resources.get(key)
        if index is None:
            index = self.resources[key] = SortedIndex()
        return index

    def find_resource(
        self, step: DiscoveryStep, region: str, parents: tuple[str, ...], rid: str
    ) -> ScopeResource:
        """A scope resource; KeyError if it does not exist."""
        index = self.resources.get((step.client, step.list_method, region, parents))
        if index is not None:
            at = index.bisect_left(rid)
            if at < len(index) and index.keys[at] == rid:
                resource: ScopeResource = index.values[at]
                return resource
        raise KeyError(f"no {step.noun} {rid} in {region}")

    def create_resource(
        self,
        step: StepModel,
        region: str,
        parents: Sequence[str],
        *,
        name: str | None = None,
        status: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> str:
        """A new scope resource; returns its id. Its parents must exist."""
        parents = tuple(parents)
        if len(parents) != len(step.parent_params):
            raise ValueError(f"a {step.step.noun} needs {len(step.parent_params)} parent id(s)")
        self.require_parents(step, region, parents)
        shape = step.item_shape
        maker = self.maker(region)
        record = maker.structure(shape, 0)
        record.update(dict(zip(step.parent_params, parents, strict=True)))
        if name is not None and "name" in shape.members:
            record["name"] = name
        if status is not None:
            record[step.step.status_field] = status
        given = coerce(shape, dict(fields or {}), "")
        record.update(given)
        id_field = step.step.id_field
        rid = str(given[id_field]) if id_field in given else maker.string(shape.members[id_field])
        record[id_field] = rid
        index = self.resource_index(step, region, parents)
        if rid in index.keys[index.bisect_left(rid) : index.bisect_right(rid)]:
            raise ValueError(f"a {step.step.noun} {rid} already exists in {region}")
        index.insert(rid, ScopeResource(rid, record))
        return rid

    def require_parents(self, step: StepModel, region: str, parents: tuple[str, ...]) -> None:
        """KeyError unless every parent of a discovery level exists."""
        for depth, rid in enumerate(parents):
            self.find_resource(step.ancestors[depth], region, parents[:depth], rid)

    def set_resource_status(
        self, step: StepModel, region: str, parents: Sequence[str], rid: str, status: str
    ) -> None:
        resource = self.find_resource(step.step, region, tuple(parents), rid)
        resource.fields[step.step.status_field] = status
        now = truncate_ms(self.clock.now())
        for member, shape in step.item_shape.members.items():
            if shape.type_name == "timestamp" and any(w in member.lower() for w in ("updated", "modified")):
                resource.fields[member] = now

    def delete_resource(self, step: StepModel, region: str, parents: Sequence[str], rid: str) -> None:
        """Remove a resource, the resources under it and their jobs."""
        parents = tuple(parents)
        self.find_resource(step.step, region, parents, rid)
        self.resource_index(step, region, parents).remove(rid)
        prefix = (*parents, rid)
        for key in [k for k in self.resources if k[2] == region and k[3][: len(prefix)] == prefix]:
            del self.resources[key]
        for table_key in [k for k in self.tables if k[1] == region and k[2][: len(prefix)] == prefix]:
            for job in self.tables.pop(table_key).index.values:
                for ref in (job.job_id, *job.refs(spec_of(job.kind))):
                    self.refs.pop(ref, None)

    def require_scope(self, model: KindModel, region: str, scope: tuple[str, ...]) -> None:
        """KeyError unless every level of a job scope exists."""
        if len(scope) != len(model.steps):
            raise ValueError(f"{model.spec.id} jobs are scoped by {len(model.steps)} id(s), got {len(scope)}")
        for depth, step in enumerate(model.steps):
            self.find_resource(step.step, region, scope[:depth], scope[depth])

    # -- jobs ----------------------------------------------------------------------------------------

    def table(self, spec: JobKindSpec, region: str, scope: tuple[str, ...]) -> JobTable:
        key = (spec.id, region, scope)
        table = self.tables.get(key)
        if table is None:
            table = self.tables[key] = JobTable(spec, kind_model(spec).lists_by_id)
        return table

    def _template(self, model: KindModel, region: str) -> dict[str, Any]:
        """Generated values of every required member, drawn once per kind and region."""
        key = (model.spec.id, region)
        template = self._templates.get(key)
        if template is None:
            maker = self.maker(region)
            required = [*model.job_shape.required_members, *model.item_shape.required_members]
            template = {name: _value_for_both(maker, model, name) for name in dict.fromkeys(required)}
            self._templates[key] = template
        return template

    def new_job(
        self,
        spec: JobKindSpec,
        region: str,
        scope: tuple[str, ...],
        *,
        status: str | None,
        name: str | None,
        creation_time: datetime | None,
        fields: Mapping[str, Any] | None,
    ) -> ModeledJob:
        """A job record (not yet inserted)."""
        model = kind_model(spec)
        members = model.members
        created = truncate_ms(creation_time or self.clock.now())
        record = _retime(copy.deepcopy(self._template(model, region)), created)
        record.update(self._scope_members(model, region, scope))
        self._seq += 1
        record[spec.creation_time_field] = created
        if spec.name_field not in (spec.id_field, spec.arn_field) and spec.name_field in members:
            if name is not None:
                validate(members[spec.name_field], name, spec.name_field)
            record[spec.name_field] = name or self._default_name(members[spec.name_field])
        given = _coerce_fields(model, fields)
        record.update(given)
        maker = self.maker(region, created)
        for ident in dict.fromkeys(f for f in (spec.id_field, spec.arn_field) if f):
            if ident not in given and ident in members:
                record[ident] = maker.string(members[ident], record)
        job = ModeledJob(spec.id, region, scope, str(record[spec.id_field]), self._seq, record)
        self.apply_status(model, job, status or next(iter(spec.statuses)), given, created)
        return job

    def _scope_members(self, model: KindModel, region: str, scope: tuple[str, ...]) -> dict[str, Any]:
        """The scope ids, and each scope resource's other members of the same family a job also has
        (knowledgeBaseArn beside knowledgeBaseId)."""
        members: dict[str, Any] = {}
        for depth, step in enumerate(model.steps):
            resource = self.find_resource(step.step, region, scope[:depth], scope[depth])
            family = step.step.id_param.removesuffix("Id")
            members.update(
                (k, v) for k, v in resource.fields.items() if k.startswith(family) and k in model.members
            )
            members[step.step.id_param] = scope[depth]
        return members

    def _default_name(self, shape: Shape) -> str:
        candidate = f"sim-job-{self._seq}"
        pattern = shape.metadata.get("pattern")
        if pattern is None or compiled(pattern).fullmatch(candidate):
            return candidate
        return self.maker("us-east-1").string(shape)

    def insert(self, jobs: Sequence[ModeledJob]) -> None:
        """Add jobs of one kind, region and scope: name check, look-up tables, one sorted insert."""
        if not jobs:
            return
        spec = spec_of(jobs[0].kind)
        table = self.table(spec, jobs[0].region, jobs[0].scope)
        unique_names = spec.name_field not in (spec.id_field, spec.arn_field)
        for job in jobs:
            name = job.fields.get(spec.name_field)
            if unique_names and name in table.names:
                raise ValueError(f"a {spec.display_name} named {name!r} already exists in {job.region}")
            if unique_names and isinstance(name, str):
                table.names.add(name)
            for ref in job.refs(spec):
                table.by_ref[ref] = job
            self.refs[job.job_id] = job
            if spec.arn_field and isinstance(job.fields.get(spec.arn_field), str):
                self.refs[job.fields[spec.arn_field]] = job
        table.index.extend([(table.key(job), job) for job in jobs])

    def apply_status(
        self,
        model: KindModel,
        job: ModeledJob,
        status: str,
        fields: Mapping[str, Any],
        when: datetime,
    ) -> None:
        """Set the status, the last-modified and end times, a failure's members where the status is a
        failure (cleared where it is not), and the model the job made where it succeeded."""
        spec, members, record = model.spec, model.members, job.fields
        record[spec.status_field] = status
        if spec.last_modified_field in members:
            record[spec.last_modified_field] = when
        if spec.end_time_field in members:
            record[spec.end_time_field] = when if spec.is_terminal(status) else None
        self._apply_outcome(model, job, spec.category(status), fields, when)
        record.update(fields)
        for name in [k for k, v in record.items() if v is None]:
            del record[name]

    def _apply_outcome(
        self,
        model: KindModel,
        job: ModeledJob,
        category: StatusCategory,
        fields: Mapping[str, Any],
        when: datetime,
    ) -> None:
        """A failure's members on a failure (cleared otherwise), the model it made on a success."""
        members, record = model.members, job.fields
        failed = category in _FAILURE_CATEGORIES
        for name in (n for n in _failure_members(model) if n not in fields):
            record[name] = _default_failure(members[name]) if failed else None
        if category is StatusCategory.SUCCEEDED:
            maker = self.maker(job.region, when)
            for name in (n for n in _product_members(model) if record.get(n) is None):
                record[name] = maker.value(members[name])

    def set_status(
        self,
        job: ModeledJob,
        status: str,
        fields: Mapping[str, Any] | None = None,
        when: datetime | None = None,
    ) -> None:
        model = kind_model(spec_of(job.kind))
        given = _coerce_fields(model, fields)
        fixed = {model.spec.id_field, model.spec.creation_time_field, *model.spec.scope_params}
        if fixed & set(given):
            raise ValueError(f"{', '.join(sorted(fixed & set(given)))} cannot change after creation")
        self.apply_status(model, job, status, given, truncate_ms(when or self.clock.now()))

    def find(self, spec: JobKindSpec, region: str, scope: tuple[str, ...], ref: str) -> ModeledJob:
        table = self.tables.get((spec.id, region, scope))
        job = table.by_ref.get(ref) if table is not None else None
        if job is None:
            raise KeyError(f"no {spec.display_name} {ref!r} in {region}")
        return job

    def delete(self, job: ModeledJob) -> None:
        spec = spec_of(job.kind)
        table = self.table(spec, job.region, job.scope)
        table.index.remove(table.key(job))
        for ref in job.refs(spec):
            table.by_ref.pop(ref, None)
            if self.refs.get(ref) is job:
                del self.refs[ref]
        table.names.discard(str(job.fields.get(spec.name_field)))

    def jobs(self) -> Iterator[ModeledJob]:
        for table in self.tables.values():
            yield from table.index.values

    def stats(self, region: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (kind, table_region, _), table in self.tables.items():
            if table_region == region:
                counts[kind] = counts.get(kind, 0) + len(table.index)
        return counts

    def resource_stats(self, region: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (client, method, resource_region, _), index in self.resources.items():
            if resource_region == region:
                key = f"{client} {method}"
                counts[key] = counts.get(key, 0) + len(index)
        return counts

    def bulk_times(self, start: datetime | None, interval: timedelta, count: int) -> list[datetime]:
        base = truncate_ms(start or self.clock.now())
        return [base + interval * i for i in range(count)]


def _coerce_fields(model: KindModel, fields: Mapping[str, Any] | None) -> dict[str, Any]:
    members = model.members
    unknown = sorted(set(fields or {}) - set(members))
    if unknown:
        raise ValueError(f"{model.spec.id} jobs have no member {', '.join(unknown)} in the model")
    coerced = {k: coerce(members[k], v, k) for k, v in (fields or {}).items()}
    for name, value in coerced.items():
        if value is not None:
            validate(members[name], value, name)
    return coerced


def _value_for_both(maker: ValueMaker, model: KindModel, name: str) -> Any:
    """A value for a member valid in the Get shape and the list summary both (their shapes may
    differ: a customization job's baseModelArn is any model ARN in one, a foundation model's in the
    other)."""
    shapes = [s.members[name] for s in (model.job_shape, model.item_shape) if name in s.members]
    value: Any = None
    for shape in shapes:
        value = maker.value(shape)
        try:
            for other in shapes:
                validate(other, value, name)
        except ApiError:
            continue
        return value
    return value


def _failure_members(model: KindModel) -> list[str]:
    """The spec's failure field and every member named for a failure (failedRecordReport)."""
    failure = model.spec.failure_field
    return [n for n in model.members if n == failure or n.startswith("fail")]


def _product_members(model: KindModel) -> list[str]:
    return [n for n in model.members if n.endswith(_PRODUCT_SUFFIXES)]


def _default_failure(shape: Shape) -> Any:
    return [DEFAULT_FAILURE] if shape.type_name == "list" else DEFAULT_FAILURE


def _retime(value: Any, when: datetime) -> Any:
    """The template's generated timestamps moved to a job's creation time."""
    if isinstance(value, datetime):
        return when
    if isinstance(value, dict):
        return {k: _retime(v, when) for k, v in value.items()}
    if isinstance(value, list):
        return [_retime(v, when) for v in value]
    return value
