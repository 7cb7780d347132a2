"""Block Kit rendering of one job-auditor transition (event `detail`, envelope v1). Pure.

The message is one attachment whose colour bar says the outcome, holding the blocks: a header with
an emoji, the change, the fields (account, region, job kind, name, status, times, duration), the job
ARN with links to the job's console page and its kind's list page, the failure message and a context
line with the event id. Every text stays within Slack's limits (header 150, field 2,000, section 3,000
characters; at most 50 blocks), so a long failure message is cut, never rejected by Slack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from job_auditor.auditor.domain.notifications import (
    category_look,
    detail_lines,
    disappeared_text,
    duration_text,
    kind_jobs,
    kind_name,
)

# Slack's limits (Block Kit reference).
MAX_HEADER_CHARS = 150
MAX_SECTION_CHARS = 3_000
MAX_FIELD_CHARS = 2_000
MAX_FIELDS = 10
MAX_BLOCKS = 50
MAX_URL_CHARS = 3_000
MAX_CONTEXT_CHARS = 2_000
MAX_LINK_TEXT_CHARS = 100
# What a job's ARN or id keeps in its section when console links take the rest.
MIN_ID_CHARS = 40
# The top-level `text` is the notification and fallback; keep it short.
MAX_FALLBACK_CHARS = 300
ELLIPSIS = "…"

_STUCK_LOOK = (":warning:", "STUCK", "#daa038")
# A tracked job its API no longer finds (the same emoji as the Amazon Q Developer notification).
_DISAPPEARED_LOOK = (":ghost:", "DISAPPEARED", "#808080")
_PLAIN_LOOK = (":speech_balloon:", "Notification", "#9e9e9e")


def escape(text: str) -> str:
    """Slack mrkdwn control characters: &, < and > must be sent as HTML entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int, *, markdown: bool = True) -> str:
    """`text` escaped for mrkdwn (when `markdown`) and cut to at most `limit` characters, ellipsis
    included, never inside an entity."""
    pieces = [escape(char) for char in text] if markdown else list(text)
    if sum(len(piece) for piece in pieces) <= limit:
        return "".join(pieces)
    room = limit - len(ELLIPSIS)
    out: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > room:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + ELLIPSIS


def _code(text: str) -> str:
    """Text for inside a code span or block: a backtick in it would end the span early."""
    return text.replace("`", "'")


def _str(detail: Mapping[str, Any], key: str) -> str | None:
    value = detail.get(key)
    if value is None or value == "":
        return None
    return str(value)


def is_stuck(detail: Mapping[str, Any]) -> bool:
    return detail.get("transition") == "stuck"


def look(detail: Mapping[str, Any]) -> tuple[str, str, str]:
    """(emoji, word, colour) of a transition; an unknown category looks like UNKNOWN."""
    if is_stuck(detail):
        return _STUCK_LOOK
    if detail.get("transition") == "disappeared":
        return _DISAPPEARED_LOOK
    shown = category_look(detail)
    return (shown.emoji, shown.word, shown.colour)


def job_name(detail: Mapping[str, Any]) -> str:
    return _str(detail, "jobName") or _str(detail, "jobId") or "(unnamed job)"


def change_text(detail: Mapping[str, Any]) -> str:
    """'InProgress → Completed', 'new job → InProgress', or 'still InProgress after 6h 00m 00s'."""
    status = _str(detail, "status") or "?"
    if is_stuck(detail):
        return f"still {status} after {duration_text(detail.get('stuckForSeconds'))}"
    if detail.get("transition") == "disappeared":
        return disappeared_text(detail)
    previous = _str(detail, "previousStatus") or "new job"
    return f"{previous} → {status}"


def fallback_text(detail: Mapping[str, Any]) -> str:
    """The notification line (plain words, also what screen readers and old clients show)."""
    emoji, word, _ = look(detail)
    region = _str(detail, "region") or "?"
    text = f"{emoji} [{word}] {kind_name(detail)} {job_name(detail)} ({region}): {change_text(detail)}"
    return fit(text, MAX_FALLBACK_CHARS)


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _field(label: str, value: str | None, *, code: bool = False) -> dict[str, str]:
    prefix = f"*{label}*\n"
    room = MAX_FIELD_CHARS - len(prefix) - (2 if code else 0)
    if value is None:
        return _mrkdwn(prefix + "-")
    body = fit(_code(value) if code else value, room)
    return _mrkdwn(prefix + (f"`{body}`" if code else body))


def _fields(detail: Mapping[str, Any]) -> list[dict[str, str]]:
    status = (
        f"{_str(detail, 'status') or '?'} (for {duration_text(detail.get('stuckForSeconds'))})"
        if is_stuck(detail)
        else change_text(detail)
    )
    fields = [
        _field("Account", _str(detail, "account")),
        _field("Region", _str(detail, "region")),
        _field("Job kind", _str(detail, "jobKind")),
        _field("Job name", _str(detail, "jobName")),
        _field("Status", status),
        _field("Duration", duration_text(detail.get("durationSeconds"))),
        _field("Created", _str(detail, "creationTime")),
        _field("Ended", _str(detail, "endTime")),
    ]
    if kb := _str(detail, "knowledgeBaseId"):
        fields.append(_field("Knowledge base", kb, code=True))
    if data_source := _str(detail, "dataSourceId"):
        fields.append(_field("Data source", data_source, code=True))
    return fields[:MAX_FIELDS]


def _details_section(detail: Mapping[str, Any]) -> dict[str, Any] | None:
    """The kind's own figures (ingestion statistics, record counts) in a section of their own."""
    lines = detail_lines(detail)
    if not lines:
        return None
    return {"type": "section", "fields": [_field(label, value) for label, value in lines][:MAX_FIELDS]}


def _link(url: str | None, text: str) -> str | None:
    """A mrkdwn link, or None for a URL that is not plain https or could break out of the link."""
    if not url or len(url) > MAX_URL_CHARS or not url.startswith("https://") or any(c in url for c in "|<> "):
        return None
    return f"<{url.replace('&', '&amp;')}|{text}>"


def console_links(detail: Mapping[str, Any]) -> list[str]:
    """mrkdwn links to the job's console page and, when it is another page, to the list of the kind's
    jobs. Links, not buttons: a URL button in a message from an app without an interactivity endpoint
    (an incoming webhook) shows a warning icon once clicked."""
    job_url, jobs_url = _str(detail, "consoleUrl"), _str(detail, "jobsConsoleUrl")
    links = [_link(job_url, "Open in the AWS console")]
    if jobs_url != job_url:
        links.append(_link(jobs_url, fit(f"All {kind_jobs(detail)}", MAX_LINK_TEXT_CHARS)))
    return [link for link in links if link]


def _job_section(detail: Mapping[str, Any]) -> dict[str, Any]:
    arn = _str(detail, "jobArn")
    label, value = ("*Job ARN*\n", arn) if arn else ("*Job id*\n", _str(detail, "jobId") or "-")
    # The id keeps at least a few characters; a link that would not fit after it is left out.
    room = MAX_SECTION_CHARS - len(label) - 2 - MIN_ID_CHARS
    tail = ""
    for link in console_links(detail):
        more = f" · {link}" if tail else f"\n:arrow_upper_right: {link}"
        if len(tail) + len(more) <= room:
            tail += more
    room = MAX_SECTION_CHARS - len(label) - 2 - len(tail)
    return {"type": "section", "text": _mrkdwn(label + "`" + fit(_code(value), room) + "`" + tail)}


def _failure_section(detail: Mapping[str, Any]) -> dict[str, Any] | None:
    message = _str(detail, "failureMessage")
    if message is None:
        return None
    cut = " (truncated)" if detail.get("failureMessageTruncated") else ""
    label = f"*Failure message{cut}*\n"
    fence = "```"
    room = MAX_SECTION_CHARS - len(label) - 2 * len(fence)
    return {"type": "section", "text": _mrkdwn(label + fence + fit(_code(message), room) + fence)}


def _context(detail: Mapping[str, Any]) -> dict[str, Any]:
    parts = [f"event `{_code(_str(detail, 'eventId') or '-')}`", _str(detail, "transition") or "transition"]
    if (sequence := _str(detail, "sequence")) is not None:
        parts.append(f"#{sequence}")
    if observed := _str(detail, "observedTime"):
        parts.append(f"observed {observed}")
    return {"type": "context", "elements": [_mrkdwn(fit(" · ".join(parts), MAX_CONTEXT_CHARS))]}


def render(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The incoming-webhook payload for one transition: fallback `text` and one coloured attachment."""
    emoji, word, colour = look(detail)
    header = f"{emoji} {word}: {kind_name(detail)} {job_name(detail)}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": fit(header, MAX_HEADER_CHARS, markdown=False),
                "emoji": True,
            },
        },
        {"type": "section", "text": _mrkdwn("*" + fit(change_text(detail), MAX_SECTION_CHARS - 2) + "*")},
        {"type": "section", "fields": _fields(detail)},
        _job_section(detail),
    ]
    if details := _details_section(detail):
        blocks.append(details)
    if failure := _failure_section(detail):
        blocks.append(failure)
    blocks.append(_context(detail))
    return {
        "text": fallback_text(detail),
        "attachments": [{"color": colour, "fallback": fallback_text(detail), "blocks": blocks[:MAX_BLOCKS]}],
    }


def render_plain(message: str) -> dict[str, Any]:
    """A message that is not a transition (not JSON, or not an object): posted as text, cut to fit."""
    emoji, word, colour = _PLAIN_LOOK
    body = fit(message, MAX_SECTION_CHARS) if message.strip() else "(empty message)"
    return {
        "text": fit(f"{emoji} {word}: {message}", MAX_FALLBACK_CHARS),
        "attachments": [
            {
                "color": colour,
                "fallback": fit(message, MAX_FALLBACK_CHARS),
                "blocks": [{"type": "section", "text": _mrkdwn(body)}],
            }
        ],
    }
