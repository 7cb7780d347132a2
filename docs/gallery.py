"""Write docs/events.md: a sample event of every job kind for every transition type, each checked
against the event's JSON Schema, and the golden notifications people receive for each type.

    .venv/bin/python docs/gallery.py          # rewrites docs/events.md

The events are built by the auditor's own code (`build_event`) from sample jobs; the field table comes
from the schema (job_auditor/schemas/transition-event.v1.json); the notifications are the golden files
of tests/unit/golden, as the golden tests keep them. tests/unit/test_gallery.py fails when
docs/events.md is not what this script writes.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from job_auditor.auditor.domain.diff import Transition  # noqa: E402
from job_auditor.auditor.domain.events import build_event  # noqa: E402
from job_auditor.auditor.domain.jobs import (  # noqa: E402
    JOB_KINDS,
    JOB_NOT_FOUND,
    JobKindSpec,
    ObservedJob,
    Source,
)
from job_auditor.contract.kinds import StatusCategory  # noqa: E402

SCHEMA_PATH = ROOT / "job_auditor" / "schemas" / "transition-event.v1.json"
GOLDEN = ROOT / "tests" / "unit" / "golden"
OUT = ROOT / "docs" / "events.md"

ACCOUNT, REGION, EVENT_SOURCE = "123456789012", "us-east-1", "job-auditor"
CREATED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
# Names people give their jobs; a kind not listed here gets "<kind>-sample".
NAMES = {
    "bedrock-model-import": "llama-3-8b-import",
    "bedrock-model-copy": "llama-3-8b-eu",
    "bedrock-evaluation": "rag-answers-eval",
    "bedrock-customization": "support-tone-tuning",
    "bedrock-batch-inference": "nightly-ticket-summaries",
}
# Sample scope ids; each level takes the first its id pattern accepts.
SCOPE_IDS = ("11111111-2222-3333-4444-555555555555", "KB1EXAMPLE", "DS1EXAMPLE")
TRANSITIONS = {
    "discovered": "a job seen for the first time (`previousStatus` is null).",
    "status-changed": "a job's status changed since the last run.",
    "stuck": "a job still in the same in-progress status after `STUCK_AFTER_HOURS` "
    "(`previousStatus` = `status`, plus `stuckForSeconds`).",
    "disappeared": "a tracked job its API no longer finds, announced once in the status it was last "
    "seen in; then no longer followed by every run, but asked for by each sweep for a day: a status it is "
    "found in then is announced.",
}


def _status(spec: JobKindSpec, category: StatusCategory) -> str:
    return next(status for status, c in spec.statuses.items() if c is category)


def _job(spec: JobKindSpec, status: str, ended: datetime | None) -> tuple[ObservedJob, tuple[str, ...]]:
    """A sample job of the kind, and the scope ids of its source."""
    scope = tuple(next(i for i in SCOPE_IDS if re.fullmatch(step.id_pattern, i)) for step in spec.discovery)
    job_id = "a1b2c3d4e5f6"
    arn_grant = next(
        (g for g in spec.iam if g.resource and "*" in g.resource and not g.resource.count("{")), None
    )
    arn = (
        f"arn:aws:{arn_grant.service}:{REGION}:{ACCOUNT}:{str(arn_grant.resource).replace('*', job_id)}"
        if arn_grant
        else None
    )
    name = NAMES.get(spec.id, f"{spec.id}-sample") if arn else None
    observed = ObservedJob(
        job_id=arn or f"{job_id.upper()}00",
        status=status,
        created_at=CREATED,
        name=name or f"{job_id.upper()}00",
        arn=arn,
        last_modified_at=ended or CREATED,
        ended_at=ended,
    )
    return observed, scope


def transition(spec: JobKindSpec, kind_of_transition: str) -> Transition:
    """The sample transition of one type for one kind."""
    running = _status(spec, StatusCategory.IN_PROGRESS)
    if kind_of_transition == "status-changed":
        ended = CREATED + timedelta(hours=2, minutes=2)
        job, scope = _job(spec, _status(spec, StatusCategory.SUCCEEDED), ended)
        previous, sequence, observed_at, since = running, 1, CREATED + timedelta(hours=2, minutes=5), None
    else:
        job, scope = _job(spec, running, None)
        previous, sequence, observed_at, since = {
            "discovered": (None, 0, CREATED + timedelta(minutes=5), None),
            "stuck": (running, 1, CREATED + timedelta(hours=26), CREATED),
            "disappeared": (running, 1, CREATED + timedelta(hours=3), CREATED),
        }[kind_of_transition]
    return Transition(
        source=Source(ACCOUNT, REGION, spec, scope),
        job=job,
        type=kind_of_transition,  # type: ignore[arg-type]
        previous_status=previous,
        previous_sequence=sequence,
        observed_at=observed_at,
        stuck_since=since,
        reason=JOB_NOT_FOUND if kind_of_transition == "disappeared" else None,
    )


def sample_event(spec: JobKindSpec, kind_of_transition: str) -> dict[str, Any]:
    """The event as a rule's target receives it (EventBridge sets `id`)."""
    event = build_event(transition(spec, kind_of_transition), EVENT_SOURCE)
    return {
        "version": "0",
        "id": "(set by EventBridge)",
        "detail-type": event.detail_type,
        "source": event.source,
        "account": ACCOUNT,
        "time": event.detail["observedTime"],
        "region": REGION,
        "resources": list(event.resources),
        "detail": event.detail,
    }


def _fields(schema: dict[str, Any]) -> list[str]:
    detail = schema["properties"]["detail"]
    required = set(detail["required"])
    lines = ["| member | type | required | about |", "|---|---|---|---|"]
    for name, member in detail["properties"].items():
        kind = member.get("type", "")
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        values = ", ".join(f"`{v}`" for v in member.get("enum", []))
        about = member.get("description", "") + (f" One of {values}." if values else "")
        lines.append(f"| `{name}` | {kind} | {'yes' if name in required else 'no'} | {about.strip()} |")
    return lines


def _golden_cases() -> dict[str, list[str]]:
    """Golden case names by the transition type their chat notification names."""
    cases: dict[str, list[str]] = {}
    for path in sorted(GOLDEN.glob("chat_*.json")):
        case = path.stem.removeprefix("chat_")
        kind = json.loads(path.read_text())["metadata"]["eventType"]
        cases.setdefault(kind, []).append(case)
    return cases


def _fenced(language: str, text: str) -> list[str]:
    return [f"```{language}", text.rstrip("\n"), "```"]


def gallery() -> str:
    """The text of docs/events.md."""
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft4Validator(schema)
    cases = _golden_cases()
    lines = [
        "# Event gallery",
        "",
        "<!-- Written by docs/gallery.py: edit the script, not this file. -->",
        "",
        "Every job kind's event for every transition type, as a rule on the job-auditor bus receives it,",
        "and the notifications people receive, from the golden files the tests keep",
        "(`tests/unit/golden`). Each event is built by the auditor's own code and validated against the",
        "event's JSON Schema (`job_auditor/schemas/transition-event.v1.json`). Regenerate with",
        "`.venv/bin/python docs/gallery.py`; `tests/unit/test_gallery.py` fails when this file is stale.",
        "",
        "## The members of `detail` (from the schema)",
        "",
        *_fields(schema),
    ]
    for kind_of_transition, meaning in TRANSITIONS.items():
        lines += ["", f"## `{kind_of_transition}`", "", f"`{kind_of_transition}`: {meaning}", ""]
        for spec in JOB_KINDS.values():
            event = sample_event(spec, kind_of_transition)
            validator.validate(event)
            summary = (
                f"{spec.id}: {event['detail']['previousStatus'] or '(new)'} -> {event['detail']['status']}"
            )
            lines += ["<details>", f"<summary>{summary}</summary>", ""]
            lines += [*_fenced("json", json.dumps(event, indent=2)), "", "</details>", ""]
        lines += ["### What people receive", ""]
        for case in cases.get(kind_of_transition, []):
            lines += [f"#### `{case}` (email, then chat)", ""]
            lines += _fenced("text", (GOLDEN / f"email_{case}.txt").read_text())
            lines += ["", *_fenced("json", (GOLDEN / f"chat_{case}.json").read_text()), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    OUT.write_text(gallery())
    print(f"wrote {OUT.relative_to(ROOT)}")
