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


def test_the_registry_exists_only_where_the_schema_registry_is_offered(default: Synth) -> None:
    # Given the environment-agnostic stack: the registry, the schema and their outputs carry one condition
    _, registry = default.only("AWS::EventSchemas::Registry")
    _, schema = default.only("AWS::EventSchemas::Schema")
    condition = registry["Condition"]
    assert schema["Condition"] == condition
    outputs = default.json["Outputs"]
    assert (
        outputs["EventSchemaRegistryName"]["Condition"]
        == outputs["EventSchemaName"]["Condition"]
        == condition
    )
    # false in the regions botocore lists without it (ca-west-1, il-central-1, ...), true elsewhere
    expression = json.dumps(default.json["Conditions"][condition])
    missing = event_schema.schemas_not_offered()
    assert {"ca-west-1", "il-central-1", "mx-central-1"} <= set(missing)
    assert all(f'"{region}"' in expression for region in missing)
    assert '"us-east-1"' not in expression and '"eu-west-1"' not in expression


def test_a_stack_of_a_region_without_it_has_none_and_one_with_it_has_it_unconditionally() -> None:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from job_auditor import JobAuditor

    templates = {}
    for region in ("il-central-1", "eu-west-1"):
        stack = cdk.Stack(cdk.App(), "Audit", env=cdk.Environment(account="111111111111", region=region))
        JobAuditor(stack, "JobAuditor")
        templates[region] = Template.from_stack(stack).to_json()
    assert not [
        r
        for r in templates["il-central-1"]["Resources"].values()
        if r["Type"].startswith("AWS::EventSchemas")
    ]
    assert "EventSchemaRegistryName" not in json.dumps(templates["il-central-1"]["Outputs"])
    registries = [
        r for r in templates["eu-west-1"]["Resources"].values() if r["Type"] == "AWS::EventSchemas::Registry"
    ]
    assert len(registries) == 1 and "Condition" not in registries[0]
