"""What people read: per-channel renderings of one transition, and the filter that decides who gets it.
Pure: takes the event `detail` (envelope v1), returns strings and dicts.

One SNS publish per transition carries a message per protocol (`MessageStructure='json'`):
- `default` and `email`: plain text;
- `https`: an Amazon Q Developer in chat applications custom notification (Chatbot subscribes to SNS
  topics over HTTPS; plain text would be dropped with "Event received is not supported");
- `lambda`: the event detail as JSON, for the Slack webhook forwarder.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from job_auditor.auditor.domain.jobs import JOB_KINDS, StatusCategory
from job_auditor.contract.environment import OR_KEY, STUCK_TRANSITION

MAX_SUBJECT_CHARS = 100
# Chat clients render long descriptions poorly; Slack cuts a section at 3,000 characters.
MAX_CHAT_DESCRIPTION_CHARS = 2_800
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class Look(NamedTuple):
    """How a status category shows in every channel: the word of subjects and titles, the emoji of chat
    and Slack, and the colour of Slack's bar."""

    word: str
    emoji: str
    colour: str


# By status category; the email subject, the Amazon Q Developer notification and Slack all use it.
CATEGORY_LOOK: dict[str, Look] = {
    StatusCategory.IN_PROGRESS.value: Look("In progress", ":hourglass_flowing_sand:", "#439fe0"),
    StatusCategory.STOPPING.value: Look("Stopping", ":double_vertical_bar:", "#daa038"),
    StatusCategory.SUCCEEDED.value: Look("Succeeded", ":white_check_mark:", "#2eb886"),
    StatusCategory.PARTIAL.value: Look("PARTIALLY COMPLETED", ":large_orange_diamond:", "#e8912d"),
    StatusCategory.FAILED.value: Look("FAILED", ":x:", "#d40e0d"),
    StatusCategory.STOPPED.value: Look("Stopped", ":black_square_for_stop:", "#7a7a7a"),
    StatusCategory.EXPIRED.value: Look("EXPIRED", ":alarm_clock:", "#c2185b"),
    StatusCategory.DELETED.value: Look("Deleted", ":wastebasket:", "#808080"),
    StatusCategory.UNKNOWN.value: Look("Unknown status", ":grey_question:", "#9e9e9e"),
}
_UNKNOWN_LOOK = CATEGORY_LOOK[StatusCategory.UNKNOWN.value]
# What the reader should do first, for outcomes that need someone.
_FIRST_STEP = {
    StatusCategory.FAILED.value: "Read the failure message and fix the job's input before retrying",
    StatusCategory.PARTIAL.value: "Part of the job's records failed: read its error output before using it",
    StatusCategory.EXPIRED.value: "The job ran out of time before it finished: resubmit it or give it longer",
}


def category_look(detail: Mapping[str, Any]) -> Look:
    """The look of a transition's status category; an unknown category looks like UNKNOWN."""
    return CATEGORY_LOOK.get(str(detail.get("statusCategory")), _UNKNOWN_LOOK)


STUCK_WORD = "STUCK"
STUCK_EMOJI = ":warning:"
# A tracked job the API no longer finds: announced once with the status it was last seen in.
DISAPPEARED_WORD = "DISAPPEARED"
DISAPPEARED_EMOJI = ":ghost:"
# A disappeared job whose source left the audit (detail.reason): what the reader should check first.
_GONE_STEP = {
    "scope deleted": "Its knowledge base or data source was deleted: the auditor no longer follows its jobs",
    "account removed": "Its account left the audited accounts: the auditor no longer follows its jobs",
    "configuration changed": (
        "Its job kind, region or knowledge base is no longer configured: the auditor no longer follows it"
    ),
}
_NOT_FOUND_STEP = "Check whether the job was deleted; the auditor no longer follows it"


def disappeared_text(detail: Mapping[str, Any]) -> str:
    """'no longer found (last seen InProgress)', or, for a job whose source left the audit,
    'no longer audited: scope deleted (last seen InProgress)'."""
    status = detail.get("status") or "?"
    reason = detail.get("reason")
    if isinstance(reason, str) and reason in _GONE_STEP:
        return f"no longer audited: {reason} (last seen {status})"
    return f"no longer found (last seen {status})"


def disappeared_step(detail: Mapping[str, Any]) -> str:
    """What the reader of a disappeared job's notification should check first."""
    return _GONE_STEP.get(str(detail.get("reason")), _NOT_FOUND_STEP)


class Notification(NamedTuple):
    subject: str
    body: str
    attributes: dict[str, str]


def ascii_text(text: str) -> str:
    """SNS rewrites subjects with control or non-ASCII characters: fold accents, replace the rest."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    if not folded.strip() and text.strip():
        folded = "?"
    return _CONTROL.sub(" ", folded).strip()


def job_label(detail: Mapping[str, Any]) -> str:
    """The job's name, else its id."""
    return str(detail.get("jobName") or detail["jobId"])


def headline_word(detail: Mapping[str, Any]) -> str:
    """What a subject or title says first: the category's word, STUCK or DISAPPEARED."""
    if detail.get("transition") == STUCK_TRANSITION:
        return STUCK_WORD
    if detail.get("transition") == "disappeared":
        return DISAPPEARED_WORD
    return category_look(detail).word


def kind_name(detail: Mapping[str, Any]) -> str:
    """'Bedrock model import job' (the job kind's id for a kind this code does not know)."""
    kind = detail.get("jobKind")
    if not kind:
        return "job"
    spec = JOB_KINDS.get(str(kind))
    return spec.display_name if spec else f"{kind} job"


def kind_jobs(detail: Mapping[str, Any]) -> str:
    """'Bedrock model import jobs': the kind's list page, in words."""
    return f"{kind_name(detail)}s"


def _jobs_url(detail: Mapping[str, Any]) -> str | None:
    """The kind's list page, when it is not already the console link (a job without an ARN)."""
    url = detail.get("jobsConsoleUrl")
    return str(url) if url and url != detail["consoleUrl"] else None


def subject(detail: Mapping[str, Any]) -> str:
    """At most 100 ASCII characters on one line: outcome, job kind, job name, region."""
    word = headline_word(detail)
    kind = str(detail["jobKind"])
    name = ascii_text(job_label(detail)) or "?"
    region = str(detail["region"])
    text = ascii_text(f"[{word}] {kind} {name} ({region})")
    if len(text) <= MAX_SUBJECT_CHARS:
        return text
    # Cut the name, the only unbounded part, and keep the region visible.
    room = max(1, MAX_SUBJECT_CHARS - (len(text) - len(name)) - 3)
    return f"[{word}] {kind} {name[:room]}... ({region})"[:MAX_SUBJECT_CHARS]


def duration_text(seconds: object) -> str:
    """'2h 05m 00s', or '2d 01h 00m' from two days on; '-' when unknown. Every channel says it so."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return "-"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        days, hours = divmod(hours, 24)
        return f"{days}d {hours:02d}h {minutes:02d}m"
    return f"{hours}h {minutes:02d}m {secs:02d}s"


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _words(name: str) -> str:
    """'numberOfDocumentsScanned' -> 'Documents scanned' (a leading 'number of' says nothing)."""
    words = _CAMEL.sub(" ", name).lower().removeprefix("number of ")
    return words[:1].upper() + words[1:]


def detail_lines(detail: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of the job's kind-specific details (ingestion statistics, record counts), in the
    API's order; a structure's members become lines of their own."""
    out: list[tuple[str, str]] = []
    for name, value in (detail.get("jobDetails") or {}).items():
        if isinstance(value, Mapping):
            out += [(_words(str(k)), str(v)) for k, v in value.items()]
        else:
            out.append((_words(str(name)), str(value)))
    return out


def change_text(detail: Mapping[str, Any]) -> str:
    """'InProgress -> Failed', 'still InProgress after ...', 'no longer found (last seen ...)'."""
    if detail.get("transition") == STUCK_TRANSITION:
        return f"still {detail['status']} after {duration_text(detail.get('stuckForSeconds'))}"
    if detail.get("transition") == "disappeared":
        return disappeared_text(detail)
    previous = detail.get("previousStatus") or "(new job)"
    return f"{previous} -> {detail['status']}"


def body(detail: Mapping[str, Any]) -> str:
    """Plain text a person can read in an email."""
    lines = [
        f"{detail['jobKind']} {job_label(detail)}: {change_text(detail)}",
        "",
        f"Account:        {detail['account']}",
        f"Region:         {detail['region']}",
        f"Job kind:       {detail['jobKind']}",
        f"Job name:       {detail.get('jobName') or '-'}",
        f"Job id / ARN:   {detail.get('jobArn') or detail['jobId']}",
    ]
    if detail.get("knowledgeBaseId"):
        lines.append(f"Knowledge base: {detail['knowledgeBaseId']}")
    if detail.get("dataSourceId"):
        lines.append(f"Data source:    {detail['dataSourceId']}")
    lines += [
        f"Status:         {change_text(detail)}",
        f"Created:        {detail.get('creationTime') or '-'}",
        f"Ended:          {detail.get('endTime') or '-'}",
        f"Duration:       {duration_text(detail.get('durationSeconds'))}",
    ]
    lines += [f"{label + ':':<15} {value}" for label, value in detail_lines(detail)]
    if detail.get("failureMessage"):
        note = " (truncated)" if detail.get("failureMessageTruncated") else ""
        lines += ["", f"Failure message{note}:", str(detail["failureMessage"])]
    lines += ["", f"Console: {detail['consoleUrl']}"]
    if jobs_url := _jobs_url(detail):
        lines.append(f"All {kind_jobs(detail)}: {jobs_url}")
    lines.append(f"Event id: {detail['eventId']}")
    return "\n".join(lines)


def chat_notification(detail: Mapping[str, Any]) -> dict[str, Any]:
    """An Amazon Q Developer in chat applications custom notification (schema version 1.0).
    Updates of one job thread together (threadId = the job's ARN or id)."""
    special = {STUCK_TRANSITION: STUCK_EMOJI, "disappeared": DISAPPEARED_EMOJI}
    emoji = special.get(str(detail.get("transition"))) or category_look(detail).emoji
    job_ref = str(detail.get("jobArn") or detail["jobId"])
    lines = [
        f"*{change_text(detail)}*",
        f"*Account* {detail['account']}  *Region* {detail['region']}",
        f"*Job* `{job_ref}`",
    ]
    if detail.get("knowledgeBaseId"):
        lines.append(f"*Knowledge base* `{detail['knowledgeBaseId']}`")
    if detail.get("dataSourceId"):
        lines.append(f"*Data source* `{detail['dataSourceId']}`")
    lines += [f"*{label}* {value}" for label, value in detail_lines(detail)]
    lines.append(
        f"*Created* {detail.get('creationTime') or '-'}  *Ended* {detail.get('endTime') or '-'}"
        f"  *Duration* {duration_text(detail.get('durationSeconds'))}"
    )
    if detail.get("failureMessage"):
        lines.append(f"*Failure message*\n```{detail['failureMessage']}```")
    description = "\n".join(lines)
    if len(description) > MAX_CHAT_DESCRIPTION_CHARS:
        description = description[: MAX_CHAT_DESCRIPTION_CHARS - 4] + "…```"
    next_steps = [f"Open the job in the <{detail['consoleUrl']}|AWS console>"]
    if jobs_url := _jobs_url(detail):
        next_steps.append(f"Or see <{jobs_url}|all {kind_jobs(detail)}>")
    if first_step := _FIRST_STEP.get(str(detail["statusCategory"])):
        next_steps.insert(0, first_step)
    if detail.get("transition") == STUCK_TRANSITION:
        next_steps.insert(0, "Check whether the job is still making progress")
    if detail.get("transition") == "disappeared":
        next_steps.insert(0, disappeared_step(detail))
    return {
        "version": "1.0",
        "source": "custom",
        "id": str(detail["eventId"]),
        "content": {
            "textType": "client-markdown",
            "title": f"{emoji} {detail['jobKind']} {job_label(detail)}: {headline_word(detail)}",
            "description": description,
            "nextSteps": next_steps,
            "keywords": [str(detail["jobKind"]), str(detail["status"]), str(detail["region"])],
        },
        "metadata": {
            "threadId": job_ref,
            "summary": f"{detail['jobKind']} {job_label(detail)}: {change_text(detail)}",
            "eventType": str(detail["transition"]),
            "relatedResources": [r for r in (detail.get("jobArn"),) if r],
            "additionalContext": {
                "account": str(detail["account"]),
                "region": str(detail["region"]),
                "eventId": str(detail["eventId"]),
            },
        },
    }


def attributes(detail: Mapping[str, Any]) -> dict[str, str]:
    """SNS message attributes: what subscription filter policies match on (values never empty)."""
    return {
        "jobKind": str(detail["jobKind"]),
        "status": str(detail["status"]),
        # One value across kinds' spellings: a policy on it covers every kind's failures, say.
        "statusCategory": str(detail["statusCategory"]),
        "previousStatus": str(detail.get("previousStatus") or "NONE"),
        "transition": str(detail["transition"]),
        "region": str(detail["region"]),
        "account": str(detail["account"]),
        "jobName": job_label(detail),
        # Lets SNS consumers deduplicate a repeat exactly as bus consumers do.
        "eventId": str(detail["eventId"]),
    }


def build_notification(detail: Mapping[str, Any]) -> Notification:
    """Subject, body and the message attributes that subscription filter policies match on."""
    return Notification(subject=subject(detail), body=body(detail), attributes=attributes(detail))


def sns_message(detail: Mapping[str, Any]) -> str:
    """The `Message` of a `MessageStructure='json'` publish: one rendering per protocol."""
    text = body(detail)
    return json.dumps(
        {
            "default": text,
            "email": text,
            "https": json.dumps(chat_notification(detail), ensure_ascii=False),
            "lambda": json.dumps(dict(detail), ensure_ascii=False),
        },
        ensure_ascii=False,
    )


FilterPolicy = Mapping[str, Sequence[Any]]
# SNS's operator for OR across attributes (OR_KEY): {"$or": [{...}, {...}], ...} matches when one of
# the listed policies does, and every other key of the policy matches too.


def matches(policy: FilterPolicy | None, attrs: Mapping[str, str]) -> bool:
    """Evaluate the subset of SNS filter policy syntax the auditor generates: per attribute, a list
    of exact strings and `{"prefix": ...}` objects; `"$or"`, a list of such policies of which one
    must match; every key named must match."""
    if not policy:
        return True
    for name, allowed in policy.items():
        if name == OR_KEY:
            if not any(matches(alternative, attrs) for alternative in allowed):
                return False
            continue
        value = attrs.get(name)
        if value is None:
            return False
        if not any(
            (isinstance(rule, str) and rule == value)
            or (isinstance(rule, Mapping) and value.startswith(str(rule.get("prefix", "\0"))))
            for rule in allowed
        ):
            return False
    return True
