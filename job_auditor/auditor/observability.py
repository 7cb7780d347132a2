"""Powertools Logger, Tracer and Metrics, built once for every entry point of the auditor's functions
(the direct handler and the fan-out's steps), and the one way to emit a dimensioned metric."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

Handler = Callable[[Any, Any], Any]


class LazyTracer:
    """Powertools' Tracer, built on the first traced invocation, and only when tracing is on.

    Building a Tracer imports the X-Ray SDK (with asyncio and wrapt) and patches botocore: about 20 ms
    of CPU at import that a process with tracing off never needs (`job-auditor run --once`, the tests,
    a function deployed without tracing), and that a traced function pays once, as its first invocation
    starts, instead of in every import of the handler module."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._tracer: Tracer | None = None

    @staticmethod
    def enabled() -> bool:
        """Powertools' own rule, read without building a Tracer: off outside Lambda (no
        LAMBDA_TASK_ROOT), under SAM local or Chalice, or with POWERTOOLS_TRACE_DISABLED."""
        return not Tracer._is_tracer_disabled()

    def tracer(self) -> Tracer:
        """The Tracer, built on the first call."""
        if self._tracer is None:
            self._tracer = Tracer(**self._options)
        return self._tracer

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        """`Tracer.capture_lambda_handler`, applied when the handler first runs with tracing on."""
        traced: list[Handler] = []

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            if not traced:
                traced.append(self.tracer().capture_lambda_handler(handler) if self.enabled() else handler)
            return traced[0](event, context)

        return wrapper


logger = Logger()
# Only botocore: patching every supported library imports requests, sqlite3, httplib and more at cold
# start (about 40 ms) for libraries the auditor does not use.
tracer = LazyTracer(patch_modules=("botocore",))
metrics = Metrics()


def count(name: str, value: int) -> None:
    """A count in the invocation's metrics (flushed by `log_metrics`), with the service dimension."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def dimensioned_count(name: str, value: int, dimensions: dict[str, str]) -> None:
    """A count with its own dimensions (besides the service's), emitted at once as its own EMF
    line: the invocation's metrics share one set of dimensions."""
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "job-auditor")
    with single_metric(
        name=name, unit=MetricUnit.Count, value=value, default_dimensions={"service": service}
    ) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)
