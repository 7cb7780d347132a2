"""Seeded, reproducible faults around the moto-backed AWS adapters (EventBridge, SNS, DynamoDB) and
crashes of an invocation at chosen points, injected with botocore event hooks on a boto3 Session.

The job APIs have their own fault plan inside the simulator (`simulator.faults.FaultPlan`); this is
the other half: what the auditor's *own* AWS calls can suffer.

* Retryable faults go in through `before-send`: the fabricated HTTP response (DynamoDB
  `ProvisionedThroughputExceededException`, EventBridge/SNS `InternalFailure` 500) passes through
  botocore's retry handler exactly as a real one would, so the adaptive retry mode is exercised.
* Faults that survived the SDK's retries go in through `before-call`, which short-circuits the whole
  call (retries included): a PutEvents answered with `FailedEntryCount` > 0 for some entries (the
  others really are delivered), a PutEvents or SNS PublishBatch that fails outright, a DynamoDB call
  that fails with throttling or with `ConditionalCheckFailedException`.
* A channel outage (`start_outage`): every call to one channel (the bus, the notification topic, the
  chat topic) fails with one error code (5xx, throttling, AccessDenied or a KMS error as a broken key
  policy gives, ResourceNotFound as a deleted bus gives) until a time on the world's clock.
* A crash (`SimulatedCrash`, a BaseException so no `except Exception` swallows it) is raised at an
  armed point: the n-th AWS call of the invocation, or a named point such as "after PutEvents" or
  "before the finalize BatchWriteItem" (between publish and commit). A Lambda timeout is the same
  thing seen from the outside: `virtual_ms_per_call` charges each call to a virtual clock and the
  invocation dies when its budget is spent (`remaining_ms` then drives `get_remaining_time_in_millis`).

Every decision draws from one `random.Random(seed)` in call order, so a seed replays a run.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.hooks import BaseEventHooks
from botocore.model import OperationModel

from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.contract.state_schema import AUDIT_PK

# Where an invocation can be made to crash, by name (event, and what the point means).
CRASH_POINTS: dict[str, tuple[str, str]] = {
    "before-claim": ("before-call.dynamodb.PutItem", "before a conditional claim write"),
    "after-claim": ("after-call.dynamodb.PutItem", "after a claim committed, before publishing"),
    "after-put-events": ("after-call.eventbridge.PutEvents", "after EventBridge took the events"),
    "after-sns-publish": ("after-call.sns.PublishBatch", "after SNS took the messages"),
    "before-finalize": ("before-call.dynamodb.BatchWriteItem", "published, before the commit"),
    "after-finalize": ("after-call.dynamodb.BatchWriteItem", "committed, before the audit record"),
    "mid-list": ("before-call.bedrock.ListModelImportJobs", "while listing"),
}


class SimulatedCrash(BaseException):
    """The invocation died here (process crash or Lambda timeout)."""

    def __init__(self, point: str) -> None:
        super().__init__(point)
        self.point = point


@dataclass
class AwsFaultRates:
    """Probabilities per call of the auditor's own AWS operations."""

    # EventBridge PutEvents: some entries fail (FailedEntryCount > 0), or the whole call fails.
    put_events_partial: float = 0.0
    put_events_error: float = 0.0
    # SNS PublishBatch: some entries fail, or the whole call fails.
    sns_partial: float = 0.0
    sns_error: float = 0.0
    # DynamoDB: a throttle the SDK retries, a throttle that outlived the retries, and a spurious
    # conditional-check failure on a conditional write (as if another run had won).
    dynamodb_throttle: float = 0.0
    dynamodb_error: float = 0.0
    dynamodb_conditional: float = 0.0


class _Raw:
    """The part of a urllib3 response AWSResponse reads."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _response(status: int, body: bytes, content_type: str = "application/x-amz-json-1.0") -> AWSResponse:
    headers = HTTPHeaders.from_dict({"Content-Type": content_type, "x-amzn-RequestId": "injected"})
    return AWSResponse("http://injected", status, headers, _Raw(body))


def _error(code: str, message: str, status: int) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "injected", "HTTPHeaders": {}},
    }
    return _response(status, b""), parsed


_CONDITIONAL_OPERATIONS = frozenset({"PutItem", "UpdateItem"})
_RACE_MARKERS = (b"#status = :previous", b"pendingEventId = :event")


@dataclass
class AwsFaultInjector:
    """Registers on a boto3 Session; see the module docstring. Not thread-safe (one run at a time)."""

    seed: int = 0
    rates: AwsFaultRates = field(default_factory=AwsFaultRates)
    # A passthrough session (no hooks) used to deliver the entries a partial PutEvents lets through.
    passthrough: boto3.session.Session | None = None
    virtual_ms_per_call: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible faults, not cryptography
        self.counts: Counter[str] = Counter()
        self.enabled = True
        self._crash_at_call: int | None = None
        self._crash_point: str | None = None
        self._crash_after: int = 0
        self._calls = 0
        self._budget_ms: int | None = None
        self._elapsed_ms = 0
        self._on_call: Callable[[str], None] | None = None
        self._passthrough_clients: ClientFactory | None = None
        # Jobs whose events EventBridge refuses every time (a poison transition), while enabled.
        self.poison_job_ids: set[str] = set()
        # While set, every write of the AUDIT partition (a source's record, which carries its checkpoint;
        # a scope's mark) fails as if throttled beyond the SDK's retries.
        self.fail_checkpoint_writes = False
        # Channel -> (until, error code): every call to it fails, while enabled. Topics are told apart
        # by `topic_channels` (topic ARN -> channel; any other topic is "sns").
        self.channel_outages: dict[str, tuple[datetime, str]] = {}
        # Channel -> calls its current outage refused: an outage refuses at least one (shared like
        # `channel_outages`).
        self.outage_refusals: dict[str, int] = {}
        self.topic_channels: dict[str, str] = {}

    # -- arming, per invocation -------------------------------------------------------------------
    def start_invocation(self, *, budget_ms: int | None = None) -> None:
        """Reset the per-invocation counters; `budget_ms` is the Lambda timeout to enforce."""
        self._calls = 0
        self._elapsed_ms = 0
        self._budget_ms = budget_ms
        self._crash_at_call = None
        self._crash_point = None
        self._crash_after = 0
        self._on_call = None

    def crash_at_call(self, n: int) -> None:
        """Crash at the n-th AWS call (any service) of the invocation."""
        self._crash_at_call = n

    def crash_at(self, point: str, occurrence: int = 1) -> None:
        """Crash at the `occurrence`-th time the invocation reaches a named point (`CRASH_POINTS`)."""
        if point not in CRASH_POINTS:
            raise ValueError(f"unknown crash point {point!r}; expected one of {sorted(CRASH_POINTS)}")
        self._crash_point = point
        self._crash_after = occurrence

    def on_call(self, hook: Callable[[str], None] | None) -> None:
        """Call `hook(event name)` before every AWS call of the invocation (e.g. to start an
        overlapping run at a chosen moment)."""
        self._on_call = hook

    def remaining_ms(self) -> int:
        """What `get_remaining_time_in_millis` answers under the virtual clock."""
        if self._budget_ms is None:
            # As FakeLambdaContext: within the claim lease, which the handler checks.
            return 300_000
        return self._budget_ms - self._elapsed_ms

    def start_outage(self, channel: str, until: datetime, code: str) -> None:
        """`channel` ("eventbridge", "sns", "chat") refuses every call with `code` until `until` (the
        world's clock, which moves datetime.now), and past it until it has refused a call: an outage
        the traffic did not meet in its length (the clock jumped, no transition to deliver) would test
        nothing."""
        self.channel_outages[channel] = (until, code)
        self.outage_refusals[channel] = 0

    def _outage(self, channel: str) -> tuple[AWSResponse, dict[str, Any]] | None:
        until, code = self.channel_outages.get(channel, (None, ""))
        if not self.enabled or until is None:
            return None
        if datetime.now(UTC) >= until and self.outage_refusals.get(channel, 0) > 0:
            return None
        self.outage_refusals[channel] = self.outage_refusals.get(channel, 0) + 1
        self.counts[f"{channel} outage (calls refused)"] += 1
        status = 500 if code in ("InternalFailure", "InternalError") else 400
        return _error(code, f"injected: {channel} outage", status)

    # -- registration -----------------------------------------------------------------------------
    def session(self, **kwargs: Any) -> boto3.session.Session:
        """A new boto3 Session with the hooks registered."""
        session = boto3.session.Session(**kwargs)
        self.register(session)
        return session

    def register(self, session: boto3.session.Session) -> None:
        events = session.events
        events.register_first("before-call.*.*", self._before_any_call)
        events.register("before-parameter-build.eventbridge.PutEvents", self._remember_params)
        events.register("before-parameter-build.sns.PublishBatch", self._remember_params)
        _answering(events, "before-call.eventbridge.PutEvents", self._put_events)
        _answering(events, "before-call.sns.PublishBatch", self._publish_batch)
        _answering(events, "before-call.dynamodb.*", self._dynamodb_call)
        _answering(events, "before-send.dynamodb.*", self._dynamodb_send)
        for point, (event, _) in CRASH_POINTS.items():
            events.register(event, self._point_hook(point))

    # -- hooks ------------------------------------------------------------------------------------
    def _draw(self, probability: float) -> bool:
        return probability > 0 and self.enabled and self._rng.random() < probability

    def _before_any_call(self, event_name: str, **_: Any) -> None:
        self._calls += 1
        self._elapsed_ms += self.virtual_ms_per_call
        if self._on_call is not None:
            self._on_call(event_name)
        if self._budget_ms is not None and self._elapsed_ms >= self._budget_ms:
            self.counts["LambdaTimeout"] += 1
            raise SimulatedCrash(f"lambda-timeout at {event_name}")
        if self._crash_at_call is not None and self._calls == self._crash_at_call:
            self.counts["Crash"] += 1
            raise SimulatedCrash(f"call {self._calls}: {event_name}")

    def _point_hook(self, point: str) -> Callable[..., None]:
        def hook(**_: Any) -> None:
            if self._crash_point != point:
                return
            self._crash_after -= 1
            if self._crash_after <= 0:
                self._crash_point = None
                self.counts["Crash"] += 1
                raise SimulatedCrash(point)

        return hook

    @staticmethod
    def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["injector_params"] = dict(params)

    def _passthrough(self) -> ClientFactory:
        """Clients on the passthrough session, with the SDK's default configuration."""
        if self._passthrough_clients is None:
            session = self.passthrough or boto3.session.Session()
            self._passthrough_clients = ClientFactory(session, config=Config())
        return self._passthrough_clients

    def _poisoned(self, entries: list[dict[str, Any]]) -> set[int]:
        if not self.enabled or not self.poison_job_ids:
            return set()
        return {
            i
            for i, entry in enumerate(entries)
            if json.loads(entry["Detail"]).get("jobId") in self.poison_job_ids
        }

    def _put_events(self, context: dict[str, Any], **kwargs: Any) -> tuple[AWSResponse, Any] | None:
        if down := self._outage("eventbridge"):
            return down
        if self._draw(self.rates.put_events_error):
            self.counts["PutEventsError"] += 1
            return _error("InternalFailure", "injected PutEvents failure", 500)
        entries = list(context["injector_params"]["Entries"])
        poisoned = self._poisoned(entries)
        failing = set(poisoned)
        if self._draw(self.rates.put_events_partial):
            self.counts["PutEventsPartialFailure"] += 1
            failing |= {i for i in range(len(entries)) if self._rng.random() < 0.5} or {0}
        if not failing:
            return None
        passing = [e for i, e in enumerate(entries) if i not in failing]
        if passing:
            self._passthrough()("events", _region(kwargs)).put_events(Entries=passing)
        self.counts["PutEventsFailedEntries"] += len(failing - poisoned)
        self.counts["PutEventsPoisonRefused"] += len(poisoned)
        parsed = {
            "FailedEntryCount": len(failing),
            "Entries": [
                {"ErrorCode": "ValidationException", "ErrorMessage": "injected: poison"}
                if i in poisoned
                else {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}
                if i in failing
                else {"EventId": f"injected-{i}"}
                for i in range(len(entries))
            ],
            "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "injected", "HTTPHeaders": {}},
        }
        return _response(200, json.dumps(parsed).encode()), parsed

    def _publish_batch(self, context: dict[str, Any], **kwargs: Any) -> tuple[AWSResponse, Any] | None:
        topic = str(context["injector_params"].get("TopicArn", ""))
        if down := self._outage(self.topic_channels.get(topic, "sns")):
            return down
        if self._draw(self.rates.sns_error):
            self.counts["SnsError"] += 1
            return _error("InternalError", "injected SNS failure", 500)
        if not self._draw(self.rates.sns_partial):
            return None
        params = context["injector_params"]
        entries = list(params["PublishBatchRequestEntries"])
        failing = {i for i in range(len(entries)) if self._rng.random() < 0.5} or {0}
        passing = [e for i, e in enumerate(entries) if i not in failing]
        if passing:
            client = self._passthrough()("sns", _region(kwargs))
            client.publish_batch(TopicArn=params["TopicArn"], PublishBatchRequestEntries=passing)
        self.counts["SnsPartialFailure"] += 1
        parsed = {
            "Successful": [{"Id": e["Id"], "MessageId": "injected"} for e in passing],
            "Failed": [
                {"Id": entries[i]["Id"], "Code": "InternalError", "SenderFault": False}
                for i in sorted(failing)
            ],
            "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "injected", "HTTPHeaders": {}},
        }
        return _response(200, b""), parsed

    def _dynamodb_call(
        self, model: OperationModel, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, Any] | None:
        record = f'"{AUDIT_PK}"'.encode()
        if self.fail_checkpoint_writes and model.name == "UpdateItem" and record in _body(params):
            self.counts["CheckpointWriteFailed"] += 1
            return _error("ProvisionedThroughputExceededException", "injected: checkpoint write failed", 400)
        if self._draw(self.rates.dynamodb_error):
            self.counts["DynamoDBThrottledOutOfRetries"] += 1
            return _error("ProvisionedThroughputExceededException", "injected: throttled out of retries", 400)
        text = _body(params)
        # Only where losing the race to another run leaves the item as it was: a re-claim of a known
        # job, a take-over or a release of a claim. A failed claim of a *new* job means another run
        # wrote the item; injecting that failure without the write is a fault DynamoDB cannot produce.
        conditional = model.name in _CONDITIONAL_OPERATIONS and any(m in text for m in _RACE_MARKERS)
        if conditional and self._draw(self.rates.dynamodb_conditional):
            self.counts["ConditionalCheckFailed"] += 1
            return _error("ConditionalCheckFailedException", "injected: the conditional request failed", 400)
        return None

    def _dynamodb_send(self, **_: Any) -> AWSResponse | None:
        if not self._draw(self.rates.dynamodb_throttle):
            return None
        self.counts["DynamoDBThrottle"] += 1
        body = {
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "injected: the level of configured provisioned throughput was exceeded",
        }
        return _response(400, json.dumps(body).encode())


def _answering(events: BaseEventHooks, event_name: str, handler: Callable[..., object]) -> None:
    """Register a hook whose return value answers the call: botocore takes the first response a
    before-call hook returns ((http response, parsed)) or a before-send hook returns (an
    AWSResponse) in place of the service's. botocore-stubs types every handler as returning None."""
    events.register(event_name, handler)  # type: ignore[arg-type]


def _body(params: dict[str, Any]) -> bytes:
    body = params.get("body") or b""
    return body if isinstance(body, bytes) else str(body).encode()


def _region(kwargs: dict[str, Any]) -> str:
    signer = kwargs.get("request_signer")
    return str(getattr(signer, "_region_name", None) or "us-east-1")
