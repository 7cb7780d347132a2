"""Small builders for domain records used across unit tests."""

from datetime import UTC, datetime, timedelta

from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.jobs import JOB_KINDS, JobKindSpec, ObservedJob, Source

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SOURCE = Source("123456789012", "us-east-1", JOB_KINDS["bedrock-model-import"])


def job(n: int = 1, status: str = "InProgress", created_minutes: int = 0, **extra: object) -> ObservedJob:
    fields: dict[str, object] = {
        "job_id": f"arn:aws:bedrock:us-east-1:123456789012:model-import-job/job{n:09d}",
        "status": status,
        "created_at": T0 + timedelta(minutes=created_minutes),
        "name": f"import-{n}",
        "arn": f"arn:aws:bedrock:us-east-1:123456789012:model-import-job/job{n:09d}",
    }
    return ObservedJob(**(fields | extra))  # type: ignore[arg-type]


def transition(
    observed: ObservedJob | None = None,
    previous_status: str | None = "InProgress",
    spec: JobKindSpec = JOB_KINDS["bedrock-model-import"],
    seq: int = 1,
    scope_ids: tuple[str, ...] = (),
) -> Transition:
    source = Source("123456789012", "us-east-1", spec, scope_ids)
    return Transition(
        source=source,
        job=observed or job(status="Completed"),
        type="status-changed" if previous_status else "discovered",
        previous_status=previous_status,
        previous_sequence=seq if previous_status else 0,
        observed_at=T0 + timedelta(hours=2),
    )
