"""DynamoDB state: job items, checkpoints, claimed transitions and history.

Exactly-once announcement rests on one conditional write per transition. Claiming writes the job's
new state *conditional on the state the diff started from and on no other claim being open*, and
keeps the transition on the job item as a pending claim with a lease. Of two overlapping runs only
one wins. The claim is cleared (and history written) only after publishing; a claim whose lease
expired (its run crashed) is taken over by a later run and published again with the same eventId.
No transactions: one item per claim keeps each transition at a single conditional write. The claims
of one run touch different items and are independent, so they are written concurrently.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from auditor.adapters.state_schema import INFLIGHT, PARTITION_KEY, PENDING, SORT_KEY, TTL_ATTRIBUTE
from auditor.domain.checkpoint import Checkpoint
from auditor.domain.diff import Transition
from auditor.domain.events import build_detail
from auditor.domain.jobs import JOB_KINDS, JobState, ObservedJob, Source
from auditor.ports import SourceError

logger = logging.getLogger(__name__)

_BATCH_WRITE_ITEMS = 25
# Concurrent claim writes per source (the clients' connection pool is sized for them: adapters.clients).
CLAIM_CONCURRENCY = 8
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
        claim_concurrency: int = CLAIM_CONCURRENCY,
    ) -> None:
        self._db = client
        self._table = table_name
        self._history_ttl = history_ttl
        self._sleep = sleep
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()
        self._claim_concurrency = max(1, claim_concurrency)

    # -- encoding -------------------------------------------------------------------------------
    def _item(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in values.items() if v is not None}

    def _plain(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._de.deserialize(v) for k, v in item.items()}

    def _job_item(
        self, source: Source, state: JobState, now: datetime, claim: tuple[Transition, datetime] | None = None
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            PARTITION_KEY: _source_pk(source),
            SORT_KEY: _job_sk(state.job_id, state.created_at),
            "jobId": state.job_id,
            "status": state.status,
            "sequence": state.sequence,
            INFLIGHT.sort_key: timestamp(state.created_at),
            "jobName": state.name,
            "jobArn": state.arn,
            "lastModifiedAt": timestamp(state.last_modified_at) if state.last_modified_at else None,
            "endedAt": timestamp(state.ended_at) if state.ended_at else None,
            "failureMessage": state.failure_message,
            "statusSince": timestamp(state.status_since) if state.status_since else None,
            "stuckNotifiedAt": timestamp(state.stuck_notified_at) if state.stuck_notified_at else None,
            "updatedAt": timestamp(now),
        }
        # Sparse index: only jobs still in flight carry its key.
        if not source.kind.is_terminal(state.status):
            values[INFLIGHT.partition_key] = source.key
        if claim is not None:
            transition, lease_until = claim
            values[PENDING.partition_key] = source.key
            values[PENDING.sort_key] = timestamp(lease_until)
            values["pendingEventId"] = transition.event_id
            values["pendingTransition"] = self._encode_transition(transition)
        return self._item(values)

    @staticmethod
    def _job_state(item: Mapping[str, Any]) -> JobState:
        def when(name: str) -> datetime | None:
            value = item.get(name)
            return parse_timestamp(value) if value else None

        return JobState(
            job_id=item["jobId"],
            status=item["status"],
            created_at=parse_timestamp(item[INFLIGHT.sort_key]),
            sequence=int(item["sequence"]),
            name=item.get("jobName"),
            arn=item.get("jobArn"),
            last_modified_at=when("lastModifiedAt"),
            ended_at=when("endedAt"),
            failure_message=item.get("failureMessage"),
            status_since=when("statusSince"),
            stuck_notified_at=when("stuckNotifiedAt"),
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
                "stuckSince": timestamp(t.stuck_since) if t.stuck_since else None,
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
            stuck_since=when(data.get("stuckSince")),
        )

    # -- calls ----------------------------------------------------------------------------------
    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self._db, operation)(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
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
            IndexName=INFLIGHT.name,
            KeyConditionExpression="#src = :src",
            ExpressionAttributeNames={"#src": INFLIGHT.partition_key},
            ExpressionAttributeValues={":src": {"S": source.key}},
        )
        return [self._job_state(item) for item in items]

    def _job_key(self, t: Transition) -> dict[str, Any]:
        return self._item(
            {PARTITION_KEY: _source_pk(t.source), SORT_KEY: _job_sk(t.job.job_id, t.job.created_at)}
        )

    def claim(self, transitions: Sequence[Transition], lease_until: datetime) -> list[Transition]:
        if not transitions:
            return []
        now = datetime.now(UTC)
        workers = min(self._claim_concurrency, len(transitions))
        # On an error map cancels the writes not yet started and leaving the pool waits for those in
        # flight, so none outlives the call. Claims already won stay open (a later run takes them over
        # once their lease expires); the transitions not claimed are diffed again by the next run.
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="claim") as pool:
            won = list(pool.map(lambda t: self._claim_one(t, now, lease_until), transitions))
        return [t for t, ok in zip(transitions, won, strict=True) if ok]

    def _claim_one(self, t: Transition, now: datetime, lease_until: datetime) -> bool:
        params: dict[str, Any] = {
            "TableName": self._table,
            "Item": self._job_item(t.source, t.as_state(), now, claim=(t, lease_until)),
        }
        if t.previous_status is None:
            params["ConditionExpression"] = "attribute_not_exists(#pk)"
            params["ExpressionAttributeNames"] = {"#pk": PARTITION_KEY}
        else:
            # The state the diff started from, and no claim of another run still open on the job.
            params["ConditionExpression"] = (
                "#status = :previous AND #sequence = :sequence AND attribute_not_exists(pendingEventId)"
            )
            params["ExpressionAttributeNames"] = {"#status": "status", "#sequence": "sequence"}
            params["ExpressionAttributeValues"] = {
                ":previous": {"S": t.previous_status},
                ":sequence": {"N": str(t.previous_sequence)},
            }
        try:
            self._call("put_item", **params)
        except ClientError:
            logger.info("transition claimed by another run", extra={"eventId": t.event_id})
            return False
        return True

    def record_silently(self, transitions: Sequence[Transition]) -> int:
        # The baseline: plain batched puts. A first run racing another first run writes the same
        # states; a stale overwrite could at worst repeat a later transition with the same eventId.
        now = datetime.now(UTC)
        requests = [
            {"PutRequest": {"Item": self._job_item(t.source, t.as_state(), now)}} for t in transitions
        ]
        self._batch_write_all(requests)
        return len(transitions)

    def reclaim_expired(self, source: Source, now: datetime, lease_until: datetime) -> list[Transition]:
        items = self._query(
            IndexName=PENDING.name,
            KeyConditionExpression="#src = :src AND #lease < :now",
            ExpressionAttributeNames={"#src": PENDING.partition_key, "#lease": PENDING.sort_key},
            ExpressionAttributeValues={":src": {"S": source.key}, ":now": {"S": timestamp(now)}},
        )
        taken: list[Transition] = []
        for item in items:
            try:
                self._call(
                    "update_item",
                    TableName=self._table,
                    Key=self._item({PARTITION_KEY: item[PARTITION_KEY], SORT_KEY: item[SORT_KEY]}),
                    UpdateExpression="SET #lease = :new",
                    ConditionExpression="pendingEventId = :event AND #lease = :old",
                    ExpressionAttributeNames={"#lease": PENDING.sort_key},
                    ExpressionAttributeValues={
                        ":new": {"S": timestamp(lease_until)},
                        ":old": {"S": item[PENDING.sort_key]},
                        ":event": {"S": item["pendingEventId"]},
                    },
                )
            except ClientError:
                continue  # another run took it over first
            taken.append(self._decode_transition(item["pendingTransition"]))
        return taken

    def release(self, transitions: Sequence[Transition]) -> None:
        for t in transitions:
            try:
                self._call(
                    "update_item",
                    TableName=self._table,
                    Key=self._job_key(t),
                    UpdateExpression="SET #lease = :expired",
                    ConditionExpression="pendingEventId = :event",
                    ExpressionAttributeNames={"#lease": PENDING.sort_key},
                    ExpressionAttributeValues={":expired": {"S": _EXPIRED}, ":event": {"S": t.event_id}},
                )
            except ClientError:
                logger.info("claim already taken over", extra={"eventId": t.event_id})

    def finalize(self, transitions: Sequence[Transition], now: datetime) -> None:
        # Rewrites each job item without its claim (the claim's lease keeps other runs off the item
        # meanwhile) and writes history: two puts per transition, 25 to a request.
        expires = int((now + self._history_ttl).timestamp())
        requests: list[dict[str, Any]] = []
        for t in transitions:
            requests.append({"PutRequest": {"Item": self._job_item(t.source, t.as_state(), now)}})
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
        self._batch_write_all(requests)

    def _batch_write_all(self, requests: list[dict[str, Any]]) -> None:
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
        # Claims stay open; a later run re-publishes them with the same eventId.
        raise SourceError(f"{len(pending)} writes left unprocessed", code="UnprocessedItems")
