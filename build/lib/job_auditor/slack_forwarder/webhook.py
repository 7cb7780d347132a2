"""POST a payload to a Slack incoming webhook, retrying what is worth retrying. Standard library only.

- 2xx: delivered.
- 429: Slack's rate limit; wait `Retry-After` seconds (bounded by `max_retry_after`), then retry.
- 5xx, a timeout or a connection error: exponential backoff with jitter, then retry.
- any other status (400 invalid_blocks, 403, 404 channel_not_found, 410 channel_is_archived, ...): the
  request itself is wrong or the webhook is gone; retrying would not help, so it is not retried.
- 3xx: a failure too. Redirects are never followed (urllib's would re-send to any host, plain http
  included, unchecked), and the Location is not logged.

Only Slack's incoming-webhook URLs are accepted (check_url): https to hooks.slack.com or
hooks.slack-gov.com on port 443, a path under /services/, nothing before the host. Plain http to a
loopback address only when the caller allows it (the forwarder's SLACK_WEBHOOK_ALLOW_LOOPBACK, for
local tests; the stack never sets it). Requests go to that host directly: no proxy from the
environment.

Every wait is taken through an injectable `sleep`, and no wait is started that would outlast the
caller's remaining time. The webhook URL is a secret: it never appears in an outcome or an error.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "job-auditor-slack-forwarder/1"
# Slack's incoming-webhook hosts: Slack's own, and GovSlack's (which runs on slack-gov.com).
WEBHOOK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
WEBHOOK_PATH_PREFIX = "/services/"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# What a URL may hold unescaped (RFC 3986), so no space, backslash, control character (urlsplit
# drops tabs and newlines silently) or non-ASCII look-alike of a host.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_MAX_ERROR_BODY = 200


class WebhookUrlError(ValueError):
    """The configured webhook URL is unusable (the message never contains it)."""


def check_url(url: str, *, allow_loopback: bool = False) -> str:
    """`url` if it is a Slack incoming-webhook URL: https, a host of WEBHOOK_HOSTS, port 443, a path
    under /services/, no user name or password, query or fragment. With `allow_loopback` (local
    tests), http or https to a loopback address on any port is accepted instead of Slack's host."""
    if not _URL_CHARACTERS.fullmatch(url):
        raise WebhookUrlError("the webhook URL holds characters a URL cannot (spaces, control or non-ASCII)")
    parts = urlsplit(url)
    # https://hooks.slack.com@other.example/... is a request to other.example.
    if "@" in parts.netloc:
        raise WebhookUrlError("the webhook URL has a user name or password before its host")
    try:
        port = parts.port
    except ValueError:
        raise WebhookUrlError("the webhook URL has an invalid port") from None
    host = parts.hostname or ""
    if not (allow_loopback and host in _LOOPBACK and parts.scheme in {"http", "https"}):
        if parts.scheme != "https":
            raise WebhookUrlError(f"the webhook URL must use https, not {parts.scheme or 'no scheme'}")
        if host not in WEBHOOK_HOSTS:
            raise WebhookUrlError(f"the webhook URL's host must be one of {', '.join(sorted(WEBHOOK_HOSTS))}")
        if port not in (None, 443):
            raise WebhookUrlError("the webhook URL must use the https port, 443")
    if not parts.path.startswith(WEBHOOK_PATH_PREFIX):
        raise WebhookUrlError(f"the webhook URL's path must start with {WEBHOOK_PATH_PREFIX}")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise WebhookUrlError("the webhook URL must have no query or fragment")
    return url


def _opener(*, allow_http: bool) -> urllib.request.OpenerDirector:
    """An opener that follows no redirect (a 3xx comes back as an HTTPError), reads no proxy from the
    environment and speaks https only (and http when loopback is allowed)."""
    opener = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.UnknownHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ]
    if allow_http:
        handlers.append(urllib.request.HTTPHandler())
    for handler in handlers:
        opener.add_handler(handler)
    return opener


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
    # Why it was not delivered: "rejected" (4xx), "redirected" (3xx), "rate-limited", "server-error",
    # "network-error", "out-of-time"; None when delivered.
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
    # Loopback hosts (over http too) instead of Slack's: for local tests only.
    allow_loopback: bool = False
    opener: urllib.request.OpenerDirector = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.opener = _opener(allow_http=self.allow_loopback)

    def _send(self, url: str, body: bytes) -> tuple[int | None, Message | None, str]:
        request = urllib.request.Request(  # noqa: S310 (URL checked by check_url)
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT},
        )
        try:
            with self.opener.open(request, timeout=self.timeout_seconds) as response:
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
        check_url(url, allow_loopback=self.allow_loopback)
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
            elif 300 <= status < 400:
                # Never followed, and neither the Location nor the body is kept: they may quote the URL.
                attempts.append(Attempt(status, note="redirect refused"))
                return DeliveryOutcome(False, tuple(attempts), "redirected", "redirects are not followed")
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
