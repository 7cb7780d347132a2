"""The IAM statements that let a role read the enabled job kinds, built from the job-kind registry.

One function for both roles that read jobs: the auditor function's role in the home account and the
member role (JobAuditorMemberRole) in every other account, so the two cannot drift apart. ARNs name
the account of the stack the role is in (`AWS::AccountId`), so the same statements read the home
account in the hub and the member account in a member stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Aws
from aws_cdk import aws_iam as iam

from job_auditor.contract.kinds import JOB_KINDS, IamGrant, JobKindSpec
from job_auditor.infra import nag
from job_auditor.infra.config import JobAuditorProps

LIST_JOBS_SID = "ListJobs"


@dataclass(frozen=True)
class JobKindStatement:
    """One statement, and the reason every wildcard resource in it is acceptable."""

    statement: iam.PolicyStatement
    reason: str


def _grants(spec: JobKindSpec, config: JobAuditorProps) -> list[tuple[IamGrant, list[tuple[str, ...]]]]:
    """The kind's own grants on its scopes, and each discovery level's grant on the scopes the
    configuration leaves it to discover (nothing configured: every level, on any resource)."""
    configured = list(config.scope_ids(spec.id))
    grants = [(grant, configured or [()]) for grant in spec.iam]
    for level, step in enumerate(spec.discovery):
        parents = list(dict.fromkeys(ids[:level] for ids in configured if len(ids) <= level))
        if parents or not configured:
            grants.append((step.iam, parents or [()]))
    return grants


def _resource(template: str, scope_ids: tuple[str, ...]) -> str:
    """A grant's resource with the scope ids filled in; `*` for a level not configured."""
    levels = template.count("{")
    return template.format(*(scope_ids[i] if i < len(scope_ids) else "*" for i in range(levels)))


def _sid(kind_id: str) -> str:
    """A statement id from a kind id: lower-case words joined by hyphens -> CamelCase."""
    return "".join(part.capitalize() for part in kind_id.split("-"))


def _arns(service: str, regions: Sequence[str], resource: str) -> list[str]:
    return [f"arn:{Aws.PARTITION}:{service}:{region}:{Aws.ACCOUNT_ID}:{resource}" for region in regions]


def list_actions(config: JobAuditorProps) -> list[str]:
    """The enabled kinds' actions that have no resource type (the list operations), sorted."""
    return sorted(
        {
            action
            for spec in map(JOB_KINDS.__getitem__, config.job_kinds)
            for grant, _ in _grants(spec, config)
            if grant.resource is None
            for action in grant.actions
        }
    )


def job_kind_statements(config: JobAuditorProps, regions: Sequence[str]) -> list[JobKindStatement]:
    """The statements that read the enabled kinds' jobs in `regions` of the stack's account.

    Actions without a resource type in the Service Authorization Reference (the list operations) take
    "*" in one `ListJobs` statement limited to the regions with aws:RequestedRegion; every grant with a
    resource is a statement of its own, with a statement id stable whatever other kinds are enabled.
    """
    statements: list[JobKindStatement] = []
    if actions := list_actions(config):
        statements.append(
            JobKindStatement(
                iam.PolicyStatement(
                    sid=LIST_JOBS_SID,
                    actions=actions,
                    resources=["*"],
                    conditions={"StringEquals": {"aws:RequestedRegion": list(regions)}},
                ),
                f"The list operations ({', '.join(actions)}) have no resource type in the service "
                "authorization reference, so they take '*'; the list statement is limited to the audited "
                "regions with aws:RequestedRegion.",
            )
        )
    for spec in map(JOB_KINDS.__getitem__, config.job_kinds):
        for number, (grant, scopes) in enumerate(_grants(spec, config)):
            if grant.resource is None:
                continue
            resources = list(
                dict.fromkeys(
                    arn
                    for ids in scopes
                    for arn in _arns(grant.service, regions, _resource(grant.resource, ids))
                )
            )
            hint = (
                f"; set {spec.scope_setting.context_key} to name them instead." if spec.scope_setting else "."
            )
            statements.append(
                JobKindStatement(
                    iam.PolicyStatement(
                        sid=f"{_sid(spec.id)}{number}", actions=sorted(grant.actions), resources=resources
                    ),
                    f"{', '.join(grant.actions)} act on the {spec.display_name}s (or their scope) the "
                    "auditor finds at run time, whose ids are unknown at deploy time: scoped to the "
                    "account, the audited regions and the resource type the service authorization "
                    f"reference gives{hint}",
                )
            )
    return statements


def grant_job_kinds(
    role: iam.Role, config: JobAuditorProps, regions: Sequence[str]
) -> list[JobKindStatement]:
    """Add `job_kind_statements` to `role` and acknowledge, on `role`, each wildcard they hold.

    A role has one acknowledgment of `Resource::*`: a role with other statements on "*" acknowledges it
    again afterwards with a reason covering them all (the last one counts)."""
    statements = job_kind_statements(config, regions)
    for item in statements:
        role.add_to_policy(item.statement)
        for resource in item.statement.resources:
            if resource == "*":
                nag.acknowledge(role, "AwsSolutions-IAM5[Resource::*]", item.reason)
            elif "*" in resource:
                nag.acknowledge(role, nag.wildcard_resource(role, resource), item.reason)
    return statements
