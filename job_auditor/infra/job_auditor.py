"""The JobAuditor construct: the whole job-auditor (state, auditor, schedule, bus, schema, topics, chat
channels, paging, alarms, dashboard) in any stack, as many times as wanted. It wires the concern
constructs together, nothing more."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Unpack

from aws_cdk import Aws, CfnOutput, Duration, Fn, RemovalPolicy, Stack, Tags, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from job_auditor import stack_outputs
from job_auditor.contract.discovery import CLOUDTRAIL
from job_auditor.contract.forms import shown
from job_auditor.infra.alert_destination import AlertDestination
from job_auditor.infra.auditor_function import AuditorFunction
from job_auditor.infra.config import ConfigError, JobAuditorOptions, JobAuditorProps, as_props
from job_auditor.infra.event_bus import TransitionBus
from job_auditor.infra.event_schema import TransitionEventSchema
from job_auditor.infra.fanout import AuditStateMachine
from job_auditor.infra.iam_limits import check_iam_limits
from job_auditor.infra.member_stackset import MemberStackSet
from job_auditor.infra.monitoring import AuditorMetrics, Monitoring
from job_auditor.infra.notifications import NotificationKey, Notifications
from job_auditor.infra.schedule import AuditSchedule
from job_auditor.infra.slack_webhook import SlackWebhookForwarder
from job_auditor.infra.start_discovery import JobStartDiscovery
from job_auditor.infra.state_table import StateTable

# A physical name's stem: what the strictest of the names built from it takes (a StackSet name:
# [a-zA-Z][-a-zA-Z0-9]*), short enough for the shortest (a Schema Registry name, `<name>-events`, is at
# most 64 characters).
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
MAX_NAME_LENGTH = 57
NAME_FORM = f"a letter, then letters, digits or hyphens, at most {MAX_NAME_LENGTH} characters"


def path_name(construct: Construct) -> str:
    """A name unique in the account and region, from the construct's place: its stack's name and its
    path below the stack, joined by hyphens ("Default" left out, as CDK leaves it out of logical ids).
    `JobAuditor` for app.py's stack (construct "Default"), `Platform-JobAuditor` for a construct
    `JobAuditor` in a stack `Platform`; a long path is cut short and ends in a hash of the whole."""
    scopes = construct.node.scopes
    # The outermost stack: a nested stack's name is only known at deploy time, and two nested stacks of
    # one id under different parents would give one name.
    stack = next(c for c in scopes if isinstance(c, Stack))
    below = [c.node.id for c in scopes[scopes.index(stack) + 1 :] if c.node.id != "Default"]
    stack_name = stack.node.id if Token.is_unresolved(stack.stack_name) else stack.stack_name
    name = re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9-]", "-", "-".join([stack_name, *below]))).strip("-")
    if len(name) > MAX_NAME_LENGTH:
        digest = hashlib.sha256(construct.node.path.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME_LENGTH - 9].rstrip('-')}-{digest}"
    return name


def _same_place(one: Construct, other: Construct) -> bool:
    """Whether two constructs surely deploy to one account and region: one stack, or stacks whose
    environments are known and equal. Environment-agnostic stacks (or Stages) may go anywhere: they are
    not refused on a guess."""
    here, there = Stack.of(one), Stack.of(other)
    if here is there:
        return True
    places = (here.account, here.region, there.account, there.region)
    known = not any(Token.is_unresolved(value) for value in places)
    return known and (here.account, here.region) == (there.account, there.region)


def _other_auditors(auditor: JobAuditor) -> Iterator[JobAuditor]:
    """The app's other JobAuditors (one built before may have stopped half-way on an error)."""
    for other in auditor.node.root.node.find_all():
        if isinstance(other, JobAuditor) and other is not auditor:
            yield other


def _refuse_a_taken_name(auditor: JobAuditor) -> None:
    """Two JobAuditors of one app in stacks of the same account and region must not share a name: their
    named resources (the schema registry, the chat channels, the StackSet) and their metrics' service
    would collide at deploy. Names can meet where construct ids differ only in characters a name cannot
    hold (Job.Auditor, Job_Auditor) or where a prefix repeats."""
    for other in _other_auditors(auditor):
        if getattr(other, "name", None) == auditor.name and _same_place(other, auditor):
            raise ConfigError(
                f"invalid job-auditor props: {auditor.node.path} and {other.node.path} would both be named "
                f"{auditor.name!r} in the same account and region: give one a prefix of its own"
            )


def _refuse_a_shared_source(auditor: JobAuditor) -> None:
    """Two JobAuditors of one app on one bus (`event_bus=`) must put their events under sources of their
    own: each copy's rules (its alerts, its archive) match its source, so with one source each would page
    for and archive the other's jobs."""
    for other in _other_auditors(auditor):
        if not hasattr(other, "events"):
            continue
        same_bus = other.events.bus.event_bus_name == auditor.events.bus.event_bus_name
        same_source = other.config.event_source == auditor.config.event_source
        if same_bus and same_source and _same_place(other, auditor):
            raise ConfigError(
                f"invalid job-auditor props: {auditor.node.path} and {other.node.path} put their events on "
                f"one bus under one source {auditor.config.event_source!r}: give one an eventSource "
                "(event_source=) of its own, or a bus of its own"
            )


def kebab_case(name: str) -> str:
    """JobAuditor -> job-auditor, Platform-JobAuditor -> platform-job-auditor: a service name."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name)
    return re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")


class JobAuditor(Construct):
    """Scheduled auditor, its state, the transition bus and topic, alarms and a dashboard.

    Settings are keyword arguments, the context keys of the README in snake_case
    (`schedule_rate_minutes=10` or `=Duration.minutes(10)`, `removal_policy=RemovalPolicy.DESTROY`,
    `qconnect_knowledge_base_ids=[...]`), or `props`: a JobAuditorProps, or a mapping of the context keys
    themselves (validated as `cdk synth` validates them); nothing takes every default. A bad value raises
    ConfigError naming it.

    `prefix` names what has a physical name (the schema registry `<prefix>-events`, the Slack channel
    configuration, the member role's StackSet); by default the construct's path (`path_name`), so several
    JobAuditors sit in one stack or account. `alarm_topic`: an existing SNS topic for the alarms instead
    of one of its own; `event_bus`: an existing bus in this account for the transitions instead of one of
    its own (the archive and the events' source are the construct's either way).

    The stack outputs (StateTableName, EventBusName, ...) are the construct's, so `job-auditor` (the CLI)
    finds them by stack name wherever the construct sits.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: JobAuditorProps | Mapping[str, object] | None = None,
        prefix: str | None = None,
        alarm_topic: sns.ITopic | None = None,
        event_bus: events.IEventBus | None = None,
        **options: Unpack[JobAuditorOptions],
    ) -> None:
        super().__init__(scope, construct_id)
        if props is not None and options:
            raise ConfigError(
                f"invalid job-auditor props: give props or keyword arguments, not both (got props and "
                f"{', '.join(sorted(options))})"
            )
        config = JobAuditorProps(**options) if options else as_props(props)
        if prefix is not None and not (NAME_PATTERN.fullmatch(prefix) and len(prefix) <= MAX_NAME_LENGTH):
            raise ConfigError(f"invalid job-auditor props: prefix: expected {NAME_FORM}, got {shown(prefix)}")
        self.config = config
        self.name = prefix or path_name(self)
        _refuse_a_taken_name(self)
        self.metrics = AuditorMetrics(config.metrics_namespace, config.service_name or kebab_case(self.name))
        Tags.of(self).add("project", "job-auditor")
        removal = RemovalPolicy.RETAIN if config.removal_policy == "retain" else RemovalPolicy.DESTROY

        self.state = StateTable(self, "State", removal_policy=removal)
        self.events = TransitionBus(
            self,
            "Events",
            event_source=config.event_source,
            archive_retention_days=config.archive_retention_days,
            bus=event_bus,
        )
        _refuse_a_shared_source(self)
        self.event_schema = TransitionEventSchema(self, "EventSchema", name=self.name)
        self.key = NotificationKey(self, "NotificationKey", removal_policy=removal)
        self.notifications = Notifications(
            self,
            "Notifications",
            key=self.key.key,
            emails=config.notification_emails,
            notification_filter=config.notification_filter,
            slack_workspace_id=config.slack_workspace_id,
            slack_channel_id=config.slack_channel_id,
            teams_team_id=config.teams_team_id,
            teams_channel_id=config.teams_channel_id,
            teams_tenant_id=config.teams_tenant_id,
            # app.py's stack keeps the name it always had (a new name would replace the channel).
            slack_channel_name=(
                f"job-auditor-{Aws.STACK_NAME}"
                if self.name == Stack.of(self).stack_name
                else f"job-auditor-{self.name}"
            ),
            teams_channel_name=(
                f"job-auditor-teams-{Aws.STACK_NAME}"
                if self.name == Stack.of(self).stack_name
                else f"job-auditor-teams-{self.name}"
            ),
        )
        self.start_discovery = self._start_discovery(config, removal)
        self.auditor = AuditorFunction(
            self,
            "Auditor",
            config=config,
            service_name=self.metrics.service,
            table=self.state.table,
            bus=self.events.bus,
            topic=self.notifications.topic,
            removal_policy=removal,
            chat_topic=self.notifications.chat_topic,
            start_discovery=self.start_discovery,
        )
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
            # Summarize reads the settings too, under a role of its own.
            self.auditor.settings.grant_read([self.fanout.summarize_role])
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
            metrics=self.metrics,
            timeout=self.auditor.timeout,
            dead_letter_queue=self.schedule.dead_letter_queue,
            key=self.key.key,
            ops_emails=config.ops_emails,
            alarm_topic=alarm_topic,
            schedule_rate_minutes=config.schedule_rate_minutes,
            heartbeat_periods=config.heartbeat_periods,
            reconcile_every_minutes=config.reconcile_every_minutes,
            account_failure_periods=config.account_failure_periods if config.multi_account else None,
            state_machine=self.fanout.state_machine if self.fanout is not None else None,
        )
        self.member_stack_set: MemberStackSet | None = None
        if config.member_deployment == "stackset":
            self.member_stack_set = MemberStackSet(
                self, "MemberStackSet", config=config, auditor_role=self.auditor.role, name=self.name
            )
        check_iam_limits(self, config)
        self.slack_webhook: SlackWebhookForwarder | None = None
        if config.slack_webhook_secret_name:
            self.slack_webhook = SlackWebhookForwarder(
                self,
                "SlackWebhook",
                topic=self.notifications.topic,
                secret_name=config.slack_webhook_secret_name,
                filter_policy=self.notifications.filter_policy,
                removal_policy=removal,
                metrics=self.metrics,
                log_retention_days=config.log_retention_days,
                log_level=config.log_level,
                powertools_layer_version=config.powertools_layer_version,
                alarm_topic=self.monitoring.ops_topic,
            )
        self.alerts: AlertDestination | None = None
        if config.alert_destination and config.alert_secret:
            self.alerts = AlertDestination(
                self,
                "Alerts",
                bus=self.events.bus,
                event_source=config.event_source,
                preset=config.alert_destination,
                secret=config.alert_secret,
                removal_policy=removal,
                url=config.alert_url,
                header_name=config.alert_header_name,
                statuses=config.alert_statuses,
                categories=config.alert_status_categories,
                stuck_alerts=config.alert_stuck_alerts,
                alarm_topic=self.monitoring.ops_topic,
            )

        for output_id, value in self._outputs(config).items():
            output = CfnOutput(self, output_id, value=value)
            schema_output = output_id in (
                stack_outputs.EVENT_SCHEMA_REGISTRY_NAME,
                stack_outputs.EVENT_SCHEMA_NAME,
            )
            if schema_output and self.event_schema.condition is not None:
                output.condition = self.event_schema.condition  # where the registry exists

    def _outputs(self, config: JobAuditorProps) -> dict[str, str]:
        """Output name -> value: what the CLI finds the deployed resources by (stack_outputs)."""
        outputs = {
            stack_outputs.STATE_TABLE_NAME: self.state.table.table_name,
            stack_outputs.EVENT_BUS_NAME: self.events.bus.event_bus_name,
            stack_outputs.EVENT_BUS_ARN: self.events.bus.event_bus_arn,
            stack_outputs.NOTIFICATION_TOPIC_ARN: self.notifications.topic.topic_arn,
            stack_outputs.OPS_TOPIC_ARN: self.monitoring.ops_topic.topic_arn,
            stack_outputs.AUDITOR_FUNCTION_NAME: self.auditor.function.function_name,
            stack_outputs.DEAD_LETTER_QUEUE_URL: self.schedule.dead_letter_queue.queue_url,
            stack_outputs.DASHBOARD_NAME: self.monitoring.dashboard.dashboard_name,
        }
        if self.event_schema.registry is not None and self.event_schema.schema is not None:
            outputs[stack_outputs.EVENT_SCHEMA_REGISTRY_NAME] = self.event_schema.registry.attr_registry_name
            outputs[stack_outputs.EVENT_SCHEMA_NAME] = self.event_schema.schema.attr_schema_name
        outputs[stack_outputs.AUDITED_REGIONS] = Fn.join(",", self.auditor.regions)
        outputs[stack_outputs.AUDITED_JOB_KINDS] = ",".join(self.auditor.kinds)
        if parameters := self.auditor.settings.parameters:
            # What `run --once` and `replay --parked` read the moved settings from.
            outputs[stack_outputs.SETTINGS_PARAMETER_ARNS] = Fn.join(
                ",", [parameter.parameter_arn for parameter in parameters.values()]
            )
        if config.multi_account:
            outputs[stack_outputs.AUDITED_ACCOUNTS] = (
                stack_outputs.ORGANIZATION_ACCOUNTS
                if config.organization_mode
                else stack_outputs.LISTED_ACCOUNTS
            )
            # What the member roles trust: the stand-alone member stack takes it as auditorRoleArn.
            outputs[stack_outputs.AUDITOR_ROLE_ARN] = self.auditor.role.role_arn
        if self.notifications.chat_topic is not None:
            # What `job-auditor replay --parked` and `run --once` publish chat notifications to.
            outputs[stack_outputs.CHAT_TOPIC_ARN] = self.notifications.chat_topic.topic_arn
        if self.start_discovery is not None:
            # What `job-auditor run --once` drains, as the auditor does.
            outputs[stack_outputs.START_QUEUE_ARN] = self.start_discovery.queue.queue_arn
        if self.slack_webhook is not None:
            dead_letters = self.slack_webhook.dead_letter_queue.queue_url
            outputs[stack_outputs.SLACK_WEBHOOK_DEAD_LETTER_QUEUE_URL] = dead_letters
        return outputs

    def _start_discovery(self, config: JobAuditorProps, removal: RemovalPolicy) -> JobStartDiscovery | None:
        """discovery=cloudtrail: the rule and queue of announced job starts (None: every run lists)."""
        if config.discovery != CLOUDTRAIL:
            return None
        return JobStartDiscovery(
            self,
            "StartDiscovery",
            kind_ids=config.job_kinds,
            function_timeout=Duration.seconds(config.function_timeout_seconds),
            removal_policy=removal,
        )

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
