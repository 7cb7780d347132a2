"""`make bench`: the real handler against the simulator and moto, beside its lower bounds and a naive
poller, at several sizes; plus the cold start, the fan-out's cost model and organization mode's memory
and CPU per account (benchmarks/org_memory.py). Prints tables, writes benchmarks/results/*.json (and a
PNG of cost against history size when matplotlib is installed).

    python -m benchmarks.run            # the full set (about 25 minutes on 2 cores, 15 of them
                                        # organization mode at 1,000 accounts)
    python -m benchmarks.run --quick    # small sizes, one measured cycle, 10 and 100 accounts

Figures only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from benchmarks import coldstart
from benchmarks.cost import cost_model
from benchmarks.scenario import LISTING_CLASSES, Scenario, listing_class
from job_auditor.auditor.adapters.state_store import CLAIM_CONCURRENCY
from job_auditor.contract.environment import setting
from job_auditor.contract.kinds import JOB_KINDS, default_kind_ids, job_clients
from job_auditor.contract.state_schema import AUDIT_PK, JOB_PREFIX, KEY_RANGE_END, source_partition
from simulator.world import DEFAULT_START, MotoServer, World

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "benchmarks" / "results"
CYCLE = timedelta(minutes=5)
# The auditor's default reconciliation period (the settings table's): a run this long after the last
# sweep sweeps again.
SWEEP_EVERY = timedelta(minutes=setting("reconcileEveryMinutes").default_value({}))
BASE = (10_000, 500, 200)
FULL = [
    (1_000, 500, 200),
    BASE,
    (100_000, 500, 200),
    (10_000, 10, 200),
    (10_000, 5_000, 200),
    (10_000, 500, 0),
    (10_000, 500, 2_000),
]
QUICK = [(1_000, 500, 200), (10_000, 500, 200), (1_000, 10, 0)]
NAIVE_MAX_HISTORY = 10_000
# Assumed in-Region latency per call, seconds (not measured here: the local servers answer at their
# own speed, and moto's Query scans the whole table). Used for the modelled Lambda duration only.
NOMINAL_LATENCY_S = {
    "dynamodb.BatchWriteItem": 0.015,
    "dynamodb": 0.006,
    "events": 0.03,
    "sns": 0.03,
}
# The job APIs' calls (every client a registered kind or its scope discovery uses), by verb.
JOB_API_LATENCY_S = {"List": 0.15, "Get": 0.08}


def _job_api_verb(operation: str) -> str | None:
    """`List` or `Get` for a call to a job API (e.g. bedrock-agent.ListIngestionJobs), else None."""
    service, _, name = operation.partition(".")
    if service not in job_clients():
        return None
    return next((verb for verb in JOB_API_LATENCY_S if name.startswith(verb)), None)


def _nominal(operation: str) -> float:
    verb = _job_api_verb(operation)
    if verb is not None:
        return JOB_API_LATENCY_S[verb]
    for prefix in sorted(NOMINAL_LATENCY_S, key=len, reverse=True):
        if operation.startswith(prefix):
            return NOMINAL_LATENCY_S[prefix]
    return 0.05


def _times(answer: dict[str, Any]) -> dict[str, float]:
    """Local wall time; the poller's own time (wall minus the time with a call in flight); and the
    modelled duration in AWS: own time + calls x assumed latency. Lanes (the auditor's concurrent
    sources) run side by side, so the slowest lane counts; within a lane calls run in turn, except
    the concurrent claim writes, CLAIM_CONCURRENCY at a time."""
    meter = answer["meter"]
    own = max(0.0, answer["wallS"] - meter["busySeconds"])
    lanes = {
        lane: sum(
            (in_turn + math.ceil(pooled / CLAIM_CONCURRENCY)) * _nominal(op)
            for op, (in_turn, pooled) in ops.items()
        )
        for lane, ops in meter["callsByLane"].items()
    }
    main = lanes.pop("main", 0.0)
    modelled = own + main + max(lanes.values(), default=0.0)
    return {"ownS": round(own, 4), "modelledS": round(modelled, 4)}


class Worker:
    """One warm Lambda stand-in process (benchmarks.worker)."""

    def __init__(self, mode: str, env: dict[str, str], log: IO[str]) -> None:
        child_env = dict(os.environ)
        child_env["PYTHONPATH"] = str(ROOT)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=child_env,
            cwd=ROOT,
        )
        self._send({"mode": mode, "env": env})

    def _send(self, message: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()

    def invoke(self, now: datetime, *, metered: bool = True) -> dict[str, Any]:
        self._send({"now": now.isoformat(), "metered": metered})
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited ({self._proc.poll()}); see {RESULTS / 'workers.log'}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)


@dataclass
class Options:
    cycles: int
    naive_max_history: int
    sizes: list[tuple[int, int, int]]
    # (in flight, transitions) shapes the naive poller also runs at (it is slow: O(history) GetItems).
    naive_shapes: frozenset[tuple[int, int]] = frozenset({BASE[1:]})
    # The job kinds the scenarios hold and the auditor audits (JOB_KINDS): the registry's defaults.
    kinds: tuple[str, ...] = ()


def _calls(meter: dict[str, Any], prefix: str) -> int:
    return sum(n for op, n in meter["calls"].items() if op.startswith(prefix))


def _job_api_calls(meter: dict[str, Any], verb: str) -> int:
    """List (jobs and scope resources) or Get calls to the job APIs."""
    return sum(n for op, n in meter["calls"].items() if _job_api_verb(op) == verb)


def _list_calls_by_kind(
    s: Scenario, w: World, answer: dict[str, Any]
) -> tuple[dict[str, dict[str, int]], int]:
    """Per kind, its list calls measured beside their bounds; and the bound of every list call of the
    run (the kinds' and their scope discovery's)."""
    meter = answer["meter"]
    bounds = s.list_bounds(w, answer["result"])
    by_kind = {k: {**bounds[k], "measured": meter["calls"].get(s.plans[k].list_op, 0)} for k in s.kinds}
    return by_kind, sum(b["apiBound"] for b in bounds.values()) + s.discovery_bound()


def _ddb_minimum(
    summary: dict[str, Any], window_query_pages: int, audit_query_pages: int, runs: int = 1
) -> int:
    """The fewest DynamoDB requests the claim design can make (see docs/performance.md): per source the
    in-flight and pending index reads, the window's query pages and the one write of its audit record
    (which carries the checkpoint); per transition two conditional writes (the claim, and clearing it
    only while it is still this run's); per run (`runs`: 0 for a source's share alone) the planner's
    query of every audit record (its 1 MB pages: each source's checkpoint and each scope's mark come
    from it), the query of the parked transitions due for re-drive, and the history puts of the run's
    delivery, 25 per BatchWriteItem."""
    total = 0
    for source in summary["sources"]:
        t = int(source["transitions"])
        total += 2 + 1 + 2 * t
    transitions = sum(int(source["transitions"]) for source in summary["sources"])
    per_run = 1 + math.ceil(transitions / 25) if runs else 0
    return total + window_query_pages + audit_query_pages + per_run


def _auditor_row(
    s: Scenario, w: World, answer: dict[str, Any], ddb_pages: int, audit_pages: int
) -> dict[str, Any]:
    summary = answer["result"]
    meter = answer["meter"]
    by_kind, list_bound = _list_calls_by_kind(s, w, answer)
    transitions = int(summary["transitions"])
    rechecked = sum(int(x["jobs_rechecked"]) for x in summary["sources"])
    ddb = _calls(meter, "dynamodb.")
    ddb_min = _ddb_minimum(summary, ddb_pages, audit_pages)
    return {
        "transitions": transitions,
        "listCalls": _job_api_calls(meter, "List"),
        "listCallsBound": list_bound,
        "listCallsByKind": by_kind,
        "getCalls": _job_api_calls(meter, "Get"),
        "getCallsBound": s.failed_gets() + rechecked,
        "dynamodbRequests": ddb,
        "dynamodbMinimum": ddb_min,
        "dynamodbRatio": round(ddb / ddb_min, 3) if ddb_min else None,
        "dynamodbByOperation": {k: v for k, v in meter["calls"].items() if k.startswith("dynamodb.")},
        "readUnitsEstimated": meter["dynamodbReadUnits"],
        "writeUnitsEstimated": meter["dynamodbWriteUnits"],
        "putEvents": meter["calls"].get("events.PutEvents", 0),
        # The outbox delivers a run's claims together: ten entries a PutEvents call.
        "putEventsBound": math.ceil(transitions / 10),
        "snsCalls": _calls(meter, "sns."),
        "snsBound": math.ceil(transitions / 10),
        "apiCalls": sum(meter["calls"].values()),
        "wallS": answer["wallS"],
        **_times(answer),
        "cpuS": answer["cpuS"],
        "peakRssMb": answer["peakRssMb"],
        "rssAfterImportMb": answer["rssAfterImportMb"],
        "secondsInCalls": meter["secondsInCalls"],
        "sourceMs": {x["job_kind"]: x["duration_ms"] for x in summary["sources"]},
        "status": summary["status"],
    }


def _sweep_row(s: Scenario, w: World, answer: dict[str, Any]) -> dict[str, Any]:
    """What one reconciliation sweep costs, beside the steady-state cycle it replaces once an hour;
    its list calls beside their bounds (the sweep's window, plus each in-progress status)."""
    meter = answer["meter"]
    summary = answer["result"]
    assert all(source["reconciled"] for source in summary["sources"]), "the measured run did not sweep"
    by_kind, list_bound = _list_calls_by_kind(s, w, answer)
    return {
        "listCalls": _job_api_calls(meter, "List"),
        "listCallsBound": list_bound,
        "listCallsByKind": by_kind,
        "getCalls": _job_api_calls(meter, "Get"),
        "dynamodbRequests": _calls(meter, "dynamodb."),
        "readUnitsEstimated": meter["dynamodbReadUnits"],
        "apiCalls": sum(meter["calls"].values()),
        "jobsListed": sum(int(x["jobs_listed"]) for x in summary["sources"]),
        "wallS": answer["wallS"],
        **_times(answer),
        "peakRssMb": answer["peakRssMb"],
    }


def _naive_row(answer: dict[str, Any]) -> dict[str, Any]:
    meter = answer["meter"]
    return {
        "events": answer["result"]["events"],
        "jobsListed": answer["result"]["jobsListed"],
        "listCalls": _job_api_calls(meter, "List"),
        "getCalls": 0,
        "dynamodbRequests": _calls(meter, "dynamodb."),
        "readUnitsEstimated": meter["dynamodbReadUnits"],
        "writeUnitsEstimated": meter["dynamodbWriteUnits"],
        "putEvents": meter["calls"].get("events.PutEvents", 0),
        "snsCalls": _calls(meter, "sns."),
        "apiCalls": sum(meter["calls"].values()),
        "wallS": answer["wallS"],
        **_times(answer),
        "cpuS": answer["cpuS"],
        "peakRssMb": answer["peakRssMb"],
        "secondsInCalls": meter["secondsInCalls"],
    }


def _window_query_pages(w: World, s: Scenario, summary: dict[str, Any]) -> int:
    """1 MB query pages the window read needs: the job items in each source's window, by size."""
    from benchmarks.meter import item_size  # noqa: PLC0415

    pages = 0
    for source in summary["sources"]:
        start = source["window_start"]
        items = w.dynamodb.get_paginator("query").paginate(
            TableName="job-auditor-state",
            KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":pk": {"S": source_partition(source["source"])},
                ":a": {"S": f"{JOB_PREFIX}{start.replace('Z', '')}"},
                ":b": {"S": f"{JOB_PREFIX}{KEY_RANGE_END}"},
            },
        )
        size = sum(item_size(i) for page in items for i in page["Items"])
        pages += max(1, math.ceil(size / (1024 * 1024)))
    return pages


def _audit_query_pages(w: World) -> int:
    """1 MB query pages of the AUDIT partition (every source's and scope's record), by size."""
    from benchmarks.meter import item_size  # noqa: PLC0415

    items = w.dynamodb.get_paginator("query").paginate(
        TableName="job-auditor-state",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": AUDIT_PK}},
    )
    size = sum(item_size(i) for page in items for i in page["Items"])
    return max(1, math.ceil(size / (1024 * 1024)))


def _median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts from the last cycle (they repeat); time and memory the median / max of the cycles."""
    row = dict(rows[-1])
    for key in ("wallS", "cpuS", "ownS", "modelledS"):
        row[key] = round(statistics.median(r[key] for r in rows), 4)
    row["peakRssMb"] = max(r["peakRssMb"] for r in rows)
    return row


def _without_consumers(w: World) -> None:
    """Drop the World's SQS consumers: moto delivers to them inside PutEvents and Publish, which
    would be measured as the pollers' time (in AWS delivery is asynchronous)."""
    w.events.remove_targets(Rule="bus-consumer", EventBusName="job-auditor", Ids=["queue"])
    w.events.delete_rule(Name="bus-consumer", EventBusName="job-auditor")
    for sub in w.sns.list_subscriptions()["Subscriptions"]:
        w.sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])


def run_scenario(moto: MotoServer, size: tuple[int, int, int], opts: Options, log: IO[str]) -> dict[str, Any]:
    history, in_flight, transitions = size
    naive_here = history <= opts.naive_max_history and (in_flight, transitions) in opts.naive_shapes
    s = Scenario(history, in_flight, transitions, naive=naive_here, kinds=opts.kinds or default_kind_ids())
    started = time.perf_counter()
    with World(moto, DEFAULT_START, env={"ANNOUNCE_BASELINE": "false", **s.env}) as w:
        _without_consumers(w)
        s.setup(w)
        env = w.environment()
        auditor = Worker("auditor", env, log)
        naive = Worker("naive", env, log) if s.naive else None
        try:
            first = auditor.invoke(w.now())  # the silent baseline: not measured
            rows, naive_rows = [], []
            for cycle in range(1 + opts.cycles):  # one warm-up cycle, then the measured ones
                w.advance(CYCLE)
                s.mutate(w, cycle)
                answer = auditor.invoke(w.now())
                pages = _window_query_pages(w, s, answer["result"])
                row = _auditor_row(s, w, answer, pages, _audit_query_pages(w))
                n_answer = naive.invoke(w.now()) if naive else None
                if cycle == 0:
                    continue
                rows.append(row)
                if n_answer:
                    naive_rows.append(_naive_row(n_answer))
            # The baseline was the last sweep: one hour after it the next run sweeps (no new changes).
            w.advance(SWEEP_EVERY - CYCLE * (1 + opts.cycles))
            sweep = _sweep_row(s, w, auditor.invoke(w.now()))
        finally:
            auditor.close()
            if naive:
                naive.close()
    out: dict[str, Any] = {
        "scenario": s.name,
        "history": history,
        "inFlight": in_flight,
        "transitionsPerCycle": transitions,
        "firstInvocation": {"wallS": first["wallS"], "peakRssMb": first["peakRssMb"]},
        "auditor": _median_row(rows),
        "sweep": sweep,
        "cycles": rows,
        "scenarioSeconds": round(time.perf_counter() - started, 1),
    }
    if naive_rows:
        n = _median_row(naive_rows)
        a = out["auditor"]
        out["naive"] = n
        out["ratios"] = {
            "apiCalls": round(n["apiCalls"] / max(1, a["apiCalls"]), 1),
            "dynamodbRequests": round(n["dynamodbRequests"] / max(1, a["dynamodbRequests"]), 1),
            "wall": round(n["wallS"] / max(1e-6, a["wallS"]), 1),
            "own": round(n["ownS"] / max(1e-6, a["ownS"]), 1),
            "modelled": round(n["modelledS"] / max(1e-6, a["modelledS"]), 1),
            "cpu": round(n["cpuS"] / max(1e-6, a["cpuS"]), 1),
        }
    return out


def _fmt(row: dict[str, Any]) -> str:
    a = row["auditor"]
    naive = row.get("naive")
    ratio = row.get("ratios", {})
    cells = [
        f"{row['history']:>7}",
        f"{row['inFlight']:>5}",
        f"{row['transitionsPerCycle']:>5}",
        f"{a['listCalls']:>5}/{a['listCallsBound']:<5}",
        f"{a['getCalls']:>4}/{a['getCallsBound']:<4}",
        f"{a['dynamodbRequests']:>5}/{a['dynamodbMinimum']:<5}",
        f"{a['readUnitsEstimated']:>7.1f}",
        f"{a['writeUnitsEstimated']:>7.1f}",
        f"{a['putEvents']:>4}/{a['putEventsBound']:<4}",
        f"{a['snsCalls']:>4}/{a['snsBound']:<4}",
        f"{a['wallS']:>6.2f}",
        f"{a['ownS']:>5.2f}",
        f"{a['modelledS']:>5.2f}",
        f"{a['cpuS']:>5.2f}",
        f"{a['peakRssMb']:>6.0f}",
        f"{naive['apiCalls']:>7}" if naive else "      -",
        f"{naive['wallS']:>7.2f}" if naive else "      -",
        f"{ratio.get('apiCalls', '-'):>6}",
        f"{ratio.get('wall', '-'):>6}",
        f"{ratio.get('cpu', '-'):>6}",
        f"{ratio.get('modelled', '-'):>6}",
    ]
    return " ".join(cells)


HEADER = (
    "history    inf trans list/bound   get/bd ddb/minimum     RRU*    WRU* PutEv/bd SNS/bd   wall   own"
    " model   cpu  RSSMB naiveAPI nWall   xAPI  xWall   xCPU xModel"
)


def _bound_note(kinds: tuple[str, ...]) -> str:
    """The footnote: how each kind's list calls are bounded, from its spec."""
    by_class: dict[str, list[str]] = {}
    for kind in kinds:
        spec = JOB_KINDS[kind]
        by_class.setdefault(listing_class(spec), []).append(f"{kind} ({spec.max_page_size})")
    lines = [f"  {c}, {LISTING_CLASSES[c]}: {', '.join(names)}" for c, names in by_class.items()]
    scoped = sum(len(JOB_KINDS[k].discovery) for k in kinds)
    return "\n".join(
        [
            "* estimated from item sizes. List bound per kind (page size):",
            *lines,
            f"  + {scoped} scope discovery calls (one per level of each kind's scope); a sweep adds one"
            " listing per in-progress status where the kind has a status filter",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one measured cycle")
    parser.add_argument("--cycles", type=int, default=None, help="measured cycles per scenario (default 2)")
    parser.add_argument("--naive-max-history", type=int, default=NAIVE_MAX_HISTORY)
    parser.add_argument(
        "--size", action="append", default=[], help="history,inflight,transitions (repeatable)"
    )
    parser.add_argument(
        "--kind",
        action="append",
        default=[],
        choices=sorted(JOB_KINDS),
        help="a job kind to audit (repeatable; default: the registry's default kinds)",
    )
    parser.add_argument("--no-coldstart", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench.json")
    args = parser.parse_args(argv)
    sizes = [tuple(int(x) for x in s.split(",")) for s in args.size] or (QUICK if args.quick else FULL)
    opts = Options(
        cycles=args.cycles or (1 if args.quick else 2),
        naive_max_history=args.naive_max_history,
        sizes=[(a, b, c) for a, b, c in sizes],
        kinds=tuple(dict.fromkeys(args.kind)),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "generatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "notes": "RRU/WRU are estimated from item sizes (moto reports no consumed capacity).",
        "scenarios": [],
    }
    started = time.perf_counter()
    if not args.no_coldstart:
        report["coldStart"] = coldstart.measure(pairs=coldstart.MIN_PAIRS if args.quick else 15)
        c = report["coldStart"]
        print(
            f"cold start ({c['pairs']} alternating pairs of whole processes, medians): handler"
            f" {c['handlerProcessS']:.3f}s (import {c['handlerImportS']:.3f}s + clients"
            f" {c['handlerClientsS']:.3f}s) vs bare boto3 {c['boto3ProcessS']:.3f}s (import"
            f" {c['boto3ImportS']:.3f}s + clients {c['boto3ClientsS']:.3f}s): ratio {c['ratio']}"
            f" (per pair {c['pairRatio']})",
            flush=True,
        )
        if not args.quick:
            counted = c["instructionsUntilReady"] = coldstart.instructions()
            told = "not counted (valgrind is not installed)"
            if counted:
                told = (
                    f"handler {counted['handler']:,} vs bare boto3 {counted['bare']:,}:"
                    f" ratio {counted['ratio']}"
                )
            print(f"cold start, instructions until ready (callgrind): {told}", flush=True)
    moto = MotoServer()
    moto.start()
    print(HEADER, flush=True)
    try:
        with open(RESULTS / "workers.log", "w", encoding="utf-8") as log:
            for size in opts.sizes:
                row = run_scenario(moto, size, opts, log)
                report["scenarios"].append(row)
                print(_fmt(row), flush=True)
            # Q in Connect's history in both discovery modes, and latency (benchmarks/qconnect.py).
            from benchmarks import qconnect  # noqa: PLC0415

            histories = qconnect.HISTORIES[:2] if args.quick else qconnect.HISTORIES
            qconnect_report = qconnect.report(moto, histories, 1 if args.quick else 2, log)
            # The fan-out (auditMode=stepfunctions): its real handlers metered on the same servers,
            # then priced per size (benchmarks/fanout.py).
            from benchmarks import fanout  # noqa: PLC0415

            fanout_measured = fanout.measure(moto, log=log)
    finally:
        moto.stop()
    args.out.with_name("qconnect.json").write_text(json.dumps(qconnect_report, indent=2))
    report["costModel"] = cost_model(report)
    report["totalSeconds"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(_bound_note(opts.kinds or default_kind_ids()))
    print("reconciliation sweep (once an hour by default), per scenario:")
    print("history    inf trans list/bound   get   ddb     RRU*  listed   wall  model  RSSMB")
    for row in report["scenarios"]:
        sw = row["sweep"]
        print(
            f"{row['history']:>7} {row['inFlight']:>5} {row['transitionsPerCycle']:>5}"
            f" {sw['listCalls']:>5}/{sw['listCallsBound']:<5}"
            f" {sw['getCalls']:>5} {sw['dynamodbRequests']:>5} {sw['readUnitsEstimated']:>8.1f}"
            f" {sw['jobsListed']:>7} {sw['wallS']:>6.2f} {sw['modelledS']:>6.2f} {sw['peakRssMb']:>6.0f}"
        )
    for name, model in report["costModel"]["scenarios"].items():
        line = ", ".join(f"{m} ${v['totalUsd']:.2f}" for m, v in model["monthly"].items())
        print(f"monthly cost ({name}): {line}")
    qconnect.print_report(qconnect_report)
    print(f"report: {args.out} ({report['totalSeconds']} s)")
    fanout_report = fanout.report(fanout_measured)
    fanout.print_report(fanout_report)
    args.out.with_name("fanout.json").write_text(json.dumps(fanout_report, indent=2))
    # Organization mode's memory and CPU: Plan and Batch processes at 10 to 1,000 accounts.
    from benchmarks import org_memory  # noqa: PLC0415

    org_rows = org_memory.report(org_memory.QUICK_SIZES if args.quick else org_memory.SIZES)
    org_memory.print_rows(org_rows)
    args.out.with_name("org_memory.json").write_text(
        json.dumps({"regions": org_memory.REGIONS, "rows": org_rows}, indent=2)
    )
    try:
        from benchmarks.plot import plot  # noqa: PLC0415

        png = plot(report, args.out.with_suffix(".png"))
        if png:
            print(f"plot: {png}")
    except ImportError:
        print("plot skipped: matplotlib is not installed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
