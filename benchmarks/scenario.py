"""Builds one benchmark scenario in a World: a job history, jobs in flight, and per-cycle changes.

The scenario's job kinds are the registry's default kinds (or those passed in); everything it does
per kind is read from the kind's spec. Sizes are totals across the kinds, split evenly; a kind with a
scope gets one of each of its scope's levels (a knowledge base; a knowledge base and a data source):

- history: finished jobs created 90 to 4 days ago, far behind the checkpoint; their job items are
  also in the auditor's table (as after months of operation) and in the naive poller's;
- in flight: jobs created in the last 20 hours (inside the first run's 24 h look-back), in the
  kind's first in-progress status;
- per cycle, `transitions` changes: the oldest in-flight jobs finish (one in ten fails) and as many
  new in-flight jobs start, and the rest of the count are short jobs that started and finished
  between two runs. The number in flight stays constant; each change is exactly one transition.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
import botocore
import botocore.session
from botocore.client import BaseClient
from botocore.model import ServiceModel

from benchmarks.naive import NAIVE_TABLE
from benchmarks.naive import table_definition as naive_table
from job_auditor.auditor.adapters.clients import named_client
from job_auditor.auditor.adapters.job_api import BotoJobApi
from job_auditor.auditor.adapters.state_codec import job_item
from job_auditor.auditor.domain.jobs import JOB_KINDS, JobKindSpec, JobState, ObservedJob, Source
from job_auditor.contract.kinds import DiscoveryStep, StatusCategory, default_kind_ids
from simulator import ControlPlane
from simulator.world import ACCOUNT, REGION, TABLE, World


@functools.cache
def _service_model(client: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(client)


@functools.cache
def operation_label(client: str, method: str) -> str:
    """An SDK method as the meter counts it: `<service>.<Operation>` (e.g. bedrock.ListModelImportJobs),
    the operation found in botocore's service model by its snake-case method name."""
    model = _service_model(client)
    for operation in model.operation_names:
        if botocore.xform_name(operation) == method:
            return f"{model.service_name}.{operation}"
    raise LookupError(f"{client} has no operation for the method {method!r}")


def _first_status(spec: JobKindSpec, category: StatusCategory) -> str:
    """The first status of a category in the spec's order (e.g. the status a success reports)."""
    for status, meaning in spec.statuses.items():
        if meaning is category:
            return status
    raise LookupError(f"{spec.id} has no {category} status")


@dataclass(frozen=True)
class KindPlan:
    """What the scenario does with one kind, all of it read from the kind's spec."""

    spec: JobKindSpec
    terminal: str
    failed: str
    running: str
    list_op: str
    get_op: str

    @classmethod
    def of(cls, spec: JobKindSpec) -> KindPlan:
        return cls(
            spec=spec,
            terminal=_first_status(spec, StatusCategory.SUCCEEDED),
            failed=_first_status(spec, StatusCategory.FAILED),
            running=_first_status(spec, StatusCategory.IN_PROGRESS),
            list_op=operation_label(spec.client, spec.list_method),
            get_op=operation_label(spec.client, spec.get_method),
        )

    @property
    def page(self) -> int:
        return self.spec.max_page_size

    @property
    def gets_failures(self) -> bool:
        """Whether a failed job is fetched once with Get (the list omits its failure)."""
        return not self.spec.failure_in_list and self.spec.failure_field is not None

    def discovery_ops(self) -> tuple[str, ...]:
        return tuple(operation_label(step.client, step.list_method) for step in self.spec.discovery)


# How a kind's window listing is bounded: its name (for tables and plots) and the rule.
LISTING_CLASSES = {
    "time-filtered kinds": "ceil(jobs in window / page)",
    "newest-first kinds": "pages until one ends before the window: in window // page + 1",
    "unfiltered kinds (API bound)": "ceil(all jobs / page)",
}


def listing_class(spec: JobKindSpec) -> str:
    """The key of LISTING_CLASSES that bounds a kind's listing (`window_calls`)."""
    if spec.time_filter_param:
        return "time-filtered kinds"
    if spec.newest_first:
        return "newest-first kinds"
    return "unfiltered kinds (API bound)"


def window_calls(spec: JobKindSpec, in_window: int, total: int) -> int:
    """List calls one listing from a window start needs, as the auditor pages (job_api.list_jobs):
    with a time filter, the window's pages; newest first, pages until one ends before the window (so
    one more than the window's full pages when older jobs exist); otherwise every page of every job."""
    page = spec.max_page_size
    if spec.time_filter_param:
        return max(1, math.ceil(in_window / page))
    if spec.newest_first:
        return in_window // page + 1 if total > in_window else max(1, math.ceil(in_window / page))
    return max(1, math.ceil(total / page))


def _create_scope(plane: ControlPlane, steps: Sequence[DiscoveryStep]) -> tuple[str, ...]:
    """One resource per level of a scope (a knowledge base, then a data source in it); their ids."""
    ids: list[str] = []
    for step in steps:
        name, parents = "bench-" + step.noun.replace(" ", "-"), tuple(ids)
        resource = plane.create_scope_resource(
            step.client, step.list_method, REGION, parent_ids=parents, name=name
        )
        ids.append(resource)
    return tuple(ids)


def _recorded(job: ObservedJob) -> JobState:
    """What the auditor keeps about a job it discovered long ago (its first and only sequence)."""
    return JobState(
        job.job_id,
        job.status,
        job.created_at,
        1,
        name=job.name,
        arn=job.arn,
        last_modified_at=job.last_modified_at,
        ended_at=job.ended_at,
        failure_message=job.failure_message,
        details=job.details,
        status_since=job.last_modified_at or job.created_at,
    )


@dataclass
class Scenario:
    history: int
    in_flight: int
    transitions: int
    naive: bool = False
    kinds: tuple[str, ...] = field(default_factory=default_kind_ids)
    # Per kind: its plan, and its scope ids once set up.
    plans: dict[str, KindPlan] = field(init=False)
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Per kind: ids of the jobs still in flight, oldest first.
    running: dict[str, list[str]] = field(default_factory=dict)
    failed_this_cycle: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        self.plans = {kind: KindPlan.of(JOB_KINDS[kind]) for kind in self.kinds}

    @property
    def name(self) -> str:
        return f"h{self.history}-f{self.in_flight}-t{self.transitions}"

    @property
    def env(self) -> dict[str, str]:
        """The Lambda's environment for auditing exactly this scenario's kinds."""
        return {"JOB_KINDS": ",".join(self.kinds)}

    def split(self, total: int) -> list[int]:
        """`total` over the kinds, the remainder to the first ones."""
        base, extra = divmod(total, len(self.kinds))
        return [base + (1 if i < extra else 0) for i in range(len(self.kinds))]

    # -- setup ----------------------------------------------------------------------------------
    def _create(
        self, w: World, kind: str, count: int, start: datetime, span: timedelta, status: str
    ) -> list[str]:
        if count <= 0:
            return []
        return w.plane.bulk_create_jobs(
            self.plans[kind].spec,
            REGION,
            count,
            scope_ids=self.scopes[kind],
            start=start,
            interval=span / count,
            status=status,
        )

    def setup(self, w: World) -> None:
        """Jobs in the simulator; their job items in the state tables (written straight into moto's
        backend: seeding is not what is measured)."""
        now = w.now()
        by_discovery: dict[tuple[tuple[str, str], ...], tuple[str, ...]] = {}
        for kind, plan in self.plans.items():
            steps = plan.spec.discovery
            key = tuple((step.client, step.list_method) for step in steps)
            if key not in by_discovery:
                by_discovery[key] = _create_scope(w.plane, steps)
            self.scopes[kind] = by_discovery[key]
        w.dynamodb.create_table(**naive_table())
        for kind, h, f in zip(self.kinds, self.split(self.history), self.split(self.in_flight), strict=True):
            plan = self.plans[kind]
            self._create(w, kind, h, now - timedelta(days=90), timedelta(days=86), plan.terminal)
            self.running[kind] = self._create(
                w, kind, f, now - timedelta(hours=20), timedelta(hours=19), plan.running
            )
        self._seed_tables(w)

    def _seed_tables(self, w: World) -> None:
        """Every job as the kind's list returns it (read with the auditor's own lister): the finished
        ones into the auditor's table, every one into the naive poller's."""
        from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

        backend = dynamodb_backends[ACCOUNT][REGION]
        now = w.now()
        clients: dict[str, BaseClient] = {}
        session = boto3.session.Session()

        def client(name: str, region: str) -> BaseClient:
            if name not in clients:
                clients[name] = named_client(session, name, region_name=region)
            return clients[name]

        api = BotoJobApi(client)
        for kind, plan in self.plans.items():
            source = Source(ACCOUNT, REGION, plan.spec, self.scopes[kind])
            for job in api.list_jobs(source, None).jobs:
                if plan.spec.is_terminal(job.status):
                    backend.put_item(TABLE, job_item(source, _recorded(job), now))
                if self.naive:
                    backend.put_item(NAIVE_TABLE, {"jobId": {"S": job.job_id}, "status": {"S": job.status}})

    # -- one cycle's changes --------------------------------------------------------------------
    def mutate(self, w: World, cycle: int) -> None:
        """Apply this cycle's transitions (created in the 4 minutes before now)."""
        now = w.now()
        self.failed_this_cycle = {}
        for kind, t in zip(self.kinds, self.split(self.transitions), strict=True):
            plan = self.plans[kind]
            running = self.running[kind]
            finish = min(t // 2, len(running))
            done, self.running[kind] = running[:finish], running[finish:]
            failed = 0
            for i, job_id in enumerate(done):
                if (i + cycle) % 10 == 0:
                    w.plane.set_status(job_id, plan.failed, "Simulated failure for the benchmark.")
                    failed += 1
                else:
                    w.plane.set_status(job_id, plan.terminal)
            self.failed_this_cycle[kind] = failed
            start = now - timedelta(minutes=4)
            self.running[kind] += self._create(w, kind, finish, start, timedelta(minutes=2), plan.running)
            self._create(
                w, kind, t - 2 * finish, start + timedelta(minutes=2), timedelta(minutes=1), plan.terminal
            )

    # -- lower bounds ---------------------------------------------------------------------------
    def failed_gets(self) -> int:
        """Get calls this cycle's failures need: one per failed job of a kind whose list omits it."""
        return sum(n for kind, n in self.failed_this_cycle.items() if self.plans[kind].gets_failures)

    def discovery_bound(self) -> int:
        """Scope list calls per run: each kind lists each level of its scope once per parent (one
        resource per level here, one page)."""
        return sum(len(plan.spec.discovery) for plan in self.plans.values())

    def discovered_scopes(self) -> int:
        """Scopes the planner discovers per run (one account and region, each kind with discovery),
        each with one read of its mark (audited before?)."""
        return sum(1 for plan in self.plans.values() if plan.spec.discovery)

    def discovery_ops(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(op for plan in self.plans.values() for op in plan.discovery_ops()))

    def _status_calls(self, w: World, kind: str, before: datetime | None) -> int:
        """The sweep's status-filtered lists (SourceAuditor._list): one listing per in-progress status,
        created before the sweep's start where the API takes that filter, every page of it."""
        plan = self.plans[kind]
        spec = plan.spec
        if spec.status_filter_param is None or not (spec.time_filter_param or spec.newest_first):
            return 0
        cutoff = before if spec.time_filter_before_param else None
        calls = 0
        for status in spec.in_progress_statuses:
            jobs = self.running[kind] if status == plan.running else []
            n = sum(1 for j in jobs if cutoff is None or w.plane.creation_time(j) < cutoff)
            calls += max(1, math.ceil(n / plan.page))
        return calls

    def list_bounds(self, w: World, summary: dict[str, Any]) -> dict[str, dict[str, int]]:
        """Per job kind: jobs in the window and the list-call bounds.

        `windowBound` = ceil(jobs in window / page size) (at least one call); `apiBound` is what the
        API allows (`window_calls`), plus, in a sweep, the listing of each in-progress status."""
        out: dict[str, dict[str, int]] = {}
        for source in summary["sources"]:
            kind = source["job_kind"]
            spec = self.plans[kind].spec
            start = datetime.fromisoformat(source["window_start"].replace("Z", "+00:00"))
            scope = self.scopes[kind]
            in_window = w.plane.count_jobs(spec, REGION, scope_ids=scope, created_after=start)
            total = w.plane.count_jobs(spec, REGION, scope_ids=scope)
            api_bound = window_calls(spec, in_window, total)
            if source.get("reconciled"):
                api_bound += self._status_calls(w, kind, start)
            out[kind] = {
                "jobsInWindow": in_window,
                "windowBound": max(1, math.ceil(in_window / spec.max_page_size)),
                "apiBound": api_bound,
                "pages": int(source["pages"]),
            }
        return out
