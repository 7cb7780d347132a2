"""Cold start: the handler module's import and first client construction, beside a bare
`import boto3` building the same clients, each in fresh interpreters, median of several runs.

The child interpreters get the Lambda runtime's markers (LAMBDA_TASK_ROOT, function name, region)
and tracing on, as deployed: the X-Ray SDK chooses its Lambda code path from LAMBDA_TASK_ROOT (off
Lambda it builds two X-Ray clients at import, which would be measured by mistake).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from job_auditor.contract import handlers


def _services() -> tuple[str, ...]:
    """The state and publishing clients, and every client the default kinds and their scope discovery
    use (what a default deployment's first run builds)."""
    from job_auditor.contract.kinds import default_kind_ids, job_clients  # noqa: PLC0415

    return ("dynamodb", "events", "sns", *job_clients(default_kind_ids()))


SERVICES = _services()

# The runtime imports the function's handler module by its Handler name (HANDLER, set below).
_HANDLER = """
import importlib, json, time
t0 = time.perf_counter()
importlib.import_module(HANDLER.rsplit(".", 1)[0])
t1 = time.perf_counter()
from job_auditor.auditor.adapters.clients import ClientFactory
factory = ClientFactory()
for service in SERVICES:
    factory(service, "us-east-1")
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "clients": t2 - t1}))
"""

_BARE = """
import json, time
t0 = time.perf_counter()
import boto3
t1 = time.perf_counter()
session = boto3.session.Session()
for service in SERVICES:
    session.client(service, region_name="us-east-1")
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "clients": t2 - t1}))
"""


def _env(root: Path, task_root: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "POWERTOOLS_"))}
    env.update(
        {
            "PYTHONPATH": f"{root / 'lambdas'}",
            "LAMBDA_TASK_ROOT": task_root,
            "AWS_LAMBDA_FUNCTION_NAME": "job-auditor",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_SERVICE_NAME": "job-auditor",
            "POWERTOOLS_METRICS_NAMESPACE": "JobAuditor",
            "PYTHONDONTWRITEBYTECODE": "0",
        }
    )
    return env


def _once(code: str, env: dict[str, str]) -> dict[str, float]:
    script = f"SERVICES = {SERVICES!r}\nHANDLER = {handlers.AUDITOR!r}\n{code}"
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(runs: int = 7) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as task_root:
        env = _env(root, task_root)
        _once(_HANDLER, env)  # warm the page cache and .pyc files once; not counted
        _once(_BARE, env)
        handler, bare = [], []
        for _ in range(runs):  # interleaved, so drift affects both alike
            handler.append(_once(_HANDLER, env))
            bare.append(_once(_BARE, env))

    def median(rows: list[dict[str, float]], key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 4)

    def median_total(rows: list[dict[str, float]]) -> float:
        return round(statistics.median(r["import"] + r["clients"] for r in rows), 4)

    handler_import, handler_total = median(handler, "import"), median_total(handler)
    bare_import, bare_total = median(bare, "import"), median_total(bare)
    return {
        "runs": runs,
        "services": list(SERVICES),
        "handlerImportS": handler_import,
        "handlerClientsS": median(handler, "clients"),
        "handlerTotalS": handler_total,
        "boto3ImportS": bare_import,
        "boto3ClientsS": median(bare, "clients"),
        "boto3TotalS": bare_total,
        "ratio": round(handler_total / bare_total, 2),
        "importRatio": round(handler_import / bare_import, 2),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
