"""The EventBridge Scheduler schedule and its dead-letter queue."""

from __future__ import annotations

from tests.infra.conftest import Synth


def test_schedule_invokes_the_function_at_the_configured_rate(default: Synth, full: Synth) -> None:
    _, schedule = default.only("AWS::Scheduler::Schedule")
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "rate(5 minutes)"
    assert props["State"] == "ENABLED"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    fn = default.logical_id(default.stack.job_auditor.auditor.function)
    assert props["Target"]["Arn"] == {"Fn::GetAtt": [fn, "Arn"]}
    _, full_schedule = full.only("AWS::Scheduler::Schedule")
    assert full_schedule["Properties"]["ScheduleExpression"] == "rate(10 minutes)"


def test_retry_policy_and_dead_letter_queue(default: Synth, full: Synth) -> None:
    _, schedule = default.only("AWS::Scheduler::Schedule")
    target = schedule["Properties"]["Target"]
    dlq = default.logical_id(default.stack.job_auditor.schedule.dead_letter_queue)
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 300}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}}
    _, full_schedule = full.only("AWS::Scheduler::Schedule")
    assert full_schedule["Properties"]["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"] == 600


def test_dead_letter_queue_is_encrypted_and_tls_only(default: Synth) -> None:
    _, queue = default.only("AWS::SQS::Queue")
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    _, policy = default.only("AWS::SQS::QueuePolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
