"""boto3 clients built once per (service, region), with the SDK's adaptive retry mode.

Endpoints come from the SDK's standard resolution, so `AWS_ENDPOINT_URL_<SERVICE>` points a client at
a local simulator or moto without any code path of its own. Before a client is built, botocore's
endpoint data is asked whether the service is offered in the region at all (`availability.service_offered`,
the rule the planner and the CDK side use too): where it is not, the call fails with
`ServiceNotOffered` instead of a connection error to an endpoint that does not exist. A planner that
skips kinds not offered (`availability.plan_offered`) never asks for such a client: this is the guard.
(An endpoint override changes where a client connects, not where AWS offers a service, so the answer
is the same with one.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config

from job_auditor.auditor.ports import SourceError
from job_auditor.availability import read_through, service_offered

if TYPE_CHECKING:
    # Type stubs (requirements-dev.txt): for mypy only, never imported at run time.
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

# botocore has taken user_agent_appid since its User Agent 2.0 (2023); botocore-stubs 1.43.126 does
# not list it yet (mypy reports this ignore as unused once it does).
RETRY_CONFIG = Config(  # type: ignore[call-arg]
    retries={"mode": "adaptive", "max_attempts": 8},
    # One client per (service, region) serves every thread: up to 4 sources at once, each writing 8
    # claims at once, share the DynamoDB client (botocore's default pool is 10 connections).
    max_pool_connections=32,
    connect_timeout=5,
    read_timeout=20,
    user_agent_appid="job-auditor",
)


# What clients are built from: a boto3 session (the home account's), or a bare botocore session (a
# member account's, accounts.AccountSessions: botocore's own `create_client`, with no boto3 layer).
AnySession = boto3.session.Session | botocore.session.Session
# The clients of one account: (service, region) -> its client. A ClientFactory is one.
AccountClientProvider = Callable[[str, str], BaseClient]


# The channels' clients retry less: a run delivers at the end of its time budget, and a channel that
# stays down is retried across runs with back-off (auditor.delivery), so its request must fail fast
# (three attempts, standard mode, no rate-limiter waits) rather than spend the run's last seconds.
SERVICE_CONFIG: dict[str, Config] = {
    service: Config(retries={"mode": "standard", "total_max_attempts": 3}, read_timeout=10)
    for service in ("events", "sns")
}


def named_client(session: AnySession, service: str, **kwargs: Any) -> BaseClient:
    """A client of a service named at run time (a job kind's, from the registry).

    boto3-stubs types `Session.client` per literal service name only; every variant returns a
    BaseClient, which is all a name known at run time can promise. An unknown name fails as in boto3
    (`UnknownServiceError`)."""
    create: Callable[..., BaseClient] = (
        session.client if isinstance(session, boto3.session.Session) else session.create_client
    )
    return create(service, **kwargs)


class ServiceNotOffered(SourceError):
    """botocore's endpoint data does not offer the service in the region (`availability.service_offered`):
    a client was asked for where a kind is not offered. Its code, `ServiceNotOffered`, tells it from
    any failure of a call."""

    def __init__(self, service: str, region: str) -> None:
        super().__init__(f"{service} is not offered in {region}", code="ServiceNotOffered")


class ClientFactory:
    """Lazily built, cached clients; safe to share across warm invocations.

    The auditor's own services come back as their typed clients; a job API's client is named by the
    kind registry at run time, so all that can be said of it is that it is a botocore client."""

    def __init__(
        self,
        session: AnySession | None = None,
        config: Config = RETRY_CONFIG,
        *,
        lock: threading.Lock | None = None,
    ) -> None:
        self._session = session or boto3.session.Session()
        # Availability reads the endpoint data this session's clients parse anyway (through the one
        # loader every member session shares, accounts.AccountSessions), not a session of its own.
        read_through(
            self._session._session if isinstance(self._session, boto3.session.Session) else self._session
        )
        self._config = config
        self._clients: dict[tuple[str, str], BaseClient] = {}
        # Guards client creation: a session is not safe to build clients from in several threads at
        # once. Whatever else builds clients from the same session (or its loader) shares it (`lock`).
        self._lock = lock or threading.Lock()

    @overload
    def __call__(self, service: Literal["dynamodb"], region: str) -> DynamoDBClient: ...
    @overload
    def __call__(self, service: Literal["events"], region: str) -> EventBridgeClient: ...
    @overload
    def __call__(self, service: Literal["sns"], region: str) -> SNSClient: ...
    @overload
    def __call__(self, service: Literal["organizations"], region: str) -> OrganizationsClient: ...
    @overload
    def __call__(self, service: Literal["s3"], region: str) -> S3Client: ...
    @overload
    def __call__(self, service: Literal["sqs"], region: str) -> SQSClient: ...
    @overload
    def __call__(self, service: str, region: str) -> BaseClient: ...
    def __call__(self, service: str, region: str) -> BaseClient:
        key = (service, region)
        # A client, once built, is only read: the lock is for building (shared with other factories).
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if not service_offered(service, region):
                    raise ServiceNotOffered(service, region)
                config = (
                    self._config.merge(SERVICE_CONFIG[service]) if service in SERVICE_CONFIG else self._config
                )
                client = named_client(self._session, service, region_name=region, config=config)
                self._clients[key] = client
            return client

    def keep_at_least(self, account_regions: int) -> None:
        """Keep the clients of `account_regions` account-regions (a batch's, all in use at once): a
        plain factory keeps every client it builds, so there is nothing to do; `accounts.AccountClients`
        bounds its member accounts' and raises the bound."""
        del account_regions

    def check_credentials(self, account: str, region: str) -> None:
        """Nothing to check: a factory holds one account's credentials, the function's own (or the
        session's given); `accounts.AccountClients` assumes a member account's role here."""
        del account, region

    def for_account(self, account: str) -> AccountClientProvider:
        """`account`'s clients: this factory's (a factory holds one account's credentials);
        `accounts.AccountClients` hands out the member accounts'."""
        del account
        return self
