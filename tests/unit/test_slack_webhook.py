"""The webhook poster's retry rules (scripted responses, no sockets) and the forwarder's input parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest

from job_auditor.slack_forwarder.handler import (
    ALLOW_LOOPBACK_ENV,
    ConfigurationError,
    build_poster,
    loopback_allowed,
    payload_for,
    webhook_url_from_secret,
)
from job_auditor.slack_forwarder.webhook import WebhookPoster, WebhookUrlError, check_url, retry_after_seconds
from tests.unit.slack_samples import SAMPLES

URL = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"


def _headers(**values: str) -> Message:
    message = Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


class ScriptedPoster(WebhookPoster):
    """A poster whose HTTP exchanges are scripted: (status or None, headers, body) per attempt."""

    def __init__(self, script: list[tuple[int | None, Message | None, str]], **kwargs: Any) -> None:
        self.sleeps: list[float] = []
        super().__init__(sleep=self.sleeps.append, jitter=lambda d: d, **kwargs)
        self._script: Iterator[tuple[int | None, Message | None, str]] = iter(script)
        self.sent: list[bytes] = []

    def _send(self, url: str, body: bytes) -> tuple[int | None, Message | None, str]:
        self.sent.append(body)
        return next(self._script)


def test_delivered_first_time() -> None:
    poster = ScriptedPoster([(200, None, "ok")])
    outcome = poster.post(URL, {"text": "hi"})
    assert outcome.delivered and outcome.status == 200 and outcome.retries == 0
    assert json.loads(poster.sent[0]) == {"text": "hi"}
    assert poster.sleeps == []


def test_429_waits_retry_after_then_delivers() -> None:
    poster = ScriptedPoster([(429, _headers(Retry_After="7"), "rate_limited"), (200, None, "ok")])
    outcome = poster.post(URL, {"text": "hi"})
    assert outcome.delivered and outcome.retries == 1 and outcome.rate_limited == 1
    assert poster.sleeps == [7.0]


def test_retry_after_is_bounded() -> None:
    poster = ScriptedPoster(
        [(429, _headers(Retry_After="3600"), ""), (200, None, "ok")], max_retry_after_seconds=30
    )
    assert poster.post(URL, {}).delivered
    assert poster.sleeps == [30]


def test_429_without_retry_after_backs_off() -> None:
    poster = ScriptedPoster([(429, None, ""), (200, None, "ok")], base_delay_seconds=0.5)
    assert poster.post(URL, {}).delivered
    assert poster.sleeps == [0.5]


def test_5xx_and_network_errors_back_off_exponentially_and_give_up() -> None:
    # Given a webhook that keeps failing
    script: list[tuple[int | None, Message | None, str]] = [
        (500, None, "oops"),
        (None, None, "ConnectionRefusedError"),
        (503, None, "unavailable"),
        (502, None, "bad gateway"),
    ]
    poster = ScriptedPoster(script, max_attempts=4, base_delay_seconds=0.5, max_delay_seconds=1.5)
    # When posting / Then it tries max_attempts times with capped exponential waits, then reports
    outcome = poster.post(URL, {})
    assert not outcome.delivered
    assert outcome.reason == "server-error" and outcome.detail == "bad gateway"
    assert [a.status for a in outcome.attempts] == [500, None, 503, 502]
    assert poster.sleeps == [0.5, 1.0, 1.5]
    assert outcome.as_dict()["waitedSeconds"] == 3.0


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_other_4xx_is_not_retried(status: int) -> None:
    poster = ScriptedPoster([(status, None, "invalid_blocks")])
    outcome = poster.post(URL, {})
    assert not outcome.delivered and outcome.reason == "rejected" and outcome.detail == "invalid_blocks"
    assert len(poster.sent) == 1 and poster.sleeps == []


def test_no_wait_is_started_that_would_outlast_the_invocation() -> None:
    poster = ScriptedPoster(
        [(429, _headers(Retry_After="20"), "")], time_left=lambda: 10.0, timeout_seconds=5.0
    )
    outcome = poster.post(URL, {})
    assert not outcome.delivered and outcome.reason == "out-of-time"
    assert poster.sleeps == []


@pytest.mark.parametrize(
    ("value", "seconds"), [("7", 7.0), (" 1.5 ", 1.5), ("-1", None), ("Wed, 21 Oct 2026 07:28:00 GMT", None)]
)
def test_retry_after_parsing(value: str, seconds: float | None) -> None:
    assert retry_after_seconds(_headers(Retry_After=value)) == seconds
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize(
    "url",
    ["http://hooks.slack.com/services/x", "ftp://x/y", "file:///etc/passwd", "https://", "hooks.slack.com"],
)
def test_only_https_urls_or_loopback_http(url: str) -> None:
    with pytest.raises(WebhookUrlError) as caught:
        check_url(url)
    assert "hooks.slack.com/services" not in str(caught.value)


def test_loopback_http_is_accepted_only_when_allowed() -> None:
    for url in (
        "http://127.0.0.1:8080/services/x",
        "http://localhost:1/services/x",
        "https://[::1]:9/services/x",
    ):
        assert check_url(url, allow_loopback=True) == url
        with pytest.raises(WebhookUrlError):
            check_url(url)


# Issue 10, item 13: Slack's incoming-webhook hosts only, strictly parsed.


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com@other.example/services/T000/B000/XXXX",
        "https://hooks.slack.com:443@other.example/services/T000/B000/XXXX",
        "https://user:password@hooks.slack.com/services/T000/B000/XXXX",
        "https://@hooks.slack.com/services/T000/B000/XXXX",
    ],
)
def test_forwarder_refuses_userinfo_host_trick(url: str) -> None:
    with pytest.raises(WebhookUrlError, match="user name or password before its host") as caught:
        check_url(url)
    assert "other.example" not in str(caught.value) and "XXXX" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://other.example/services/T000/B000/XXXX",
        "https://hooks.slack.com.other.example/services/T000/B000/XXXX",
        "https://other.example/hooks.slack.com/services/T000/B000/XXXX",
        "https://hooks.slack.com./services/T000/B000/XXXX",
        "https://slack.com/services/T000/B000/XXXX",
        "https://127.0.0.1/services/T000/B000/XXXX",
    ],
)
def test_forwarder_refuses_hosts_other_than_slacks_webhook_hosts(url: str) -> None:
    with pytest.raises(
        WebhookUrlError, match=re.escape("host must be one of hooks.slack-gov.com, hooks.slack.com")
    ):
        check_url(url)


@pytest.mark.parametrize("port", ["80", "8443", "0", "99999", "x"])
def test_forwarder_refuses_any_port_but_443(port: str) -> None:
    with pytest.raises(WebhookUrlError, match="port"):
        check_url(f"https://hooks.slack.com:{port}/services/T000/B000/XXXX")


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "https://hooks.slack.com:443/services/T000/B000/XXXX",
        "https://HOOKS.Slack.com/services/T000/B000/XXXX",
        "https://hooks.slack-gov.com/services/T000/B000/XXXX",
    ],
)
def test_slacks_webhook_urls_are_accepted(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://hooks.slack.com/triggers/T000/B000/XXXX", "path must start with /services/"),
        ("https://hooks.slack.com/", "path must start with /services/"),
        ("https://hooks.slack.com/services/T000/B000/XXXX?next=x", "no query or fragment"),
        ("https://hooks.slack.com/services/T000/B000/XXXX#frag", "no query or fragment"),
        ("https://hooks.slack.com/services/T000/B000/XXXX?", "no query or fragment"),
        ("https://hooks.slack.com/services/T000/B000/XX XX", "characters a URL cannot"),
        ("https://hooks.slack.com/services/T000/B000/XXXX\n", "characters a URL cannot"),
        ("https://hooks.slack.com\t@other.example/services/x", "characters a URL cannot"),
        ("https://hooks.slack.c\u043em/services/T000/B000/XXXX", "characters a URL cannot"),
        ("https://hooks.slack.com\\@other.example/services/x", "characters a URL cannot"),
    ],
)
def test_forwarder_refuses_anything_else_in_a_webhook_url(url: str, words: str) -> None:
    with pytest.raises(WebhookUrlError, match=words) as caught:
        check_url(url)
    assert "XXXX" not in str(caught.value)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failure_that_is_not_retried(status: int) -> None:
    # Given a webhook that redirects (the opener follows none, so the 3xx comes back as it is)
    poster = ScriptedPoster([(status, _headers(Location="http://other.example/services/x"), "moved")])
    # When posting / Then it is not delivered, not retried, and the outcome quotes neither URL nor body
    outcome = poster.post(URL, {})
    assert not outcome.delivered and outcome.reason == "redirected" and outcome.retries == 0
    assert len(poster.sent) == 1 and poster.sleeps == []
    assert "other.example" not in json.dumps(outcome.as_dict()) and "moved" not in json.dumps(
        outcome.as_dict()
    )


def test_the_opener_follows_no_redirect_and_reads_no_proxy() -> None:
    # urllib's default opener would follow a 302 (as a GET, to any host) and use HTTPS_PROXY
    # `handlers` is OpenerDirector's public list, though typeshed does not declare it.
    handlers = {type(h).__name__ for h in WebhookPoster().opener.handlers}  # type: ignore[attr-defined]
    assert handlers == {"UnknownHandler", "HTTPSHandler", "HTTPDefaultErrorHandler", "HTTPErrorProcessor"}
    loopback = WebhookPoster(allow_loopback=True).opener.handlers  # type: ignore[attr-defined]
    assert "HTTPHandler" in {type(h).__name__ for h in loopback}


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.mark.parametrize(
    ("value", "allowed"), [("true", True), ("TRUE", True), ("1", False), ("yes", False), ("", False)]
)
def test_loopback_is_allowed_only_by_the_explicit_test_setting(
    value: str, allowed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, value)
    assert loopback_allowed() is allowed
    assert build_poster(_Context()).allow_loopback is allowed  # type: ignore[arg-type]
    loopback = "http://127.0.0.1:9/services/T000/B000/XXXX"
    if allowed:
        assert webhook_url_from_secret(loopback, allow_loopback=loopback_allowed()) == loopback
    else:
        with pytest.raises(ConfigurationError, match="must use https"):
            webhook_url_from_secret(loopback, allow_loopback=loopback_allowed())


@pytest.mark.parametrize(
    "value",
    [URL, f"  {URL}\n", json.dumps({"url": URL}), json.dumps({"url": URL}).encode(), {"url": URL}],
)
def test_secret_may_be_the_url_or_json_with_a_url(value: Any) -> None:
    assert webhook_url_from_secret(value) == URL


@pytest.mark.parametrize("value", ["", "{not json", json.dumps({"webhook": URL}), "http://example.com/x"])
def test_unusable_secret_fails_without_quoting_it(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        webhook_url_from_secret(value)
    assert "example.com" not in str(caught.value)


def test_a_transition_is_rendered_as_blocks() -> None:
    payload, recognised = payload_for(json.dumps(SAMPLES["failed"]))
    assert recognised
    assert payload["attachments"][0]["color"] == "#d40e0d"


@pytest.mark.parametrize("message", ["plain words", "[1, 2]", '{"hello": "world"}', ""])
def test_anything_else_is_posted_as_text(message: str) -> None:
    payload, recognised = payload_for(message)
    assert not recognised
    assert payload["attachments"][0]["blocks"][0]["type"] == "section"
