"""The IAM statements that let a role read the enabled job kinds, built from the job-kind registry.

One function for both roles that read jobs: the auditor function's role in the home account and the
member role (JobAuditorMemberRole) in every other account, so the two cannot drift apart. ARNs name
the account of the stack the role is in (`AWS::AccountId`), so the same statements read the home
account in the hub and the member account in a member stack.

Only kinds offered in a region are granted there (`regions.offered`, the rule the Lambda's run applies
too). Where the audited regions are known at synth (`regions`, or a stack with an explicit region) a
kind is granted in the regions that offer it and left out elsewhere. Where the region is only known at
deploy time (an environment-agnostic stack without `regions`), each kind's statements form a policy of
their own whose CloudFormation condition is false in every region botocore lists as not offering the
kind: the one template grants exactly the offered kinds wherever it is deployed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from aws_cdk import Aws, CfnCondition, CfnResource, Fn, ICfnConditionExpression, Stack, Token
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from job_auditor.availability import deciding_services, not_offered_regions, offered
from job_auditor.contract.kinds import JOB_KINDS, IamGrant, JobKindSpec
from job_auditor.infra import nag
from job_auditor.infra.config import ConfigError, JobAuditorProps
from job_auditor.infra.iam_limits import MAX_MANAGED_POLICY_CHARS, chars, chunked, packed

LIST_JOBS_SID = "ListJobs"
# Fn::Or takes 2 to 10 conditions.
_MAX_OR = 10


@dataclass(frozen=True)
class JobKindStatement:
    """One statement, the reason every wildcard resource in it is acceptable, and, where the region is
    only known at deploy time, the regions in which the statement must not exist (its kind is not
    offered there)."""

    statement: iam.PolicyStatement
    reason: str
    kind: str | None = None
    unless_region_in: tuple[str, ...] = ()


def _deploy_time(regions: Sequence[str]) -> bool:
    return any(Token.is_unresolved(region) for region in regions)


def audited_regions(scope: IConstruct, config: JobAuditorProps) -> list[str]:
    """The audited regions: `regions`, or the stack's own (a token in an environment-agnostic stack)."""
    return list(config.regions) or [Stack.of(scope).region]


def audited_kinds(config: JobAuditorProps, regions: Sequence[str]) -> tuple[str, ...]:
    """The configured kinds offered in at least one of `regions` (every configured kind when the region
    is only known at deploy time). A kind named in jobKinds that none of the regions offers fails synth,
    and so does a configuration left with no kind; a default kind not offered is left out."""
    if _deploy_time(regions):
        return config.job_kinds
    kept = tuple(k for k in config.job_kinds if any(offered(JOB_KINDS[k], r) for r in regions))
    missing = [k for k in config.job_kinds if k not in kept]
    where = ", ".join(regions)
    if missing and "job_kinds" in config.given:
        raise ConfigError(
            f"jobKinds: {', '.join(missing)} not offered in {where} (botocore's endpoint data): leave "
            "them out of jobKinds, or add a region where they are offered to regions"
        )
    if not kept:
        raise ConfigError(
            f"regions: none of the job kinds ({', '.join(config.job_kinds)}) is offered in {where} "
            "(botocore's endpoint data): audit a region where they are"
        )
    return kept


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


def _list_actions(spec: JobKindSpec, config: JobAuditorProps) -> list[str]:
    """The kind's actions that have no resource type (its list operations)."""
    return [a for grant, _ in _grants(spec, config) if grant.resource is None for a in grant.actions]


def _kind_regions(spec: JobKindSpec, regions: Sequence[str]) -> tuple[list[str], tuple[str, ...]]:
    """The regions the kind's statements name, and where they must not exist (deploy-time regions)."""
    if _deploy_time(regions):
        return list(regions), not_offered_regions(spec)
    return [r for r in regions if offered(spec, r)], ()


def list_actions(config: JobAuditorProps, regions: Sequence[str]) -> list[str]:
    """The audited kinds' actions that have no resource type (the list operations), sorted."""
    kinds = audited_kinds(config, regions)
    return sorted({a for spec in map(JOB_KINDS.__getitem__, kinds) for a in _list_actions(spec, config)})


def _list_reason(actions: Sequence[str]) -> str:
    return (
        f"The list operations ({', '.join(actions)}) have no resource type in the service authorization "
        "reference, so they take '*'; the list statement is limited to the audited regions with "
        "aws:RequestedRegion."
    )


def _list_statement(sid: str, actions: Sequence[str], regions: Sequence[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=sid,
        actions=sorted(set(actions)),
        resources=["*"],
        conditions={"StringEquals": {"aws:RequestedRegion": list(regions)}},
    )


def _kind_statements(
    scope: IConstruct,
    spec: JobKindSpec,
    config: JobAuditorProps,
    regions: list[str],
    unless: tuple[str, ...],
    shared: bool,
) -> list[JobKindStatement]:
    """One kind's statements: its list actions (unless `shared`: they go to the common ListJobs) and a
    statement per grant with a resource, with a statement id stable whatever other kinds are enabled."""
    statements: list[JobKindStatement] = []
    if not shared and (actions := _list_actions(spec, config)):
        sid = LIST_JOBS_SID if unless else f"{_sid(spec.id)}List"
        statement = _list_statement(sid, actions, regions)
        statements.append(JobKindStatement(statement, _list_reason(statement.actions), spec.id, unless))
    hint = f"; set {spec.scope_setting.context_key} to name them instead." if spec.scope_setting else "."
    for number, (grant, scopes) in enumerate(_grants(spec, config)):
        if grant.resource is None:
            continue
        resources = list(
            dict.fromkeys(
                arn for ids in scopes for arn in _arns(grant.service, regions, _resource(grant.resource, ids))
            )
        )
        reason = (
            f"{', '.join(grant.actions)} act on the {spec.display_name}s (or their scope) the auditor finds "
            "at run time, whose ids are unknown at deploy time: scoped to the account, the audited regions "
            f"and the resource type the service authorization reference gives{hint}"
        )
        # Many scope ids x regions: statements CDK can place in managed policies of their own.
        for part, chunk in enumerate(chunked(scope, resources), start=1):
            sid = f"{_sid(spec.id)}{number}" + (f"Part{part}" if part > 1 else "")
            statement = iam.PolicyStatement(sid=sid, actions=sorted(grant.actions), resources=chunk)
            statements.append(JobKindStatement(statement, reason, spec.id, unless))
    return statements


def job_kind_statements(
    scope: IConstruct, config: JobAuditorProps, regions: Sequence[str]
) -> list[JobKindStatement]:
    """The statements that read the audited kinds' jobs in `regions` of the account of `scope`'s stack.

    Actions without a resource type in the Service Authorization Reference (the list operations) take
    "*" limited to the kind's regions with aws:RequestedRegion: one `ListJobs` statement for the kinds
    offered in every audited region (and granted unconditionally), one `<Kind>List` for each other kind
    (`ListJobs` in the kind's own policy where the region is only known at deploy time). Every grant
    with a resource is a statement of its own, named after its kind."""
    statements: list[JobKindStatement] = []
    shared_actions: list[str] = []
    for spec in map(JOB_KINDS.__getitem__, audited_kinds(config, regions)):
        kind_regions, unless = _kind_regions(spec, regions)
        shared = not unless and kind_regions == list(regions)
        if shared:
            shared_actions += _list_actions(spec, config)
        statements += _kind_statements(scope, spec, config, kind_regions, unless, shared)
    if shared_actions:
        statement = _list_statement(LIST_JOBS_SID, shared_actions, regions)
        statements.insert(0, JobKindStatement(statement, _list_reason(statement.actions)))
    return statements


def any_region(names: Sequence[str]) -> ICfnConditionExpression:
    """A condition true when the stack's region is one of `names` (nested Fn::Or of at most ten)."""
    conditions: list[ICfnConditionExpression] = [Fn.condition_equals(Aws.REGION, name) for name in names]
    while len(conditions) > 1:
        conditions = [
            Fn.condition_or(*chunk) if len(chunk) > 1 else chunk[0]
            for chunk in (conditions[i : i + _MAX_OR] for i in range(0, len(conditions), _MAX_OR))
        ]
    return conditions[0]


def _grant_where_offered(role: iam.Role, kind: str, items: Sequence[JobKindStatement]) -> None:
    """The kind's statements as a policy of `role` that exists only in the regions offering the kind.

    The policy sits beside the role, not under it: what depends on the role (the function) must not
    depend on a resource that may not exist. Kinds decided by the same services share a condition, and
    so do the JobAuditors of one stack: the condition is the stack's and depends on the region only."""
    scope = cast(Construct, role.node.scope)
    stack = Stack.of(role)
    services = deciding_services(JOB_KINDS[kind])
    name = "".join(_sid(s) for s in services) or _sid(kind)
    condition = stack.node.try_find_child(f"{name}Offered")
    if not isinstance(condition, CfnCondition):
        condition = CfnCondition(
            stack, f"{name}Offered", expression=Fn.condition_not(any_region(items[0].unless_region_in))
        )
    inline, groups = _policy_groups(stack, items)
    for number, group in enumerate(groups, start=1):
        statements = [i.statement for i in group]
        policy: iam.Policy | iam.ManagedPolicy
        if inline:
            name = f"{role.node.id}{_sid(kind)}Policy"
            policy = iam.Policy(scope, name, statements=statements, roles=[role])
        else:
            # Too large to sit among the role's inline policies (10,240 characters together): managed
            # policies of their own, each within IAM's 6,144.
            name = f"{role.node.id}{_sid(kind)}ManagedPolicy{number}"
            policy = iam.ManagedPolicy(scope, name, statements=statements, roles=[role])
        cast(CfnResource, policy.node.default_child).cfn_options.condition = condition
        for item in group:
            _acknowledge(policy, item)


# A kind's conditional statements stay one inline policy up to this size (a few scope ids); beyond it
# they go to managed policies.
_INLINE_KIND_CHARS = 2_048


def _policy_groups(
    stack: Stack, items: Sequence[JobKindStatement]
) -> tuple[bool, list[list[JobKindStatement]]]:
    """Whether `items` stay one inline policy, and else their groups, a managed policy each (within
    IAM's limit, less the document's wrapping)."""
    sizes = [chars(stack.resolve(i.statement.to_statement_json())) + 1 for i in items]
    if sum(sizes) <= _INLINE_KIND_CHARS:
        return True, [list(items)]
    return False, packed(items, sizes, MAX_MANAGED_POLICY_CHARS - 100)


def _acknowledge(scope: IConstruct, item: JobKindStatement) -> None:
    """Acknowledge, on `scope`, the wildcards of `item`'s resources."""
    for resource in item.statement.resources:
        if resource == "*":
            nag.acknowledge(scope, "AwsSolutions-IAM5[Resource::*]", item.reason)
        elif "*" in resource:
            nag.acknowledge(scope, nag.wildcard_resource(scope, resource), item.reason)


def grant_job_kinds(
    role: iam.Role, config: JobAuditorProps, regions: Sequence[str]
) -> list[JobKindStatement]:
    """Add `job_kind_statements` to `role` and acknowledge, on `role`, each wildcard they hold.

    A role has one acknowledgment of `Resource::*`: a role with other statements on "*" acknowledges it
    again afterwards with a reason covering them all (the last one counts)."""
    statements = job_kind_statements(role, config, regions)
    conditional: dict[str, list[JobKindStatement]] = {}
    for item in statements:
        if item.unless_region_in and item.kind is not None:
            conditional.setdefault(item.kind, []).append(item)
            continue
        role.add_to_policy(item.statement)
        _acknowledge(role, item)
    for kind, items in conditional.items():
        _grant_where_offered(role, kind, items)
    return statements
