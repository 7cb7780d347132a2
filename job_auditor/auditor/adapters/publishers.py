"""Publishers: EventBridge PutEvents and SNS PublishBatch, resending only what failed, with backoff;
the one table of which refusals are final for an entry; the digest on people's channels."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, NotRequired, TypedDict, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.digest import Digest
from job_auditor.auditor.domain.events import build_detail, build_event, entry_size
from job_auditor.auditor.domain.notifications import (
    FilterPolicy,
    attributes,
    chat_notification,
    matches,
    sns_message,
    subject,
)
from job_auditor.auditor.ports import PublishResult

if TYPE_CHECKING:
    # Type stubs (requirements-dev.txt): for mypy only, never imported at run time.
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef, PublishBatchRequestEntryTypeDef

logger = logging.getLogger(__name__)

MAX_ENTRIES_PER_CALL = 10
# A request's total: SNS PublishBatch takes 256 KB (by default), PutEvents 1 MB since 2026-01 (256 KB
# before); the stricter bound serves both.
MAX_REQUEST_BYTES = 256 * 1024
# An entry larger than a whole request on its own: never sent, refused for good.
ENTRY_TOO_LARGE = "EntryTooLarge"

# Refusals that are final for that entry: the channel would refuse the same entry again whatever its
# health (a malformed or oversized entry, a parameter it does not take), so that channel parks it at
# once. Every other refusal (throttling, 5xx, InternalFailure, access denied, KMS key errors, a bus or
# topic that does not exist) is a state of the channel that AWS, a deploy or an operator fixes: it is
# retried with back-off for PUBLISH_RETRY_HOURS. Codes: EventBridge's PutEventsResultEntry and
# common errors, SNS's PublishBatch errors and BatchResultErrorEntry.
PERMANENT_ERRORS = frozenset(
    {
        # EventBridge
        "ValidationException",
        "InvalidArgument",
        "MalformedDetail",
        # SNS
        "InvalidParameter",
        "InvalidParameterValue",
        "InvalidParameterException",
        "BatchRequestTooLong",
        # ours
        ENTRY_TOO_LARGE,
    }
)


# The channels' names, as claims and parked transitions record them (each publisher's `name`).
CHANNEL_NAMES = ("eventbridge", "sns", "chat")


def is_permanent(code: str) -> bool:
    """Whether a channel's refusal with `code` is final for that entry (PERMANENT_ERRORS)."""
    return code in PERMANENT_ERRORS


_T = TypeVar("_T")
# A publisher's request entry: EventBridge's PutEvents entry, an SNS message before its batch Id.
_E = TypeVar("_E")


def _batches(items: Sequence[_T], size_of: Callable[[_T], int]) -> Iterator[list[_T]]:
    """At most 10 items and 256 KB per batch, in order."""
    batch: list[_T] = []
    total = 0
    for item in items:
        size = size_of(item)
        if batch and (len(batch) == MAX_ENTRIES_PER_CALL or total + size > MAX_REQUEST_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += size
    if batch:
        yield batch


class CallFailed(Exception):
    """A whole request failed (after the SDK's own retries)."""

    def __init__(self, exc: ClientError | BotoCoreError) -> None:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            self.code = str(error.get("Code", "Error"))
            message = str(error.get("Message") or exc)
        else:
            self.code, message = type(exc).__name__, str(exc)
        super().__init__(f"{self.code}: {message}"[:500])


# A transition with its request entry and the entry's size against the 256 KB request limit.
Rendered = tuple[Transition, _E, int]
# An entry the channel refused: the transition, the error code and message.
Refusal = tuple[Transition, str, str]


class _RetryingPublisher(Generic[_E]):
    """Renders each transition once into its request entry, sends batches, and resends only the
    entries that failed for a passing reason, with exponential backoff and jitter. A whole request
    that fails for a passing reason has been retried by the SDK already: the channel is down, and the
    rest of this publish is not sent (a down channel costs one request per run, not one per batch).
    A whole request refused for good (too large, invalid) is sent again entry by entry, so one bad
    entry does not take the others with it."""

    name = "publisher"

    def __init__(
        self,
        max_attempts: int = 5,
        base_delay: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._sleep = sleep
        self.requests = 0

    def _render(self, transition: Transition) -> tuple[_E, int]:
        """The request entry for one transition, and its size as the service counts it."""
        raise NotImplementedError

    def _send(self, batch: list[Rendered[_E]]) -> tuple[list[Transition], list[Refusal]]:
        """Send one batch: (delivered, refused); raises CallFailed if the whole request failed."""
        raise NotImplementedError

    def publish(self, transitions: Sequence[Transition]) -> PublishResult:
        return self._publish_rendered([(t, *self._render(t)) for t in transitions])

    def for_people(self, transitions: Sequence[Transition]) -> list[Transition]:
        """People read none of the bus's events."""
        return []

    def publish_digest(self, transitions: Sequence[Transition]) -> PublishResult:
        raise NotImplementedError(f"{self.name} carries no digest")

    def _publish_rendered(self, rendered: Sequence[Rendered[_E]]) -> PublishResult:
        result = PublishResult()
        for t, _, size in rendered:
            if size > MAX_REQUEST_BYTES:
                result.refused(ENTRY_TOO_LARGE)
                reason = f"{ENTRY_TOO_LARGE}: {size} bytes, over the {MAX_REQUEST_BYTES} of a request"
                result.give_up(t, reason, permanent=True)
        down: CallFailed | None = None
        sendable = [item for item in rendered if item[2] <= MAX_REQUEST_BYTES]
        for batch in _batches(sendable, lambda item: item[2]):
            if down is not None:
                for item in batch:
                    result.refused(down.code)
                    result.give_up(item[0], f"{down} (not sent: the channel was down)", permanent=False)
                continue
            down = self._send_batch(batch, result)
        return result

    def _send_batch(self, batch: list[Rendered[_E]], result: PublishResult) -> CallFailed | None:
        """One batch, resending entries refused for a passing reason; the failure of a whole request
        for a passing reason (the channel is down), if one happened."""
        pending = batch
        for attempt in range(self._max_attempts):
            if not pending:
                return None
            if attempt:
                self._sleep(self._base_delay * 2 ** (attempt - 1) * (1 + random.random()))  # noqa: S311
                logger.warning(
                    "resending failed entries", extra={"channel": self.name, "count": len(pending)}
                )
            self.requests += 1
            result.requests += 1
            try:
                delivered, refused = self._send(pending)
            except CallFailed as exc:
                return self._call_failed(exc, pending, result)
            result.delivered.extend(delivered)
            retry: set[str] = set()
            for t, code, message in refused:
                result.refused(code)
                if is_permanent(code) or attempt + 1 == self._max_attempts:
                    result.give_up(t, f"{code}: {message}"[:500], permanent=is_permanent(code))
                else:
                    retry.add(t.event_id)
            pending = [item for item in pending if item[0].event_id in retry]
        return None

    def _call_failed(
        self, exc: CallFailed, pending: list[Rendered[_E]], result: PublishResult
    ) -> CallFailed | None:
        if is_permanent(exc.code) and len(pending) > 1:
            # One entry may spoil a request the channel cannot take: each on its own.
            for item in pending:
                if (down := self._send_batch([item], result)) is not None:
                    return down
            return None
        for item in pending:
            result.refused(exc.code)
            result.give_up(item[0], str(exc), permanent=is_permanent(exc.code))
        return None if is_permanent(exc.code) else exc


class EventBridgePublisher(_RetryingPublisher["PutEventsRequestEntryTypeDef"]):
    """One event per transition on the configured bus."""

    name = "eventbridge"

    def __init__(
        self, client: EventBridgeClient, event_bus_name: str, event_source: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._client = client
        self._bus = event_bus_name
        self._source = event_source

    def _render(self, transition: Transition) -> tuple[PutEventsRequestEntryTypeDef, int]:
        event = build_event(transition, self._source)
        entry: PutEventsRequestEntryTypeDef = {
            "Source": event.source,
            "DetailType": event.detail_type,
            "Detail": event.detail_json(),
            "Resources": list(event.resources),
            "Time": event.time,
            "EventBusName": self._bus,
        }
        return entry, entry_size(event)

    def _send(
        self, batch: list[Rendered[PutEventsRequestEntryTypeDef]]
    ) -> tuple[list[Transition], list[Refusal]]:
        try:
            response = self._client.put_events(Entries=[entry for _, entry, _ in batch])
        except (ClientError, BotoCoreError) as exc:
            raise CallFailed(exc) from exc
        if not response.get("FailedEntryCount"):
            return [t for t, _, _ in batch], []
        delivered: list[Transition] = []
        refused: list[Refusal] = []
        # Result entries come back in request order; a failed one has an ErrorCode.
        for (transition, _, _), outcome in zip(batch, response.get("Entries", []), strict=False):
            if outcome.get("ErrorCode"):
                refused.append((transition, str(outcome["ErrorCode"]), str(outcome.get("ErrorMessage", ""))))
            else:
                delivered.append(transition)
        return delivered, refused


class SnsEntry(TypedDict):
    """An SNS PublishBatch entry without its Id (the Id is the entry's position in each request)."""

    Message: str
    Subject: NotRequired[str]
    MessageStructure: NotRequired[str]
    MessageAttributes: dict[str, MessageAttributeValueTypeDef]
    # FIFO topics only, never set: listed so that the entry spreads into a PublishBatch entry.
    MessageDeduplicationId: NotRequired[str]
    MessageGroupId: NotRequired[str]


def _sns_size(entry: SnsEntry) -> int:
    """Message and subject bytes, plus a generous allowance for the attributes."""
    attribute_bytes = sum(
        len(name) + len(value["StringValue"]) for name, value in entry["MessageAttributes"].items()
    )
    return len(entry["Message"].encode()) + len(entry.get("Subject", "").encode()) + 1024 + attribute_bytes


def _message_attributes(values: dict[str, str]) -> dict[str, MessageAttributeValueTypeDef]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def _digest_entry(digest: Digest, message: str, *, structured: bool) -> SnsEntry:
    entry: SnsEntry = {
        "Message": message,
        "MessageAttributes": _message_attributes(digest.message_attributes()),
    }
    if structured:
        entry["Subject"] = digest.subject()
        entry["MessageStructure"] = "json"
    return entry


class SnsPublisher(_RetryingPublisher[SnsEntry]):
    """One message per transition on the topic: a rendering per protocol, with attributes for
    subscription filter policies. People read what passes the notification filter (the subscriptions
    carry it; here it only says which transitions a digest covers)."""

    name = "sns"

    def __init__(
        self,
        client: SNSClient,
        topic_arn: str,
        event_source: str,
        filter_policy: FilterPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._client = client
        self._topic = topic_arn
        self._source = event_source
        self._filter = filter_policy

    def _render(self, transition: Transition) -> tuple[SnsEntry, int]:
        detail = build_event(transition, self._source).detail
        entry: SnsEntry = {
            "Subject": subject(detail),
            "Message": sns_message(detail),
            "MessageStructure": "json",
            "MessageAttributes": _message_attributes(attributes(detail)),
        }
        return entry, _sns_size(entry)

    def for_people(self, transitions: Sequence[Transition]) -> list[Transition]:
        return [t for t in transitions if matches(self._filter, attributes(build_detail(t)))]

    def _digest(self, digest: Digest) -> SnsEntry:
        return _digest_entry(digest, digest.sns_message(), structured=True)

    def publish_digest(self, transitions: Sequence[Transition]) -> PublishResult:
        """One message for all of them: delivered together, or failed together."""
        digest = Digest.of([build_detail(t) for t in transitions])
        entry = self._digest(digest)
        sent = self._publish_rendered([(transitions[0], entry, _sns_size(entry))])
        result = PublishResult(requests=sent.requests, errors=sent.errors)
        for t in transitions:
            if sent.delivered:
                result.delivered.append(t)
            else:
                reason = next(iter(sent.reasons.values()), "digest not delivered")
                result.give_up(t, reason, permanent=bool(sent.permanent))
        return result

    def _send(self, batch: list[Rendered[SnsEntry]]) -> tuple[list[Transition], list[Refusal]]:
        # Ids are positions in this request, so a resend numbers its entries afresh.
        entries: list[PublishBatchRequestEntryTypeDef] = [
            {"Id": str(i), **entry} for i, (_, entry, _) in enumerate(batch)
        ]
        try:
            response = self._client.publish_batch(TopicArn=self._topic, PublishBatchRequestEntries=entries)
        except (ClientError, BotoCoreError) as exc:
            raise CallFailed(exc) from exc
        failed = {f["Id"]: f for f in response.get("Failed", [])}
        delivered = [t for i, (t, _, _) in enumerate(batch) if str(i) not in failed]
        refused: list[Refusal] = [
            (t, str(failed[str(i)].get("Code", "Error")), str(failed[str(i)].get("Message", "")))
            for i, (t, _, _) in enumerate(batch)
            if str(i) in failed
        ]
        return delivered, refused


class ChatPublisher(SnsPublisher):
    """Custom notifications on the chat topic that Amazon Q Developer in chat applications
    subscribes to. Chatbot owns that subscription, so no filter policy can be set on it: the same
    filter the other subscriptions carry is applied here instead."""

    name = "chat"

    def _render(self, transition: Transition) -> tuple[SnsEntry, int]:
        detail = build_event(transition, self._source).detail
        entry: SnsEntry = {
            "Message": json.dumps(chat_notification(detail), ensure_ascii=False),
            "MessageAttributes": _message_attributes(attributes(detail)),
        }
        return entry, _sns_size(entry)

    def _digest(self, digest: Digest) -> SnsEntry:
        return _digest_entry(digest, json.dumps(digest.chat(), ensure_ascii=False), structured=False)

    def publish(self, transitions: Sequence[Transition]) -> PublishResult:
        wanted = self.for_people(transitions)
        result = self._publish_rendered([(t, *self._render(t)) for t in wanted])
        # Transitions the filter leaves out are delivered as far as this channel is concerned.
        wanted_ids = {t.event_id for t in wanted}
        result.delivered.extend(t for t in transitions if t.event_id not in wanted_ids)
        return result
