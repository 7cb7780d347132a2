"""What the simulated control planes hold: Bedrock model import and copy jobs, Q in Connect knowledge
bases and import jobs, and the time helpers their sort keys use.

Times are stored truncated to milliseconds, the precision the real APIs return, so a timestamp a
client read from a response and sends back as `creationTimeAfter` compares exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(when: datetime) -> int:
    """Exact integer microseconds since the epoch of an aware datetime."""
    if when.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got naive {when!r}")
    return (when - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of integer microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def truncate_ms(when: datetime) -> datetime:
    """Drop sub-millisecond precision (the real APIs report milliseconds)."""
    return when.astimezone(UTC).replace(microsecond=when.microsecond - when.microsecond % 1000)


@dataclass
class ModelImportJob:
    """A Bedrock model import job."""

    arn: str
    name: str
    region: str
    status: str
    creation_time: datetime
    last_modified_time: datetime
    seq: int
    end_time: datetime | None = None
    failure_message: str | None = None
    imported_model_name: str | None = None
    imported_model_arn: str | None = None
    role_arn: str = ""
    s3_uri: str = ""

    @property
    def sort_key(self) -> tuple[int, int]:
        """Position in the region's creation-ordered index."""
        return (to_micros(self.creation_time), self.seq)


@dataclass
class ModelCopyJob:
    """A Bedrock model copy job (the API reports no last-modified or end time for these)."""

    arn: str
    region: str
    status: str
    creation_time: datetime
    seq: int
    target_model_name: str
    target_model_arn: str
    source_model_arn: str
    source_account_id: str
    source_model_name: str | None = None
    failure_message: str | None = None

    @property
    def sort_key(self) -> tuple[int, int]:
        """Position in the region's creation-ordered index."""
        return (to_micros(self.creation_time), self.seq)


@dataclass
class KnowledgeBase:
    """An Amazon Q in Connect knowledge base."""

    knowledge_base_id: str
    arn: str
    name: str
    region: str
    knowledge_base_type: str
    status: str
    last_modified_time: datetime


@dataclass
class ImportJob:
    """An Amazon Q in Connect import job."""

    import_job_id: str
    knowledge_base_id: str
    knowledge_base_arn: str
    region: str
    upload_id: str
    status: str
    created_time: datetime
    last_modified_time: datetime
    url: str
    url_expiry: datetime
    metadata: dict[str, str] = field(default_factory=dict)
    failed_record_report: str | None = None
    import_job_type: str = "QUICK_RESPONSES"


AnyJob = ModelImportJob | ModelCopyJob | ImportJob
