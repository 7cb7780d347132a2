"""Q in Connect's history, and latency: part of `make bench` (figures, never assertions).

1. **History.** One knowledge base of 1k, 10k and 100k import jobs (finished, recorded in state), 20
   in flight, 20 transitions per 5-minute cycle, in both discovery modes: a steady run's calls and
   modelled time, and the hourly sweep's calls, modelled time and peak RSS (the real handler in a warm
   worker process of its own, as `benchmarks.run` measures it). `ListImportJobs` has neither a time
   filter nor an order: in `listing` mode every run reads every page; in `cloudtrail` mode a run reads
   the queue of announced starts and Gets the jobs started and in flight, and only the sweep lists.
2. **Latency.** The time from a status change to its event reaching the bus's subscriber queue, on the
   simulator at the default schedule (5 minutes, a sweep every 60): changes happen at random instants
   between two runs; p50 and p95 over two hours of runs, for the fast path (a job started or finished:
   the next run sees it) and the sweep path (what only a sweep sees: a finished job deleted later, and
   in cloudtrail mode a job whose start event was lost).

    python -m benchmarks.qconnect            # 1k, 10k, 100k; latency
    python -m benchmarks.qconnect --quick    # 1k and 10k; one hour of latency
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from benchmarks.run import (
    CYCLE,
    RESULTS,
    SWEEP_EVERY,
    Worker,
    _calls,
    _job_api_calls,
    _times,
    _without_consumers,
)
from benchmarks.scenario import KindPlan, Scenario, _create_scope, operation_label
from job_auditor.contract.discovery import CLOUDTRAIL, DISCOVERY_MODES, LISTING
from job_auditor.contract.kinds import JOB_KINDS, StatusCategory
from simulator.world import DEFAULT_START, REGION, MotoServer, World

# The kind this is about: its list has neither a time filter nor an order, and its starts are announced.
SPEC = next(
    spec
    for spec in JOB_KINDS.values()
    if spec.start_event is not None and spec.time_filter_param is None and not spec.newest_first
)
KIND = SPEC.id
HISTORIES = (1_000, 10_000, 100_000)
IN_FLIGHT = 20
TRANSITIONS = 20
LIST_IMPORT_JOBS = operation_label(SPEC.client, SPEC.list_method)
# The last ReceiveMessage of a run finds the queue empty and long-polls for a second.
EMPTY_POLL_S = 1.0


def _steady(answer: dict[str, Any]) -> dict[str, Any]:
    meter = answer["meter"]
    sqs = _calls(meter, "sqs.")
    return {
        # ListImportJobs pages; the planner's ListKnowledgeBases (one a run, in either mode) apart.
        "listCalls": meter["calls"].get(LIST_IMPORT_JOBS, 0),
        "discoveryCalls": _job_api_calls(meter, "List") - meter["calls"].get(LIST_IMPORT_JOBS, 0),
        "getCalls": _job_api_calls(meter, "Get"),
        "sqsCalls": sqs,
        "dynamodbRequests": _calls(meter, "dynamodb."),
        "apiCalls": sum(meter["calls"].values()),
        "modelledS": round(_times(answer)["modelledS"] + (EMPTY_POLL_S if sqs else 0.0), 2),
        "wallS": answer["wallS"],
        "peakRssMb": answer["peakRssMb"],
    }


def _steady_cycles(w: World, s: Scenario, worker: Worker, measured: int = 2) -> list[dict[str, Any]]:
    """After a warm-up cycle, `measured` cycles that are not sweeps (one that is, is run again)."""
    rows: list[dict[str, Any]] = []
    for cycle in range(measured + 4):
        w.advance(CYCLE)
        s.mutate(w, cycle)
        answer = worker.invoke(w.now())
        if cycle > 0 and not any(x["reconciled"] for x in answer["result"]["sources"]):
            rows.append(_steady(answer))
        if len(rows) == measured:
            break
    return rows


def run_history(moto: MotoServer, history: int, mode: str, log: IO[str]) -> dict[str, Any]:
    """One knowledge base of `history` finished jobs in `mode`: the baseline, two measured cycles,
    then the sweep an hour after the baseline."""
    s = Scenario(history, IN_FLIGHT, TRANSITIONS, kinds=(KIND,))
    started = time.perf_counter()
    with World(moto, DEFAULT_START, env={"ANNOUNCE_BASELINE": "false", **s.env}, discovery=mode) as w:
        _without_consumers(w)
        if w.announcer is not None:  # the history and the jobs in flight predate the deployment
            w.announcer.enabled = False
        s.setup(w)
        if w.announcer is not None:
            w.announcer.enabled = True
        worker = Worker("auditor", w.environment(), log)
        try:
            baseline = worker.invoke(w.now())
            cycles = _steady_cycles(w, s, worker)
            # An hour after the last run: whenever the last sweep was (a run of minutes at 100k moves the
            # world's clock too), this run sweeps.
            w.advance(SWEEP_EVERY)
            answer = worker.invoke(w.now())
            assert all(x["reconciled"] for x in answer["result"]["sources"]), "the measured run did not sweep"
            sweep = {
                **_steady(answer),
                "jobsListed": sum(int(x["jobs_listed"]) for x in answer["result"]["sources"]),
            }
        finally:
            worker.close()
    return {
        "mode": mode,
        "history": history,
        "baseline": {"wallS": baseline["wallS"], "peakRssMb": baseline["peakRssMb"]},
        "cycle": cycles[-1],
        "sweep": sweep,
        "seconds": round(time.perf_counter() - started, 1),
    }


# -- latency ----------------------------------------------------------------------------------------


@dataclass
class _Change:
    path: str
    at: datetime


def _receive_with_times(w: World) -> list[tuple[dict[str, Any], datetime]]:
    """The bus subscriber's messages with the time each was sent (SQS's SentTimestamp)."""
    out: list[tuple[dict[str, Any], datetime]] = []
    while True:
        batch = w.sqs.receive_message(
            QueueUrl=w.bus_queue, MaxNumberOfMessages=10, AttributeNames=["SentTimestamp"]
        ).get("Messages", [])
        if not batch:
            return out
        for message in batch:
            sent = datetime.fromtimestamp(
                int(message["Attributes"]["SentTimestamp"]) / 1000, tz=DEFAULT_START.tzinfo
            )
            out.append((json.loads(message["Body"]), sent))
        w.sqs.delete_message_batch(
            QueueUrl=w.bus_queue,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


class _LatencyWorld:
    """Changes at random instants between two runs, and when each reached the bus's subscriber."""

    def __init__(self, w: World, rng: random.Random) -> None:
        self.w = w
        self.rng = rng
        self.plan = KindPlan.of(SPEC)
        # A change after the job ended (Q in Connect: a finished import job deleted later).
        self.later = next(
            (
                s
                for s, c in SPEC.statuses.items()
                if c is StatusCategory.IN_PROGRESS and s != self.plan.running
            ),
            self.plan.failed,
        )
        self.scope = _create_scope(w.plane, SPEC.discovery)
        self.changes: dict[tuple[str, str], _Change] = {}
        self.latencies: dict[str, list[float]] = {"fast": [], "sweep": []}
        self.running: list[str] = []
        self.old: list[str] = []

    def _instant(self) -> datetime:
        return self.w.now() - timedelta(seconds=self.rng.uniform(1, CYCLE.total_seconds() - 1))

    def _start(self, status: str, path: str) -> str:
        at = self._instant()
        job = self.w.plane.create_job(SPEC, REGION, scope_ids=self.scope, status=status, creation_time=at)
        self.changes[(job, status)] = _Change(path, at)
        return job

    def _change(self, job: str, status: str, path: str) -> None:
        at = self._instant()
        self.w.plane.set_status(job, status, when=at)
        self.changes[(job, status)] = _Change(path, at)

    def history(self, jobs: int) -> None:
        """Finished jobs from before the deployment (not announced)."""
        announcer = self.w.announcer
        if announcer is not None:
            announcer.enabled = False
        start = self.w.now() - timedelta(days=10)
        self.old = self.w.plane.bulk_create_jobs(
            SPEC, REGION, jobs, scope_ids=self.scope, start=start, status=self.plan.terminal
        )
        if announcer is not None:
            announcer.enabled = True

    def cycle(self) -> None:
        """Three jobs finish and three start (the fast path), a finished one changes (the sweep's); in
        cloudtrail mode a job whose start event is lost (the sweep's too). Then one run."""
        for job in self.running[:3]:
            self._change(job, self.plan.terminal, "fast")
        self.running = self.running[3:] + [self._start(self.plan.running, "fast") for _ in range(3)]
        self._change(self.old.pop(), self.later, "sweep")
        if self.w.announcer is not None:
            self.w.announcer.lose = lambda _job: True
            self._start(self.plan.terminal, "sweep")
            self.w.announcer.lose = lambda _job: False
        self.w.run()
        for event, sent in _receive_with_times(self.w):
            change = self.changes.pop((event["detail"]["jobId"], event["detail"]["status"]), None)
            if change is not None:
                self.latencies[change.path].append((sent - change.at).total_seconds())


def measure_latency(
    moto: MotoServer, mode: str, hours: int, seed: int = 7, *, runs: int | None = None
) -> dict[str, Any]:
    """Latency per path in `mode` over `hours` of 5-minute runs (the sweep's default period), or over
    `runs` runs."""
    env = {"JOB_KINDS": KIND, "ANNOUNCE_BASELINE": "false"}
    with World(moto, DEFAULT_START, env=env, discovery=mode) as w:
        world = _LatencyWorld(w, random.Random(seed))
        world.history(300)
        w.run()
        for _ in range(runs or hours * 12):
            w.advance(CYCLE)
            world.cycle()
    measured = {path: _percentiles(values) for path, values in world.latencies.items()}
    return {"mode": mode, "hours": hours, **measured}


def _percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 1),
        "p95": round(cuts[18], 1),
        "max": round(max(values), 1),
    }


# -- report -----------------------------------------------------------------------------------------


def print_report(report: dict[str, Any]) -> None:
    print("Q in Connect history (one knowledge base; 20 in flight, 20 transitions a cycle):")
    print("(list: ListImportJobs pages; every run also lists the knowledge bases once)")
    print("mode        history | run: list  get  sqs  ddb  calls model s | sweep: list  ddb  model s  RSS MB")
    for row in report["history"]:
        c, s = row["cycle"], row["sweep"]
        print(
            f"{row['mode']:<10} {row['history']:>8} |     {c['listCalls']:>4} {c['getCalls']:>4}"
            f" {c['sqsCalls']:>4} {c['dynamodbRequests']:>4} {c['apiCalls']:>6} {c['modelledS']:>7.2f} |"
            f"  {s['listCalls']:>5} {s['dynamodbRequests']:>4} {s['modelledS']:>8.2f} {s['peakRssMb']:>7.0f}"
        )
    print("latency from a status change to its event (5-minute schedule, sweep every 60 minutes), seconds:")
    print("mode       path     n    p50    p95    max")
    for row in report["latency"]:
        for path in ("fast", "sweep"):
            p = row[path]
            if p["n"]:
                cells = f"{p['n']:>4} {p['p50']:>6.0f} {p['p95']:>6.0f} {p['max']:>6.0f}"
                print(f"{row['mode']:<10} {path:<5} {cells}")


def report(moto: MotoServer, histories: tuple[int, ...], hours: int, log: IO[str]) -> dict[str, Any]:
    """Both parts; the in-process handler's logs (latency) go to `log`."""
    rows = []
    for mode in DISCOVERY_MODES:
        for h in histories:
            rows.append(run_history(moto, h, mode, log))
            # Each row as it is measured: a 100k history takes a long while on moto.
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    with redirect_stdout(log):
        latency = [measure_latency(moto, mode, hours) for mode in (LISTING, CLOUDTRAIL)]
    return {"history": rows, "latency": latency}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1k and 10k history, one hour of latency")
    parser.add_argument("--history", type=int, action="append", default=[], help="history sizes (repeatable)")
    parser.add_argument("--out", type=Path, default=RESULTS / "qconnect.json")
    args = parser.parse_args(argv)
    histories = tuple(args.history) or (HISTORIES[:2] if args.quick else HISTORIES)
    RESULTS.mkdir(parents=True, exist_ok=True)
    moto = MotoServer()
    moto.start()
    try:
        with open(RESULTS / "workers-qconnect.log", "w", encoding="utf-8") as log:
            out = report(moto, histories, 1 if args.quick else 2, log)
    finally:
        moto.stop()
    args.out.write_text(json.dumps(out, indent=2))
    print_report(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
