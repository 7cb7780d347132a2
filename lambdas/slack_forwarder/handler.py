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
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_forwarder.blocks import render, render_plain
from slack_forwarder.webhook import DeliveryOutcome, WebhookPoster, WebhookUrlError, check_url

logger = Logger()
tracer = Tracer()
metrics = Metrics()

SECRET_ENV = "WEBHOOK_SECRET_NAME"  # noqa: S105 (the variable that names the secret)
# Local tests post to a server on 127.0.0.1 over http; nothing deployed sets this.
ALLOW_LOOPBACK_ENV = "SLACK_WEBHOOK_ALLOW_LOOPBACK"
SECRET_MAX_AGE_SECONDS = 300
ENVELOPE_VERSION = "1"
# Retries never use the last seconds of the invocation: they are kept to log and flush metrics.
TIME_MARGIN_SECONDS = 3.0
# Statuses that can mean the webhook was replaced (revoked, channel archived): re-read the secret once.
_STALE_URL_STATUSES = frozenset({403, 404, 410})


class ConfigurationError(RuntimeError):
    """The forwarder's environment or secret is unusable."""


class SlackDeliveryError(RuntimeError):
    """At least one message was not delivered; raised so that Lambda retries the invocation."""


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


def _count(name: str, value: int) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Post each SNS record to Slack; raise SlackDeliveryError if any could not be delivered."""
    records = list(SNSEvent(event).records)
    try:
        url = webhook_url()
    except (ConfigurationError, parameters.exceptions.GetParameterError) as error:
        _count("SlackDeliveryFailures", len(records))
        logger.error("cannot read the Slack webhook URL", extra={"error": str(error)})
        raise SlackDeliveryError(f"{len(records)} message(s) not delivered: {error}") from None

    poster = build_poster(context)
    results: list[dict[str, Any]] = []
    delivered = failed = unrecognised = retries = rate_limited = 0
    for record in records:
        sns = record.sns
        payload, recognised = payload_for(sns.message)
        log_fields = {"messageId": sns.message_id, "recognised": recognised}
        if recognised:
            detail = json.loads(sns.message)
            log_fields |= {"eventId": detail.get("eventId"), "jobId": detail.get("jobId")}
        else:
            unrecognised += 1
            logger.warning("not a job-auditor transition: posted as text", extra=log_fields)
        outcome = _deliver(poster, url, payload)
        retries += outcome.retries
        rate_limited += outcome.rate_limited
        result = log_fields | outcome.as_dict()
        results.append(result)
        if outcome.delivered:
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
    if failed:
        raise SlackDeliveryError(f"{failed} of {len(records)} message(s) not delivered to Slack")
    return {"delivered": delivered, "failed": failed, "results": results}
