"""The custom EventBridge bus that carries job transitions, with an archive for replays."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from constructs import Construct


class TransitionBus(Construct):
    """A custom bus (or `bus`, an existing one in this account) plus an archive of every event the
    auditor puts on it (only those: the archive's pattern is the auditor's source and account)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_source: str,
        archive_retention_days: int,
        bus: events.IEventBus | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # The archive sits where EventBus.archive() puts it on a bus of its own (its logical id unchanged
        # since the construct existed), beside the bus reference otherwise.
        archive_scope: Construct = self
        if bus is None:
            bus = archive_scope = events.EventBus(
                self, "Bus", description="job-auditor: status transitions of polled jobs"
            )
        self.bus = bus
        self.archive = events.Archive(
            archive_scope,
            "Archive",
            source_event_bus=self.bus,
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
