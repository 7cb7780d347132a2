"""The member role deployed to organizational units as a service-managed StackSet with auto-deployment.

The StackSet's template is the member stack (JobAuditorMemberStack) synthesized on its own, in an app
of its own: no bootstrap resources (member accounts are not bootstrapped), no CDK metadata, the hub's
feature flags, and the auditor role's ARN as its parameter, which the hub fills in. Service-managed
StackSets never deploy to the management account: the README says how to cover it.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

import aws_cdk as cdk
from aws_cdk import Aws, cx_api
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_iam as iam
from constructs import Construct

from job_auditor.infra.config import ConfigError, JobAuditorProps, is_cdk_key
from job_auditor.infra.iam_limits import sizing_advice
from job_auditor.infra.member_role import AUDITOR_ROLE_ARN_PARAMETER, JobAuditorMemberStack

# CloudFormation's limit of a TemplateBody passed inline.
TEMPLATE_BODY_LIMIT = 51_200
# Deploy to every account of an OU at once (IAM only, nothing to throttle) and carry on past a few
# failed accounts (one with an SCP denying IAM, say): they are reported and the rest are covered.
MAX_CONCURRENT_PERCENTAGE = 100
FAILURE_TOLERANCE_PERCENTAGE = 10


def member_template(config: JobAuditorProps, feature_flags: dict[str, Any]) -> dict[str, Any]:
    """The member stack's template, synthesized in an app of its own with `feature_flags`."""
    with tempfile.TemporaryDirectory(prefix="job-auditor-member-") as outdir:
        app = cdk.App(outdir=outdir, context=feature_flags, analytics_reporting=False)
        stack = JobAuditorMemberStack(
            app,
            "Member",
            config=config,
            analytics_reporting=False,
        )
        artifact = app.synth().get_stack_artifact(stack.artifact_id)
        # What the member role's own checks found (IAM's limits): in an app of its own, nothing else
        # would report it.
        error = cx_api.SynthesisMessageLevel.ERROR
        errors = [str(m.entry.data) for m in artifact.messages if m.level == error]
        if errors:
            raise ConfigError(f"memberDeployment=stackset: the member role: {' '.join(errors)}")
        template: dict[str, Any] = artifact.template
    return template


class MemberStackSet(Construct):
    """A SERVICE_MANAGED StackSet of the member role, auto-deployed to `config.organizational_units` in
    this stack's region (IAM is global: one stack instance per account)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: JobAuditorProps,
        auditor_role: iam.IRole,
        name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        flags = {k: v for k, v in self.node.get_all_context().items() if is_cdk_key(k) and k.startswith("@")}
        self.template = member_template(config, flags)
        body = json.dumps(self.template, separators=(",", ":"), sort_keys=True)
        if len(body.encode()) > TEMPLATE_BODY_LIMIT:
            raise ConfigError(
                f"memberDeployment=stackset: the member role's template would be {len(body.encode())} "
                f"bytes, more than CloudFormation's TemplateBody limit of {TEMPLATE_BODY_LIMIT}. "
                + sizing_advice(config)
            )
        self.stack_set = cloudformation.CfnStackSet(
            self,
            "StackSet",
            stack_set_name=f"{name}-member-role",
            description="job-auditor member role: lets the hub's auditor read each account's job statuses",
            permission_model="SERVICE_MANAGED",
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            call_as=config.call_as,
            # The role has a fixed name (memberRoleName).
            capabilities=["CAPABILITY_NAMED_IAM"],
            managed_execution={"Active": True},
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                region_concurrency_type="PARALLEL",
                max_concurrent_percentage=MAX_CONCURRENT_PERCENTAGE,
                failure_tolerance_percentage=FAILURE_TOLERANCE_PERCENTAGE,
                concurrency_mode="SOFT_FAILURE_TOLERANCE",
            ),
            parameters=[
                cloudformation.CfnStackSet.ParameterProperty(
                    parameter_key=AUDITOR_ROLE_ARN_PARAMETER, parameter_value=auditor_role.role_arn
                )
            ],
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(config.organizational_units)
                    ),
                    regions=[Aws.REGION],
                )
            ],
            template_body=body,
        )
