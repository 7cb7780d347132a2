"""The simulator serves many accounts at once: each caller sees its own account's jobs (known by its
access key), the control API seeds any account, and a region an account has not enabled answers as
AWS does."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from job_auditor.auditor.adapters.clients import named_client
from simulator import ControlPlane, SimClock, SimulatorServer
from tests.integration.simkit import START

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_qconnect import QConnectClient

HOME, MEMBER = "123456789012", "111122223333"
KEYS = {"AKIAMEMBER": MEMBER}
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def server() -> Iterator[SimulatorServer]:
    plane = ControlPlane(clock=SimClock(start=START), seed=3)
    with SimulatorServer(plane, account_of=KEYS.get) as running:
        yield running


def _client(server: SimulatorServer, service: str, key: str, region: str = "us-east-1") -> BaseClient:
    return named_client(
        boto3.session.Session(),
        service,
        region_name=region,
        endpoint_url=server.endpoint_url,
        aws_access_key_id=key,
        aws_secret_access_key="secret",
        config=NO_RETRIES,
    )


def _control(server: SimulatorServer, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server.endpoint_url}/_sim/{path}", data=data, method=method)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def _names(client: BaseClient) -> list[str]:
    bedrock = cast("BedrockClient", client)
    return [j["jobName"] for j in bedrock.list_model_import_jobs()["modelImportJobSummaries"]]


def test_each_caller_sees_its_own_accounts_jobs(server: SimulatorServer) -> None:
    # Given a job in the home account and one in the member account, seeded over the control API
    _control(server, "POST", "model-import-jobs", {"region": "us-east-1", "name": "home-job"})
    member_arn = _control(
        server, "POST", "model-import-jobs", {"region": "us-east-1", "name": "member-job", "account": MEMBER}
    )["jobArn"]
    # Then the member's key lists the member's job (its ARN in the member account), any other key the
    # home account's (moto's default account, for a key it never issued)
    assert member_arn.split(":")[4] == MEMBER
    assert _names(_client(server, "bedrock", "AKIAMEMBER")) == ["member-job"]
    assert _names(_client(server, "bedrock", "testing")) == ["home-job"]
    # And the calls are recorded by account, the state counted per account
    assert server.plane.count_calls("ListModelImportJobs", account=MEMBER) == 1
    calls = _control(server, "GET", f"calls?account={MEMBER}")["calls"]
    assert [c["account"] for c in calls] == [MEMBER]
    assert _control(server, "GET", f"state?account={MEMBER}")["us-east-1"]["jobs"] == {
        "bedrock-model-import": 1
    }
    assert _control(server, "GET", "health")["accounts"] == [HOME, MEMBER]


def test_a_region_the_account_has_not_enabled_answers_unrecognized_client(server: SimulatorServer) -> None:
    # Given the member account has not enabled eu-south-1
    _control(server, "POST", "regions/disable", {"account": MEMBER, "region": "eu-south-1"})
    # Then its calls there are refused as AWS refuses them, on every service
    bedrock = _client(server, "bedrock", "AKIAMEMBER", "eu-south-1")
    with pytest.raises(ClientError) as raised:
        _names(bedrock)
    error = raised.value.response
    assert error["Error"]["Code"] == "UnrecognizedClientException"
    assert error["Error"]["Message"] == "The security token included in the request is invalid."
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    qconnect = cast("QConnectClient", _client(server, "qconnect", "AKIAMEMBER", "eu-south-1"))
    with pytest.raises(ClientError) as q_raised:
        qconnect.list_knowledge_bases()
    assert q_raised.value.response["Error"]["Code"] == "UnrecognizedClientException"
    # And the home account's calls there, and the member's elsewhere, are served
    assert _names(_client(server, "bedrock", "testing", "eu-south-1")) == []
    assert _names(_client(server, "bedrock", "AKIAMEMBER", "us-east-1")) == []
    # Until it is enabled
    _control(server, "POST", "regions/enable", {"account": MEMBER, "region": "eu-south-1"})
    assert _names(bedrock) == []


def test_a_bad_account_in_the_control_api_is_a_validation_error(server: SimulatorServer) -> None:
    request = urllib.request.Request(
        f"{server.endpoint_url}/_sim/model-import-jobs",
        data=json.dumps({"region": "us-east-1", "name": "x", "account": "12"}).encode(),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request)
    assert raised.value.code == 400
    assert "account must be a 12-digit account id" in json.loads(raised.value.read())["message"]


def test_reset_forgets_every_account(server: SimulatorServer) -> None:
    server.plane.for_account(MEMBER).create_model_import_job("us-east-1", "member-job")
    server.plane.disable_region(MEMBER, "us-west-2")
    _control(server, "POST", "reset", {})
    assert server.plane.accounts() == [HOME]
    assert server.plane.region_enabled(MEMBER, "us-west-2", "bedrock")
