"""Alarms routed to an ops topic, and a dashboard of the auditor's runs and findings."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.auditor_function import METRICS_NAMESPACE, SERVICE_NAME

DURATION_ALARM_FRACTION = 0.8
_SERVICE = {"service": SERVICE_NAME}


def auditor_metric(name: str, *, period: Duration, statistic: str = "Sum") -> cloudwatch.Metric:
    """A metric the Lambda emits with Powertools (namespace JobAuditor, dimension service)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map=_SERVICE,
        statistic=statistic,
        period=period,
    )


class Monitoring(Construct):
    """Error, throttle, duration, DLQ and heartbeat alarms on an ops topic; one dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        timeout: Duration,
        dead_letter_queue: sqs.IQueue,
        key: kms.IKey,
        ops_emails: Sequence[str],
        schedule_rate_minutes: int,
        heartbeat_periods: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.ops_topic = sns.Topic(
            self, "OpsTopic", display_name="job-auditor alarms", master_key=key, enforce_ssl=True
        )
        for email in ops_emails:
            self.ops_topic.add_subscription(subscriptions.EmailSubscription(email))

        rate = Duration.minutes(schedule_rate_minutes)
        five_minutes = Duration.minutes(5)
        self.alarms: dict[str, cloudwatch.Alarm] = {
            "Errors": function.metric_errors(period=five_minutes, statistic="Sum").create_alarm(
                self,
                "ErrorsAlarm",
                alarm_description="The auditor function failed (an uncaught error or a timeout).",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "Throttles": function.metric_throttles(period=five_minutes, statistic="Sum").create_alarm(
                self,
                "ThrottlesAlarm",
                alarm_description="An invocation was throttled: a run was still going when the next began.",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "Duration": function.metric_duration(period=five_minutes, statistic="Maximum").create_alarm(
                self,
                "DurationAlarm",
                alarm_description="A run took more than 80% of the function timeout.",
                threshold=timeout.to_milliseconds() * DURATION_ALARM_FRACTION,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            "DeadLetters": dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=five_minutes, statistic="Maximum"
            ).create_alarm(
                self,
                "DeadLettersAlarm",
                alarm_description="The scheduler could not invoke the function; see the dead-letter queue.",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            # One period spanning N schedule periods: no successful run in it (or no data) alarms.
            "Heartbeat": auditor_metric(
                "RunSucceeded", period=Duration.minutes(schedule_rate_minutes * heartbeat_periods)
            ).create_alarm(
                self,
                "HeartbeatAlarm",
                alarm_description=(
                    f"No successful auditor run in {heartbeat_periods} schedule periods "
                    f"({schedule_rate_minutes * heartbeat_periods} minutes)."
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            ),
        }
        action = cw_actions.SnsAction(self.ops_topic)
        for alarm in self.alarms.values():
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)

        self.dashboard = self._dashboard(function, timeout, rate)

    def _dashboard(
        self, function: lambda_.IFunction, timeout: Duration, rate: Duration
    ) -> cloudwatch.Dashboard:
        period = Duration.minutes(max(5, int(rate.to_minutes())))
        search = (
            f"{{{METRICS_NAMESPACE},JobKind,Status,service}} "
            f'MetricName="TransitionsByStatus" service="{SERVICE_NAME}"'
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
                    auditor_metric("RunSucceeded", period=period),
                    auditor_metric("RunPartialFailure", period=period),
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
                    auditor_metric("Transitions", period=period),
                    auditor_metric("JobsListed", period=period),
                    auditor_metric("UnknownStatuses", period=period),
                ],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API calls and source failures",
                left=[auditor_metric("ApiCalls", period=period)],
                right=[auditor_metric("SourceFailures", period=period)],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Jobs in flight",
                left=[auditor_metric("JobsInFlight", period=period, statistic="Maximum")],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24)
        )
        return dashboard
