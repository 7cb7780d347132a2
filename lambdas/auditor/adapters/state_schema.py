"""Key schema of the state table: shared by the DynamoDB adapter, the tests that create the
table in moto, and checked against the CDK construct by an infra test.

Item layout (one table, generic keys):
- job:        pk="SRC#<source>"    sk="JOB#<creation time ISO>#<job id>"
              (+ the inflight GSI keys while the job is not in a terminal status)
- checkpoint: pk="SRC#<source>"    sk="CHECKPOINT"
- history:    pk="SRC#<source>"    sk="HIST#<observed ISO>#<event id>"      (+ expiresAt TTL)
- outbox:     pk="OUTBOX#<source>" sk="<event id>"  a claimed transition not yet confirmed as published
"""

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expiresAt"
INFLIGHT_INDEX = "inflight"
INFLIGHT_INDEX_PARTITION_KEY = "inflightSource"
INFLIGHT_INDEX_SORT_KEY = "createdAt"


def table_definition(table_name: str) -> dict[str, object]:
    """CreateTable arguments matching the CDK construct (used to build the table in moto)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
            {"AttributeName": INFLIGHT_INDEX_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": INFLIGHT_INDEX_SORT_KEY, "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": INFLIGHT_INDEX,
                "KeySchema": [
                    {"AttributeName": INFLIGHT_INDEX_PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": INFLIGHT_INDEX_SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
