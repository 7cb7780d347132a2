"""The state table matches the Lambda's schema and is durable."""

from __future__ import annotations

from aws_cdk.assertions import Match

from job_auditor.contract import state_schema
from tests.infra.conftest import Synth


def test_keys_index_and_ttl_match_the_lambdas_schema(default: Synth) -> None:
    _, table = default.only("AWS::DynamoDB::Table")
    props = table["Properties"]
    expected = state_schema.table_definition("ignored")
    assert props["KeySchema"] == expected["KeySchema"]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        expected["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    assert props["GlobalSecondaryIndexes"] == expected["GlobalSecondaryIndexes"]
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": state_schema.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_point_in_time_recovery_and_encryption(default: Synth) -> None:
    default.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            # SSEEnabled without a key: KMS with the AWS-managed key aws/dynamodb.
            "SSESpecification": {"SSEEnabled": True, "KMSMasterKeyId": Match.absent()},
        },
    )


def test_retained_by_default(default: Synth) -> None:
    default.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like({"DeletionProtectionEnabled": True}),
        },
    )


def test_test_stacks_can_be_destroyed(bedrock_only: Synth) -> None:
    _, table = bedrock_only.only("AWS::DynamoDB::Table")
    assert table["DeletionPolicy"] == "Delete"
    assert table["Properties"].get("DeletionProtectionEnabled") is not True
    for resource_type in ("AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::SQS::Queue"):
        for _, resource in bedrock_only.resources(resource_type).items():
            assert resource["DeletionPolicy"] == "Delete", resource_type
