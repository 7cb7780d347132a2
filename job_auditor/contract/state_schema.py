"""Key schema of the state table: shared by the DynamoDB adapter, the CDK construct
(infra/state_table.py) and the tests that create the table in moto.

Item layout (one table, generic keys):
- job:        pk="SRC#<source>"  sk="JOB#<creation time>#<job id>"
              + inflight index keys while the job is followed (not in a terminal status, not gone), or
                lost by its API until a sweep lets it go (auditor.domain.jobs.JobState.indexed)
              + pending* attributes and pending index keys while a claimed transition is unconfirmed
- checkpoint: pk="SRC#<source>"  sk="CHECKPOINT"  what an earlier version wrote per source (and as a
              discovered scope's mark); still read where a source's audit record has no checkpoint,
              never written: the next record write moves it in
- sweep:      pk="SRC#<source>"  sk="SWEEP"  the latest sweep attempt: started, running / stopped (and the
              listing token to resume at) / failed (and how many in a row), so a sweep that dies or fails
              backs off instead of being every run
- history:    pk="SRC#<source>"  sk="HIST#<observed time>#<event id>"  (+ expiresAt TTL; the published
              detail, and publishedTransition: the transition encoded as a claim holds it, which
              `job-auditor replay` re-publishes)
- parked:     pk="PARKED"        sk="<source>#<event id>"
- last audit: pk="AUDIT"         sk="<source>"  how the latest run's audit of the source ended (start and
              end time, ok or failed with the error, transitions, stopped early), its checkpoint
              (lastRunStartedAt, lastReconciledAt), its first attempt (firstAttemptedAt, kept from the
              first write on), its last turn (turnAt: the latest run the time budget did not cut
              short), and, once an orphan is wound down, retiredAt/retiredReason: one UpdateItem per
              source and run, in one partition so the planner reads every source with one query (and
              `job-auditor status` lists them)
- scope:      pk="AUDIT"         sk="<account/region/kind>"  recordType="scope": a discovered scope's
              first attempt (firstAttemptedAt) and when its knowledge bases were first enumerated
              (enumeratedAt: a knowledge base found later is new, not a baseline)
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    # Type stubs (requirements-dev.txt): for mypy only, never imported at run time.
    from mypy_boto3_dynamodb.type_defs import CreateTableInputTypeDef

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expiresAt"

# The keys' fixed parts, as the layout above has them: the store, its codec, the reader and the CLI
# take them from here.
SOURCE_PREFIX = "SRC#"
JOB_PREFIX = "JOB#"
HISTORY_PREFIX = "HIST#"
CHECKPOINT_SK = "CHECKPOINT"
SWEEP_SK = "SWEEP"
# Parked transitions of every source share one partition, so operators find them with one query.
PARKED_PK = "PARKED"
# So do the sources' last-audit records: `job-auditor status` lists every audited source with one query.
AUDIT_PK = "AUDIT"
# Between a sort key's parts (time, job or event id).
KEY_SEPARATOR = "#"
# Sorts after every character of a timestamp or an id: the open upper end of a key range.
KEY_RANGE_END = "~"


def source_partition(source_key: str) -> str:
    """The partition key of a source's items (jobs, checkpoint, history), from its key."""
    return f"{SOURCE_PREFIX}{source_key}"


class Index(NamedTuple):
    name: str
    partition_key: str
    sort_key: str


# Sparse: only jobs not yet in a terminal status carry these keys (oldest first by creation time).
INFLIGHT = Index("inflight", "inflightSource", "createdAt")
# Sparse: only jobs with a claimed, not yet confirmed transition carry these keys (by lease expiry).
PENDING = Index("pending", "pendingSource", "pendingLeaseUntil")
INDEXES = (INFLIGHT, PENDING)


def table_definition(table_name: str) -> "CreateTableInputTypeDef":
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


# Exactly the DynamoDB calls the state store makes (auditor/adapters/state_store.py): conditional
# PutItem claims, UpdateItem leases, BatchWriteItem puts, GetItem and Query reads, BatchGetItem of the
# audit records a Query missed, DeleteItem of a parked item once re-driven. The auditor's role (infra)
# and `run --once`'s operator policy (cli) both grant these.
STATE_STORE_ACTIONS: tuple[str, ...] = (
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
