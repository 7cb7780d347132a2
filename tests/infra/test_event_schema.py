"""The stack registers the transition event's schema, from the one file that defines it."""

from __future__ import annotations

import json

from job_auditor.contract.environment import ENVELOPE_VERSION
from job_auditor.infra import event_schema
from tests.infra.conftest import Synth


def test_the_schema_registry_holds_the_transition_event_schema(default: Synth) -> None:
    # Given the synthesized stack
    _, registry = default.only("AWS::EventSchemas::Registry")
    _, schema = default.only("AWS::EventSchemas::Schema")
    # Then the schema is the repo's file, Draft 4, in the stack's own registry
    assert schema["Properties"]["Type"] == "JSONSchemaDraft4"
    content = json.loads(schema["Properties"]["Content"])
    assert content == json.loads(event_schema.schema_file().read_text())
    assert schema["Properties"]["SchemaName"] == f"job-auditor@TransitionEvent-v{ENVELOPE_VERSION}"
    assert registry["Properties"]["RegistryName"] == "JobAuditor-events"
    # And consumers find both by the stack's outputs
    outputs = default.json["Outputs"]
    assert {"EventSchemaRegistryName", "EventSchemaName"} <= set(outputs)
