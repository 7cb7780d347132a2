"""The harness's speed-ups (tests/speedups.py) keep moto's answers: a Query reads its partition's items
in sort-key order either way, pages and reverses as DynamoDB does, and an index Query finds the same
items; an SQS queue still returns a message within its retention period and not one past it, and counts its
visible, in-flight and delayed messages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import time_machine

from job_auditor.contract.state_schema import INFLIGHT, table_definition
from simulator.world import MotoServer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

TABLE = "speedups"


@pytest.fixture
def dynamodb(moto_server: MotoServer) -> Iterator[DynamoDBClient]:
    moto_server.reset()
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=moto_server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_table(**table_definition(TABLE))
    # Three partitions of five items, put out of order; every other item in the in-flight index.
    for n in (3, 0, 4, 1, 2):
        for pk in ("SRC#b", "SRC#a", "SRC#c"):
            item = {"pk": {"S": pk}, "sk": {"S": f"JOB#{n}"}}
            if n % 2 == 0:
                item[INFLIGHT.partition_key] = {"S": pk}
                item[INFLIGHT.sort_key] = {"S": f"2026-11-0{5 - n}"}
            client.put_item(TableName=TABLE, Item=item)
    yield client


@pytest.fixture
def sqs(moto_server: MotoServer) -> SQSClient:
    moto_server.reset()
    client: SQSClient = boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=moto_server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client


def _keys(page: Any) -> list[str]:
    return [f"{i['pk']['S']}/{i['sk']['S']}" for i in page["Items"]]


def test_a_query_reads_its_partition_in_order_forwards_backwards_and_by_pages(
    dynamodb: DynamoDBClient,
) -> None:
    # Given three partitions / When one is queried
    partition: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "SRC#b"}},
    }
    forwards = dynamodb.query(**partition)
    backwards = dynamodb.query(**partition, ScanIndexForward=False)
    paged: list[str] = []
    start: dict[str, Any] = {}
    while True:
        page = dynamodb.query(**partition, Limit=2, **start)
        paged += _keys(page)
        if "LastEvaluatedKey" not in page:
            break
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    ranged = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :job) AND sk > :after",
        ExpressionAttributeValues={":pk": {"S": "SRC#b"}, ":job": {"S": "JOB#"}, ":after": {"S": "JOB#2"}},
    )
    # Then it holds that partition's items only, by sort key, in every form
    expected = [f"SRC#b/JOB#{n}" for n in range(5)]
    assert _keys(forwards) == expected
    assert _keys(backwards) == expected[::-1]
    assert paged == expected
    assert _keys(ranged) == expected[3:]


def test_an_index_query_finds_the_indexed_items_by_the_index_sort_key(dynamodb: DynamoDBClient) -> None:
    # Given items in the sparse in-flight index / When it is queried for one source
    page = dynamodb.query(
        TableName=TABLE,
        IndexName=INFLIGHT.name,
        KeyConditionExpression=f"{INFLIGHT.partition_key} = :source",
        ExpressionAttributeValues={":source": {"S": "SRC#a"}},
    )
    # Then the indexed items of that source only, oldest first (JOB#4 was created on the 1st)
    assert _keys(page) == ["SRC#a/JOB#4", "SRC#a/JOB#2", "SRC#a/JOB#0"]
    everything = dynamodb.scan(TableName=TABLE)["Items"]
    assert len(everything) == 15


def test_an_sqs_queue_returns_a_message_within_its_retention_period_and_not_one_past_it(
    sqs: SQSClient,
) -> None:
    # Given two queues retaining messages for a minute, one with a message sent two minutes ago, the
    # other with one sent now
    old, new = (
        sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        for name in ("old", "new")
    )
    with time_machine.travel(timedelta(minutes=-2), tick=True):
        sqs.send_message(QueueUrl=old, MessageBody="expired")
    sqs.send_message(QueueUrl=new, MessageBody="fresh")
    # When each is received from / Then only the message within the period comes back
    assert "Messages" not in sqs.receive_message(QueueUrl=old, MaxNumberOfMessages=10)
    got = sqs.receive_message(QueueUrl=new, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["fresh"]


def test_an_sqs_queue_counts_its_visible_in_flight_and_delayed_messages(sqs: SQSClient) -> None:
    # Given three messages sent, one of them delayed a minute, and one of the others received
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    sqs.send_message(QueueUrl=url, MessageBody="two")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    (received,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    # When the queue's counts are read
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # Then one is visible, one in flight, one delayed
    assert received["Body"] in ("one", "two")
    assert counts["ApproximateNumberOfMessages"] == "1"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
