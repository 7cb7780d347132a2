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
from simulator.world import ACCOUNT, MotoServer, World
from tests.integration.fanout_driver import Driver, Killed, synthesized

BUCKET = "job-auditor-runs"
HEALTHY = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")
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


def _world(make_world: Any, moto_server: MotoServer, regions: tuple[str, ...]) -> World:
    w: World = make_world(
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


@pytest.fixture
def accounts(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """The healthy accounts the run audits (the test's parameter; this one by default), and one more
    whose role is missing. Organization mode's resolve_accounts replaces `_accounts_to_audit`; until the
    simulator separates accounts, every healthy account sees the same jobs, as its own sources."""
    healthy = list(getattr(request, "param", [ACCOUNT]))
    audited = [*healthy, MISSING_ROLE]
    real = fanout._client_provider()

    def provider() -> fanout.ClientProvider:
        def clients_for(account: str) -> Any:
            if account == MISSING_ROLE:
                raise PermissionError(f"AccessDenied: not authorized to perform sts:AssumeRole on {account}")
            return real(account)

        return clients_for

    with (
        patch.object(fanout, "_accounts_to_audit", lambda settings, home: audited),
        patch.object(fanout, "_client_provider", provider),
    ):
        yield healthy


@pytest.mark.parametrize("accounts", [[ACCOUNT]], indirect=True)
def test_a_thousand_sources_announced_once_despite_a_missing_role_a_region_without_service_a_killed_child(
    make_world: Any, moto_server: MotoServer, definition: dict[str, Any], accounts: list[str]
) -> None:
    # Given 1,000 sources per healthy account in four regions (3 Bedrock kinds, 47 Q in Connect
    # knowledge bases and 20 Bedrock knowledge bases x 10 data sources each), a fifth region without the
    # service, and an account whose role is missing
    w = _world(make_world, moto_server, (*HEALTHY, NO_SERVICE))
    sources = [(region, kind, ids) for region in HEALTHY for kind, ids in _scopes(w, region, 47, 20, 10)]
    assert len(sources) == 1_000
    w.plane.faults.add_rule("UnrecognizedClientException", region=NO_SERVICE, status=404)
    driver = Driver(w, definition, BUCKET)
    # When the baseline run passes
    first = driver.execute()["summary"]
    # (the no-service region's Bedrock kinds still become sources: they fail when listed)
    assert first["sources"] == (1_000 + 3) * len(accounts)
    # Then the failures are named: the account without a role, each discovery of the no-service region
    failed = {f["source"] for f in first["failedSources"]}
    assert MISSING_ROLE in failed
    for account in accounts:
        assert {
            f"{account}/{NO_SERVICE}/qconnect-import",
            f"{account}/{NO_SERVICE}/bedrock-kb-ingestion",
        } <= failed
    assert not any(f.startswith(tuple(f"{a}/{r}/" for a in accounts for r in HEALTHY)) for f in failed)
    assert w.events_received() == []  # the baseline is silent

    # And given a finished job appearing in every source, and a child killed mid-batch (its Lambda
    # stops while publishing the second region's transitions)
    w.advance(timedelta(minutes=5))
    expected: set[tuple[str, ...]] = set()
    for region, kind, ids in sources:
        (job,) = w.plane.bulk_create_jobs(kind, region, 1, scope_ids=ids, status=_terminal(kind))
        expected.update((account, region, kind, job) for account in accounts)
    armed = {"on": True}
    original = EventBridgePublisher.publish

    def publish(self: EventBridgePublisher, transitions: Any) -> Any:
        if armed["on"] and any(t.source.region == HEALTHY[1] for t in transitions):
            raise Killed("Task timed out after 120.00 seconds")
        return original(self, transitions)

    with patch.object(EventBridgePublisher, "publish", publish):
        second = driver.execute()["summary"]
        armed["on"] = False
        # Then the run names the killed child's account-regions with the reason
        (batch,) = second["failedBatches"]
        assert f"{accounts[0]}/{HEALTHY[1]} (part 1/1)" in batch["accountRegions"]
        assert "Sandbox.Timedout" in batch["reason"]
        assert second["status"] == "partial-failure"
        # And the next period past the claims' lease announces the rest
        w.advance(timedelta(minutes=21))
        last = driver.execute()["summary"]

    # Then every transition of the healthy sources reached the bus exactly once: nothing lost,
    # nothing repeated with a new eventId
    events = w.events_received()
    event_ids = Counter(e["detail"]["eventId"] for e in events)
    assert max(event_ids.values()) == 1
    seen = Counter(
        (e["detail"]["account"], e["detail"]["region"], e["detail"]["jobKind"], e["detail"]["jobId"])
        for e in events
    )
    assert set(seen) == expected and len(expected) == 1_000 * len(accounts)
    assert max(seen.values()) == 1
    assert not w.pending_claims()
    # And the last run names only the failures that are still there
    assert {f["source"] for f in last["failedSources"]} == failed


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
