"""Test hygiene for Powertools (its Logger/Metrics read these at import time of the handler), the
harness's speed-ups (tests/speedups.py says what and why), Hypothesis without timed checks, and the
longest modules first."""

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.speedups import faster_libraries

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "job-auditor")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "JobAuditor")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

# Hypothesis's deadline and too-slow health check are timed assertions: on a busy machine, or beside
# another test worker, a slow example fails them though nothing is wrong. Speed is the benchmarks' job.
settings.register_profile("untimed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("untimed")


@pytest.fixture(scope="session", autouse=True)
def _faster_libraries() -> Iterator[None]:
    with faster_libraries():
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules holding a `long` test first, the order otherwise kept: parallel workers (`make test`)
    take modules in this order, so the longest start at once and the others fill in beside them."""
    long = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("long")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in long)
