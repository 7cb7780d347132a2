"""The simulated control planes: every registered kind's jobs and the resources they are scoped to, per
account and region (held by `simulator.modeled_store`, served by `simulator.modeled`), the fault plan
and the log of served calls (`simulator.call_log`).

Jobs of every kind are created, changed and deleted through one vocabulary (`create_job`,
`set_status`, `delete_job`, `hide_from_lists`, `lose_job`, scope resources); the creators of the three
original kinds (`create_model_import_job`, `create_model_copy_job`, `create_knowledge_base`,
`create_import_job`) are that vocabulary with the members those jobs usually carry.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from job_auditor.contract.kinds import JobKindSpec
from simulator.call_log import CallLog
from simulator.clock import SimClock, truncate_ms
from simulator.faults import FaultPlan
from simulator.kind_model import kind_model
from simulator.modeled_store import ModeledJob, ModeledStore, kind_listed_by, spec_of, step_of
from simulator.mutators import ResponseMutator

DEFAULT_ACCOUNT_ID = "123456789012"

# The original kinds and the Q in Connect knowledge bases, by the operations that list them.
MODEL_IMPORT = ("bedrock", "list_model_import_jobs")
MODEL_COPY = ("bedrock", "list_model_copy_jobs")
QCONNECT_IMPORT = ("qconnect", "list_import_jobs")
QCONNECT_KNOWLEDGE_BASES = ("qconnect", "list_knowledge_bases")


class ControlPlane:
    """The state behind the simulated job APIs; thread-safe.

    Everything is per region; the account id is fixed per instance. `seed` makes generated ids
    reproducible (None: random). `faults` is applied by the HTTP server before serving a call and may
    be replaced at any time.

    Other accounts: `for_account(account_id)` is that account's plane (made on first use; sharing this
    one's clock), which the HTTP server serves to callers whose credentials belong to it. This plane
    (the server's default account) keeps what is server-wide: the fault plan, the mutator, the call
    log and the (account, region) pairs where the services are not enabled (`disable_region`).
    """

    def __init__(
        self,
        clock: SimClock | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        *,
        seed: int | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        if not re.fullmatch(r"[0-9]{12}", account_id):
            raise ValueError(f"account_id must be 12 digits, got {account_id!r}")
        self.clock = clock or SimClock()
        self.account_id = account_id
        self.faults = faults or FaultPlan()
        # Rewrites requests and responses on purpose (malformed answers); see simulator.mutators.
        self.mutator: ResponseMutator | None = None
        self.calls = CallLog()
        self._seed = seed
        self._lock = threading.RLock()
        # The jobs of every kind and the resources they are scoped to.
        self.store = ModeledStore(self.clock, account_id, seed)
        # Other accounts' planes, by account id (this one is its own account's).
        self._accounts: dict[str, ControlPlane] = {}
        # (account, region, service or None for every service) where calls are refused as AWS refuses
        # them in an opt-in region the account has not enabled.
        self._not_enabled: set[tuple[str, str, str | None]] = set()
        # Told of every job started here (kind, region, scope ids, [(job id, creation time)]): what
        # CloudTrail would record of its Start call (simulator.cloudtrail).
        self.start_listeners: list[StartListener] = []

    # -- accounts ------------------------------------------------------------------------------------

    def for_account(self, account_id: str | None) -> ControlPlane:
        """The plane of `account_id` (None or this plane's own: this plane), made on first use. Its
        ids are seeded from this plane's seed and the account, so they are reproducible too."""
        if account_id is None or account_id == self.account_id:
            return self
        with self._lock:
            plane = self._accounts.get(account_id)
            if plane is None:
                seed = None if self._seed is None else self._seed ^ int(account_id)
                plane = self._accounts[account_id] = ControlPlane(self.clock, account_id, seed=seed)
            return plane

    def accounts(self) -> list[str]:
        """This plane's account, then every other account that holds state, in order of creation."""
        with self._lock:
            return [self.account_id, *self._accounts]

    def disable_region(self, account_id: str, region: str, service: str | None = None) -> None:
        """Refuse calls of `account_id` in `region` (to `service` only, by its signing name, if given)
        the way AWS refuses them where an opt-in region is not enabled: 403
        UnrecognizedClientException, "The security token included in the request is invalid"."""
        with self._lock:
            self._not_enabled.add((account_id, region, service))

    def enable_region(self, account_id: str, region: str, service: str | None = None) -> None:
        with self._lock:
            self._not_enabled.discard((account_id, region, service))

    def region_enabled(self, account_id: str, region: str, service: str | None) -> bool:
        with self._lock:
            return not {(account_id, region, None), (account_id, region, service)} & self._not_enabled

    # -- helpers -------------------------------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        """The lock guarding all state (the API layer holds it while it reads a page)."""
        return self._lock

    def reset(self) -> None:
        """Forget all jobs, resources and recorded calls; faults are replaced by an empty plan."""
        with self._lock:
            self.calls.clear()
            self.faults = FaultPlan()
            self.mutator = None
            self.store.reset()
            self._accounts.clear()
            self._not_enabled.clear()

    # -- calls ---------------------------------------------------------------------------------------

    def count_calls(
        self,
        operation: str | None = None,
        *,
        region: str | None = None,
        status: int | None = None,
        account: str | None = None,
    ) -> int:
        """How many served calls match, e.g. `plane.count_calls("ListModelImportJobs")`."""
        return self.calls.count(operation, region=region, status=status, account=account)

    def reset_calls(self) -> None:
        """Forget the recorded calls."""
        self.calls.clear()

    # -- jobs of any kind ----------------------------------------------------------------------------

    def _job(self, job_ref: str, region: str | None = None) -> ModeledJob:
        """A job by id or ARN (or by name within `region`); KeyError if unknown."""
        job = self.store.refs.get(job_ref)
        if job is not None and (region is None or job.region == region):
            return job
        if region is not None:
            for (_, table_region, _), table in self.store.tables.items():
                named = table.by_ref.get(job_ref)
                if table_region == region and named is not None:
                    return named
        raise KeyError(f"no job {job_ref!r}")

    def set_status(
        self,
        job_ref: str,
        status: str,
        failure_message: str | None = None,
        *,
        region: str | None = None,
        when: datetime | None = None,
    ) -> None:
        """Change a job's status, by id or ARN (a named job also by name with `region`), with a
        failure message if given. Any string is accepted as a status (AWS adds statuses; clients must
        cope), and a failure message is kept as given, however long (the model's bound is AWS's
        promise, not something the auditor may rely on). Sets the last-modified member to `when`
        (default now), the end time on a terminal status, a failure on a failed one and the model a
        succeeded job made."""
        with self._lock:
            job = self._job(job_ref, region)
            self.store.set_status(job, status, None, when)
            failure = spec_of(job.kind).failure_field
            if failure_message is not None and failure is not None:
                shape = kind_model(spec_of(job.kind)).members[failure]
                job.fields[failure] = [failure_message] if shape.type_name == "list" else failure_message

    def hide_from_lists(self, job_ref: str, until: datetime) -> None:
        """The job's list operation leaves it out until `until` (a list that lags behind Get)."""
        with self._lock:
            self._job(job_ref).listed_from = until

    def lose_job(self, job_ref: str, until: datetime) -> None:
        """The API loses the job until `until`: lists leave it out and Get answers that it does not
        exist (a control plane's own fault), then both answer for it as before. It may change
        meanwhile (`set_status`): what the lists and Get answer once it is back."""
        with self._lock:
            self._job(job_ref).lost_until = until

    def answers_for(self, job: ModeledJob) -> bool:
        """Whether Get (and the lists) find a job now (see `lose_job`)."""
        return job.lost_until is None or self.clock.now() >= job.lost_until

    def listed(self, job: ModeledJob) -> bool:
        """Whether the list operations return a job now (see `hide_from_lists`, `lose_job`)."""
        shown = job.listed_from is None or self.clock.now() >= job.listed_from
        return shown and self.answers_for(job)

    def delete_job(self, job_ref: str) -> None:
        """The job is gone from every list and Get (deleted by someone, or expired by the service)."""
        with self._lock:
            self.store.delete(self._job(job_ref))

    def get_job(self, job_ref: str, *, region: str | None = None) -> ModeledJob:
        """The live record of a job by id or ARN (or name with `region`); KeyError if unknown."""
        with self._lock:
            return self._job(job_ref, region)

    def snapshot(self, job_ref: str, *, region: str | None = None) -> ModeledJob:
        """A detached copy of a job's record, safe to keep while the simulation moves on."""
        with self._lock:
            return copy.deepcopy(self._job(job_ref, region))

    def regions(self) -> list[str]:
        """Regions that hold any state."""
        with self._lock:
            return sorted({key[1] for key in self.store.tables} | {key[2] for key in self.store.resources})

    def stats(self) -> dict[str, Any]:
        """Counts per region: `jobs` by kind id, `resources` by discovery list method."""
        with self._lock:
            return {
                name: {"jobs": self.store.stats(name), "resources": self.store.resource_stats(name)}
                for name in self.regions()
            }

    def create_job(
        self,
        kind: str | JobKindSpec,
        region: str,
        *,
        scope_ids: Sequence[str] = (),
        status: str | None = None,
        name: str | None = None,
        creation_time: datetime | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a job of any registered kind; returns its id (the spec's id field: the ARN for
        Bedrock jobs).

        `scope_ids` name the resources its list is scoped to (knowledge base, data source), which must
        exist. `status` defaults to the spec's first status, `creation_time` to now, `name` (where the
        kind has one: unique per region) to a generated one. `fields` sets wire members (any member of
        the list summary or Get shape; timestamps as datetimes or ISO 8601 strings); every other
        required member gets a generated value.
        """
        spec = spec_of(kind)
        with self._lock:
            scope = tuple(scope_ids)
            self._require_scope(spec, region, scope)
            job = self.store.new_job(
                spec, region, scope, status=status, name=name, creation_time=creation_time, fields=fields
            )
            self.store.insert([job])
            self._started(spec, region, scope, [job])
            return job.job_id

    def bulk_create_jobs(
        self,
        kind: str | JobKindSpec,
        region: str,
        count: int,
        *,
        scope_ids: Sequence[str] = (),
        start: datetime | None = None,
        interval: timedelta = timedelta(seconds=1),
        status: str | None = None,
        name_prefix: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Create `count` jobs of any registered kind, created `interval` apart from `start` (default
        now), named `{name_prefix}-{sequence number}` if a prefix is given, each with `fields`; their
        ids."""
        spec = spec_of(kind)
        with self._lock:
            scope = tuple(scope_ids)
            self._require_scope(spec, region, scope)
            jobs = [
                self.store.new_job(
                    spec,
                    region,
                    scope,
                    status=status,
                    name=f"{name_prefix}-{self.store.next_seq}" if name_prefix else None,
                    creation_time=when,
                    fields=fields,
                )
                for when in self.store.bulk_times(start, interval, count)
            ]
            self.store.insert(jobs)
            self._started(spec, region, scope, jobs)
            return [job.job_id for job in jobs]

    def _started(
        self, spec: JobKindSpec, region: str, scope: tuple[str, ...], jobs: Sequence[ModeledJob]
    ) -> None:
        """Tell the start listeners of jobs that just started (with their creation times)."""
        if self.start_listeners:
            started = [(job.job_id, _created(spec, job)) for job in jobs]
            for listener in list(self.start_listeners):
                listener(spec, region, scope, started)

    def creation_time(self, job_ref: str) -> datetime:
        """When a job of any kind was created (its list's time field)."""
        with self._lock:
            job = self._job(job_ref)
            return _created(spec_of(job.kind), job)

    def source_of(self, job_ref: str) -> tuple[JobKindSpec, tuple[str, ...]]:
        """The kind of a job and the ids of its scope (knowledge base, data source)."""
        with self._lock:
            job = self._job(job_ref)
            return spec_of(job.kind), job.scope

    def count_jobs(
        self,
        kind: str | JobKindSpec,
        region: str,
        *,
        scope_ids: Sequence[str] = (),
        created_after: datetime | None = None,
    ) -> int:
        """Jobs of a kind (and scope) in a region, those created strictly after `created_after` if
        given: what a list with that time filter returns."""
        spec = spec_of(kind)
        with self._lock:
            table = self.store.tables.get((spec.id, region, tuple(scope_ids)))
            jobs = table.index.values if table is not None else []
            when = spec.creation_time_field
            return sum(1 for job in jobs if created_after is None or job.fields[when] > created_after)

    def _require_scope(self, spec: JobKindSpec, region: str, scope: tuple[str, ...]) -> None:
        self.store.require_scope(kind_model(spec), region, scope)

    def find_job(
        self, kind: str | JobKindSpec, region: str, job_ref: str, *, scope_ids: Sequence[str] = ()
    ) -> ModeledJob:
        """The live record of a job of a kind and scope by id, ARN or name; KeyError if unknown."""
        with self._lock:
            return self.store.find(spec_of(kind), region, tuple(scope_ids), job_ref)

    def set_job_status(
        self,
        kind: str | JobKindSpec,
        region: str,
        job_ref: str,
        status: str,
        *,
        scope_ids: Sequence[str] = (),
        fields: Mapping[str, Any] | None = None,
        when: datetime | None = None,
    ) -> None:
        """Change a job's status (any string), with failure or other members in `fields`
        (e.g. failureReasons, statistics, message, failureMessages). Sets the last-modified member to
        `when` (default now), the end time on a terminal status, and a default failure on a failed
        one unless `fields` gives it."""
        with self._lock:
            job = self.store.find(spec_of(kind), region, tuple(scope_ids), job_ref)
            self.store.set_status(job, status, fields, when)

    def delete_kind_job(
        self, kind: str | JobKindSpec, region: str, job_ref: str, *, scope_ids: Sequence[str] = ()
    ) -> None:
        """Remove a job from every list and Get."""
        with self._lock:
            self.store.delete(self.store.find(spec_of(kind), region, tuple(scope_ids), job_ref))

    def create_scope_resource(
        self,
        client: str,
        list_method: str,
        region: str,
        *,
        parent_ids: Sequence[str] = (),
        name: str | None = None,
        status: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a resource a registered kind's discovery lists with `client.list_method` (a
        knowledge base, a data source); returns its id. Parents must exist."""
        with self._lock:
            return self.store.create_resource(
                step_of(client, list_method), region, parent_ids, name=name, status=status, fields=fields
            )

    def scope_resource(
        self, client: str, list_method: str, region: str, resource_id: str, *, parent_ids: Sequence[str] = ()
    ) -> dict[str, Any]:
        """A copy of a scope resource's members; KeyError if it does not exist."""
        with self._lock:
            step = step_of(client, list_method)
            resource = self.store.find_resource(step.step, region, tuple(parent_ids), resource_id)
            return copy.deepcopy(resource.fields)

    def set_scope_resource_status(
        self,
        client: str,
        list_method: str,
        region: str,
        resource_id: str,
        status: str,
        *,
        parent_ids: Sequence[str] = (),
    ) -> None:
        """Change a scope resource's status (e.g. DELETING)."""
        with self._lock:
            self.store.set_resource_status(
                step_of(client, list_method), region, parent_ids, resource_id, status
            )

    def delete_scope_resource(
        self, client: str, list_method: str, region: str, resource_id: str, *, parent_ids: Sequence[str] = ()
    ) -> None:
        """Remove a scope resource with the resources and jobs under it."""
        with self._lock:
            self.store.delete_resource(step_of(client, list_method), region, parent_ids, resource_id)

    def create_agent_knowledge_base(
        self, region: str, name: str = "sim-kb", *, status: str = "ACTIVE"
    ) -> str:
        """A bedrock-agent knowledge base (what ListKnowledgeBases of bedrock-agent returns); its id."""
        return self.create_scope_resource(
            "bedrock-agent", "list_knowledge_bases", region, name=name, status=status
        )

    def create_data_source(
        self, region: str, knowledge_base_id: str, name: str = "sim-data-source", *, status: str = "AVAILABLE"
    ) -> str:
        """A bedrock-agent data source in a knowledge base; its id."""
        return self.create_scope_resource(
            "bedrock-agent",
            "list_data_sources",
            region,
            parent_ids=(knowledge_base_id,),
            name=name,
            status=status,
        )

    # -- the original kinds, with the members their jobs usually carry ----------------------------------

    def _suffix(self, region: str, length: int = 12) -> str:
        return self.store.maker(region).suffix(length)

    def create_model_import_job(
        self, region: str, name: str, status: str = "InProgress", creation_time: datetime | None = None
    ) -> str:
        """A Bedrock model import job with its role and the S3 location of its weights; its ARN. Names
        are unique per region, as in AWS."""
        role = f"arn:aws:iam::{self.account_id}:role/BedrockModelImportRole"
        weights = {"s3DataSource": {"s3Uri": f"s3://sim-model-artifacts-{self.account_id}/{name.lower()}/"}}
        return self.create_job(
            kind_listed_by(*MODEL_IMPORT),
            region,
            name=name,
            status=status,
            creation_time=creation_time,
            fields={"roleArn": role, "modelDataSource": weights},
        )

    def create_model_copy_job(
        self,
        region: str,
        target_model_name: str,
        source_model_arn: str | None = None,
        source_account_id: str | None = None,
        status: str = "InProgress",
        creation_time: datetime | None = None,
        source_model_name: str | None = None,
    ) -> str:
        """A Bedrock model copy job; its ARN. `source_model_arn` defaults to an imported custom model
        owned by `source_account_id` (itself defaulting to the account in the source ARN, else this
        account)."""
        if source_model_arn is None:
            owner = source_account_id or self.account_id
            source_model_arn = (
                f"arn:aws:bedrock:{region}:{owner}:custom-model/imported/{self._suffix(region)}"
            )
        if source_account_id is None:
            parts = source_model_arn.split(":")
            source_account_id = parts[4] if len(parts) > 4 and parts[4] else self.account_id
        target = f"arn:aws:bedrock:{region}:{self.account_id}:custom-model/imported/{self._suffix(region)}"
        return self.create_job(
            kind_listed_by(*MODEL_COPY),
            region,
            name=target_model_name,
            status=status,
            creation_time=creation_time,
            fields={
                "targetModelArn": target,
                "sourceModelArn": source_model_arn,
                "sourceAccountId": source_account_id,
                "sourceModelName": source_model_name or f"{target_model_name}-source",
            },
        )

    def create_knowledge_base(
        self, region: str, name: str, *, knowledge_base_type: str = "QUICK_RESPONSES", status: str = "ACTIVE"
    ) -> str:
        """An Amazon Q in Connect knowledge base (what ListKnowledgeBases of qconnect returns), its ARN
        naming its id; its id."""
        with self._lock:
            step = step_of(*QCONNECT_KNOWLEDGE_BASES)
            kb_id = self.store.maker(region).string(step.item_shape.members[step.step.id_field])
            return self.create_scope_resource(
                *QCONNECT_KNOWLEDGE_BASES,
                region,
                name=name,
                status=status,
                fields={
                    "knowledgeBaseId": kb_id,
                    "knowledgeBaseArn": f"arn:aws:wisdom:{region}:{self.account_id}:knowledge-base/{kb_id}",
                    "knowledgeBaseType": knowledge_base_type,
                    "lastModifiedTime": truncate_ms(self.clock.now()),
                },
            )

    def set_knowledge_base_status(self, region: str, knowledge_base_id: str, status: str) -> None:
        """Change a Q in Connect knowledge base's status (e.g. DELETE_IN_PROGRESS) without removing it."""
        self.set_scope_resource_status(*QCONNECT_KNOWLEDGE_BASES, region, knowledge_base_id, status)

    def delete_knowledge_base(self, region: str, knowledge_base_id: str) -> None:
        """Remove a Q in Connect knowledge base and its import jobs; later calls naming it get a 404."""
        self.delete_scope_resource(*QCONNECT_KNOWLEDGE_BASES, region, knowledge_base_id)

    def create_import_job(
        self,
        region: str,
        knowledge_base_id: str,
        status: str = "START_IN_PROGRESS",
        created_time: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """A Q in Connect import job in a knowledge base, with its upload and a presigned URL valid for
        an hour; its id."""
        created = truncate_ms(created_time or self.clock.now())
        upload = f"{self._suffix(region, 32)}/{self._suffix(region, 32)}"
        fields: dict[str, Any] = {
            "uploadId": upload,
            "url": f"https://sim-qconnect-uploads.s3.{region}.amazonaws.com/{upload}?X-Amz-Expires=3600",
            "urlExpiry": created + timedelta(hours=1),
        }
        if metadata is not None:
            fields["metadata"] = dict(metadata)
        return self.create_job(
            kind_listed_by(*QCONNECT_IMPORT),
            region,
            scope_ids=(knowledge_base_id,),
            status=status,
            creation_time=created,
            fields=fields,
        )


# Told of jobs started in a plane: (kind, region, scope ids, [(job id, creation time)]).
StartListener = Callable[[JobKindSpec, str, tuple[str, ...], Sequence[tuple[str, datetime]]], None]


def _created(spec: JobKindSpec, job: ModeledJob) -> datetime:
    """A job's creation time (its list's time field; timestamps may be held as ISO 8601 strings)."""
    value = job.fields[spec.creation_time_field]
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
