"""The simulated control planes: jobs and knowledge bases per region (the records in
`simulator.records`, their indexes `simulator.sorted_index`), and the log of served calls
(`simulator.call_log`).

Jobs of each bedrock kind are kept per region in a list sorted by (creation time, sequence number);
listing bisects into it, so a `creationTimeAfter` filter costs O(log n + page), not O(n). Q in Connect
import jobs are kept per knowledge base sorted by import job id, the deterministic but
creation-unrelated order ListImportJobs returns them in.
"""

from __future__ import annotations

import dataclasses
import random
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from job_auditor.contract.kinds import JOB_KINDS, JobKindSpec
from simulator.call_log import CallLog
from simulator.clock import SimClock
from simulator.faults import FaultPlan
from simulator.kind_model import kind_model
from simulator.modeled_store import ModeledJob, ModeledStore, spec_of, step_of
from simulator.mutators import ResponseMutator
from simulator.records import AnyJob, ImportJob, KnowledgeBase, ModelCopyJob, ModelImportJob, truncate_ms
from simulator.sorted_index import SortedIndex

DEFAULT_ACCOUNT_ID = "123456789012"

BEDROCK_TERMINAL_STATUSES = frozenset({"Completed", "Failed"})
_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*")


@dataclass
class RegionState:
    """Everything one region holds."""

    import_jobs: SortedIndex[tuple[int, int], ModelImportJob] = field(default_factory=SortedIndex)
    copy_jobs: SortedIndex[tuple[int, int], ModelCopyJob] = field(default_factory=SortedIndex)
    import_jobs_by_arn: dict[str, ModelImportJob] = field(default_factory=dict)
    import_jobs_by_name: dict[str, ModelImportJob] = field(default_factory=dict)
    copy_jobs_by_arn: dict[str, ModelCopyJob] = field(default_factory=dict)
    knowledge_bases: SortedIndex[str, KnowledgeBase] = field(default_factory=SortedIndex)
    kb_by_id: dict[str, KnowledgeBase] = field(default_factory=dict)
    kb_jobs: dict[str, SortedIndex[str, ImportJob]] = field(default_factory=dict)


# -- the control plane ---------------------------------------------------------------------------------


class ControlPlane:
    """The state behind the simulated Bedrock and Q in Connect APIs; thread-safe.

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
        self._rng = random.Random(seed)  # noqa: S311 - ids, not secrets
        self._regions: dict[str, RegionState] = {}
        self._jobs_by_ref: dict[str, tuple[str, AnyJob]] = {}
        # Job ref -> when its list operation starts returning it: the list API's visibility lag (Get
        # finds the job at once).
        self._listed_from: dict[str, datetime] = {}
        self._seq = 0
        # The model-driven kinds (simulator.modeled): generic jobs and the resources they are scoped to.
        self.modeled = ModeledStore(self.clock, account_id, seed)
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

    def region(self, region: str) -> RegionState:
        """The state of a region, created on first use."""
        with self._lock:
            state = self._regions.get(region)
            if state is None:
                state = self._regions[region] = RegionState()
            return state

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _suffix(self) -> str:
        # 12 lowercase hex digits: within AWS's [a-z0-9]{12} and cheap enough for 100k-job histories.
        return f"{self._rng.getrandbits(48):012x}"

    def _uuid(self) -> str:
        # A version-4 UUID from the seeded generator (formatted by hand: uuid.UUID is slow in bulk).
        h = f"{self._rng.getrandbits(128):032x}"
        variant = "89ab"[int(h[16], 16) & 3]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"

    def _when(self, value: datetime | None) -> datetime:
        return truncate_ms(value if value is not None else self.clock.now())

    def reset(self) -> None:
        """Forget all jobs, knowledge bases and recorded calls; faults are replaced by an empty plan."""
        with self._lock:
            self._regions.clear()
            self._jobs_by_ref.clear()
            self._listed_from.clear()
            self._rng = random.Random(self._seed)  # noqa: S311
            self.calls.clear()
            self.faults = FaultPlan()
            self.mutator = None
            self.modeled.reset()
            self._accounts.clear()
            self._not_enabled.clear()

    def _started(
        self, spec: JobKindSpec, region: str, scope: tuple[str, ...], jobs: Sequence[tuple[str, datetime]]
    ) -> None:
        """Tell the start listeners of jobs that just started."""
        for listener in list(self.start_listeners):
            listener(spec, region, scope, jobs)

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

    # -- Bedrock model import jobs -------------------------------------------------------------------

    def _new_import_job(
        self, region: str, name: str, status: str, creation_time: datetime | None
    ) -> ModelImportJob:
        if not (1 <= len(name) <= 63 and _JOB_NAME.fullmatch(name)):
            raise ValueError(f"invalid model import job name {name!r}")
        created = self._when(creation_time)
        job = ModelImportJob(
            arn=f"arn:aws:bedrock:{region}:{self.account_id}:model-import-job/{self._suffix()}",
            name=name,
            region=region,
            status="InProgress",
            creation_time=created,
            last_modified_time=created,
            seq=self._next_seq(),
            role_arn=f"arn:aws:iam::{self.account_id}:role/BedrockModelImportRole",
            s3_uri=f"s3://sim-model-artifacts-{self.account_id}/{name.lower()}/",
        )
        self._apply_status(job, status, None, created)
        return job

    @staticmethod
    def _ref(job: AnyJob) -> str:
        return job.import_job_id if isinstance(job, ImportJob) else job.arn

    def _index(self, region: str, job: AnyJob) -> tuple[SortedIndex[Any, Any], Any]:
        """The sorted index a job is listed from, and its key there."""
        state = self.region(region)
        if isinstance(job, ModelImportJob):
            return state.import_jobs, job.sort_key
        if isinstance(job, ModelCopyJob):
            return state.copy_jobs, job.sort_key
        return state.kb_jobs[job.knowledge_base_id], job.import_job_id

    def _insert(self, region: str, jobs: Sequence[AnyJob]) -> None:
        """The one way jobs enter the plane (one at a time or in bulk, all of one kind and scope): the
        look-up tables, then one sorted insert."""
        state = self.region(region)
        for job in jobs:
            if isinstance(job, ModelImportJob):
                if job.name in state.import_jobs_by_name:
                    raise ValueError(f"a model import job named {job.name!r} already exists in {region}")
                state.import_jobs_by_arn[job.arn] = job
                state.import_jobs_by_name[job.name] = job
            elif isinstance(job, ModelCopyJob):
                state.copy_jobs_by_arn[job.arn] = job
            self._jobs_by_ref[self._ref(job)] = (region, job)
        if jobs:
            index, _ = self._index(region, jobs[0])
            index.extend([(self._index(region, job)[1], job) for job in jobs])
        if jobs and self.start_listeners:
            spec = next(s for s in JOB_KINDS.values() if s.list_method == _LIST_METHOD_OF[type(jobs[0])])
            scope = (jobs[0].knowledge_base_id,) if isinstance(jobs[0], ImportJob) else ()
            created = [
                (self._ref(j), j.created_time if isinstance(j, ImportJob) else j.creation_time) for j in jobs
            ]
            self._started(spec, region, scope, created)

    def create_model_import_job(
        self,
        region: str,
        name: str,
        status: str = "InProgress",
        creation_time: datetime | None = None,
    ) -> str:
        """Create a model import job; returns its ARN. Job names are unique per region, as in AWS."""
        with self._lock:
            # Checked before the job's ids are drawn too, so a refused name leaves the seeded ids as
            # they were.
            if name in self.region(region).import_jobs_by_name:
                raise ValueError(f"a model import job named {name!r} already exists in {region}")
            job = self._new_import_job(region, name, status, creation_time)
            self._insert(region, [job])
            return job.arn

    def bulk_create_model_import_jobs(
        self,
        region: str,
        count: int,
        *,
        start: datetime | None = None,
        interval: timedelta = timedelta(seconds=1),
        status: str = "InProgress",
        name_prefix: str = "import-job",
    ) -> list[str]:
        """Create `count` import jobs created `interval` apart from `start` (default now); returns ARNs.

        Names are `{name_prefix}-{sequence number}`, so repeated calls never collide.
        """
        with self._lock:
            base = self._when(start)
            jobs = [
                self._new_import_job(region, f"{name_prefix}-{self._seq + 1}", status, base + interval * i)
                for i in range(count)
            ]
            self._insert(region, jobs)
            return [job.arn for job in jobs]

    # -- Bedrock model copy jobs ---------------------------------------------------------------------

    def _new_copy_job(
        self,
        region: str,
        target_model_name: str,
        source_model_arn: str | None,
        source_account_id: str | None,
        status: str,
        creation_time: datetime | None,
        source_model_name: str | None,
    ) -> ModelCopyJob:
        if source_model_arn is None:
            owner = source_account_id or self.account_id
            source_model_arn = f"arn:aws:bedrock:{region}:{owner}:custom-model/imported/{self._suffix()}"
        if source_account_id is None:
            parts = source_model_arn.split(":")
            source_account_id = parts[4] if len(parts) > 4 and parts[4] else self.account_id
        created = self._when(creation_time)
        job = ModelCopyJob(
            arn=f"arn:aws:bedrock:{region}:{self.account_id}:model-copy-job/{self._suffix()}",
            region=region,
            status="InProgress",
            creation_time=created,
            seq=self._next_seq(),
            target_model_name=target_model_name,
            target_model_arn=f"arn:aws:bedrock:{region}:{self.account_id}:custom-model/imported/{self._suffix()}",
            source_model_arn=source_model_arn,
            source_account_id=source_account_id,
            source_model_name=source_model_name or f"{target_model_name}-source",
        )
        self._apply_status(job, status, None, created)
        return job

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
        """Create a model copy job; returns its ARN.

        `source_model_arn` defaults to an imported custom model owned by `source_account_id` (itself
        defaulting to the account in the source ARN, else this account).
        """
        with self._lock:
            job = self._new_copy_job(
                region,
                target_model_name,
                source_model_arn,
                source_account_id,
                status,
                creation_time,
                source_model_name,
            )
            self._insert(region, [job])
            return job.arn

    def bulk_create_model_copy_jobs(
        self,
        region: str,
        count: int,
        *,
        start: datetime | None = None,
        interval: timedelta = timedelta(seconds=1),
        status: str = "InProgress",
        target_name_prefix: str = "copied-model",
        source_account_id: str | None = None,
    ) -> list[str]:
        """Create `count` copy jobs created `interval` apart from `start` (default now); returns ARNs."""
        with self._lock:
            base = self._when(start)
            jobs = [
                self._new_copy_job(
                    region,
                    f"{target_name_prefix}-{self._seq + 1}",
                    None,
                    source_account_id,
                    status,
                    base + interval * i,
                    None,
                )
                for i in range(count)
            ]
            self._insert(region, jobs)
            return [job.arn for job in jobs]

    # -- Q in Connect --------------------------------------------------------------------------------

    def create_knowledge_base(
        self,
        region: str,
        name: str,
        *,
        knowledge_base_type: str = "QUICK_RESPONSES",
        status: str = "ACTIVE",
    ) -> str:
        """Create a knowledge base; returns its id (a UUID)."""
        with self._lock:
            state = self.region(region)
            kb_id = self._uuid()
            kb = KnowledgeBase(
                knowledge_base_id=kb_id,
                arn=f"arn:aws:wisdom:{region}:{self.account_id}:knowledge-base/{kb_id}",
                name=name,
                region=region,
                knowledge_base_type=knowledge_base_type,
                status=status,
                last_modified_time=self._when(None),
            )
            state.knowledge_bases.insert(kb_id, kb)
            state.kb_by_id[kb_id] = kb
            state.kb_jobs[kb_id] = SortedIndex()
            return kb_id

    def set_knowledge_base_status(self, region: str, knowledge_base_id: str, status: str) -> None:
        """Change a knowledge base's status (e.g. DELETE_IN_PROGRESS) without removing it."""
        with self._lock:
            kb = self.region(region).kb_by_id.get(knowledge_base_id)
            if kb is None:
                raise KeyError(f"no knowledge base {knowledge_base_id} in {region}")
            kb.status = status
            kb.last_modified_time = self._when(None)

    def delete_knowledge_base(self, region: str, knowledge_base_id: str) -> None:
        """Remove a knowledge base and its import jobs; later calls naming it get a 404."""
        with self._lock:
            state = self.region(region)
            if state.kb_by_id.pop(knowledge_base_id, None) is None:
                raise KeyError(f"no knowledge base {knowledge_base_id} in {region}")
            state.knowledge_bases.remove(knowledge_base_id)
            for job in state.kb_jobs.pop(knowledge_base_id).values:
                self._jobs_by_ref.pop(job.import_job_id, None)

    def _new_import_job_q(
        self,
        kb: KnowledgeBase,
        status: str,
        created_time: datetime | None,
        metadata: Mapping[str, str] | None,
    ) -> ImportJob:
        created = self._when(created_time)
        job_id = self._uuid()
        upload_id = f"{self._uuid()}/{self._uuid()}"
        job = ImportJob(
            import_job_id=job_id,
            knowledge_base_id=kb.knowledge_base_id,
            knowledge_base_arn=kb.arn,
            region=kb.region,
            upload_id=upload_id,
            status="START_IN_PROGRESS",
            created_time=created,
            last_modified_time=created,
            url=f"https://sim-qconnect-uploads.s3.{kb.region}.amazonaws.com/{upload_id}?X-Amz-Expires=3600",
            url_expiry=created + timedelta(hours=1),
            metadata=dict(metadata or {}),
        )
        self._apply_status(job, status, None, created)
        return job

    def _kb(self, region: str, knowledge_base_id: str) -> KnowledgeBase:
        kb = self.region(region).kb_by_id.get(knowledge_base_id)
        if kb is None:
            raise KeyError(f"no knowledge base {knowledge_base_id} in {region}")
        return kb

    def create_import_job(
        self,
        region: str,
        knowledge_base_id: str,
        status: str = "START_IN_PROGRESS",
        created_time: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Create a Q in Connect import job in a knowledge base; returns its id (a UUID)."""
        with self._lock:
            kb = self._kb(region, knowledge_base_id)
            job = self._new_import_job_q(kb, status, created_time, metadata)
            self._insert(region, [job])
            return job.import_job_id

    def bulk_create_import_jobs(
        self,
        region: str,
        knowledge_base_id: str,
        count: int,
        *,
        start: datetime | None = None,
        interval: timedelta = timedelta(seconds=1),
        status: str = "START_IN_PROGRESS",
    ) -> list[str]:
        """Create `count` import jobs in a knowledge base, `interval` apart from `start`; returns ids."""
        with self._lock:
            kb = self._kb(region, knowledge_base_id)
            base = self._when(start)
            jobs = [self._new_import_job_q(kb, status, base + interval * i, None) for i in range(count)]
            self._insert(region, jobs)
            return [job.import_job_id for job in jobs]

    # -- status changes ------------------------------------------------------------------------------

    def _apply_status(self, job: AnyJob, status: str, failure_message: str | None, now: datetime) -> None:
        job.status = status
        if isinstance(job, ImportJob):
            job.last_modified_time = now
            job.failed_record_report = (
                f"https://sim-qconnect-uploads.s3.{job.region}.amazonaws.com/{job.upload_id}/failed.csv"
                if status == "FAILED"
                else None
            )
            return
        job.failure_message = failure_message if status == "Failed" else None
        if status == "Failed" and failure_message is None:
            job.failure_message = "The job failed (simulated)."
        if isinstance(job, ModelCopyJob):
            return
        job.last_modified_time = now
        # endTime is present exactly when the job reached a terminal status.
        job.end_time = now if status in BEDROCK_TERMINAL_STATUSES else None
        if status == "Completed" and job.imported_model_arn is None:
            job.imported_model_name = re.sub(r"[^0-9a-zA-Z_-]", "-", job.name)
            job.imported_model_arn = (
                f"arn:aws:bedrock:{job.region}:{self.account_id}:imported-model/{self._suffix()}"
            )

    def set_status(
        self,
        job_ref: str,
        status: str,
        failure_message: str | None = None,
        *,
        region: str | None = None,
        when: datetime | None = None,
    ) -> None:
        """Change any job's status, by ARN (bedrock) or import job id (Q in Connect).

        A model import job may also be named by its name together with `region`. Any string is
        accepted as a status (AWS adds statuses; clients must cope). Updates lastModifiedTime to
        `when` (default now) and, for import jobs, sets endTime on Completed/Failed.
        """
        with self._lock:
            modeled = self._modeled_ref(job_ref, region)
            if modeled is not None:
                spec = spec_of(modeled.kind)
                failure = spec.failure_field
                fields = {}
                if failure_message is not None and failure is not None:
                    shape = self._kind_members(spec)[failure]
                    fields[failure] = [failure_message] if shape.type_name == "list" else failure_message
                self.modeled.set_status(modeled, status, fields, when)
                return
            job = self.get_job(job_ref, region=region)
            self._apply_status(job, status, failure_message, self._when(when))

    def hide_from_lists(self, job_ref: str, until: datetime) -> None:
        """The job's list operation leaves it out until `until` (a list that lags behind Get)."""
        with self._lock:
            modeled = self._modeled_ref(job_ref, None)
            if modeled is not None:
                modeled.listed_from = until
                return
            self.get_job(job_ref)
            self._listed_from[job_ref] = until

    def listed(self, job: AnyJob) -> bool:
        """Whether the list operations return `job` now."""
        until = self._listed_from.get(self._ref(job))
        return until is None or self.clock.now() >= until

    def delete_job(self, job_ref: str) -> None:
        """The job is gone from every list and Get (deleted by someone, or expired by the service)."""
        with self._lock:
            modeled = self._modeled_ref(job_ref, None)
            if modeled is not None:
                self.modeled.delete(modeled)
                return
            region, job = self._jobs_by_ref.pop(job_ref)
            state = self.region(region)
            index, key = self._index(region, job)
            index.remove(key)
            if isinstance(job, ModelImportJob):
                del state.import_jobs_by_arn[job.arn]
                del state.import_jobs_by_name[job.name]
            elif isinstance(job, ModelCopyJob):
                del state.copy_jobs_by_arn[job.arn]
            self._listed_from.pop(job_ref, None)

    def get_job(self, job_ref: str, *, region: str | None = None) -> AnyJob:
        """The live record of a job by ARN / id (or import job name with `region`); KeyError if unknown."""
        with self._lock:
            found = self._jobs_by_ref.get(job_ref)
            if found is not None:
                return found[1]
            if region is not None:
                named = self.region(region).import_jobs_by_name.get(job_ref)
                if named is not None:
                    return named
            raise KeyError(f"no job {job_ref!r}")

    def snapshot(self, job_ref: str, *, region: str | None = None) -> AnyJob:
        """A detached copy of a job's record, safe to keep while the simulation moves on."""
        with self._lock:
            return dataclasses.replace(self.get_job(job_ref, region=region))

    def knowledge_base(self, region: str, knowledge_base_id: str) -> KnowledgeBase:
        """A detached copy of a knowledge base's record; KeyError if unknown."""
        with self._lock:
            return dataclasses.replace(self._kb(region, knowledge_base_id))

    def regions(self) -> list[str]:
        """Regions that hold any state."""
        with self._lock:
            return sorted(self._regions)

    def stats(self) -> dict[str, Any]:
        """Counts per region and kind, for the control API and quick sanity checks (`jobs`: the
        model-driven kinds' jobs by kind id)."""
        with self._lock:
            names = sorted({*self._regions, *(key[1] for key in self.modeled.tables)})
            return {
                name: {
                    "modelImportJobs": len(state.import_jobs),
                    "modelCopyJobs": len(state.copy_jobs),
                    "knowledgeBases": len(state.knowledge_bases),
                    "importJobs": sum(len(jobs) for jobs in state.kb_jobs.values()),
                    "jobs": self.modeled.stats(name),
                }
                for name, state in ((name, self.region(name)) for name in names)
            }

    # -- model-driven kinds (simulator.modeled) ------------------------------------------------------

    def _modeled_ref(self, job_ref: str, region: str | None) -> ModeledJob | None:
        job = self.modeled.refs.get(job_ref)
        return job if job is not None and (region is None or job.region == region) else None

    @staticmethod
    def _kind_members(spec: JobKindSpec) -> dict[str, Any]:
        return kind_model(spec).members

    def listed_modeled(self, job: ModeledJob) -> bool:
        """Whether the list operations return a model-driven job now (see `hide_from_lists`)."""
        return job.listed_from is None or self.clock.now() >= job.listed_from

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
        exist. `status` defaults to the spec's first status, `creation_time` to now. `fields` sets
        wire members of a model-driven job (any member of the list summary or Get shape; timestamps as
        datetimes or ISO 8601 strings); every other required member gets a generated value. A kind
        with hand-written handlers is created by its own creator (`fields` is not taken there).
        """
        spec = spec_of(kind)
        if spec.list_method in _HAND_WRITTEN:
            if fields:
                raise ValueError(f"{spec.id}: fields are only taken for model-driven kinds")
            start = creation_time or self.clock.now()
            return self.bulk_create_jobs(spec, region, 1, scope_ids=scope_ids, start=start, status=status)[0]
        with self._lock:
            scope = tuple(scope_ids)
            self._require_scope(spec, region, scope)
            job = self.modeled.new_job(
                spec, region, scope, status=status, name=name, creation_time=creation_time, fields=fields
            )
            self.modeled.insert([job])
            self._started_modeled(spec, region, scope, [job])
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
    ) -> list[str]:
        """Create `count` jobs of any registered kind, created `interval` apart from `start` (default
        now); their ids."""
        spec = spec_of(kind)
        status = status or next(iter(spec.statuses))
        if creator := _HAND_WRITTEN.get(spec.list_method):
            return creator(self, region, tuple(scope_ids), count, start, interval, status)
        with self._lock:
            scope = tuple(scope_ids)
            self._require_scope(spec, region, scope)
            jobs = [
                self.modeled.new_job(
                    spec,
                    region,
                    scope,
                    status=status,
                    name=f"{name_prefix}-{self.modeled.next_seq}" if name_prefix else None,
                    creation_time=when,
                    fields=None,
                )
                for when in self.modeled.bulk_times(start, interval, count)
            ]
            self.modeled.insert(jobs)
            self._started_modeled(spec, region, scope, jobs)
            return [job.job_id for job in jobs]

    def _started_modeled(
        self, spec: JobKindSpec, region: str, scope: tuple[str, ...], jobs: Sequence[ModeledJob]
    ) -> None:
        if self.start_listeners:
            when = spec.creation_time_field
            times = [
                j.fields[when]
                if isinstance(j.fields[when], datetime)
                else datetime.fromisoformat(str(j.fields[when]))
                for j in jobs
            ]
            self._started(spec, region, scope, [(j.job_id, t) for j, t in zip(jobs, times, strict=True)])

    def creation_time(self, job_ref: str) -> datetime:
        """When a job of any kind was created (its list's time field)."""
        with self._lock:
            modeled = self._modeled_ref(job_ref, None)
            if modeled is not None:
                value = modeled.fields[spec_of(modeled.kind).creation_time_field]
                return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            job = self.get_job(job_ref)
            return job.created_time if isinstance(job, ImportJob) else job.creation_time

    def source_of(self, job_ref: str) -> tuple[JobKindSpec, tuple[str, ...]]:
        """The kind of a job of any kind and the ids of its scope (knowledge base, data source)."""
        with self._lock:
            modeled = self._modeled_ref(job_ref, None)
            if modeled is not None:
                return spec_of(modeled.kind), modeled.scope
            job = self.get_job(job_ref)
            list_method = _LIST_METHOD_OF[type(job)]
            spec = next(s for s in JOB_KINDS.values() if s.list_method == list_method)
            return spec, (job.knowledge_base_id,) if isinstance(job, ImportJob) else ()

    @staticmethod
    def modeled_kinds() -> list[JobKindSpec]:
        """The registered kinds the model-driven engine serves (those without hand-written handlers)."""
        return [spec for spec in JOB_KINDS.values() if spec.list_method not in _HAND_WRITTEN]

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
            times = self._creation_times(spec, region, tuple(scope_ids))
            return sum(1 for when in times if created_after is None or when > created_after)

    def _creation_times(self, spec: JobKindSpec, region: str, scope: tuple[str, ...]) -> list[datetime]:
        if spec.list_method in _HAND_WRITTEN:
            state = self.region(region)
            jobs: list[AnyJob]
            if spec.list_method == "list_import_jobs":
                jobs = list(state.kb_jobs[scope[0]].values)
            elif spec.list_method == "list_model_import_jobs":
                jobs = list(state.import_jobs.values)
            else:
                jobs = list(state.copy_jobs.values)
            return [j.created_time if isinstance(j, ImportJob) else j.creation_time for j in jobs]
        table = self.modeled.tables.get((spec.id, region, scope))
        if table is None:
            return []
        when = spec.creation_time_field
        return [job.fields[when] for job in table.index.values]

    def _require_scope(self, spec: JobKindSpec, region: str, scope: tuple[str, ...]) -> None:
        self.modeled.require_scope(kind_model(spec), region, scope)

    def find_job(
        self, kind: str | JobKindSpec, region: str, job_ref: str, *, scope_ids: Sequence[str] = ()
    ) -> ModeledJob:
        """The live record of a model-driven job by id, ARN or name; KeyError if unknown."""
        with self._lock:
            return self.modeled.find(spec_of(kind), region, tuple(scope_ids), job_ref)

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
        """Change a model-driven job's status (any string), with failure or other members in `fields`
        (e.g. failureReasons, statistics, message, failureMessages). Sets the last-modified member to
        `when` (default now), the end time on a terminal status, and a default failure on a failed
        one unless `fields` gives it."""
        with self._lock:
            job = self.modeled.find(spec_of(kind), region, tuple(scope_ids), job_ref)
            self.modeled.set_status(job, status, fields, when)

    def delete_kind_job(
        self, kind: str | JobKindSpec, region: str, job_ref: str, *, scope_ids: Sequence[str] = ()
    ) -> None:
        """Remove a model-driven job from every list and Get."""
        with self._lock:
            self.modeled.delete(self.modeled.find(spec_of(kind), region, tuple(scope_ids), job_ref))

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
            return self.modeled.create_resource(
                step_of(client, list_method), region, parent_ids, name=name, status=status, fields=fields
            )

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
            self.modeled.set_resource_status(
                step_of(client, list_method), region, parent_ids, resource_id, status
            )

    def delete_scope_resource(
        self, client: str, list_method: str, region: str, resource_id: str, *, parent_ids: Sequence[str] = ()
    ) -> None:
        """Remove a scope resource with the resources and jobs under it."""
        with self._lock:
            self.modeled.delete_resource(step_of(client, list_method), region, parent_ids, resource_id)

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


# Told of jobs started in a plane: (kind, region, scope ids, [(job id, creation time)]).
StartListener = Callable[[JobKindSpec, str, tuple[str, ...], Sequence[tuple[str, datetime]]], None]

# The kinds with hand-written handlers (simulator.api.ROUTES), created by their own creators: by list
# operation, as their routes are found by operation name. Every other kind is model-driven.
_Creator = Callable[[ControlPlane, str, tuple[str, ...], int, datetime | None, timedelta, str], list[str]]
_LIST_METHOD_OF: dict[type, str] = {
    ModelImportJob: "list_model_import_jobs",
    ModelCopyJob: "list_model_copy_jobs",
    ImportJob: "list_import_jobs",
}
_HAND_WRITTEN: dict[str, _Creator] = {
    "list_model_import_jobs": lambda plane, region, scope, count, start, interval, status: (
        plane.bulk_create_model_import_jobs(region, count, start=start, interval=interval, status=status)
    ),
    "list_model_copy_jobs": lambda plane, region, scope, count, start, interval, status: (
        plane.bulk_create_model_copy_jobs(region, count, start=start, interval=interval, status=status)
    ),
    "list_import_jobs": lambda plane, region, scope, count, start, interval, status: (
        plane.bulk_create_import_jobs(region, scope[0], count, start=start, interval=interval, status=status)
    ),
}
