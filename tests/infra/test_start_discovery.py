"""discovery=cloudtrail: the rule on the default bus, the encrypted TLS-only queue with its dead-letter
queue, the auditor's least-privilege access to it and its variable; listing mode has none of it."""

from __future__ import annotations

from typing import Any

import pytest

from job_auditor import stack_outputs
from job_auditor.contract.discovery import START_QUEUE_URL
from job_auditor.infra.config import ConfigError, load_config
from tests.infra.conftest import Synth


def _rule(synth: Synth) -> dict[str, Any]:
    _, rule = synth.only("AWS::Events::Rule")
    return dict(rule["Properties"])


def test_a_rule_on_the_default_bus_matches_the_announced_kinds_start_calls(cloudtrail: Synth) -> None:
    rule = _rule(cloudtrail)
    # No EventBusName: the account's default bus, where CloudTrail delivers API calls.
    assert "EventBusName" not in rule
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {
        "source": ["aws.qconnect", "aws.wisdom"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["qconnect.amazonaws.com", "wisdom.amazonaws.com"],
            "eventName": ["StartImportJob"],
            "errorCode": [{"exists": False}],
        },
    }
    stack = cloudtrail.stack.job_auditor.start_discovery
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [cloudtrail.logical_id(stack.queue), "Arn"]}
    assert target["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": [cloudtrail.logical_id(stack.dead_letter_queue), "Arn"]}
    }


def test_the_queue_is_encrypted_tls_only_with_a_dead_letter_queue(cloudtrail: Synth) -> None:
    stack = cloudtrail.stack.job_auditor.start_discovery
    queues = cloudtrail.resources("AWS::SQS::Queue")
    queue = queues[cloudtrail.logical_id(stack.queue)]["Properties"]
    dlq = cloudtrail.logical_id(stack.dead_letter_queue)
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
        "maxReceiveCount": 20,
    }
    assert queue["VisibilityTimeout"] == 120 + 30  # the function's timeout and a margin
    assert queue["MessageRetentionPeriod"] == 24 * 3600
    policies = cloudtrail.resources("AWS::SQS::QueuePolicy")
    for logical_id in (cloudtrail.logical_id(stack.queue), dlq):
        statements = [
            s
            for p in policies.values()
            if {"Ref": logical_id} in p["Properties"]["Queues"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )
        # EventBridge may send to it, for this rule only
        sends = [s for s in statements if s["Effect"] == "Allow"]
        assert sends and all(s["Principal"] == {"Service": "events.amazonaws.com"} for s in sends)
        for send in sends:
            actions = send["Action"] if isinstance(send["Action"], list) else [send["Action"]]
            assert "sqs:SendMessage" in actions and not any(a.endswith("*") for a in actions)
            assert "aws:SourceArn" in send["Condition"]["ArnEquals"]


def test_the_auditor_may_receive_and_delete_and_knows_the_queue(cloudtrail: Synth) -> None:
    stack = cloudtrail.stack.job_auditor
    queue = cloudtrail.logical_id(stack.start_discovery.queue)
    statements = [
        s
        for p in cloudtrail.resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if {"Fn::GetAtt": [queue, "Arn"]} == s.get("Resource")
    ]
    assert [sorted(s["Action"]) for s in statements] == [["sqs:DeleteMessage", "sqs:ReceiveMessage"]]
    function = cloudtrail.resources("AWS::Lambda::Function")[cloudtrail.logical_id(stack.auditor.function)]
    assert function["Properties"]["Environment"]["Variables"][START_QUEUE_URL] == {"Ref": queue}


def test_listing_mode_has_no_rule_queue_or_variable(default: Synth) -> None:
    assert default.resources("AWS::Events::Rule") == {}
    assert default.stack.job_auditor.start_discovery is None
    function = default.resources("AWS::Lambda::Function")[
        default.logical_id(default.stack.job_auditor.auditor.function)
    ]
    assert START_QUEUE_URL not in function["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"discovery": "cloudtrail", "auditMode": "stepfunctions"},
            "discovery: cloudtrail needs auditMode=direct",
        ),
        (
            {"discovery": "cloudtrail", "jobKinds": "bedrock-model-import"},
            "discovery: cloudtrail needs a job kind",
        ),
        ({"discovery": "events"}, "discovery: "),
    ],
)
def test_bad_discovery_settings_fail_synth_with_a_message_naming_the_key(
    context: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(context)


def test_the_mode_is_read_in_any_case() -> None:
    assert load_config({"discovery": " CloudTrail "}).discovery == "cloudtrail"


def test_the_start_queue_is_a_stack_output_only_with_cloudtrail_discovery(
    cloudtrail: Synth, default: Synth
) -> None:
    # What `job-auditor iam-policy` grants `run --once` to drain, as the auditor does
    queue = cloudtrail.logical_id(cloudtrail.stack.job_auditor.start_discovery.queue)
    assert cloudtrail.json["Outputs"][stack_outputs.START_QUEUE_ARN]["Value"] == {
        "Fn::GetAtt": [queue, "Arn"]
    }
    assert stack_outputs.START_QUEUE_ARN not in default.json["Outputs"]
