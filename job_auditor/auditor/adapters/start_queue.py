"""`StartFeed` on the SQS queue a rule on the default event bus fills with the CloudTrail events of the
kinds' Start calls (infra/start_discovery.py; contract.discovery).

The queue is drained at the start of a run, up to MAX_MESSAGES_PER_RUN: a backlog after an outage takes
a few runs (the sweep finds whatever expires before). A message is deleted only once it is of no more
use: its job recorded (the source auditor acknowledges it), or the event malformed, a refused call,
for another account or region, or for a scope no run audits (logged and counted here). Anything else
comes back after the queue's visibility timeout, to the next run. A message received too often goes to
the dead-letter queue (the queue's redrive policy), where it harms nothing: the sweep lists its job.

Only the deploying account's jobs in the function's own region are announced: CloudTrail delivers an
API call's event to the default bus of the account and region it was made in.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from job_auditor.auditor.domain.jobs import JOB_KINDS, JobKindSpec, Source
from job_auditor.auditor.ports import AnnouncedStart, SourceError, StopCheck, never
from job_auditor.contract.discovery import CLOUDTRAIL_DETAIL_TYPE, event_source_name

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import DeleteMessageBatchRequestEntryTypeDef

logger = logging.getLogger(__name__)

# ReceiveMessage's and DeleteMessageBatch's limit.
_BATCH = 10
# Messages received per run at most: a thousand Gets at eight at a time is about ten seconds.
MAX_MESSAGES_PER_RUN = 1000
# Long polling (asks every SQS server, unlike a short poll): one second, paid once when it runs dry.
_WAIT_SECONDS = 1


@dataclass(frozen=True)
class _Parsed:
    """What one event announces: the source key it belongs to and its job."""

    kind: JobKindSpec
    account: str
    region: str
    scope_ids: tuple[str, ...]
    job_id: str | None
    at: datetime

    @property
    def key(self) -> str:
        return "/".join((self.account, self.region, self.kind.id, *self.scope_ids))

    @property
    def unscoped(self) -> str:
        return "/".join((self.account, self.region, self.kind.id))


class SqsStartFeed:
    """Job starts announced on an SQS queue for the sources of `account` in `region`."""

    def __init__(
        self,
        client: SQSClient,
        queue_url: str,
        *,
        account: str,
        region: str,
        kinds: Collection[str],
        max_messages: int = MAX_MESSAGES_PER_RUN,
    ) -> None:
        self._sqs = client
        self._url = queue_url
        self._account = account
        self._region = region
        self._kinds = frozenset(k for k in kinds if JOB_KINDS[k].start_event is not None)
        self._max = max_messages
        self._taken: dict[str, list[AnnouncedStart]] = {}
        self.skipped: Counter[str] = Counter()

    def covers(self, source: Source) -> bool:
        return (
            source.account == self._account
            and source.region == self._region
            and source.spec.id in self._kinds
        )

    def take(
        self, sources: Sequence[Source], expanded: Collection[str], should_stop: StopCheck = never
    ) -> None:
        wanted = {source.key for source in sources if self.covers(source)}
        self._taken = {}
        self.skipped = Counter()
        done: list[str] = []
        received = 0
        while received < self._max and not should_stop():
            messages = self._receive(min(_BATCH, self._max - received))
            if not messages:
                break
            received += len(messages)
            for message in messages:
                receipt = message["ReceiptHandle"]
                reason, parsed = self._parse(message.get("Body"))
                if parsed is not None and parsed.key in wanted:
                    start = AnnouncedStart(parsed.job_id, parsed.at, receipt)
                    self._taken.setdefault(parsed.key, []).append(start)
                    continue
                if parsed is not None and parsed.unscoped not in expanded:
                    continue  # a scope this run did not reach (not discovered yet): a later run takes it
                reason = reason or "scope-not-audited"
                self.skipped[reason] += 1
                done.append(receipt)
        self._delete(done)
        if self.skipped:
            logger.warning("announced job starts skipped", extra={"skipped": dict(self.skipped)})
        logger.info(
            "announced job starts taken",
            extra={"received": received, "sources": len(self._taken), "skipped": sum(self.skipped.values())},
        )

    def starts(self, source: Source) -> list[AnnouncedStart]:
        return list(self._taken.get(source.key, []))

    def acknowledge(self, starts: Sequence[AnnouncedStart]) -> None:
        self._delete([start.receipt for start in starts])

    # -- events ---------------------------------------------------------------------------------
    def _parse(self, body: object) -> tuple[str | None, _Parsed | None]:
        """(why it is of no use, None) or (None, what it announces)."""
        event = _json(body)
        detail = event.get("detail") if event is not None else None
        if event is None or not isinstance(detail, dict):
            return "malformed-event", None
        kind = _kind_of(event, detail)
        account = detail.get("recipientAccountId") or event.get("account")
        region = detail.get("awsRegion") or event.get("region")
        checks = (
            (event.get("detail-type") != CLOUDTRAIL_DETAIL_TYPE, "not-an-api-call"),
            (bool(detail.get("errorCode")), "refused-call"),
            (kind is None, "not-a-start-call"),
            (account != self._account, "other-account"),
            (region != self._region, "other-region"),
            (kind is not None and kind.id not in self._kinds, "kind-not-audited"),
        )
        reason = next((why for failed, why in checks if failed), None)
        scope_ids = _scope_ids(kind, detail.get("requestParameters")) if kind is not None else None
        if reason is not None or kind is None or scope_ids is None:
            return reason or "malformed-event", None
        at = _time(detail.get("eventTime")) or _time(event.get("time")) or datetime.now(UTC)
        job_id = _job_id(kind, detail.get("responseElements"))
        return None, _Parsed(kind, self._account, self._region, scope_ids, job_id, at)

    # -- calls ----------------------------------------------------------------------------------
    def _receive(self, count: int) -> list[Mapping[str, Any]]:
        try:
            response = self._sqs.receive_message(
                QueueUrl=self._url, MaxNumberOfMessages=count, WaitTimeSeconds=_WAIT_SECONDS
            )
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"SQS ReceiveMessage failed: {exc}", code=_code(exc)) from exc
        return list(response.get("Messages", []))

    def _delete(self, receipts: Sequence[str]) -> None:
        """Delete in batches; a failed delete is logged (the message only comes back)."""
        unique = list(dict.fromkeys(receipts))
        for start in range(0, len(unique), _BATCH):
            chunk = unique[start : start + _BATCH]
            entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
                {"Id": str(n), "ReceiptHandle": receipt} for n, receipt in enumerate(chunk)
            ]
            try:
                response = self._sqs.delete_message_batch(QueueUrl=self._url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                logger.warning(
                    "could not delete announced starts", extra={"error": str(exc), "count": len(chunk)}
                )
                continue
            if response.get("Failed"):
                logger.warning("some announced starts not deleted", extra={"failed": response["Failed"]})


def _json(body: object) -> dict[str, Any] | None:
    try:
        event = json.loads(body) if isinstance(body, str) else None
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def _kind_of(event: Mapping[str, Any], detail: Mapping[str, Any]) -> JobKindSpec | None:
    """The registered kind whose Start call this is (event source and name, and the EventBridge
    source that goes with the event source)."""
    source, name = detail.get("eventSource"), detail.get("eventName")
    for spec in JOB_KINDS.values():
        start = spec.start_event
        if start is None or source not in start.event_sources or name not in start.event_names:
            continue
        if event.get("source") in (None, event_source_name(str(source))):
            return spec
    return None


def _scope_ids(kind: JobKindSpec, request: object) -> tuple[str, ...] | None:
    """The scope ids the call named (an id, or its ARN: the last part of its resource path)."""
    if not isinstance(request, Mapping):
        return None if kind.scope_params else ()
    ids = []
    for param in kind.scope_params:
        value = request.get(param)
        if not isinstance(value, str) or not value:
            return None
        ids.append(value.rsplit("/", 1)[-1] if value.startswith("arn:") else value)
    return tuple(ids)


def _job_id(kind: JobKindSpec, response: object) -> str | None:
    """The new job's id; None where CloudTrail left the response out (the run then lists the source)."""
    value: object = response
    for part in kind.start_event.job_id_path if kind.start_event else ():
        value = value.get(part) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) and value else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _code(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Error"))
    return type(exc).__name__
