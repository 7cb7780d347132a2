"""The short soak (the long one is `make soak`): the real handler for many scheduled cycles under
seeded faults of every kind, then the oracle's checks against the simulator's ground truth."""

import pytest

from simulator.soak import SoakConfig, run_soak
from simulator.world import MotoServer

# More crashes, timeouts, overlaps and outages than the long soak, so a short run meets them all.
SHORT = SoakConfig(
    cycles=70,
    seed=20261102,
    crash=0.08,
    timeout=0.05,
    overlap=0.08,
    source_outage=0.06,
    new_jobs_per_cycle=1.5,
    vanish=0.1,
    lose=0.1,
)


@pytest.mark.long
def test_short_soak_keeps_every_promise(moto_server: MotoServer) -> None:
    # Given the short soak's seeded workload and faults
    # When it runs and the oracle checks the outcome
    report = run_soak(SHORT, moto_server)
    print("\n".join(report.lines()))
    # Then no promise was broken
    assert report.verdict.violations == []
    figures = report.verdict.figures
    assert figures["lost"] == 0
    assert figures["transitions"] > 100
    assert figures["delivered"] >= figures["transitions"]
    # And the faults it claims to inject really happened
    faults = report.faults
    for kind in (
        "job API ThrottlingException",
        "job API InternalServerException",
        "AWS PutEventsPartialFailure",
        "AWS DynamoDBThrottle",
        "AWS Crash",
    ):
        assert faults[kind] > 0, kind
    assert report.runs["crashed"] > 0
    assert report.runs["overlapping invocations"] > 0
    # And the faults only the reconciliation sweep, the re-checks and parking answer for
    for kind in (
        "Listed late, past the overlap (sweep)",
        "Ended job deleted later (sweep)",
        "Vanished in flight (disappeared)",
        "Lost by the API for a while",
        "Poison transition (refused every time)",
        "Malformed knowledge base discovery (one run)",
        "Malformed data source discovery (one run)",
        "Throttled out of retries (ingestion sources)",
        "Checkpoint writes failed during the baseline",
        "AWS CheckpointWriteFailed",
        "Knowledge base deleted with its jobs (orphan)",
        "Kind out of JOB_KINDS for a while (orphan)",
    ):
        assert faults[kind] > 0, kind
    # (a vanished job is not found; a job its knowledge base took with it, its scope deleted; one the
    # API lost, not found while it was)
    vanished = (
        figures["disappeared"]
        - figures["disappeared, scope deleted"]
        - figures["disappeared, lost by the API"]
    )
    assert vanished == faults["Vanished in flight (disappeared)"]
    assert figures["parked"] >= 1
    # And the channel outages, of every length, lost nothing on any channel
    for kind in (
        "Channel outage: eventbridge 25 min (InternalFailure)",
        "Channel outage: sns 3 h (KMSAccessDenied)",
        "Channel outage: eventbridge 30 h (AccessDeniedException)",
        "Channel outage: chat 60 min (ThrottlingException)",
        "Channel outage: eventbridge 40 min (ResourceNotFoundException)",
        "AWS eventbridge outage (calls refused)",
        "AWS sns outage (calls refused)",
        "AWS chat outage (calls refused)",
    ):
        assert faults[kind] > 0, kind
    assert figures["lost on sns"] == figures["lost on chat"] == 0
    assert figures["parked for a passing reason, left"] == 0
    assert report.runs["parked transitions re-driven"] > 0  # the 30-hour outage's
