"""The fan-out (auditMode=stepfunctions): its cost per month and its time per period, from what the
real code does, beside the direct mode at one account; for Express and Standard children and several
batch sizes, so the defaults are picked from numbers.

    python -m benchmarks.fanout            # measure (a minute or two), then the tables
    python -m benchmarks.fanout --json     # the report as JSON (also written by `make bench`)

Measured (`measure`: the real handlers in a worker process, benchmarks/worker.py, on the simulator and
moto, every AWS call metered by benchmarks/meter.py): per source a Batch child audits, its requests by
operation, DynamoDB write and read units (estimated from item sizes as on-demand tables charge them),
CPU seconds and bytes logged; the same per account-region Plan plans, and per run for Summarize; each
in an idle run and in the hourly reconciliation sweep. The shape measured is the target's per
account-region: 5 accounts (the home one and 4 members, on their roles) x 4 regions x the 5 default
kinds, one knowledge base and one data source each, nothing changing: 100 sources, one child at the
default itemsPerBatch. CPU is measured in as many runs again with the meter's hooks off (the code's
own, scaled onto the sweep's). The direct mode is measured whole at one account x 4 regions x 5 kinds: the
"single account" the target is counted beyond. A change to what a source costs (fewer writes, a Query
instead of GetItems, eventually consistent reads) shows here with no edit of this file.

Modelled: the time of calls (nominal in-Region latencies, benchmarks/run.py) and of CPU (the measured
seconds at the vCPU share of the configured memory: Lambda gives one vCPU at 1,769 MB); the longer of
the two is billed. Step Functions' states and children, S3 requests, platform log lines, X-Ray traces
and the month are counted from the definition (infra/fanout.py) and the schedule. CPU is this
machine's, not Lambda's (a Graviton core may be slower or faster).

Figures only: nothing here asserts on time or money.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from benchmarks.run import CYCLE, SWEEP_EVERY, Worker, _nominal, _times, _without_consumers
from job_auditor.auditor.domain.batches import plan_items
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.fanout import INLINE_ITEMS_MAX_BYTES
from job_auditor.auditor.run_metrics import PER_SOURCE, TOTALS
from job_auditor.contract.kinds import default_kind_ids
from simulator.world import ACCOUNT, DEFAULT_START, MotoServer, World

REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    """A list price in USD, us-east-1, with where it was read and whether that was checked."""

    usd: float
    per: str
    source: str
    verified: bool


# Read 2026-12. "verified": the figure was found in the page named (or a dated copy of it) with the
# search tools of this project's development; the others are the last known list prices: check them.
PRICES = {
    "lambdaGbSecond": Price(
        0.0000133334, "GB-second (arm64, first 7.5 billion a month)", "aws.amazon.com/lambda/pricing", True
    ),
    "lambdaRequest": Price(0.20 / 1e6, "request", "aws.amazon.com/lambda/pricing", True),
    "sfnStandardTransition": Price(
        0.025 / 1_000, "state transition (Standard)", "aws.amazon.com/step-functions/pricing", True
    ),
    "sfnExpressRequest": Price(
        1.00 / 1e6,
        "Express execution",
        "aws.amazon.com/blogs/compute/building-cost-effective-aws-step-functions-workflows",
        True,
    ),
    "sfnExpressGbSecond": Price(
        0.00001667,
        "Express GB-second (first 1,000 GB-hours; 64 MB steps, 100 ms rounding)",
        "aws.amazon.com/step-functions/pricing",
        False,
    ),
    "dynamodbWriteUnit": Price(
        0.625 / 1e6, "on-demand write request unit", "aws.amazon.com/dynamodb/pricing/on-demand", True
    ),
    "dynamodbReadUnit": Price(
        0.125 / 1e6, "on-demand read request unit", "aws.amazon.com/dynamodb/pricing/on-demand", True
    ),
    "cloudwatchMetric": Price(
        0.30, "custom metric series a month (first 10,000)", "aws.amazon.com/cloudwatch/pricing", True
    ),
    "cloudwatchAlarm": Price(
        0.10, "standard-resolution alarm metric a month", "aws.amazon.com/cloudwatch/pricing", False
    ),
    "logsIngestedGb": Price(
        0.50, "GB ingested (Lambda logs: the first tier)", "aws.amazon.com/cloudwatch/pricing", True
    ),
    "s3Put": Price(0.005 / 1_000, "PUT request (S3 Standard)", "aws.amazon.com/s3/pricing", True),
    "s3Get": Price(0.0004 / 1_000, "GET request (S3 Standard)", "aws.amazon.com/s3/pricing", True),
    "xrayTrace": Price(5.00 / 1e6, "trace recorded", "aws.amazon.com/xray/pricing", True),
}


def usd(name: str) -> float:
    return PRICES[name].usd


# Step Functions bills a Distributed Map one state transition per child execution it starts
# (docs: concepts-transitions, "Transitions in Distributed Map states").
TRANSITIONS_PER_CHILD_START = 1
# A Standard child runs one Task state: its own start and the Task's transitions.
STANDARD_CHILD_TRANSITIONS = 2
# The parent's states on the normal path: Guard, Overlap, Plan, ItemsInS3, Audit, Summarize,
# MapRunFailed, Done.
PARENT_TRANSITIONS = 8
# Logged execution events (LogLevel ALL, no execution data) at about this many bytes each: the
# parent's (started, each state entered and exited, each task scheduled, started and succeeded, the map
# run's) and each child's (started, task entered, scheduled, started, succeeded, exited, succeeded).
# Estimated, not measured.
PARENT_LOG_EVENTS = 30
CHILD_LOG_EVENTS = 7
SFN_LOG_EVENT_BYTES = 350
# START, END and REPORT (with its X-Ray line) per Lambda invocation. Estimated.
LAMBDA_PLATFORM_LOG_BYTES = 450
# ResultWriter writes a manifest and a results file; Summarize reads both; a large item list is one
# more PUT (Plan) and GET (the ItemReader).
RESULT_WRITER_PUTS = 2
SUMMARIZE_GETS = 2
# The alarms each mode's default stack holds (infra/monitoring.py), as the synthesized templates count
# them: tests/infra/test_monitoring.py (direct, one account) and tests/infra/test_organization.py (the
# fan-out over accounts: the per-account Metrics Insights alarm, priced here as a standard one, and the
# executions' failed and timed-out alarms).
ALARMS = {"direct": 7, "stepfunctions": 10}

MINUTES_PER_MONTH = 30 * 24 * 60
SCHEDULE_MIN = 5
RECONCILE_EVERY_MIN = 60  # RECONCILE_EVERY_MINUTES' default: one run in 12 sweeps
MEMORY_MB = 256  # functionMemoryMb's default
# Lambda's CPU share grows with memory: one full vCPU at 1,769 MB (Lambda docs, "memory and computing
# power").
MB_PER_VCPU = 1769
EXPRESS_MEMORY_GB = 64 / 1024  # billed in 64 MB steps; a child holding one batch input stays in the first
# A warm invocation's own overhead (the Lambda service and the handler's set-up), seconds.
INVOKE_OVERHEAD_S = 0.05
CHILD_START_S = 0.2  # Distributed Map: a child's start after the previous wave ends
PLAN_CONCURRENCY = 16  # job_auditor.auditor.fanout.PLAN_CONCURRENCY

SIZES = {10: (1, 2), 100: (5, 4), 1_000: (50, 4), 10_000: (500, 4)}  # sources -> (accounts, regions)
KINDS = 5
TARGET_SHAPE = (100, 4)  # the cost target: 100 accounts x 4 regions x 5 kinds
SINGLE_ACCOUNT = (1, 4)
TARGET_USD = 30.0

# The measured shape: regions where botocore offers every default kind's service (qconnect is not in
# eu-west-1), and 4 member accounts beside the home one.
MEASURED_REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "eu-west-2")
MEASURED_MEMBERS = tuple(f"2000000000{n:02d}" for n in range(4))


@dataclass(frozen=True)
class PerUnit:
    """What one unit costs, as measured: a source audited, an account-region planned, or a run."""

    calls: dict[str, float] = field(default_factory=dict)
    write_units: float = 0.0
    read_units: float = 0.0
    cpu_s: float = 0.0
    log_bytes: float = 0.0
    # Latency of the unit's calls made one after another, at the nominal latencies (modelled).
    latency_s: float = 0.0

    def dynamodb_usd(self) -> float:
        """The unit's DynamoDB requests, on demand."""
        return self.write_units * usd("dynamodbWriteUnit") + self.read_units * usd("dynamodbReadUnit")

    def blend(self, other: PerUnit, share: float) -> PerUnit:
        """The average unit when a `share` of them are `other`'s (sweeps among idle runs)."""

        def mix(a: float, b: float) -> float:
            return a * (1 - share) + b * share

        ops = set(self.calls) | set(other.calls)
        return PerUnit(
            calls={op: mix(self.calls.get(op, 0), other.calls.get(op, 0)) for op in sorted(ops)},
            write_units=mix(self.write_units, other.write_units),
            read_units=mix(self.read_units, other.read_units),
            cpu_s=mix(self.cpu_s, other.cpu_s),
            log_bytes=mix(self.log_bytes, other.log_bytes),
            latency_s=mix(self.latency_s, other.latency_s),
        )


@dataclass(frozen=True)
class Measured:
    """The per-unit figures of the real code, in an idle run and in a sweep."""

    source: PerUnit  # per source a Batch child audits
    source_sweep: PerUnit
    plan: PerUnit  # per account-region Plan plans
    plan_sweep: PerUnit
    summarize: PerUnit  # per run
    direct: PerUnit  # per direct run at SINGLE_ACCOUNT (latency_s: its modelled duration)
    direct_sweep: PerUnit
    shape: dict[str, int] = field(default_factory=dict)


def _per(figures: Iterable[Mapping[str, Any]], units: int, cpu_scale: float = 1.0) -> PerUnit:
    """The median of several runs' figures, per unit; CPU times `cpu_scale` (the meter's share out)."""
    rows = list(figures)

    def median(values: Iterable[float]) -> float:
        return float(statistics.median(values)) / units

    ops = sorted({op for r in rows for op in r["meter"]["calls"]})
    calls = {op: median(r["meter"]["calls"].get(op, 0) for r in rows) for op in ops}
    return PerUnit(
        calls=calls,
        write_units=median(r["meter"]["dynamodbWriteUnits"] for r in rows),
        read_units=median(r["meter"]["dynamodbReadUnits"] for r in rows),
        cpu_s=median(r["cpuS"] for r in rows) * cpu_scale,
        log_bytes=median(r["logBytes"] for r in rows),
        latency_s=sum(n * _nominal(op) for op, n in calls.items()),
    )


def _scopes(w: World, accounts: Iterable[str]) -> None:
    """One Q in Connect knowledge base and one Bedrock knowledge base with one data source, per
    account-region: with the three kinds listed per region, five sources each."""
    for account in accounts:
        plane = w.plane_of(account)
        for region in MEASURED_REGIONS:
            plane.create_knowledge_base(region, "kb")
            kb = plane.create_agent_knowledge_base(region, "bkb")
            plane.create_data_source(region, kb, "ds")


@dataclass
class _Runs:
    idle: list[dict[str, Any]]  # metered
    unmetered: list[dict[str, Any]]  # the same idle runs with the meter's hooks off: CPU alone
    sweep: dict[str, Any]  # metered

    def cpu_scale(self, cpu: Any) -> float:
        """The code's CPU over the metered CPU, in the idle runs (applied to the sweep's too)."""
        metered = statistics.median(cpu(a) for a in self.idle)
        return float(statistics.median(cpu(a) for a in self.unmetered)) / metered if metered else 1.0


def _runs(worker: Worker, w: World, cycles: int) -> _Runs:
    """A silent baseline (not measured), a warm-up run, `cycles` idle runs metered and as many with the
    meter off, then the run an hour after the baseline, which sweeps."""
    worker.invoke(w.now())
    runs = 1 + 2 * cycles
    assert CYCLE * runs < SWEEP_EVERY, "too many cycles to come before the hourly sweep"
    answers = []
    for cycle in range(runs):
        w.advance(CYCLE)
        answers.append(worker.invoke(w.now(), metered=cycle <= cycles))
    w.advance(SWEEP_EVERY - CYCLE * runs)
    return _Runs(answers[1 : 1 + cycles], answers[1 + cycles :], worker.invoke(w.now()))


def _measure_fanout(moto: MotoServer, cycles: int, log: IO[str]) -> dict[str, Any]:
    env = {"REGIONS": ",".join(MEASURED_REGIONS), "JOB_KINDS": ",".join(default_kind_ids())}
    with World(moto, DEFAULT_START, env=env, member_accounts=MEASURED_MEMBERS) as w:
        _without_consumers(w)
        accounts = (ACCOUNT, *MEASURED_MEMBERS)
        _scopes(w, accounts)
        worker = Worker("fanout", w.environment(), log)
        try:
            runs = _runs(worker, w, cycles)
        finally:
            worker.close()
    account_regions = len(accounts) * len(MEASURED_REGIONS)
    sources = runs.idle[-1]["result"]["plan"]["sourceCount"]
    assert sources == account_regions * KINDS, f"measured {sources} sources"
    every = [*runs.idle, *runs.unmetered, runs.sweep]
    assert all(a["result"]["summary"]["status"] == "ok" for a in every), "a measured run failed"

    def phase(answers: list[dict[str, Any]], name: str, units: int) -> PerUnit:
        scale = runs.cpu_scale(lambda a: a["result"]["phases"][name]["cpuS"])
        return _per((a["result"]["phases"][name] for a in answers), units, scale)

    return {
        "source": phase(runs.idle, "batch", sources),
        "source_sweep": phase([runs.sweep], "batch", sources),
        "plan": phase(runs.idle, "plan", account_regions),
        "plan_sweep": phase([runs.sweep], "plan", account_regions),
        "summarize": phase([*runs.idle, runs.sweep], "summarize", 1),
        "shape": {"accounts": len(accounts), "regions": len(MEASURED_REGIONS), "sources": sources},
    }


def _measure_direct(moto: MotoServer, cycles: int, log: IO[str]) -> dict[str, Any]:
    env = {"REGIONS": ",".join(MEASURED_REGIONS), "JOB_KINDS": ",".join(default_kind_ids())}
    with World(moto, DEFAULT_START, env=env) as w:
        _without_consumers(w)
        _scopes(w, [ACCOUNT])
        worker = Worker("auditor", w.environment(), log)
        try:
            runs = _runs(worker, w, cycles)
        finally:
            worker.close()
    scale = runs.cpu_scale(lambda a: a["cpuS"])

    def run(answers: list[dict[str, Any]]) -> PerUnit:
        unit = _per(answers, 1, scale)
        modelled = statistics.median(_times(a)["modelledS"] for a in answers)
        return PerUnit(**{**asdict(unit), "latency_s": modelled})

    return {"direct": run(runs.idle), "direct_sweep": run([runs.sweep])}


def measure(moto: MotoServer | None = None, cycles: int = 2, log: IO[str] | None = None) -> Measured:
    """Run the real handlers (fan-out and direct) on the simulator and moto, and meter them."""
    own = moto is None
    server = moto or MotoServer()
    if own:
        server.start()
    try:
        out = log or sys.stderr
        return Measured(**_measure_fanout(server, cycles, out), **_measure_direct(server, cycles, out))
    finally:
        if own:
            server.stop()


# -- the model -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Design:
    items_per_batch: int = 20
    max_concurrency: int = 40
    account_region_concurrency: int = 2
    express: bool = True
    memory_mb: int = MEMORY_MB
    schedule_min: int = SCHEDULE_MIN


@dataclass(frozen=True)
class Row:
    sources: int
    accounts: int
    regions: int
    children: int
    wall_s: float
    child_s: float
    child_cpu_bound: bool
    peak_calls_per_s_per_account_region: float
    transitions_per_month: int
    lambda_gb_s_per_month: float
    usd_per_month: float
    usd_by_service: dict[str, float]


def vcpu_share(memory_mb: int) -> float:
    """The vCPUs Lambda gives a function of `memory_mb` (one at 1,769 MB)."""
    return memory_mb / MB_PER_VCPU


def billed_s(latency_s: float, cpu_s: float, memory_mb: int) -> float:
    """An invocation's duration: its calls' latency or its CPU at the memory's share, the longer."""
    return max(latency_s, cpu_s / vcpu_share(memory_mb))


def metric_series(regions: int, kinds: int = KINDS) -> int:
    """Custom metric series a healthy, idle deployment keeps (run_metrics.record_metrics): the run
    totals and outcome, and per kind and region; the same in both modes."""
    return len(TOTALS) + 3 + kinds * regions * len(PER_SOURCE)


def items_bytes(accounts: int, regions: int, concurrency: int) -> int:
    """Plan's item list for the shape, as the real code encodes it (ids of the real lengths)."""
    kinds = [JOB_KINDS[k] for k in default_kind_ids()]
    sources = [
        Source(f"{a:012d}", f"region-{r:02d}", kind, tuple("0" * 36 for _ in kind.discovery))
        for a in range(accounts)
        for r in range(regions)
        for kind in kinds
    ]
    return len(json.dumps(plan_items(sources, {}, concurrency).items, separators=(",", ":")))


def _month(design: Design) -> float:
    return MINUTES_PER_MONTH / design.schedule_min


def model(accounts: int, regions: int, design: Design, m: Measured) -> Row:
    """One period of the fan-out for accounts x regions x KINDS sources, and its month."""
    sweeps = design.schedule_min / RECONCILE_EVERY_MIN
    source = m.source.blend(m.source_sweep, sweeps)
    plan = m.plan.blend(m.plan_sweep, sweeps)
    account_regions = accounts * regions
    sources = account_regions * KINDS
    children = math.ceil(account_regions / design.items_per_batch)
    per_child = sources / children
    c = design.account_region_concurrency
    # Items of a child run side by side, each account-region with `c` sources at once.
    child_latency = INVOKE_OVERHEAD_S + math.ceil(KINDS / c) * source.latency_s
    child_s = billed_s(child_latency, per_child * source.cpu_s, design.memory_mb)
    plan_latency = INVOKE_OVERHEAD_S + math.ceil(accounts / PLAN_CONCURRENCY) * regions * plan.latency_s
    plan_s = billed_s(plan_latency, account_regions * plan.cpu_s, design.memory_mb)
    summarize_s = billed_s(0.5, m.summarize.cpu_s, design.memory_mb)
    waves = math.ceil(children / design.max_concurrency)
    wall = 0.1 + plan_s + waves * (CHILD_START_S + child_s) + summarize_s
    transitions = PARENT_TRANSITIONS + children * TRANSITIONS_PER_CHILD_START
    if not design.express:
        transitions += children * STANDARD_CHILD_TRANSITIONS
    gb_s = (children * child_s + plan_s + summarize_s) * design.memory_mb / 1024
    in_s3 = items_bytes(accounts, regions, c) > INLINE_ITEMS_MAX_BYTES
    logged = account_regions * plan.log_bytes + sources * source.log_bytes + m.summarize.log_bytes
    logged += (children + 2) * LAMBDA_PLATFORM_LOG_BYTES
    logged += (PARENT_LOG_EVENTS + children * CHILD_LOG_EVENTS) * SFN_LOG_EVENT_BYTES
    express_s = math.ceil((child_s + CHILD_START_S) * 10) / 10
    run = {
        "stepFunctions": transitions * usd("sfnStandardTransition")
        + (
            children * (usd("sfnExpressRequest") + express_s * EXPRESS_MEMORY_GB * usd("sfnExpressGbSecond"))
            if design.express
            else 0.0
        ),
        "lambda": gb_s * usd("lambdaGbSecond") + (children + 2) * usd("lambdaRequest"),
        "dynamodb": sources * source.dynamodb_usd()
        + account_regions * plan.dynamodb_usd()
        + m.summarize.dynamodb_usd(),
        "s3": (RESULT_WRITER_PUTS + in_s3) * usd("s3Put") + (SUMMARIZE_GETS + in_s3) * usd("s3Get"),
        "logs": logged / 1e9 * usd("logsIngestedGb"),
        # Upper bound: a trace per child and one for the execution (sampling keeps fewer).
        "xray": (1 + children) * usd("xrayTrace"),
    }
    runs = _month(design)
    by_service = {k: v * runs for k, v in run.items()}
    by_service["cloudwatch"] = metric_series(regions) * usd("cloudwatchMetric")
    by_service["cloudwatch"] += ALARMS["stepfunctions"] * usd("cloudwatchAlarm")
    return Row(
        sources=sources,
        accounts=accounts,
        regions=regions,
        children=children,
        wall_s=round(wall, 2),
        child_s=round(child_s, 2),
        child_cpu_bound=child_s > child_latency,
        # At most `c` calls in flight per account-region; each thread a list call per source's latency.
        peak_calls_per_s_per_account_region=round(c / max(source.latency_s, 1e-9), 1),
        transitions_per_month=round(transitions * runs),
        lambda_gb_s_per_month=round(gb_s * runs),
        usd_per_month=round(sum(by_service.values()), 2),
        usd_by_service={k: round(v, 2) for k, v in by_service.items()},
    )


def direct_usd(m: Measured, design: Design = Design()) -> dict[str, float]:
    """The direct mode at SINGLE_ACCOUNT, per month by service, from its measured run."""
    run = m.direct.blend(m.direct_sweep, design.schedule_min / RECONCILE_EVERY_MIN)
    seconds = billed_s(run.latency_s, run.cpu_s, design.memory_mb)
    per_run = {
        "lambda": seconds * design.memory_mb / 1024 * usd("lambdaGbSecond") + usd("lambdaRequest"),
        "dynamodb": run.dynamodb_usd(),
        "logs": (run.log_bytes + LAMBDA_PLATFORM_LOG_BYTES) / 1e9 * usd("logsIngestedGb"),
        "xray": usd("xrayTrace"),
    }
    out = {k: v * _month(design) for k, v in per_run.items()}
    out["cloudwatch"] = metric_series(SINGLE_ACCOUNT[1]) * usd("cloudwatchMetric")
    out["cloudwatch"] += ALARMS["direct"] * usd("cloudwatchAlarm")
    return {k: round(v, 2) for k, v in out.items()}


def _unit(unit: PerUnit) -> dict[str, Any]:
    return {
        "requests": round(sum(unit.calls.values()), 3),
        "requestsByOperation": {op: round(n, 3) for op, n in unit.calls.items()},
        "writeUnits": round(unit.write_units, 3),
        "readUnits": round(unit.read_units, 3),
        "cpuMs": round(unit.cpu_s * 1000, 2),
        "logBytes": round(unit.log_bytes),
        "latencyMs": round(unit.latency_s * 1000, 1),
    }


def report(measured: Measured | None = None, design: Design = Design()) -> dict[str, Any]:
    """The rows per size, the target shape beyond one account, and the choices of child and batch."""
    m = measured or measure()
    rows = [model(a, r, design, m) for a, r in SIZES.values()]
    single = direct_usd(m, design)
    single_total = round(sum(single.values()), 2)
    target = model(*TARGET_SHAPE, design, m)
    choices = []
    for express in (True, False):
        for per_batch in (1, 5, 10, 20, 50, 100):
            d = Design(**{**asdict(design), "items_per_batch": per_batch, "express": express})
            shape = model(*TARGET_SHAPE, d, m)
            thousand = model(*SIZES[1_000], d, m)
            beyond = round(shape.usd_per_month - single_total, 2)
            choices.append(
                {
                    "express": express,
                    "itemsPerBatch": per_batch,
                    "targetUsdPerMonth": shape.usd_per_month,
                    "beyondSingleAccountUsd": beyond,
                    "orchestrationUsd": round(
                        shape.usd_by_service["stepFunctions"] + shape.usd_by_service["s3"], 2
                    ),
                    "childS": shape.child_s,
                    "wall1000S": thousand.wall_s,
                    "meetsTargets": thousand.wall_s <= 60 and beyond <= TARGET_USD,
                }
            )
    return {
        "design": asdict(design),
        "prices": {k: asdict(v) for k, v in PRICES.items()},
        "measured": {
            "shape": m.shape,
            "perSource": _unit(m.source),
            "perSourceSweep": _unit(m.source_sweep),
            "perAccountRegionPlanned": _unit(m.plan),
            "perAccountRegionPlannedSweep": _unit(m.plan_sweep),
            "summarizePerRun": _unit(m.summarize),
            "directRun": _unit(m.direct),
            "directSweepRun": _unit(m.direct_sweep),
        },
        "rows": [asdict(r) for r in rows],
        "singleAccountDirect": {"usdPerMonth": single_total, "usdByService": single},
        "target": asdict(target),
        "beyondSingleAccountUsd": round(target.usd_per_month - single_total, 2),
        "beyondByService": {k: round(v - single.get(k, 0.0), 2) for k, v in target.usd_by_service.items()},
        "targetUsd": TARGET_USD,
        "choices": choices,
    }


def print_report(out: dict[str, Any]) -> None:
    me = out["measured"]
    print(f"measured per source (idle run, {me['shape']}): {json.dumps(me['perSource'])}")
    print(f"measured per source (sweep run): {json.dumps(me['perSourceSweep'])}")
    print(f"measured per account-region planned: {json.dumps(me['perAccountRegionPlanned'])}")
    print(f"measured direct run at one account: {json.dumps(me['directRun'])}")
    print(f"fan-out model (design {out['design']})")
    print(
        f"{'sources':>8} {'children':>8} {'child s':>7} {'wall s':>7} {'calls/s/AR':>10} "
        f"{'SFN trans/mo':>13} {'GB-s/mo':>9} {'USD/mo':>8}"
    )
    for r in out["rows"]:
        print(
            f"{r['sources']:>8} {r['children']:>8} {r['child_s']:>7} {r['wall_s']:>7} "
            f"{r['peak_calls_per_s_per_account_region']:>10} "
            f"{r['transitions_per_month']:>13} {r['lambda_gb_s_per_month']:>9} {r['usd_per_month']:>8}"
        )
    t = out["target"]
    single = out["singleAccountDirect"]
    print(f"100 accounts x 4 regions x 5 kinds: USD {t['usd_per_month']}/month {t['usd_by_service']}")
    print(f"single account, direct: USD {single['usdPerMonth']}/month {single['usdByService']}")
    print(
        f"beyond one account: USD {out['beyondSingleAccountUsd']}/month (target {out['targetUsd']}) "
        f"{out['beyondByService']}"
    )
    print(f"{'child':>8} {'perBatch':>8} {'USD/mo':>8} {'beyond':>8} {'orchestr.':>9} {'child s':>7} ok")
    for c in out["choices"]:
        kind = "express" if c["express"] else "standard"
        print(
            f"{kind:>8} {c['itemsPerBatch']:>8} {c['targetUsdPerMonth']:>8} {c['beyondSingleAccountUsd']:>8} "
            f"{c['orchestrationUsd']:>9} {c['childS']:>7} {c['meetsTargets']}"
        )
    unverified = [f"{k} ({p['source']})" for k, p in out["prices"].items() if not p["verified"]]
    print("prices (USD, us-east-1) not verified here: " + ", ".join(unverified))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--cycles", type=int, default=2, help="measured idle runs (default 2)")
    args = parser.parse_args(argv)
    out = report(measure(cycles=args.cycles))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_report(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
