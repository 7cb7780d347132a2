"""Publishers: EventBridge PutEvents and SNS PublishBatch, resending only what failed, with backoff."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, NotRequired, TypedDict, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.events import build_event, entry_size
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
# PutEvents and SNS PublishBatch both cap a request at 256 KB in total.
MAX_REQUEST_BYTES = 256 * 1024


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


def _error_code(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Error"))
    return type(exc).__name__


# A transition with its request entry and the entry's size against the 256 KB request limit.
Rendered = tuple[Transition, _E, int]


class _RetryingPublisher(Generic[_E]):
    """Renders each transition once into its request entry, sends batches, and resends only the
    entries that failed, with exponential backoff and jitter."""

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

    def _send(self, batch: list[Rendered[_E]]) -> tuple[list[Transition], list[tuple[Transition, str]]]:
        """Send one batch: (delivered, [(failed, error code)])."""
        raise NotImplementedError

    def publish(self, transitions: Sequence[Transition]) -> PublishResult:
        return self._publish_rendered([(t, *self._render(t)) for t in transitions])

    def _publish_rendered(self, rendered: Sequence[Rendered[_E]]) -> PublishResult:
        result = PublishResult()
        for batch in _batches(rendered, lambda item: item[2]):
            pending: list[Rendered[_E]] = batch
            for attempt in range(self._max_attempts):
                if attempt:
                    self._sleep(self._base_delay * 2 ** (attempt - 1) * (1 + random.random()))  # noqa: S311
                self.requests += 1
                result.requests += 1
                delivered, failed = self._send(pending)
                result.delivered.extend(delivered)
                for _, code in failed:
                    result.errors[code] = result.errors.get(code, 0) + 1
                failed_ids = {t.event_id for t, _ in failed}
                pending = [item for item in pending if item[0].event_id in failed_ids]
                if not pending:
                    break
                logger.warning(
                    "resending failed entries", extra={"channel": self.name, "count": len(pending)}
                )
            result.failed.extend(item[0] for item in pending)
        return result


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
    ) -> tuple[list[Transition], list[tuple[Transition, str]]]:
        try:
            response = self._client.put_events(Entries=[entry for _, entry, _ in batch])
        except (ClientError, BotoCoreError) as exc:
            return [], [(t, _error_code(exc)) for t, _, _ in batch]
        if not response.get("FailedEntryCount"):
            return [t for t, _, _ in batch], []
        delivered, failed = [], []
        # Result entries come back in request order; a failed one has an ErrorCode.
        for (transition, _, _), outcome in zip(batch, response.get("Entries", []), strict=False):
            if outcome.get("ErrorCode"):
                failed.append((transition, str(outcome["ErrorCode"])))
            else:
                delivered.append(transition)
        return delivered, failed


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
    return len(entry["Message"].encode()) + len(entry.get("Subject", "").encode()) + 1024


def _message_attributes(detail: dict[str, Any]) -> dict[str, MessageAttributeValueTypeDef]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in attributes(detail).items()}


class SnsPublisher(_RetryingPublisher[SnsEntry]):
    """One message per transition on the topic: a rendering per protocol, with attributes for
    subscription filter policies."""

    name = "sns"

    def __init__(self, client: SNSClient, topic_arn: str, event_source: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client = client
        self._topic = topic_arn
        self._source = event_source

    def _render(self, transition: Transition) -> tuple[SnsEntry, int]:
        detail = build_event(transition, self._source).detail
        entry: SnsEntry = {
            "Subject": subject(detail),
            "Message": sns_message(detail),
            "MessageStructure": "json",
            "MessageAttributes": _message_attributes(detail),
        }
        return entry, _sns_size(entry)

    def _send(self, batch: list[Rendered[SnsEntry]]) -> tuple[list[Transition], list[tuple[Transition, str]]]:
        # Ids are positions in this request, so a resend numbers its entries afresh.
        entries: list[PublishBatchRequestEntryTypeDef] = [
            {"Id": str(i), **entry} for i, (_, entry, _) in enumerate(batch)
        ]
        try:
            response = self._client.publish_batch(TopicArn=self._topic, PublishBatchRequestEntries=entries)
        except (ClientError, BotoCoreError) as exc:
            return [], [(t, _error_code(exc)) for t, _, _ in batch]
        failed_ids = {f["Id"]: str(f.get("Code", "Error")) for f in response.get("Failed", [])}
        delivered = [t for i, (t, _, _) in enumerate(batch) if str(i) not in failed_ids]
        failed = [(t, failed_ids[str(i)]) for i, (t, _, _) in enumerate(batch) if str(i) in failed_ids]
        return delivered, failed


class ChatPublisher(SnsPublisher):
    """Custom notifications on the chat topic that Amazon Q Developer in chat applications
    subscribes to. Chatbot owns that subscription, so no filter policy can be set on it: the same
    filter the other subscriptions carry is applied here instead."""

    name = "chat"

    def __init__(
        self,
        client: SNSClient,
        topic_arn: str,
        event_source: str,
        filter_policy: FilterPolicy | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(client, topic_arn, event_source, **kwargs)
        self._filter = filter_policy

    def _render(self, transition: Transition) -> tuple[SnsEntry, int]:
        detail = build_event(transition, self._source).detail
        entry: SnsEntry = {
            "Message": json.dumps(chat_notification(detail), ensure_ascii=False),
            "MessageAttributes": _message_attributes(detail),
        }
        return entry, _sns_size(entry)

    def publish(self, transitions: Sequence[Transition]) -> PublishResult:
        rendered = [(t, *self._render(t)) for t in transitions]
        wanted = [
            (t, entry, size)
            for t, entry, size in rendered
            if matches(self._filter, {k: v["StringValue"] for k, v in entry["MessageAttributes"].items()})
        ]
        result = self._publish_rendered(wanted)
        # Transitions the filter leaves out are delivered as far as this channel is concerned.
        wanted_ids = {t.event_id for t, _, _ in wanted}
        result.delivered.extend(t for t in transitions if t.event_id not in wanted_ids)
        return result
