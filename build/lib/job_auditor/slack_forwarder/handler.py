"""Lambda entry point: job-auditor transitions from SNS (protocol `lambda`) to a Slack incoming webhook.

Each SNS record's message is the event `detail` (envelope v1) as JSON; it is rendered as Block Kit
(`slack_forwarder.blocks`) and posted (`slack_forwarder.webhook`). A message that is not a transition
is posted as plain text and counted (`SlackUnrecognisedMessages`).

The webhook URL is the value of the Secrets Manager secret named by `WEBHOOK_SECRET_NAME` (the bare
URL, or JSON `{"url": "..."}`), read with Powertools Parameters and cached for five minutes. It must
be a Slack incoming-webhook URL (`slack_forwarder.webhook.check_url`); `SLACK_WEBHOOK_ALLOW_LOOPBACK=true`
lets it point at a loopback address instead, for local tests only: the stack never sets it.

A message that cannot be delivered is logged with the reason, counted (`SlackDeliveryFailures`) and
the invocation fails: SNS invokes Lambda asynchronously, so Lambda retries it and, once its retries
are spent, sends it to the function's on-failure destination (an SQS queue) for a person to replay.

A webhook cannot deduplicate, so the forwarder does: each message is posted at most once per
`eventId` (a message that is not a transition: per SNS message id) for a day, with Powertools
Idempotency on the table named by `IDEMPOTENCY_TABLE_NAME`. The auditor re-publishes a transition
with the same eventId after a lease takeover, and Lambda retries a whole invocation after a failed
record; a repeat of a delivered message is skipped and counted (`SlackRepeatsSkipped`). A failed
post raises inside the idempotent function, so Powertools deletes its in-progress record and the
retry posts.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    BaseError as IdempotencyError,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from job_auditor.contract.environment import ENVELOPE_VERSION
from job_auditor.contract.slack_forwarder import (
    IDEMPOTENCY_EXPIRY_ATTRIBUTE,
    IDEMPOTENCY_KEY_ATTRIBUTE,
    IDEMPOTENCY_TABLE_ENV,
)
from job_auditor.slack_forwarder.blocks import render, render_plain
from job_auditor.slack_forwarder.webhook import DeliveryOutcome, WebhookPoster, WebhookUrlError, check_url

logger = Logger()
tracer = Tracer()
metrics = Metrics()

SECRET_ENV = "WEBHOOK_SECRET_NAME"  # noqa: S105 (the variable that names the secret)
# Local tests post to a server on 127.0.0.1 over http; nothing deployed sets this.
ALLOW_LOOPBACK_ENV = "SLACK_WEBHOOK_ALLOW_LOOPBACK"
SECRET_MAX_AGE_SECONDS = 300
# Retries never use the last seconds of the invocation: they are kept to log and flush metrics.
TIME_MARGIN_SECONDS = 3.0
# Statuses that can mean the webhook was replaced (revoked, channel archived): re-read the secret once.
_STALE_URL_STATUSES = frozenset({403, 404, 410})
# How long a delivered eventId is remembered. The auditor re-publishes an unconfirmed transition once
# its claim lease expires (at most an hour) and Lambda keeps an SNS event queued for up to 6 hours:
# a day covers both with room. The table's TTL removes the records after it.
IDEMPOTENCY_SECONDS = 24 * 60 * 60


class ConfigurationError(RuntimeError):
    """The forwarder's environment or secret is unusable."""


class SlackDeliveryError(RuntimeError):
    """At least one message was not delivered; raised so that Lambda retries the invocation."""


class NotDelivered(RuntimeError):
    """Raised inside the idempotent post: Powertools then deletes the in-progress record, so that the
    retry of this message posts instead of being taken for a repeat."""

    def __init__(self, outcome: DeliveryOutcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def loopback_allowed() -> bool:
    """Whether SLACK_WEBHOOK_ALLOW_LOOPBACK is `true` (any case): webhook URLs on a loopback address."""
    return os.environ.get(ALLOW_LOOPBACK_ENV, "").strip().lower() == "true"


def webhook_url_from_secret(value: str | bytes | dict[str, Any], *, allow_loopback: bool = False) -> str:
    """The URL in a secret value: the bare URL, or a JSON object with a `url` key."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                raise ConfigurationError("the webhook secret looks like JSON but does not parse") from None
        else:
            value = {"url": text}
    url = value.get("url") if isinstance(value, dict) else None
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(
            'the webhook secret must be a URL or JSON {"url": "https://hooks.slack.com/..."}'
        )
    try:
        return check_url(url.strip(), allow_loopback=allow_loopback)
    except WebhookUrlError as error:
        raise ConfigurationError(f"the webhook secret holds an unusable URL: {error}") from None


def webhook_url(*, force_fetch: bool = False) -> str:
    """Read (or take from the five-minute cache) the webhook URL."""
    name = os.environ.get(SECRET_ENV, "").strip()
    if not name:
        raise ConfigurationError(f"{SECRET_ENV} is not set: the name or ARN of the webhook secret")
    value = parameters.get_secret(name, max_age=SECRET_MAX_AGE_SECONDS, force_fetch=force_fetch)
    return webhook_url_from_secret(value, allow_loopback=loopback_allowed())


def payload_for(message: str) -> tuple[dict[str, Any], bool]:
    """The webhook payload for one SNS message, and whether it was a job-auditor transition."""
    try:
        detail = json.loads(message)
    except ValueError:
        return render_plain(message), False
    if not isinstance(detail, dict) or "status" not in detail or "eventId" not in detail:
        return render_plain(message), False
    if str(detail.get("version")) != ENVELOPE_VERSION:
        logger.warning(
            "unexpected envelope version; rendered as v1", extra={"version": detail.get("version")}
        )
    return render(detail), True


def _deliver(poster: WebhookPoster, url: str, payload: dict[str, Any]) -> DeliveryOutcome:
    outcome = poster.post(url, payload)
    if outcome.delivered or outcome.status not in _STALE_URL_STATUSES:
        return outcome
    try:
        fresh = webhook_url(force_fetch=True)
    except (ConfigurationError, parameters.exceptions.GetParameterError) as error:
        logger.warning("could not re-read the webhook secret", extra={"error": str(error)})
        return outcome
    if fresh == url:
        return outcome
    logger.info("the webhook secret changed; posting to the new URL")
    return poster.post(fresh, payload)


def build_poster(context: LambdaContext) -> WebhookPoster:
    """The poster for one invocation: retries never outlast the invocation."""
    return WebhookPoster(
        time_left=lambda: context.get_remaining_time_in_millis() / 1000 - TIME_MARGIN_SECONDS,
        allow_loopback=loopback_allowed(),
    )


def _post(
    *,
    delivery: dict[str, str],
    poster: WebhookPoster,
    url: str,
    payload: dict[str, Any],
    sent: list[DeliveryOutcome],
) -> dict[str, Any]:
    """Post one message (the idempotent function; `delivery` holds its key). Raises NotDelivered."""
    outcome = _deliver(poster, url, payload)
    sent.append(outcome)
    if not outcome.delivered:
        raise NotDelivered(outcome)
    return outcome.as_dict()


def _mark_repeat(response: Any, idempotent_data: DataRecord) -> Any:
    """Powertools returns the first delivery's stored outcome for a repeat: say it is one."""
    return {**response, "repeat": True}


@functools.cache
def idempotent_post() -> tuple[Callable[..., dict[str, Any]], IdempotencyConfig]:
    """_post made idempotent on `delivery["eventId"]`, and its config (the Lambda context is registered
    on it per invocation). Built on first use: the table's name is read and its client made then."""
    table = os.environ.get(IDEMPOTENCY_TABLE_ENV, "").strip()
    if not table:
        raise ConfigurationError(f"{IDEMPOTENCY_TABLE_ENV} is not set: the idempotency table's name")
    config = IdempotencyConfig(
        event_key_jmespath="eventId",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_SECONDS,
        response_hook=_mark_repeat,
    )
    store = DynamoDBPersistenceLayer(
        table_name=table,
        key_attr=IDEMPOTENCY_KEY_ATTRIBUTE,
        expiry_attr=IDEMPOTENCY_EXPIRY_ATTRIBUTE,
        boto_config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    # Records are keyed "<function name>.slack_forwarder.handler._post#<hash of the eventId>"; no
    # key_prefix, which needs Powertools 3.6 while powertoolsLayerVersion may pin any 3.x. Renaming
    # _post or replacing the function only forgets the records of the last day.
    post = idempotent_function(
        _post, data_keyword_argument="delivery", persistence_store=store, config=config
    )
    return post, config


def delivery_key(message_id: str, detail: dict[str, Any] | None) -> dict[str, str]:
    """What makes two messages the same: a transition's eventId, else the SNS message id (which a
    Lambda retry of the same invocation repeats)."""
    if detail is not None:
        return {"eventId": str(detail["eventId"])}
    return {"eventId": f"sns-message:{message_id}"}


def _post_once(
    poster: WebhookPoster, url: str, payload: dict[str, Any], key: dict[str, str]
) -> dict[str, Any]:
    """The outcome of posting one message at most once per key, as a dict with `delivered`, and
    `repeat` when an earlier invocation delivered it."""
    post, _ = idempotent_post()
    sent: list[DeliveryOutcome] = []
    try:
        return post(delivery=key, poster=poster, url=url, payload=payload, sent=sent)
    except NotDelivered as failure:
        return failure.outcome.as_dict()
    except IdempotencyAlreadyInProgressError:
        # Another invocation holds this key right now (or crashed holding it, until its time is up).
        return {"delivered": False, "reason": "in-progress", "attempts": 0, "statuses": []}
    except IdempotencyError as error:
        if sent and sent[-1].delivered:
            # Posted, but the record of it could not be saved: a repeat of this key may post again.
            logger.warning("delivered, but not recorded as delivered", extra={"error": str(error)})
            return sent[-1].as_dict()
        return {
            "delivered": False,
            "reason": "idempotency-store",
            "detail": str(error),
            "attempts": 0,
            "statuses": [],
        }


def _count(name: str, value: int) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Post each SNS record to Slack at most once; raise SlackDeliveryError if any was not delivered
    (Lambda then retries the invocation: the records already delivered are skipped as repeats)."""
    records = list(SNSEvent(event).records)
    try:
        url = webhook_url()
        _, config = idempotent_post()
    except (ConfigurationError, parameters.exceptions.GetParameterError) as error:
        _count("SlackDeliveryFailures", len(records))
        logger.error(
            "cannot read the Slack webhook URL or find the idempotency table", extra={"error": str(error)}
        )
        raise SlackDeliveryError(f"{len(records)} message(s) not delivered: {error}") from None
    # The in-progress record of a run that dies expires when its time is up, so a retry can post.
    config.register_lambda_context(context)

    poster = build_poster(context)
    results: list[dict[str, Any]] = []
    delivered = failed = unrecognised = retries = rate_limited = repeats = 0
    for record in records:
        sns = record.sns
        payload, recognised = payload_for(sns.message)
        detail = json.loads(sns.message) if recognised else None
        log_fields = {"messageId": sns.message_id, "recognised": recognised}
        if detail is not None:
            log_fields |= {"eventId": detail.get("eventId"), "jobId": detail.get("jobId")}
        else:
            unrecognised += 1
            logger.warning("not a job-auditor transition: posted as text", extra=log_fields)
        outcome = _post_once(poster, url, payload, delivery_key(sns.message_id, detail))
        result = log_fields | outcome
        results.append(result)
        if outcome.get("repeat"):
            repeats += 1
            logger.info("already delivered to Slack: skipped", extra=result)
            continue
        retries += max(0, int(outcome.get("attempts", 0)) - 1)
        rate_limited += list(outcome.get("statuses", [])).count(429)
        if outcome["delivered"]:
            delivered += 1
            logger.info("delivered to Slack", extra=result)
        else:
            failed += 1
            logger.error("could not deliver to Slack", extra=result)

    _count("SlackMessagesDelivered", delivered)
    _count("SlackDeliveryFailures", failed)
    _count("SlackDeliveryRetries", retries)
    _count("SlackRateLimited", rate_limited)
    _count("SlackUnrecognisedMessages", unrecognised)
    _count("SlackRepeatsSkipped", repeats)
    if failed:
        raise SlackDeliveryError(f"{failed} of {len(records)} message(s) not delivered to Slack")
    return {"delivered": delivered, "failed": failed, "repeats": repeats, "results": results}
