"""POST a payload to a Slack incoming webhook, retrying what is worth retrying. Standard library only.

- 2xx: delivered.
- 429: Slack's rate limit; wait `Retry-After` seconds (bounded by `max_retry_after`), then retry.
- 5xx, a timeout or a connection error: exponential backoff with jitter, then retry.
- any other status (400 invalid_blocks, 403, 404 channel_not_found, 410 channel_is_archived, ...): the
  request itself is wrong or the webhook is gone; retrying would not help, so it is not retried.

Every wait is taken through an injectable `sleep`, and no wait is started that would outlast the
caller's remaining time. The webhook URL is a secret: it never appears in an outcome or an error.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "job-auditor-slack-forwarder/1"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_MAX_ERROR_BODY = 200


class WebhookUrlError(ValueError):
    """The configured webhook URL is unusable (the message never contains it)."""


def check_url(url: str) -> str:
    """An https URL with a host; plain http only to a loopback address (local tests)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise WebhookUrlError("the webhook URL has no host")
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        return url
    raise WebhookUrlError(f"the webhook URL must use https, not {parts.scheme or 'no scheme'}")


@dataclass(frozen=True)
class Attempt:
    """One HTTP exchange: status (None: no response), how long was waited after it, and why."""

    status: int | None
    wait_seconds: float = 0.0
    note: str = ""


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one message."""

    delivered: bool
    attempts: tuple[Attempt, ...] = field(default=())
    # Why it was not delivered: "rejected" (4xx), "rate-limited", "server-error", "network-error",
    # "out-of-time"; None when delivered.
    reason: str | None = None
    detail: str | None = None

    @property
    def status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    @property
    def retries(self) -> int:
        return max(0, len(self.attempts) - 1)

    @property
    def rate_limited(self) -> int:
        return sum(1 for a in self.attempts if a.status == 429)

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "status": self.status,
            "attempts": len(self.attempts),
            "statuses": [a.status for a in self.attempts],
            "waitedSeconds": round(sum(a.wait_seconds for a in self.attempts), 3),
            "reason": self.reason,
            "detail": self.detail,
        }


def retry_after_seconds(headers: Message | Mapping[str, str] | None) -> float | None:
    """`Retry-After` in seconds (Slack sends delta-seconds); None when absent or not a number."""
    if headers is None:
        return None
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _full_jitter(delay: float) -> float:
    # Backoff jitter, not cryptography.
    return random.uniform(delay / 2, delay)  # noqa: S311


@dataclass
class WebhookPoster:
    """Posts JSON to a webhook with bounded retries; `post` returns a DeliveryOutcome, never raises
    for HTTP or network failures."""

    max_attempts: int = 4
    timeout_seconds: float = 5.0
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 8.0
    # A Retry-After beyond this is not waited out in full: wait this long and try once more.
    max_retry_after_seconds: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float], float] = _full_jitter
    # Seconds the caller has left (e.g. from the Lambda context); None: unbounded.
    time_left: Callable[[], float] | None = None

    def _send(self, url: str, body: bytes) -> tuple[int | None, Message | None, str]:
        request = urllib.request.Request(  # noqa: S310 (scheme checked by check_url)
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                return (
                    int(response.status),
                    response.headers,
                    response.read(_MAX_ERROR_BODY).decode("utf-8", "replace"),
                )
        except urllib.error.HTTPError as error:
            text = error.read(_MAX_ERROR_BODY).decode("utf-8", "replace") if error.fp else ""
            return int(error.code), error.headers, text
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            return None, None, type(reason).__name__ if isinstance(reason, BaseException) else str(reason)

    def _backoff(self, attempt: int) -> float:
        return self.jitter(min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1)))

    def post(self, url: str, payload: Mapping[str, Any]) -> DeliveryOutcome:
        """Deliver `payload` to `url`; retry 429 (after Retry-After), 5xx and network errors."""
        check_url(url)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        attempts: list[Attempt] = []
        reason, detail = "network-error", ""
        for number in range(1, self.max_attempts + 1):
            status, headers, text = self._send(url, body)
            if status is not None and 200 <= status < 300:
                attempts.append(Attempt(status, note="ok"))
                return DeliveryOutcome(True, tuple(attempts))
            if status == 429:
                reason, detail = "rate-limited", text.strip()
                after = retry_after_seconds(headers)
                wanted = after if after is not None else self._backoff(number)
                wait = min(self.max_retry_after_seconds, wanted)
            elif status is None or status >= 500:
                reason = "network-error" if status is None else "server-error"
                detail = text.strip()
                wait = self._backoff(number)
            else:
                attempts.append(Attempt(status, note="rejected"))
                return DeliveryOutcome(False, tuple(attempts), "rejected", text.strip() or None)
            if number == self.max_attempts:
                attempts.append(Attempt(status, note="gave up"))
                break
            # Waiting, then one more request, must fit in what the caller has left.
            if self.time_left is not None and self.time_left() < wait + self.timeout_seconds:
                attempts.append(Attempt(status, note="out of time"))
                return DeliveryOutcome(False, tuple(attempts), "out-of-time", f"after {reason}: {detail}")
            attempts.append(Attempt(status, wait_seconds=wait, note=reason))
            self.sleep(wait)
        return DeliveryOutcome(False, tuple(attempts), reason, detail or None)
