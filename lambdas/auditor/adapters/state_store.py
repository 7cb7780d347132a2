"""DynamoDB state: job items, checkpoints, the outbox of claimed transitions, and history.

Exactly-once announcement rests on two conditional writes:
- claiming a transition commits the job's new state *conditional on the state the diff started from*
  and puts the transition in the outbox, in one transaction: of two overlapping runs only one wins;
- the outbox entry carries a lease; it is deleted (and history written) only after publishing. An
  entry whose lease expired (its run crashed) is taken over by a later run and published again with
  the same eventId.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from auditor.adapters.state_schema import (
    INFLIGHT_INDEX,
    INFLIGHT_INDEX_PARTITION_KEY,
    INFLIGHT_INDEX_SORT_KEY,
    PARTITION_KEY,
    SORT_KEY,
    TTL_ATTRIBUTE,
)
from auditor.domain.checkpoint import Checkpoint
from auditor.domain.diff import Transition
from auditor.domain.events import build_detail
from auditor.domain.jobs import JOB_KINDS, JobState, ObservedJob, Source
from auditor.ports import SourceError

logger = logging.getLogger(__name__)

# A transaction holds at most 100 actions; a claim is two (job + outbox).
_TRANSACTION_ACTIONS = 100
_BATCH_WRITE_ITEMS = 25
_MAX_ATTEMPTS = 5
_CHECKPOINT_SK = "CHECKPOINT"
_EXPIRED = "1970-01-01T00:00:00.000000Z"


def timestamp(value: datetime) -> str:
    """Fixed-width UTC timestamp: sorts as text in the same order as in time."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _source_pk(source: Source) -> str:
    return f"SRC#{source.key}"


def _outbox_pk(source: Source) -> str:
    return f"OUTBOX#{source.key}"


def _job_sk(job_id: str, created_at: datetime) -> str:
    return f"JOB#{timestamp(created_at)}#{job_id}"


class DynamoStateStore:
    """`StateStore` on one DynamoDB table (schema in `state_schema`)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        history_ttl: timedelta,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = client
        self._table = table_name
        self._history_ttl = history_ttl
        self._sleep = sleep
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()
        self.requests = 0

    # -- encoding -------------------------------------------------------------------------------
    def _item(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in values.items() if v is not None}

    def _plain(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._de.deserialize(v) for k, v in item.items()}

    def _job_item(self, source: Source, state: JobState, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {
            PARTITION_KEY: _source_pk(source),
            SORT_KEY: _job_sk(state.job_id, state.created_at),
            "jobId": state.job_id,
            "status": state.status,
            "sequence": state.sequence,
            INFLIGHT_INDEX_SORT_KEY: timestamp(state.created_at),
            "jobName": state.name,
            "jobArn": state.arn,
            "lastModifiedAt": timestamp(state.last_modified_at) if state.last_modified_at else None,
            "endedAt": timestamp(state.ended_at) if state.ended_at else None,
            "failureMessage": state.failure_message,
            "updatedAt": timestamp(now),
        }
        # Sparse index: only jobs still in flight carry its key.
        if not source.kind.is_terminal(state.status):
            values[INFLIGHT_INDEX_PARTITION_KEY] = source.key
        return self._item(values)

    @staticmethod
    def _job_state(item: Mapping[str, Any]) -> JobState:
        def when(name: str) -> datetime | None:
            value = item.get(name)
            return parse_timestamp(value) if value else None

        return JobState(
            job_id=item["jobId"],
            status=item["status"],
            created_at=parse_timestamp(item[INFLIGHT_INDEX_SORT_KEY]),
            sequence=int(item["sequence"]),
            name=item.get("jobName"),
            arn=item.get("jobArn"),
            last_modified_at=when("lastModifiedAt"),
            ended_at=when("endedAt"),
            failure_message=item.get("failureMessage"),
        )

    @staticmethod
    def _encode_transition(t: Transition) -> str:
        job = t.job
        return json.dumps(
            {
                "source": {
                    "account": t.source.account,
                    "region": t.source.region,
                    "kind": t.source.kind.id,
                    "knowledgeBaseId": t.source.knowledge_base_id,
                },
                "job": {
                    "jobId": job.job_id,
                    "status": job.status,
                    "createdAt": timestamp(job.created_at),
                    "name": job.name,
                    "arn": job.arn,
                    "lastModifiedAt": timestamp(job.last_modified_at) if job.last_modified_at else None,
                    "endedAt": timestamp(job.ended_at) if job.ended_at else None,
                    "failureMessage": job.failure_message,
                },
                "kind": t.kind,
                "previousStatus": t.previous_status,
                "previousSequence": t.previous_sequence,
                "observedAt": timestamp(t.observed_at),
            }
        )

    @staticmethod
    def _decode_transition(text: str) -> Transition:
        data = json.loads(text)
        src, job = data["source"], data["job"]

        def when(value: str | None) -> datetime | None:
            return parse_timestamp(value) if value else None

        source = Source(src["account"], src["region"], JOB_KINDS[src["kind"]], src["knowledgeBaseId"])
        observed = ObservedJob(
            job_id=job["jobId"],
            status=job["status"],
            created_at=parse_timestamp(job["createdAt"]),
            name=job["name"],
            arn=job["arn"],
            last_modified_at=when(job["lastModifiedAt"]),
            ended_at=when(job["endedAt"]),
            failure_message=job["failureMessage"],
        )
        return Transition(
            source=source,
            job=observed,
            kind=data["kind"],
            previous_status=data["previousStatus"],
            previous_sequence=int(data["previousSequence"]),
            observed_at=parse_timestamp(data["observedAt"]),
        )

    # -- calls ----------------------------------------------------------------------------------
    def _call(self, operation: str, **params: Any) -> Any:
        self.requests += 1
        try:
            return getattr(self._db, operation)(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {
                "ConditionalCheckFailedException",
                "TransactionCanceledException",
            }:
                raise
            error = exc.response.get("Error", {})
            raise SourceError(
                f"DynamoDB {operation} failed: {error.get('Message') or exc}", code=error.get("Code", "Error")
            ) from exc
        except BotoCoreError as exc:
            raise SourceError(f"DynamoDB {operation} failed: {exc}", code=type(exc).__name__) from exc

    def _query(self, **params: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._call("query", TableName=self._table, **params)
            for item in page.get("Items", []):
                yield self._plain(item)
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- StateStore -----------------------------------------------------------------------------
    def load_checkpoint(self, source: Source) -> Checkpoint | None:
        key = self._item({PARTITION_KEY: _source_pk(source), SORT_KEY: _CHECKPOINT_SK})
        item = self._call("get_item", TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        if not item:
            return None
        return Checkpoint(last_run_started_at=parse_timestamp(self._plain(item)["lastRunStartedAt"]))

    def save_checkpoint(self, source: Source, checkpoint: Checkpoint) -> None:
        started = timestamp(checkpoint.last_run_started_at)
        item = self._item(
            {
                PARTITION_KEY: _source_pk(source),
                SORT_KEY: _CHECKPOINT_SK,
                "lastRunStartedAt": started,
                "updatedAt": timestamp(datetime.now(UTC)),
            }
        )
        try:
            self._call(
                "put_item",
                TableName=self._table,
                Item=item,
                # An overlapping run that started later may already have moved it: never move it back.
                ConditionExpression="attribute_not_exists(#pk) OR lastRunStartedAt < :started",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ExpressionAttributeValues={":started": {"S": started}},
            )
        except ClientError:
            logger.info("checkpoint already further on", extra={"source": source.key})

    def load_jobs_since(self, source: Source, since: datetime) -> dict[str, JobState]:
        items = self._query(
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :from AND :to",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            ExpressionAttributeValues={
                ":pk": {"S": _source_pk(source)},
                ":from": {"S": f"JOB#{timestamp(since)}"},
                ":to": {"S": "JOB#~"},
            },
            ConsistentRead=True,
        )
        states = (self._job_state(item) for item in items)
        return {state.job_id: state for state in states}

    def load_in_flight(self, source: Source) -> list[JobState]:
        items = self._query(
            IndexName=INFLIGHT_INDEX,
            KeyConditionExpression="#src = :src",
            ExpressionAttributeNames={"#src": INFLIGHT_INDEX_PARTITION_KEY},
            ExpressionAttributeValues={":src": {"S": source.key}},
        )
        return [self._job_state(item) for item in items]

    def _job_put(self, t: Transition, now: datetime) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": self._job_item(t.source, t.as_state(), now),
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
        }
        if t.previous_status is None:
            put["ConditionExpression"] = "attribute_not_exists(#pk)"
        else:
            put["ConditionExpression"] = "#status = :previous AND #sequence = :sequence"
            put["ExpressionAttributeNames"] = {"#status": "status", "#sequence": "sequence"}
            put["ExpressionAttributeValues"] = {
                ":previous": {"S": t.previous_status},
                ":sequence": {"N": str(t.previous_sequence)},
            }
        return {"Put": put}

    def _outbox_put(self, t: Transition, lease_until: datetime) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": self._item(
                    {
                        PARTITION_KEY: _outbox_pk(t.source),
                        SORT_KEY: t.event_id,
                        "leaseUntil": timestamp(lease_until),
                        "transition": self._encode_transition(t),
                    }
                ),
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            }
        }

    def _commit(
        self, transitions: Sequence[Transition], actions_for: Callable[[Transition], list[dict[str, Any]]]
    ) -> list[Transition]:
        """Run the actions of each transition in shared transactions; drop those whose condition
        fails (another run got there first) and retry the rest."""
        per_transition = len(actions_for(transitions[0])) if transitions else 1
        chunk = max(1, _TRANSACTION_ACTIONS // per_transition)
        won: list[Transition] = []
        for start in range(0, len(transitions), chunk):
            pending = list(transitions[start : start + chunk])
            for attempt in range(_MAX_ATTEMPTS):
                if not pending:
                    break
                actions = [a for t in pending for a in actions_for(t)]
                try:
                    self._call("transact_write_items", TransactItems=actions)
                except ClientError as exc:
                    reasons = exc.response.get("CancellationReasons") or []
                    lost = {
                        i // per_transition
                        for i, reason in enumerate(reasons)
                        if reason.get("Code") == "ConditionalCheckFailed"
                    }
                    if lost:
                        for index in sorted(lost):
                            logger.info(
                                "transition already committed by another run",
                                extra={"eventId": pending[index].event_id},
                            )
                        pending = [t for i, t in enumerate(pending) if i not in lost]
                    elif len(pending) > 1 and not reasons:
                        # No per-item reasons: settle each transition on its own.
                        won.extend(self._commit_each(pending, actions_for))
                        pending = []
                    else:
                        self._sleep(min(2.0, 0.05 * 2**attempt))
                    continue
                won.extend(pending)
                pending = []
            if pending:
                raise SourceError(f"could not commit {len(pending)} transitions", code="TransactionConflict")
        return won

    def _commit_each(
        self, transitions: Sequence[Transition], actions_for: Callable[[Transition], list[dict[str, Any]]]
    ) -> list[Transition]:
        won = []
        for t in transitions:
            won.extend(self._commit([t], actions_for))
        return won

    def record_silently(self, transitions: Sequence[Transition]) -> int:
        now = datetime.now(UTC)
        return len(self._commit(transitions, lambda t: [self._job_put(t, now)]))

    def claim(self, transitions: Sequence[Transition], lease_until: datetime) -> list[Transition]:
        now = datetime.now(UTC)
        return self._commit(transitions, lambda t: [self._job_put(t, now), self._outbox_put(t, lease_until)])

    def reclaim_expired(self, source: Source, now: datetime, lease_until: datetime) -> list[Transition]:
        items = self._query(
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": PARTITION_KEY},
            ExpressionAttributeValues={":pk": {"S": _outbox_pk(source)}},
            ConsistentRead=True,
        )
        taken: list[Transition] = []
        for item in items:
            if item["leaseUntil"] >= timestamp(now):
                continue  # a live run still holds it
            try:
                self._call(
                    "update_item",
                    TableName=self._table,
                    Key=self._item({PARTITION_KEY: item[PARTITION_KEY], SORT_KEY: item[SORT_KEY]}),
                    UpdateExpression="SET leaseUntil = :new",
                    ConditionExpression="leaseUntil = :old",
                    ExpressionAttributeValues={
                        ":new": {"S": timestamp(lease_until)},
                        ":old": {"S": item["leaseUntil"]},
                    },
                )
            except ClientError:
                continue  # another run took it over first
            taken.append(self._decode_transition(item["transition"]))
        return taken

    def release(self, transitions: Sequence[Transition]) -> None:
        for t in transitions:
            self._call(
                "update_item",
                TableName=self._table,
                Key=self._item({PARTITION_KEY: _outbox_pk(t.source), SORT_KEY: t.event_id}),
                UpdateExpression="SET leaseUntil = :expired",
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ExpressionAttributeValues={":expired": {"S": _EXPIRED}},
            )

    def finalize(self, transitions: Sequence[Transition], now: datetime) -> None:
        expires = int((now + self._history_ttl).timestamp())
        requests: list[dict[str, Any]] = []
        for t in transitions:
            requests.append(
                {
                    "DeleteRequest": {
                        "Key": self._item({PARTITION_KEY: _outbox_pk(t.source), SORT_KEY: t.event_id})
                    }
                }
            )
            history = {
                PARTITION_KEY: _source_pk(t.source),
                SORT_KEY: f"HIST#{timestamp(t.observed_at)}#{t.event_id}",
                "eventId": t.event_id,
                "jobId": t.job.job_id,
                "previousStatus": t.previous_status,
                "status": t.status,
                "publishedAt": timestamp(now),
                "detail": json.dumps(build_detail(t)),
                TTL_ATTRIBUTE: expires,
            }
            requests.append({"PutRequest": {"Item": self._item(history)}})
        for start in range(0, len(requests), _BATCH_WRITE_ITEMS):
            self._batch_write(requests[start : start + _BATCH_WRITE_ITEMS])

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending = requests
        for attempt in range(_MAX_ATTEMPTS):
            response = self._call("batch_write_item", RequestItems={self._table: pending})
            pending = response.get("UnprocessedItems", {}).get(self._table, [])
            if not pending:
                return
            self._sleep(min(2.0, 0.05 * 2**attempt))
        # The outbox entries stay; a later run re-publishes them with the same eventId.
        raise SourceError(f"{len(pending)} history writes left unprocessed", code="UnprocessedItems")
