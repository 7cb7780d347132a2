"""The fan-out's payloads at their worst, end to end: a thousand unreadable accounts through the
state machine's definition, every state's payload within the bound (in a module of its own: the
longest fan-out test, so parallel workers run it beside the other one)."""

from __future__ import annotations

from typing import Any

import pytest

from job_auditor.contract.fanout_payload import PAYLOAD_BOUND_BYTES
from simulator.world import ACCOUNT, MotoServer
from tests.integration.fanout_driver import Driver, synthesized
from tests.integration.test_fanout_end_to_end import BUCKET, HEALTHY, _world


@pytest.fixture(scope="module")
def widest_definition(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The definition at the largest batches itemsPerBatch allows: the largest child payloads."""
    _, body = synthesized({"itemsPerBatch": "100"}, tmp_path_factory.mktemp("cdk-fanout-widest"))
    return body


# A thousand accounts whose member role is missing: each of their sources fails (AccessDenied).
UNREADABLE = tuple(f"3{n:011d}" for n in range(1_000))
# A kind listed per region and one discovered per region: both ways a source fails.
TWO_KINDS = ("bedrock-model-import", "qconnect-import")


@pytest.mark.long
def test_a_thousand_unreadable_accounts_keep_every_payload_within_the_bound(
    make_world: Any, moto_server: MotoServer, widest_definition: dict[str, Any]
) -> None:
    # Given the home account, healthy, with a finished job, and 1,000 accounts that cannot be read
    # (no member role), in 4 regions: 8,000 sources that fail, half of them in Plan's discovery; the
    # largest batches (100 account-regions a child)
    w = _world(
        make_world,
        moto_server,
        HEALTHY,
        ACCOUNTS=",".join((ACCOUNT, *UNREADABLE)),
        JOB_KINDS=",".join(TWO_KINDS),
        ANNOUNCE_BASELINE="true",
    )
    (job,) = w.plane.bulk_create_jobs(TWO_KINDS[0], HEALTHY[0], 1, status="Completed")
    driver = Driver(w, widest_definition, BUCKET)
    # When a run passes (the driver enforces Step Functions' 256 KiB on every state's input, output,
    # task result and child payload: States.DataLimitExceeded would fail the execution)
    summary = driver.execute()["summary"]
    # Then the run ends with every failure counted and the first of them named, and the healthy
    # account's job announced
    assert summary["status"] == "partial-failure"
    assert summary["failedAccountCount"] == len(UNREADABLE)
    assert summary["failedSourceCount"] == len(UNREADABLE) * len(HEALTHY) * len(TWO_KINDS)
    assert 0 < len(summary["failedAccounts"]) < len(UNREADABLE)
    assert all("AccessDenied" in e["reasons"][0] for e in summary["failedAccounts"].values())
    assert [e["detail"]["jobId"] for e in w.events_received()] == [job]
    # And no state's payload came near the quota: each stayed within our own bound
    assert max(driver.peak.values()) <= PAYLOAD_BOUND_BYTES, driver.peak
