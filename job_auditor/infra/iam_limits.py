"""IAM's limits on a role's policies, kept at synth rather than met at deploy.

IAM refuses a role whose inline policies together exceed 10,240 characters, a managed policy of more
than 6,144 (whitespace not counted), and more managed policies on a role than its quota (10 by
default, 20 at most). aws-cdk-lib moves the statements of a role's default policy past its inline
budget into managed policies of their own ("OverflowPolicy"), but it cannot split one statement. So
the statements that grow with the configuration (a role ARN per member account, a resource per
knowledge base and region) are built in chunks it can place (`chunked`), and `IamLimitsCheck` measures
what it left: a role that would not deploy is an error at synth naming the settings that make it
large.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import jsii
from aws_cdk import Annotations, AspectPriority, Aspects, IAspect, Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from job_auditor.contract.kinds import JOB_KINDS
from job_auditor.infra.config import JobAuditorProps

MAX_ROLE_INLINE_CHARS = 10_240
MAX_MANAGED_POLICY_CHARS = 6_144
# The quota "Managed policies per role" is 10 by default (it may be raised to 20): past 10 a deploy
# fails unless the account raised it, and aws-cdk-lib warns (a warning fails app.py's synth).
MAX_MANAGED_POLICIES_PER_ROLE = 10
# A deploy-time value (a Ref, an attribute) counted at the length of a long ARN; the pseudo parameters
# at their longest (aws-iso-b / aws-us-gov, ap-southeast-7 ...).
TOKEN_CHARS = 128
PSEUDO_PARAMETER_CHARS = {"AWS::Partition": 10, "AWS::Region": 16, "AWS::AccountId": 12, "AWS::URLSuffix": 20}

# A chunk's resources as IAM counts them, leaving room in a managed policy for the statement's actions,
# id and the policy's wrapping.
CHUNK_CHARS = MAX_MANAGED_POLICY_CHARS - 1_000

T = TypeVar("T")


def packed(items: Sequence[T], sizes: Sequence[int], budget: int) -> list[list[T]]:
    """`items` in consecutive groups whose `sizes` add up to at most `budget` (an item larger than it
    alone in its group), in order: one statement's resources, or one policy's statements."""
    groups: list[list[T]] = [[]]
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if groups[-1] and total + size > budget:
            groups.append([])
            total = 0
        groups[-1].append(item)
        total += size
    return groups


def chunked(scope: IConstruct, resources: Sequence[str]) -> list[list[str]]:
    """`resources` in consecutive chunks each within CHUNK_CHARS as IAM will count them, for a statement
    each. aws-cdk-lib estimates a resource holding a token at 150 characters (the ARNs here are ~60),
    so it places each such statement in a managed policy of its own, where one statement of them all
    would fit none."""
    stack = Stack.of(scope)
    # Each resource with its quotes and the comma.
    sizes = [len(json.dumps(rendered(stack.resolve(resource)))) + 1 for resource in resources]
    return packed(resources, sizes, CHUNK_CHARS)


def check_iam_limits(scope: IConstruct, config: JobAuditorProps) -> None:
    """Measure the roles under `scope` once aws-cdk-lib has split their large policies (its aspect is a
    mutating one, this one reads): `IamLimitsCheck`, with what in `config` makes them large."""
    check = IamLimitsCheck(functools.partial(sizing_advice, config))
    Aspects.of(scope).add(check, priority=AspectPriority.READONLY)


def rendered(value: Any) -> Any:
    """A resolved CloudFormation value with each intrinsic function replaced by text of its longest
    likely length."""
    if isinstance(value, list):
        return [rendered(v) for v in value]
    if not isinstance(value, Mapping):
        return value
    if len(value) == 1:
        ((name, args),) = value.items()
        if name.startswith("Fn::") or name == "Ref":
            return _rendered_intrinsic(name, args)
    return {k: rendered(v) for k, v in value.items()}


def _rendered_intrinsic(name: str, args: Any) -> Any:
    if name == "Fn::Join":
        return str(args[0]).join(str(rendered(part)) for part in args[1])
    if name == "Fn::If":
        return max((json.dumps(rendered(branch)) for branch in args[1:]), key=len)
    if name == "Ref" and args in PSEUDO_PARAMETER_CHARS:
        return "x" * PSEUDO_PARAMETER_CHARS[args]
    return "x" * TOKEN_CHARS  # a Ref, an attribute, an import ...


def chars(document: Any) -> int:
    """A resolved policy document's characters as IAM counts them: without whitespace."""
    return len(json.dumps(rendered(document), separators=(",", ":")))


@jsii.implements(IAspect)
class IamLimitsCheck:
    """An aspect, added after aws-cdk-lib's own that splits large policies, that measures each role in
    the scope it is added to: its inline policies together, each managed policy of the scope attached
    to it, and how many managed policies it has. Each excess is an error annotation on the role, with
    `advice` (what in the configuration makes the policies large)."""

    def __init__(self, advice: Callable[[], str]) -> None:
        self.advice = advice

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.CfnRole):
            return
        stack = Stack.of(node)
        role_ref = stack.resolve(node.ref)
        inline = [p["PolicyDocument"] for p in stack.resolve(node.policies) or []]
        managed = len(stack.resolve(node.managed_policy_arns) or [])
        problems = []
        for child in stack.node.find_all():
            if isinstance(child, iam.CfnPolicy) and role_ref in (stack.resolve(child.roles) or []):
                inline.append(stack.resolve(child.policy_document))
            elif isinstance(child, iam.CfnManagedPolicy) and role_ref in (stack.resolve(child.roles) or []):
                managed += 1
                if (size := chars(stack.resolve(child.policy_document))) > MAX_MANAGED_POLICY_CHARS:
                    problems.append(
                        f"its managed policy {child.node.path} would be {size} characters, over IAM's "
                        f"{MAX_MANAGED_POLICY_CHARS}"
                    )
        if (size := sum(chars(document) for document in inline)) > MAX_ROLE_INLINE_CHARS:
            problems.append(
                f"its inline policies would be {size} characters together, over IAM's {MAX_ROLE_INLINE_CHARS}"
            )
        if managed > MAX_MANAGED_POLICIES_PER_ROLE:
            problems.append(
                f"it would have {managed} managed policies, over IAM's default quota of "
                f"{MAX_MANAGED_POLICIES_PER_ROLE} per role (20 at most, on request)"
            )
        for problem in problems:
            Annotations.of(node).add_error(
                f"IAM would refuse this role at deploy: {problem}. {self.advice()}"
            )


def sizing_advice(config: JobAuditorProps) -> str:
    """What in `config` makes the auditor's and the member role's policies grow, for an error."""
    grown = []
    if config.member_accounts and not config.organization_mode:
        grown.append(
            f"accounts names {len(config.member_accounts)} accounts (with accounts=organization one "
            "statement covers any number)"
        )
    scoped = {
        spec.scope_setting.context_key: len(config.scope_ids(spec.id))
        for spec in JOB_KINDS.values()
        if spec.scope_setting is not None and spec.id in config.job_kinds and config.scope_ids(spec.id)
    }
    grown += [f"{key} names {count}" for key, count in scoped.items()]
    if len(config.regions) > 1:
        grown.append(f"regions names {len(config.regions)} regions, each a resource per scope id")
    if not grown:
        return "Nothing in the configuration is large: please report this."
    return "Its policies grow with: " + "; ".join(grown) + "."
