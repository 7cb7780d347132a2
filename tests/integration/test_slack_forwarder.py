"""The Slack forwarder end to end: an SNS `lambda` event in, the real handler, the webhook URL read from
Secrets Manager and the idempotency records in DynamoDB (moto server), and a real local HTTP server
playing Slack (200, 429 + Retry-After, 5xx, 400, 3xx).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from job_auditor.contract.slack_forwarder import IDEMPOTENCY_KEY_ATTRIBUTE, IDEMPOTENCY_TABLE_ENV
from job_auditor.slack_forwarder import handler
from job_auditor.slack_forwarder.blocks import render
from job_auditor.slack_forwarder.webhook import WebhookPoster
from simulator.world import FakeLambdaContext, MotoServer
from tests.unit.slack_samples import SAMPLES

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:job-auditor-transitions"


@dataclass
class FakeSlack:
    """An incoming-webhook endpoint on 127.0.0.1: answers from a script, then 200 "ok"."""

    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                fake.received.append(json.loads(body))
                fake.times.append(time.monotonic())
                fake.paths.append(self.path)
                status, headers, text = fake.script.pop(0) if fake.script else (200, {}, "ok")
                data = text.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/services/T000/B000/XXXX") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    # The fake listens on 127.0.0.1 over http: only the explicit test setting lets the forwarder post there.
    monkeypatch.setenv(handler.ALLOW_LOOPBACK_ENV, "true")
    fake = FakeSlack()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def secrets(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretsManagerClient]:
    """A Secrets Manager client on the moto server; the forwarder's reads go there too."""
    # botocore's variable is named after the service id "Secrets Manager".
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Powertools' clear_caches has no annotations: hence the ignores.
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # the client is built on first use
    yield boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto_server.url)
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture(autouse=True)
def idempotency_table(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDBClient]:
    """A fresh idempotency table (the construct's key schema) on the moto server for each test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_server.url)
    name = f"slack-idempotency-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": IDEMPOTENCY_KEY_ATTRIBUTE, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": IDEMPOTENCY_KEY_ATTRIBUTE, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv(IDEMPOTENCY_TABLE_ENV, name)
    handler.idempotent_post.cache_clear()  # built on first use, with this table and endpoint
    yield dynamodb
    handler.idempotent_post.cache_clear()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff waits are recorded, not slept (Retry-After is slept for real in its own test)."""
    waited: list[float] = []

    def build(context: Any) -> WebhookPoster:
        return WebhookPoster(
            sleep=waited.append, jitter=lambda d: d, time_left=lambda: 60.0, allow_loopback=True
        )

    monkeypatch.setattr(handler, "build_poster", build)
    return waited


def _secret(client: SecretsManagerClient, monkeypatch: pytest.MonkeyPatch, value: str) -> str:
    name = f"job-auditor/slack-webhook-{uuid.uuid4().hex[:8]}"
    client.create_secret(Name=name, SecretString=value)
    monkeypatch.setenv("WEBHOOK_SECRET_NAME", name)
    return name


def _sns_event(*messages: str) -> dict[str, Any]:
    """What SNS passes to a Lambda subscriber (protocol lambda); one SNS message id per message."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{TOPIC_ARN}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": TOPIC_ARN,
                    "Subject": None,
                    "Message": message,
                    "Timestamp": "2026-11-05T08:05:00.000Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {
                        "status": {"Type": "String", "Value": "Completed"},
                        "jobKind": {"Type": "String", "Value": "bedrock-model-import"},
                    },
                },
            }
            for message in messages
        ]
    }


def _metrics(out: str) -> dict[str, float]:
    """Sum the EMF metrics Powertools printed."""
    totals: dict[str, float] = {}
    for line in out.splitlines():
        if not line.startswith("{") or "_aws" not in line:
            continue
        record = json.loads(line)
        for definition in record["_aws"]["CloudWatchMetrics"]:
            for metric in definition["Metrics"]:
                value = record[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(
                    value if isinstance(value, list) else [value]
                )
    return totals


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler.lambda_handler(event, FakeLambdaContext(remaining_ms=60_000))
    return result


def test_delivers_a_transition_as_block_kit(
    slack: FakeSlack,
    secrets: SecretsManagerClient,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    # Given the webhook URL stored as a bare URL
    _secret(secrets, monkeypatch, slack.url())
    # When SNS delivers one transition
    result = _invoke(_sns_event(json.dumps(SAMPLES["failed"])))
    # Then Slack got exactly the rendered blocks, once
    assert result["delivered"] == 1 and result["failed"] == 0
    (posted,) = slack.received
    assert posted == json.loads(json.dumps(render(SAMPLES["failed"])))
    assert slack.paths == ["/services/T000/B000/XXXX"]
    metrics = _metrics(capsys.readouterr().out)
    assert metrics["SlackMessagesDelivered"] == 1
    assert metrics["SlackDeliveryFailures"] == 0


def test_secret_as_json_and_cached_across_invocations(
    slack: FakeSlack, secrets: SecretsManagerClient, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _secret(secrets, monkeypatch, json.dumps({"url": slack.url("/services/json")}))
    _invoke(_sns_event(json.dumps(SAMPLES["succeeded"])))
    # A changed secret is picked up only after the cache's max_age (300 s)...
    secrets.put_secret_value(SecretId=name, SecretString=slack.url("/services/rotated"))
    _invoke(_sns_event(json.dumps(SAMPLES["failed"])))
    assert slack.paths == ["/services/json", "/services/json"]


def test_stale_url_is_re_read_once_when_slack_says_the_webhook_is_gone(
    slack: FakeSlack, secrets: SecretsManagerClient, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a cached URL that Slack has revoked (404 no_service) and a secret already rotated
    name = _secret(secrets, monkeypatch, slack.url("/services/old"))
    _invoke(_sns_event(json.dumps(SAMPLES["succeeded"])))
    secrets.put_secret_value(SecretId=name, SecretString=slack.url("/services/new"))
    slack.script = [(404, {}, "no_service")]
    # When the next message is posted / Then the secret is re-read and the new URL used
    result = _invoke(_sns_event(json.dumps(SAMPLES["failed"])))
    assert result["delivered"] == 1
    assert slack.paths == ["/services/old", "/services/old", "/services/new"]


def test_429_waits_retry_after_for_real_then_delivers(
    slack: FakeSlack, secrets: SecretsManagerClient, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Given Slack rate-limits the first request for one second
    _secret(secrets, monkeypatch, slack.url())
    slack.script = [(429, {"Retry-After": "1"}, "rate_limited")]
    # When a transition is forwarded by the unpatched handler (real sleep)
    result = _invoke(_sns_event(json.dumps(SAMPLES["stuck"])))
    # Then the second request came at least Retry-After later and was delivered
    assert result["delivered"] == 1
    assert len(slack.received) == 2 and slack.received[0] == slack.received[1]
    assert slack.times[1] - slack.times[0] >= 1.0
    assert result["results"][0]["statuses"] == [429, 200]
    metrics = _metrics(capsys.readouterr().out)
    assert metrics["SlackRateLimited"] == 1
    assert metrics["SlackDeliveryRetries"] == 1


def test_500_then_200_is_retried_with_backoff(
    slack: FakeSlack, secrets: SecretsManagerClient, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    _secret(secrets, monkeypatch, slack.url())
    slack.script = [(500, {}, "internal_error")]
    result = _invoke(_sns_event(json.dumps(SAMPLES["discovered"])))
    assert result["delivered"] == 1
    assert result["results"][0]["statuses"] == [500, 200]
    assert sleeps == [0.5]


def test_500_forever_is_counted_and_fails_the_invocation(
    slack: FakeSlack,
    secrets: SecretsManagerClient,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given Slack answers 500 to everything
    _secret(secrets, monkeypatch, slack.url())
    slack.script = [(500, {}, "internal_error")] * 10
    # When forwarding / Then it gives up after four attempts, counts the failure and raises (Lambda retries)
    with pytest.raises(handler.SlackDeliveryError, match="1 of 1 message"):
        _invoke(_sns_event(json.dumps(SAMPLES["failed"])))
    assert len(slack.received) == 4
    assert sleeps == [0.5, 1.0, 2.0]
    metrics = _metrics(capsys.readouterr().out)
    assert metrics["SlackDeliveryFailures"] == 1
    assert metrics["SlackMessagesDelivered"] == 0
    (error,) = [r for r in caplog.records if r.getMessage() == "could not deliver to Slack"]
    assert error.levelname == "ERROR"
    assert vars(error)["reason"] == "server-error" and vars(error)["statuses"] == [500] * 4
    # The webhook URL is a secret: never logged
    assert not [r for r in caplog.records if "127.0.0.1" in str(vars(r))]


def test_400_is_not_retried(
    slack: FakeSlack,
    secrets: SecretsManagerClient,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _secret(secrets, monkeypatch, slack.url())
    slack.script = [(400, {}, "invalid_blocks")]
    with pytest.raises(handler.SlackDeliveryError):
        _invoke(_sns_event(json.dumps(SAMPLES["succeeded"])))
    assert len(slack.received) == 1 and sleeps == []
    assert _metrics(capsys.readouterr().out)["SlackDeliveryFailures"] == 1
    (error,) = [r for r in caplog.records if r.getMessage() == "could not deliver to Slack"]
    assert vars(error)["reason"] == "rejected" and vars(error)["detail"] == "invalid_blocks"


def test_a_message_that_is_not_json_is_posted_as_text_and_counted(
    slack: FakeSlack,
    secrets: SecretsManagerClient,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    _secret(secrets, monkeypatch, slack.url())
    result = _invoke(_sns_event("Job auditor test message <3"))
    assert result["delivered"] == 1
    (posted,) = slack.received
    assert posted["attachments"][0]["blocks"][0]["text"]["text"] == "Job auditor test message &lt;3"
    assert _metrics(capsys.readouterr().out)["SlackUnrecognisedMessages"] == 1


def test_missing_secret_fails_and_counts_every_message(
    slack: FakeSlack,
    secrets: SecretsManagerClient,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET_NAME", "job-auditor/does-not-exist")
    with pytest.raises(handler.SlackDeliveryError):
        _invoke(_sns_event(json.dumps(SAMPLES["succeeded"])))
    assert slack.received == []
    assert _metrics(capsys.readouterr().out)["SlackDeliveryFailures"] == 1


# Issue 10, item 13: only Slack's webhook hosts, no redirects, loopback only behind the test setting.


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_its_target_is_never_called(
    status: int,
    slack: FakeSlack,
    secrets: SecretsManagerClient,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a webhook that answers with a redirect to another server (plain http, another port)
    elsewhere = FakeSlack()
    elsewhere.start()
    try:
        _secret(secrets, monkeypatch, slack.url())
        slack.script = [(status, {"Location": elsewhere.url("/services/T000/B000/STOLEN")}, "moved")]
        # When a transition is forwarded
        with pytest.raises(handler.SlackDeliveryError):
            _invoke(_sns_event(json.dumps(SAMPLES["failed"])))
        # Then the redirect was a failure, not retried, and the other server got nothing
        assert len(slack.received) == 1 and sleeps == []
        assert elsewhere.received == []
    finally:
        elsewhere.stop()
    (error,) = [r for r in caplog.records if r.getMessage() == "could not deliver to Slack"]
    assert vars(error)["reason"] == "redirected" and vars(error)["statuses"] == [status]
    # Neither the webhook's path nor the redirect target is logged
    assert not [r for r in caplog.records if "/services/" in str(vars(r)) or "STOLEN" in str(vars(r))]


def test_a_loopback_url_is_refused_without_the_test_setting(
    slack: FakeSlack, secrets: SecretsManagerClient, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Given the fake's loopback URL in the secret, but SLACK_WEBHOOK_ALLOW_LOOPBACK unset (as deployed)
    _secret(secrets, monkeypatch, slack.url())
    monkeypatch.delenv(handler.ALLOW_LOOPBACK_ENV)
    # When a transition is forwarded / Then nothing is posted and the failure is counted
    with pytest.raises(handler.SlackDeliveryError, match="unusable URL: the webhook URL must use https"):
        _invoke(_sns_event(json.dumps(SAMPLES["succeeded"])))
    assert slack.received == []
    assert _metrics(capsys.readouterr().out)["SlackDeliveryFailures"] == 1


# Issue 10, item 13: a webhook cannot deduplicate, so the forwarder posts each eventId once.


def test_same_event_id_posts_once(
    slack: FakeSlack,
    secrets: SecretsManagerClient,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    # Given a transition the auditor published twice (a lease takeover: two SNS messages, one eventId)
    _secret(secrets, monkeypatch, slack.url())
    message = json.dumps(SAMPLES["failed"])
    first = _invoke(_sns_event(message))
    # When the second copy arrives
    second = _invoke(_sns_event(message))
    # Then Slack got it once, and the repeat was skipped and counted
    assert len(slack.received) == 1
    assert (first["delivered"], first["repeats"]) == (1, 0)
    assert (second["delivered"], second["repeats"]) == (0, 1)
    assert second["results"][0]["repeat"] is True and second["results"][0]["statuses"] == [200]
    metrics = _metrics(capsys.readouterr().out)
    assert metrics["SlackMessagesDelivered"] == 1 and metrics["SlackRepeatsSkipped"] == 1


def test_a_different_event_id_posts(
    slack: FakeSlack, secrets: SecretsManagerClient, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    _secret(secrets, monkeypatch, slack.url())
    _invoke(_sns_event(json.dumps(SAMPLES["failed"])))
    result = _invoke(_sns_event(json.dumps(SAMPLES["succeeded"])))
    assert result["delivered"] == 1 and len(slack.received) == 2
    assert slack.received[0] != slack.received[1]


def test_a_failed_post_followed_by_a_retry_posts_once(
    slack: FakeSlack, secrets: SecretsManagerClient, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Slack failing every attempt of the first invocation
    _secret(secrets, monkeypatch, slack.url())
    event = _sns_event(json.dumps(SAMPLES["failed"]))
    slack.script = [(500, {}, "internal_error")] * 4
    with pytest.raises(handler.SlackDeliveryError):
        _invoke(event)
    # When Lambda retries the invocation (Slack is back) and the auditor then re-publishes it
    retried = _invoke(event)
    again = _invoke(_sns_event(json.dumps(SAMPLES["failed"])))
    # Then the failure left no record in the way: the retry posted, and only that once
    assert retried["delivered"] == 1 and again["repeats"] == 1
    assert [r == slack.received[0] for r in slack.received] == [True] * 5  # 4 failed attempts, 1 delivered


def test_a_retried_batch_reposts_only_the_record_that_failed(
    slack: FakeSlack, secrets: SecretsManagerClient, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given one invocation with two records, of which Slack rejects the second
    _secret(secrets, monkeypatch, slack.url())
    event = _sns_event(json.dumps(SAMPLES["succeeded"]), json.dumps(SAMPLES["failed"]))
    slack.script = [(200, {}, "ok"), (400, {}, "invalid_blocks")]
    with pytest.raises(handler.SlackDeliveryError, match="1 of 2 message"):
        _invoke(event)
    # When Lambda retries the whole invocation
    result = _invoke(event)
    # Then the first record is skipped as a repeat and only the second is posted again
    assert (result["delivered"], result["repeats"]) == (1, 1)
    assert [p["text"] for p in slack.received] == [
        render(SAMPLES["succeeded"])["text"],
        render(SAMPLES["failed"])["text"],
        render(SAMPLES["failed"])["text"],
    ]


def test_a_message_that_is_not_a_transition_is_deduplicated_on_its_sns_message_id(
    slack: FakeSlack, secrets: SecretsManagerClient, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    _secret(secrets, monkeypatch, slack.url())
    event = _sns_event("webhook test")
    _invoke(event)
    assert _invoke(event)["repeats"] == 1  # Lambda's retry of the same delivery
    assert _invoke(_sns_event("webhook test"))["delivered"] == 1  # a new publish
    assert len(slack.received) == 2


def test_idempotency_records_expire_after_a_day(
    slack: FakeSlack,
    secrets: SecretsManagerClient,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    idempotency_table: Any,
) -> None:
    # Given one delivered transition
    _secret(secrets, monkeypatch, slack.url())
    before = time.time()
    _invoke(_sns_event(json.dumps(SAMPLES["failed"])))
    # Then its record is complete and carries the TTL attribute the table expires it on, a day ahead
    (item,) = idempotency_table.scan(TableName=os.environ[IDEMPOTENCY_TABLE_ENV])["Items"]
    assert ".slack_forwarder.handler._post#" in item["id"]["S"]
    assert item["status"]["S"] == "COMPLETED"
    assert before + 86_400 - 5 <= int(item["expiration"]["N"]) <= time.time() + 86_400 + 5


def test_missing_idempotency_table_fails_and_counts_every_message(
    slack: FakeSlack,
    secrets: SecretsManagerClient,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    _secret(secrets, monkeypatch, slack.url())
    monkeypatch.delenv(IDEMPOTENCY_TABLE_ENV)
    handler.idempotent_post.cache_clear()
    with pytest.raises(handler.SlackDeliveryError, match="IDEMPOTENCY_TABLE_NAME is not set"):
        _invoke(_sns_event(json.dumps(SAMPLES["succeeded"])))
    assert slack.received == []
    assert _metrics(capsys.readouterr().out)["SlackDeliveryFailures"] == 1
