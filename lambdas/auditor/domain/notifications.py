"""Text that people read: the SNS subject and body of a transition. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from auditor.domain.jobs import StatusCategory

MAX_SUBJECT_CHARS = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

_STATUS_WORD = {
    StatusCategory.SUCCEEDED.value: "Succeeded",
    StatusCategory.FAILED.value: "FAILED",
    StatusCategory.IN_PROGRESS.value: "In progress",
    StatusCategory.DELETED.value: "Deleted",
    StatusCategory.UNKNOWN.value: "Unknown status",
}


@dataclass(frozen=True)
class Notification:
    subject: str
    body: str
    attributes: dict[str, str]


def _clean(text: str) -> str:
    """SNS subjects may not contain line breaks or control characters."""
    return _CONTROL.sub(" ", text).strip()


def subject(detail: dict[str, Any]) -> str:
    """At most 100 characters: outcome, job kind, job name, region."""
    word = _STATUS_WORD.get(detail["statusCategory"], detail["status"])
    kind = str(detail["jobKind"])
    name = str(detail.get("jobName") or detail["jobId"])
    region = str(detail["region"])
    text = _clean(f"[{word}] {kind} {name} ({region})")
    if len(text) <= MAX_SUBJECT_CHARS:
        return text
    # Cut the name, which is the only unbounded part, and keep the region visible.
    fixed = len(text) - len(name)
    room = max(1, MAX_SUBJECT_CHARS - fixed - 1)
    return _clean(f"[{word}] {kind} {name[:room]}… ({region})")[:MAX_SUBJECT_CHARS]


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s"


def body(detail: dict[str, Any]) -> str:
    """Plain text a person can read in an email."""
    previous = detail.get("previousStatus") or "(new job)"
    lines = [
        f"{detail['jobKind']} {detail.get('jobName') or detail['jobId']}: {previous} -> {detail['status']}",
        "",
        f"Account:        {detail['account']}",
        f"Region:         {detail['region']}",
        f"Job kind:       {detail['jobKind']}",
        f"Job name:       {detail.get('jobName') or '-'}",
        f"Job id / ARN:   {detail.get('jobArn') or detail['jobId']}",
    ]
    if detail.get("knowledgeBaseId"):
        lines.append(f"Knowledge base: {detail['knowledgeBaseId']}")
    lines += [
        f"Status:         {previous} -> {detail['status']}",
        f"Created:        {detail.get('creationTime') or '-'}",
        f"Ended:          {detail.get('endTime') or '-'}",
        f"Duration:       {_duration(detail.get('durationSeconds'))}",
    ]
    if detail.get("failureMessage"):
        note = " (truncated)" if detail.get("failureMessageTruncated") else ""
        lines += ["", f"Failure message{note}:", str(detail["failureMessage"])]
    lines += ["", f"Console: {detail['consoleUrl']}", f"Event id: {detail['eventId']}"]
    return "\n".join(lines)


def build_notification(detail: dict[str, Any]) -> Notification:
    """Subject, body and the message attributes that subscription filter policies match on."""
    attributes = {
        "jobKind": str(detail["jobKind"]),
        "status": str(detail["status"]),
        "previousStatus": str(detail.get("previousStatus") or "NONE"),
        "transition": str(detail["transition"]),
        "region": str(detail["region"]),
        "account": str(detail["account"]),
    }
    return Notification(subject=subject(detail), body=body(detail), attributes=attributes)
