"""The Slack webhook forwarder: present only with slackWebhookSecretName; its function, subscription
(protocol lambda, the email filter policy), one-secret read access, dead-letter queue and alarm; cdk-nag
and cfn-lint clean."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Match
from cfnlint.api import lint

from job_auditor import stack_outputs
from job_auditor.contract.slack_forwarder import (
    IDEMPOTENCY_EXPIRY_ATTRIBUTE,
    IDEMPOTENCY_KEY_ATTRIBUTE,
    IDEMPOTENCY_TABLE_ENV,
)
from job_auditor.infra import nag
from tests.infra.conftest import FULL_CONTEXT, Synth, synth

SECRET_NAME = "job-auditor/slack-webhook"
SLACK_CONTEXT: dict[str, object] = FULL_CONTEXT | {
    "stackName": "JobAuditorSlackWebhook",
    "slackWebhookSecretName": SECRET_NAME,
}
HANDLER = "job_auditor.slack_forwarder.handler.lambda_handler"
FILTER = {
    "$or": [{"status": ["Completed", "Failed", "COMPLETE", "FAILED"]}, {"transition": ["stuck"]}],
    "jobName": [{"prefix": "prod-"}, {"prefix": "release-"}],
}


@pytest.fixture(scope="module")
def slack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    yield synth(SLACK_CONTEXT, tmp_path_factory.mktemp("cdk-slack-webhook"))


def _forwarder(s: Synth) -> tuple[str, dict[str, Any]]:
    found = [
        (k, f)
        for k, f in s.resources("AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == HANDLER
    ]
    assert len(found) == 1
    return found[0]


def _statements(s: Synth, role_id: str) -> list[dict[str, Any]]:
    return [
        st
        for p in s.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _secret_arn() -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":secretsmanager:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":secret:{SECRET_NAME}-??????",
            ],
        ]
    }


@pytest.mark.parametrize("variant", ["default", "full", "bedrock_only"])
def test_absent_without_a_secret_name(variant: str, request: pytest.FixtureRequest) -> None:
    s: Synth = request.getfixturevalue(variant)
    assert s.stack.job_auditor.slack_webhook is None
    handlers = [f["Properties"]["Handler"] for f in s.resources("AWS::Lambda::Function").values()]
    assert HANDLER not in handlers
    assert not [
        p for p in s.resources("AWS::SNS::Subscription").values() if p["Properties"]["Protocol"] == "lambda"
    ]
    assert "secretsmanager" not in json.dumps(s.json)


def test_function_runs_the_forwarder_from_the_shared_asset(slack: Synth) -> None:
    _, function = _forwarder(slack)
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["Timeout"] == 60
    (auditor,) = [
        f
        for f in slack.resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "job_auditor.auditor.handler.lambda_handler"
    ]
    # One asset for both functions, and the same Powertools layer parameter
    assert props["Code"] == auditor["Properties"]["Code"]
    assert props["Layers"] == auditor["Properties"]["Layers"]
    env = props["Environment"]["Variables"]
    table_id = slack.logical_id(slack.stack.job_auditor.slack_webhook.idempotency_table)
    assert env == {
        "WEBHOOK_SECRET_NAME": SECRET_NAME,
        IDEMPOTENCY_TABLE_ENV: {"Ref": table_id},
        # Its own service beside its JobAuditor's (job-auditor-slack-webhook, from the stack's name)
        "POWERTOOLS_SERVICE_NAME": "job-auditor-slack-webhook-slack",
        "POWERTOOLS_METRICS_NAMESPACE": "JobAuditor",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_no_webhook_url_anywhere_in_the_template(slack: Synth) -> None:
    text = json.dumps(slack.json)
    assert "hooks.slack.com" not in text
    assert "SecretString" not in text


def test_subscribed_to_the_transition_topic_with_the_email_filter_policy(slack: Synth) -> None:
    function_id, _ = _forwarder(slack)
    topic_id = slack.logical_id(slack.stack.job_auditor.notifications.topic)
    slack.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "lambda",
            "TopicArn": {"Ref": topic_id},
            "Endpoint": {"Fn::GetAtt": [function_id, "Arn"]},
            "FilterPolicy": FILTER,
        },
    )
    emails = [
        s["Properties"]
        for s in slack.resources("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email" and s["Properties"]["TopicArn"] == {"Ref": topic_id}
    ]
    assert emails and all(e["FilterPolicy"] == FILTER for e in emails)
    slack.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "sns.amazonaws.com",
            "SourceArn": {"Ref": topic_id},
        },
    )


def test_without_a_notification_filter_the_subscription_has_none(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Given the secret name only (no notify* keys) / Then every transition goes to Slack
    s = synth(
        {"stackName": "JobAuditorSlackNoFilter", "slackWebhookSecretName": SECRET_NAME},
        tmp_path_factory.mktemp("x"),
    )
    s.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "lambda", "FilterPolicy": Match.absent()}
    )


def test_role_reads_exactly_that_one_secret(slack: Synth) -> None:
    _, function = _forwarder(slack)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = _statements(slack, role_id)
    secret_statements = [st for st in statements if "secretsmanager" in json.dumps(st["Action"])]
    assert secret_statements == [
        {
            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            "Effect": "Allow",
            "Resource": _secret_arn(),
        }
    ]
    # Nothing else in the stack may read secrets
    others = [
        st
        for p in slack.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} not in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager" in json.dumps(st["Action"])
    ]
    assert others == []
    # And the forwarder can do nothing else beyond logs, its idempotency records, its DLQ and X-Ray
    actions = sorted(
        a for st in statements for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
    )
    assert actions == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "sqs:SendMessage",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    ]
    role = slack.resources("AWS::IAM::Role")[role_id]["Properties"]
    assert "ManagedPolicyArns" not in role


def test_failed_invocations_are_retried_then_dead_lettered_and_alarmed(slack: Synth) -> None:
    function_id, function = _forwarder(slack)
    dlq = slack.stack.job_auditor.slack_webhook.dead_letter_queue
    dlq_id = slack.logical_id(dlq)
    assert function["Properties"]["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    slack.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": function_id}, "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600},
    )
    queue = slack.resources("AWS::SQS::Queue")[dlq_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    ops_id = slack.logical_id(slack.stack.job_auditor.monitoring.ops_topic)
    slack.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}],
            "AlarmActions": [{"Ref": ops_id}],
            "Threshold": 1,
        },
    )
    assert "SlackWebhookDeadLetterQueueUrl" in slack.json["Outputs"]


def test_the_chat_topic_is_a_stack_output_only_where_there_is_one(slack: Synth, default: Synth) -> None:
    # What `job-auditor iam-policy` grants `replay --parked` and `run --once` publish on
    chat_id = slack.logical_id(slack.stack.job_auditor.notifications.chat_topic)
    assert slack.json["Outputs"][stack_outputs.CHAT_TOPIC_ARN]["Value"] == {"Ref": chat_id}
    assert stack_outputs.CHAT_TOPIC_ARN not in default.json["Outputs"]


def test_log_group_has_the_configured_retention(slack: Synth) -> None:
    log_group_id = slack.logical_id(slack.stack.job_auditor.slack_webhook.log_group)
    assert slack.resources("AWS::Logs::LogGroup")[log_group_id]["Properties"]["RetentionInDays"] == 90


def test_no_unacknowledged_nag_findings(slack: Synth) -> None:
    assert nag.unacknowledged_findings(slack.outdir) == []


def test_no_cfn_lint_errors(slack: Synth) -> None:
    template = (slack.outdir / slack.stack.template_file).read_text()
    matches = lint(template, regions=["us-east-1", "eu-west-1"])
    errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


# Issue 10, item 13: the forwarder's own idempotency table.


def test_idempotency_table_is_encrypted_recoverable_and_expires_its_records(slack: Synth) -> None:
    table_id = slack.logical_id(slack.stack.job_auditor.slack_webhook.idempotency_table)
    table = slack.resources("AWS::DynamoDB::Table")[table_id]
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": IDEMPOTENCY_KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": IDEMPOTENCY_EXPIRY_ATTRIBUTE,
        "Enabled": True,
    }
    # The context's removal policy (retain by default)
    assert table["DeletionPolicy"] == "Retain"


def test_idempotency_table_follows_removal_policy_destroy(tmp_path_factory: pytest.TempPathFactory) -> None:
    s = synth(
        {
            "stackName": "JobAuditorSlackDestroy",
            "slackWebhookSecretName": SECRET_NAME,
            "removalPolicy": "destroy",
        },
        tmp_path_factory.mktemp("slack-destroy"),
    )
    table_id = s.logical_id(s.stack.job_auditor.slack_webhook.idempotency_table)
    assert s.resources("AWS::DynamoDB::Table")[table_id]["DeletionPolicy"] == "Delete"


def test_forwarder_may_use_only_its_own_table_and_only_the_item_calls_powertools_makes(slack: Synth) -> None:
    _, function = _forwarder(slack)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    table_id = slack.logical_id(slack.stack.job_auditor.slack_webhook.idempotency_table)
    dynamodb = [st for st in _statements(slack, role_id) if "dynamodb" in json.dumps(st["Action"])]
    assert dynamodb == [
        {
            "Action": ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [table_id, "Arn"]},  # one resource: minimizePolicies writes no list
        }
    ]
    # And the auditor cannot touch the forwarder's table
    others = [
        st
        for p in slack.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} not in p["Properties"]["Roles"]
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        if table_id in json.dumps(st["Resource"])
    ]
    assert others == []
