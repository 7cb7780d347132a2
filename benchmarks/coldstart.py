"""Cold start: whole processes, paired and alternating.

A handler process does what the Lambda runtime's first invocation environment does before the first
run: a fresh interpreter imports the handler module by its Handler name and builds the clients a
default deployment's first run builds. A bare process imports boto3 and builds the same clients. Each
pair runs one of each, in alternating order (the handler's first in even pairs, the bare one's first
in odd ones), so drift and cache warmth fall on both alike. Each process is timed from the parent,
from its start until it reports ready (the interpreter's start included, its exit not: a Lambda
environment stays up after its init); the ratio is the median handler process over the median bare
one, beside the median of the pairs' own ratios and the ratio of the processes' CPU time until ready
(user and system), which a busy machine disturbs far less than wall time. At least 9 pairs.

The child interpreters get the Lambda runtime's markers (LAMBDA_TASK_ROOT, function name, region) and
tracing on, as deployed: the X-Ray SDK chooses its Lambda code path from LAMBDA_TASK_ROOT (off Lambda it
builds two X-Ray clients at import, which would be measured by mistake). The Tracer is built on the
first traced invocation, not at import: a third process does that too, and its CPU beside the bare
one's says what a traced function's first invocation pays in all.

    python -m benchmarks.coldstart               # 15 pairs, the table
    python -m benchmarks.coldstart --importtime  # and what the handler imports beyond boto3
    python -m benchmarks.coldstart --instructions  # and instructions counted by callgrind (valgrind)
    python -m benchmarks.coldstart --python /path/to/python3.13  # measured on another interpreter

`--python` runs the measured processes on another interpreter (one whose site-packages hold boto3 and
Powertools at requirements.txt's pins): the Lambda runs a newer Python than a development machine may.

The handler processes import the Lambda asset as synth stages it (`stage_lambda_asset`: only the
modules the functions ship) from the task root, as the runtime does, and write no bytecode (/var/task
is read-only). Their asset carries its bytecode, compiled by the measured interpreter, as synth ships
it where it has the runtime's Python; boto3's installed wheels have theirs. A fourth process imports
the asset without bytecode, as synth ships it where it does not: every cold start compiles the package
from source, and `sourceOnlyRatio` says what that costs beside bare boto3.

Figures only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from job_auditor.contract import handlers

MIN_PAIRS = 9


def _services() -> tuple[str, ...]:
    """The state and publishing clients, and every client the default kinds and their scope discovery
    use (what a default deployment's first run builds)."""
    from job_auditor.contract.kinds import default_kind_ids, job_clients  # noqa: PLC0415

    return ("dynamodb", "events", "sns", *job_clients(default_kind_ids()))


SERVICES = _services()

# The runtime imports the function's handler module by its Handler name (HANDLER, set below).
_HANDLER = """
import importlib, time
t0 = time.perf_counter()
importlib.import_module(HANDLER.rsplit(".", 1)[0])
t1 = time.perf_counter()
from job_auditor.auditor.adapters.clients import ClientFactory
factory = ClientFactory()
for service in SERVICES:
    factory(service, "us-east-1")
t2 = time.perf_counter()
import os, job_auditor
assert job_auditor.__file__.startswith(os.environ["LAMBDA_TASK_ROOT"]), job_auditor.__file__
"""

# The same, and what a traced function's first invocation adds as it starts: the Tracer (the X-Ray SDK
# imported, botocore patched), built lazily (auditor/observability.py).
_TRACED = """
import importlib, time
t0 = time.perf_counter()
importlib.import_module(HANDLER.rsplit(".", 1)[0])
t1 = time.perf_counter()
from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.observability import tracer
tracer.tracer()
factory = ClientFactory()
for service in SERVICES:
    factory(service, "us-east-1")
t2 = time.perf_counter()
"""

_BARE = """
import time
t0 = time.perf_counter()
import boto3
t1 = time.perf_counter()
session = boto3.session.Session()
for service in SERVICES:
    session.client(service, region_name="us-east-1")
t2 = time.perf_counter()
"""


def _env(task_root: Path) -> dict[str, str]:
    """The child's environment, as the runtime's: the asset is the task root, on PYTHONPATH (and the
    child runs in it, as the runtime's working directory is /var/task: `python -c` puts the working
    directory first on sys.path, so a child run in a checkout would import the checkout)."""
    dropped = ("AWS_ENDPOINT_URL", "POWERTOOLS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(
        {
            "PYTHONPATH": str(task_root),
            "PYTHONDONTWRITEBYTECODE": "1",  # as on /var/task: read-only
            "LAMBDA_TASK_ROOT": str(task_root),
            "AWS_LAMBDA_FUNCTION_NAME": "job-auditor",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_SERVICE_NAME": "job-auditor",
            "POWERTOOLS_METRICS_NAMESPACE": "JobAuditor",
        }
    )
    return env


# Every process reports once ready (its imports done and clients built): its own split, and its CPU
# time so far (user and system: far less sensitive to a busy machine than wall time).
_READY = """
import json, resource
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"import": t1 - t0, "clients": t2 - t1, "cpu": cpu}), flush=True)
"""


def _script(code: str) -> str:
    return f"SERVICES = {SERVICES!r}\nHANDLER = {handlers.AUDITOR!r}\n{code}{_READY}"


def _once(code: str, env: dict[str, str], python: str) -> dict[str, float]:
    """One process from its start until it is ready, seen from here (interpreter start included; its
    exit not: a Lambda environment does not exit between invocations), and its own figures."""
    command = [python, "-c", _script(code)]
    started = time.perf_counter()
    with subprocess.Popen(
        command, env=env, cwd=env["LAMBDA_TASK_ROOT"], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        line = child.stdout.readline()
        ready = time.perf_counter() - started
        child.stdout.read()
        if child.wait(timeout=120) != 0 or not line:
            raise RuntimeError(f"the measured process failed (exit {child.returncode})")
    result: dict[str, float] = json.loads(line)
    return {**result, "process": ready}


def _median(rows: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(r[key] for r in rows), 4)


def _version(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def _asset(interpreter: str | None) -> Path:
    """The functions' asset as synth stages it, with bytecode compiled by `interpreter` (None: none)."""
    from job_auditor.infra.auditor_function import stage_lambda_asset  # noqa: PLC0415 (CDK: only here)

    return stage_lambda_asset(interpreter)


def measure(pairs: int = 15, python: str = sys.executable) -> dict[str, Any]:
    """`pairs` (at least MIN_PAIRS) alternating pairs of whole processes on `python`; their medians and
    ratios."""
    pairs = max(pairs, MIN_PAIRS)
    compiled = _env(_asset(python))
    # Each process: its code and its task root (the source-only one: the handler, in an asset of its
    # own without bytecode).
    processes = {
        "handler": (_HANDLER, compiled),
        "bare": (_BARE, compiled),
        "traced": (_TRACED, compiled),
        "sourceOnly": (_HANDLER, _env(_asset(None))),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in processes}
    for code, env in processes.values():  # warm the page cache once; not counted
        _once(code, env, python)
    for pair in range(pairs):
        # The handler and the bare process side by side, in turns; the traced and source-only ones
        # after both.
        order = ("handler", "bare") if pair % 2 == 0 else ("bare", "handler")
        for name in (*order, "traced", "sourceOnly"):
            runs[name].append(_once(*processes[name], python))
    handler, bare, traced, source_only = (runs[name] for name in processes)
    handler_process, bare_process = _median(handler, "process"), _median(bare, "process")
    return {
        "pairs": pairs,
        "python": _version(python),
        "services": list(SERVICES),
        "handlerProcessS": handler_process,
        "boto3ProcessS": bare_process,
        "ratio": round(handler_process / bare_process, 3),
        "pairRatio": round(
            statistics.median(h["process"] / b["process"] for h, b in zip(handler, bare, strict=True)), 3
        ),
        "handlerCpuS": _median(handler, "cpu"),
        "boto3CpuS": _median(bare, "cpu"),
        "cpuRatio": round(_median(handler, "cpu") / _median(bare, "cpu"), 3),
        "tracedFirstInvocationCpuRatio": round(_median(traced, "cpu") / _median(bare, "cpu"), 3),
        "sourceOnlyProcessS": _median(source_only, "process"),
        "sourceOnlyRatio": round(_median(source_only, "process") / bare_process, 3),
        "sourceOnlyCpuRatio": round(_median(source_only, "cpu") / _median(bare, "cpu"), 3),
        "handlerImportS": _median(handler, "import"),
        "handlerClientsS": _median(handler, "clients"),
        "boto3ImportS": _median(bare, "import"),
        "boto3ClientsS": _median(bare, "clients"),
        "importRatio": round(_median(handler, "import") / _median(bare, "import"), 3),
    }


# Under callgrind: the process ends as soon as it is ready, skipping the interpreter's teardown (a
# Lambda environment does not exit after its init).
_EXIT_READY = "import os\nos._exit(0)\n"
# The hash seeds of the counted processes: a seed moves dict layouts and so the collector's timing.
INSTRUCTION_SEEDS = ("0", "1", "2")


def _run_in_asset(
    command: list[str], env: dict[str, str], timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """A diagnostic process, run as the runtime runs the function: in the task root (the asset)."""
    return subprocess.run(
        command,
        env=env,
        cwd=env["LAMBDA_TASK_ROOT"],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )


def _instructions_until_ready(valgrind: str, code: str, env: dict[str, str], python: str) -> int:
    command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", python, "-c"]
    err = _run_in_asset([*command, _script(code) + _EXIT_READY], env, timeout=900).stderr
    found = re.search(r"Collected : (\d+)", err)
    if found is None:
        raise RuntimeError(f"callgrind reported no count: {err[-500:]}")
    return int(found.group(1))


def instructions(python: str = sys.executable) -> dict[str, Any] | None:
    """The instructions the handler and the bare process execute until ready, counted by valgrind's
    callgrind (the median over INSTRUCTION_SEEDS): unlike time, the same on a busy machine, so a change
    of a few milliseconds shows. A figure beside the timed ratio, not instead of it (an instruction is
    not a fixed time: cache misses, the GC's pointer chasing). None where valgrind is not installed."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    env = _env(_asset(python))
    counts: dict[str, int] = {}
    for name, code in (("handler", _HANDLER), ("bare", _BARE)):
        counts[name] = int(
            statistics.median(
                _instructions_until_ready(valgrind, code, env | {"PYTHONHASHSEED": seed}, python)
                for seed in INSTRUCTION_SEEDS
            )
        )
    return {
        "handler": counts["handler"],
        "bare": counts["bare"],
        "ratio": round(counts["handler"] / counts["bare"], 3),
    }


def _import_times(code: str, env: dict[str, str], runs: int, python: str) -> dict[str, int]:
    """Module -> its own import time in microseconds (`python -X importtime`), the least of `runs`."""
    best: dict[str, int] = {}
    for _ in range(runs):
        err = _run_in_asset([python, "-X", "importtime", "-c", _script(code)], env).stderr
        for line in err.splitlines():
            fields = line.removeprefix("import time:").split("|")
            if len(fields) != 3 or not fields[0].strip().isdigit():
                continue
            name = fields[2].strip()
            best[name] = min(best.get(name, sys.maxsize), int(fields[0]))
    return best


# The handler's import once more, each class the `dataclasses` module builds during it timed (its
# generated methods are compiled at class creation, at every cold start): what the import's own
# classes cost beside its modules. Diagnostic only, apart from the measured pairs; a Python whose
# dataclasses module no longer has `_process_class` reports none.
_DATACLASSES = """
import dataclasses, importlib, json, time
import boto3
built = []
process = getattr(dataclasses, "_process_class", None)
if process is not None:
    def timed(cls, *args, **kwargs):
        started = time.perf_counter()
        try:
            return process(cls, *args, **kwargs)
        finally:
            built.append(time.perf_counter() - started)
    dataclasses._process_class = timed
importlib.import_module(HANDLER.rsplit(".", 1)[0])
print(json.dumps({"count": len(built), "seconds": sum(built)} if process else None))
"""


def _dataclasses_built(env: dict[str, str], runs: int, python: str) -> dict[str, Any] | None:
    """How many dataclasses the handler's import builds and their time (ms, the least of `runs`)."""
    found = []
    for _ in range(runs):
        out = _run_in_asset([python, "-c", f"HANDLER = {handlers.AUDITOR!r}\n{_DATACLASSES}"], env).stdout
        found.append(json.loads(out))
    if None in found:
        return None
    return {"count": found[0]["count"], "ms": round(min(f["seconds"] for f in found) * 1000, 1)}


def imports_beyond_boto3(runs: int = 5, python: str = sys.executable) -> dict[str, Any]:
    """What the handler process imports that the bare one does not, by package, and its modules'
    own import times (the least of `runs`), with the dataclasses the import builds among them: where
    a cold start's extra time goes."""
    env = _env(_asset(python))
    handler = _import_times(_HANDLER, env, runs, python)
    bare = _import_times(_BARE, env, runs, python)
    dataclasses_built = _dataclasses_built(env, runs, python)
    extra = {name: us for name, us in handler.items() if name not in bare}
    packages: dict[str, int] = {}
    for name, us in extra.items():
        package = name.split(".")[0]
        packages[package] = packages.get(package, 0) + us
    return {
        "extraMs": round(sum(extra.values()) / 1000, 1),
        "extraModules": len(extra),
        "dataclassesBuilt": dataclasses_built,
        "byPackageMs": {p: round(us / 1000, 1) for p, us in sorted(packages.items(), key=lambda i: -i[1])},
        "slowestModulesMs": {
            n: round(us / 1000, 2) for n, us in sorted(extra.items(), key=lambda i: -i[1])[:15]
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=15, help=f"process pairs (at least {MIN_PAIRS})")
    parser.add_argument("--importtime", action="store_true", help="also list the imports beyond boto3")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions under callgrind (valgrind)"
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter of the measured processes (boto3 and Powertools installed); default: this one",
    )
    args = parser.parse_args(argv)
    # The measured processes run in the asset's directory: a relative path would name nothing there.
    python = shutil.which(args.python)
    if python is None:
        parser.error(f"--python: no interpreter at {args.python}")
    args.python = os.path.abspath(python)
    out = measure(args.pairs, args.python)
    if args.importtime:
        out["importsBeyondBoto3"] = imports_beyond_boto3(python=args.python)
    if args.instructions:
        out["instructionsUntilReady"] = instructions(args.python)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
