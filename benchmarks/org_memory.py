"""Organization mode's memory and CPU: the peak RSS and CPU time of the fan-out's Plan and of one Batch
at 10, 100 and 1,000 accounts, and of a warm Batch worker that audits several batches of other
accounts in turn (does a warm worker keep accumulating accounts?).

    python -m benchmarks.org_memory                    # 10, 100 and 1,000 accounts (also `make bench`)
    python -m benchmarks.org_memory --accounts 100     # one size (repeatable)
    python -m benchmarks.org_memory --code OTHER_TREE  # the Lambda's code from another checkout

Each step runs in a fresh process, as a Lambda execution environment runs it: the handler the state
machine's task names (`job_auditor.contract.handlers`: PLAN, BATCH), its logs and metrics to
/dev/null. The world is the integration tests' (`simulator.world.World`): the simulator serves the
job APIs, moto DynamoDB and STS, every member account has its member role in moto's IAM and is read
through moto's AssumeRole, for real. Every account-region holds what
tests/integration/test_fanout_end_to_end.py gives it: a Q in Connect knowledge base and a Bedrock
knowledge base with one data source, so Plan discovers and a Batch audits the five default kinds (the
three job API clients) in each of 4 regions.

Peak RSS is the process's high-water mark (VmHWM, imports included: what Lambda reports as Max Memory
Used); CPU is user + system time of the invocations alone. A process whose RSS passes `--cap-mb` is
stopped and reported as such, so a case that would need many GB cannot take the machine with it.
Figures only: nothing here asserts on time or memory.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import resource
import subprocess
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SIZES = (10, 100, 1_000)
QUICK_SIZES = (10, 100)
# The four regions of the fan-out's end-to-end test: every default kind's service is offered in each.
REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "eu-west-2")
# The construct's `itemsPerBatch` default (infra/config.py): account-regions one child audits.
ITEMS_PER_BATCH = 20
# Batches a warm worker audits in turn (each of other accounts): 200 account-regions, twice the cache
# bound of adapters/accounts.py, so a warm worker's growth (or its absence) shows.
WARM_BATCHES = 10
# A stopped process's exit status.
OVER_CAP = 3
# Machine protection, not a Lambda limit: the code before the shared loader needed ~14 MB per account.
DEFAULT_CAP_MB = 4096


# -- the child: one Lambda execution environment -------------------------------------------------------
def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Context:
    """What the Lambda runtime passes a handler; enough for Powertools and the lease check."""

    function_name = "job-auditor"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:job-auditor"
    log_group_name = "/aws/lambda/job-auditor"
    log_stream_name = "bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000  # less than the claim lease (CLAIM_LEASE_SECONDS, 900 s): Batch checks


class _Meter:
    """What the process built (clients by service, botocore sessions), the most clients alive at once
    (a client is alive until it is collected, garbage included: on AWS its TLS trust store lives as
    long), and a stop past the RSS cap, as Lambda stops a function past its memory."""

    def __init__(self, cap_mb: float, reply: Any) -> None:
        self.cap_mb, self.reply = cap_mb, reply
        self.clients: Counter[str] = Counter()
        self.sessions = 0
        self.live: weakref.WeakSet[Any] = weakref.WeakSet()
        self.max_live = 0
        self.invocations = 0
        self.cpu_s = 0.0
        self.since: float | None = None
        self.import_cpu_s = 0.0

    def install(self) -> None:
        """Every client of boto3 or botocore is built by `botocore.session.Session.create_client`,
        every session made by its __init__."""
        import botocore.session  # noqa: PLC0415

        create, init = botocore.session.Session.create_client, botocore.session.Session.__init__
        meter = self

        def counted_create(session: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            client = create(session, service_name, *args, **kwargs)
            meter.clients[service_name] += 1
            meter.live.add(client)
            return client

        def counted_init(session: Any, *args: Any, **kwargs: Any) -> None:
            meter.sessions += 1
            init(session, *args, **kwargs)

        botocore.session.Session.create_client = counted_create  # type: ignore[method-assign,assignment]
        botocore.session.Session.__init__ = counted_init  # type: ignore[method-assign,assignment]
        threading.Thread(target=self._watch, daemon=True, name="meter").start()

    def _watch(self) -> None:
        while True:
            self.max_live = max(self.max_live, len(self.live))
            rss = _status_mb("VmRSS")
            if rss > self.cap_mb:
                self.report({"overCap": True, "rssMb": round(rss, 1)})
                os._exit(OVER_CAP)
            time.sleep(0.02)

    def report(self, extra: dict[str, Any]) -> None:
        peak = round(_status_mb("VmHWM"), 1)  # before the trust store measurement adds to it
        running = _cpu() - self.since if self.since is not None else 0.0
        trust_mb, trust_cpu_s = _trust_store()
        row = {
            "peakRssMb": peak,
            "importCpuS": round(self.import_cpu_s, 2),
            "cpuS": round(self.cpu_s + running, 2),
            "invocations": self.invocations,
            "clients": dict(self.clients),
            "sessions": self.sessions,
            "maxLiveClients": max(self.max_live, len(self.live)),
            "trustStoreMb": round(trust_mb, 3),
            "trustStoreCpuS": round(trust_cpu_s, 4),
            **extra,
        }
        self.reply.write(json.dumps(row) + "\n")


def _trust_store(samples: int = 10) -> tuple[float, float]:
    """What one client's TLS trust store takes, MB and CPU seconds, as botocore makes it: an SSL
    context of its own per client (httpsession's `create_urllib3_context`), into which urllib3 loads
    the CA bundle (`get_cert_path`) on the client's first HTTPS connection. The local endpoints are
    plain HTTP, so no client here loads one."""
    from botocore.httpsession import create_urllib3_context, get_cert_path  # noqa: PLC0415

    before, cpu = _status_mb("VmRSS"), _cpu()
    contexts = []
    for _ in range(samples):
        context = create_urllib3_context()
        context.load_verify_locations(get_cert_path(True))
        contexts.append(context)
    return (_status_mb("VmRSS") - before) / samples, (_cpu() - cpu) / samples


def child() -> None:
    """stdin: {"handler", "env", "now", "events", "capMb"}; one JSON line on the original stdout."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    job = json.loads(sys.stdin.readline())
    os.environ.update(job["env"])
    started_cpu = _cpu()
    meter = _Meter(float(job["capMb"]), reply)
    meter.install()
    import time_machine  # noqa: PLC0415

    module, _, name = job["handler"].rpartition(".")
    handler = getattr(importlib.import_module(module), name)
    meter.import_cpu_s = _cpu() - started_cpu
    outputs: list[Any] = []
    wall = time.perf_counter()
    with time_machine.travel(job["now"], tick=True):
        for event in job["events"]:
            meter.since = _cpu()
            outputs.append(handler(event, _Context()))
            meter.cpu_s += _cpu() - meter.since
            meter.since = None
            meter.invocations += 1
    meter.report({"wallS": round(time.perf_counter() - wall, 1), "outputs": outputs})


# -- the parent: the world, and one child per step ------------------------------------------------------
def _run_child(code: Path, job: dict[str, Any]) -> dict[str, Any]:
    # LAMBDA_TASK_ROOT: the X-Ray SDK takes its Lambda code path (off Lambda it builds two X-Ray
    # clients at import, which would be measured by mistake; benchmarks/coldstart.py does the same).
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(code),
        "AWS_LAMBDA_FUNCTION_NAME": "job-auditor",
    }
    process = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        input=json.dumps(job) + "\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=3_600,
    )
    lines = process.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"the {job['handler']} process ended with {process.returncode} and no report")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _seed(world: Any, accounts: Sequence[str]) -> None:
    """A Q in Connect knowledge base and a Bedrock knowledge base with a data source per account-region."""
    for account in accounts:
        plane = world.plane_of(account)
        for region in REGIONS:
            plane.create_knowledge_base(region, "kb")
            kb = plane.create_agent_knowledge_base(region, "bkb")
            plane.create_data_source(region, kb, "ds")


def _row(accounts: int, step: str, result: dict[str, Any]) -> dict[str, Any]:
    clients = result.get("clients") or {}
    over = bool(result.get("overCap"))
    return {
        "accounts": accounts,
        "step": step,
        "peakRssMb": result["rssMb"] if over else result["peakRssMb"],
        "overCap": over,
        "cpuS": result["cpuS"],
        "importCpuS": result.get("importCpuS"),
        "wallS": result.get("wallS"),
        "invocations": result["invocations"],
        "clientsBuilt": sum(clients.values()),
        "clientsByService": clients,
        "sessionsBuilt": result["sessions"],
        "maxLiveClients": result["maxLiveClients"],
        "trustStoreMb": result["trustStoreMb"],
        "trustStoreCpuS": result["trustStoreCpuS"],
        # On AWS every client loads a TLS trust store on its first call and holds it while it is alive
        # (the local endpoints are plain HTTP). Not for a process stopped at the cap: it ran part of the step.
        "estimatedAwsPeakMb": None
        if over
        else round(result["peakRssMb"] + result["maxLiveClients"] * result["trustStoreMb"]),
        "estimatedAwsCpuS": None
        if over
        else round(result["cpuS"] + sum(clients.values()) * result["trustStoreCpuS"], 1),
    }


def measure(moto: Any, accounts: int, code: Path, cap_mb: float) -> list[dict[str, Any]]:
    """Plan, one Batch, and a warm Batch worker at `accounts` accounts (the home account and members)."""
    from job_auditor.auditor.domain.batches import batches  # noqa: PLC0415
    from job_auditor.contract import handlers  # noqa: PLC0415
    from simulator.world import DEFAULT_START, World  # noqa: PLC0415

    members = [f"2{n:011d}" for n in range(1, accounts)]
    with World(
        moto,
        DEFAULT_START,
        env={"REGIONS": ",".join(REGIONS), "ACCOUNT_REGION_CONCURRENCY": "2"},
        member_accounts=members,
    ) as world:
        _seed(world, [world.account, *members])
        common = {"env": world.environment(), "now": world.now().isoformat(), "capMb": cap_mb}
        plan = _run_child(code, {**common, "handler": handlers.PLAN, "events": [{"executionName": "bench"}]})
        rows = [_row(accounts, "plan", plan)]
        if plan.get("overCap"):
            return rows
        (plan_out,) = plan["outputs"]
        cut = batches(plan_out["items"], ITEMS_PER_BATCH)
        one = _run_child(code, {**common, "handler": handlers.BATCH, "events": [{"Items": cut[0]}]})
        rows.append(_row(accounts, f"batch ({len(cut[0])} account-regions)", one))
        warm = cut[:WARM_BATCHES]
        if len(warm) > 1:
            events = [{"Items": batch} for batch in warm]
            result = _run_child(code, {**common, "handler": handlers.BATCH, "events": events})
            ars = sum(len(batch) for batch in warm)
            rows.append(_row(accounts, f"warm batch x{len(warm)} ({ars} account-regions)", result))
        return rows


def print_rows(rows: Sequence[dict[str, Any]]) -> None:
    print("organization mode, 4 regions x the default kinds (benchmarks/org_memory.py):")
    print(
        f"{'accounts':>8}  {'step':<38} {'peak RSS MB':>11} {'AWS est.':>8} {'CPU s':>7} {'AWS est.':>8}"
        f" {'wall s':>7} {'clients':>7} {'alive':>6} {'sessions':>8}"
    )
    for r in rows:
        over = ">" if r["overCap"] else ""
        print(
            f"{r['accounts']:>8}  {r['step']:<38} {over + format(r['peakRssMb'], '.0f'):>11}"
            f" {r['estimatedAwsPeakMb'] or '-':>8} {over + format(r['cpuS'], '.1f'):>7}"
            f" {r['estimatedAwsCpuS'] or '-':>8} {r['wallS'] or '-':>7} {r['clientsBuilt']:>7}"
            f" {r['maxLiveClients']:>6} {r['sessionsBuilt']:>8}"
        )
    if rows:
        print(
            "  AWS est.: the local endpoints are plain HTTP; on AWS each client built also loads a TLS"
            f" trust store on its first call ({rows[0]['trustStoreCpuS'] * 1000:.0f} ms of CPU here) and"
            f" holds it while alive ({rows[0]['trustStoreMb']:.2f} MB: botocore gives each client its own"
            " SSL context)"
        )


def report(sizes: Sequence[int], code: Path = ROOT, cap_mb: float = DEFAULT_CAP_MB) -> list[dict[str, Any]]:
    """Every step's row at each size, on a moto server of its own."""
    from simulator.world import MotoServer  # noqa: PLC0415

    moto = MotoServer()
    # moto's DynamoDB answers a Query racing a write with a 500 (its table is a plain dict) and logs
    # the traceback; the auditor retries it. Kept out of the table.
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    moto.start()
    rows: list[dict[str, Any]] = []
    try:
        for accounts in sizes:
            rows += measure(moto, accounts, code.resolve(), cap_mb)
    finally:
        moto.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--accounts", type=int, action="append", default=[], help="accounts (repeatable)")
    parser.add_argument("--quick", action="store_true", help="10 and 100 accounts only")
    parser.add_argument(
        "--code", type=Path, default=ROOT, help="the checkout whose job_auditor the steps run"
    )
    parser.add_argument("--cap-mb", type=float, default=DEFAULT_CAP_MB, help="stop a step past this RSS")
    parser.add_argument("--out", type=Path, default=RESULTS / "org_memory.json")
    args = parser.parse_args(argv)
    if args.child:
        child()
        return 0
    rows = report(args.accounts or (QUICK_SIZES if args.quick else SIZES), args.code, args.cap_mb)
    print_rows(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"regions": REGIONS, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
