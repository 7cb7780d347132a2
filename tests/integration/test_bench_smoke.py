"""`make bench` at toy sizes: the report has its shape and the auditor's list calls sit at the lower
bound. No assertion on time (the benchmark prints figures; it never judges them)."""

import shutil
import sys
from typing import Any

import pytest

from benchmarks import coldstart
from benchmarks.cost import cost_model
from benchmarks.run import Options, run_scenario
from job_auditor.contract.kinds import default_kind_ids
from simulator.world import MotoServer


@pytest.mark.long
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
        # every registered default kind is audited, each at its list-call bound
        assert set(a["listCallsByKind"]) == set(default_kind_ids())
        for kind in a["listCallsByKind"].values():
            assert kind["measured"] == kind["apiBound"]
        assert a["getCalls"] == a["getCallsBound"]
        assert a["putEvents"] == a["putEventsBound"]
        assert a["snsCalls"] == a["snsBound"]
        assert a["dynamodbRequests"] == a["dynamodbMinimum"]
        assert a["readUnitsEstimated"] > 0
        assert {"apiCalls", "wall"} <= set(row["ratios"])
        assert row["naive"]["events"] == a["transitions"] == row["transitionsPerCycle"]
        # And the hourly sweep is measured: a superset of the window, plus a listing of each in-progress
        # status for the kinds with a status filter, every kind's list calls at their bound
        sweep = row["sweep"]
        assert sweep["listCalls"] == sweep["listCallsBound"] > a["listCalls"]
        for kind, calls in sweep["listCallsByKind"].items():
            assert calls["measured"] == calls["apiBound"]
            assert calls["measured"] >= a["listCallsByKind"][kind]["measured"]
        assert sweep["jobsListed"] >= sum(k["jobsInWindow"] for k in a["listCallsByKind"].values())
        assert {"getCalls", "dynamodbRequests", "wallS", "modelledS", "peakRssMb"} <= set(sweep)
    # And the cost model prices the scenario with transitions against the idle one
    model = cost_model(report)
    assert model["pricesAsOf"] == "2026-11"
    (entry,) = model["scenarios"].values()
    assert set(entry["monthly"]) >= {"1-min idle", "5-min idle", "15-min idle"}


def test_fanout_cost_model_is_fed_by_the_measured_counts(moto_server: MotoServer, tmp_path: Any) -> None:
    # Given the fan-out's and the direct mode's real handlers measured on the simulator and moto
    from dataclasses import replace

    from benchmarks import fanout
    from benchmarks.run import _ddb_minimum

    with open(tmp_path / "workers.log", "w", encoding="utf-8") as log:
        measured = fanout.measure(moto_server, cycles=1, log=log)
    # Then an idle source costs what the auditor's DynamoDB floor says (the bench's lower bound for a
    # source without transitions), one list call, and write and read units and CPU time of its own
    source = measured.source
    ddb = sum(n for op, n in source.calls.items() if op.startswith("dynamodb."))
    assert ddb == _ddb_minimum({"sources": [{"transitions": 0}]}, 1, 0, runs=0)
    assert sum(n for op, n in source.calls.items() if not op.startswith("dynamodb.")) == 1
    assert source.write_units >= 1 and source.read_units > 0 and source.cpu_s > 0
    assert measured.plan.calls and measured.direct.cpu_s > 0 and measured.shape["sources"] == 100
    # When the model prices the target shape
    report = fanout.report(measured)
    assert [r["sources"] for r in report["rows"]] == [10, 100, 1_000, 10_000]
    assert report["target"]["sources"] == 2_000
    assert {c["itemsPerBatch"] for c in report["choices"]} >= {1, 20}
    assert all(p["source"] and p["usd"] > 0 for p in report["prices"].values())
    # Then a source's DynamoDB cost is its measured units at the on-demand prices, every period
    target = fanout.model(*fanout.TARGET_SHAPE, fanout.Design(), measured)
    # And one write less per source, measured, is that write's price less, every source and period
    lighter = replace(
        measured,
        source=replace(source, write_units=source.write_units - 1),
        source_sweep=replace(measured.source_sweep, write_units=measured.source_sweep.write_units - 1),
    )
    saved = (
        target.usd_by_service["dynamodb"]
        - fanout.model(*fanout.TARGET_SHAPE, fanout.Design(), lighter).usd_by_service["dynamodb"]
    )
    runs = fanout.MINUTES_PER_MONTH / fanout.SCHEDULE_MIN
    assert saved == pytest.approx(2_000 * runs * fanout.usd("dynamodbWriteUnit"), abs=0.02)
    # And a child (100 sources) is billed at least their CPU at the memory's vCPU share
    cpu = source.blend(measured.source_sweep, fanout.SCHEDULE_MIN / fanout.RECONCILE_EVERY_MIN).cpu_s
    assert target.child_s >= 100 * cpu / fanout.vcpu_share(fanout.MEMORY_MB) - 0.01


def test_qconnect_history_and_latency_have_their_shape(moto_server: MotoServer, tmp_path: Any) -> None:
    # Given a knowledge base of 300 finished import jobs, in each discovery mode
    from benchmarks import qconnect

    with open(tmp_path / "workers.log", "w", encoding="utf-8") as log:
        listing = qconnect.run_history(moto_server, 300, "listing", log)
        cloudtrail = qconnect.run_history(moto_server, 300, "cloudtrail", log)
    # Then a listing run reads every page; a cloudtrail run reads none, Gets what is announced or in
    # flight and drains the queue; both sweeps read every page
    pages = (300 + qconnect.IN_FLIGHT + 99) // 100
    assert listing["cycle"]["listCalls"] >= pages and listing["cycle"]["sqsCalls"] == 0
    assert cloudtrail["cycle"]["listCalls"] == 0 and cloudtrail["cycle"]["sqsCalls"] > 0
    assert cloudtrail["cycle"]["getCalls"] >= qconnect.TRANSITIONS // 2
    for row in (listing, cloudtrail):
        assert row["sweep"]["listCalls"] >= pages and row["sweep"]["peakRssMb"] > 0
    # And latency is measured on both paths (13 runs: one sweep after the baseline's)
    latency = qconnect.measure_latency(moto_server, "cloudtrail", 1, runs=13)
    assert latency["fast"]["n"] > 0 and latency["sweep"]["n"] > 0
    assert {"p50", "p95", "max"} <= set(latency["fast"])


def test_org_memory_measures_plan_and_a_batch_each_in_its_own_process(moto_server: MotoServer) -> None:
    # Given five accounts (the home account and four members on their roles) in the benchmark's regions:
    # one batch of account-regions
    from benchmarks import org_memory

    accounts, regions = 5, len(org_memory.REGIONS)
    # When the benchmark measures them
    rows = org_memory.measure(moto_server, accounts, org_memory.ROOT, org_memory.DEFAULT_CAP_MB)
    # Then Plan and one Batch each report their peak RSS, CPU and what they built, none over the cap
    plan, batch = rows
    assert [plan["step"], batch["step"]] == ["plan", f"batch ({org_memory.ITEMS_PER_BATCH} account-regions)"]
    for row in rows:
        assert not row["overCap"]
        assert row["peakRssMb"] > 0 and row["cpuS"] > 0 and row["invocations"] == 1
    # And Plan built only the discovery clients, one per service and account-region, and one STS
    # client that assumed every member account's role
    built = plan["clientsByService"]
    assert built["qconnect"] == built["bedrock-agent"] == accounts * regions
    assert "bedrock" not in built
    assert built["sts"] == 1
    # And the batch built the three job API clients of each of its account-regions
    assert {
        s: batch["clientsByService"][s] for s in ("bedrock", "bedrock-agent", "qconnect")
    } == dict.fromkeys(("bedrock", "bedrock-agent", "qconnect"), org_memory.ITEMS_PER_BATCH)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_the_cold_start_instruction_count_is_callgrinds_count_until_ready(tmp_path: Any) -> None:
    # Given valgrind, and two processes that report ready alike: one that does nothing before, one
    # that first imports a package of the standard library that the other does not load
    valgrind = str(shutil.which("valgrind"))
    env = coldstart._env(tmp_path)
    idle = "t0 = t1 = t2 = 0.0\n"
    busy = "import xml.dom.minidom\nt0 = t1 = t2 = 0.0\n"
    # When callgrind counts each until it is ready (the process then exits at once)
    counts = [
        coldstart._instructions_until_ready(valgrind, code, env, sys.executable) for code in (idle, busy)
    ]
    # Then each is a real count, and the import's work shows in it
    assert counts[0] > 10_000_000
    assert counts[1] > counts[0] + 1_000_000


def test_without_valgrind_the_instruction_count_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no valgrind on PATH / When the instructions are asked for / Then none is printed, no error
    monkeypatch.setenv("PATH", "/nonexistent")
    assert coldstart.instructions() is None


def test_the_cold_start_benchmark_refuses_an_interpreter_that_is_not_there(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an interpreter path that names nothing / When the benchmark is asked to measure on it
    with pytest.raises(SystemExit) as exited:
        coldstart.main(["--python", "no-such-python"])
    # Then it stops before measuring, with the usage exit code and the option named
    assert exited.value.code == 2
    assert "--python: no interpreter at no-such-python" in capsys.readouterr().err
