"""Read-only queries over the state table, for operators (the `job-auditor` CLI): the audited sources
with their last-audit records and checkpoints, jobs, claims, parked transitions and history.

The key layout and the items are the state store's (`state_schema`, `state_codec`); nothing here
writes. Every query goes through a boto3 paginator, and no query scans the table: sources are found in
the AUDIT partition, each source's items under its own partition key or in the sparse indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from job_auditor.auditor.adapters.state_codec import (
    RECORD_TYPE,
    SCOPE_RECORD,
    checkpoint_of,
    decode_transition,
    from_item,
    last_audit_of,
    timestamp,
    to_item,
)
from job_auditor.auditor.adapters.state_store import dynamodb_error
from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.jobs import JOB_NOT_FOUND
from job_auditor.auditor.ports import LastAudit
from job_auditor.contract.state_schema import (
    AUDIT_PK,
    CHECKPOINT_SK,
    HISTORY_PREFIX,
    INFLIGHT,
    JOB_PREFIX,
    KEY_RANGE_END,
    KEY_SEPARATOR,
    PARKED_PK,
    PARTITION_KEY,
    PENDING,
    SORT_KEY,
    SOURCE_PREFIX,
    source_partition,
)

if TYPE_CHECKING:
    # Type stubs (requirements-dev.txt): for mypy only, never imported at run time.
    from mypy_boto3_dynamodb import DynamoDBClient

_BATCH_GET_KEYS = 100
_R = TypeVar("_R")
_P = ParamSpec("_P")


@dataclass(frozen=True)
class SourceRecord:
    """An audited source as its last-audit item names it."""

    key: str
    account: str
    region: str
    job_kind: str
    scope_ids: tuple[str, ...]
    audit: LastAudit


def replayable(item: Mapping[str, Any]) -> Transition | None:
    """The transition a history item was published from; None for items written before history
    carried it (their detail is kept, but cannot be re-published exactly)."""
    text = item.get("publishedTransition")
    return decode_transition(text) if isinstance(text, str) and text else None


def followed(item: Mapping[str, Any]) -> bool:
    """Whether a plain job item is among the jobs in flight that runs follow: in the in-flight index and
    not lost (`JobState.lost`: held there for the sweeps' Gets); the item-side twin of `_followed`."""
    return INFLIGHT.partition_key in item and item.get("disappearedReason") != JOB_NOT_FOUND


def _followed(source_key: str) -> dict[str, Any]:
    """The query of a source's jobs in flight that runs follow: the in-flight index, without the lost
    jobs (`JobState.lost`) it holds for the sweeps' Gets until they are let go."""
    return {
        "IndexName": INFLIGHT.name,
        "KeyConditionExpression": "#src = :src",
        "FilterExpression": "NOT #reason = :lost",
        "ExpressionAttributeNames": {"#src": INFLIGHT.partition_key, "#reason": "disappearedReason"},
        "ExpressionAttributeValues": {":src": {"S": source_key}, ":lost": {"S": JOB_NOT_FOUND}},
    }


class StateReader:
    """Queries over one state table; errors come back as `SourceError` with the service's code."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def _call(self, name: str, operation: Callable[_P, _R], *args: _P.args, **params: _P.kwargs) -> _R:
        """`operation` (the API operation `name`, for the message) with its errors as SourceError."""
        try:
            return operation(*args, **params)
        except (ClientError, BotoCoreError) as exc:
            raise dynamodb_error(exc, f"{name} on {self._table}") from exc

    def _query(self, **params: Any) -> list[dict[str, Any]]:
        def query() -> list[dict[str, Any]]:
            pages = self._db.get_paginator("query").paginate(TableName=self._table, **params)
            return [from_item(item) for page in pages for item in page["Items"]]

        return self._call("Query", query)

    def _count(self, **params: Any) -> int:
        def count() -> int:
            pages = self._db.get_paginator("query").paginate(TableName=self._table, Select="COUNT", **params)
            return sum(page["Count"] for page in pages)

        return self._call("Query", count)

    # -- sources --------------------------------------------------------------------------------
    def sources(self) -> list[SourceRecord]:
        """Every source the auditor has audited since it records audits, by key."""
        items = self._query(
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": PARTITION_KEY},
            ExpressionAttributeValues={":pk": {"S": AUDIT_PK}},
        )
        return [
            SourceRecord(
                key=item["source"],
                account=item["account"],
                region=item["region"],
                job_kind=item["jobKind"],
                scope_ids=tuple(item.get("scopeIds") or ()),
                audit=last_audit_of(item),
            )
            for item in items
            # A discovered scope's record (its first attempt, its mark) and a source's record that
            # only says it was wound down name no audit.
            if item.get(RECORD_TYPE) != SCOPE_RECORD and "startedAt" in item
        ]

    def checkpoints(self, source_keys: Iterable[str]) -> dict[str, Checkpoint]:
        """Source key -> the checkpoint item an earlier version kept for it, for those that have one
        (the current version keeps a source's checkpoint in its audit record)."""
        keys = list(dict.fromkeys(source_keys))
        found: dict[str, Checkpoint] = {}
        for start in range(0, len(keys), _BATCH_GET_KEYS):
            pending: list[dict[str, Any]] = [
                to_item({PARTITION_KEY: source_partition(k), SORT_KEY: CHECKPOINT_SK})
                for k in keys[start : start + _BATCH_GET_KEYS]
            ]
            while pending:
                response = self._call(
                    "BatchGetItem", self._db.batch_get_item, RequestItems={self._table: {"Keys": pending}}
                )
                for item in response.get("Responses", {}).get(self._table, []):
                    plain = from_item(item)
                    found[str(plain[PARTITION_KEY]).removeprefix(SOURCE_PREFIX)] = checkpoint_of(item)
                unprocessed = response.get("UnprocessedKeys", {}).get(self._table)
                pending = list(unprocessed["Keys"]) if unprocessed else []
        return found

    # -- jobs and claims ------------------------------------------------------------------------
    def in_flight_count(self, source_key: str) -> int:
        return self._count(**_followed(source_key))

    def pending_count(self, source_key: str) -> int:
        """Claimed transitions not yet confirmed as published (open, or released for a retry)."""
        return self._count(
            IndexName=PENDING.name,
            KeyConditionExpression="#src = :src",
            ExpressionAttributeNames={"#src": PENDING.partition_key},
            ExpressionAttributeValues={":src": {"S": source_key}},
        )

    def jobs(self, source_key: str, *, in_flight: bool = False) -> list[dict[str, Any]]:
        """A source's job items (plain), oldest first; only those still tracked with `in_flight`."""
        if in_flight:
            return self._query(**_followed(source_key))
        return self._query(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :job)",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            ExpressionAttributeValues={":pk": {"S": source_partition(source_key)}, ":job": {"S": JOB_PREFIX}},
        )

    def parked(self) -> list[dict[str, Any]]:
        """Every parked transition (plain items)."""
        return self._query(
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": PARTITION_KEY},
            ExpressionAttributeValues={":pk": {"S": PARKED_PK}},
        )

    # -- history --------------------------------------------------------------------------------
    def history(
        self,
        source_key: str,
        since: datetime | None = None,
        until: datetime | None = None,
        job_ids: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """A source's history items (plain) observed in [since, until], oldest first; only those of
        `job_ids` if given (filtered on the server, read all the same)."""
        low = f"{HISTORY_PREFIX}{timestamp(since)}" if since else HISTORY_PREFIX
        end = f"{timestamp(until)}{KEY_SEPARATOR}" if until else ""
        high = f"{HISTORY_PREFIX}{end}{KEY_RANGE_END}"
        params: dict[str, Any] = {
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": source_partition(source_key)},
                ":low": {"S": low},
                ":high": {"S": high},
            },
        }
        if job_ids:
            names = {f":job{i}": {"S": job} for i, job in enumerate(dict.fromkeys(job_ids))}
            params["FilterExpression"] = f"jobId IN ({', '.join(names)})"
            params["ExpressionAttributeValues"].update(names)
        return self._query(**params)


def job_matches(item: Mapping[str, Any], wanted: str) -> bool:
    """Whether a job item is the job an operator named: by id, ARN or name."""
    return wanted in (item.get("jobId"), item.get("jobArn"), item.get("jobName"))


def iter_matching_jobs(
    reader: StateReader, source_keys: Iterable[str], wanted: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(source key, job item) of every job named `wanted` in the given sources."""
    for key in source_keys:
        for item in reader.jobs(key):
            if job_matches(item, wanted):
                yield key, item
