"""The JobAuditor construct: the whole job-auditor (state, auditor, schedule, bus, schema, topics,
alarms, dashboard) in any stack. It wires the concern constructs together, nothing more."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnOutput, RemovalPolicy, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from job_auditor import stack_outputs
from job_auditor.contract.discovery import CLOUDTRAIL, START_QUEUE_URL
from job_auditor.infra.auditor_function import AuditorFunction
from job_auditor.infra.config import JobAuditorProps, as_props
from job_auditor.infra.event_bus import TransitionBus
from job_auditor.infra.event_schema import TransitionEventSchema
from job_auditor.infra.fanout import AuditStateMachine
from job_auditor.infra.member_stackset import MemberStackSet
from job_auditor.infra.monitoring import Monitoring
from job_auditor.infra.notifications import NotificationKey, Notifications
from job_auditor.infra.schedule import AuditSchedule
from job_auditor.infra.slack_webhook import SlackWebhookForwarder
from job_auditor.infra.start_discovery import JobStartDiscovery
from job_auditor.infra.state_table import StateTable


class JobAuditor(Construct):
    """Scheduled auditor, its state, the transition bus and topic, alarms and a dashboard.

    `props` is a JobAuditorProps, or a mapping of the context keys of the README (validated by the same
    model as `cdk synth`: a bad key or value raises ConfigError naming it); None takes every default.
    The stack outputs (StateTableName, EventBusName, ...) are the construct's, so `job-auditor` (the CLI)
    finds them by stack name wherever the construct sits.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: JobAuditorProps | Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        config = as_props(props)
        self.config = config
        Tags.of(self).add("project", "job-auditor")
        removal = RemovalPolicy.RETAIN if config.removal_policy == "retain" else RemovalPolicy.DESTROY

        self.state = StateTable(self, "State", removal_policy=removal)
        self.events = TransitionBus(
            self,
            "Events",
            event_source=config.event_source,
            archive_retention_days=config.archive_retention_days,
        )
        self.event_schema = TransitionEventSchema(self, "EventSchema")
        self.key = NotificationKey(self, "NotificationKey", removal_policy=removal)
        self.notifications = Notifications(
            self,
            "Notifications",
            key=self.key.key,
            emails=config.notification_emails,
            notification_filter=config.notification_filter,
            slack_workspace_id=config.slack_workspace_id,
            slack_channel_id=config.slack_channel_id,
        )
        self.auditor = AuditorFunction(
            self,
            "Auditor",
            config=config,
            table=self.state.table,
            bus=self.events.bus,
            topic=self.notifications.topic,
            removal_policy=removal,
            chat_topic=self.notifications.chat_topic,
        )
        self.start_discovery: JobStartDiscovery | None = None
        if config.discovery == CLOUDTRAIL:
            self.start_discovery = JobStartDiscovery(
                self,
                "StartDiscovery",
                kind_ids=config.job_kinds,
                consumer=self.auditor.function,
                function_timeout=self.auditor.timeout,
                removal_policy=removal,
            )
            self.auditor.function.add_environment(START_QUEUE_URL, self.start_discovery.queue.queue_url)
        self.fanout: AuditStateMachine | None = None
        if config.audit_mode == "stepfunctions":
            self.fanout = AuditStateMachine(
                self,
                "Fanout",
                config=config,
                role=self.auditor.role,
                environment=self.auditor.environment,
                removal_policy=removal,
            )
        self.schedule = AuditSchedule(
            self,
            "Schedule",
            function=self.auditor.function,
            rate_minutes=config.schedule_rate_minutes,
            removal_policy=removal,
            state_machine=self.fanout.state_machine if self.fanout is not None else None,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            function=self.auditor.function,
            timeout=self.auditor.timeout,
            dead_letter_queue=self.schedule.dead_letter_queue,
            key=self.key.key,
            ops_emails=config.ops_emails,
            schedule_rate_minutes=config.schedule_rate_minutes,
            heartbeat_periods=config.heartbeat_periods,
            account_failure_periods=config.account_failure_periods if config.multi_account else None,
            state_machine=self.fanout.state_machine if self.fanout is not None else None,
        )
        self.member_stack_set: MemberStackSet | None = None
        if config.member_deployment == "stackset":
            self.member_stack_set = MemberStackSet(
                self, "MemberStackSet", config=config, auditor_role=self.auditor.role
            )
        self.slack_webhook: SlackWebhookForwarder | None = None
        if config.slack_webhook_secret_name:
            self.slack_webhook = SlackWebhookForwarder(
                self,
                "SlackWebhook",
                topic=self.notifications.topic,
                secret_name=config.slack_webhook_secret_name,
                filter_policy=self.notifications.filter_policy,
                removal_policy=removal,
                log_retention_days=config.log_retention_days,
                log_level=config.log_level,
                powertools_layer_version=config.powertools_layer_version,
                alarm_topic=self.monitoring.ops_topic,
            )

        outputs = {
            stack_outputs.STATE_TABLE_NAME: self.state.table.table_name,
            stack_outputs.EVENT_BUS_NAME: self.events.bus.event_bus_name,
            stack_outputs.EVENT_BUS_ARN: self.events.bus.event_bus_arn,
            stack_outputs.NOTIFICATION_TOPIC_ARN: self.notifications.topic.topic_arn,
            stack_outputs.OPS_TOPIC_ARN: self.monitoring.ops_topic.topic_arn,
            stack_outputs.AUDITOR_FUNCTION_NAME: self.auditor.function.function_name,
            stack_outputs.DEAD_LETTER_QUEUE_URL: self.schedule.dead_letter_queue.queue_url,
            stack_outputs.DASHBOARD_NAME: self.monitoring.dashboard.dashboard_name,
            stack_outputs.EVENT_SCHEMA_REGISTRY_NAME: self.event_schema.registry.attr_registry_name,
            stack_outputs.EVENT_SCHEMA_NAME: self.event_schema.schema.attr_schema_name,
        }
        if config.multi_account:
            # What the member roles trust: the stand-alone member stack takes it as auditorRoleArn.
            outputs[stack_outputs.AUDITOR_ROLE_ARN] = self.auditor.role.role_arn
        if self.slack_webhook is not None:
            dead_letters = self.slack_webhook.dead_letter_queue.queue_url
            outputs[stack_outputs.SLACK_WEBHOOK_DEAD_LETTER_QUEUE_URL] = dead_letters
        for output_id, value in outputs.items():
            CfnOutput(self, output_id, value=value)

    @property
    def event_bus(self) -> events.IEventBus:
        """The bus the transitions go to: add your own rules to it."""
        return self.events.bus

    @property
    def state_table(self) -> dynamodb.ITable:
        return self.state.table

    @property
    def notification_topic(self) -> sns.ITopic:
        """The topic of the people-facing notifications: subscribe your own endpoints to it."""
        return self.notifications.topic

    @property
    def function(self) -> lambda_.IFunction:
        """The auditor Lambda function."""
        return self.auditor.function

    @property
    def auditor_role(self) -> iam.IRole:
        """The auditor function's role: the one principal the member roles trust (aws:PrincipalArn).
        Every function that reads member accounts runs with it."""
        return self.auditor.role
