"""How the state store's records look as DynamoDB items: job items (with a pending claim), checkpoints,
history and parked transitions. Pure encoding; the calls are in `state_store`."""

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
from job_auditor.auditor.domain.sweep import SweepProgress, SweepState
from job_auditor.auditor.ports import LastAudit
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
        "lastEventId": event_id,
        "updatedAt": timestamp(now),
    }
    # Sparse index: only jobs still followed carry its key.
    if state.tracked(source.spec):
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
    )


def checkpoint_item(source: Source, checkpoint: Checkpoint, now: datetime) -> dict[str, Any]:
    return to_item(
        {
            PARTITION_KEY: source_pk(source),
            SORT_KEY: CHECKPOINT_SK,
            "lastRunStartedAt": timestamp(checkpoint.last_run_started_at),
            "lastReconciledAt": _optional(checkpoint.last_reconciled_at),
            "updatedAt": timestamp(now),
        }
    )


def checkpoint_of(item: Mapping[str, Any]) -> Checkpoint:
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


def last_audit_item(source: Source, audit: LastAudit) -> dict[str, Any]:
    """The latest run's audit of a source, keyed by the source under AUDIT_PK."""
    return to_item(
        {
            PARTITION_KEY: AUDIT_PK,
            SORT_KEY: source.key,
            "source": source.key,
            "account": source.account,
            "region": source.region,
            "jobKind": source.spec.id,
            "scopeIds": list(source.scope_ids) or None,
            "startedAt": timestamp(audit.started_at),
            "finishedAt": timestamp(audit.finished_at),
            "result": audit.result,
            "error": audit.error,
            "stoppedEarly": audit.stopped,
            "transitions": audit.transitions,
            "published": audit.published,
            "jobsInFlight": audit.jobs_in_flight,
            "checkpointAdvanced": audit.checkpoint_advanced,
        }
    )


def last_audit_of(plain: Mapping[str, Any]) -> LastAudit:
    """A plain (deserialized) last-audit item -> the record."""
    return LastAudit(
        started_at=parse_timestamp(plain["startedAt"]),
        finished_at=parse_timestamp(plain["finishedAt"]),
        error=plain.get("error"),
        stopped=bool(plain.get("stoppedEarly", False)),
        transitions=int(plain.get("transitions", 0)),
        published=int(plain.get("published", 0)),
        jobs_in_flight=int(plain.get("jobsInFlight", 0)),
        checkpoint_advanced=bool(plain.get("checkpointAdvanced", False)),
    )


def history_item(t: Transition, now: datetime, expires: int) -> dict[str, Any]:
    return to_item(
        {
            PARTITION_KEY: source_pk(t.source),
            SORT_KEY: f"{HISTORY_PREFIX}{timestamp(t.observed_at)}{KEY_SEPARATOR}{t.event_id}",
            "eventId": t.event_id,
            "jobId": t.job.job_id,
            "transition": t.type,
            "previousStatus": t.previous_status,
            "status": t.status,
            "publishedAt": timestamp(now),
            "detail": json.dumps(build_detail(t)),
            # The transition as it was published: `job-auditor replay` decodes it as a re-claim does.
            "publishedTransition": encode_transition(t),
            TTL_ATTRIBUTE: expires,
        }
    )


def parked_item(t: Transition, reason: str, now: datetime) -> dict[str, Any]:
    """Kept without expiry until an operator has dealt with it."""
    return to_item(
        {
            PARTITION_KEY: PARKED_PK,
            SORT_KEY: f"{t.source.key}{KEY_SEPARATOR}{t.event_id}",
            "source": t.source.key,
            "eventId": t.event_id,
            "jobId": t.job.job_id,
            "status": t.status,
            "reason": reason,
            "parkedAt": timestamp(now),
            "transition": encode_transition(t),
            "detail": json.dumps(build_detail(t)),
        }
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
    )
