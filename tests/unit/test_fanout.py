"""Fan-out items and counts: one account-region per item, the bound shared by split parts, and the
batches' counts giving the direct handler's metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from job_auditor.auditor import fanout
from job_auditor.auditor.domain.batches import (
    batches,
    decode_item,
    decode_orphans,
    decode_records,
    plan_items,
)
from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.domain.schedule import AuditRecord, Orphan, fair_order, record_of
from job_auditor.auditor.observability import metrics
from job_auditor.auditor.run_metrics import RunCounts, record_run
from job_auditor.auditor.summary import RunSummary, SourceSummary

IMPORT, QCONNECT = JOB_KINDS["bedrock-model-import"], JOB_KINDS["qconnect-import"]
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


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
    gone = SourceSummary("c", "qconnect-import", "us-east-1", orphaned="scope deleted", orphaned_jobs=2)
    return RunSummary(
        started_at="2026-11-02T09:00:00Z",
        sources=[a, b],
        orphans=[gone],
        skipped={"notOffered": 3},
        stalest_age_seconds=900,
    )


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


def _record(source: Source, minutes_ago: int | None) -> AuditRecord:
    if minutes_ago is None:
        return record_of(source)
    at = T0 - timedelta(minutes=minutes_ago)
    return record_of(
        source, checkpoint=Checkpoint(at, at), first_attempted_at=at - timedelta(days=1), last_turn_at=at
    )


def test_items_come_in_the_order_of_their_stalest_source_and_their_sources_likewise() -> None:
    # Given two account-regions: us-east-1 audited 5 minutes ago, us-east-2 holding a knowledge base
    # audited an hour ago and one never audited
    fresh = Source("000000000000", "us-east-1", IMPORT)
    stale = Source("000000000000", "us-east-2", QCONNECT, ("kb-1",))
    never = Source("000000000000", "us-east-2", QCONNECT, ("kb-2",))
    other = Source("000000000000", "us-east-2", IMPORT)
    records = {s.key: _record(s, m) for s, m in ((fresh, 5), (stale, 60), (other, 5))}
    # When Plan cuts the plan's sources (in their fair order) into items
    plan = plan_items(fair_order([fresh, other, stale, never], records), {}, 2, records=records)
    # Then the stalest account-region comes first, its sources the stalest first
    assert [item["region"] for item in plan.items] == ["us-east-2", "us-east-1"]
    assert decode_item(plan.items[0]) == [never, stale, other]


def test_records_and_orphans_travel_with_their_items() -> None:
    # Given sources with records (one never attempted, one caught up) and orphans of two account-regions
    ran = Source("000000000000", "us-east-1", IMPORT)
    never = Source("000000000000", "us-east-1", QCONNECT, ("kb-1",))
    failing = Source("000000000000", "us-east-1", QCONNECT, ("kb-2",))
    records = {ran.key: _record(ran, 5), failing.key: record_of(failing, first_attempted_at=T0)}
    orphans = [
        Orphan(Source("000000000000", "us-east-1", QCONNECT, ("kb-gone",)), "scope deleted"),
        Orphan(Source("111111111111", "eu-west-1", IMPORT), "account removed"),
    ]
    # When they are cut into items and read back by the batches
    plan = plan_items([ran, never, failing], {}, 2, records=records, orphans=orphans)
    first, removed = plan.items
    read = decode_records(first, decode_item(first))
    # Then each source has its record as Plan read it, and each item its account-region's orphans
    assert read is not None
    assert read[ran.key].checkpoint == records[ran.key].checkpoint
    assert read[ran.key].first_attempted_at == records[ran.key].first_attempted_at
    assert not read[never.key].attempted
    assert read[failing.key].checkpoint is None and read[failing.key].first_attempted_at == T0
    assert decode_orphans(first) == orphans[:1] and decode_orphans(removed) == orphans[1:]
    assert decode_item(removed) == []
    # and an item planned by an earlier version (no records) leaves them for the batch to read
    assert decode_records({**first, "records": None}, decode_item(first)) is None


def test_orphans_skipped_kinds_and_the_stalest_age_are_metrics_in_both_modes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a run that wound down an orphan, skipped kinds not offered, and planned a 15-minute-old source
    summary = _summary()
    counts, summarized = _summarized(summary)
    # When each mode records its metrics
    direct = _emitted(capsys, lambda: record_run(summary))
    # Then both emit them, the age in seconds
    assert direct == _emitted(capsys, lambda: fanout.record_summarized(counts, summarized))
    (run,) = [line for line in direct if "RunSucceeded" in line]
    assert (run["OrphanedSources"], run["OrphanedJobs"], run["StalestSourceAgeSeconds"]) == ([1], [2], [900])
    units = {m["Name"]: m["Unit"] for m in run["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["StalestSourceAgeSeconds"] == "Seconds"
    (skipped,) = [line for line in direct if "SkippedSources" in line]
    assert (skipped["SkippedSources"], skipped["Reason"]) == ([3], "notOffered")
    assert summarized["orphanedSources"] == [{"source": "c", "reason": "scope deleted"}]
    assert summarized["stalestSourceAgeSeconds"] == 900 and summarized["skippedSources"] == {"notOffered": 3}
