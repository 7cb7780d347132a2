"""The transition topic: encryption, TLS-only policy, email subscriptions and the Slack channel."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import Synth


def _topic(synth: Synth) -> tuple[str, dict[str, Any]]:
    topic_id = synth.logical_id(synth.stack.job_auditor.notifications.topic)
    return topic_id, synth.resources("AWS::SNS::Topic")[topic_id]


def test_topics_are_encrypted_with_the_rotating_customer_managed_key(default: Synth) -> None:
    key_id, key = default.only("AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    topics = default.resources("AWS::SNS::Topic")
    assert len(topics) == 2  # transitions and ops
    for topic in topics.values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_key_lets_cloudwatch_alarms_of_this_account_publish(default: Synth) -> None:
    _, key = default.only("AWS::KMS::Key")
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert {
        "Sid": "AllowCloudWatchAlarmsToPublish",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    } in statements


def test_every_topic_denies_requests_without_tls(default: Synth) -> None:
    topic_ids = set(default.resources("AWS::SNS::Topic"))
    covered = set()
    for policy in default.resources("AWS::SNS::TopicPolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        deny = [
            s
            for s in statements
            if s["Effect"] == "Deny"
            and s["Action"] == "sns:Publish"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            and s["Principal"] == "*"
        ]
        assert deny
        covered |= {t["Ref"] for t in policy["Properties"]["Topics"]}
    assert covered == topic_ids


def test_no_subscriptions_and_no_slack_without_context(default: Synth) -> None:
    default.template.resource_count_is("AWS::SNS::Subscription", 0)
    default.template.resource_count_is("AWS::Chatbot::SlackChannelConfiguration", 0)


def test_email_subscriptions_filter_on_the_notify_statuses(full: Synth) -> None:
    topic_id, _ = _topic(full)
    subscriptions = [
        s["Properties"]
        for s in full.resources("AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == {"Ref": topic_id}
    ]
    assert sorted(s["Endpoint"] for s in subscriptions) == ["a@example.com", "b@example.com"]
    for subscription in subscriptions:
        assert subscription["Protocol"] == "email"
        assert subscription["FilterPolicy"] == {
            "$or": [{"status": ["Completed", "Failed", "COMPLETE", "FAILED"]}, {"transition": ["stuck"]}],
            "jobName": [{"prefix": "prod-"}, {"prefix": "release-"}],
        }


def test_ops_emails_subscribe_to_the_ops_topic_without_a_filter(full: Synth) -> None:
    ops_id = full.logical_id(full.stack.job_auditor.monitoring.ops_topic)
    full.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "TopicArn": {"Ref": ops_id},
            "Protocol": "email",
            "Endpoint": "ops@example.com",
            "FilterPolicy": Match.absent(),
        },
    )


def test_slack_channel_relays_the_chat_topic_and_can_do_nothing_else(full: Synth) -> None:
    topic_id = full.logical_id(full.stack.job_auditor.notifications.chat_topic)
    _, channel = full.only("AWS::Chatbot::SlackChannelConfiguration")
    props = channel["Properties"]
    assert props["SlackWorkspaceId"] == "T0123ABCD"
    assert props["SlackChannelId"] == "C0123ABCD"
    # app.py's stack keeps the channel configuration's name it always had (a new one replaces it)
    assert props["ConfigurationName"] == {"Fn::Join": ["", ["job-auditor-", {"Ref": "AWS::StackName"}]]}
    assert props["SnsTopicArns"] == [{"Ref": topic_id}]
    assert props["GuardrailPolicies"] == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AWSDenyAll"]]}
    ]
    role_id = props["IamRoleArn"]["Fn::GetAtt"][0]
    role = full.resources("AWS::IAM::Role")[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "chatbot.amazonaws.com"
    }
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert not [
        p for p in full.resources("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    ]


def test_chatbot_gets_its_own_topic_and_the_lambda_applies_the_same_filter(full: Synth) -> None:
    # Chatbot owns its subscription (no filter policy possible): it subscribes the chat topic, to
    # which the Lambda publishes custom notifications that pass the notification filter.
    stack = full.stack
    chat = stack.job_auditor.notifications.chat_topic
    assert chat is not None
    chat_id = full.logical_id(chat)
    (channel,) = full.resources("AWS::Chatbot::SlackChannelConfiguration").values()
    assert channel["Properties"]["SnsTopicArns"] == [{"Ref": chat_id}]
    (function,) = [
        f
        for f in full.resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "job_auditor.auditor.handler.lambda_handler"
    ]
    env = function["Properties"]["Environment"]["Variables"]
    assert env["CHAT_TOPIC_ARN"] == {"Ref": chat_id}
    assert json.loads(env["NOTIFY_FILTER"]) == {
        "$or": [{"status": ["Completed", "Failed", "COMPLETE", "FAILED"]}, {"transition": ["stuck"]}],
        "jobName": [{"prefix": "prod-"}, {"prefix": "release-"}],
    }
    statements = [
        st
        for p in full.resources("AWS::IAM::Policy").values()
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any(
        st["Action"] == "sns:Publish"
        and {"Ref": chat_id} in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])
        for st in statements
    )
    (chat_resource,) = [r for k, r in full.resources("AWS::SNS::Topic").items() if k == chat_id]
    assert "KmsMasterKeyId" in chat_resource["Properties"]


def test_without_slack_there_is_no_chat_topic_and_no_filter(default: Synth) -> None:
    assert default.stack.job_auditor.notifications.chat_topic is None
    (function,) = [
        f
        for f in default.resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "job_auditor.auditor.handler.lambda_handler"
    ]
    env = function["Properties"]["Environment"]["Variables"]
    assert env["CHAT_TOPIC_ARN"] == ""
    assert env["NOTIFY_FILTER"] == ""
