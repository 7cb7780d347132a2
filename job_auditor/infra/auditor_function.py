"""The auditor Lambda: code asset, Powertools layer, environment, log group and least-privilege role."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from job_auditor.contract.environment import scope_settings
from job_auditor.contract.kinds import JOB_KINDS, IamGrant, JobKindSpec
from job_auditor.infra import nag
from job_auditor.infra.config import JobAuditorProps

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# What the functions import: the package's own (CDK-free) __init__ and these subpackages. The CDK side
# (infra, the CLI) and the schema files stay out of the asset.
LAMBDA_PACKAGES = ("auditor", "contract", "slack_forwarder")
HANDLER = "job_auditor.auditor.handler.lambda_handler"
SERVICE_NAME = "job-auditor"
METRICS_NAMESPACE = "JobAuditor"

# The newest Python runtime Lambda offers in this aws-cdk-lib; the layer name and its SSM path
# follow it (python3.14 -> AWSLambdaPowertoolsPythonV3-python314-arm64).
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64

# Exactly the DynamoDB calls the state store makes (job_auditor/auditor/adapters/state_store.py):
# conditional PutItem claims, UpdateItem leases, BatchWriteItem puts, GetItem and Query reads.
TABLE_ACTIONS: tuple[str, ...] = (
    "dynamodb:BatchWriteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)

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


def powertools_layer_parameter(version: str) -> str:
    """Public SSM parameter that holds the AWS-managed Powertools v3 layer ARN for this runtime.

    AWS publishes `/aws/service/powertools/python/{arch}/{python}/{version|latest}` in every region
    where the layer exists; CloudFormation resolves it at deploy time in the stack's region, so
    synth needs no AWS call and the ARN always matches the region and architecture.
    """
    arch = "arm64" if ARCHITECTURE.name == "arm64" else "x86_64"
    return f"/aws/service/powertools/python/{arch}/{RUNTIME.name}/{version}"


@functools.cache
def lambda_asset_dir() -> Path:
    """A directory holding `job_auditor/` with only the Lambda's code, copied once per process from the
    package wherever it is installed (this repo or a wheel in site-packages): the asset's hash is its
    content's, the same on every machine."""
    staging = Path(tempfile.mkdtemp(prefix="job-auditor-asset-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    target = staging / PACKAGE_DIR.name
    target.mkdir()
    shutil.copy2(PACKAGE_DIR / "__init__.py", target)
    for name in LAMBDA_PACKAGES:
        shutil.copytree(
            PACKAGE_DIR / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return staging


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

    Active tracing puts X-Ray's `*` resource in `role`'s policy: acknowledged on `role` here.
    """
    layer = lambda_.LayerVersion.from_layer_version_arn(
        scope,
        "Powertools",
        ssm.StringParameter.value_for_string_parameter(
            scope, powertools_layer_parameter(powertools_layer_version)
        ),
    )
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


def _arns(service: str, regions: list[str], resource: str) -> list[str]:
    return [f"arn:{Aws.PARTITION}:{service}:{region}:{Aws.ACCOUNT_ID}:{resource}" for region in regions]


class AuditorFunction(Construct):
    """The scheduled auditor function and the only permissions it needs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: JobAuditorProps,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        topic: sns.ITopic,
        removal_policy: RemovalPolicy,
        chat_topic: sns.ITopic | None = None,
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

        # The variables, also for the fan-out's functions (infra/fanout.py), which run the same code.
        self.environment = self._environment(config, table=table, bus=bus, topic=topic, chat_topic=chat_topic)
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

    @staticmethod
    def _environment(
        config: JobAuditorProps,
        *,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        topic: sns.ITopic,
        chat_topic: sns.ITopic | None,
    ) -> dict[str, str]:
        """Variables named as `auditor.settings.ENV_VARS` and the kinds' scope variables (plus
        Powertools' own)."""
        return {
            "STATE_TABLE_NAME": table.table_name,
            "EVENT_BUS_NAME": bus.event_bus_name,
            "NOTIFICATION_TOPIC_ARN": topic.topic_arn,
            "EVENT_SOURCE": config.event_source,
            "JOB_KINDS": ",".join(config.job_kinds),
            "REGIONS": ",".join(config.regions),
            **{
                setting.env_var: ",".join("/".join(ids) for ids in config.scope_ids(spec.id)) or "discover"
                for spec, setting in scope_settings()
            },
            "INITIAL_LOOKBACK_MINUTES": str(config.initial_lookback_minutes),
            "OVERLAP_SECONDS": str(config.overlap_seconds),
            "RECHECK_HORIZON_HOURS": str(config.recheck_horizon_hours),
            "ANNOUNCE_BASELINE": "true" if config.announce_baseline else "false",
            "HISTORY_TTL_DAYS": str(config.history_retention_days),
            "CLAIM_LEASE_SECONDS": str(config.claim_lease_seconds),
            "STUCK_AFTER_HOURS": config.stuck_after_hours,
            "STUCK_REPEAT_HOURS": str(config.stuck_repeat_hours),
            "RECONCILE_EVERY_MINUTES": str(config.reconcile_every_minutes),
            "RECONCILE_LOOKBACK_HOURS": str(config.reconcile_lookback_hours),
            "MAX_PUBLISH_ATTEMPTS": str(config.max_publish_attempts),
            "VANISHED_AFTER_CHECKS": str(config.vanished_after_checks),
            "ACCOUNT_ID": Aws.ACCOUNT_ID,
            # Empty values read as unset by the Lambda.
            "CHAT_TOPIC_ARN": chat_topic.topic_arn if chat_topic is not None else "",
            "NOTIFY_FILTER": json.dumps(config.notification_filter) if config.notification_filter else "",
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": config.log_level,
        }

    def _grant(
        self, config: JobAuditorProps, *, table: dynamodb.ITable, bus: events.IEventBus, topic: sns.ITopic
    ) -> None:
        regions = list(config.regions) or [Stack.of(self).region]
        in_regions = {"StringEquals": {"aws:RequestedRegion": regions}}
        # (kind, grant, a statement id stable whatever other kinds are enabled)
        grants = [
            (spec, grant, scopes, f"{_sid(spec.id)}{number}")
            for spec in map(JOB_KINDS.__getitem__, config.job_kinds)
            for number, (grant, scopes) in enumerate(_grants(spec, config))
        ]

        # Actions without a resource type in the service authorization reference (the list
        # operations) take "*"; the RequestedRegion condition keeps them to the audited regions.
        list_actions = sorted(
            {a for _, grant, _, _ in grants if grant.resource is None for a in grant.actions}
        )
        if list_actions:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="ListJobs", actions=list_actions, resources=["*"], conditions=in_regions
                )
            )
            # The same finding as the X-Ray one shared_python_function acknowledged: this reason replaces it.
            nag.acknowledge(
                self.role,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray PutTraceSegments/PutTelemetryRecords and the list operations "
                f"({', '.join(list_actions)}) have no resource type in the service authorization "
                "reference, so they take '*'; the list statement is limited to the audited regions with "
                "aws:RequestedRegion.",
            )
        scoped = [(s, g, g.resource, scopes, sid) for s, g, scopes, sid in grants if g.resource is not None]
        for spec, grant, template, scopes, sid in scoped:
            resources = list(
                dict.fromkeys(
                    arn for ids in scopes for arn in _arns(grant.service, regions, _resource(template, ids))
                )
            )
            self._grant_wildcard(
                sid,
                sorted(grant.actions),
                resources,
                f"{', '.join(grant.actions)} act on the {spec.display_name}s (or their scope) the auditor "
                "finds at run time, whose ids are unknown at deploy time: scoped to this account, the "
                "audited regions and the resource type the service authorization reference gives"
                + (
                    f"; set {spec.scope_setting.context_key} to name them instead."
                    if spec.scope_setting
                    else "."
                ),
            )

        # Table.grant covers the table's indexes too (<table arn>/index/*): the state store queries the
        # 'inflight' GSI.
        table.grant(self.role, *TABLE_ACTIONS)
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

    def _grant_wildcard(self, sid: str, actions: list[str], resources: list[str], reason: str) -> None:
        """Allow `actions` on `resources`, and acknowledge each resource that holds a wildcard."""
        self.role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))
        for resource in resources:
            if "*" in resource:
                nag.acknowledge(self.role, nag.wildcard_resource(self, resource), reason)
