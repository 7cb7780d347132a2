"""Powertools Logger, Tracer and Metrics, built once for every entry point of the auditor's functions
(the direct handler and the fan-out's steps), and the one way to emit a dimensioned metric."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger()
# Only botocore: patching every supported library imports requests, sqlite3, httplib and more at cold
# start (about 40 ms) for libraries the auditor does not use.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()


def count(name: str, value: int) -> None:
    """A count in the invocation's metrics (flushed by `log_metrics`), with the service dimension."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def seconds(name: str, value: int) -> None:
    """A duration in the invocation's metrics, in seconds, with the service dimension."""
    metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)


def dimensioned_count(name: str, value: int, dimensions: dict[str, str]) -> None:
    """A count with its own dimensions (besides the service's), emitted at once as its own EMF
    line: the invocation's metrics share one set of dimensions."""
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "job-auditor")
    with single_metric(
        name=name, unit=MetricUnit.Count, value=value, default_dimensions={"service": service}
    ) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)
