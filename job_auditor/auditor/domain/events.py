"""The published event: a versioned envelope, built the same way for every channel. Pure."""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import json
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import quote

from job_auditor.auditor.domain.diff import Transition
from job_auditor.contract.environment import ENVELOPE_VERSION

# Failure messages are cut here so every entry stays far below EventBridge's and SNS's 256 KB
# (EventBridge takes 1 MB since 2026-01; SNS 256 KB by default).
MAX_FAILURE_MESSAGE_CHARS = 4_000
TRUNCATION_MARK = " [truncated]"
# The console's ARN redirect to a resource's own page. The list page (jobsConsoleUrl) goes alongside it,
# as a fallback should the redirect not know a job's ARN type.
CONSOLE_ARN_URL = "https://{region}.console.aws.amazon.com/go/view?arn={arn}"


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, as EventBridge and people expect."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def truncate(text: str | None, limit: int = MAX_FAILURE_MESSAGE_CHARS) -> tuple[str | None, bool]:
    """Cut `text` to at most `limit` characters (mark included); say whether it was cut."""
    if text is None or len(text) <= limit:
        return text, False
    return text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK, True


def duration_seconds(transition: Transition) -> int | None:
    """How long the job ran: to its end time if it has one, else to when the transition was observed."""
    job = transition.job
    end = job.ended_at
    if end is None and transition.source.spec.is_terminal(job.status):
        end = job.last_modified_at or transition.observed_at
    if end is None:
        end = transition.observed_at
    return max(0, int((end - job.created_at).total_seconds()))


def jobs_console_url(transition: Transition) -> str:
    """The console page listing every job of the transition's kind in its region."""
    return transition.source.spec.jobs_console_url.format(region=transition.source.region)


def console_url(transition: Transition) -> str:
    """The job's own console page, through the ARN redirect; the kind's list page when the job has no
    ARN (Q in Connect import jobs have only an id)."""
    arn = transition.job.arn
    if not arn:
        return jobs_console_url(transition)
    return CONSOLE_ARN_URL.format(region=transition.source.region, arn=quote(arn, safe=""))


class Event(NamedTuple):
    """An EventBridge entry, independent of boto3."""

    source: str
    detail_type: str
    detail: dict[str, Any]
    resources: tuple[str, ...]
    time: datetime

    @property
    def event_id(self) -> str:
        return str(self.detail["eventId"])

    def detail_json(self) -> str:
        return json.dumps(self.detail, separators=(",", ":"), ensure_ascii=False)


def build_detail(transition: Transition) -> dict[str, Any]:
    """The `detail` of the event: version 1 of the envelope (documented in the README)."""
    job = transition.job
    source = transition.source
    failure, cut = truncate(job.failure_message)
    detail: dict[str, Any] = {
        "version": ENVELOPE_VERSION,
        "eventId": transition.event_id,
        "transition": transition.type,
        "sequence": transition.sequence,
        "account": source.account,
        "region": source.region,
        "jobKind": source.spec.id,
        "jobId": job.job_id,
        "jobArn": job.arn,
        "jobName": job.name,
        "knowledgeBaseId": source.knowledge_base_id,
        "dataSourceId": source.data_source_id,
        "previousStatus": transition.previous_status,
        "status": job.status,
        "statusCategory": source.spec.category(job.status).value,
        "creationTime": iso(job.created_at),
        "lastModifiedTime": iso(job.last_modified_at),
        "endTime": iso(job.ended_at),
        "observedTime": iso(transition.observed_at),
        "durationSeconds": duration_seconds(transition),
        "failureMessage": failure,
        "failureMessageTruncated": cut,
        # The kind's own figures, as its API reports them (ingestion statistics, record counts).
        "jobDetails": dict(job.details),
        "consoleUrl": console_url(transition),
        "jobsConsoleUrl": jobs_console_url(transition),
    }
    if transition.type == "stuck" and transition.stuck_since is not None:
        detail["stuckForSeconds"] = int((transition.observed_at - transition.stuck_since).total_seconds())
    if transition.type == "disappeared" and transition.reason:
        detail["reason"] = transition.reason
    return detail


def build_event(transition: Transition, event_source: str) -> Event:
    """The EventBridge entry for one transition."""
    resources = tuple(r for r in (transition.job.arn,) if r)
    return Event(
        source=event_source,
        detail_type=transition.source.spec.detail_type,
        detail=build_detail(transition),
        resources=resources,
        time=transition.observed_at,
    )


def entry_size(event: Event) -> int:
    """PutEvents entry size as EventBridge counts it: Time (14 bytes) + UTF-8 of the other fields."""
    size = 14 + len(event.source.encode()) + len(event.detail_type.encode())
    size += len(event.detail_json().encode())
    size += sum(len(r.encode()) for r in event.resources)
    return size
