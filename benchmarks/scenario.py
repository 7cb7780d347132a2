"""Builds one benchmark scenario in a World: a job history, jobs in flight, and per-cycle changes.

Sizes are totals across the three job APIs, split evenly (Q in Connect: one knowledge base):

- history: finished jobs created 90 to 4 days ago, far behind the checkpoint; their job items are
  also in the auditor's table (as after months of operation) and in the naive poller's;
- in flight: jobs created in the last 20 hours (inside the first run's 24 h look-back), InProgress;
- per cycle, `transitions` changes: the oldest in-flight jobs finish (one in ten fails) and as many
  new in-flight jobs start, and the rest of the count are short jobs that started and finished
  between two runs. The number in flight stays constant; each change is exactly one transition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from auditor.adapters.state_codec import job_item
from auditor.domain.jobs import JOB_KINDS, JobState, Source
from benchmarks.naive import NAIVE_TABLE
from benchmarks.naive import table_definition as naive_table
from simulator.records import to_micros
from simulator.world import ACCOUNT, REGION, TABLE, World

KINDS = ("bedrock-model-import", "bedrock-model-copy", "qconnect-import")
TERMINAL = {
    "bedrock-model-import": "Completed",
    "bedrock-model-copy": "Completed",
    "qconnect-import": "COMPLETE",
}
FAILED = {"bedrock-model-import": "Failed", "bedrock-model-copy": "Failed", "qconnect-import": "FAILED"}
RUNNING = {
    "bedrock-model-import": "InProgress",
    "bedrock-model-copy": "InProgress",
    "qconnect-import": "START_IN_PROGRESS",
}
PAGE = {"bedrock-model-import": 1000, "bedrock-model-copy": 1000, "qconnect-import": 100}
LIST_OP = {
    "bedrock-model-import": "bedrock.ListModelImportJobs",
    "bedrock-model-copy": "bedrock.ListModelCopyJobs",
    "qconnect-import": "qconnect.ListImportJobs",
}


def split(total: int) -> list[int]:
    """`total` over the three kinds, the remainder to the first ones."""
    base, extra = divmod(total, len(KINDS))
    return [base + (1 if i < extra else 0) for i in range(len(KINDS))]


@dataclass
class Scenario:
    history: int
    in_flight: int
    transitions: int
    naive: bool = False
    kb: str = ""
    # Per kind: ids of the jobs still in flight, oldest first.
    running: dict[str, list[str]] = field(default_factory=dict)
    failed_this_cycle: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"h{self.history}-f{self.in_flight}-t{self.transitions}"

    # -- setup ----------------------------------------------------------------------------------
    def _create(
        self, w: World, kind: str, count: int, start: datetime, span: timedelta, status: str
    ) -> list[str]:
        if count <= 0:
            return []
        interval = span / count
        plane = w.plane
        if kind == "bedrock-model-import":
            return plane.bulk_create_model_import_jobs(
                REGION, count, start=start, interval=interval, status=status
            )
        if kind == "bedrock-model-copy":
            return plane.bulk_create_model_copy_jobs(
                REGION, count, start=start, interval=interval, status=status
            )
        return plane.bulk_create_import_jobs(
            REGION, self.kb, count, start=start, interval=interval, status=status
        )

    def setup(self, w: World) -> None:
        """Jobs in the simulator; history job items in both state tables (written straight into moto's
        backend: seeding is not what is measured)."""
        now = w.now()
        self.kb = w.plane.create_knowledge_base(REGION, "bench-kb")
        w.dynamodb.create_table(**naive_table())
        history_ids: dict[str, list[str]] = {}
        for kind, h, f in zip(KINDS, split(self.history), split(self.in_flight), strict=True):
            history_ids[kind] = self._create(
                w, kind, h, now - timedelta(days=90), timedelta(days=86), TERMINAL[kind]
            )
            self.running[kind] = self._create(
                w, kind, f, now - timedelta(hours=20), timedelta(hours=19), RUNNING[kind]
            )
        self._seed_tables(w, history_ids)

    def _seed_tables(self, w: World, history_ids: dict[str, list[str]]) -> None:
        from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

        backend = dynamodb_backends[ACCOUNT][REGION]
        now = w.now()
        for kind, ids in history_ids.items():
            source = Source(ACCOUNT, REGION, JOB_KINDS[kind], (self.kb,) if JOB_KINDS[kind].discovery else ())
            for job_id in ids:
                job: Any = w.plane.get_job(job_id)
                created = getattr(job, "creation_time", None) or job.created_time
                name = getattr(job, "name", None) or getattr(job, "target_model_name", None) or job_id
                state = JobState(
                    job_id, job.status, created, 1, name=name, arn=job_id if "arn:" in job_id else None
                )
                backend.put_item(TABLE, job_item(source, state, now))
                if self.naive:
                    backend.put_item(NAIVE_TABLE, {"jobId": {"S": job_id}, "status": {"S": job.status}})
        if self.naive:
            for ids in self.running.values():
                for job_id in ids:
                    status = w.plane.get_job(job_id).status
                    backend.put_item(NAIVE_TABLE, {"jobId": {"S": job_id}, "status": {"S": status}})

    # -- one cycle's changes --------------------------------------------------------------------
    def mutate(self, w: World, cycle: int) -> None:
        """Apply this cycle's transitions (created in the 4 minutes before now)."""
        now = w.now()
        self.failed_this_cycle = {}
        for kind, t in zip(KINDS, split(self.transitions), strict=True):
            running = self.running[kind]
            finish = min(t // 2, len(running))
            done, self.running[kind] = running[:finish], running[finish:]
            failed = 0
            for i, job_id in enumerate(done):
                if (i + cycle) % 10 == 0:
                    w.plane.set_status(job_id, FAILED[kind], "Simulated failure for the benchmark.")
                    failed += 1
                else:
                    w.plane.set_status(job_id, TERMINAL[kind])
            self.failed_this_cycle[kind] = failed
            start = now - timedelta(minutes=4)
            self.running[kind] += self._create(w, kind, finish, start, timedelta(minutes=2), RUNNING[kind])
            self._create(
                w, kind, t - 2 * finish, start + timedelta(minutes=2), timedelta(minutes=1), TERMINAL[kind]
            )

    # -- lower bounds ---------------------------------------------------------------------------
    def jobs_after(self, w: World, kind: str, after: datetime) -> int:
        """Jobs the API returns for `creationTimeAfter=after` (strictly after, as the simulator does)."""
        state = w.plane.region(REGION)
        micros = to_micros(after)
        if kind == "qconnect-import":
            jobs = state.kb_jobs[self.kb].values
            return sum(1 for j in jobs if to_micros(j.created_time) > micros)
        index = state.import_jobs if kind == "bedrock-model-import" else state.copy_jobs
        return len(index) - index.bisect_right((micros, 1 << 62))

    def total_jobs(self, w: World, kind: str) -> int:
        state = w.plane.region(REGION)
        if kind == "qconnect-import":
            return len(state.kb_jobs[self.kb])
        return len(state.import_jobs if kind == "bedrock-model-import" else state.copy_jobs)

    def list_bounds(self, w: World, summary: dict[str, Any]) -> dict[str, dict[str, int]]:
        """Per job kind: jobs in the window and the list-call bounds.

        `windowBound` = ceil(jobs in window / page size) (at least one call); `apiBound` is what the
        API allows: the same for Bedrock (creationTimeAfter), ceil(all jobs / 100) for Q in Connect,
        whose ListImportJobs has no time filter or sort order."""
        out: dict[str, dict[str, int]] = {}
        for source in summary["sources"]:
            kind = source["job_kind"]
            start = datetime.fromisoformat(source["window_start"].replace("Z", "+00:00"))
            in_window = self.jobs_after(w, kind, start)
            window_bound = max(1, math.ceil(in_window / PAGE[kind]))
            api_bound = window_bound
            if kind == "qconnect-import":
                api_bound = max(1, math.ceil(self.total_jobs(w, kind) / PAGE[kind]))
            out[kind] = {
                "jobsInWindow": in_window,
                "windowBound": window_bound,
                "apiBound": api_bound,
                "pages": int(source["pages"]),
            }
        return out
