"""`make bench` at toy sizes: the report has its shape and the auditor's list calls sit at the lower
bound. No assertion on time (the benchmark prints figures; it never judges them)."""

from typing import Any

from benchmarks.cost import cost_model
from benchmarks.run import Options, run_scenario
from simulator.world import MotoServer


def test_bench_report_shape_and_list_bound(moto_server: MotoServer, tmp_path: Any) -> None:
    # Given two toy scenarios (with and without transitions), the naive poller running at both
    opts = Options(
        cycles=1,
        naive_max_history=1_000,
        sizes=[(60, 6, 6), (60, 6, 0)],
        naive_shapes=frozenset({(6, 6), (6, 0)}),
    )
    # When the benchmark runs them
    with open(tmp_path / "workers.log", "w", encoding="utf-8") as log:
        rows = [run_scenario(moto_server, size, opts, log) for size in opts.sizes]
    report = {"scenarios": rows}
    # Then each row carries the auditor's figures beside their bounds, the naive poller's and the ratios
    for row in rows:
        a = row["auditor"]
        assert a["status"] == "ok"
        for key in (
            "listCalls",
            "getCalls",
            "dynamodbRequests",
            "putEvents",
            "snsCalls",
            "wallS",
            "peakRssMb",
        ):
            assert key in a
        assert a["listCalls"] == a["listCallsBound"]
        for kind in a["listCallsByKind"].values():
            assert kind["measured"] == kind["apiBound"]
        assert a["putEvents"] == a["putEventsBound"]
        assert a["snsCalls"] == a["snsBound"]
        assert a["dynamodbRequests"] == a["dynamodbMinimum"]
        assert a["readUnitsEstimated"] > 0
        assert {"apiCalls", "wall"} <= set(row["ratios"])
        assert row["naive"]["events"] == a["transitions"] == row["transitionsPerCycle"]
        # And the hourly sweep is measured: a superset of the window, plus a page of older in-progress
        # jobs for each of the two Bedrock kinds
        sweep = row["sweep"]
        assert sweep["listCalls"] >= a["listCalls"] + 2
        assert sweep["jobsListed"] >= a["listCallsByKind"]["bedrock-model-import"]["jobsInWindow"]
        assert {"getCalls", "dynamodbRequests", "wallS", "modelledS", "peakRssMb"} <= set(sweep)
    # And the cost model prices the scenario with transitions against the idle one
    model = cost_model(report)
    assert model["pricesAsOf"] == "2026-11"
    (entry,) = model["scenarios"].values()
    assert set(entry["monthly"]) >= {"1-min idle", "5-min idle", "15-min idle"}
