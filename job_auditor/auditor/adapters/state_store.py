"""DynamoDB state: job items, the sources' audit records (with their checkpoints), claimed
transitions, history and parked transitions.

Exactly-once announcement rests on conditional writes, one item per job:
- A claim writes the job's new state *conditional on the state the diff started from and on no other
  claim being open*, and keeps the transition on the job item as a pending claim with a lease. Of two
  overlapping runs only one wins. A failed condition is read back (the item as it was) and explained:
  the same transition claimed or committed by another run, or a conflict the run must not step over.
- The claim is cleared (and history written) only after publishing, and only while it is still this
  transition's claim: a run that outlived its lease reverts nothing.
- A claim keeps where it stands on each channel; a channel that refused it sets its lease to a
  back-off. A claim whose lease expired (its run crashed, or its back-off is over) is taken over by a
  later run and delivered again, with the same eventId, to the channels still owed it. It is
  finalized once every channel took it or gave up on it (parked: kept under pk=PARKED).
No transactions: one item per claim keeps each transition at a single conditional write. The claims
of one run touch different items and are independent, so they are written concurrently.

A source's checkpoint lives in its audit record (pk=AUDIT): one UpdateItem per source and run records
how the run ended and moves the checkpoint, and the planner reads every record with one Query. An
earlier version's checkpoint items (sk=CHECKPOINT) are still read where a record has none, and moved
into the record by its next write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from job_auditor.auditor.adapters.state_codec import (
    audit_key,
    audit_record_of,
    checkpoint_of,
    checkpoint_update,
    decode_transition,
    deliveries_of,
    encode_deliveries,
    from_item,
    history_item,
    history_key,
    job_item,
    job_key,
    job_state,
    last_audit_update,
    legacy_checkpoint_key,
    parked_item,
    parked_key,
    parked_of,
    retire_update,
    scope_update,
    source_pk,
    sweep_item,
    sweep_key,
    sweep_of,
    timestamp,
    to_item,
    with_legacy_checkpoint,
)
from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.jobs import JobState, Source
from job_auditor.auditor.domain.schedule import AuditRecord, record_of
from job_auditor.auditor.domain.sweep import SweepProgress
from job_auditor.auditor.ports import Claim, ClaimResult, LastAudit, Parked, SourceError
from job_auditor.contract.state_schema import (
    AUDIT_PK,
    INFLIGHT,
    JOB_PREFIX,
    KEY_RANGE_END,
    PARKED_PK,
    PARTITION_KEY,
    PENDING,
    SORT_KEY,
    SOURCE_PREFIX,
)

if TYPE_CHECKING:
    # Type stubs (requirements-dev.txt): for mypy only, never imported at run time.
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        PutItemInputTypeDef,
        WriteRequestTypeDef,
        WriteRequestUnionTypeDef,
    )

logger = logging.getLogger(__name__)

_BATCH_WRITE_ITEMS = 25
# BatchGetItem's limit: a list page of Q in Connect (100 jobs) is one request.
_BATCH_GET_KEYS = 100
# Concurrent claim writes per source (the clients' connection pool is sized for them: adapters.clients).
CLAIM_CONCURRENCY = 8
_MAX_ATTEMPTS = 5
_CONDITION_FAILED = "ConditionalCheckFailedException"
_T = TypeVar("_T")
_R = TypeVar("_R")
_P = ParamSpec("_P")


def _condition_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED)


def explain_claim_failure(t: Transition, old: Mapping[str, Any] | None) -> str | None:
    """Why a claim's condition failed, from the item as it was (plain values). None: the same
    transition is already claimed or committed by another run (it announces it); otherwise the
    reason the transition is still nobody's."""
    if old is None:
        return "no job item where the recorded state was read"
    if t.event_id in (old.get("pendingEventId"), old.get("lastEventId")):
        return None
    if old.get("pendingEventId"):
        return f"another claim is open on the job ({old['pendingEventId']})"
    return (
        f"the job moved on: recorded {old.get('status')!r} at sequence {old.get('sequence')}, "
        f"expected {t.previous_status!r} at sequence {t.previous_sequence}"
    )


def dynamodb_error(exc: ClientError | BotoCoreError, what: str) -> SourceError:
    """A failed DynamoDB call (`what`: the operation, and where) as a SourceError with the service's
    error code, or botocore's exception name for a failure before any answer."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return SourceError(
            f"DynamoDB {what} failed: {error.get('Message') or exc}", code=error.get("Code", "Error")
        )
    return SourceError(f"DynamoDB {what} failed: {exc}", code=type(exc).__name__)


class DynamoStateStore:
    """`StateStore` on one DynamoDB table (schema in `state_schema`, items in `state_codec`)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        history_ttl: timedelta,
        sleep: Callable[[float], None] = time.sleep,
        claim_concurrency: int = CLAIM_CONCURRENCY,
    ) -> None:
        self._db = client
        self._table = table_name
        self._history_ttl = history_ttl
        self._sleep = sleep
        self._concurrency = max(1, claim_concurrency)

    # -- calls ----------------------------------------------------------------------------------
    def _call(self, operation: Callable[_P, _R], *args: _P.args, **params: _P.kwargs) -> _R:
        """One call of the client (`self._db.put_item`, ...); its errors as a SourceError, except a
        failed condition, which is raised as it is for the caller to explain."""
        try:
            return operation(*args, **params)
        except ClientError as exc:
            if _condition_failed(exc):
                raise
            raise dynamodb_error(exc, operation.__name__) from exc
        except BotoCoreError as exc:
            raise dynamodb_error(exc, operation.__name__) from exc

    def _query(self, **params: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._call(self._db.query, TableName=self._table, **params)
            for item in page.get("Items", []):
                yield from_item(item)
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _each(self, name: str, work: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
        """Independent single-item writes, several at once. On an error map cancels the writes not yet
        started and leaving the pool waits for those in flight, so none outlives the call."""
        if not items:
            return []
        workers = min(self._concurrency, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
            return list(pool.map(work, items))

    # -- audit records (and checkpoints) ------------------------------------------------------
    def load_audit_records(self) -> dict[str, AuditRecord]:
        # Eventually consistent (half the read units): a record a moment stale holds an earlier
        # checkpoint (a wider window) or an earlier last run (an order a moment off); one written so
        # recently the query misses it is read again, strongly consistent, by read_audit_records.
        items = self._query(
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": PARTITION_KEY},
            ExpressionAttributeValues={":pk": {"S": AUDIT_PK}},
        )
        records = (audit_record_of(item) for item in items)
        return {record.key: record for record in records}

    def read_audit_records(self, sources: Sequence[Source]) -> dict[str, AuditRecord]:
        keys = list(dict.fromkeys(source.key for source in sources))
        by_key = {source.key: source for source in sources}
        found: dict[str, AuditRecord] = {}
        legacy: dict[str, Checkpoint] = {}
        # Each source's record and the checkpoint item an earlier version kept, 50 sources a call.
        for start in range(0, len(keys), _BATCH_GET_KEYS // 2):
            chunk = keys[start : start + _BATCH_GET_KEYS // 2]
            request = [audit_key(k) for k in chunk] + [legacy_checkpoint_key(k) for k in chunk]
            for item in self._batch_get(request):
                plain = from_item(item)
                if plain[PARTITION_KEY] == AUDIT_PK:
                    found[str(plain[SORT_KEY])] = audit_record_of(plain)
                else:
                    legacy[str(plain[PARTITION_KEY]).removeprefix(SOURCE_PREFIX)] = checkpoint_of(item)
        for key, checkpoint in legacy.items():
            found[key] = with_legacy_checkpoint(found.get(key) or record_of(by_key[key]), checkpoint)
        return found

    def _batch_get(self, keys: list[dict[str, Any]], *, consistent: bool = True) -> Iterator[dict[str, Any]]:
        """The items of `keys` (at most 100) as DynamoDB returns them, unprocessed keys retried."""
        pending = keys
        for attempt in range(_MAX_ATTEMPTS):
            response = self._call(
                self._db.batch_get_item,
                RequestItems={self._table: {"Keys": pending, "ConsistentRead": consistent}},
            )
            yield from response.get("Responses", {}).get(self._table, [])
            unprocessed = response.get("UnprocessedKeys", {}).get(self._table)
            pending = list(unprocessed["Keys"]) if unprocessed else []
            if not pending:
                return
            self._sleep(min(2.0, 0.05 * 2**attempt))
        raise SourceError(f"{len(pending)} reads left unprocessed", code="UnprocessedKeys")

    def load_checkpoint(self, source: Source) -> Checkpoint | None:
        """One source's checkpoint, strongly consistent (for operators and tests)."""
        record = self.read_audit_records([source]).get(source.key)
        return record.checkpoint if record else None

    def record_audit(self, source: Source, audit: LastAudit) -> None:
        update = last_audit_update(source, audit)
        try:
            self._call(
                self._db.update_item,
                TableName=self._table,
                # An overlapping run that started later has the newer word: never replace it. Its
                # checkpoint is then at least as far on as this run's would be (a record's checkpoint
                # never passes its own run's start), except where that run did not advance it.
                **update.params(source.key, "attribute_not_exists(#startedAt) OR #startedAt <= :startedAt"),
            )
        except ClientError:
            logger.info("a later run already recorded its audit", extra={"source": source.key})
            if audit.checkpoint_advanced and audit.checkpoint is not None:
                self._advance_only(source, audit.checkpoint)

    def _advance_only(self, source: Source, checkpoint: Checkpoint) -> None:
        """Where a later run recorded its audit without advancing the checkpoint: this run's advance
        still stands, as long as it moves the checkpoint forward."""
        try:
            self._call(
                self._db.update_item,
                TableName=self._table,
                **checkpoint_update(checkpoint).params(
                    source.key,
                    "attribute_not_exists(#lastRunStartedAt) OR #lastRunStartedAt < :lastRunStartedAt",
                ),
            )
        except ClientError:
            logger.info("checkpoint already further on", extra={"source": source.key})

    def record_scope(self, scope: Source, now: datetime, *, enumerated: bool) -> None:
        self._call(
            self._db.update_item,
            TableName=self._table,
            **scope_update(scope, now, enumerated=enumerated).params(scope.key),
        )

    def retire(self, source: Source, reason: str, now: datetime) -> None:
        self._call(
            self._db.update_item,
            TableName=self._table,
            **retire_update(source, reason, now).params(source.key),
        )

    def count_pending(self, source: Source) -> int:
        total = 0
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": PENDING.name,
            "KeyConditionExpression": "#src = :src",
            "ExpressionAttributeNames": {"#src": PENDING.partition_key},
            "ExpressionAttributeValues": {":src": {"S": source.key}},
            "Select": "COUNT",
        }
        while True:
            page = self._call(self._db.query, **params)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return total
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- jobs -----------------------------------------------------------------------------------
    def load_jobs_since(self, source: Source, since: datetime) -> dict[str, JobState]:
        items = self._query(
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :from AND :to",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            ExpressionAttributeValues={
                ":pk": {"S": source_pk(source)},
                ":from": {"S": f"{JOB_PREFIX}{timestamp(since)}"},
                ":to": {"S": f"{JOB_PREFIX}{KEY_RANGE_END}"},
            },
            ConsistentRead=True,
        )
        states = (job_state(item) for item in items)
        return {state.job_id: state for state in states}

    def load_jobs(self, source: Source, keys: Sequence[tuple[str, datetime]]) -> dict[str, JobState]:
        # Eventually consistent: half the read units, and a state older than the last write is caught
        # by the claim's condition (the conflict is diffed again by the next run).
        found: dict[str, JobState] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH_GET_KEYS):
            wanted = [
                job_key(source, job_id, created)
                for job_id, created in unique[start : start + _BATCH_GET_KEYS]
            ]
            for item in self._batch_get(wanted, consistent=False):
                state = job_state(from_item(item))
                found[state.job_id] = state
        return found

    def load_sweep(self, source: Source) -> SweepProgress | None:
        response = self._call(
            self._db.get_item, TableName=self._table, Key=sweep_key(source), ConsistentRead=True
        )
        item = response.get("Item")
        return sweep_of(item) if item else None

    def save_sweep(self, source: Source, progress: SweepProgress) -> None:
        self._call(self._db.put_item, TableName=self._table, Item=sweep_item(source, progress))

    def load_in_flight(self, source: Source) -> list[JobState]:
        items = self._query(
            IndexName=INFLIGHT.name,
            KeyConditionExpression="#src = :src",
            ExpressionAttributeNames={"#src": INFLIGHT.partition_key},
            ExpressionAttributeValues={":src": {"S": source.key}},
        )
        return [job_state(item) for item in items]

    def record_silently(self, transitions: Sequence[Transition]) -> int:
        # The baseline, of jobs with no recorded state: plain batched puts. A first run racing another
        # first run writes the same states; a stale overwrite could at worst repeat a later transition
        # with the same eventId.
        now = datetime.now(UTC)
        requests: list[WriteRequestTypeDef] = [
            {"PutRequest": {"Item": job_item(t.source, t.as_state(), now)}} for t in transitions
        ]
        self._batch_write_all(requests)
        return len(transitions)

    def record_missing(self, source: Source, state: JobState) -> None:
        # Only the state it was counted against: a job that moved on starts again from zero.
        self._update_unchanged(
            source,
            state,
            "ADD missingChecks :one",
            "job moved on before its miss was counted",
            {":one": {"N": "1"}},
        )

    def follow_again(self, source: Source, states: Sequence[JobState]) -> None:
        for state in states:
            self._update_unchanged(
                source,
                state,
                "SET #inflight = :source REMOVE disappearedAt, disappearedReason, missingChecks",
                "job moved on before it was followed again",
                {":source": {"S": source.key}},
                {"#inflight": INFLIGHT.partition_key},
            )

    def let_go(self, source: Source, states: Sequence[JobState]) -> None:
        for state in states:
            self._update_unchanged(
                source,
                state,
                "REMOVE #inflight",
                "job moved on before it was let go",
                names={"#inflight": INFLIGHT.partition_key},
            )

    def _update_unchanged(
        self,
        source: Source,
        state: JobState,
        expression: str,
        moved_on: str,
        values: Mapping[str, Any] = MappingProxyType({}),
        names: Mapping[str, str] = MappingProxyType({}),
    ) -> None:
        """Update a job's item while it still holds `state` (no claim open on it); one that moved on
        is left as it is (`moved_on` is logged). `values` and `names` are the expression's own."""
        try:
            self._call(
                self._db.update_item,
                TableName=self._table,
                Key=job_key(source, state.job_id, state.created_at),
                UpdateExpression=expression,
                ConditionExpression="#sequence = :sequence AND attribute_not_exists(pendingEventId)",
                ExpressionAttributeNames={"#sequence": "sequence", **names},
                ExpressionAttributeValues={":sequence": {"N": str(state.sequence)}, **values},
            )
        except ClientError:
            logger.info(moved_on, extra={"job": state.job_id})

    # -- claims ---------------------------------------------------------------------------------
    def claim(self, transitions: Sequence[Transition], lease_until: datetime) -> ClaimResult:
        now = datetime.now(UTC)
        # Claims already won stay open on an error (a later run takes them over once their lease
        # expires); the transitions not claimed are diffed again by the next run.
        reasons = self._each("claim", lambda t: self._claim_one(t, now, lease_until), transitions)
        result = ClaimResult()
        for t, reason in zip(transitions, reasons, strict=True):
            if reason == "":
                result.won.append(t)
            elif reason is None:
                result.elsewhere.append(t)
            else:
                result.conflicts.append((t, reason))
        return result

    def _claim_one(self, t: Transition, now: datetime, lease_until: datetime) -> str | None:
        """'' when won; else explain_claim_failure's answer."""
        params: PutItemInputTypeDef = {
            "TableName": self._table,
            "Item": job_item(t.source, t.as_state(), now, event_id=t.event_id, claim=(t, lease_until)),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
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
            self._call(self._db.put_item, **params)
        except ClientError as exc:
            # ReturnValuesOnConditionCheckFailure puts the item as it was in the error response, a
            # member the error's type does not list: read only if it is an object.
            old = exc.response.get("Item")
            reason = explain_claim_failure(t, from_item(old) if isinstance(old, Mapping) and old else None)
            if reason is None:
                logger.info("transition claimed by another run", extra={"eventId": t.event_id})
            return reason
        return ""

    def reclaim_expired(
        self,
        source: Source,
        now: datetime,
        lease_until: datetime,
        limit: int,
        reserve: Callable[[int], int] | None = None,
    ) -> list[Claim]:
        page = self._call(
            self._db.query,
            TableName=self._table,
            IndexName=PENDING.name,
            KeyConditionExpression="#src = :src AND #lease < :now",
            ExpressionAttributeNames={"#src": PENDING.partition_key, "#lease": PENDING.sort_key},
            ExpressionAttributeValues={":src": {"S": source.key}, ":now": {"S": timestamp(now)}},
            # Oldest lease first, one page: thousands of claims left by an outage are taken over a
            # bounded number per run, so each run stays within its time budget.
            Limit=max(1, limit),
        )
        items = [from_item(item) for item in page.get("Items", [])]
        if items and reserve is not None:
            items = items[: reserve(len(items))]

        def take_over(item: dict[str, Any]) -> Claim | None:
            try:
                self._call(
                    self._db.update_item,
                    TableName=self._table,
                    Key=to_item({PARTITION_KEY: item[PARTITION_KEY], SORT_KEY: item[SORT_KEY]}),
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
                return None  # another run took it over first
            return Claim(decode_transition(item["pendingTransition"]), deliveries_of(item))

        return [claim for claim in self._each("reclaim", take_over, items) if claim is not None]

    def retry_later(self, claims: Sequence[tuple[Claim, datetime]]) -> None:
        def retry_one(entry: tuple[Claim, datetime]) -> None:
            claim, lease_until = entry
            t = claim.transition
            try:
                self._call(
                    self._db.update_item,
                    TableName=self._table,
                    Key=job_key(t.source, t.job.job_id, t.job.created_at),
                    UpdateExpression="SET #lease = :lease, pendingDeliveries = :deliveries",
                    ConditionExpression="pendingEventId = :event",
                    ExpressionAttributeNames={"#lease": PENDING.sort_key},
                    ExpressionAttributeValues={
                        ":lease": {"S": timestamp(lease_until)},
                        ":deliveries": {"S": encode_deliveries(claim.deliveries)},
                        ":event": {"S": t.event_id},
                    },
                )
            except ClientError:
                logger.info("claim already taken over", extra={"eventId": t.event_id})

        self._each("retry", retry_one, claims)

    def finalize(self, claims: Sequence[Claim], now: datetime) -> int:
        # The parked copy first: should a later write fail, the claim is still there to retry. Each job
        # item is rewritten without its claim, conditional on the claim still being this transition's;
        # history is written for every finished transition (its key is the event's, so a repeat
        # overwrites the same item).
        def finish(claim: Claim) -> bool:
            deliveries = claim.deliveries
            if deliveries.parked:
                parked = Parked(claim.transition, deliveries.parked, deliveries.retryable, now)
                self._call(self._db.put_item, TableName=self._table, Item=parked_item(parked))
            return self._clear_claim(claim.transition, now)

        cleared = sum(self._each("finalize", finish, claims))
        expires = int((now + self._history_ttl).timestamp())
        self._batch_write_all([{"PutRequest": {"Item": history_item(c, now, expires)}} for c in claims])
        return cleared

    # -- parked transitions ---------------------------------------------------------------------
    def parked(self) -> list[dict[str, Any]]:
        """Every parked transition (plain items), for operators."""
        return list(
            self._query(
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ExpressionAttributeValues={":pk": {"S": PARKED_PK}},
            )
        )

    def parked_due(self, limit: int) -> list[Parked]:
        due: list[Parked] = []
        items = self._query(
            KeyConditionExpression="#pk = :pk",
            FilterExpression="attribute_exists(retryable)",
            ExpressionAttributeNames={"#pk": PARTITION_KEY},
            ExpressionAttributeValues={":pk": {"S": PARKED_PK}},
        )
        for item in items:
            if len(due) >= limit:
                break
            due.append(parked_of(item))
        return due

    def unpark(
        self, parked: Parked, delivered: Collection[str], refused: Mapping[str, str], now: datetime
    ) -> None:
        t = parked.transition
        left = {c: refused.get(c, why) for c, why in parked.channels.items() if c not in delivered}
        if left:
            retryable = frozenset(parked.retryable - set(delivered) - set(refused))
            again = parked._replace(channels=MappingProxyType(left), retryable=retryable)
            self._call(self._db.put_item, TableName=self._table, Item=parked_item(again))
        else:
            self._call(self._db.delete_item, TableName=self._table, Key=parked_key(t))
        if not delivered:
            return
        try:
            self._call(
                self._db.update_item,
                TableName=self._table,
                Key=history_key(t),
                UpdateExpression="ADD channels :channels DELETE parkedChannels :channels",
                # History may have expired meanwhile: then there is nothing to correct.
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ExpressionAttributeValues={":channels": {"SS": sorted(delivered)}},
            )
        except ClientError:
            logger.info("no history left to mark re-driven", extra={"eventId": t.event_id})

    def _clear_claim(self, t: Transition, now: datetime) -> bool:
        try:
            self._call(
                self._db.put_item,
                TableName=self._table,
                Item=job_item(t.source, t.as_state(), now, event_id=t.event_id),
                ConditionExpression="pendingEventId = :event",
                ExpressionAttributeValues={":event": {"S": t.event_id}},
            )
        except ClientError:
            logger.info("claim no longer this run's: left as it is", extra={"eventId": t.event_id})
            return False
        return True

    # -- batches --------------------------------------------------------------------------------
    def _batch_write_all(self, requests: Sequence[WriteRequestTypeDef]) -> None:
        for start in range(0, len(requests), _BATCH_WRITE_ITEMS):
            self._batch_write(requests[start : start + _BATCH_WRITE_ITEMS])

    def _batch_write(self, requests: Sequence[WriteRequestUnionTypeDef]) -> None:
        # What DynamoDB hands back unprocessed is sent again as it is.
        pending = requests
        for attempt in range(_MAX_ATTEMPTS):
            response = self._call(self._db.batch_write_item, RequestItems={self._table: pending})
            pending = response.get("UnprocessedItems", {}).get(self._table, [])
            if not pending:
                return
            self._sleep(min(2.0, 0.05 * 2**attempt))
        # Claims stay open; a later run re-publishes them with the same eventId.
        raise SourceError(f"{len(pending)} writes left unprocessed", code="UnprocessedItems")
