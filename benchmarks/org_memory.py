"""Organization mode's memory and CPU: the peak RSS and CPU time of the fan-out's Plan and of one Batch
at 10, 100 and 1,000 accounts, and of a warm Batch worker that audits several batches of other
accounts in turn (does a warm worker keep accumulating accounts?).

    python -m benchmarks.org_memory                    # 10, 100 and 1,000 accounts (also `make bench`)
    python -m benchmarks.org_memory --accounts 100     # one size (repeatable)
    python -m benchmarks.org_memory --code OTHER_TREE  # the Lambda's code from another checkout

Each step runs in a fresh process, as a Lambda execution environment runs it: the real handler
(`job_auditor.auditor.fanout`'s Plan and Batch), its logs and metrics to /dev/null. The world is the
integration tests' (`simulator.world.World`): the simulator serves the job APIs, moto DynamoDB and STS,
every member account has its member role in moto's IAM and is read through moto's AssumeRole, for
real. Every account-region holds what tests/integration/test_fanout_end_to_end.py gives it: a Q in
Connect knowledge base and a Bedrock knowledge base with one data source, so Plan discovers and a
Batch audits the five default kinds (the three job API clients) in each of 4 regions.

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
# The Lambda handlers the state machine's tasks name (job_auditor.infra.fanout's PLAN_HANDLER and
# BATCH_HANDLER; tests/infra/test_fanout.py keeps them equal).
PLAN_HANDLER = "job_auditor.auditor.fanout.plan_handler"
BATCH_HANDLER = "job_auditor.auditor.fanout.batch_handler"
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


def _count_builds() -> tuple[Counter[str], list[int]]:
    """Clients built, by service, and botocore sessions made: every client of boto3 or botocore is
    built by `botocore.session.Session.create_client`, every session by its __init__."""
    import botocore.session  # noqa: PLC0415

    clients: Counter[str] = Counter()
    sessions = [0]
    create, init = botocore.session.Session.create_client, botocore.session.Session.__init__

    def counted_create(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        clients[service_name] += 1
        return create(self, service_name, *args, **kwargs)

    def counted_init(self: Any, *args: Any, **kwargs: Any) -> None:
        sessions[0] += 1
        init(self, *args, **kwargs)

    botocore.session.Session.create_client = counted_create  # type: ignore[method-assign]
    botocore.session.Session.__init__ = counted_init  # type: ignore[method-assign]
    return clients, sessions


def _watch(cap_mb: float, report: Any) -> None:
    """Stop the process (as Lambda does past its memory) once its RSS passes `cap_mb`."""

    def watch() -> None:
        while True:
            rss = _status_mb("VmRSS")
            if rss > cap_mb:
                report({"overCap": True, "rssMb": round(rss, 1)})
                os._exit(OVER_CAP)
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True, name="rss-cap").start()


def child() -> None:
    """stdin: {"handler", "env", "now", "events", "capMb"}; one JSON line on the original stdout."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    job = json.loads(sys.stdin.readline())
    os.environ.update(job["env"])
    started_cpu = _cpu()
    clients, sessions = _count_builds()
    state: dict[str, Any] = {"invocations": 0, "cpuS": 0.0}

    def report(extra: dict[str, Any]) -> None:
        reply.write(
            json.dumps(
                {
                    "peakRssMb": round(_status_mb("VmHWM"), 1),
                    "importCpuS": state.get("importCpuS"),
                    "cpuS": round(state["cpuS"] + (_cpu() - state["since"] if "since" in state else 0), 2),
                    "invocations": state["invocations"],
                    "clients": dict(clients),
                    "sessions": sessions[0],
                    **extra,
                }
            )
            + "\n"
        )

    _watch(float(job["capMb"]), report)
    import time_machine  # noqa: PLC0415

    module, _, name = job["handler"].rpartition(".")
    handler = getattr(importlib.import_module(module), name)
    state["importCpuS"] = round(_cpu() - started_cpu, 2)
    outputs: list[Any] = []
    wall = time.perf_counter()
    with time_machine.travel(job["now"], tick=True):
        for event in job["events"]:
            state["since"] = _cpu()
            outputs.append(handler(event, _Context()))
            state["cpuS"] += _cpu() - state.pop("since")
            state["invocations"] += 1
    report({"wallS": round(time.perf_counter() - wall, 1), "outputs": outputs})


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
    return {
        "accounts": accounts,
        "step": step,
        "peakRssMb": result.get("rssMb") if result.get("overCap") else result["peakRssMb"],
        "overCap": bool(result.get("overCap")),
        "cpuS": result["cpuS"],
        "importCpuS": result.get("importCpuS"),
        "wallS": result.get("wallS"),
        "invocations": result["invocations"],
        "clientsBuilt": sum(clients.values()),
        "clientsByService": clients,
        "sessionsBuilt": result["sessions"],
    }


def measure(moto: Any, accounts: int, code: Path, cap_mb: float) -> list[dict[str, Any]]:
    """Plan, one Batch, and a warm Batch worker at `accounts` accounts (the home account and members)."""
    from job_auditor.auditor.domain.batches import batches  # noqa: PLC0415
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
        plan = _run_child(code, {**common, "handler": PLAN_HANDLER, "events": [{"executionName": "bench"}]})
        rows = [_row(accounts, "plan", plan)]
        if plan.get("overCap"):
            return rows
        (plan_out,) = plan["outputs"]
        cut = batches(plan_out["items"], ITEMS_PER_BATCH)
        one = _run_child(code, {**common, "handler": BATCH_HANDLER, "events": [{"Items": cut[0]}]})
        rows.append(_row(accounts, f"batch ({len(cut[0])} account-regions)", one))
        warm = cut[:WARM_BATCHES]
        if len(warm) > 1:
            events = [{"Items": batch} for batch in warm]
            result = _run_child(code, {**common, "handler": BATCH_HANDLER, "events": events})
            ars = sum(len(batch) for batch in warm)
            rows.append(_row(accounts, f"warm batch x{len(warm)} ({ars} account-regions)", result))
        return rows


def print_rows(rows: Sequence[dict[str, Any]]) -> None:
    print("organization mode, 4 regions x the default kinds (benchmarks/org_memory.py):")
    print(
        f"{'accounts':>8}  {'step':<38} {'peak RSS MB':>11} {'CPU s':>7} {'wall s':>7} {'clients':>8}"
        " sessions"
    )
    for r in rows:
        rss = f">{r['peakRssMb']:.0f} cap" if r["overCap"] else f"{r['peakRssMb']:.0f}"
        print(
            f"{r['accounts']:>8}  {r['step']:<38} {rss:>11} {r['cpuS']:>7.2f} {r['wallS'] or '-':>7}"
            f" {r['clientsBuilt']:>8} {r['sessionsBuilt']:>8}"
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
