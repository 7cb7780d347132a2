"""Fan-out items and counts: one account-region per item, the bound shared by split parts, and the
batches' counts giving the direct handler's metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from job_auditor.auditor import fanout
from job_auditor.auditor.domain.batches import batches, decode_item, plan_items
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.observability import metrics
from job_auditor.auditor.run_metrics import RunCounts, record_run
from job_auditor.auditor.summary import RunSummary, SourceSummary

IMPORT, QCONNECT = JOB_KINDS["bedrock-model-import"], JOB_KINDS["qconnect-import"]


def _sources(accounts: int, regions: int, kbs: int) -> list[Source]:
    return [
        s
        for a in range(accounts)
        for r in (f"us-east-{n + 1}" for n in range(regions))
        for s in [
            Source(f"{a:012d}", r, IMPORT),
            *(Source(f"{a:012d}", r, QCONNECT, (f"kb-{k}",)) for k in range(kbs)),
        ]
    ]


@pytest.mark.parametrize("accounts", [1, 3, 50])
def test_every_item_is_one_account_region_and_every_source_is_in_one_item(accounts: int) -> None:
    sources = _sources(accounts, 4, 3)
    plan = plan_items(sources, {}, concurrency=2)
    assert len(plan.items) == accounts * 4
    assert [s for item in plan.items for s in decode_item(item)] == sources
    for item in plan.items:
        assert {(s.account, s.region) for s in decode_item(item)} == {(item["account"], item["region"])}
    # and the batcher packs whole items: no account-region is in two children
    children = batches(plan.items, 7)
    regions_per_child = [{(i["account"], i["region"]) for i in child} for child in children]
    assert sum(len(r) for r in regions_per_child) == len(set().union(*regions_per_child))


def test_a_large_account_region_is_split_and_its_parts_share_the_bound() -> None:
    sources = _sources(1, 1, 499)  # 500 sources in one account-region
    plan = plan_items(sources, {}, concurrency=4, max_sources=250)
    assert [item["concurrency"] for item in plan.items] == [2, 2] and plan.over_bound == []
    tight = plan_items(sources, {}, concurrency=1, max_sources=250)
    assert tight.over_bound == ["000000000000/us-east-1"]


def test_scope_flags_travel_with_their_sources() -> None:
    sources = _sources(1, 2, 1)
    seen = {"000000000000/us-east-1/qconnect-import": True, "000000000000/us-east-2/qconnect-import": False}
    plan = plan_items(sources, seen, concurrency=2)
    assert [item["scopeSeen"] for item in plan.items] == [
        {"000000000000/us-east-1/qconnect-import": True},
        {"000000000000/us-east-2/qconnect-import": False},
    ]


def _summary() -> RunSummary:
    a = SourceSummary(
        "a", "qconnect-import", "us-east-1", transitions=3, published=3, api_calls=4, jobs_listed=2
    )
    a.transitions_by_status = {"COMPLETE": 2, "FAILED": 1}
    b = SourceSummary("b", "bedrock-model-import", "eu-west-1", error="Throttling: slow down", api_calls=1)
    return RunSummary(started_at="2026-11-02T09:00:00Z", sources=[a, b])


def _emitted(capsys: pytest.CaptureFixture[str], emit: Any) -> list[dict[str, Any]]:
    metrics.clear_metrics()
    emit()
    metrics.flush_metrics()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    for line in lines:
        line["_aws"].pop("Timestamp")
    return sorted(lines, key=json.dumps)


def _summarized(summary: RunSummary) -> tuple[RunCounts, dict[str, Any]]:
    """`summary` as Summarize sees it: one batch's counts (as JSON) and the Plan's output."""
    plan: dict[str, Any] = {"runId": "r", "sourceCount": len(summary.sources)}
    if summary.account_listing_error:
        plan["accountListingError"] = summary.account_listing_error
    return fanout.summarize({"plan": plan, "map": [json.dumps(RunCounts.of(summary).as_dict())]}, None)


@pytest.mark.parametrize("listing_error", [None, "AccessDeniedException: cannot list"])
def test_summarize_emits_exactly_the_direct_handlers_metrics(
    capsys: pytest.CaptureFixture[str], listing_error: str | None
) -> None:
    # Given one run's summary, as the direct handler sees it and as batches' counts travel (JSON)
    summary = _summary()
    summary.account_listing_error = listing_error
    counts, summarized = _summarized(summary)
    # When each path records its metrics / Then they are the same
    assert _emitted(capsys, lambda: record_run(summary)) == _emitted(
        capsys, lambda: fanout.record_summarized(counts, summarized)
    )


def test_a_run_whose_accounts_could_not_be_listed_is_not_a_success_in_either_mode(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a run whose every source went through, but Organizations could not be listed
    summary = RunSummary(
        started_at="t",
        sources=[SourceSummary("a", "qconnect-import", "us-east-1")],
        account_listing_error="AccessDeniedException: cannot list",
    )
    counts, summarized = _summarized(summary)
    # When Summarize records its metrics
    emitted = _emitted(capsys, lambda: fanout.record_summarized(counts, summarized))
    # Then the run is a partial failure, as the direct handler's summary says
    (run,) = [line for line in emitted if "RunSucceeded" in line]
    assert (run["RunSucceeded"], run["RunPartialFailure"], run["AccountListingFailures"]) == ([0], [1], [1])
    assert summarized["status"] == summary.status == "partial-failure"


def test_a_failed_child_is_named_with_its_account_regions_and_reason() -> None:
    item = {
        "account": "111111111111",
        "region": "us-east-1",
        "part": "1/1",
        "sources": [["bedrock-model-import"]],
    }
    ok = RunCounts.of(_summary()).as_dict()
    event = {"plan": {"runId": "r", "sourceCount": 3}, "map": [ok]}
    counts, summary = fanout.summarize(event, None)
    assert summary["failedSources"] == [{"source": "b", "error": "Throttling: slow down"}]
    failed = {"Input": json.dumps({"Items": [item]}), "Error": "Sandbox.Timedout", "Cause": "Task timed out"}
    results = [("SUCCEEDED", {"Output": json.dumps(ok)}), ("FAILED", failed)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fanout, "_child_results", lambda event, store: results)
        counts, summary = fanout.summarize(event, None)
    (batch,) = summary["failedBatches"]
    assert batch["accountRegions"] == ["111111111111/us-east-1 (part 1/1)"]
    assert batch["reason"] == "Sandbox.Timedout: Task timed out"
    assert summary["status"] == "partial-failure" and counts.totals["SourceFailures"] == 2
