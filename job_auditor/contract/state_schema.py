"""Key schema of the state table: shared by the DynamoDB adapter, the CDK construct
(infra/state_table.py) and the tests that create the table in moto.

Item layout (one table, generic keys):
- job:        pk="SRC#<source>"  sk="JOB#<creation time>#<job id>"
              + inflight index keys while the job is not in a terminal status
              + pending* attributes and pending index keys while a claimed transition is unconfirmed
- checkpoint: pk="SRC#<source>"  sk="CHECKPOINT"
- history:    pk="SRC#<source>"  sk="HIST#<observed time>#<event id>"  (+ expiresAt TTL; the published
              detail, and publishedTransition: the transition encoded as a claim holds it, which
              `job-auditor replay` re-publishes)
- parked:     pk="PARKED"        sk="<source>#<event id>"
- last audit: pk="AUDIT"         sk="<source>"  how the latest run's audit of the source ended (start and
              end time, ok or failed with the error, transitions, stopped early): one PutItem per source
              and run, in one partition so `job-auditor status` finds every source with one query
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    # Type stubs (requirements-dev.txt): for mypy only, never imported at run time.
    from mypy_boto3_dynamodb.type_defs import CreateTableInputTypeDef

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expiresAt"


class Index(NamedTuple):
    name: str
    partition_key: str
    sort_key: str


# Sparse: only jobs not yet in a terminal status carry these keys (oldest first by creation time).
INFLIGHT = Index("inflight", "inflightSource", "createdAt")
# Sparse: only jobs with a claimed, not yet confirmed transition carry these keys (by lease expiry).
PENDING = Index("pending", "pendingSource", "pendingLeaseUntil")
INDEXES = (INFLIGHT, PENDING)


def table_definition(table_name: str) -> CreateTableInputTypeDef:
    """CreateTable arguments matching the CDK construct (used to build the table in moto)."""
    attributes = [PARTITION_KEY, SORT_KEY] + [key for index in INDEXES for key in (index[1], index[2])]
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in attributes],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in INDEXES
        ],
    }
