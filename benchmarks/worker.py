"""A stand-in for the Lambda execution environment: one process, kept warm across invocations.

The benchmark starts one worker per poller and scenario, so peak RSS and CPU time are the poller's
own, not those of the simulator and moto (which live in the parent process). Protocol: the first
stdin line is {"mode": "auditor" | "naive", "env": {...}}; every further line {"now": iso} runs one
invocation at that (time-machine) instant and answers one JSON line on the original stdout (the
handler's logs and EMF metrics go to /dev/null).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import uuid
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


def main() -> None:
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
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
    if mode == "auditor":
        from job_auditor.auditor import wiring  # noqa: PLC0415
        from job_auditor.auditor.adapters.clients import ClientFactory  # noqa: PLC0415
        from job_auditor.contract import handlers  # noqa: PLC0415
        from job_auditor.contract.state_schema import INDEXES  # noqa: PLC0415

        meter = Meter(indexes=[(i.partition_key, i.sort_key) for i in INDEXES])
        meter.attach(session)
        wiring.reset(ClientFactory(session=session))  # the metered session, for every run
        # The handler as the Lambda runtime finds it: by its Handler name.
        module, function = handlers.AUDITOR.rsplit(".", 1)
        lambda_handler = getattr(importlib.import_module(module), function)

        def invoke() -> Any:
            return lambda_handler({"source": "aws.scheduler"}, _Context())
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
        traveller = time_machine.travel(datetime.fromisoformat(command["now"]), tick=True)
        traveller.start()
        meter.reset()
        _reset_peak_rss()
        cpu = _cpu()
        t0 = time.perf_counter()
        try:
            result = invoke()
        finally:
            wall = time.perf_counter() - t0
            traveller.stop()
        answer = {
            "wallS": round(wall, 4),
            "cpuS": round(_cpu() - cpu, 4),
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
