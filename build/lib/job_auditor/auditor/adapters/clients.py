"""boto3 clients built once per (service, region), with the SDK's adaptive retry mode.

Endpoints come from the SDK's standard resolution, so `AWS_ENDPOINT_URL_<SERVICE>` points a client at
a local simulator or moto without any code path of its own.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    # One client per (service, region) serves every thread: up to 4 sources at once, each writing 8
    # claims at once, share the DynamoDB client (botocore's default pool is 10 connections).
    max_pool_connections=32,
    connect_timeout=5,
    read_timeout=20,
    user_agent_appid="job-auditor",
)


class ClientFactory:
    """Lazily built, cached clients; safe to share across warm invocations."""

    def __init__(self, session: boto3.session.Session | None = None, config: Config = RETRY_CONFIG) -> None:
        self._session = session or boto3.session.Session()
        self._config = config
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._session.client(service, region_name=region, config=self._config)
                self._clients[key] = client
            return client
