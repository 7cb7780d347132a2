"""Alarms on the ops topic, and the dashboard."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synth


def _alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        name: synth.resources("AWS::CloudWatch::Alarm")[synth.logical_id(alarm)]["Properties"]
        for name, alarm in synth.stack.job_auditor.monitoring.alarms.items()
    }


def test_seven_alarms_each_notify_the_ops_topic_on_alarm_and_ok(default: Synth) -> None:
    ops = {"Ref": default.logical_id(default.stack.job_auditor.monitoring.ops_topic)}
    alarms = _alarms(default)
    expected = {"Errors", "Throttles", "Duration", "DeadLetters", "Heartbeat", "Parked", "ClaimConflicts"}
    assert set(alarms) == expected
    default.template.resource_count_is("AWS::CloudWatch::Alarm", 7)
    for props in alarms.values():
        assert props["AlarmActions"] == [ops]
        assert props["OKActions"] == [ops]


def test_function_alarms(default: Synth) -> None:
    fn = {
        "Name": "FunctionName",
        "Value": {"Ref": default.logical_id(default.stack.job_auditor.auditor.function)},
    }
    alarms = _alarms(default)
    expected = {
        "Errors": ("Errors", "Sum", 1, "GreaterThanOrEqualToThreshold"),
        "Throttles": ("Throttles", "Sum", 1, "GreaterThanOrEqualToThreshold"),
        "Duration": ("Duration", "Maximum", 120_000 * 0.8, "GreaterThanThreshold"),
    }
    for name, (metric, statistic, threshold, operator) in expected.items():
        props = alarms[name]
        assert (props["Namespace"], props["MetricName"], props["Dimensions"]) == ("AWS/Lambda", metric, [fn])
        assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == (
            statistic,
            threshold,
            operator,
        )
        assert props["TreatMissingData"] == "notBreaching"


def test_duration_alarm_follows_the_timeout(full: Synth) -> None:
    assert _alarms(full)["Duration"]["Threshold"] == 300_000 * 0.8


def test_dead_letter_queue_depth_alarm(default: Synth) -> None:
    props = _alarms(default)["DeadLetters"]
    dlq = default.logical_id(default.stack.job_auditor.schedule.dead_letter_queue)
    assert props["Namespace"] == "AWS/SQS"
    assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}]
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def _service(synth: Synth) -> str:
    """The service dimension the auditor function writes its metrics with (its Powertools variable)."""
    function = synth.resources("AWS::Lambda::Function")[synth.logical_id(synth.stack.job_auditor.function)]
    return str(function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"])


def test_heartbeat_alarm_breaches_without_a_successful_run_in_n_periods(default: Synth, full: Synth) -> None:
    # app.py's stack keeps the service it always had; another stack's copy has its own
    assert (_service(default), _service(full)) == ("job-auditor", "job-auditor-full")
    for synth, period_seconds in ((default, 3 * 5 * 60), (full, 4 * 10 * 60)):
        props = _alarms(synth)["Heartbeat"]
        assert props["Namespace"] == "JobAuditor"
        assert props["MetricName"] == "RunSucceeded"
        assert props["Dimensions"] == [{"Name": "service", "Value": _service(synth)}]
        assert props["Statistic"] == "Sum"
        assert props["Period"] == period_seconds
        assert props["EvaluationPeriods"] == 1
        assert (props["Threshold"], props["ComparisonOperator"]) == (1, "LessThanThreshold")
        assert props["TreatMissingData"] == "breaching"


def test_dashboard_shows_runs_duration_transitions_api_calls_and_jobs_in_flight(default: Synth) -> None:
    _, dashboard = default.only("AWS::CloudWatch::Dashboard")
    body_parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = "".join(part if isinstance(part, str) else json.dumps(part) for part in body_parts)
    for title in (
        "Runs",
        "Duration",
        "Transitions by job kind and status",
        "API calls and source failures",
        "Jobs in flight",
        "Alarms",
    ):
        assert f'"title":"{title}"' in body
    for metric in (
        "RunSucceeded",
        "RunPartialFailure",
        "ApiCalls",
        "JobsInFlight",
        "Transitions",
        "JobsListed",
    ):
        assert f'"{metric}"' in body
    assert 'SEARCH(\'{JobAuditor,JobKind,Status,service} MetricName=\\"TransitionsByStatus\\"' in body


def test_parked_transitions_and_repeated_claim_conflicts_alarm(default: Synth) -> None:
    alarms = _alarms(default)
    expected = {
        "Parked": ("ParkedTransitions", 300, 1),
        "ClaimConflicts": ("ClaimConflicts", 3600, 6),
    }
    for name, (metric, period, threshold) in expected.items():
        props = alarms[name]
        assert (props["Namespace"], props["MetricName"]) == ("JobAuditor", metric)
        assert props["Dimensions"] == [{"Name": "service", "Value": "job-auditor"}]
        assert (props["Statistic"], props["Period"], props["Threshold"]) == ("Sum", period, threshold)
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"
