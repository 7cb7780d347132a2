"""Notifications: the KMS key, the transition topic with its email subscriptions, Slack and Teams.

Message formats are the Lambda's (auditor.domain.notifications): one publish per transition with a
rendering per protocol. Amazon Q Developer in chat applications gets its own topic of custom
notifications, relayed to the Slack channel, the Microsoft Teams channel (teams_channel.py), or both.
A webhook subscriber is added with `topic.add_subscription(...)` and the same `filter_policy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from job_auditor.contract.environment import OR_KEY
from job_auditor.infra.teams_channel import DENY_ALL, MicrosoftTeamsChannel, relay_only_role


class NotificationKey(Construct):
    """Customer-managed key for the SNS topics (transitions and ops alarms).

    CloudWatch alarms publish to the ops topic, so the key lets the CloudWatch service principal use
    it, limited to this account's alarms.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="job-auditor: encrypts the notification and ops SNS topics",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )


def subscription_filter(
    policy: Mapping[str, Sequence[Any]] | None,
) -> dict[str, sns.SubscriptionFilter] | None:
    """The context's notification filter (JobAuditorProps.notification_filter) as CDK filter policy.

    CDK renders each key as its filter's conditions, so "$or" (a list of whole policies, which
    SubscriptionFilter's helpers cannot build) is given as those conditions as they are."""
    if not policy:
        return None
    out: dict[str, sns.SubscriptionFilter] = {}
    for name, rules in policy.items():
        if name == OR_KEY:
            out[name] = sns.SubscriptionFilter(conditions=[dict(alternative) for alternative in rules])
            continue
        exact = [r for r in rules if isinstance(r, str)]
        prefixes = [str(r["prefix"]) for r in rules if not isinstance(r, str)]
        out[name] = sns.SubscriptionFilter.string_filter(
            allowlist=exact or None, match_prefixes=prefixes or None
        )
    return out


class Notifications(Construct):
    """The topic every transition is published to, its email subscribers, and the chat channels
    (Slack: workspace and channel ids; Microsoft Teams: team, channel and tenant ids)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        emails: Sequence[str],
        notification_filter: Mapping[str, Sequence[Any]] | None,
        slack_workspace_id: str | None,
        slack_channel_id: str | None,
        teams_team_id: str | None = None,
        teams_channel_id: str | None = None,
        teams_tenant_id: str | None = None,
        slack_channel_name: str = f"job-auditor-{Aws.STACK_NAME}",
        teams_channel_name: str = f"job-auditor-teams-{Aws.STACK_NAME}",
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="job-auditor transitions",
            master_key=key,
            enforce_ssl=True,
        )
        # The Lambda sets message attributes (status, jobKind, jobName, ...) on every publish; the
        # context's notifyStatuses/notifyJobKinds/notifyNamePrefixes become each subscription's
        # filter policy (stuck alerts pass the status condition unless notifyStuckAlerts=false).
        # Without them, every transition is emailed.
        self.filter_policy = subscription_filter(notification_filter)
        filter_policy = self.filter_policy
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email, filter_policy=filter_policy))

        self.slack_channel: chatbot.SlackChannelConfiguration | None = None
        self.teams_channel: MicrosoftTeamsChannel | None = None
        self.chat_topic: sns.Topic | None = None
        if not (slack_workspace_id and slack_channel_id) and not (
            teams_team_id and teams_channel_id and teams_tenant_id
        ):
            return
        # Chatbot creates and owns its subscriptions, so they cannot carry a filter policy: the chat
        # channels get a topic of their own, to which the Lambda publishes only the custom
        # notifications that pass the same filter.
        self.chat_topic = sns.Topic(
            self,
            "ChatTopic",
            display_name="job-auditor chat notifications",
            master_key=key,
            enforce_ssl=True,
        )
        if slack_workspace_id and slack_channel_id:
            channel_role = relay_only_role(self, "SlackChannelRole", "Slack")
            self.slack_channel = chatbot.SlackChannelConfiguration(
                self,
                "SlackChannel",
                slack_channel_configuration_name=slack_channel_name,
                slack_workspace_id=slack_workspace_id,
                slack_channel_id=slack_channel_id,
                notification_topics=[self.chat_topic],
                role=channel_role,
                guardrail_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(DENY_ALL)],
            )
        if teams_team_id and teams_channel_id and teams_tenant_id:
            self.teams_channel = MicrosoftTeamsChannel(
                self,
                "TeamsChannel",
                topic=self.chat_topic,
                team_id=teams_team_id,
                channel_id=teams_channel_id,
                tenant_id=teams_tenant_id,
                configuration_name=teams_channel_name,
            )
