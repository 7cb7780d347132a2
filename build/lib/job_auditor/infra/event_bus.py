"""The custom EventBridge bus that carries job transitions, with an archive for replays."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from constructs import Construct


class TransitionBus(Construct):
    """A custom bus plus an archive of every event the auditor puts on it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, event_source: str, archive_retention_days: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", description="job-auditor: status transitions of polled jobs")
        self.archive = self.bus.archive(
            "Archive",
            description="job-auditor transitions, kept for replay",
            event_pattern=events.EventPattern(source=[event_source], account=[Aws.ACCOUNT_ID]),
            # 0 keeps archived events indefinitely.
            retention=Duration.days(archive_retention_days) if archive_retention_days else None,
        )
        # aws-cdk-lib renders an unset archive key as KmsKeyIdentifier "" (not a key); leave it out so
        # EventBridge uses its AWS-owned key.
        cfn_archive = self.archive.node.default_child
        if isinstance(cfn_archive, events.CfnArchive):
            cfn_archive.add_property_deletion_override("KmsKeyIdentifier")
