"""Every payload of the fan-out within its share of the bound, at its worst: Step Functions fails the
whole execution with States.DataLimitExceeded (which no Catch handles) past 256 KiB, so one oversized
payload would stop every account's audit. Each test builds a payload as large as failures can make it
(1,000 accounts failing everywhere, error texts of 20,000 characters, the map's largest batches) and
checks it against its share (contract.fanout_payload), and the parent's whole state against the bound.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from job_auditor.auditor import fanout, wiring
from job_auditor.auditor.domain.batches import MAX_SOURCES_PER_ITEM, ItemPlan, plan_items
from job_auditor.auditor.domain.bounded import clip, fit, json_size
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.planner import RunPlan
from job_auditor.auditor.run_metrics import RunCounts, accounts_named
from job_auditor.auditor.settings import Settings, load_settings
from job_auditor.auditor.summary import MAX_ACCOUNT_REASONS, SourceSummary
from job_auditor.contract import fanout_payload as payload

HOME = "123456789012"
ACCOUNTS = [f"3{n:011d}" for n in range(1_000)]
# Every region botocore knows in the commercial partition: the most REGIONS can name.
REGIONS = boto3.session.Session().get_available_regions("ec2")
LONG = "AccessDenied: " + "x" * 20_000  # as long as a job's failure message gets, and longer
DISCOVERING = [k for k in JOB_KINDS.values() if k.discovery]
UUID = "0" * 8 + "-0000-0000-0000-" + "0" * 12  # the longest scope id a kind's pattern allows
MAX_ITEMS_PER_BATCH = 100  # itemsPerBatch's upper bound (infra/config.py)


def _settings() -> Settings:
    return load_settings(
        {
            "AWS_REGION": "us-east-1",
            "STATE_TABLE_NAME": "job-auditor-state",
            "EVENT_BUS_NAME": "job-auditor",
            "NOTIFICATION_TOPIC_ARN": f"arn:aws:sns:us-east-1:{HOME}:job-auditor",
        }
    )


class FakeItemStore:
    """The fan-out bucket, in memory: JSON documents and a ResultWriter manifest."""

    bucket = "runs"

    def __init__(self, results: list[tuple[str, dict[str, Any]]] | None = None) -> None:
        self.documents: dict[str, Any] = {}
        self.results = results or []

    def put_json(self, key: str, value: object) -> None:
        self.documents[key] = json.loads(json.dumps(value))

    def get_json(self, key: str, bucket: str | None = None) -> Any:
        return self.documents[key]

    def map_results(self, bucket: str, manifest_key: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(self.results)


class _NoMarks:
    def mark_scopes(self, scopes: object) -> list[SourceSummary]:
        return []


def _worst_items() -> list[dict[str, Any]]:
    """Inline items up to the inline share: account-regions of every kind, at the longest ids."""
    sources = [
        Source(account, region, kind, (UUID,) * len(kind.discovery))
        for account in ACCOUNTS
        for region in REGIONS
        for kind in JOB_KINDS.values()
    ]
    items = plan_items(sources[:5_000], {}, concurrency=4).items
    return fit(items, payload.INLINE_ITEMS_MAX_BYTES)


def _worst_plan(monkeypatch: pytest.MonkeyPatch, store: FakeItemStore | None) -> dict[str, Any]:
    """Plan's output when every discovery of 1,000 accounts in every region fails with a long error,
    10,000 account-regions are over the bound, the organization cannot be listed, and the items just
    fit inline."""
    failures = tuple(
        SourceSummary.of(Source(account, region, kind), LONG)
        for account in ACCOUNTS
        for region in REGIONS[:4]
        for kind in DISCOVERING
    )
    run = RunPlan(failures=failures, accounts=len(ACCOUNTS), account_listing_error=LONG)
    over_bound = [f"{a}/{r}" for a in ACCOUNTS for r in REGIONS][:10_000]
    monkeypatch.setattr(wiring, "plan_run", lambda *args, **kwargs: run)
    monkeypatch.setattr(wiring, "build_audit_step", lambda *args, **kwargs: _NoMarks())
    monkeypatch.setattr(fanout, "plan_items", lambda *args: ItemPlan(_worst_items(), over_bound))
    out = fanout.plan(_settings(), HOME, None, store, "run-1")  # type: ignore[arg-type]
    assert payload.ITEMS in out, "the worst case is the one with the items inline"
    return out


def _worst_counts(accounts: list[str]) -> RunCounts:
    """A batch's counts at their worst: every kind in every region, every status of every kind and
    an unknown one, 100 named failures and stopped sources with long texts, its accounts failing
    with the most reasons each."""
    counts = RunCounts(sources=MAX_ITEMS_PER_BATCH * MAX_SOURCES_PER_ITEM)
    for name in ("JobsListed", "Transitions", "Published", "ApiCalls", "SourceFailures"):
        counts.totals[name] = 10**9
    for kind in JOB_KINDS.values():
        for region in REGIONS:
            for name in ("JobsListed", "ApiCalls", "Transitions"):
                counts.per_source[(kind.id, region, name)] = 10**9
        for status in (*kind.statuses, "UNKNOWN"):
            counts.by_status[(kind.id, status)] = 10**9
    for n in range(200):
        counts.fail(f"{accounts[n % len(accounts)]}/{REGIONS[0]}/{'k' * 300}/{n}", LONG)
        counts.stop(f"{accounts[n % len(accounts)]}/{REGIONS[0]}/{'k' * 300}/{n}")
    for account in accounts:
        counts.fail_account(account, 10**6, [f"{LONG} {n}" for n in range(MAX_ACCOUNT_REASONS)])
    return counts


def _child_input(accounts: list[str]) -> str:
    items = [
        {
            payload.ITEM_ACCOUNT: account,
            payload.ITEM_REGION: REGIONS[0],
            payload.ITEM_PART: "1/1",
            payload.ITEM_SOURCES: [["bedrock-model-import"]] * 5,
        }
        for account in accounts
    ]
    return json.dumps({payload.BATCH_ITEMS: items})


def _worst_results() -> list[tuple[str, dict[str, Any]]]:
    """1,000 accounts in children of 100 items each: half succeeded with their counts at their worst,
    half failed with long causes."""
    results = []
    for start in range(0, len(ACCOUNTS), MAX_ITEMS_PER_BATCH):
        accounts = ACCOUNTS[start : start + MAX_ITEMS_PER_BATCH]
        if start % 200:
            output = json.dumps(_worst_counts(accounts).as_dict())
            results.append(("SUCCEEDED", {"Output": output}))
        else:
            failed = {"Input": _child_input(accounts), "Error": "Sandbox.Timedout", "Cause": LONG}
            results.append(("FAILED", failed))
    return results


GUARD = {payload.GUARD: {payload.GUARD_RUNNING: 1, payload.GUARD_SELF_LISTED: True}}
MAP_RESULT = {
    "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:" + "m" * 200,
    "ResultWriterDetails": {"Bucket": "b" * 63, "Key": "results/" + "k" * 1_000 + "/manifest.json"},
}
# What a Catch puts in the state: Step Functions' error name (256) and cause (32,768) at most.
MAP_ERROR = {"Error": "E" * 256, "Cause": "C" * 32_768}


def test_the_shares_add_up_within_the_bound_and_the_bound_below_the_service_limit() -> None:
    shares = payload.INLINE_ITEMS_MAX_BYTES + payload.PLAN_NAMED_MAX_BYTES
    shares += max(payload.MAP_ERROR_MAX_BYTES, json_size(MAP_RESULT)) + payload.SUMMARY_MAX_BYTES
    assert shares + 4 * 1024 <= payload.PAYLOAD_BOUND_BYTES < payload.STATE_PAYLOAD_LIMIT_BYTES
    assert json_size(MAP_ERROR) <= payload.MAP_ERROR_MAX_BYTES
    assert payload.BATCH_INPUT_MAX_BYTES <= payload.PAYLOAD_BOUND_BYTES
    assert payload.BATCH_OUTPUT_MAX_BYTES <= payload.PAYLOAD_BOUND_BYTES


def test_plan_output_at_its_worst_stays_within_its_share_and_keeps_every_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FakeItemStore()
    out = _worst_plan(monkeypatch, store)
    named = {k: v for k, v in out.items() if k != payload.ITEMS}
    # Then the named part fits its share, the items theirs, and every failure is counted and kept
    assert json_size(named) <= payload.PLAN_NAMED_MAX_BYTES
    assert json_size(out[payload.ITEMS]) <= payload.INLINE_ITEMS_MAX_BYTES
    every = len(ACCOUNTS) * 4 * len(DISCOVERING)
    assert out[payload.DISCOVERY_FAILURE_COUNT] == every and out[payload.OVER_BOUND_COUNT] == 10_000
    assert 0 < len(out[payload.DISCOVERY_FAILURES]) < every
    kept = store.documents[out[payload.DISCOVERY_FAILURES_KEY]]
    assert len(kept) == every and kept[0]["error"] == LONG


def test_a_batch_output_at_its_worst_stays_within_its_share_and_keeps_every_accounts_count() -> None:
    accounts = ACCOUNTS[:MAX_ITEMS_PER_BATCH]
    counts = _worst_counts(accounts)
    out = counts.as_dict()
    assert json_size(out) <= payload.BATCH_OUTPUT_MAX_BYTES
    back = RunCounts.from_dict(out)
    # Every account's failed sources travel whole (its AccountFailures metric), the reasons as they fit
    assert {a: e["sources"] for a, e in back.accounts_failed.items()} == dict.fromkeys(accounts, 10**6)
    assert back.failed_count == counts.failed_count == 200 and back.stopped_count == 200
    assert back.accounts_failed[accounts[0]]["reasons"][0] == clip(f"{LONG} 0")


def test_a_batch_input_item_at_its_worst_fits_a_batch() -> None:
    # Given one account-region with more sources than an item holds, each at its longest scope ids
    kind = max(JOB_KINDS.values(), key=lambda k: len(k.id) + 37 * len(k.discovery))
    sources = [Source(HOME, REGIONS[0], kind, (UUID,) * len(kind.discovery))] * (2 * MAX_SOURCES_PER_ITEM)
    scopes = {Source(HOME, r, k).key: True for r in REGIONS for k in DISCOVERING}
    (item, _) = plan_items(sources, scopes, concurrency=4).items
    # Then an item alone is well within a child's input
    assert json_size({payload.BATCH_ITEMS: [item]}) <= payload.BATCH_INPUT_MAX_BYTES // 4


@pytest.mark.parametrize("caught", [False, True])
def test_the_parent_state_at_its_worst_stays_within_the_bound(
    monkeypatch: pytest.MonkeyPatch, caught: bool
) -> None:
    # Given Plan's output at its worst, and the map's result (or the error its Catch caught)
    store = FakeItemStore(_worst_results())
    state: dict[str, Any] = {**GUARD, payload.PLAN: _worst_plan(monkeypatch, store)}
    state |= {payload.MAP_ERROR: MAP_ERROR} if caught else {payload.MAP: MAP_RESULT}
    # When Summarize summarizes 1,000 accounts failing everywhere
    counts, summary = fanout.summarize(state, store)  # type: ignore[arg-type]
    # Then its output fits its share, and the whole state after it the bound
    assert json_size(summary) <= payload.SUMMARY_MAX_BYTES
    assert json_size({**state, payload.SUMMARY: summary}) <= payload.PAYLOAD_BOUND_BYTES
    # And nothing is lost to the metrics: every account and every failure counted
    assert len(counts.accounts_failed) == summary["failedAccountCount"] == len(ACCOUNTS)
    assert summary["failedSourceCount"] == counts.failed_count >= len(ACCOUNTS) * 4 * len(DISCOVERING)
    assert 0 < len(summary["failedAccounts"]) < len(ACCOUNTS)
    # (a map run that failed has no results to read: its children are not named)
    assert summary["failedBatchCount"] == (0 if caught else 5)
    assert summary["status"] == ("failed" if caught else "partial-failure")


def test_fit_keeps_the_first_entries_that_fit_and_clip_marks_a_cut() -> None:
    assert fit(["aa", "bb", "cc"], json_size(["aa", "bb"])) == ["aa", "bb"]
    assert fit(["a" * 100], 50) == [] and fit([], 0) == []
    assert clip("abcdef", 5) == "ab..." and clip("abc", 5) == "abc"


def test_a_summary_names_every_account_it_can_with_a_reason_before_any_gets_a_second() -> None:
    # Given 51 failing accounts with five 200-character reasons each (about 1 KB an account)
    accounts: dict[str, dict[str, Any]] = {
        f"{n:012d}": {"sources": 5, "reasons": [f"{n}-{r}-" + "x" * 190 for r in range(5)]} for n in range(51)
    }
    budget = 16 * 1024
    # When a summary names them within 16 KB
    named = accounts_named(accounts, budget)
    # Then every account is named with its count and its first reason, and the rest of the budget holds
    # further reasons of the first accounts, in order, without passing it
    assert list(named) == list(accounts)
    assert all(
        named[a]["sources"] == 5 and named[a]["reasons"][0] == e["reasons"][0] for a, e in accounts.items()
    )
    seconds = [a for a in named if len(named[a]["reasons"]) > 1]
    assert seconds and seconds == list(named)[: len(seconds)]
    assert all(named[a]["reasons"] == accounts[a]["reasons"][: len(named[a]["reasons"])] for a in named)
    assert json_size(named) <= budget < json_size(named) + 200
    # And a budget too small for them all names the first accounts only, still within it
    few = accounts_named(accounts, 2_000)
    assert 0 < len(few) < len(accounts) and json_size(few) <= 2_000
    assert list(few) == list(accounts)[: len(few)]
