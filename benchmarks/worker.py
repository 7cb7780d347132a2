"""A stand-in for the Lambda execution environment: one process, kept warm across invocations.

The benchmark starts one worker per poller and scenario, so peak RSS and CPU time are the poller's
own, not those of the simulator and moto (which live in the parent process). Protocol: the first
stdin line is {"mode": "auditor" | "fanout" | "naive", "env": {...}}; every further line
{"now": iso, "metered": true} runs one invocation at that (time-machine) instant and answers one
JSON line on the original stdout ("metered": false turns the meter's hooks off for that invocation:
no counts, the CPU time the code's own). The handlers' logs and EMF metrics go to a scratch file
whose growth is counted: what CloudWatch Logs would ingest.

Mode "fanout" runs the fan-out's three handlers in turn, as the state machine does (Plan; one Batch
child with every item, which is one child at the default itemsPerBatch for up to 20 account-regions;
Summarize over its counts), and answers each one's figures separately.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any


def _status_kb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak_rss() -> None:
    """Start VmHWM (the peak RSS) again from the current RSS, so each invocation reports its own peak
    and not the process's: a baseline that read a large history would otherwise mask every later run.
    Linux's clear_refs value 5 does exactly that."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")


class _Context:
    account = "123456789012"
    function_name = "job-auditor"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:job-auditor"
    log_group_name = "/aws/lambda/job-auditor"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 600_000  # less than the claim lease (CLAIM_LEASE_SECONDS, 900 s): the handler checks


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _logged() -> int:
    """Bytes the handlers have written to stdout so far (their logs and EMF metrics)."""
    sys.stdout.flush()
    return os.fstat(1).st_size


def _measured(meter: Any, run: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """`run()`'s result, and its figures: wall and CPU time, the meter's counts, bytes logged."""
    meter.reset()
    cpu, logged, t0 = _cpu(), _logged(), time.perf_counter()
    result = run()
    figures = {
        "wallS": round(time.perf_counter() - t0, 4),
        "cpuS": round(_cpu() - cpu, 4),
        "meter": meter.snapshot(),
        "logBytes": _logged() - logged,
    }
    return result, figures


def _fanout_invoke(meter: Any) -> Callable[[], Any]:
    """One scheduled run of the fan-out's handlers, each measured on its own."""
    from job_auditor.auditor import fanout  # noqa: PLC0415
    from job_auditor.contract import fanout_payload as payload  # noqa: PLC0415

    def invoke() -> Any:
        plan, plan_figures = _measured(
            meter, lambda: fanout.plan_handler({payload.EXECUTION_NAME: str(uuid.uuid4())}, _Context())
        )
        items = plan[payload.ITEMS]
        batch, batch_figures = _measured(
            meter, lambda: fanout.batch_handler({payload.BATCH_ITEMS: items}, _Context())
        )
        state = {payload.PLAN: plan, payload.MAP: [json.dumps(batch)]}
        summary, summarize_figures = _measured(meter, lambda: fanout.summarize_handler(state, _Context()))
        return {
            "plan": {k: v for k, v in plan.items() if k != payload.ITEMS},
            "items": len(items),
            "batch": batch,
            "summary": summary,
            "phases": {"plan": plan_figures, "batch": batch_figures, "summarize": summarize_figures},
        }

    return invoke


def _meter_member_sessions(meter: Any) -> None:
    """Attach the meter to each member account's session too (built on first use, on its role)."""
    from job_auditor.auditor.adapters.accounts import AccountSessions  # noqa: PLC0415

    build = AccountSessions._member_session

    def metered(self: AccountSessions, account: str) -> Any:
        session = build(self, account)
        meter.attach(session)
        return session

    AccountSessions._member_session = metered  # type: ignore[method-assign]


def main() -> None:
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    # The handlers' stdout: a file counted as it grows, gone with the process.
    scratch, path = tempfile.mkstemp(prefix="worker-stdout-")
    os.unlink(path)
    os.dup2(scratch, 1)
    config = json.loads(sys.stdin.readline())
    os.environ.update(config["env"])
    mode = config["mode"]

    import time_machine  # noqa: PLC0415

    started = time.perf_counter()
    import boto3  # noqa: PLC0415

    from benchmarks.meter import Meter, install_thread_lanes  # noqa: PLC0415

    install_thread_lanes()

    session = boto3.session.Session()
    invoke: Any
    if mode in ("auditor", "fanout"):
        from job_auditor.auditor import wiring  # noqa: PLC0415
        from job_auditor.auditor.settings import load_settings  # noqa: PLC0415
        from job_auditor.contract import handlers  # noqa: PLC0415
        from job_auditor.contract.state_schema import INDEXES  # noqa: PLC0415

        meter = Meter(indexes=[(i.partition_key, i.sort_key) for i in INDEXES])
        meter.attach(session)
        _meter_member_sessions(meter)
        # The metered session for every run: the home account's, and each member account's on its role.
        settings = load_settings()
        wiring.reset(wiring.member_clients(settings, settings.account_id or _Context.account, session))
        # The handler as the Lambda runtime finds it: by its Handler name.
        module, function = handlers.AUDITOR.rsplit(".", 1)
        lambda_handler = getattr(importlib.import_module(module), function)

        def invoke() -> Any:
            return lambda_handler({"source": "aws.scheduler"}, _Context())

        if mode == "fanout":
            invoke = _fanout_invoke(meter)
    else:
        from benchmarks.naive import NaivePoller  # noqa: PLC0415
        from job_auditor.contract.kinds import default_kind_ids  # noqa: PLC0415

        meter = Meter(key_names=("jobId", "-"))
        meter.attach(session)
        env = os.environ
        poller = NaivePoller(
            session,
            env["AWS_REGION"],
            env["EVENT_BUS_NAME"],
            env["NOTIFICATION_TOPIC_ARN"],
            env["EVENT_SOURCE"],
            # What the Lambda audits: JOB_KINDS, or the registry's default kinds.
            kinds=env["JOB_KINDS"].split(",") if env.get("JOB_KINDS") else default_kind_ids(),
        )
        invoke = poller.run
    import_s = time.perf_counter() - started
    rss_after_import = _status_kb("VmRSS")

    for line in sys.stdin:
        command = json.loads(line)
        # {"metered": false}: the meter's hooks off, for the CPU of the code alone.
        meter.enabled = bool(command.get("metered", True))
        traveller = time_machine.travel(datetime.fromisoformat(command["now"]), tick=True)
        traveller.start()
        meter.reset()
        _reset_peak_rss()
        cpu, logged = _cpu(), _logged()
        t0 = time.perf_counter()
        try:
            result = invoke()
        finally:
            wall = time.perf_counter() - t0
            traveller.stop()
        answer = {
            "wallS": round(wall, 4),
            "cpuS": round(_cpu() - cpu, 4),
            "logBytes": _logged() - logged,
            "result": result,
            "meter": meter.snapshot(),
            "peakRssMb": round(_status_kb("VmHWM"), 1),
            "rssMb": round(_status_kb("VmRSS"), 1),
            "rssAfterImportMb": round(rss_after_import, 1),
            "importS": round(import_s, 4),
        }
        reply.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
