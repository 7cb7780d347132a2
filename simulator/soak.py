"""The soak: many scheduled cycles of the real handler under seeded faults, checked by an oracle.

    python -m simulator.soak --cycles 1000 --seed 7

Each cycle moves the world's clock (about five minutes, now and then hours), creates jobs of every
kind and moves jobs along at random (sometimes several steps between two runs, sometimes through a
status the auditor does not know), then invokes the handler with faults:

* job APIs (simulator fault plan): ThrottlingException ~10% and InternalServerException ~5% of calls,
  which the SDK's adaptive retries absorb, plus now and then a source denied or throttled beyond the
  retries for one cycle;
* EventBridge PutEvents partial failures ~10% and total failures, SNS errors, DynamoDB throttles
  (retried) and throttles out of retries, spurious conditional-check failures on re-claims
  (`simulator.aws_faults`);
* crashes ~2% of invocations, at a random call or at a named point (between publish and commit in
  particular), Lambda timeouts under a virtual clock, and overlapping invocations now and then;
* channel outages of any length (`SoakConfig.channel_outages`): the bus down for 25 minutes, the
  notification topic refused by a broken key policy for 3 hours while the bus is up, the bus denied
  for 30 hours (longer than the 24-hour retry time: parked, then re-driven once it is back; the
  schedule's runs are two hours apart while it lasts, so a short soak covers it), the chat topic
  throttled for an hour, the bus deleted and recreated 40 minutes later. Each outage refuses at
  least one call: one the traffic did not meet in its length lasts until it does.

The SDK's retry back-off is recorded, not slept (`virtual back-off` in the figures), so 1,000 cycles
run in minutes. At the end, faults are switched off, the clock passes the claim lease, the handler
runs twice more, and the oracle (`simulator.oracle`) checks the promises. Exit status 1 on a violation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from job_auditor.auditor.domain.sweep import RETRY_CAP_PERIODS
from job_auditor.contract.discovery import CLOUDTRAIL, DISCOVERY_MODES, LISTING, announced_kinds
from job_auditor.contract.kinds import JOB_KINDS, DiscoveryStep, JobKindSpec, StatusCategory, kind_ids
from job_auditor.contract.state_schema import (
    AUDIT_PK,
    HISTORY_PREFIX,
    PARKED_PK,
    SOURCE_PREFIX,
    SWEEP_SK,
    source_partition,
)
from simulator.aws_faults import CRASH_POINTS, AwsFaultInjector, AwsFaultRates, SimulatedCrash
from simulator.faults import FaultPlan
from simulator.mutators import ResponseMutator, Rule
from simulator.oracle import ParkedChannels, Truth, Verdict
from simulator.state import MODEL_COPY, MODEL_IMPORT, QCONNECT_IMPORT
from simulator.world import (
    ACCOUNT,
    CHAT_TOPIC,
    DEFAULT_START,
    REGION,
    TABLE,
    FakeLambdaContext,
    MotoServer,
    World,
)

if TYPE_CHECKING:
    from job_auditor.auditor.adapters.clients import ClientFactory

ROOT = Path(__file__).resolve().parent.parent

BEDROCK_NEXT = {"InProgress": ("Completed", "Completed", "Failed", "Stopping"), "Stopping": ("Failed",)}
QCONNECT_NEXT = {
    "START_IN_PROGRESS": ("COMPLETE", "COMPLETE", "FAILED", "DELETE_IN_PROGRESS"),
    "DELETE_IN_PROGRESS": ("DELETED", "DELETE_FAILED"),
}
# The longest the clean runs at the end wait for every source's sweep: the longest back-off after failed
# sweeps (RETRY_CAP_PERIODS hourly sweep periods), a lease, and two periods to make it.
FINISH_LIMIT = timedelta(hours=RETRY_CAP_PERIODS + 3)
# The kinds with a family of their own in the workload (their own creators and status walks above), by
# the operations that list them.
FAMILY_KINDS = (MODEL_IMPORT, MODEL_COPY, QCONNECT_IMPORT)


def other_kinds() -> list[JobKindSpec]:
    """The registered kinds of the "modeled" family: every kind without a family of its own."""
    return [spec for spec in JOB_KINDS.values() if (spec.client, spec.list_method) not in FAMILY_KINDS]


@dataclass
class SoakConfig:
    cycles: int = 1000
    seed: int = 1
    interval: timedelta = timedelta(minutes=5)
    api_throttle: float = 0.10
    api_internal_error: float = 0.05
    put_events_partial: float = 0.10
    put_events_error: float = 0.02
    sns_error: float = 0.02
    sns_partial: float = 0.02
    dynamodb_throttle: float = 0.05
    dynamodb_error: float = 0.005
    dynamodb_conditional: float = 0.02
    crash: float = 0.02
    timeout: float = 0.01
    overlap: float = 0.03
    source_outage: float = 0.02
    new_jobs_per_cycle: float = 0.8
    progress: float = 0.3
    # Per cycle: an ended Q in Connect job is deleted (seen by the reconciliation sweep only, once the
    # window has moved past its creation).
    delete_ended: float = 0.05
    # Per new job: its list operation leaves it out for 10 to 50 minutes, far past the overlap (5).
    list_lag: float = 0.05
    # Per cycle: a Bedrock job in flight vanishes from the API (announced as disappeared).
    vanish: float = 0.01
    # Per cycle: the API loses a job it has recorded in flight, for `lose_minutes` (lists and Get answer
    # as for no job: announced as disappeared after three runs), then answers for it again; it may
    # move on, and end, meanwhile: announced once it is back.
    lose: float = 0.01
    lose_minutes: tuple[float, float] = (20, 6 * 60)
    # At this fraction of the cycles a job is created whose events EventBridge always refuses (parked).
    poison_at: float = 0.25
    # At this fraction of the cycles a Q in Connect knowledge base is deleted with its jobs (those in
    # flight announced as disappeared: scope deleted); from this one on, for `kind_out_cycles` cycles,
    # a kind is out of JOB_KINDS (its jobs in flight followed with Get, the new ones found when it is
    # back).
    delete_kb_at: float = 0.6
    kind_out_at: float = 0.45
    kind_out_cycles: int = 20
    # (fraction of the cycles, channel, hours, error code): every call to that channel fails for that
    # long from then on. Runs are two hours apart while an outage longer than LONG_OUTAGE lasts.
    channel_outages: tuple[tuple[float, str, float, str], ...] = (
        (0.10, "eventbridge", 25 / 60, "InternalFailure"),
        (0.30, "sns", 3, "KMSAccessDenied"),
        (0.50, "eventbridge", 30, "AccessDeniedException"),
        (0.70, "chat", 1, "ThrottlingException"),
        (0.85, "eventbridge", 40 / 60, "ResourceNotFoundException"),
    )

    # discovery=cloudtrail: job starts are announced through the queue, and this fraction of the start
    # events is lost (CloudTrail delivers on a best-effort basis): the sweep must find those jobs.
    discovery: str = LISTING
    lost_starts: float = 0.05


# An outage longer than this is run through with the schedule's runs two hours apart.
LONG_OUTAGE = timedelta(hours=6)


@dataclass
class SoakReport:
    config: SoakConfig
    verdict: Verdict
    faults: Counter[str] = field(default_factory=Counter)
    runs: Counter[str] = field(default_factory=Counter)
    virtual_backoff_seconds: float = 0.0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"soak: seed {self.config.seed}, {self.config.cycles} cycles, {self.seconds:.0f} s",
            "invocations: " + ", ".join(f"{k} {v}" for k, v in sorted(self.runs.items())),
            "faults injected:",
            *(f"  {k:<34} {v}" for k, v in sorted(self.faults.items())),
            f"SDK retry and rate-limit waits (recorded, not waited): {self.virtual_backoff_seconds:.0f} s",
            "oracle:",
            *(f"  {k:<34} {v}" for k, v in self.verdict.figures.items()),
        ]
        if self.verdict.violations:
            out.append(f"VIOLATIONS ({len(self.verdict.violations)}):")
            out.extend(f"  {v}" for v in self.verdict.violations[:50])
        else:
            out.append("oracle: every promise held")
        return out


class _VirtualSleep:
    """Stands in for the `time` module inside botocore.endpoint: retry sleeps are added up, not slept."""

    def __init__(self) -> None:
        self.total = 0.0

    def sleep(self, seconds: float) -> None:
        self.total += seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _virtual_token_bucket(sleeper: _VirtualSleep) -> Any:
    """botocore's adaptive-mode TokenBucket._acquire, with its wait for capacity recorded, not waited."""

    def _acquire(bucket: Any, amount: float, block: bool) -> bool:
        bucket._refill()
        if amount > bucket._current_capacity:
            sleeper.sleep(bucket._sleep_amount(amount))
            bucket._current_capacity = amount  # what the wait would have refilled
        bucket._current_capacity -= amount
        return True

    return _acquire


def _string_for_a_summary(key: str) -> Callable[[Any, Any, Any], Any]:
    """A response mutation: a string first in the page's `key` list, where an object belongs."""

    def mutate(query: Any, body: Any, rng: Any) -> Any:
        body.setdefault(key, []).insert(0, "not-an-object")
        return body

    return mutate


class _BudgetContext(FakeLambdaContext):
    """A Lambda context whose remaining time follows the injector's virtual clock."""

    injector: AwsFaultInjector | None = None

    def get_remaining_time_in_millis(self) -> int:
        assert self.injector is not None
        return self.injector.remaining_ms()


class Soak:
    """One soak: a world, a workload, faults, the oracle."""

    def __init__(self, world: World, config: SoakConfig) -> None:
        self.w = world
        self.cfg = config
        self.rng = random.Random(config.seed)  # noqa: S311 - a reproducible workload
        self.truth = Truth()
        self.events: list[dict[str, Any]] = []
        self.runs: Counter[str] = Counter()
        self.kbs: list[str] = []
        # The other kinds' scopes (knowledge base, data source), by kind id.
        self.scopes: dict[str, list[tuple[str, ...]]] = {}
        self.live: dict[str, tuple[str, str]] = {}  # job id -> (family, status), jobs not yet terminal
        self.ended_qconnect: list[str] = []  # Q in Connect jobs that ended: candidates for a late delete
        self._names = 0
        self.injector = AwsFaultInjector(
            seed=config.seed,
            rates=AwsFaultRates(
                put_events_partial=config.put_events_partial,
                put_events_error=config.put_events_error,
                sns_error=config.sns_error,
                sns_partial=config.sns_partial,
                dynamodb_throttle=config.dynamodb_throttle,
                dynamodb_error=config.dynamodb_error,
                dynamodb_conditional=config.dynamodb_conditional,
            ),
        )
        self.outages: Counter[str] = Counter()
        self._outages_armed = 0
        # The channel outages alone (shared with `injector`), for overlapping invocations.
        self._outages_only = AwsFaultInjector(seed=config.seed)
        self._outages_only.channel_outages = self.injector.channel_outages
        self._outages_only.outage_refusals = self.injector.outage_refusals
        self._outages_only.topic_channels = self.injector.topic_channels
        # Channel -> eventIds its consumer received (the bus's are in `events`).
        self.notified: dict[str, list[str]] = {"sns": [], "chat": []}
        self._chat_queue = ""
        self._long_outage_until: datetime | None = None
        if world.announcer is not None:
            world.announcer.lose = self._lose_start_event(random.Random(config.seed + 1))  # noqa: S311
        # The jobs the API loses are drawn apart: the rest of the workload is the seed's as before.
        self._lose_rng = random.Random(config.seed + 2)  # noqa: S311

    def _lose_start_event(self, rng: random.Random) -> Callable[[str], bool]:
        def lose(_job_id: str) -> bool:
            lost = rng.random() < self.cfg.lost_starts
            self.outages["Start event lost (cloudtrail)"] += lost
            return lost

        return lose

    # -- workload ---------------------------------------------------------------------------------
    def _source_key(self, job_id: str) -> str:
        spec, scope = self.w.plane.source_of(job_id)
        return "/".join([ACCOUNT, REGION, spec.id, *scope])

    def _create_job(self, terminal: bool = False) -> None:
        plane = self.w.plane
        family = self.rng.choice(("import", "copy", "qconnect", "modeled"))
        self._names += 1
        if family == "modeled":
            job_id, status = self._create_modeled_job(terminal)
        elif family == "qconnect":
            kb = self.rng.choice(self.kbs)
            status = self.rng.choice(("COMPLETE", "FAILED")) if terminal else "START_IN_PROGRESS"
            job_id = plane.create_import_job(REGION, kb, status=status)
        elif family == "import":
            status = self.rng.choice(("Completed", "Failed")) if terminal else "InProgress"
            job_id = plane.create_model_import_job(REGION, f"soak-import-{self._names}", status=status)
        else:
            status = self.rng.choice(("Completed", "Failed")) if terminal else "InProgress"
            job_id = plane.create_model_copy_job(REGION, f"soak-copy-{self._names}", status=status)
        when = plane.creation_time(job_id)
        lagging = self.rng.random() < self.cfg.list_lag
        if lagging:
            plane.hide_from_lists(job_id, when + timedelta(minutes=self.rng.uniform(10, 50)))
            self.outages["Listed late, past the overlap (sweep)"] += 1
        self.truth.created(job_id, self._source_key(job_id), when, status, lagging=lagging)
        if self._next_statuses(family, job_id, status):
            self.live[job_id] = (family, status)

    def _create_modeled_job(self, terminal: bool) -> tuple[str, str]:
        """A job of one of the other registered kinds, in one of its scopes."""
        spec = self.rng.choice(other_kinds())
        scope = self.rng.choice(self.scopes[spec.id]) if spec.discovery else ()
        running = [s for s, c in spec.statuses.items() if c is StatusCategory.IN_PROGRESS]
        ended = [
            s for s in spec.statuses if spec.is_terminal(s) and spec.category(s) is not StatusCategory.DELETED
        ]
        status = self.rng.choice(ended if terminal else running)
        return self.w.plane.create_job(spec, REGION, scope_ids=scope, status=status), status

    def _next_statuses(self, family: str, job_id: str, status: str) -> tuple[str, ...]:
        """Where a job may go from `status` (empty: it has ended). The other kinds follow their
        categories: running to any other running status or an outcome (success twice as likely), and
        stopping only to an outcome."""
        if family != "modeled":
            return (QCONNECT_NEXT if family == "qconnect" else BEDROCK_NEXT).get(status, ())
        spec, _ = self.w.plane.source_of(job_id)
        category = spec.category(status)
        if category not in (StatusCategory.IN_PROGRESS, StatusCategory.STOPPING):
            return ()
        outcomes = [
            s for s in spec.statuses if spec.is_terminal(s) and spec.category(s) is not StatusCategory.DELETED
        ]
        outcomes += [s for s in outcomes if spec.category(s) is StatusCategory.SUCCEEDED]
        if category is StatusCategory.STOPPING:
            return tuple(outcomes)
        return tuple(outcomes) + tuple(s for s in spec.in_progress_statuses if s != status)

    def _progress(self, job_id: str) -> None:
        family, status = self.live[job_id]
        new = self.rng.choice(self._next_statuses(family, job_id, status))
        failure = None
        if new in ("Failed", "FAILED") and self.rng.random() < 0.2:
            # Long messages are cut in events; the other kinds' failures stay within what their
            # models allow (ingestion failure reasons at most 2,048 characters each).
            lengths = (10, 2000) if family == "modeled" else (10, 5000, 20_000)
            failure = "x" * self.rng.choice(lengths)
        self.w.plane.set_status(job_id, new, failure)
        self.truth.changed(job_id, self.w.plane.clock.now(), new)
        if self._next_statuses(family, job_id, new):
            self.live[job_id] = (family, new)
        else:
            del self.live[job_id]
            if family == "qconnect" and new in ("COMPLETE", "FAILED"):
                self.ended_qconnect.append(job_id)

    def _delete_an_ended_job(self) -> None:
        job_id = self.ended_qconnect.pop(self.rng.randrange(len(self.ended_qconnect)))
        self.w.plane.set_status(job_id, "DELETE_IN_PROGRESS")
        self.truth.changed(job_id, self.w.plane.clock.now(), "DELETE_IN_PROGRESS")
        self.live[job_id] = ("qconnect", "DELETE_IN_PROGRESS")
        self.outages["Ended job deleted later (sweep)"] += 1

    def _step_world(self) -> None:
        """Between two runs: time passes, jobs appear and move on."""
        gap = self.cfg.interval + timedelta(seconds=self.rng.uniform(-30, 30))
        if self.rng.random() < 0.01:
            gap = timedelta(hours=self.rng.uniform(1, 4))  # the schedule skipped for a while
        if self._long_outage_until is not None and self.w.now() < self._long_outage_until:
            gap = timedelta(hours=2)  # through a long channel outage in a few runs
        parts = self.rng.randint(1, 3)
        for _ in range(parts):
            self.w.advance(gap / parts)
            for _ in range(self._poisson(self.cfg.new_jobs_per_cycle / parts)):
                self._create_job(terminal=self.rng.random() < 0.1)
            for job_id in list(self.live):
                if self.rng.random() < self.cfg.progress / parts:
                    self._progress(job_id)
            if self.ended_qconnect and self.rng.random() < self.cfg.delete_ended / parts:
                self._delete_an_ended_job()
            if self.rng.random() < self.cfg.vanish / parts:
                self._vanish_a_job()
            if self._lose_rng.random() < self.cfg.lose / parts:
                self._lose_a_job()

    def _vanish_a_job(self) -> None:
        """A Bedrock job in flight for a couple of runs is gone from list and Get."""
        now = self.w.plane.clock.now()
        known = [
            job_id
            for job_id, (family, _) in self.live.items()
            if family != "qconnect"
            and now - self.truth.jobs[job_id].created_at > timedelta(minutes=10)
            # (one the API lost is not also deleted: each fault's announcements are counted apart)
            and not self.truth.jobs[job_id].lost
        ]
        if not known:
            return
        job_id = self.rng.choice(sorted(known))
        self.w.plane.delete_job(job_id)
        del self.live[job_id]
        self.truth.deleted(job_id, now)
        self.outages["Vanished in flight (disappeared)"] += 1

    def _lose_a_job(self) -> None:
        """A job in flight that the auditor has recorded is lost by its API for a while (lists and Get
        answer as for no job), then found again; it stays live: it may move on, and end, meanwhile."""
        now = self.w.plane.clock.now()
        candidates = sorted(
            job_id
            for job_id in self.live
            if now - self.truth.jobs[job_id].created_at > timedelta(minutes=10)
            and not self.truth.jobs[job_id].lost_at(now)
        )
        if not candidates:
            return
        job_id = self._lose_rng.choice(candidates)
        if not self._recorded(self.truth.jobs[job_id]):
            return
        until = now + timedelta(minutes=self._lose_rng.uniform(*self.cfg.lose_minutes))
        self.w.plane.lose_job(job_id, until)
        self.truth.lose(job_id, now, until)
        self.outages["Lost by the API for a while"] += 1

    def _recorded(self, job: Any) -> bool:
        """Whether DynamoDB holds the job's state."""
        from job_auditor.auditor.adapters.state_codec import job_sk  # noqa: PLC0415

        key = {"pk": {"S": source_partition(job.source_key)}, "sk": {"S": job_sk(job.job_id, job.created_at)}}
        return "Item" in self.w.dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)

    def _poisson(self, mean: float) -> int:
        n, p, limit = 0, 1.0, pow(2.718281828, -mean)
        while True:
            p *= self.rng.random()
            if p < limit:
                return n
            n += 1

    # -- faults per invocation --------------------------------------------------------------------
    def _arm(self, cycle: int) -> tuple[str, FakeLambdaContext]:
        """Choose this invocation's crash, timeout, overlap and source outage; returns its label."""
        inj, rng = self.injector, self.rng
        context = _BudgetContext()
        context.injector = inj
        label = "normal"
        draw = rng.random()
        if draw < self.cfg.crash:
            label = "crashed"
            if rng.random() < 0.5:
                inj.start_invocation()
                inj.crash_at_call(rng.randint(1, 60))
            else:
                inj.start_invocation()
                inj.crash_at(rng.choice(sorted(CRASH_POINTS)), rng.randint(1, 2))
        elif draw < self.cfg.crash + self.cfg.timeout:
            label = "timeout"
            inj.start_invocation(budget_ms=rng.randint(31_000, 70_000))
            inj.virtual_ms_per_call = 2_000
        else:
            inj.start_invocation()
            inj.virtual_ms_per_call = 0
        if rng.random() < self.cfg.overlap:
            self.runs["overlapped"] += 1
            inj.on_call(self._overlap_at(rng.randint(1, 40)))
        if rng.random() < self.cfg.source_outage:
            self._source_outage()
        return label, context

    def _source_outage(self) -> None:
        """One source's outage for one run, each kind in turn (so a short soak meets them all)."""
        faults = self.w.plane.faults
        choice = self._outages_armed % 6
        self._outages_armed += 1
        if choice in (3, 5):
            # Discovery answers a string where a summary belongs: botocore cannot parse it.
            operation, key = ("ListKnowledgeBases", "knowledgeBaseSummaries")
            if choice == 5:
                operation, key = ("ListDataSources", "dataSourceSummaries")
            rule = Rule(operation, _string_for_a_summary(key), remaining=1)
            if self.w.plane.mutator is None:
                self.w.plane.mutator = ResponseMutator(seed=self.cfg.seed)
            self.w.plane.mutator.add(rule)
            label = "knowledge base" if choice == 3 else "data source"
            self.outages[f"Malformed {label} discovery (one run)"] += 1
        elif choice == 0:
            faults.deny(operation="ListModelCopyJobs", times=1)
            self.outages["AccessDenied (one source, one run)"] += 1
        elif choice == 1 and self.kbs:
            # More consecutive throttles than the SDK's 8 attempts: throttled out of retries.
            faults.add_rule(
                "ThrottlingException", operation="ListImportJobs", knowledge_base_id=self.kbs[0], times=8
            )
            self.outages["Throttled out of retries (one source)"] += 1
        elif choice == 4:
            faults.add_rule("ThrottlingException", operation="ListIngestionJobs", times=8)
            self.outages["Throttled out of retries (ingestion sources)"] += 1
        else:
            faults.add_rule("InternalServerException", operation="ListModelImportJobs", times=8)
            self.outages["5xx out of retries (one source)"] += 1

    def _overlap_at(self, call: int) -> Any:
        """An on-call hook that runs a second, overlapping invocation at the given call of the first."""
        count = {"n": 0}

        def hook(_event: str) -> None:
            count["n"] += 1
            if count["n"] != call:
                return
            self.injector.on_call(None)
            self._overlapping_run()

        return hook

    def _overlapping_run(self) -> None:
        from job_auditor.auditor import wiring  # noqa: PLC0415
        from job_auditor.auditor.adapters.clients import ClientFactory  # noqa: PLC0415
        from job_auditor.auditor.settings import load_settings  # noqa: PLC0415

        settings = load_settings()
        # The channel outages hold for every invocation: an overlapping run sees them too.
        clients = ClientFactory(session=self._outages_only.session())
        plan = wiring.plan_run(settings, clients, ACCOUNT)
        wiring.build_audit_step(settings, clients).run(plan)

    # -- the loop ---------------------------------------------------------------------------------
    def setup(self) -> None:
        self._chat_queue = self.w.subscribe_topic(None, "chat-consumer", topic_arn=self.w.chat_topic_arn)
        self.injector.topic_channels[self.w.chat_topic_arn] = "chat"
        plane = self.w.plane
        plane.faults = FaultPlan(seed=self.cfg.seed)
        self.kbs = [plane.create_knowledge_base(REGION, "kb-0")]
        for spec in other_kinds():
            if spec.discovery:
                self.scopes[spec.id] = [self._new_scope(spec.discovery)]
        for _ in range(6):
            self._create_job()
        for _ in range(2):
            self._create_job(terminal=True)

    def invoke(self, label: str, context: FakeLambdaContext, clients: ClientFactory) -> None:
        try:
            result = self.w.run(context=context, clients=clients)
            self.runs[f"{result['status']}" if label == "normal" else f"{label} (survived)"] += 1
            self.runs["parked transitions re-driven"] += int(result.get("redriven", 0))
        except SimulatedCrash:
            self.runs[label] += 1
        self._received()

    def _received(self) -> None:
        """What the bus, the notification topic and the chat topic delivered to their consumers."""
        self.events.extend(self.w.events_received())
        notes = self.w.notifications_received()
        self.notified["sns"] += [str(n["MessageAttributes"]["eventId"]["Value"]) for n in notes]
        self.notified["chat"] += [str(json.loads(m["Message"])["id"]) for m in self.w.drain(self._chat_queue)]

    def _start_outages(self, cycle: int) -> None:
        for at, channel, hours, code in self.cfg.channel_outages:
            if cycle != int(self.cfg.cycles * at):
                continue
            length = timedelta(hours=hours)
            self.injector.start_outage(channel, self.w.now() + length, code)
            if length > LONG_OUTAGE:
                self._long_outage_until = self.w.now() + length
            self.outages[f"Channel outage: {channel} {_length(length)} ({code})"] += 1

    def run(self, progress: bool = False) -> SoakReport:
        from job_auditor.auditor.adapters.clients import ClientFactory  # noqa: PLC0415

        started = time.monotonic()
        sleeper = _VirtualSleep()
        with (
            patch("botocore.endpoint.time", sleeper),
            patch("botocore.retries.bucket.TokenBucket._acquire", _virtual_token_bucket(sleeper)),
        ):
            self.setup()
            session = self.injector.session()  # one session: service models load once
            self._repeated_baseline(session)
            self.w.plane.faults.set_rates(
                throttle=self.cfg.api_throttle, internal_error=self.cfg.api_internal_error
            )
            for cycle in range(1, self.cfg.cycles + 1):
                self._step_world()
                if cycle == self.cfg.cycles // 3:
                    self.kbs.append(self.w.plane.create_knowledge_base(REGION, "kb-late"))
                    self._late_scopes()
                if cycle == int(self.cfg.cycles * self.cfg.poison_at):
                    self._create_poison_job()
                if cycle == int(self.cfg.cycles * self.cfg.delete_kb_at):
                    self._delete_a_knowledge_base()
                self._configure_kinds(cycle)
                self._start_outages(cycle)
                label, context = self._arm(cycle)
                clients = ClientFactory(session=session)  # fresh clients, as after a cold start
                self.invoke(label, context, clients)
                self._check_checkpoints()
                if cycle % 25 == 0:
                    self._expire_history()
                if progress and cycle % 100 == 0:
                    print(f"  cycle {cycle}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
            verdict = self.finish()
        faults: Counter[str] = Counter()
        faults.update({f"job API {k}": v for k, v in self.w.plane.faults.counts.items()})
        faults.update({f"AWS {k}": v for k, v in self.injector.counts.items()})
        faults.update({f"AWS {k}": v for k, v in self._outages_only.counts.items()})
        faults.update(self.outages)
        self.runs["overlapping invocations"] = self.runs.pop("overlapped", 0)
        return SoakReport(
            self.cfg, verdict, faults, self.runs, sleeper.total, seconds=time.monotonic() - started
        )

    def _new_scope(self, steps: Sequence[DiscoveryStep], parents: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A new resource at each level below `parents` (a knowledge base, then its data source)."""
        ids = parents
        for step in steps[len(parents) :]:
            name = f"soak-{step.noun.replace(' ', '-')}-{len(ids)}"
            ids += (
                self.w.plane.create_scope_resource(
                    step.client, step.list_method, REGION, parent_ids=ids, name=name
                ),
            )
        return ids

    def _late_scopes(self) -> None:
        """A third of the way in, scoped kinds get a new resource at their last level (a data source
        in an existing knowledge base): its jobs must be announced, not baselined."""
        for spec in other_kinds():
            if spec.discovery:
                first = self.scopes[spec.id][0]
                self.scopes[spec.id].append(self._new_scope(spec.discovery, first[:-1]))

    def _delete_a_knowledge_base(self) -> None:
        """A Q in Connect knowledge base deleted, its import jobs with it: those the auditor still
        follows must be announced as disappeared (scope deleted); the others end where they ended."""
        if len(self.kbs) < 2:
            return
        kb = self.kbs.pop(0)
        now = self.w.plane.clock.now()
        self.w.plane.delete_knowledge_base(REGION, kb)
        gone = {j for j, t in self.truth.jobs.items() if t.source_key.endswith(f"/{kb}")}
        ended = self._recorded_ended(gone)
        for job_id in sorted(gone):
            self.live.pop(job_id, None)
            self.truth.deleted(job_id, now, "scope deleted", with_scope=True, ended_as=ended.get(job_id))
        self.ended_qconnect = [j for j in self.ended_qconnect if j not in gone]
        self.outages["Knowledge base deleted with its jobs (orphan)"] += 1

    def _recorded_ended(self, job_ids: set[str]) -> dict[str, str]:
        """Of `job_ids`, those the auditor recorded in an ended status (it no longer follows them), by
        job id: their recorded status."""
        spec = next(k for k in JOB_KINDS.values() if (k.client, k.list_method) == QCONNECT_IMPORT)
        return {
            str(item["jobId"]): str(item["status"])
            for item in self.w.table_items(SOURCE_PREFIX)
            if item.get("jobId") in job_ids and spec.is_terminal(str(item.get("status", "")))
        }

    def _configure_kinds(self, cycle: int) -> None:
        """A kind (the last registered one without a scope) out of JOB_KINDS for a while, then back (a
        redeploy each time)."""
        out = int(self.cfg.cycles * self.cfg.kind_out_at)
        if cycle == out:
            taken = [k for k in kind_ids() if not JOB_KINDS[k].discovery][-1]
            self.w.set_env(JOB_KINDS=",".join(k for k in kind_ids() if k != taken))
            self.outages["Kind out of JOB_KINDS for a while (orphan)"] += 1
        elif cycle == out + self.cfg.kind_out_cycles:
            self.w.set_env(JOB_KINDS=",".join(kind_ids()))

    def _create_poison_job(self) -> None:
        """An ended import job whose every event EventBridge refuses: parked after the attempt cap."""
        job_id = self.w.plane.create_model_import_job(REGION, "soak-poison", status="Failed")
        self.truth.created(job_id, self._source_key(job_id), self.w.plane.creation_time(job_id), "Failed")
        self.injector.poison_job_ids.add(job_id)
        self.outages["Poison transition (refused every time)"] += 1

    def _repeated_baseline(self, session: Any) -> None:
        """The first run records every job silently, then fails to write its checkpoints; jobs move on;
        the second run is a baseline again, and must announce those moves. No other fault meanwhile."""
        from job_auditor.auditor.adapters.clients import ClientFactory  # noqa: PLC0415

        self.injector.enabled = False
        self.injector.fail_checkpoint_writes = True
        self.w.run(clients=ClientFactory(session=session))
        self.injector.fail_checkpoint_writes = False
        self.truth.take_baseline()
        self._received()
        self.w.advance(self.cfg.interval)
        for job_id in list(self.live):
            if self.rng.random() < self.cfg.progress:
                self._progress(job_id)
        self.w.run(clients=ClientFactory(session=session))
        self._received()
        self.injector.enabled = True
        self.outages["Checkpoint writes failed during the baseline"] += 1

    def finish(self) -> Verdict:
        """Faults off; clean runs past the claim lease, past every listing lag and through one sweep,
        enough for a vanished job's re-checks; then more, until every source has completed a sweep
        that began after the faults stopped (a sweep backing off after failed attempts waits up to
        RETRY_CAP_PERIODS sweep periods), at most FINISH_LIMIT; then the oracle."""
        self.w.plane.faults.clear()
        self.injector.enabled = False
        self.injector.channel_outages.clear()
        self.injector.start_invocation()
        faults_off = self.w.now()
        for job_id in self.truth.end_losses(self.w.plane.clock.now()):
            self.w.plane.lose_job(job_id, self.w.plane.clock.now())
        sources: set[str] = set()
        steps = [16, 16, 61, 16, 16]
        while steps or (unswept := self._unswept(sources, faults_off)):
            if not steps and self.w.now() - faults_off >= FINISH_LIMIT:
                return self._verify([f"no sweep completed after the faults stopped: {u}" for u in unswept])
            self.w.advance(timedelta(minutes=steps.pop(0) if steps else 16))
            summary = self.w.run()
            sources = {str(s["source"]) for s in summary.get("sources", ())}
            self.runs["clean runs at the end"] += 1
            self.runs["parked transitions re-driven"] += int(summary.get("redriven", 0))
            self._received()
            self._check_checkpoints()
        return self._verify([])

    def _verify(self, violations: list[str]) -> Verdict:
        parked = list(self.w.table_items(PARKED_PK))
        verdict = self.truth.verify(
            self.events,
            list(self.w.table_items(SOURCE_PREFIX)),
            [json.loads(str(i["detail"])) for i in parked],
            channels=self.notified,
            parked_channels={str(i["eventId"]): ParkedChannels.of(i) for i in parked},
        )
        verdict.violations.extend(violations)
        return verdict

    def _unswept(self, sources: set[str], since: datetime) -> list[str]:
        """Of the sources the last run audited, those whose last completed sweep began before `since`,
        each with its sweep record."""
        from job_auditor.auditor.adapters.state_codec import parse_timestamp  # noqa: PLC0415

        reconciled: dict[str, datetime] = {}
        for item in self._audit_records():
            if "S" in item.get("lastReconciledAt", {}):
                reconciled[item["sk"]["S"]] = parse_timestamp(item["lastReconciledAt"]["S"])
        late = sorted(s for s in sources if s not in reconciled or reconciled[s] < since)
        return [f"{s} (sweep record: {self._sweep_record(s)})" for s in late]

    def _audit_records(self) -> Iterator[dict[str, Any]]:
        """Every item of the AUDIT partition (one query), in DynamoDB's wire form."""
        pages = self.w.dynamodb.get_paginator("query").paginate(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": AUDIT_PK}},
            ConsistentRead=True,
        )
        for page in pages:
            yield from page["Items"]

    def _sweep_record(self, source_key: str) -> dict[str, Any] | None:
        key = {"pk": {"S": source_partition(source_key)}, "sk": {"S": SWEEP_SK}}
        item = self.w.dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
        return item.get("Item")

    def _expire_history(self) -> None:
        """History items expire by TTL in AWS; moto keeps them, and its index queries scan the whole
        table, so the soak deletes them (the auditor never reads them back)."""
        keys = [
            {"pk": {"S": i["pk"]}, "sk": {"S": i["sk"]}}
            for i in self.w.table_items(SOURCE_PREFIX)
            if str(i["sk"]).startswith(HISTORY_PREFIX)
        ]
        for start in range(0, len(keys), 25):
            self.w.dynamodb.batch_write_item(
                RequestItems={TABLE: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]}
            )

    def _check_checkpoints(self) -> None:
        from job_auditor.auditor.adapters.state_codec import parse_timestamp  # noqa: PLC0415

        # discovery=cloudtrail: a run that is not a sweep lists none of an announced kind's sources, so
        # its checkpoint moves past jobs whose start event was lost; what vouches for every job created
        # before it is the last completed sweep's start (lastReconciledAt).
        announced = (
            {spec.id for spec in announced_kinds(kind_ids())} if self.cfg.discovery == CLOUDTRAIL else set()
        )
        checkpoints: dict[str, datetime] = {}
        # Each source's checkpoint is in its audit record.
        for item in self._audit_records():
            source_key = item["sk"]["S"]
            kind = source_key.split("/")[2] if source_key.count("/") >= 2 else ""
            mark = "lastReconciledAt" if kind in announced else "lastRunStartedAt"
            if "S" in item.get(mark, {}):
                checkpoints[source_key] = parse_timestamp(item[mark]["S"])

        self.truth.check_checkpoints(checkpoints, lambda _source_key, job: self._recorded(job))


CHAT_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{CHAT_TOPIC}"


def _length(length: timedelta) -> str:
    minutes = int(length.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


@contextmanager
def soak_world(moto: MotoServer | None = None, discovery: str = LISTING) -> Iterator[World]:
    """A world for a soak (starts its own moto server unless one is given)."""
    own = moto is None
    server = moto or MotoServer()
    if own:
        server.start()
    try:
        # The chat topic too; one message per transition on the topics (no digest: the digest has its
        # own end-to-end tests), so the oracle checks every transition reached every channel.
        env = {"JOB_KINDS": ",".join(kind_ids()), "CHAT_TOPIC_ARN": CHAT_TOPIC_ARN, "DIGEST_THRESHOLD": "0"}
        with World(server, DEFAULT_START, env=env, discovery=discovery) as w:
            yield w
    finally:
        if own:
            server.stop()


def run_soak(config: SoakConfig, moto: MotoServer | None = None, progress: bool = False) -> SoakReport:
    with soak_world(moto, config.discovery) as w:
        return Soak(w, config).run(progress=progress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--discovery", choices=DISCOVERY_MODES, default=LISTING)
    args = parser.parse_args(argv)
    import logging  # noqa: PLC0415

    logging.disable(logging.CRITICAL)  # the handler's JSON logs and metrics would drown the figures
    with open(os.devnull, "w") as devnull, redirect_stdout(devnull):
        report = run_soak(
            SoakConfig(cycles=args.cycles, seed=args.seed, discovery=args.discovery), progress=True
        )
    print("\n".join(report.lines()))
    return 0 if report.verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
