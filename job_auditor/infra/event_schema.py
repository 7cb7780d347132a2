"""The transition event's schema in the EventBridge Schema Registry, so consumers can download code
bindings for it. The schema file in `schemas/` is the one definition; this construct only registers it."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnCondition, Fn, Stack, Token
from aws_cdk import aws_eventschemas as eventschemas
from constructs import Construct

from job_auditor.availability import partition_regions, service_offered
from job_auditor.contract.environment import ENVELOPE_VERSION
from job_auditor.infra.job_permissions import any_region

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


def schema_file(version: str = ENVELOPE_VERSION) -> Path:
    return SCHEMAS_DIR / f"transition-event.v{version}.json"


# The EventBridge Schema Registry's service (an SDK client name), not offered in every region.
SCHEMAS = "schemas"


def schemas_not_offered() -> tuple[str, ...]:
    """Every region botocore lists where the Schema Registry is not offered (ca-west-1, il-central-1,
    ...): a template there must not hold AWS::EventSchemas resources, which CloudFormation refuses."""
    return tuple(region for region in partition_regions() if not service_offered(SCHEMAS, region))


class TransitionEventSchema(Construct):
    """A registry of the JobAuditor's own (`<name>-events`) and the transition event's schema (JSON Schema
    Draft 4), where the Schema Registry is offered: in a stack of a region without it, none
    (`registry` and `schema` are None); in one whose region is known only at deploy time, both exist
    only where it is offered (`condition`, the stack's, shared by its JobAuditors)."""

    registry: eventschemas.CfnRegistry | None
    schema: eventschemas.CfnSchema | None
    condition: CfnCondition | None

    def __init__(self, scope: Construct, construct_id: str, *, name: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.registry = self.schema = self.condition = None
        if not Token.is_unresolved(stack.region):
            if not service_offered(SCHEMAS, stack.region):
                return
        else:
            found = stack.node.try_find_child("EventSchemasOffered")
            self.condition = (
                found
                if isinstance(found, CfnCondition)
                else CfnCondition(
                    stack,
                    "EventSchemasOffered",
                    expression=Fn.condition_not(any_region(schemas_not_offered())),
                )
            )
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
        if self.condition is not None:
            self.registry.cfn_options.condition = self.condition
            self.schema.cfn_options.condition = self.condition
