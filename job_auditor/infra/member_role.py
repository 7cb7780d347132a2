"""The read-only role the auditor assumes in every account other than its own, and its stack.

The role grants exactly the statements the auditor has at home (`job_kind_statements`, the same
function), on the member account's own ARNs. Only the hub's auditor role may assume it: the trust
policy names the hub account, and its conditions the auditor role's ARN (`aws:PrincipalArn`), the
organization (`aws:PrincipalOrgID`) when known, and the ExternalId when one is set. The role has a
fixed name (`memberRoleName`), so the hub builds its ARN for any account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import (
    Arn,
    ArnFormat,
    BootstraplessSynthesizer,
    CfnOutput,
    CfnParameter,
    Duration,
    Stack,
    Tags,
)
from aws_cdk import aws_iam as iam
from constructs import Construct

from job_auditor.infra.config import JobAuditorProps, as_props
from job_auditor.infra.iam_limits import check_iam_limits
from job_auditor.infra.job_permissions import audited_regions, grant_job_kinds

# The member stack's parameter for the hub's auditor role when the ARN is not known at synth (the
# StackSet passes it); and its output.
AUDITOR_ROLE_ARN_PARAMETER = "AuditorRoleArn"
MEMBER_ROLE_ARN_OUTPUT = "MemberRoleArn"
# One hour: a run, or a fan-out batch, lasts at most 15 minutes (the Lambda timeout).
SESSION_DURATION = Duration.hours(1)


def member_stack_name(config: JobAuditorProps) -> str:
    """The stand-alone member stack of a hub named `stackName`: `<stackName>Member`."""
    return f"{config.stack_name}Member"


def trust_conditions(config: JobAuditorProps, auditor_role_arn: str) -> dict[str, dict[str, str]]:
    """The conditions on the member role's trust of the hub account."""
    equals = {"aws:PrincipalArn": auditor_role_arn}
    if config.organization_id:
        equals["aws:PrincipalOrgID"] = config.organization_id
    if config.member_external_id:
        equals["sts:ExternalId"] = config.member_external_id
    return {"StringEquals": equals}


class JobAuditorMemberRole(Construct):
    """The role `memberRoleName` that the hub's auditor role (`auditor_role_arn`, a literal or a
    token such as a parameter) assumes to read this account's jobs.

    `config` is the hub's: a JobAuditorProps or a mapping of its context keys (jobKinds, regions, the
    scope keys, memberRoleName, memberExternalId, organizationId), validated like JobAuditor's props."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: JobAuditorProps | Mapping[str, object],
        auditor_role_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        config = as_props(config)
        Tags.of(self).add("project", "job-auditor")
        hub_account = Arn.split(auditor_role_arn, ArnFormat.SLASH_RESOURCE_NAME).account
        self.role = iam.Role(
            self,
            "Role",
            role_name=config.member_role_name,
            assumed_by=iam.AccountPrincipal(hub_account).with_conditions(
                trust_conditions(config, auditor_role_arn)
            ),
            max_session_duration=SESSION_DURATION,
            description="job-auditor member role: the hub's auditor reads this account's job statuses",
        )
        self.statements = grant_job_kinds(self.role, config, audited_regions(self, config))
        check_iam_limits(self, config)


class JobAuditorMemberStack(Stack):
    """A stack holding one JobAuditorMemberRole: deployed by hand (`cdk deploy <stackName>Member`) into
    the management account or any account a StackSet does not reach, or as the StackSet's template.

    `auditor_role_arn` None: the ARN is the stack's parameter `AuditorRoleArn` (the StackSet's case).
    The stack has no assets and needs no bootstrapping (BootstraplessSynthesizer): `cdk deploy` creates
    it with the CLI's credentials, so the management account needs no CDK bootstrap for one role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: JobAuditorProps,
        auditor_role_arn: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("synthesizer", BootstraplessSynthesizer())
        kwargs.setdefault(
            "description", "job-auditor member role: lets the hub's auditor read this account's jobs"
        )
        super().__init__(scope, construct_id, **kwargs)
        if auditor_role_arn is None:
            auditor_role_arn = CfnParameter(
                self,
                AUDITOR_ROLE_ARN_PARAMETER,
                description="The ARN of the hub's auditor function role (the hub's AuditorRoleArn output)",
                allowed_pattern=r"arn:aws[a-z-]*:iam::[0-9]{12}:role/.+",
            ).value_as_string
        self.member_role = JobAuditorMemberRole(
            self, "MemberRole", config=config, auditor_role_arn=auditor_role_arn
        )
        CfnOutput(self, MEMBER_ROLE_ARN_OUTPUT, value=self.member_role.role.role_arn)
