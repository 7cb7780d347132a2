"""The transition event's schema in the EventBridge Schema Registry, so consumers can download code
bindings for it. The schema file in `schemas/` is the one definition; this construct only registers it."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_eventschemas as eventschemas
from constructs import Construct

from job_auditor.contract.environment import ENVELOPE_VERSION

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


def schema_file(version: str = ENVELOPE_VERSION) -> Path:
    return SCHEMAS_DIR / f"transition-event.v{version}.json"


class TransitionEventSchema(Construct):
    """A registry of the JobAuditor's own (`<name>-events`) and the transition event's schema (JSON Schema
    Draft 4)."""

    def __init__(self, scope: Construct, construct_id: str, *, name: str) -> None:
        super().__init__(scope, construct_id)
        self.registry = eventschemas.CfnRegistry(
            self,
            "Registry",
            registry_name=f"{name}-events",
            description="job-auditor: the events it puts on its bus",
        )
        self.schema = eventschemas.CfnSchema(
            self,
            "TransitionEvent",
            registry_name=self.registry.attr_registry_name,
            schema_name=f"job-auditor@TransitionEvent-v{ENVELOPE_VERSION}",
            type="JSONSchemaDraft4",
            content=schema_file().read_text(),
            description=f"A job's transition (detail.version {ENVELOPE_VERSION}); a detail-type per job kind",
        )
