"""boto3 clients built once per (service, region), with the SDK's adaptive retry mode.

Endpoints come from the SDK's standard resolution, so `AWS_ENDPOINT_URL_<SERVICE>` points a client at
a local simulator or moto without any code path of its own. Before a client is built, botocore's
endpoint data is asked whether the service is offered in the region at all: where it is not, the
source fails with `ServiceNotOffered` instead of a connection error to an endpoint that does not
exist. (An endpoint override changes where a client connects, not where AWS offers a service, so the
answer is the same with one.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from job_auditor.auditor.ports import SourceError

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


def named_client(session: boto3.session.Session, service: str, **kwargs: Any) -> BaseClient:
    """A client of a service named at run time (a job kind's, from the registry).

    boto3-stubs types `Session.client` per literal service name only; every variant returns a
    BaseClient, which is all a name known at run time can promise. An unknown name fails as in boto3
    (`UnknownServiceError`)."""
    create: Callable[..., BaseClient] = session.client
    return create(service, **kwargs)


class ServiceNotOffered(SourceError):
    """botocore's endpoint data does not list the service in the region: nothing to audit there."""

    def __init__(self, service: str, region: str) -> None:
        super().__init__(f"{service} is not offered in {region}", code="ServiceNotOffered")


def service_offered(session: boto3.session.Session, service: str, region: str) -> bool:
    """False only where botocore's endpoint data knows both: the region (STS is in every region of a
    partition) and the service's regions in that partition, and the region is not among them. A
    service or region the installed botocore does not list yet is given the benefit of the doubt."""
    try:
        partition = session.get_partition_for_region(region)
    except (BotoCoreError, ValueError):
        return True
    offered = session.get_available_regions(service, partition)
    if not offered or region in offered:
        return True
    return region not in session.get_available_regions("sts", partition)


class ClientFactory:
    """Lazily built, cached clients; safe to share across warm invocations.

    The auditor's own services come back as their typed clients; a job API's client is named by the
    kind registry at run time, so all that can be said of it is that it is a botocore client."""

    def __init__(
        self,
        session: boto3.session.Session | None = None,
        config: Config = RETRY_CONFIG,
        *,
        lock: threading.Lock | None = None,
    ) -> None:
        self._session = session or boto3.session.Session()
        self._config = config
        self._clients: dict[tuple[str, str], BaseClient] = {}
        # Guards client creation: a boto3 session is not safe to build clients from in several threads
        # at once. Whatever else builds clients from the same session shares it (`lock`).
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
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if not service_offered(self._session, service, region):
                    raise ServiceNotOffered(service, region)
                client = named_client(self._session, service, region_name=region, config=self._config)
                self._clients[key] = client
            return client

    def for_account(self, account: str) -> ClientFactory:
        """The factory of `account`'s clients: this one (a factory holds one account's credentials);
        `accounts.AccountClients` hands out the member accounts'."""
        del account
        return self
