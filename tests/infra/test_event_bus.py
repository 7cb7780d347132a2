"""The custom transition bus and its archive."""

from __future__ import annotations

from tests.infra.conftest import Synth


def test_custom_bus_with_an_archive_of_the_auditors_events(default: Synth) -> None:
    bus_id, _ = default.only("AWS::Events::EventBus")
    _, archive = default.only("AWS::Events::Archive")
    props = archive["Properties"]
    assert props["SourceArn"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    assert props["RetentionDays"] == 90
    assert props["EventPattern"] == {"source": ["job-auditor"], "account": [{"Ref": "AWS::AccountId"}]}


def test_archive_retention_zero_keeps_events_forever(full: Synth) -> None:
    _, archive = full.only("AWS::Events::Archive")
    # CloudFormation: 0 retains archived events indefinitely.
    assert archive["Properties"]["RetentionDays"] == 0
    assert "KmsKeyIdentifier" not in archive["Properties"]
