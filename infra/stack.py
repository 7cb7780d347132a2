"""The job-auditor stack: wires the constructs together, nothing more."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from infra.auditor_function import AuditorFunction
from infra.config import AuditorConfig
from infra.event_bus import TransitionBus
from infra.event_schema import TransitionEventSchema
from infra.monitoring import Monitoring
from infra.notifications import NotificationKey, Notifications
from infra.schedule import AuditSchedule
from infra.slack_webhook import SlackWebhookForwarder
from infra.state_table import StateTable


class JobAuditorStack(Stack):
    """Scheduled auditor, its state, the transition bus and topic, alarms and a dashboard."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AuditorConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
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
        self.schedule = AuditSchedule(
            self,
            "Schedule",
            function=self.auditor.function,
            rate_minutes=config.schedule_rate_minutes,
            removal_policy=removal,
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
            "StateTableName": self.state.table.table_name,
            "EventBusName": self.events.bus.event_bus_name,
            "EventBusArn": self.events.bus.event_bus_arn,
            "NotificationTopicArn": self.notifications.topic.topic_arn,
            "OpsTopicArn": self.monitoring.ops_topic.topic_arn,
            "AuditorFunctionName": self.auditor.function.function_name,
            "DeadLetterQueueUrl": self.schedule.dead_letter_queue.queue_url,
            "DashboardName": self.monitoring.dashboard.dashboard_name,
            "EventSchemaRegistryName": self.event_schema.registry.attr_registry_name,
            "EventSchemaName": self.event_schema.schema.attr_schema_name,
        }
        for output_id, value in outputs.items():
            CfnOutput(self, output_id, value=value)
        if self.slack_webhook is not None:
            CfnOutput(
                self,
                "SlackWebhookDeadLetterQueueUrl",
                value=self.slack_webhook.dead_letter_queue.queue_url,
            )
