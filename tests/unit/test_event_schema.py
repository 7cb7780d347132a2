"""The transition event's JSON Schema (job_auditor/schemas/transition-event.v1.json, Draft 4 as the
EventBridge Schema Registry takes it) is the one definition of the event: every event the auditor builds, of
every kind and transition type, validates against it, declares no member it lacks, and the schema breaks
nothing of the released copy (schemas/released/)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.events import build_event
from job_auditor.auditor.domain.jobs import JOB_KINDS, StatusCategory
from job_auditor.contract.environment import ENVELOPE_VERSION
from tests.unit.factories import T0, job, transition

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads(
    (ROOT / "job_auditor" / "schemas" / f"transition-event.v{ENVELOPE_VERSION}.json").read_text()
)
RELEASED = json.loads(
    (ROOT / "schemas" / "released" / f"transition-event.v{ENVELOPE_VERSION}.json").read_text()
)
DETAIL = SCHEMA["properties"]["detail"]


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every object closed: an emitted member the schema does not declare fails."""
    closed: dict[str, Any] = json.loads(json.dumps(schema))
    closed["additionalProperties"] = False
    closed["properties"]["detail"]["additionalProperties"] = False
    return closed


STRICT = jsonschema.Draft4Validator(_strict(SCHEMA), format_checker=jsonschema.FormatChecker())


def _entry(t: Transition) -> dict[str, Any]:
    """The event as EventBridge delivers it to a rule's target."""
    event = build_event(t, "job-auditor")
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "123456789012",
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "region": "us-east-1",
        "resources": list(event.resources),
        "detail": json.loads(event.detail_json()),
    }


def _kind_transitions(kind_id: str) -> list[Transition]:
    spec = JOB_KINDS[kind_id]
    running = next(s for s, c in spec.statuses.items() if c is StatusCategory.IN_PROGRESS)
    scope = tuple(f"SCOPE{i:05d}" for i in range(len(spec.discovery)))
    ended = [s for s in spec.statuses if spec.is_terminal(s)]
    base = transition(job(1, running), previous_status=None, spec=spec, scope_ids=scope)
    out = [base]
    out += [
        transition(
            job(2, status, ended_at=T0 + timedelta(hours=1))._replace(failure_message="x" * 10_000),
            previous_status=running,
            spec=spec,
            scope_ids=scope,
        )
        for status in ended
    ]
    out.append(base._replace(type="stuck", previous_status=running, stuck_since=T0))
    out.append(base._replace(type="disappeared", previous_status=running, stuck_since=T0))
    out.append(transition(job(3, "SomethingNew")._replace(arn=None), spec=spec, scope_ids=scope))
    return out


@pytest.mark.parametrize("kind_id", list(JOB_KINDS))
def test_every_event_of_every_kind_and_transition_type_is_in_the_schema(kind_id: str) -> None:
    # Given a discovered job, one ending in each of the kind's outcomes (with a message cut in the event),
    # a stuck and a disappeared job, and one in a status nobody knows
    for t in _kind_transitions(kind_id):
        entry = _entry(t)
        # Then it validates, every member declared, and the detail-type is the registry's
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in STRICT.iter_errors(entry)]
        assert errors == [], (t.type, t.status)
        assert entry["detail-type"] == JOB_KINDS[kind_id].detail_type


def test_the_truncated_message_case_is_in_the_schema() -> None:
    entry = _entry(transition(job(1, "Failed", failure_message="y" * 50_000)))
    assert entry["detail"]["failureMessageTruncated"] is True
    STRICT.validate(entry)


def test_an_event_that_leaves_the_schema_fails() -> None:
    # Given a good event, and copies of it changed the ways a careless edit would
    entry = _entry(transition(job(1, "Completed")))
    bad = [
        entry | {"detail": entry["detail"] | {"newMember": 1}},
        entry | {"detail": {k: v for k, v in entry["detail"].items() if k != "eventId"}},
        entry | {"detail": entry["detail"] | {"sequence": "4"}},
        entry | {"detail": entry["detail"] | {"transition": "changed"}},
        entry | {"detail": entry["detail"] | {"creationTime": "yesterday"}},
    ]
    # Then each of them is refused
    for event in bad:
        assert list(STRICT.iter_errors(event)), event["detail"]


def test_the_schema_is_draft_4_and_breaks_nothing_of_the_released_one() -> None:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-04/schema#"
    old, new = RELEASED["properties"]["detail"], DETAIL
    # No member removed or retyped, nothing newly required: additions within a version are optional
    for name, member in old["properties"].items():
        assert name in new["properties"], f"{name} removed"
        assert new["properties"][name]["type"] == member["type"], f"{name} retyped"
    assert set(new["required"]) <= set(old["required"]), "a member became required"
    assert set(SCHEMA["required"]) <= set(RELEASED["required"])
    # And a value set (enum) only grows where the schema says it may: nowhere in version 1
    for name, member in old["properties"].items():
        if "enum" in member:
            assert new["properties"][name]["enum"] == member["enum"], f"{name} values changed"


def test_every_category_the_registry_knows_matches_the_schemas_pattern() -> None:
    validator = jsonschema.Draft4Validator(DETAIL["properties"]["statusCategory"])
    assert all(validator.is_valid(category.value) for category in StatusCategory)


def test_the_readme_sample_is_an_event_of_the_schema_and_names_every_member() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The event") :]
    sample = json.loads(
        section[section.index("```json") + 7 : section.index("```", section.index("```json") + 7)]
    )
    STRICT.validate(sample | {"id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718"})
    optional = {"stuckForSeconds", "reason"}
    assert set(DETAIL["properties"]) - optional == set(sample["detail"])


def test_the_readme_field_table_names_only_members_of_the_schema() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The event") : readme.index("## Notifications people read")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {part.strip(" `") for row in rows for part in row.split("|")[1].split("/")}
    assert named and named <= set(DETAIL["properties"]), named - set(DETAIL["properties"])
