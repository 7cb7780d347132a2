"""The fan-out end to end: the CDK-synthesized state machine run in-process by tests/integration/
fanout_driver.py (the order, batching, reader, writer and tolerance its definition says), every Lambda
task our handler, against the simulator and moto; events read from an SQS queue behind the bus."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from job_auditor.auditor import fanout
from job_auditor.auditor.adapters.publishers import EventBridgePublisher
from job_auditor.contract.kinds import JOB_KINDS, default_kind_ids
from simulator.world import ACCOUNT, DEFAULT_START, MotoServer, World
from tests.integration.fanout_driver import Driver, Killed, synthesized

BUCKET = "job-auditor-runs"
# Regions where botocore offers every default kind's service (qconnect is not in eu-west-1).
HEALTHY = ("us-east-1", "us-west-2", "eu-central-1", "eu-west-2")
NO_SERVICE = "ap-south-2"
MISSING_ROLE = "999999999999"
ITEMS_PER_BATCH = 2


@pytest.fixture(scope="module")
def definition(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _, body = synthesized(
        {"itemsPerBatch": str(ITEMS_PER_BATCH), "toleratedFailurePercentage": "50"},
        tmp_path_factory.mktemp("cdk-fanout"),
    )
    return body


def _terminal(kind: str) -> str:
    spec = JOB_KINDS[kind]
    return next(s for s in spec.statuses if spec.is_terminal(s))


def _world(make_world: Any, moto_server: MotoServer, regions: tuple[str, ...], **env: str) -> World:
    w: World = make_world(
        **env,
        REGIONS=",".join(regions),
        AWS_ENDPOINT_URL_S3=moto_server.url,
        ITEMS_BUCKET=BUCKET,
        ACCOUNT_REGION_CONCURRENCY="2",
    )
    w.world_s3 = __import__("boto3").client("s3", region_name=w.region)  # type: ignore[attr-defined]
    w.world_s3.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
    return w


def _scopes(
    w: World, region: str, qconnect_kbs: int, bedrock_kbs: int, data_sources: int
) -> list[tuple[str, tuple[str, ...]]]:
    """Knowledge bases and data sources in one region; every source (kind, scope ids) they make."""
    sources: list[tuple[str, tuple[str, ...]]] = [
        (k, ()) for k in default_kind_ids() if not JOB_KINDS[k].discovery
    ]
    for n in range(qconnect_kbs):
        sources.append(("qconnect-import", (w.plane.create_knowledge_base(region, f"kb-{n}"),)))
    for n in range(bedrock_kbs):
        kb = w.plane.create_agent_knowledge_base(region, f"bkb-{n}")
        for d in range(data_sources):
            sources.append(("bedrock-kb-ingestion", (kb, w.plane.create_data_source(region, kb, f"ds-{d}"))))
    return sources


# 50 accounts (the home account and 49 members), a 51st whose member role is missing.
MEMBERS = tuple(f"2000000000{n:02d}" for n in range(49))
HEALTHY_ACCOUNTS = (ACCOUNT, *MEMBERS)


@pytest.fixture
def organization(moto_server: MotoServer) -> Iterator[World]:
    """The home account and 50 member accounts, each with its member role in moto's IAM (assumed
    through moto's STS for real), but MISSING_ROLE's role deleted; the default five kinds."""
    w = World(
        moto_server,
        DEFAULT_START,
        env={
            "REGIONS": ",".join((*HEALTHY, NO_SERVICE)),
            "AWS_ENDPOINT_URL_S3": moto_server.url,
            "ITEMS_BUCKET": BUCKET,
            "ACCOUNT_REGION_CONCURRENCY": "2",
        },
        member_accounts=[*MEMBERS, MISSING_ROLE],
    )
    w.__enter__()
    try:
        w.delete_member_role(MISSING_ROLE)
        __import__("boto3").client("s3", region_name=w.region).create_bucket(Bucket=BUCKET)
        yield w
    finally:
        w.__exit__(None, None, None)


def _one_scope_each(w: World, account: str, region: str) -> list[tuple[str, tuple[str, ...]]]:
    """One source per default kind in one account-region: a Q in Connect knowledge base, and a Bedrock
    knowledge base with one data source, discovered by Plan."""
    plane = w.plane_of(account)
    kb = plane.create_agent_knowledge_base(region, "bkb")
    return [
        *((k, ()) for k in default_kind_ids() if not JOB_KINDS[k].discovery),
        ("qconnect-import", (plane.create_knowledge_base(region, "kb"),)),
        ("bedrock-kb-ingestion", (kb, plane.create_data_source(region, kb, "ds"))),
    ]


@pytest.mark.long
def test_a_thousand_sources_in_fifty_accounts_announced_once_despite_failures(
    organization: World, definition: dict[str, Any]
) -> None:
    # Given 50 accounts x 4 regions x the 5 default kinds (1,000 sources, each account read through
    # its assumed member role), a fifth region not enabled in any account (nor offering Q in Connect),
    # and an account whose role is missing
    w = organization
    sources = [
        (account, region, kind, ids)
        for account in HEALTHY_ACCOUNTS
        for region in HEALTHY
        for kind, ids in _one_scope_each(w, account, region)
    ]
    assert len(sources) == 1_000
    for account in (*HEALTHY_ACCOUNTS, MISSING_ROLE):
        w.plane.disable_region(account, NO_SERVICE)
    driver = Driver(w, definition, BUCKET)
    # When the baseline run passes
    first = driver.execute()["summary"]
    # Then the failures are named, each with its reason and counted by account: the account without a
    # role, and every account's region that is not enabled
    assert first["accounts"] == len(HEALTHY_ACCOUNTS) + 1
    # (the missing role: 3 kinds listed and 2 discovered in 4 regions, and 4 in the fifth, which does
    # not offer Q in Connect; the region not enabled: those 4 in each of 50 accounts; no other)
    assert first["failedSourceCount"] == 24 + 200
    assert set(first["failedAccounts"]) == {*HEALTHY_ACCOUNTS, MISSING_ROLE}
    assert {a: e["sources"] for a, e in first["failedAccounts"].items()} == {
        **dict.fromkeys(HEALTHY_ACCOUNTS, 4),
        MISSING_ROLE: 24,
    }
    # (Q in Connect in the fifth region is never planned: one kind-region skipped, whatever the accounts)
    assert first["skippedSources"] == {"notOffered": 1}
    assert any("AccessDenied" in r for r in first["failedAccounts"][MISSING_ROLE]["reasons"])
    # (the summary's names are bounded: every account with its first reason, the first accounts their
    # further reasons as well, so both the region's causes show)
    for account in HEALTHY_ACCOUNTS:
        reasons = first["failedAccounts"][account]["reasons"]
        assert reasons and all(NO_SERVICE in r for r in reasons)
    named = [r for e in first["failedAccounts"].values() for r in e["reasons"]]
    assert any("UnrecognizedClientException" in r for r in named)
    # (a kind the region does not offer is no failure: it is skipped, counted above)
    assert not any("ServiceNotOffered" in r for r in named)
    healthy = tuple(f"{a}/{r}/" for a in HEALTHY_ACCOUNTS for r in HEALTHY)
    assert not any(f["source"].startswith(healthy) for f in first["failedSources"])
    assert w.events_received() == []  # the baseline is silent

    # And given a finished job appearing in every source, and a child killed mid-batch (its Lambda
    # stops while publishing one member's second region)
    w.advance(timedelta(minutes=5))
    expected: set[tuple[str, ...]] = set()
    for account, region, kind, ids in sources:
        plane = w.plane_of(account)
        (job,) = plane.bulk_create_jobs(kind, region, 1, scope_ids=ids, status=_terminal(kind))
        expected.add((account, region, kind, job))
    armed = {"on": True}
    original = EventBridgePublisher.publish
    killed = (MEMBERS[0], HEALTHY[1])

    def publish(self: EventBridgePublisher, transitions: Any) -> Any:
        if armed["on"] and any((t.source.account, t.source.region) == killed for t in transitions):
            raise Killed("Task timed out after 120.00 seconds")
        return original(self, transitions)

    with patch.object(EventBridgePublisher, "publish", publish):
        second = driver.execute()["summary"]
        armed["on"] = False
        # Then the run names the killed child's account-regions with the reason
        (batch,) = second["failedBatches"]
        assert f"{MEMBERS[0]}/{HEALTHY[1]} (part 1/1)" in batch["accountRegions"]
        assert "Sandbox.Timedout" in batch["reason"]
        assert second["status"] == "partial-failure"
        # And the next period past the claims' lease announces the rest
        w.advance(timedelta(minutes=21))
        last = driver.execute()["summary"]

    # Then every transition of the healthy sources reached the bus exactly once, naming its account:
    # nothing lost, nothing repeated with a new eventId
    events = w.events_received()
    event_ids = Counter(e["detail"]["eventId"] for e in events)
    assert max(event_ids.values()) == 1
    seen = Counter(
        (e["detail"]["account"], e["detail"]["region"], e["detail"]["jobKind"], e["detail"]["jobId"])
        for e in events
    )
    assert set(seen) == expected and len(expected) == 1_000
    assert max(seen.values()) == 1
    assert not w.pending_claims()
    # And the last run names only the failures that are still there
    assert last["failedSourceCount"] == first["failedSourceCount"]
    assert {a: e["sources"] for a, e in last["failedAccounts"].items()} == {
        a: e["sources"] for a, e in first["failedAccounts"].items()
    }


def test_a_run_that_finds_the_previous_one_still_running_ends_at_once(
    make_world: Any, moto_server: MotoServer, definition: dict[str, Any]
) -> None:
    # Given a deployment whose previous execution is still running
    w = _world(make_world, moto_server, HEALTHY[:1])
    driver = Driver(w, definition, BUCKET)
    driver.running = ["arn:aws:states:us-east-1:123456789012:execution:audit:previous"]
    # When the schedule starts the next one
    out = driver.execute()
    # Then it ends at once, says so, and audits nothing
    assert out["summary"] == {
        "status": "skipped",
        "reason": "previous run still running",
        "runId": driver.execution_name,
    }
    assert driver.trace == ["Guard", "Overlap", "Skipped", "EndedAtOnce"]
    assert w.plane.count_calls() == 0
    # And when it is not running any more, the run goes the definition's whole way
    driver.running = []
    assert driver.execute()["summary"]["status"] == "ok"
    assert driver.trace[:4] == ["Guard", "Overlap", "Plan", "ItemsInS3"]
    assert driver.trace[-3:] == ["Summarize", "MapRunFailed", "Done"]


def test_a_large_item_list_goes_through_s3(
    make_world: Any, moto_server: MotoServer, definition: dict[str, Any], tmp_path: Path
) -> None:
    # Given more sources than fit inline (one region, 300 Q in Connect knowledge bases)
    w = _world(make_world, moto_server, HEALTHY[:1])
    _scopes(w, HEALTHY[0], 300, 0, 0)
    with patch.object(fanout, "INLINE_ITEMS_MAX_BYTES", 1_000):
        out = Driver(w, definition, BUCKET).execute()
    # Then Plan wrote them to the bucket and the map read them from there (ItemReader)
    assert out["plan"]["itemsKey"] == f"runs/{out['plan']['runId']}/items.json" and "items" not in out["plan"]
    assert out["summary"]["status"] == "ok" and out["summary"]["sources"] == 303


def test_a_deleted_knowledge_base_is_wound_down_through_the_map(
    make_world: Any, moto_server: MotoServer, definition: dict[str, Any]
) -> None:
    # Given a Q in Connect import job the fan-out follows, in one of two knowledge bases
    w = _world(make_world, moto_server, HEALTHY[:1])
    region = HEALTHY[0]
    (_, (kb,)), (_, (other,)) = [s for s in _scopes(w, region, 2, 0, 0) if s[1]]
    driver = Driver(w, definition, BUCKET)
    driver.execute()
    job = w.plane.create_import_job(region=region, knowledge_base_id=kb, status="START_IN_PROGRESS")
    w.advance(timedelta(minutes=5))
    driver.execute()
    assert [e["detail"]["jobId"] for e in w.events_received()] == [job]
    # When the knowledge base is deleted, its job with it
    w.plane.delete_knowledge_base(region, kb)
    summaries = []
    for _ in range(4):
        w.advance(timedelta(minutes=5))
        summaries.append(driver.execute()["summary"])
    # Then Plan found it outside the expansion, a batch wound it down, and the job was announced once
    # as disappeared, naming the reason; then the source was let be
    events = w.events_received()
    assert [(e["detail"]["jobId"], e["detail"]["transition"], e["detail"]["reason"]) for e in events] == [
        (job, "disappeared", "scope deleted")
    ]
    source = f"{ACCOUNT}/{region}/qconnect-import/{kb}"
    assert summaries[0]["orphanedSources"] == [{"source": source, "reason": "scope deleted"}]
    assert summaries[0]["orphanedJobs"] == 1 and summaries[-1]["orphanedSourceCount"] == 0
    assert all(s["status"] == "ok" for s in summaries)
    assert all(s["stalestSourceAgeSeconds"] > 0 for s in summaries)
    assert other  # the other knowledge base is audited as before
