"""ListModelCustomizationJobs in the simulator against moto 5.2.5's implementation: the same jobs
created in both, listed with the same parameters through boto3, must come back the same.

moto deviates from botocore's model and the AWS docs in ways this test documents and works around
(it asserts on what both implement; the simulator is not bent to match):

* moto stores creation times as naive local-time strings with second precision and compares the
  creationTimeAfter/Before filters as strings against the ISO 8601 request value ("2026-11-03 12:00:00"
  vs "2026-11-02T00:00:00Z"); that is right only when the filter and the job fall on different days,
  so the jobs here are created two days apart at noon and filters fall on midnights between them;
* without sortBy, moto returns jobs in creation (insertion) order; AWS documents Descending by
  creation time as the default, which the simulator returns; sortOrder is ignored by moto unless
  sortBy is given, so every ordered comparison passes both;
* moto reports endTime, customModelArn and failureMessage-free summaries for a job still in progress
  (AWS sets endTime only when a job ends): endTime is compared only for ended jobs;
* moto's job ARN is `model-customization-job/<job name>`, which botocore's ARN pattern does not admit,
  and its GetModelCustomizationJob finds a job by name only: jobs are compared by name;
* moto has no way to fail or complete a job; StopModelCustomizationJob moves it to Stopped, which is
  the second status both sides use.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import time_machine
from moto import mock_aws

from tests.integration.simkit import REGION, Sim, running_sim

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient
    from mypy_boto3_bedrock.type_defs import ListModelCustomizationJobsRequestTypeDef

KIND = "bedrock-customization"
DAY = datetime(2026, 11, 1, tzinfo=UTC)
# name, created (noon, two days apart), stopped
JOBS = [
    ("tune-alpha", DAY + timedelta(days=1, hours=12), False),
    ("tune-bravo", DAY + timedelta(days=3, hours=12), True),
    ("tune-charlie", DAY + timedelta(days=5, hours=12), False),
    ("tune-delta", DAY + timedelta(days=7, hours=12), True),
    ("tune-echo", DAY + timedelta(days=9, hours=12), False),
]
ROLE = "arn:aws:iam::123456789012:role/BedrockCustomization"
CUSTOM_MODEL = f"arn:aws:bedrock:{REGION}:123456789012:custom-model/amazon.titan-text-express-v1"
ASCENDING: ListModelCustomizationJobsRequestTypeDef = {"sortBy": "CreationTime", "sortOrder": "Ascending"}
DESCENDING: ListModelCustomizationJobsRequestTypeDef = {"sortBy": "CreationTime", "sortOrder": "Descending"}


@pytest.fixture
def sim() -> Iterator[Sim]:
    with running_sim() as s:
        yield s


@pytest.fixture
def moto_bedrock() -> Iterator[BedrockClient]:
    with mock_aws():
        client = boto3.client(
            "bedrock", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        for name, created, stopped in JOBS:
            with time_machine.travel(created, tick=False):
                client.create_model_customization_job(
                    jobName=name,
                    customModelName=f"{name}-model",
                    roleArn=ROLE,
                    baseModelIdentifier="amazon.titan-text-express-v1",
                    customizationType="FINE_TUNING",
                    trainingDataConfig={"s3Uri": "s3://training-data/train.jsonl"},
                    outputDataConfig={"s3Uri": "s3://training-output/"},
                    hyperParameters={"epochCount": "1"},
                )
            if stopped:
                client.stop_model_customization_job(jobIdentifier=name)
        yield client


def _fill_simulator(sim: Sim) -> BedrockClient:
    for name, created, stopped in JOBS:
        sim.plane.create_job(
            KIND,
            REGION,
            name=name,
            creation_time=created,
            fields={
                "customModelName": f"{name}-model",
                "customizationType": "FINE_TUNING",
                "customModelArn": f"{CUSTOM_MODEL}/{name.removeprefix('tune-'):a<12}"[
                    : len(CUSTOM_MODEL) + 13
                ],
            },
        )
        if stopped:
            sim.plane.set_job_status(KIND, REGION, name, "Stopped")
    return sim.client("bedrock")


def _names(client: BedrockClient, **params: Any) -> list[str]:
    summaries = client.list_model_customization_jobs(**params)["modelCustomizationJobSummaries"]
    return [s["jobName"] for s in summaries]


def _pages(client: BedrockClient, page_size: int, **params: Any) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = {**params, "nextToken": token} if token else params
        reply = client.list_model_customization_jobs(maxResults=page_size, **page)
        pages.append([s["jobName"] for s in reply["modelCustomizationJobSummaries"]])
        token = reply.get("nextToken")
        if token is None:
            return pages


def test_both_list_the_same_jobs_in_the_same_order_for_the_same_parameters(
    sim: Sim, moto_bedrock: BedrockClient
) -> None:
    # Given: the same five jobs (two stopped) in moto and in the simulator
    simulator = _fill_simulator(sim)
    after, before = DAY + timedelta(days=2), DAY + timedelta(days=8)
    queries: list[ListModelCustomizationJobsRequestTypeDef] = [
        ASCENDING,
        DESCENDING,
        {**ASCENDING, "statusEquals": "Stopped"},
        {**DESCENDING, "statusEquals": "InProgress"},
        {**ASCENDING, "creationTimeAfter": after},
        {**ASCENDING, "creationTimeBefore": before},
        {**DESCENDING, "creationTimeAfter": after, "creationTimeBefore": before},
        {**DESCENDING, "creationTimeAfter": after, "statusEquals": "Stopped"},
        {**ASCENDING, "nameContains": "a"},
        {**ASCENDING, "nameContains": "charlie"},
    ]

    # When / Then: every query returns the same names in the same order from both
    for query in queries:
        assert _names(simulator, **query) == _names(moto_bedrock, **query), query
    assert _names(simulator, **DESCENDING) == [name for name, _, _ in reversed(JOBS)]
    assert _names(simulator, **{**ASCENDING, "creationTimeAfter": after, "creationTimeBefore": before}) == [
        "tune-bravo",
        "tune-charlie",
        "tune-delta",
    ]
    assert _names(moto_bedrock, **{**ASCENDING, "statusEquals": "Stopped"}) == ["tune-bravo", "tune-delta"]
    assert _names(moto_bedrock, **{**ASCENDING, "nameContains": "a"}) == [
        "tune-alpha",
        "tune-bravo",
        "tune-charlie",
        "tune-delta",
    ]
    # Without sortBy both return every job; the order differs (moto: insertion order; AWS and the
    # simulator: newest first).
    assert set(_names(simulator)) == set(_names(moto_bedrock))
    assert _names(simulator) == _names(moto_bedrock, **DESCENDING)
    assert _names(moto_bedrock) == _names(moto_bedrock, **ASCENDING)
    # And: the simulator's answers really came from the simulator (mock_aws passes its calls through).
    assert sim.plane.count_calls("ListModelCustomizationJobs", status=200) == len(queries) + 4


def test_both_page_the_same_way(sim: Sim, moto_bedrock: BedrockClient) -> None:
    simulator = _fill_simulator(sim)
    for size, params in (
        (2, ASCENDING),
        (2, DESCENDING),
        (1, {**ASCENDING, "statusEquals": "Stopped"}),
        (5, ASCENDING),
    ):
        sim_pages = _pages(simulator, size, **params)
        assert sim_pages == _pages(moto_bedrock, size, **params), (size, params)
        assert [len(p) for p in sim_pages][:-1] == [size] * (len(sim_pages) - 1)
    # A full last page ends the listing on both: no token and no empty page after it.
    assert _pages(simulator, 5, **ASCENDING) == [[name for name, _, _ in JOBS]]


def test_both_summaries_carry_the_same_members(sim: Sim, moto_bedrock: BedrockClient) -> None:
    simulator = _fill_simulator(sim)
    ours = {
        s["jobName"]: s
        for s in simulator.list_model_customization_jobs(**ASCENDING)["modelCustomizationJobSummaries"]
    }
    theirs = {
        s["jobName"]: s
        for s in moto_bedrock.list_model_customization_jobs(**ASCENDING)["modelCustomizationJobSummaries"]
    }
    assert set(ours) == set(theirs)
    for name, _, stopped in JOBS:
        # moto reports endTime for a job in progress too (see the module docstring).
        ignored = set() if stopped else {"endTime"}
        assert set(ours[name]) - ignored == set(theirs[name]) - ignored, name
        assert "endTime" in ours[name] if stopped else "endTime" not in ours[name]
        for member in ("jobName", "status", "customModelName", "customizationType"):
            assert ours[name][member] == theirs[name][member], (name, member)
        assert ours[name]["baseModelArn"].endswith(":foundation-model/amazon.titan-text-express-v1")
        assert theirs[name]["baseModelArn"].endswith(":foundation-model/amazon.titan-text-express-v1")
    got_ours = simulator.get_model_customization_job(jobIdentifier="tune-bravo")
    got_theirs = moto_bedrock.get_model_customization_job(jobIdentifier="tune-bravo")
    assert (got_ours["status"], got_ours["jobName"]) == (got_theirs["status"], got_theirs["jobName"])
