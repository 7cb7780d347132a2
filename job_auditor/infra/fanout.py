"""The fan-out (auditMode=stepfunctions): a Standard state machine that plans the run's sources,
audits them in a Distributed Map of Express (or Standard) children, and summarizes the run.

    Guard --(previous run still running)--> Skipped (Summarize: a counted skip) -> Succeed
      |
    Plan -> inline or S3? -> Audit (Distributed Map: ItemBatcher, MaxConcurrency,
                                    ToleratedFailurePercentage, ResultWriter to S3)
                          -> Summarize -> Succeed | Fail (the map run itself failed)

Plan and Batch run under the auditor function's own role (member accounts trust that one role ARN);
Summarize reads the map's results and writes logs and metrics only, under a role of its own.
"""

from __future__ import annotations

import math

from aws_cdk import ArnFormat, Aws, Duration, Fn, Names, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from job_auditor.contract import fanout_payload as payload
from job_auditor.contract import handlers
from job_auditor.infra import nag
from job_auditor.infra.auditor_function import LOG_RETENTION, fanout_environment, shared_python_function
from job_auditor.infra.config import JobAuditorProps

# An Express child runs at most 5 minutes; its one task (the batch Lambda, retried once after a
# throttle) must end well before: the batch's own time budget stops 30 s before this timeout.
EXPRESS_BATCH_TIMEOUT_S = 240
# Item lists and map results are per run: kept a few days for inspection, then expired.
RUN_DATA_EXPIRY = Duration.days(7)
# Plan is CPU-bound with many accounts: about 0.33 s of one vCPU per account on AWS (a session, the
# discovery clients and their TLS trust stores, the discovery and state calls; docs/organization.md).
# Lambda gives a function one full vCPU at 1,769 MB; the GB-seconds of CPU-bound work, and so its price,
# stay about the same whatever the memory. Its timeout allows twice the measured time per account,
# up to Lambda's 15 minutes (an organization listed at run time gets those).
PLAN_MEMORY_MB = 1769
PLAN_SECONDS_PER_ACCOUNT = 0.66
LAMBDA_MAX_TIMEOUT_S = 900
STATE_NAMES = ("Guard", "Overlap", "Skipped", "Plan", "ItemsInS3", "AuditInline", "AuditFromS3", "Summarize")


def plan_sizing(config: JobAuditorProps) -> tuple[int, int]:
    """The Plan function's memory (MB) and timeout (s): one vCPU and time for every account when several
    are audited (never less than functionMemoryMb and functionTimeoutSeconds)."""
    if not config.multi_account:
        return config.function_memory_mb, config.function_timeout_seconds
    if config.organization_mode:
        needed = LAMBDA_MAX_TIMEOUT_S
    else:
        needed = min(
            LAMBDA_MAX_TIMEOUT_S, 30 + math.ceil(PLAN_SECONDS_PER_ACCOUNT * len(config.member_accounts))
        )
    return max(config.function_memory_mb, PLAN_MEMORY_MB), max(config.function_timeout_seconds, needed)


class AuditStateMachine(Construct):
    """The state machine, its two auditor-role functions, the Summarize function and the run bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: JobAuditorProps,
        role: iam.IRole,
        environment: dict[str, str],
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "RunData",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=RUN_DATA_EXPIRY)],
            removal_policy=removal_policy,
            auto_delete_objects=False,
        )
        nag.acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "The bucket holds each run's item list and map results for a week (lifecycle expiry): "
            "transient working data written and read only by this state machine's roles, whose calls "
            "CloudTrail already records; access logs would outlive the data they describe.",
        )
        env = {**environment, **fanout_environment(config, self.bucket.bucket_name)}
        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION[config.log_retention_days], removal_policy=removal_policy
        )
        # The auditor's role, as-is: its grants are added on `role` below, and shared_python_function's
        # X-Ray acknowledgment lands on this reference instead of replacing the auditor's own.
        auditor_role = iam.Role.from_role_arn(self, "AuditorRole", role.role_arn, mutable=False)
        self.log_group.grant_write(role)
        self.bucket.grant_put(role)
        express = config.map_child_execution_type == "express"
        batch_timeout = min(config.function_timeout_seconds, EXPRESS_BATCH_TIMEOUT_S if express else 900)
        plan_memory, plan_timeout = plan_sizing(config)
        self.plan_function = self._function(
            "Plan", handlers.PLAN, "plan the run's sources", auditor_role, env, config,
            Duration.seconds(plan_timeout), memory_mb=plan_memory,
        )  # fmt: skip
        self.batch_function = self._function(
            "Batch", handlers.BATCH, "audit one batch of account-regions", auditor_role, env, config,
            Duration.seconds(batch_timeout),
        )  # fmt: skip
        self.summarize_role = iam.Role(
            self,
            "SummarizeRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="job-auditor fan-out Summarize: read the map's results, write logs and metrics",
        )
        self.log_group.grant_write(self.summarize_role)
        self.bucket.grant_read(self.summarize_role)
        self.summarize_function = self._function(
            "Summarize", handlers.SUMMARIZE, "summarize the run", self.summarize_role, env, config,
            Duration.seconds(60),
        )  # fmt: skip
        # Each role's bucket grant, acknowledged on that role: Plan's put (the auditor role) and
        # Summarize's read, both of the objects of the fan-out's own run bucket only (keys are per run).
        run_objects = nag.wildcard_resource(self, f"{self.bucket.bucket_arn}/*")
        grants = {
            role: ("s3:Abort*",),
            self.summarize_role: ("s3:GetObject*", "s3:GetBucket*", "s3:List*"),
        }
        for grantee, actions in grants.items():
            nag.acknowledge(
                grantee,
                run_objects,
                "The fan-out writes (Plan) and reads (Summarize) the objects of its own run bucket, "
                "whose keys are per run; the grant covers that one bucket only.",
            )
            for action in actions:
                nag.acknowledge(
                    grantee,
                    nag.wildcard_action(action),
                    "CDK's Bucket.grantPut/grantRead on the run bucket: these actions on that bucket and "
                    "its objects only.",
                )
        nag.acknowledge(self.summarize_role, "AwsSolutions-IAM5[Resource::*]", nag.XRAY_RESOURCE_REASON)

        self.state_machine_name = Names.unique_resource_name(self, max_length=80, separator="-")
        self.state_machine = self._state_machine(config, express)

    def _function(
        self,
        name: str,
        handler: str,
        what: str,
        role: iam.IRole,
        env: dict[str, str],
        config: JobAuditorProps,
        timeout: Duration,
        memory_mb: int | None = None,
    ) -> lambda_.Function:
        return shared_python_function(
            Construct(self, f"{name}Function"),
            description=f"job-auditor fan-out: {what}",
            handler=handler,
            role=role,
            log_group=self.log_group,
            log_level=config.log_level,
            powertools_layer_version=config.powertools_layer_version,
            memory_size=memory_mb or config.function_memory_mb,
            timeout=timeout,
            # The state machine retries what is worth retrying; the next period covers the rest.
            retry_attempts=0,
            environment=env,
        )

    def _invoke(self, state_id: str, function: lambda_.IFunction, result_path: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            state_id,
            lambda_function=function,
            payload_response_only=True,
            # The default retries (6, backing off to minutes) would outlast an Express child.
            retry_on_service_exceptions=False,
            result_path=result_path,
        )
        task.add_retry(
            errors=["Lambda.TooManyRequestsException", "Lambda.ServiceException"],
            interval=Duration.seconds(2),
            max_attempts=1,
            backoff_rate=2,
        )
        return task

    def _state_machine(self, config: JobAuditorProps, express: bool) -> sfn.StateMachine:
        # Built from the name, not the state machine's Ref: its role's policy may not refer back to it.
        own_arn = _state_machine_arn(self.state_machine_name)
        guard = tasks.CallAwsService(
            self,
            "Guard",
            service="sfn",
            action="listExecutions",
            iam_action="states:ListExecutions",
            iam_resources=[own_arn],
            parameters={
                "StateMachineArn.$": "$$.StateMachine.Id",
                "StatusFilter": "RUNNING",
                "MaxResults": 2,
            },
            result_selector={
                f"{payload.GUARD_RUNNING}.$": "States.ArrayLength($.Executions)",
                f"{payload.GUARD_SELF_LISTED}.$": (
                    "States.ArrayContains($.Executions[*].ExecutionArn, $$.Execution.Id)"
                ),
            },
            result_path=payload.path(payload.GUARD),
        )
        # Another execution is running: two listed, or one that is not this one (the list is eventually
        # consistent: a new execution may not be in it yet).
        running = payload.path(payload.GUARD, payload.GUARD_RUNNING)
        overlap = sfn.Condition.or_(
            sfn.Condition.number_greater_than(running, 1),
            sfn.Condition.and_(
                sfn.Condition.number_equals(running, 1),
                sfn.Condition.boolean_equals(payload.path(payload.GUARD, payload.GUARD_SELF_LISTED), False),
            ),
        )
        skipped = tasks.LambdaInvoke(
            self,
            "Skipped",
            lambda_function=self.summarize_function,
            payload=sfn.TaskInput.from_object(
                {
                    payload.SKIPPED: True,
                    payload.REASON: "previous run still running",
                    f"{payload.RUN_ID}.$": "$$.Execution.Name",
                }
            ),
            payload_response_only=True,
            result_path=payload.path(payload.SUMMARY),
        ).next(sfn.Succeed(self, "EndedAtOnce", comment="The previous run is still running."))

        plan = tasks.LambdaInvoke(
            self,
            "Plan",
            lambda_function=self.plan_function,
            payload=sfn.TaskInput.from_object({f"{payload.EXECUTION_NAME}.$": "$$.Execution.Name"}),
            payload_response_only=True,
            result_path=payload.path(payload.PLAN),
        )
        summarize = self._invoke("Summarize", self.summarize_function, payload.path(payload.SUMMARY))
        done = sfn.Choice(self, "MapRunFailed")
        done.when(
            sfn.Condition.string_equals(
                payload.path(payload.SUMMARY, payload.SUMMARY_STATUS), payload.STATUS_FAILED
            ),
            sfn.Fail(self, "RunFailed", error="MapRunFailed", cause="The map run failed; see the summary."),
        )
        done.otherwise(sfn.Succeed(self, "Done"))
        summarize.next(done)

        items = payload.path(payload.PLAN, payload.ITEMS)
        inline = self._map("AuditInline", config, express, items_path=items)
        from_s3 = self._map("AuditFromS3", config, express, item_reader=self._item_reader())
        for audit in (inline, from_s3):
            audit.add_catch(summarize, errors=["States.ALL"], result_path=payload.path(payload.MAP_ERROR))
            audit.next(summarize)
        where = sfn.Choice(self, "ItemsInS3")
        where.when(sfn.Condition.is_present(payload.path(payload.PLAN, payload.ITEMS_KEY)), from_s3)
        where.otherwise(inline)

        start = sfn.Choice(self, "Overlap")
        start.when(overlap, skipped)
        start.otherwise(plan.next(where))
        definition = guard.next(start)

        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            retention=LOG_RETENTION[config.log_retention_days],
            removal_policy=RemovalPolicy.DESTROY
            if config.removal_policy == "destroy"
            else RemovalPolicy.RETAIN,
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            comment="job-auditor: plan, audit the sources in a Distributed Map, summarize",
            # A run longer than one schedule period is overtaken by the next (which the guard ends).
            timeout=Duration.minutes(max(5, min(config.schedule_rate_minutes * 3, 24 * 60))),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        )
        self.bucket.grant_read_write(machine)
        nag.acknowledge(
            machine,
            "AwsSolutions-IAM5[Resource::*]",
            "Step Functions' log delivery (logs:CreateLogDelivery, ...) and X-Ray actions have no resource "
            "type in the service authorization reference, so they take '*'.",
        )
        for finding in (
            nag.wildcard_resource(self, f"{self.bucket.bucket_arn}/*"),
            nag.wildcard_resource(self, f"arn:{Aws.PARTITION}:s3:::{self.bucket.bucket_name}/*"),
            *(
                nag.wildcard_resource(self, f"{child}{suffix}")
                for child in [_execution_prefix(machine)]
                for suffix in (":*", "/AuditFromS3:*", "/AuditInline:*")
            ),
            nag.wildcard_action("s3:GetObject*"),
            nag.wildcard_action("s3:GetBucket*"),
            nag.wildcard_action("s3:List*"),
            nag.wildcard_action("s3:DeleteObject*"),
            nag.wildcard_action("s3:Abort*"),
            nag.wildcard_resource(self, f"{self.plan_function.function_arn}:*"),
            nag.wildcard_resource(self, f"{self.batch_function.function_arn}:*"),
            nag.wildcard_resource(self, f"{self.summarize_function.function_arn}:*"),
        ):
            nag.acknowledge(
                machine,
                finding,
                "The Distributed Map reads the run's item list and writes its results in the run bucket, "
                "invokes the fan-out functions (and their versions), and starts, describes and stops its "
                "own child executions and map runs: all within this state machine and its bucket.",
            )
        return machine

    def _item_reader(self) -> sfn.S3JsonItemReader:
        items_key = sfn.JsonPath.string_at(payload.path(payload.PLAN, payload.ITEMS_KEY))
        return sfn.S3JsonItemReader(bucket=self.bucket, key=items_key)

    def _map(
        self,
        state_id: str,
        config: JobAuditorProps,
        express: bool,
        *,
        items_path: str | None = None,
        item_reader: sfn.IItemReader | None = None,
    ) -> sfn.DistributedMap:
        audit = sfn.DistributedMap(
            self,
            state_id,
            items_path=items_path,
            item_reader=item_reader,
            item_batcher=sfn.ItemBatcher(
                max_items_per_batch=config.items_per_batch,
                # Within the payload bound (the service takes up to 256 KiB): headroom for its wrapping.
                max_input_bytes_per_batch=payload.BATCH_INPUT_MAX_BYTES,
            ),
            max_concurrency=config.map_max_concurrency,
            tolerated_failure_percentage=config.tolerated_failure_percentage,
            map_execution_type=sfn.StateMachineType.EXPRESS if express else sfn.StateMachineType.STANDARD,
            result_writer_v2=sfn.ResultWriterV2(bucket=self.bucket, prefix="results"),
            result_path=payload.path(payload.MAP),
            label=state_id,
        )
        audit.item_processor(self._invoke(f"{state_id}Batch", self.batch_function, "$"))
        return audit


def _execution_prefix(machine: sfn.StateMachine) -> str:
    """The ARN prefix of the state machine's executions, as CDK's DistributedMapPolicy writes it: with
    the stack's formatArn, so a stack with a concrete environment gets its literal region and account."""
    name = Fn.select(6, Fn.split(":", machine.state_machine_arn))
    return Stack.of(machine).format_arn(
        service="states", resource="execution", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


def _state_machine_arn(name: str) -> str:
    return f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:{name}"
