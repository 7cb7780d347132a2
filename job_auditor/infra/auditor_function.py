"""The auditor Lambda: code asset, Powertools layer, environment, log group and least-privilege role."""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from aws_cdk.region_info import RegionInfo
from constructs import Construct

from job_auditor.contract import handlers
from job_auditor.contract.environment import (
    ACCOUNT,
    CHAT_TOPIC,
    CLAIM_LEASE,
    EVENT_BUS,
    ITEMS_BUCKET,
    NOTIFICATION_TOPIC,
    NOTIFY_FILTER,
    POWERTOOLS_LAYER_ARN_PATTERN,
    START_QUEUE,
    STATE_TABLE,
    Setting,
    setting,
)
from job_auditor.contract.state_schema import STATE_STORE_ACTIONS
from job_auditor.infra import nag
from job_auditor.infra.config import ConfigError, JobAuditorProps, cdk_settings
from job_auditor.infra.iam_limits import chunked
from job_auditor.infra.job_permissions import audited_kinds, audited_regions, grant_job_kinds, list_actions
from job_auditor.infra.settings_parameters import SettingsParameters
from job_auditor.infra.start_discovery import JobStartDiscovery

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# What the functions import: the package's own (CDK-free) __init__, the module shared with the CDK side
# (availability) and these subpackages. The CDK side (infra, the CLI) and the schema files stay out.
LAMBDA_MODULES = ("__init__.py", "availability.py")
LAMBDA_PACKAGES = ("auditor", "contract", "slack_forwarder")
HANDLER = handlers.AUDITOR

# The newest Python runtime Lambda offers in this aws-cdk-lib; the layer name and its SSM path
# follow it (python3.14 -> AWSLambdaPowertoolsPythonV3-python314-arm64).
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64


LOG_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def fanout_environment(config: JobAuditorProps, items_bucket: str) -> dict[str, str]:
    """The variables only the fan-out's functions get: the run bucket and their own settings."""
    return {variable(ITEMS_BUCKET): items_bucket, **settings_environment(config, fanout=True)}


def powertools_layer_parameter(version: str) -> str:
    """Public SSM parameter that holds the AWS-managed Powertools v3 layer ARN for this runtime.

    AWS publishes `/aws/service/powertools/python/{arch}/{python}/{version|latest}` in the commercial
    regions Powertools' release workflow lists (not GovCloud or China); CloudFormation resolves it at
    deploy time in the stack's region, so synth needs no AWS call and the ARN always matches the
    region and architecture.
    """
    arch = "arm64" if ARCHITECTURE.name == "arm64" else "x86_64"
    return f"/aws/service/powertools/python/{arch}/{RUNTIME.name}/{version}"


def powertools_layer_arn(scope: Construct, version: str) -> str:
    """The Powertools layer's version ARN: given outright (powertoolsLayerVersion's ARN form, for a
    region where AWS publishes no parameter), else the AWS-managed layer's, from its public parameter.
    Lambda takes only a layer of the function's own region: an ARN whose partition is not its
    region's, or of another region than the stack's where that is known, fails synth (an
    environment-agnostic stack learns it from CreateFunction)."""
    given = re.fullmatch(POWERTOOLS_LAYER_ARN_PATTERN, version)
    if given is None:
        return ssm.StringParameter.value_for_string_parameter(scope, powertools_layer_parameter(version))
    partition = RegionInfo.get(given["region"]).partition
    if partition is not None and partition != given["partition"]:
        raise ConfigError(
            f"powertoolsLayerVersion: the layer {version} names the region {given['region']}, which is "
            f"in the partition {partition}, not {given['partition']}"
        )
    region = Stack.of(scope).region
    if not Token.is_unresolved(region) and given["region"] != region:
        raise ConfigError(
            f"powertoolsLayerVersion: the layer {version} is in {given['region']}, not in the stack's "
            f"region {region}: Lambda takes only a layer of the function's own region"
        )
    return version


# Where Lambda puts the function's code.
LAMBDA_TASK_ROOT = "/var/task"
# The runtime's Python version, as "3.14".
RUNTIME_PYTHON = RUNTIME.name.removeprefix("python")


@functools.cache
def lambda_asset_dir() -> Path:
    """A directory holding `job_auditor/` with only the Lambda's code, copied once per process from the
    package wherever it is installed (this repo or a wheel in site-packages), with its bytecode for the
    runtime's Python where this machine has that Python (`bytecode_interpreter`)."""
    return stage_lambda_asset(bytecode_interpreter(RUNTIME_PYTHON))


def bytecode_interpreter(version: str) -> str | None:
    """An interpreter of Python `version` on this machine (this one, or `python<version>` on PATH, asked
    its version: a name can lie), to compile the asset's bytecode with; None if there is none.

    Why: /var/task is read-only, so a function whose asset has no bytecode compiles every module it
    imports from source at every cold start (~60 ms of the auditor's ~0.3 s init, benchmarks/coldstart.py
    `sourceOnlyRatio`). Bytecode is only read by the Python version that wrote it (its file name carries
    the version's tag), so only an interpreter of the runtime's own version helps."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    candidate = shutil.which(f"python{version}")
    if candidate is not None:
        try:
            # No shell; the interpreter PATH names, as a shell would run it.
            said = subprocess.run(  # noqa: S603
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return None
        if said == version:
            return candidate
    return None


def stage_lambda_asset(interpreter: str | None) -> Path:
    """A new directory holding `job_auditor/` with only the Lambda's code and, given `interpreter`, its
    bytecode compiled by it. Bytecode is "checked-hash": Python checks it against the source's hash (an
    edited source is compiled again, whatever the zip's timestamps), and the same interpreter writes the
    same bytes, so the asset's hash is its content's, the same on every machine with that Python. An
    interpreter that fails to compile it leaves the sources alone (said on stderr), as none would."""
    staging = Path(tempfile.mkdtemp(prefix="job-auditor-asset-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    target = staging / PACKAGE_DIR.name
    target.mkdir()
    for module in LAMBDA_MODULES:
        shutil.copy2(PACKAGE_DIR / module, target)
    for name in LAMBDA_PACKAGES:
        shutil.copytree(
            PACKAGE_DIR / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    if interpreter is not None:
        compiled = subprocess.run(  # noqa: S603 (no shell; bytecode_interpreter's choice)
            [
                *(interpreter, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash"),
                # The sources' paths as the function sees them, not this temporary directory's.
                *("-s", str(staging), "-p", LAMBDA_TASK_ROOT, str(target)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=_compile_environment(),
        )
        sources = list(target.rglob("*.py"))
        written = list(target.rglob("__pycache__/*.pyc"))
        if compiled.returncode != 0 or len(written) != len(sources):
            # An interpreter that cannot do it (a broken install): the sources alone, as without one.
            for cache in list(target.rglob("__pycache__")):
                shutil.rmtree(cache)
            print(
                f"job-auditor: the Lambda asset ships without bytecode: {interpreter} did not compile it "
                f"({compiled.stderr.strip() or compiled.stdout.strip() or 'no bytecode written'})",
                file=sys.stderr,
            )
    return staging


def _compile_environment() -> dict[str, str]:
    """The compiler's environment: none of the caller's Python settings, which would put the bytecode
    elsewhere (PYTHONPYCACHEPREFIX), name it for -O (PYTHONOPTIMIZE) or not write it; a fixed hash seed,
    so sets and frozensets are marshalled in one order (the same bytes on every machine)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONHASHSEED": "0"}


def shared_python_function(
    scope: Construct,
    *,
    description: str,
    handler: str,
    role: iam.IRole,
    log_group: logs.ILogGroup,
    log_level: str,
    powertools_layer_version: str,
    **props: Any,
) -> lambda_.Function:
    """A job-auditor function: the shared Lambda asset (one upload for every function), the
    AWS-managed Powertools layer, the newest Python on arm64, X-Ray and JSON logs in its own group.

    Active tracing puts X-Ray's `*` resource in `role`'s policy: acknowledged on `role` here, unless
    `role` is an immutable reference (its policy is not changed, so there is nothing to acknowledge).
    """
    layer = lambda_.LayerVersion.from_layer_version_arn(
        scope, "Powertools", powertools_layer_arn(scope, powertools_layer_version)
    )
    if isinstance(role, iam.Role):
        nag.acknowledge(role, "AwsSolutions-IAM5[Resource::*]", nag.XRAY_RESOURCE_REASON)
    return lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler,
        code=lambda_.Code.from_asset(str(lambda_asset_dir())),
        layers=[layer],
        role=role,
        tracing=lambda_.Tracing.ACTIVE,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=lambda_.ApplicationLogLevel[log_level.replace("WARNING", "WARN")],
        system_log_level_v2=lambda_.SystemLogLevel.WARN,
        log_group=log_group,
        **props,
    )


def variable(setting: Setting) -> str:
    """A Lambda-only setting's variable name."""
    assert setting.env_var, "a Lambda-only setting has a variable"
    return setting.env_var


def settings_environment(
    config: JobAuditorProps, *, fanout: bool = False, overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The variables of the table's settings that have a context key too, written from the props (the
    fan-out's own ones with `fanout`); `overrides`: values by name the construct decided (the service
    name it derives). A setting whose `env_when` does not hold, or with no value, is left out."""
    values: dict[str, Any] = {
        s.name: config.scope_ids(s.kind) if s.kind else config.value(s.name) for s in cdk_settings()
    }
    values |= {name: value for name, value in (overrides or {}).items() if value is not None}
    return {
        s.env_var: s.form.write(values[s.name])
        for s in cdk_settings()
        if s.env_var
        and s.fanout_only == fanout
        and values[s.name] is not None
        and (s.env_when is None or s.env_when(values))
    }


class AuditorFunction(Construct):
    """The scheduled auditor function and the only permissions it needs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: JobAuditorProps,
        service_name: str,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        topic: sns.ITopic,
        removal_policy: RemovalPolicy,
        chat_topic: sns.ITopic | None = None,
        start_discovery: JobStartDiscovery | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.timeout = Duration.seconds(config.function_timeout_seconds)

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=LOG_RETENTION[config.log_retention_days],
            removal_policy=removal_policy,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="job-auditor function: read job statuses, keep state, publish transitions",
        )
        self.log_group.grant_write(self.role)

        # The variables, also for the fan-out's functions (infra/fanout.py), which run the same code:
        # what the construct built, then every setting the Lambda shares with the context.
        built = {
            variable(STATE_TABLE): table.table_name,
            variable(EVENT_BUS): bus.event_bus_name,
            variable(NOTIFICATION_TOPIC): topic.topic_arn,
            variable(ACCOUNT): Aws.ACCOUNT_ID,
            variable(CLAIM_LEASE): str(config.claim_lease_seconds),
            # Empty values read as unset by the Lambda.
            variable(CHAT_TOPIC): chat_topic.topic_arn if chat_topic is not None else "",
            variable(NOTIFY_FILTER): NOTIFY_FILTER.form.write(config.notification_filter),
        }
        if start_discovery is not None:
            # discovery=cloudtrail: the queue of announced job starts; unset, every source lists its window.
            built[variable(START_QUEUE)] = start_discovery.queue.queue_url
            start_discovery.grant_consume(self.role)
        overrides = {"service_name": service_name}
        # What it audits: the regions, and the configured kinds offered in at least one of them.
        self.regions = audited_regions(self, config)
        self.kinds = audited_kinds(config, self.regions)
        self.settings = SettingsParameters(
            self,
            "Settings",
            environment=built
            | settings_environment(config, overrides=overrides)
            # Kinds that none of the audited regions offers are left out (fails synth if named in jobKinds).
            | {variable(setting("job_kinds")): ",".join(self.kinds)},
            # The fan-out's functions add theirs (the bucket's name is at most 63 characters).
            reserve=fanout_environment(config, "b" * 63) if config.audit_mode == "stepfunctions" else None,
        )
        self.environment = self.settings.environment
        self.settings.grant_read([self.role])
        self.function = shared_python_function(
            self,
            description="job-auditor: polls job statuses and announces transitions",
            handler=HANDLER,
            role=self.role,
            log_group=self.log_group,
            log_level=config.log_level,
            powertools_layer_version=config.powertools_layer_version,
            memory_size=config.function_memory_mb,
            timeout=self.timeout,
            # One run at a time: a scheduled run never overlaps the previous one.
            reserved_concurrent_executions=1,
            # A run that failed or waited too long is not retried: the next scheduled run covers it.
            retry_attempts=0,
            max_event_age=Duration.minutes(max(1, min(config.schedule_rate_minutes, 360))),
            environment=self.environment,
        )
        self._grant(config, table=table, bus=bus, topic=topic)
        if chat_topic is not None:
            chat_topic.grant_publish(self.role)

    def _grant(
        self, config: JobAuditorProps, *, table: dynamodb.ITable, bus: events.IEventBus, topic: sns.ITopic
    ) -> None:
        regions = self.regions
        grant_job_kinds(self.role, config, regions)
        stars = [nag.XRAY_RESOURCE_REASON]
        if actions := list_actions(config, regions):
            stars.append(
                f"The list operations ({', '.join(actions)}) have no resource type in the service "
                "authorization reference either; the list statement is limited to the audited regions "
                "with aws:RequestedRegion."
            )
        if config.multi_account:
            stars += self._grant_member_accounts(config)
        # One acknowledgment of Resource::* per role: this reason covers every statement on "*".
        nag.acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]", " ".join(stars))

        # Table.grant covers the table's indexes too (<table arn>/index/*): the state store queries the
        # 'inflight' GSI.
        table.grant(self.role, *STATE_STORE_ACTIONS)
        nag.acknowledge(
            self.role,
            nag.wildcard_resource(self, f"{table.table_arn}/index/*"),
            "The state store queries the table's 'inflight' GSI; the grant covers only this table's indexes.",
        )
        bus.grant_put_events_to(self.role)
        # Publishing to a KMS-encrypted topic needs kms:GenerateDataKey* on its key.
        topic.grant_publish(self.role)
        nag.acknowledge(
            self.role,
            nag.wildcard_action("kms:GenerateDataKey*"),
            "Publishing to the KMS-encrypted topics needs kms:GenerateDataKey on their one key "
            "(granted by Topic.grantPublish); the resource is that key only.",
        )

    def _grant_member_accounts(self, config: JobAuditorProps) -> list[str]:
        """Assume the member role in the other accounts; in organization mode also list the
        organization's accounts. Returns the reasons of the statements on "*" it added."""

        def role_arn(account: str) -> str:
            return f"arn:{Aws.PARTITION}:iam::{account}:role/{config.member_role_name}"

        stars: list[str] = []
        if config.organization_mode:
            # The accounts are only known at run time: any account's role of that name, and, when the
            # organization is known, only a role that belongs to it.
            wildcard = role_arn("*")
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="AssumeMemberRoles",
                    actions=["sts:AssumeRole"],
                    resources=[wildcard],
                    conditions=(
                        {"StringEquals": {"aws:ResourceOrgID": config.organization_id}}
                        if config.organization_id
                        else None
                    ),
                )
            )
            nag.acknowledge(
                self.role,
                nag.wildcard_resource(self, wildcard),
                "In organization mode the member accounts are listed at run time (AWS Organizations "
                f"ListAccounts): the auditor may assume only the role named {config.member_role_name}, "
                + (
                    f"only in accounts of organization {config.organization_id} (aws:ResourceOrgID)."
                    if config.organization_id
                    else "in any account whose role trusts it (set organizationId to keep it to the "
                    "organization)."
                ),
            )
            stars += self._grant_organizations(config)
        else:
            # A role ARN per account: in statements CDK can place in managed policies of their own.
            roles = chunked(self, [role_arn(account) for account in config.member_accounts])
            for number, chunk in enumerate(roles, start=1):
                self.role.add_to_policy(
                    iam.PolicyStatement(
                        sid="AssumeMemberRoles" + (str(number) if number > 1 else ""),
                        actions=["sts:AssumeRole"],
                        resources=chunk,
                    )
                )
        return stars

    def _grant_organizations(self, config: JobAuditorProps) -> list[str]:
        """The read-only AWS Organizations calls that list the accounts (ListAccounts; with
        organizationalUnits, the accounts and child OUs of each OU)."""
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListOrganizationAccounts", actions=["organizations:ListAccounts"], resources=["*"]
            )
        )
        stars = [
            "organizations:ListAccounts has no resource type in the service authorization reference, so it "
            "takes '*'; it is read-only and lists only the organization's accounts."
        ]
        # With organizationalUnits the accounts are those of each OU and its child OUs, found at run time.
        # ListAccountsForParent and ListOrganizationalUnitsForParent are authorized on the parent (an OU
        # or the root): any OU or root of the organization.
        tree_actions = [
            "organizations:ListAccountsForParent",
            "organizations:ListOrganizationalUnitsForParent",
        ]
        if config.organization_id:
            parents = [
                f"arn:{Aws.PARTITION}:organizations::*:ou/{config.organization_id}/ou-*",
                f"arn:{Aws.PARTITION}:organizations::*:root/{config.organization_id}/r-*",
            ]
            for parent in parents:
                nag.acknowledge(
                    self.role,
                    nag.wildcard_resource(self, parent),
                    f"{', '.join(tree_actions)} walk the organizationalUnits and the child OUs found at "
                    f"run time: any OU or root of organization {config.organization_id} (the management "
                    "account's id, part of these ARNs, is not known to the hub).",
                )
        else:
            parents = ["*"]
            stars.append(
                f"{', '.join(tree_actions)} take any OU or root without organizationId (set it to narrow "
                "them to the organization's OUs and root)."
            )
        self.role.add_to_policy(
            iam.PolicyStatement(sid="ListOrganizationalUnits", actions=tree_actions, resources=parents)
        )
        return stars
