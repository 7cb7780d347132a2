"""Organization mode in CDK: the member role (its exact statements and trust), the auditor's AssumeRole
and Organizations statements, its environment, the StackSet, the per-account failure alarm, app.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import Aws

from job_auditor import stack_outputs
from job_auditor.infra.config import load_config
from job_auditor.infra.job_permissions import job_kind_statements
from job_auditor.infra.member_stackset import TEMPLATE_BODY_LIMIT
from tests.infra.conftest import (
    HUB_ROLE_ARN,
    MEMBER_ACCOUNTS,
    MEMBER_CONTEXT,
    ORGANIZATION_ID,
    ORGANIZATIONAL_UNITS,
    Synth,
    conditional_statements,
    dumps,
    role_statements,
)

PARTITION = {"Ref": "AWS::Partition"}


def _policy_statements(synth: Synth, role: Any) -> list[dict[str, Any]]:
    return role_statements(synth, role)


def _by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements if "Sid" in s}


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return sorted(action if isinstance(action, list) else [action])


def _role_arn(account: str, name: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", PARTITION, f":iam::{account}:role/{name}"]]}


# -- the member role --------------------------------------------------------------------------------


def test_member_role_grants_exactly_the_auditors_home_statements(member: Synth) -> None:
    # Given the member stack of every job kind with one Bedrock knowledge base partly named
    statements = _policy_statements(member, member.stack.member_role.role)
    # Then its statements are those job_kind_statements gives the auditor at home, on this account
    config = load_config(MEMBER_CONTEXT)
    home = [
        member.stack.resolve(s.statement.to_statement_json())
        for s in job_kind_statements(member.stack, config, [Aws.REGION])
    ]
    assert sorted(map(dumps, statements)) == sorted(map(dumps, home))
    # and exactly these actions, each kind's in a policy that exists only where the kind is offered:
    # the list/get operations of the enabled kinds, nothing else
    by_condition = {
        expression: sorted((s["Sid"], _actions(s)) for s in group)
        for expression, group in conditional_statements(member, member.stack.member_role.role).items()
    }
    qconnect = next(e for e in by_condition if "us-gov-west-1" in e and "eu-west-1" in e)
    bedrock = next(e for e in by_condition if e != qconnect)
    assert len(by_condition) == 2
    assert by_condition[qconnect] == [
        ("ListJobs", ["wisdom:ListKnowledgeBases"]),
        ("QconnectImport0", ["wisdom:GetImportJob", "wisdom:ListImportJobs"]),
    ]
    assert by_condition[bedrock] == [
        ("BedrockBatchInference1", ["bedrock:GetModelInvocationJob"]),
        ("BedrockCustomization1", ["bedrock:GetModelCustomizationJob"]),
        ("BedrockEvaluation1", ["bedrock:GetEvaluationJob"]),
        ("BedrockKbIngestion0", ["bedrock:GetIngestionJob", "bedrock:ListIngestionJobs"]),
        ("BedrockKbIngestion1", ["bedrock:ListDataSources"]),
        ("BedrockModelCopy1", ["bedrock:GetModelCopyJob"]),
        ("BedrockModelImport1", ["bedrock:GetModelImportJob"]),
        ("ListJobs", ["bedrock:ListEvaluationJobs"]),
        ("ListJobs", ["bedrock:ListModelCopyJobs"]),
        ("ListJobs", ["bedrock:ListModelCustomizationJobs"]),
        ("ListJobs", ["bedrock:ListModelImportJobs"]),
        ("ListJobs", ["bedrock:ListModelInvocationJobs"]),
    ]
    assert len(statements) == 14
    for statement in statements:
        if statement["Sid"] == "ListJobs":
            assert statement["Resource"] == "*"
            assert statement["Condition"] == {
                "StringEquals": {"aws:RequestedRegion": [{"Ref": "AWS::Region"}]}
            }


def test_member_role_statements_are_the_hubs_auditor_statements_too(member: Synth) -> None:
    # Given the same context's hub stack (in the same app) / Then its auditor has the same job
    # statements, under the same conditions
    from tests.infra.conftest import Synth as Synthesized

    hub_stack = member.stack.node.root.node.find_child("JobAuditorHub")
    hub = Synthesized(
        stack=hub_stack, template=cdk.assertions.Template.from_stack(hub_stack), outdir=member.outdir
    )
    hub_groups = conditional_statements(hub, hub_stack.job_auditor.auditor.role)
    member_groups = conditional_statements(member, member.stack.member_role.role)
    assert {e: sorted(map(dumps, g)) for e, g in hub_groups.items()} == {
        e: sorted(map(dumps, g)) for e, g in member_groups.items()
    }


def test_member_role_trusts_only_the_auditor_role_of_the_hub_in_the_organization(member: Synth) -> None:
    _, role = member.only("AWS::IAM::Role")
    props = role["Properties"]
    assert props["RoleName"] == "JobAuditorReader"
    assert props["MaxSessionDuration"] == 3600
    assert "ManagedPolicyArns" not in props
    assert props["AssumeRolePolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"AWS": {"Fn::Join": ["", ["arn:", PARTITION, ":iam::999999999999:root"]]}},
                "Condition": {
                    "StringEquals": {
                        "aws:PrincipalArn": HUB_ROLE_ARN,
                        "aws:PrincipalOrgID": ORGANIZATION_ID,
                        "sts:ExternalId": "acme-job-auditor",
                    }
                },
            }
        ],
    }
    # No bootstrap version rule: the management account needs no CDK bootstrap for this stack
    assert "Rules" not in member.json and "BootstrapVersion" not in member.json.get("Parameters", {})
    assert member.json["Outputs"]["MemberRoleArn"]["Value"] == {
        "Fn::GetAtt": [member.logical_id(member.stack.member_role.role), "Arn"]
    }


# -- the auditor ------------------------------------------------------------------------------------


def test_auditor_may_assume_the_member_role_of_each_listed_account_and_nothing_of_organizations(
    accounts: Synth,
) -> None:
    statements = _by_sid(_policy_statements(accounts, accounts.stack.job_auditor.auditor.role))
    assert statements["AssumeMemberRoles"] == {
        "Sid": "AssumeMemberRoles",
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Resource": [_role_arn(account, "JobAuditorReader") for account in MEMBER_ACCOUNTS],
    }
    everything = _policy_statements(accounts, accounts.stack.job_auditor.auditor.role)
    assert not [a for s in everything for a in _actions(s) if a.startswith("organizations:")]


def test_auditor_in_organization_mode_assumes_roles_of_the_organization_and_lists_its_accounts(
    organization: Synth,
) -> None:
    statements = _by_sid(_policy_statements(organization, organization.stack.job_auditor.auditor.role))
    assert statements["AssumeMemberRoles"] == {
        "Sid": "AssumeMemberRoles",
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Resource": _role_arn("*", "AuditReader"),
        "Condition": {"StringEquals": {"aws:ResourceOrgID": ORGANIZATION_ID}},
    }
    # ListAccounts has no resource type; the tree walk is authorized on the organization's OUs and root
    assert statements["ListOrganizationAccounts"] == {
        "Sid": "ListOrganizationAccounts",
        "Action": "organizations:ListAccounts",
        "Effect": "Allow",
        "Resource": "*",
    }
    assert statements["ListOrganizationalUnits"] == {
        "Sid": "ListOrganizationalUnits",
        "Action": ["organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"],
        "Effect": "Allow",
        "Resource": [
            {"Fn::Join": ["", ["arn:", PARTITION, f":organizations::*:ou/{ORGANIZATION_ID}/ou-*"]]},
            {"Fn::Join": ["", ["arn:", PARTITION, f":organizations::*:root/{ORGANIZATION_ID}/r-*"]]},
        ],
    }


def test_auditor_without_organization_id_lists_the_tree_on_any_resource(tmp_path: Path) -> None:
    from tests.infra.conftest import synth

    result = synth({"accounts": "organization"}, tmp_path)
    statements = _by_sid(_policy_statements(result, result.stack.job_auditor.auditor.role))
    assert "Condition" not in statements["AssumeMemberRoles"]
    assert statements["ListOrganizationalUnits"]["Resource"] == "*"


def test_environment_names_the_accounts_only_when_configured(
    default: Synth, accounts: Synth, organization: Synth
) -> None:
    def env(synth: Synth) -> dict[str, Any]:
        auditor = synth.logical_id(synth.stack.job_auditor.auditor.function)
        function = synth.resources("AWS::Lambda::Function")[auditor]
        return dict(function["Properties"]["Environment"]["Variables"])

    member_vars = {"ACCOUNTS", "ORGANIZATIONAL_UNITS", "MEMBER_ROLE_NAME", "MEMBER_EXTERNAL_ID"}
    assert not member_vars & set(env(default))
    assert {k: v for k, v in env(accounts).items() if k in member_vars} == {
        "ACCOUNTS": ",".join(MEMBER_ACCOUNTS),
        "MEMBER_ROLE_NAME": "JobAuditorReader",
        "MEMBER_EXTERNAL_ID": "acme-job-auditor",
    }
    assert {k: v for k, v in env(organization).items() if k in member_vars} == {
        "ACCOUNTS": "organization",
        "ORGANIZATIONAL_UNITS": ",".join(ORGANIZATIONAL_UNITS),
        "MEMBER_ROLE_NAME": "AuditReader",
    }


def test_the_auditor_role_is_exposed_and_output_only_with_several_accounts(
    default: Synth, accounts: Synth
) -> None:
    assert accounts.stack.job_auditor.auditor_role is accounts.stack.job_auditor.auditor.role
    assert accounts.json["Outputs"][stack_outputs.AUDITOR_ROLE_ARN]["Value"] == {
        "Fn::GetAtt": [accounts.logical_id(accounts.stack.job_auditor.auditor_role), "Arn"]
    }
    assert stack_outputs.AUDITOR_ROLE_ARN not in default.json["Outputs"]


# -- the StackSet -----------------------------------------------------------------------------------


def test_member_role_stackset_is_service_managed_and_auto_deployed_to_the_ous(organization: Synth) -> None:
    _, stack_set = organization.only("AWS::CloudFormation::StackSet")
    props = dict(stack_set["Properties"])
    body = props.pop("TemplateBody")
    role = organization.logical_id(organization.stack.job_auditor.auditor_role)
    assert props == {
        "StackSetName": "JobAuditorOrg-member-role",
        "Description": "job-auditor member role: lets the hub's auditor read each account's job statuses",
        "PermissionModel": "SERVICE_MANAGED",
        "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
        "CallAs": "DELEGATED_ADMIN",
        "Capabilities": ["CAPABILITY_NAMED_IAM"],
        "ManagedExecution": {"Active": True},
        "OperationPreferences": {
            "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
            "FailureTolerancePercentage": 10,
            "MaxConcurrentPercentage": 100,
            "RegionConcurrencyType": "PARALLEL",
        },
        "Parameters": [{"ParameterKey": "AuditorRoleArn", "ParameterValue": {"Fn::GetAtt": [role, "Arn"]}}],
        "StackInstancesGroup": [
            {
                "DeploymentTargets": {"OrganizationalUnitIds": list(ORGANIZATIONAL_UNITS)},
                "Regions": [{"Ref": "AWS::Region"}],
            }
        ],
        "Tags": [{"Key": "project", "Value": "job-auditor"}],
    }
    # The body is the member stack: no bootstrap rule or CDK metadata, the ARN as its parameter
    assert len(body.encode()) <= TEMPLATE_BODY_LIMIT
    template = json.loads(body)
    assert set(template) == {"Description", "Parameters", "Conditions", "Resources", "Outputs"}
    assert list(template["Parameters"]) == ["AuditorRoleArn"]
    # the role and one policy per default kind, each existing only where its kind is offered (the
    # stack's region is known at deploy time only)
    types = sorted(r["Type"] for r in template["Resources"].values())
    assert types == ["AWS::IAM::Policy"] * 5 + ["AWS::IAM::Role"]
    assert sorted(template["Conditions"]) == ["BedrockOffered", "QconnectOffered"]
    (member_role,) = (r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role")
    assert member_role["Properties"]["RoleName"] == "AuditReader"
    (trust,) = member_role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {
        "StringEquals": {"aws:PrincipalArn": {"Ref": "AuditorRoleArn"}, "aws:PrincipalOrgID": ORGANIZATION_ID}
    }
    # the hub account: the ARN's fifth field
    account = {"Fn::Select": [4, {"Fn::Split": [":", {"Ref": "AuditorRoleArn"}]}]}
    assert trust["Principal"] == {"AWS": {"Fn::Join": ["", ["arn:", PARTITION, ":iam::", account, ":root"]]}}


def test_no_stackset_unless_asked(default: Synth, accounts: Synth) -> None:
    for synth in (default, accounts):
        synth.template.resource_count_is("AWS::CloudFormation::StackSet", 0)


# -- the per-account failure alarm ------------------------------------------------------------------

# The accounts variant's stack is JobAuditorAccounts: its functions' service is job-auditor-accounts.
QUERY = (
    'SELECT MAX(AccountFailures) FROM SCHEMA("JobAuditor", Account, service) '
    "WHERE service = 'job-auditor-accounts' GROUP BY Account"
)


def test_account_failures_alarm_fires_per_account_after_consecutive_periods(accounts: Synth) -> None:
    alarm = accounts.stack.job_auditor.monitoring.alarms["AccountFailures"]
    props = accounts.resources("AWS::CloudWatch::Alarm")[accounts.logical_id(alarm)]["Properties"]
    ops = {"Ref": accounts.logical_id(accounts.stack.job_auditor.monitoring.ops_topic)}
    assert props["Metrics"] == [
        {
            "Expression": QUERY,
            "Id": "expr_1",
            "Label": "Failures by account",
            "Period": 300,
            "ReturnData": True,
        }
    ]
    assert props["EvaluationPeriods"] == 3
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == [ops] and props["OKActions"] == [ops]
    # (with several accounts the fan-out is the default: its two state machine alarms are counted)
    accounts.template.resource_count_is("AWS::CloudWatch::Alarm", 11)


def test_dashboard_graphs_failures_by_account_only_with_several_accounts(
    default: Synth, accounts: Synth
) -> None:
    def body(synth: Synth) -> str:
        _, dashboard = synth.only("AWS::CloudWatch::Dashboard")
        return json.dumps(synth.stack.resolve(dashboard["Properties"]["DashboardBody"]))

    assert "Failures by account" in body(accounts)
    assert "AccountFailures" in body(accounts)
    assert "AccountFailures" not in body(default)
    assert "AccountFailures" not in default.stack.job_auditor.monitoring.alarms


# -- app.py -----------------------------------------------------------------------------------------


def test_app_defines_the_member_stack_only_with_auditor_role_arn(tmp_path: Path) -> None:
    from app import build_app

    def stacks(context: dict[str, object]) -> list[str]:
        app = cdk.App(outdir=str(tmp_path))
        build_app(app, load_config(context))
        return [c.node.id for c in app.node.children if isinstance(c, cdk.Stack)]

    assert stacks({}) == ["JobAuditor"]
    assert stacks({"auditorRoleArn": HUB_ROLE_ARN}) == ["JobAuditor", "JobAuditorMember"]
    assert stacks({"stackName": "Audit", "auditorRoleArn": HUB_ROLE_ARN}) == ["Audit", "AuditMember"]


def test_the_member_role_construct_in_an_app_of_ones_own_takes_context_keys(tmp_path: Path) -> None:
    # Given the construct from the package's top level, in a stack of one's own, props as context keys
    from job_auditor import JobAuditorMemberRole, add_nag_checks
    from job_auditor.infra import nag

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Platform")
    member_role = JobAuditorMemberRole(
        stack,
        "Reader",
        config={"jobKinds": "bedrock-model-import", "memberRoleName": "PlatformAuditReader"},
        auditor_role_arn=HUB_ROLE_ARN,
    )
    add_nag_checks(app)
    # When it synthesizes / Then cdk-nag finds nothing unacknowledged, and the role is the one asked for
    app.synth()
    assert nag.unacknowledged_findings(tmp_path) == []
    (role,) = (
        r
        for r in json.loads((tmp_path / "Platform.template.json").read_text())["Resources"].values()
        if r["Type"] == "AWS::IAM::Role"
    )
    assert role["Properties"]["RoleName"] == "PlatformAuditReader"
    statements = [stack.resolve(item.statement.to_statement_json()) for item in member_role.statements]
    assert [_actions(s) for s in statements] == [
        ["bedrock:ListModelImportJobs"],
        ["bedrock:GetModelImportJob"],
    ]


def test_the_accounts_source_is_an_output_with_several_accounts_only(
    organization: Synth, accounts: Synth, default: Synth
) -> None:
    # What `iam-policy` grants `run --once` the organization's listing by
    from job_auditor import stack_outputs

    assert organization.json["Outputs"][stack_outputs.AUDITED_ACCOUNTS]["Value"] == "organization"
    assert accounts.json["Outputs"][stack_outputs.AUDITED_ACCOUNTS]["Value"] == "listed"
    assert stack_outputs.AUDITED_ACCOUNTS not in default.json["Outputs"]
