"""One summary message instead of many: what people read when one run has more transitions for them
than DIGEST_THRESHOLD. Pure: takes the events' `detail`s (envelope v1), returns strings and dicts.

Counts by job kind and status category, the transitions that need someone first (failed, partly
done, expired, stuck, disappeared), then the others, at most MAX_DIGEST_JOBS of them named: whatever
the run's size, the message stays far below SNS's 256 KB. The bus still carries every transition as
its own event.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Self

from job_auditor.auditor.domain.jobs import StatusCategory
from job_auditor.auditor.domain.notifications import (
    MAX_CHAT_DESCRIPTION_CHARS,
    MAX_SUBJECT_CHARS,
    ascii_text,
    attributes,
    change_text,
    headline_word,
    job_label,
)
from job_auditor.contract.environment import STUCK_TRANSITION

# Transitions named in a digest; the rest are counted only.
MAX_DIGEST_JOBS = 25
# A failure message in a digest: its first line, cut here.
MAX_DIGEST_FAILURE_CHARS = 200
DIGEST_TRANSITION = "digest"
DIGEST_EMOJI = ":bookmark_tabs:"
_NEEDS_SOMEONE = frozenset(
    {StatusCategory.FAILED.value, StatusCategory.PARTIAL.value, StatusCategory.EXPIRED.value}
)


def category_label(detail: Mapping[str, Any]) -> str:
    """What a transition is counted as: its status category, or STUCK / DISAPPEARED."""
    if detail.get("transition") == STUCK_TRANSITION:
        return "STUCK"
    if detail.get("transition") == "disappeared":
        return "DISAPPEARED"
    return str(detail.get("statusCategory") or StatusCategory.UNKNOWN.value)


def needs_someone(detail: Mapping[str, Any]) -> bool:
    """Failed, partly done, expired, stuck or gone: listed first."""
    return detail.get("transition") in (STUCK_TRANSITION, "disappeared") or (
        detail.get("statusCategory") in _NEEDS_SOMEONE
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _counts(labels: Iterable[str]) -> str:
    """'3 FAILED, 20 SUCCEEDED': the categories that need someone first, then by name."""
    counted = Counter(labels)
    order = sorted(counted, key=lambda c: (c not in _NEEDS_SOMEONE | {"STUCK", "DISAPPEARED"}, c))
    return ", ".join(f"{counted[c]} {c}" for c in order)


def _failure_line(detail: Mapping[str, Any]) -> str | None:
    message = str(detail.get("failureMessage") or "").strip()
    if not message:
        return None
    first = message.splitlines()[0]
    if len(first) > MAX_DIGEST_FAILURE_CHARS or first != message:
        first = first[: MAX_DIGEST_FAILURE_CHARS - 3].rstrip() + "..."
    return first


class Digest(NamedTuple):
    """The summary of one run's transitions for people, in the order it lists them."""

    details: tuple[Mapping[str, Any], ...]

    @classmethod
    def of(cls, details: Sequence[Mapping[str, Any]]) -> Self:
        """Those needing someone first, then the others; by kind, then as observed."""
        ordered = sorted(
            details,
            key=lambda d: (not needs_someone(d), str(d["jobKind"]), str(d.get("observedTime") or "")),
        )
        return cls(tuple(ordered))

    @property
    def digest_id(self) -> str:
        """Deterministic: the same transitions digested again (a retry) carry the same id."""
        ids = "|".join(sorted(str(d["eventId"]) for d in self.details))
        return "digest-" + hashlib.sha256(ids.encode()).hexdigest()[:32]

    @property
    def attention(self) -> list[Mapping[str, Any]]:
        return [d for d in self.details if needs_someone(d)]

    def by_kind(self) -> list[tuple[str, str]]:
        """(job kind, its counts by category), kinds in name order."""
        kinds = sorted({str(d["jobKind"]) for d in self.details})
        return [
            (kind, _counts(category_label(d) for d in self.details if d["jobKind"] == kind)) for kind in kinds
        ]

    def headline(self) -> str:
        """'30 job transitions in one run, 3 need attention'."""
        text = f"{_plural(len(self.details), 'job transition')} in one run"
        if attention := len(self.attention):
            text += f", {attention} need{'s' if attention == 1 else ''} attention"
        return text

    def subject(self) -> str:
        """At most 100 ASCII characters: how many, and how many need someone."""
        text = f"[DIGEST] {_plural(len(self.details), 'job transition')}"
        if attention := len(self.attention):
            text += f", {attention} need{'s' if attention == 1 else ''} attention"
        return ascii_text(text)[:MAX_SUBJECT_CHARS]

    def _line(self, detail: Mapping[str, Any]) -> str:
        where = f"{detail['account']}, {detail['region']}"
        job = f"{detail['jobKind']} {job_label(detail)} ({where})"
        return f"[{headline_word(detail)}] {job}: {change_text(detail)}"

    def _listed(self) -> tuple[list[Mapping[str, Any]], int]:
        listed = list(self.details[:MAX_DIGEST_JOBS])
        return listed, len(self.details) - len(listed)

    def text(self) -> str:
        """Plain text a person can read in an email."""
        lines = [f"job-auditor digest: {self.headline()}.", "", "By job kind:"]
        width = max(len(kind) for kind, _ in self.by_kind())
        lines += [f"  {kind:<{width}}  {counts}" for kind, counts in self.by_kind()]
        listed, rest = self._listed()
        attention = [d for d in listed if needs_someone(d)]
        others = [d for d in listed if not needs_someone(d)]
        if attention:
            lines += ["", f"Need attention ({len(self.attention)}):"]
            for detail in attention:
                lines.append(f"  {self._line(detail)}")
                if failure := _failure_line(detail):
                    lines.append(f"      Failure: {failure}")
                lines.append(f"      {detail['consoleUrl']}")
        if others:
            lines += ["", f"Other transitions ({len(self.details) - len(self.attention)}):"]
            lines += [f"  {self._line(detail)}" for detail in others]
        if rest:
            lines += ["", f"... and {_plural(rest, 'more transition')}, not listed here."]
        lines += [
            "",
            "Every transition is also an event on the bus, with its own eventId; "
            "`job-auditor history <job>` lists a job's transitions.",
            f"Digest id: {self.digest_id}",
        ]
        return "\n".join(lines)

    def chat(self) -> dict[str, Any]:
        """An Amazon Q Developer in chat applications custom notification (schema version 1.0)."""
        lines = [f"*{kind}* {counts}" for kind, counts in self.by_kind()]
        listed, rest = self._listed()
        lines += [f"• {self._line(detail)}" for detail in listed]
        if rest:
            lines.append(f"… and {_plural(rest, 'more transition')}")
        description = "\n".join(lines)
        if len(description) > MAX_CHAT_DESCRIPTION_CHARS:
            cut = description[: MAX_CHAT_DESCRIPTION_CHARS - 60].rsplit("\n", 1)[0]
            description = f"{cut}\n… more in the email digest and on the bus"
        kinds = sorted({str(d["jobKind"]) for d in self.details})
        return {
            "version": "1.0",
            "source": "custom",
            "id": self.digest_id,
            "content": {
                "textType": "client-markdown",
                "title": f"{DIGEST_EMOJI} job-auditor: {self.headline()}",
                "description": description,
                "nextSteps": [
                    "Each transition is an event on the bus; `job-auditor history <job>` lists a job's "
                    "transitions"
                ],
                "keywords": [DIGEST_TRANSITION, *kinds],
            },
            "metadata": {
                "threadId": "job-auditor-digest",
                "summary": f"job-auditor digest: {self.headline()}",
                "eventType": DIGEST_TRANSITION,
                "additionalContext": {"digestId": self.digest_id, "transitions": str(len(self.details))},
            },
        }

    def message_attributes(self) -> dict[str, str]:
        """The attributes of the first transition it lists, which passed the notification filter (as
        every transition of a digest did), so every subscription carrying that filter gets the digest;
        the eventId is the digest's, and `digest` says it is one. (String attributes only: a filter's
        prefix on a String.Array attribute is not something we could check.)"""
        return {**attributes(self.details[0]), "eventId": self.digest_id, DIGEST_TRANSITION: "true"}

    def sns_message(self) -> str:
        """The `Message` of a `MessageStructure='json'` publish: email text, the chat notification for
        HTTPS (Amazon Q Developer), the text for Lambda subscribers (the Slack forwarder posts it)."""
        text = self.text()
        chat = json.dumps(self.chat(), ensure_ascii=False)
        return json.dumps({"default": text, "email": text, "https": chat, "lambda": text}, ensure_ascii=False)
