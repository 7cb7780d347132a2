"""A simulator with its control API and boto3 clients, for the tests of the simulator's engine."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from job_auditor.auditor.adapters.clients import named_client
from simulator import ControlPlane, SimClock, SimulatorServer

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_bedrock_agent import AgentsforBedrockClient
    from mypy_boto3_qconnect import QConnectClient

REGION = "us-east-1"
START = datetime(2026, 11, 1, tzinfo=UTC)
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@dataclass
class Sim:
    clock: SimClock
    plane: ControlPlane
    server: SimulatorServer

    @overload
    def client(
        self, service: Literal["bedrock"], region: str = ..., config: Config | None = ...
    ) -> BedrockClient: ...
    @overload
    def client(
        self, service: Literal["bedrock-agent"], region: str = ..., config: Config | None = ...
    ) -> AgentsforBedrockClient: ...
    @overload
    def client(
        self, service: Literal["qconnect"], region: str = ..., config: Config | None = ...
    ) -> QConnectClient: ...
    @overload
    def client(self, service: str, region: str = ..., config: Config | None = ...) -> BaseClient: ...
    def client(self, service: str, region: str = REGION, config: Config | None = None) -> BaseClient:
        """A client of the simulator: typed for the services it serves by name, a BaseClient for a
        kind's client named at run time."""
        return named_client(
            boto3.session.Session(),
            service,
            region_name=region,
            endpoint_url=self.server.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config or NO_RETRIES,
        )

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.server.endpoint_url}/_sim/{path}", data=data, method=method)
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    def raw(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """An unsigned call (served as us-east-1): status and JSON body exactly as on the wire."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.server.endpoint_url}{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@contextmanager
def running_sim(seed: int = 7) -> Iterator[Sim]:
    clock = SimClock(start=START)
    plane = ControlPlane(clock=clock, seed=seed)
    with SimulatorServer(plane, host="127.0.0.1", port=0) as server:
        yield Sim(clock, plane, server)
