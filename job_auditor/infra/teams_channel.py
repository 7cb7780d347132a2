"""Microsoft Teams through Amazon Q Developer in chat applications (formerly AWS Chatbot).

The channel receives the chat topic's custom notifications: the same ones, filtered the same way, as
the Slack channel. Configured like Slack's: the team, the channel and the Microsoft Entra tenant ids.
The Teams tenant must be authorized once in the Amazon Q Developer in chat applications console
before the stack can create the configuration (AWS does not offer that step through CloudFormation).
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

# The AWS-managed policy denying everything: the guardrail of every job-auditor chat channel.
DENY_ALL = "AWSDenyAll"


def relay_only_role(scope: Construct, construct_id: str, channel: str) -> iam.Role:
    """The role of a chat channel configuration that only relays notifications: no permissions at all
    (with `DENY_ALL` as its guardrail, nobody can run AWS commands from the chat through it)."""
    return iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
        description=f"job-auditor {channel} channel: relays notifications only",
    )


class MicrosoftTeamsChannel(Construct):
    """A Teams channel configuration that relays `topic`'s notifications and can do nothing else.

    `channel_id` is the channel id URL-encoded, as CloudFormation takes it (`19%3A...%40thread.tacv2`;
    `JobAuditorProps` encodes a `19:...@thread.tacv2` id copied from Teams)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        team_id: str,
        channel_id: str,
        tenant_id: str,
        configuration_name: str = f"job-auditor-teams-{Aws.STACK_NAME}",
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = relay_only_role(self, "Role", "Microsoft Teams")
        self.configuration = chatbot.CfnMicrosoftTeamsChannelConfiguration(
            self,
            "Configuration",
            configuration_name=configuration_name,
            team_id=team_id,
            teams_channel_id=channel_id,
            teams_tenant_id=tenant_id,
            iam_role_arn=self.role.role_arn,
            sns_topic_arns=[topic.topic_arn],
            guardrail_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(DENY_ALL).managed_policy_arn],
        )
