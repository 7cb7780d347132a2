"""The lazily built Tracer: no X-Ray SDK at import or with tracing off, one Tracer on the first traced
invocation."""

from typing import Any

import pytest
from aws_lambda_powertools import Tracer as PowertoolsTracer

from job_auditor.auditor import observability
from job_auditor.auditor.observability import LazyTracer


class RecordingTracer:
    """Stands in for Powertools' Tracer (which would patch botocore for the whole test session)."""

    built: list[dict[str, Any]] = []

    def __init__(self, **options: Any) -> None:
        self.wrapped: list[str] = []
        RecordingTracer.built.append(options)

    def capture_lambda_handler(self, handler: Any) -> Any:
        def traced(event: Any, context: Any) -> Any:
            self.wrapped.append(event)
            return handler(event, context)

        return traced

    @staticmethod
    def _is_tracer_disabled() -> bool:
        return bool(PowertoolsTracer._is_tracer_disabled())


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> type[RecordingTracer]:
    RecordingTracer.built = []
    monkeypatch.setattr(observability, "Tracer", RecordingTracer)
    return RecordingTracer


def test_tracing_off_builds_no_tracer_and_runs_the_handler(
    recording: type[RecordingTracer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given tracing off (the tests' conftest sets POWERTOOLS_TRACE_DISABLED)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    lazy = LazyTracer(patch_modules=("botocore",))
    handler = lazy.capture_lambda_handler(lambda event, _context: f"ran {event}")
    # When the handler runs twice
    results = [handler("a", None), handler("b", None)]
    # Then it ran and no Tracer was ever built
    assert results == ["ran a", "ran b"]
    assert recording.built == []


def test_tracing_on_builds_one_tracer_on_the_first_invocation(
    recording: type[RecordingTracer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given tracing on, in a Lambda environment
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    lazy = LazyTracer(patch_modules=("botocore",))
    handler = lazy.capture_lambda_handler(lambda event, _context: f"ran {event}")
    # When the handler is only decorated, nothing is built yet
    assert recording.built == []
    # When it runs twice
    results = [handler("a", None), handler("b", None)]
    # Then one Tracer was built, with the options given, and it traced both invocations
    assert results == ["ran a", "ran b"]
    assert recording.built == [{"patch_modules": ("botocore",)}]
    built = lazy.tracer()
    assert isinstance(built, RecordingTracer) and built.wrapped == ["a", "b"]
