"""How the state store's records look as DynamoDB items: job items (with a pending claim), the sources'
audit records (with their checkpoints) and the scopes', history and parked transitions. Pure encoding;
the calls are in `state_store`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.events import build_detail
from job_auditor.auditor.domain.jobs import JOB_KINDS, JobState, ObservedJob, Source
from job_auditor.auditor.domain.schedule import AuditRecord
from job_auditor.auditor.domain.sweep import SweepProgress, SweepState
from job_auditor.auditor.ports import Claim, Deliveries, LastAudit, Parked
from job_auditor.contract.state_schema import (
    AUDIT_PK,
    CHECKPOINT_SK,
    HISTORY_PREFIX,
    INFLIGHT,
    JOB_PREFIX,
    KEY_SEPARATOR,
    PARKED_PK,
    PARTITION_KEY,
    PENDING,
    SORT_KEY,
    SWEEP_SK,
    TTL_ATTRIBUTE,
    source_partition,
)

# A discovered scope's record in the AUDIT partition carries recordType=scope; a source's has none.
RECORD_TYPE = "recordType"
SCOPE_RECORD = "scope"

_SER = TypeSerializer()
_DE = TypeDeserializer()


def timestamp(value: datetime) -> str:
    """Fixed-width UTC timestamp: sorts as text in the same order as in time."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _optional(value: datetime | None) -> str | None:
    return timestamp(value) if value else None


def _when(value: object) -> datetime | None:
    return parse_timestamp(value) if isinstance(value, str) and value else None


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values -> DynamoDB attribute values (None left out)."""
    return {k: _SER.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _DE.deserialize(v) for k, v in item.items()}


def source_pk(source: Source) -> str:
    return source_partition(source.key)


def job_sk(job_id: str, created_at: datetime) -> str:
    return f"{JOB_PREFIX}{timestamp(created_at)}{KEY_SEPARATOR}{job_id}"


def _details_json(details: Mapping[str, Any]) -> str | None:
    """A job's details as JSON text: numbers stay numbers without DynamoDB's Decimal round trip."""
    return json.dumps(dict(details), separators=(",", ":"), sort_keys=True) if details else None


def _details(text: object) -> Mapping[str, Any]:
    return MappingProxyType(json.loads(text) if isinstance(text, str) and text else {})


def job_key(source: Source, job_id: str, created_at: datetime) -> dict[str, Any]:
    return to_item({PARTITION_KEY: source_pk(source), SORT_KEY: job_sk(job_id, created_at)})


def job_item(
    source: Source,
    state: JobState,
    now: datetime,
    *,
    event_id: str | None = None,
    claim: tuple[Transition, datetime] | None = None,
) -> dict[str, Any]:
    """A job's recorded state (with the eventId of the transition that committed it, if announced),
    and the claimed transition and its lease while one is open."""
    values: dict[str, Any] = {
        PARTITION_KEY: source_pk(source),
        SORT_KEY: job_sk(state.job_id, state.created_at),
        "jobId": state.job_id,
        "status": state.status,
        "sequence": state.sequence,
        INFLIGHT.sort_key: timestamp(state.created_at),
        "jobName": state.name,
        "jobArn": state.arn,
        "lastModifiedAt": _optional(state.last_modified_at),
        "endedAt": _optional(state.ended_at),
        "failureMessage": state.failure_message,
        "details": _details_json(state.details),
        "statusSince": _optional(state.status_since),
        "stuckNotifiedAt": _optional(state.stuck_notified_at),
        "missingChecks": state.missing_checks or None,
        "disappearedAt": _optional(state.disappeared_at),
        "disappearedReason": state.disappeared_reason,
        "lastEventId": event_id,
        "updatedAt": timestamp(now),
    }
    # Sparse index: only jobs still followed carry its key (tracked, or lost until a sweep lets go).
    if state.indexed(source.spec):
        values[INFLIGHT.partition_key] = source.key
    if claim is not None:
        transition, lease_until = claim
        values[PENDING.partition_key] = source.key
        values[PENDING.sort_key] = timestamp(lease_until)
        values["pendingEventId"] = transition.event_id
        values["pendingTransition"] = encode_transition(transition)
    return to_item(values)


def job_state(item: Mapping[str, Any]) -> JobState:
    """A plain (deserialized) job item -> the recorded state."""
    return JobState(
        job_id=item["jobId"],
        status=item["status"],
        created_at=parse_timestamp(item[INFLIGHT.sort_key]),
        sequence=int(item["sequence"]),
        name=item.get("jobName"),
        arn=item.get("jobArn"),
        last_modified_at=_when(item.get("lastModifiedAt")),
        ended_at=_when(item.get("endedAt")),
        failure_message=item.get("failureMessage"),
        details=_details(item.get("details")),
        status_since=_when(item.get("statusSince")),
        stuck_notified_at=_when(item.get("stuckNotifiedAt")),
        missing_checks=int(item.get("missingChecks", 0)),
        disappeared_at=_when(item.get("disappearedAt")),
        disappeared_reason=item.get("disappearedReason"),
    )


def checkpoint_of(item: Mapping[str, Any]) -> Checkpoint:
    """A checkpoint item of an earlier version (pk=SRC#<source>, sk=CHECKPOINT), as DynamoDB returns
    it; still read, never written."""
    plain = from_item(item)
    return Checkpoint(
        last_run_started_at=parse_timestamp(plain["lastRunStartedAt"]),
        last_reconciled_at=_when(plain.get("lastReconciledAt")),
    )


def sweep_key(source: Source) -> dict[str, Any]:
    return to_item({PARTITION_KEY: source_pk(source), SORT_KEY: SWEEP_SK})


def sweep_item(source: Source, progress: SweepProgress) -> dict[str, Any]:
    return to_item(
        {
            PARTITION_KEY: source_pk(source),
            SORT_KEY: SWEEP_SK,
            "startedAt": timestamp(progress.started_at),
            "updatedAt": timestamp(progress.updated_at),
            "state": progress.state.value,
            "failures": progress.failures,
            "cursor": progress.cursor,
            "pages": progress.pages,
            "error": progress.error,
        }
    )


def sweep_of(item: Mapping[str, Any]) -> SweepProgress:
    plain = from_item(item)
    return SweepProgress(
        started_at=parse_timestamp(plain["startedAt"]),
        updated_at=parse_timestamp(plain["updatedAt"]),
        state=SweepState(plain["state"]),
        failures=int(plain.get("failures", 0)),
        cursor=plain.get("cursor"),
        pages=int(plain.get("pages", 0)),
        error=plain.get("error"),
    )


def audit_key(key: str) -> dict[str, Any]:
    """The key of a source's (or a scope's) record in the AUDIT partition."""
    return to_item({PARTITION_KEY: AUDIT_PK, SORT_KEY: key})


def legacy_checkpoint_key(key: str) -> dict[str, Any]:
    """The key of the checkpoint item an earlier version kept per source (and as a scope's mark)."""
    return to_item({PARTITION_KEY: source_partition(key), SORT_KEY: CHECKPOINT_SK})


class Update:
    """An UpdateItem's SET and REMOVE clauses with their names and values, built a clause at a time
    (every attribute through a name placeholder: several are DynamoDB reserved words)."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def _name(self, name: str) -> str:
        self.names[f"#{name}"] = name
        return f"#{name}"

    def set(self, name: str, value: object, *, if_absent: bool = False) -> None:
        """`name` = `value`; kept as it is where it already exists, `if_absent`; None: left out."""
        if value is None:
            return
        attribute, placeholder = self._name(name), f":{name}"
        self.values[placeholder] = value
        self.sets.append(
            f"{attribute} = if_not_exists({attribute}, {placeholder})"
            if if_absent
            else f"{attribute} = {placeholder}"
        )

    def remove(self, name: str) -> None:
        self.removes.append(self._name(name))

    def expression(self) -> str:
        clauses = [f"SET {', '.join(self.sets)}"] if self.sets else []
        if self.removes:
            clauses.append(f"REMOVE {', '.join(self.removes)}")
        return " ".join(clauses)

    def params(self, key: str, condition: str | None = None, **values: object) -> dict[str, Any]:
        """UpdateItem's arguments for the record `key` of the AUDIT partition (less TableName), with
        `condition` over the names above and `values` (placeholders without their colon)."""
        params: dict[str, Any] = {
            "Key": audit_key(key),
            "UpdateExpression": self.expression(),
            "ExpressionAttributeNames": dict(self.names),
            "ExpressionAttributeValues": to_item({**self.values, **{f":{k}": v for k, v in values.items()}}),
        }
        if condition:
            params["ConditionExpression"] = condition
        return params


def _identity(update: Update, source: Source, *, scope: bool = False) -> None:
    update.set("source", source.key)
    update.set("account", source.account)
    update.set("region", source.region)
    update.set("jobKind", source.spec.id)
    update.set("scopeIds", list(source.scope_ids) or None)
    if scope:
        update.set(RECORD_TYPE, SCOPE_RECORD)


def _checkpoint(update: Update, checkpoint: Checkpoint | None, *, if_absent: bool) -> None:
    if checkpoint is not None:
        update.set("lastRunStartedAt", timestamp(checkpoint.last_run_started_at), if_absent=if_absent)
        update.set("lastReconciledAt", _optional(checkpoint.last_reconciled_at), if_absent=if_absent)


def last_audit_update(source: Source, audit: LastAudit) -> Update:
    """The one write of a source's run: how it ended (replacing the previous run's word), its first
    attempt (kept from the first write on), its checkpoint (moved where the run advanced it; else the
    checkpoint the run started from, written only where the record has none: an earlier version's
    checkpoint item, moved in), and no longer retired."""
    update = Update()
    _identity(update, source)
    update.set("startedAt", timestamp(audit.started_at))
    update.set("finishedAt", timestamp(audit.finished_at))
    # Its turn, unless the time budget cut it short: a source stopped early keeps its place in line.
    update.set("turnAt", None if audit.stopped else timestamp(audit.started_at))
    update.set("firstAttemptedAt", timestamp(audit.first_attempted_at or audit.started_at), if_absent=True)
    update.set("result", audit.result)
    update.set("error", audit.error)
    update.set("stoppedEarly", audit.stopped)
    update.set("transitions", audit.transitions)
    update.set("published", audit.published)
    update.set("jobsInFlight", audit.jobs_in_flight)
    update.set("checkpointAdvanced", audit.checkpoint_advanced)
    _checkpoint(update, audit.checkpoint, if_absent=not audit.checkpoint_advanced)
    if audit.error is None:
        update.remove("error")
    update.remove("retiredAt")
    update.remove("retiredReason")
    return update


def checkpoint_update(checkpoint: Checkpoint) -> Update:
    """The checkpoint alone: where a run that started later has already recorded its audit."""
    update = Update()
    _checkpoint(update, checkpoint, if_absent=False)
    return update


def scope_update(scope: Source, now: datetime, *, enumerated: bool) -> Update:
    """A discovered scope's record: its first attempt, and when its knowledge bases were first listed."""
    update = Update()
    _identity(update, scope, scope=True)
    update.set("firstAttemptedAt", timestamp(now), if_absent=True)
    if enumerated:
        update.set("enumeratedAt", timestamp(now), if_absent=True)
    return update


def retire_update(source: Source, reason: str, now: datetime) -> Update:
    update = Update()
    _identity(update, source)
    update.set("retiredAt", timestamp(now))
    update.set("retiredReason", reason)
    return update


def audit_record_of(plain: Mapping[str, Any]) -> AuditRecord:
    """A plain (deserialized) record of the AUDIT partition -> what the planner reads of it. A record
    an earlier version wrote has no first attempt: the run it records is the earliest one known."""
    first = _when(plain.get("firstAttemptedAt"))
    started = _when(plain.get("startedAt"))
    last_run = _when(plain.get("lastRunStartedAt"))
    return AuditRecord(
        key=str(plain[SORT_KEY]),
        account=str(plain.get("account", "")),
        region=str(plain.get("region", "")),
        job_kind=str(plain.get("jobKind", "")),
        scope_ids=tuple(str(i) for i in plain.get("scopeIds") or ()),
        is_scope=plain.get(RECORD_TYPE) == SCOPE_RECORD,
        checkpoint=Checkpoint(last_run, _when(plain.get("lastReconciledAt"))) if last_run else None,
        first_attempted_at=first or started,
        last_started_at=started,
        last_turn_at=_when(plain.get("turnAt")) or (started if first is None else None),
        enumerated=plain.get("enumeratedAt") is not None,
        retired=plain.get("retiredReason"),
        legacy=first is None,
    )


def with_legacy_checkpoint(record: AuditRecord, checkpoint: Checkpoint) -> AuditRecord:
    """A record with the checkpoint item an earlier version kept for it (a source's checkpoint; a
    scope's mark: its knowledge bases were enumerated), where the record holds none of its own."""
    first = record.first_attempted_at or checkpoint.last_run_started_at
    if record.is_scope:
        return record._replace(enumerated=True, first_attempted_at=first, legacy=True)
    if record.checkpoint is not None:
        return record
    return record._replace(checkpoint=checkpoint, first_attempted_at=first, legacy=True)


def last_audit_of(plain: Mapping[str, Any]) -> LastAudit:
    """A plain (deserialized) last-audit item -> the record."""
    last_run = _when(plain.get("lastRunStartedAt"))
    return LastAudit(
        started_at=parse_timestamp(plain["startedAt"]),
        finished_at=parse_timestamp(plain["finishedAt"]),
        error=plain.get("error"),
        stopped=bool(plain.get("stoppedEarly", False)),
        transitions=int(plain.get("transitions", 0)),
        published=int(plain.get("published", 0)),
        jobs_in_flight=int(plain.get("jobsInFlight", 0)),
        checkpoint_advanced=bool(plain.get("checkpointAdvanced", False)),
        checkpoint=Checkpoint(last_run, _when(plain.get("lastReconciledAt"))) if last_run else None,
    )


def history_key(t: Transition) -> dict[str, Any]:
    """Where a transition's history item is: under its source, by observation time and eventId."""
    return to_item(
        {
            PARTITION_KEY: source_pk(t.source),
            SORT_KEY: f"{HISTORY_PREFIX}{timestamp(t.observed_at)}{KEY_SEPARATOR}{t.event_id}",
        }
    )


def history_item(claim: Claim, now: datetime, expires: int) -> dict[str, Any]:
    """A finished transition: the channels that took it (`channels`) and those that gave up on it
    (`parkedChannels`, kept under PARKED until re-driven)."""
    t, deliveries = claim.transition, claim.deliveries
    return history_key(t) | to_item(
        {
            "eventId": t.event_id,
            "jobId": t.job.job_id,
            "transition": t.type,
            "previousStatus": t.previous_status,
            "status": t.status,
            "publishedAt": timestamp(now),
            "detail": json.dumps(build_detail(t)),
            # The transition as it was published: `job-auditor replay` decodes it as a re-claim does.
            "publishedTransition": encode_transition(t),
            "channels": set(deliveries.delivered) or None,
            "parkedChannels": set(deliveries.parked) or None,
            TTL_ATTRIBUTE: expires,
        }
    )


def parked_key(t: Transition) -> dict[str, Any]:
    """Where a transition parked for operators is: in the one PARKED partition."""
    return to_item({PARTITION_KEY: PARKED_PK, SORT_KEY: f"{t.source.key}{KEY_SEPARATOR}{t.event_id}"})


def parked_item(parked: Parked) -> dict[str, Any]:
    """Kept without expiry until every channel that gave up on it has taken it (re-driven)."""
    t = parked.transition
    return parked_key(t) | to_item(
        {
            "source": t.source.key,
            "eventId": t.event_id,
            "jobId": t.job.job_id,
            "status": t.status,
            "channels": dict(parked.channels),
            # Parked for a passing reason: the automatic re-drive tries these channels again.
            "retryable": set(parked.retryable) or None,
            "reason": "; ".join(f"{channel}: {why}" for channel, why in sorted(parked.channels.items())),
            "parkedAt": timestamp(parked.parked_at),
            "transition": encode_transition(t),
            "detail": json.dumps(build_detail(t)),
        }
    )


def parked_of(plain: Mapping[str, Any]) -> Parked:
    """A plain (deserialized) parked item -> the parked transition. Items parked before channels
    were kept apart name no channel: every channel gave up on them then."""
    channels = plain.get("channels")
    if not isinstance(channels, Mapping):
        channels = {"eventbridge": str(plain.get("reason") or "parked")}
    return Parked(
        transition=decode_transition(str(plain["transition"])),
        channels=MappingProxyType({str(k): str(v) for k, v in channels.items()}),
        retryable=frozenset(str(c) for c in plain.get("retryable") or ()),
        parked_at=parse_timestamp(str(plain["parkedAt"])),
    )


def encode_deliveries(deliveries: Deliveries) -> str:
    """A claim's delivery state as the job item keeps it (`pendingDeliveries`)."""
    return json.dumps(
        {
            "channels": None if deliveries.channels is None else sorted(deliveries.channels),
            "delivered": sorted(deliveries.delivered),
            "parked": dict(deliveries.parked),
            "retryable": sorted(deliveries.retryable),
            "failingSince": {c: timestamp(when) for c, when in deliveries.failing_since.items()},
            "errors": dict(deliveries.errors),
            "attempts": deliveries.attempts,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def deliveries_of(plain: Mapping[str, Any]) -> Deliveries:
    """A job item's delivery state: none yet for a claim never refused (or written before channels
    were kept apart: then its `pendingAttempts`)."""
    text = plain.get("pendingDeliveries")
    if not isinstance(text, str) or not text:
        return Deliveries(attempts=int(plain.get("pendingAttempts", 0)))
    data = json.loads(text)
    channels = data.get("channels")
    return Deliveries(
        channels=None if channels is None else frozenset(channels),
        delivered=frozenset(data.get("delivered", ())),
        parked=MappingProxyType(dict(data.get("parked", {}))),
        retryable=frozenset(data.get("retryable", ())),
        failing_since=MappingProxyType(
            {c: parse_timestamp(when) for c, when in data.get("failingSince", {}).items()}
        ),
        errors=MappingProxyType(dict(data.get("errors", {}))),
        attempts=int(data.get("attempts", 0)),
    )


def encode_transition(t: Transition) -> str:
    job = t.job
    return json.dumps(
        {
            "source": {
                "account": t.source.account,
                "region": t.source.region,
                "kind": t.source.spec.id,
                "scopeIds": list(t.source.scope_ids),
                # What claims written before scopes had several levels carried; still read.
                "knowledgeBaseId": t.source.knowledge_base_id,
            },
            "job": {
                "jobId": job.job_id,
                "status": job.status,
                "createdAt": timestamp(job.created_at),
                "name": job.name,
                "arn": job.arn,
                "lastModifiedAt": _optional(job.last_modified_at),
                "endedAt": _optional(job.ended_at),
                "failureMessage": job.failure_message,
                "details": dict(job.details),
            },
            "kind": t.type,  # the key pending claims written before the rename carry too
            "previousStatus": t.previous_status,
            "previousSequence": t.previous_sequence,
            "observedAt": timestamp(t.observed_at),
            "stuckSince": _optional(t.stuck_since),
            "reason": t.reason,
        }
    )


def decode_transition(text: str) -> Transition:
    data = json.loads(text)
    src, job = data["source"], data["job"]
    scope_ids = src.get("scopeIds")
    if scope_ids is None:
        scope_ids = [src["knowledgeBaseId"]] if src.get("knowledgeBaseId") else []
    source = Source(src["account"], src["region"], JOB_KINDS[src["kind"]], tuple(scope_ids))
    observed = ObservedJob(
        job_id=job["jobId"],
        status=job["status"],
        created_at=parse_timestamp(job["createdAt"]),
        name=job["name"],
        arn=job["arn"],
        last_modified_at=_when(job["lastModifiedAt"]),
        ended_at=_when(job["endedAt"]),
        failure_message=job["failureMessage"],
        details=MappingProxyType(job.get("details") or {}),
    )
    return Transition(
        source=source,
        job=observed,
        type=data["kind"],  # the key items written before the rename carry
        previous_status=data["previousStatus"],
        previous_sequence=int(data["previousSequence"]),
        observed_at=parse_timestamp(data["observedAt"]),
        stuck_since=_when(data.get("stuckSince")),
        reason=data.get("reason"),
    )
