"""Alarms routed to an ops topic, and a dashboard of the auditor's runs and findings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from job_auditor.infra.alarms import alarm, queue_depth_metric

DURATION_ALARM_FRACTION = 0.8
# A claim conflict is normal once in a while (two runs overlapped); one every other run for an hour is
# a job the auditor cannot claim (e.g. its item is not where its state says).
CLAIM_CONFLICTS_PER_HOUR = 6
ACCOUNT_FAILURES = "AccountFailures"


@dataclass(frozen=True)
class AuditorMetrics:
    """Where one JobAuditor's functions put their metrics: its namespace and its `service` dimension
    (POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_SERVICE_NAME of its functions), so two copies in an
    account each watch their own."""

    namespace: str
    service: str

    def metric(self, name: str, *, period: Duration, statistic: str = "Sum") -> cloudwatch.Metric:
        """A metric the Lambda emits with Powertools."""
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=name,
            dimensions_map={"service": self.service},
            statistic=statistic,
            period=period,
        )

    def account_failures_query(self) -> str:
        """A Metrics Insights query of the largest AccountFailures of each account (the Lambda emits it,
        dimensions Account and service, only for an account that had failures in a run)."""
        # From validated settings (the table's forms allow no quotes in either); S608 is about
        # untrusted input.
        return (
            f'SELECT MAX({ACCOUNT_FAILURES}) FROM SCHEMA("{self.namespace}", Account, service) '  # noqa: S608
            f"WHERE service = '{self.service}' GROUP BY Account"
        )


class Monitoring(Construct):
    """Error, throttle, duration, DLQ, heartbeat, parked-transition and claim-conflict alarms on an
    ops topic, with several accounts a per-account failure alarm too; one dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        metrics: AuditorMetrics,
        timeout: Duration,
        dead_letter_queue: sqs.IQueue,
        key: kms.IKey,
        ops_emails: Sequence[str],
        alarm_topic: sns.ITopic | None = None,
        schedule_rate_minutes: int,
        heartbeat_periods: int,
        account_failure_periods: int | None = None,
        state_machine: sfn.IStateMachine | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.metrics = metrics
        # An existing topic of the caller's, or a topic of its own encrypted with the notification key.
        self.ops_topic: sns.ITopic = alarm_topic or sns.Topic(
            self, "OpsTopic", display_name="job-auditor alarms", master_key=key, enforce_ssl=True
        )
        for email in ops_emails:
            self.ops_topic.add_subscription(subscriptions.EmailSubscription(email))

        rate = Duration.minutes(schedule_rate_minutes)
        five_minutes = Duration.minutes(5)
        heartbeat_minutes = schedule_rate_minutes * heartbeat_periods
        topic = self.ops_topic
        self.alarms: dict[str, cloudwatch.Alarm] = {
            "Errors": alarm(
                self,
                "ErrorsAlarm",
                function.metric_errors(period=five_minutes, statistic="Sum"),
                description="The auditor function failed (an uncaught error or a timeout).",
                topic=topic,
            ),
            "Throttles": alarm(
                self,
                "ThrottlesAlarm",
                function.metric_throttles(period=five_minutes, statistic="Sum"),
                description="An invocation was throttled: a run was still going when the next began.",
                topic=topic,
            ),
            "Duration": alarm(
                self,
                "DurationAlarm",
                function.metric_duration(period=five_minutes, statistic="Maximum"),
                description="A run took more than 80% of the function timeout.",
                threshold=timeout.to_milliseconds() * DURATION_ALARM_FRACTION,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                topic=topic,
            ),
            "DeadLetters": alarm(
                self,
                "DeadLettersAlarm",
                queue_depth_metric(dead_letter_queue),
                description="The scheduler could not invoke the function; see the dead-letter queue.",
                topic=topic,
            ),
            # One period spanning N schedule periods: no successful run in it (or no data) alarms.
            "Heartbeat": alarm(
                self,
                "HeartbeatAlarm",
                metrics.metric("RunSucceeded", period=Duration.minutes(heartbeat_minutes)),
                description=(
                    f"No successful auditor run in {heartbeat_periods} schedule periods "
                    f"({heartbeat_minutes} minutes)."
                ),
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                missing_data=cloudwatch.TreatMissingData.BREACHING,
                topic=topic,
            ),
            # Each parked transition waits for an operator (kept in the state table under pk=PARKED).
            "Parked": alarm(
                self,
                "ParkedTransitionsAlarm",
                metrics.metric("ParkedTransitions", period=five_minutes),
                description=(
                    "A transition was refused by a channel MAX_PUBLISH_ATTEMPTS times and parked; "
                    "it is in the state table under pk=PARKED."
                ),
                topic=topic,
            ),
            "ClaimConflicts": alarm(
                self,
                "ClaimConflictsAlarm",
                metrics.metric("ClaimConflicts", period=Duration.hours(1)),
                description=(
                    f"{CLAIM_CONFLICTS_PER_HOUR} or more claim conflicts in an hour: a transition the "
                    "auditor keeps failing to claim (see the 'claim condition failed' log lines)."
                ),
                threshold=CLAIM_CONFLICTS_PER_HOUR,
                topic=topic,
            ),
        }
        if account_failure_periods is not None:
            self.alarms["AccountFailures"] = self._account_failures_alarm(rate, account_failure_periods)

        if state_machine is not None:
            # auditMode=stepfunctions: the heartbeat reads RunSucceeded, which Summarize emits; a run
            # that fails or times out before Summarize shows here.
            self.alarms["ExecutionsFailed"] = alarm(
                self,
                "ExecutionsFailedAlarm",
                state_machine.metric_failed(period=five_minutes, statistic="Sum"),
                description="An audit state machine execution failed (Plan, Summarize or the map run).",
                topic=topic,
            )
            self.alarms["ExecutionsTimedOut"] = alarm(
                self,
                "ExecutionsTimedOutAlarm",
                state_machine.metric_timed_out(period=five_minutes, statistic="Sum"),
                description="An audit state machine execution timed out.",
                topic=topic,
            )

        self.dashboard = self._dashboard(function, timeout, rate)

    def _account_failures_alarm(self, rate: Duration, periods: int) -> cloudwatch.Alarm:
        """One alarm for every account: a Metrics Insights query grouped by account, so each account is
        a contributor of its own and fires after `periods` schedule periods with failures in a row
        (CloudWatch names the accounts in ALARM in the state reason). An account without failures
        emits nothing: missing data is fine."""
        return alarm(
            self,
            "AccountFailuresAlarm",
            cloudwatch.MathExpression(
                expression=self.metrics.account_failures_query(),
                using_metrics={},
                period=rate,
                label="Failures by account",
            ),
            description=(
                f"An account had failed sources in {periods} runs in a row (schedule periods): its member "
                "role is missing or denies a call, or its APIs fail; the state reason names the accounts."
            ),
            evaluation_periods=periods,
            topic=self.ops_topic,
        )

    def _dashboard(
        self, function: lambda_.IFunction, timeout: Duration, rate: Duration
    ) -> cloudwatch.Dashboard:
        period = Duration.minutes(max(5, int(rate.to_minutes())))
        search = (
            f"{{{self.metrics.namespace},JobKind,Status,service}} "
            f'MetricName="TransitionsByStatus" service="{self.metrics.service}"'
        )
        by_status = cloudwatch.MathExpression(
            expression=f"SEARCH('{search}', 'Sum', {int(period.to_seconds())})",
            using_metrics={},
            period=period,
        )
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(1))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Runs",
                left=[
                    self.metrics.metric("RunSucceeded", period=period),
                    self.metrics.metric("RunPartialFailure", period=period),
                    function.metric_errors(period=period, statistic="Sum"),
                    function.metric_throttles(period=period, statistic="Sum"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Duration",
                left=[
                    function.metric_duration(period=period, statistic="Average"),
                    function.metric_duration(period=period, statistic="Maximum"),
                ],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=timeout.to_milliseconds() * DURATION_ALARM_FRACTION, label="80% of timeout"
                    )
                ],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Transitions by job kind and status", left=[by_status], stacked=True, width=12
            ),
            cloudwatch.GraphWidget(
                title="Transitions, jobs listed, unknown statuses",
                left=[
                    self.metrics.metric("Transitions", period=period),
                    self.metrics.metric("JobsListed", period=period),
                    self.metrics.metric("UnknownStatuses", period=period),
                ],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API calls and source failures",
                left=[self.metrics.metric("ApiCalls", period=period)],
                right=[self.metrics.metric("SourceFailures", period=period)],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Jobs in flight",
                left=[self.metrics.metric("JobsInFlight", period=period, statistic="Maximum")],
                width=12,
            ),
        )
        if "AccountFailures" in self.alarms:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="Failures by account",
                    left=[
                        cloudwatch.MathExpression(
                            expression=self.metrics.account_failures_query(),
                            using_metrics={},
                            period=period,
                        )
                    ],
                    width=24,
                )
            )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24)
        )
        return dashboard
