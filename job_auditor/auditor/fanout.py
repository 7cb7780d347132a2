"""Lambda entry points of the fan-out (auditMode=stepfunctions): Plan, Batch and Summarize.

The state machine (infra/fanout.py) runs Guard -> Plan -> a Distributed Map of Batch children ->
Summarize. Each step is as thin as the direct handler, over the same wiring: plan -> audit -> count.

- Plan plans the run (`Planner`: every account and region, discovery, the scopes' marks), marks the
  scopes found empty, and cuts the sources into map items, one account-region each
  (`domain.batches`); small lists go inline, large ones to S3.
- Batch audits the items the map's ItemBatcher gave it: each item is a plan of its own (its sources,
  with the scope marks Plan read), audited with at most its item's `concurrency` threads, all items
  of the batch at once, within the invocation's time budget; it returns counts and failures only (a
  per-source summary of 1,000 sources would pass 256 KB).
- Summarize adds the batches' counts up (from the map's ResultWriter files in S3, failed children
  included) and emits the run metrics with the direct handler's `record_metrics`, so the dashboard
  and the heartbeat read the same series in both modes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from job_auditor.auditor import wiring
from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.adapters.item_store import ItemStore
from job_auditor.auditor.domain.batches import decode_item, plan_items
from job_auditor.auditor.domain.bounded import clip, fit, json_size
from job_auditor.auditor.domain.events import iso
from job_auditor.auditor.observability import count, logger, metrics, tracer
from job_auditor.auditor.run_metrics import RunCounts, accounts_named, record_metrics
from job_auditor.auditor.settings import Settings, SettingsError
from job_auditor.auditor.summary import SourceSummary
from job_auditor.contract import fanout_payload as payload

# An item list up to this size travels in the state's payload; a larger one goes to S3.
INLINE_ITEMS_MAX_BYTES = payload.INLINE_ITEMS_MAX_BYTES
# Plan's named lists, within payload.PLAN_NAMED_MAX_BYTES (an item list up to
# INLINE_ITEMS_MAX_BYTES travels inline; a larger one goes to S3 and the map reads it with ItemReader).
FAILURES_BYTES = payload.PLAN_NAMED_MAX_BYTES * 3 // 4
OVER_BOUND_BYTES = payload.PLAN_NAMED_MAX_BYTES // 6
LISTING_ERROR_CHARS = 1_000
# Summarize's named lists, within payload.SUMMARY_MAX_BYTES (with Plan's overBound, carried along).
SUMMARY_SOURCES_BYTES = payload.SUMMARY_MAX_BYTES // 4
SUMMARY_BATCHES_BYTES = payload.SUMMARY_MAX_BYTES // 5
SUMMARY_ACCOUNTS_BYTES = payload.SUMMARY_MAX_BYTES // 4
SUMMARY_STOPPED_BYTES = payload.SUMMARY_MAX_BYTES // 8
# A failed child's account-regions named in the summary (the child's input holds up to itemsPerBatch).
BATCH_NAMES_BYTES = 1_000
SKIPPED_REASON = "previous run still running"
# Accounts whose sources Plan discovers at once.
PLAN_CONCURRENCY = 16


# -- Plan ---------------------------------------------------------------------------------------------
def plan(
    settings: Settings, home: str, clients: ClientFactory, store: ItemStore | None, run_id: str
) -> dict[str, Any]:
    """Plan every account's sources and cut them into items (inline, or in S3 when large). Scopes
    found empty have no item, so they are marked here; a failed mark is one more failed discovery."""
    run = wiring.plan_run(settings, clients, home, account_concurrency=PLAN_CONCURRENCY)
    failures = [*run.failures, *wiring.build_audit_step(settings, clients).mark_scopes(run.empty_scopes)]
    items = plan_items(run.sources, run.marks, settings.account_region_concurrency)
    if items.over_bound:
        logger.warning(
            "account-regions with more sources than the concurrency bound covers",
            extra={"accountRegions": fit(items.over_bound, OVER_BOUND_BYTES), "count": len(items.over_bound)},
        )
    out: dict[str, Any] = {
        payload.RUN_ID: run_id,
        payload.SOURCE_COUNT: items.source_count,
        payload.ITEM_COUNT: len(items.items),
        payload.ACCOUNTS: run.accounts,
        **(
            {payload.ACCOUNT_LISTING_ERROR: clip(run.account_listing_error, LISTING_ERROR_CHARS)}
            if run.account_listing_error
            else {}
        ),
        **_discovery_failures(failures, store, run_id),
        payload.OVER_BOUND: fit(items.over_bound, OVER_BOUND_BYTES),
        payload.OVER_BOUND_COUNT: len(items.over_bound),
    }
    size = json_size(items.items)
    if size <= INLINE_ITEMS_MAX_BYTES or store is None:
        out[payload.ITEMS] = items.items
    else:
        key = f"runs/{run_id}/items.json"
        store.put_json(key, items.items)
        out[payload.ITEMS_BUCKET], out[payload.ITEMS_KEY] = store.bucket, key
    logger.info("plan", extra={k: v for k, v in out.items() if k != payload.ITEMS} | {"itemsBytes": size})
    return out


def _discovery_failures(
    failures: list[SourceSummary], store: ItemStore | None, run_id: str
) -> dict[str, Any]:
    """Plan's failed discoveries: the first within their share of the payload, all of them counted,
    and all of them in S3 when some were left out (Summarize counts them by account from there)."""
    entries = [{"source": f.source, "account": f.account, "error": f.error or ""} for f in failures]
    named = fit(
        [{**e, "source": clip(e["source"]), "error": clip(e["error"])} for e in entries], FAILURES_BYTES
    )
    out: dict[str, Any] = {payload.DISCOVERY_FAILURES: named, payload.DISCOVERY_FAILURE_COUNT: len(entries)}
    if len(named) < len(entries) and store is not None:
        key = f"runs/{run_id}/discovery-failures.json"
        store.put_json(key, entries)
        out[payload.DISCOVERY_FAILURES_KEY] = key
    return out


# -- Batch --------------------------------------------------------------------------------------------
def audit_batch(
    settings: Settings,
    items: Iterable[Mapping[str, Any]],
    clients: ClientFactory,
    should_stop: Callable[[], bool],
) -> RunCounts:
    """Audit every item at once, each account-region with its item's share of threads."""
    items = list(items)

    def audit_item(item: Mapping[str, Any]) -> RunCounts:
        sources = decode_item(item)
        try:
            step = wiring.build_audit_step(
                settings, clients, source_concurrency=int(item[payload.ITEM_CONCURRENCY])
            )
            run = wiring.build_planner(settings, clients).resume(
                sources, dict(item.get(payload.ITEM_SCOPE_SEEN) or {})
            )
        except Exception as exc:  # the account's session (its role): its sources fail, not the batch
            account = item[payload.ITEM_ACCOUNT]
            logger.error("account-region not audited", extra={"item": account}, exc_info=True)
            counts = RunCounts(sources=len(sources))
            counts.fail(f"{account}/{item[payload.ITEM_REGION]}", f"InternalError: {exc}", len(sources))
            counts.totals["SourceFailures"] += len(sources)
            return counts
        return RunCounts.of(step.run(run, should_stop))

    counts = RunCounts()
    if not items:
        return counts
    # Every account-region of the batch keeps its clients while the batch runs, whatever the cache's
    # bound (a batch larger than it would otherwise rebuild clients it is still using).
    clients.keep_at_least(len(items))
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="account-region") as pool:
        for result in pool.map(audit_item, items):
            counts.add(result)
    return counts


# -- Summarize ----------------------------------------------------------------------------------------
def _item_names(batch_input: Any) -> list[str]:
    """The account-regions of a child's input ({"Items": [...]}), as text; [] when unreadable."""
    try:
        data = json.loads(batch_input) if isinstance(batch_input, str) else batch_input
        return [
            f"{i[payload.ITEM_ACCOUNT]}/{i[payload.ITEM_REGION]} (part {i.get(payload.ITEM_PART, '1/1')})"
            for i in data[payload.BATCH_ITEMS]
        ]
    except (ValueError, TypeError, KeyError):
        return []


def _item_accounts(batch_input: Any) -> Counter[str] | None:
    """Account -> sources of a child's input ({"Items": [...]}); None when unreadable."""
    accounts: Counter[str] = Counter()
    try:
        data = json.loads(batch_input) if isinstance(batch_input, str) else batch_input
        for item in data[payload.BATCH_ITEMS]:
            accounts[str(item[payload.ITEM_ACCOUNT])] += len(item[payload.ITEM_SOURCES])
    except (ValueError, TypeError, KeyError):
        return None
    return accounts


def _child_results(event: Mapping[str, Any], store: ItemStore | None) -> Iterable[tuple[str, dict[str, Any]]]:
    """(status, result) per child: from ResultWriter's manifest in S3, or an inline list."""
    mapped = event.get(payload.MAP)
    if isinstance(mapped, Mapping) and "ResultWriterDetails" in mapped:
        if store is None:
            raise SettingsError("invalid auditor environment: ITEMS_BUCKET: required to read map results")
        details = mapped["ResultWriterDetails"]
        return store.map_results(details["Bucket"], details["Key"])
    return [("SUCCEEDED", {"Output": r}) for r in mapped or []] if isinstance(mapped, list) else []


def _plan_failures(plan_out: Mapping[str, Any], store: ItemStore | None) -> list[Mapping[str, Any]]:
    """Plan's failed discoveries: all of them from S3 when Plan put them there, else those it named."""
    key = plan_out.get(payload.DISCOVERY_FAILURES_KEY)
    if key and store is not None:
        return list(store.get_json(str(key)))
    return list(plan_out.get(payload.DISCOVERY_FAILURES) or [])


def _failed_batch(names: list[str], status: str, reason: str) -> dict[str, Any]:
    return {
        "accountRegions": fit(names, BATCH_NAMES_BYTES),
        "accountRegionCount": len(names),
        "status": status,
        "reason": clip(reason),
    }


def summarize(event: Mapping[str, Any], store: ItemStore | None) -> tuple[RunCounts, dict[str, Any]]:
    """Add the batches up; name the failed discoveries, sources and children, with their reasons.
    The counts are whole (the metrics read them); the summary, a state's payload, names the first of
    each within payload.SUMMARY_MAX_BYTES and counts them all."""
    plan_out = event.get(payload.PLAN) or {}
    counts = RunCounts()
    plan_failures = _plan_failures(plan_out, store)
    for failure in plan_failures:
        counts.fail(failure["source"], failure["error"])
        counts.totals["SourceFailures"] += 1
        if failure.get("account"):
            counts.fail_account(failure["account"], 1, [failure["error"]])
    # Plan counted what it could not name (without a bucket to put the rest in).
    unnamed = int(plan_out.get(payload.DISCOVERY_FAILURE_COUNT) or 0) - len(plan_failures)
    if unnamed > 0:
        counts.failed_count += unnamed
        counts.totals["SourceFailures"] += unnamed
    failed_batches: list[dict[str, Any]] = []
    for status, result in _child_results(event, store):
        if status == "SUCCEEDED":
            output = result.get("Output")
            counts.add(RunCounts.from_dict(json.loads(output) if isinstance(output, str) else output or {}))
            continue
        # A child that failed (a crash, a timeout) or never started: its sources wait for the next run.
        names = _item_names(result.get("Input"))
        reason = f"{result.get('Error') or status}: {result.get('Cause') or 'not started'}"
        failed_batches.append(_failed_batch(names, status, reason))
        accounts = _item_accounts(result.get("Input"))
        # An unreadable input still stands for at least one source that waits.
        sources = 1 if accounts is None else sum(accounts.values())
        counts.fail(", ".join(names) or str(result.get("ExecutionArn", "a child execution")), reason, sources)
        counts.totals["SourceFailures"] += sources
        for account, waiting in (accounts or {}).items():
            counts.fail_account(account, waiting, [reason])
    map_error = event.get(payload.MAP_ERROR)
    if map_error:
        counts.fail("map run", f"{map_error.get('Error')}: {map_error.get('Cause')}")
    listing_error = plan_out.get(payload.ACCOUNT_LISTING_ERROR)
    status = "ok" if counts.ok and not listing_error else "partial-failure"
    if map_error:
        status = payload.STATUS_FAILED
    summary = {
        payload.SUMMARY_STATUS: status,
        payload.RUN_ID: plan_out.get(payload.RUN_ID),
        "sources": plan_out.get(payload.SOURCE_COUNT, counts.sources),
        "transitions": counts.totals.get("Transitions", 0),
        "published": counts.totals.get("Published", 0),
        "parked": counts.totals.get("ParkedTransitions", 0),
        "failedSources": fit(counts.failed, SUMMARY_SOURCES_BYTES),
        "failedSourceCount": counts.failed_count,
        "failedBatches": fit(failed_batches, SUMMARY_BATCHES_BYTES),
        "failedBatchCount": len(failed_batches),
        "accounts": plan_out.get(payload.ACCOUNTS, 1),
        "failedAccounts": accounts_named(counts.accounts_failed, SUMMARY_ACCOUNTS_BYTES),
        "failedAccountCount": len(counts.accounts_failed),
        **({"accountListingError": clip(str(listing_error), LISTING_ERROR_CHARS)} if listing_error else {}),
        "stoppedEarly": counts.stopped_count > 0,
        "stoppedSources": fit(counts.stopped, SUMMARY_STOPPED_BYTES),
        "stoppedSourceCount": counts.stopped_count,
        "overBound": fit(plan_out.get(payload.OVER_BOUND) or [], OVER_BOUND_BYTES),
        "overBoundCount": int(
            plan_out.get(payload.OVER_BOUND_COUNT, len(plan_out.get(payload.OVER_BOUND) or []))
        ),
    }
    return counts, summary


def record_summarized(counts: RunCounts, summary: Mapping[str, Any]) -> None:
    """The run metrics of a summarized run: `record_metrics`, as the direct handler emits them."""
    record_metrics(
        counts,
        succeeded=summary[payload.SUMMARY_STATUS] == "ok",
        account_listing_failed=payload.ACCOUNT_LISTING_ERROR in summary,
    )


# -- the Lambda handlers ------------------------------------------------------------------------------
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def plan_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Plan: the run's sources as map items."""
    settings = wiring.load_settings()
    run_id = str(event.get(payload.EXECUTION_NAME) or iso(datetime.now(UTC)) or context.aws_request_id)
    home = wiring.home_account(settings, context)
    clients = wiring.clients_for(settings, home)
    return plan(settings, home, clients, wiring.build_item_store(settings, home), run_id)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def batch_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One child of the map: {"Items": [item, ...]} (ItemBatcher's input) -> counts and failures."""
    settings = wiring.load_settings()
    wiring.check_lease(settings, context)
    clients = wiring.clients_for(settings, wiring.home_account(settings, context))
    counts = audit_batch(
        settings, event.get(payload.BATCH_ITEMS) or [], clients, should_stop=wiring.time_budget(context)
    )
    result = counts.as_dict()
    (logger.warning if not counts.ok else logger.info)("batch finished", extra={"batch": result})
    return result


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def summarize_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Summarize: the run summary and metrics; or, for a run that found the previous one still
    running, a counted skip."""
    if event.get(payload.SKIPPED):
        count("RunsSkipped", 1)
        logger.warning("run skipped: previous run still running", extra={"run": event.get(payload.RUN_ID)})
        run_id = event.get(payload.RUN_ID)
        return {payload.SUMMARY_STATUS: "skipped", payload.REASON: SKIPPED_REASON, payload.RUN_ID: run_id}
    settings = wiring.load_settings()
    store = wiring.build_item_store(settings, wiring.home_account(settings, context))
    counts, summary = summarize(event, store)
    record_summarized(counts, summary)
    (logger.warning if summary[payload.SUMMARY_STATUS] != "ok" else logger.info)(
        "audit run finished", extra={"summary": summary}
    )
    return summary
