"""Lambda entry points of the fan-out (auditMode=stepfunctions): Plan, Batch and Summarize.

The state machine (infra/fanout.py) runs Guard -> Plan -> a Distributed Map of Batch children ->
Summarize. Each step is as thin as the direct handler: the audit itself is `service.Auditor`'s.

- Plan discovers the sources of every account and region (`Auditor.plan`) and cuts them into map
  items, one account-region each (`domain.batches`); small lists go inline, large ones to S3.
- Batch audits the items the map's ItemBatcher gave it: each account-region with at most its item's
  `concurrency` threads, all items of the batch at once, within the invocation's time budget; it
  returns counts and failures only (a per-source summary of 1,000 sources would pass 256 KB).
- Summarize adds the batches' counts up (from the map's ResultWriter files in S3, failed children
  included) and emits the run metrics the direct handler emits, so the dashboard and the heartbeat
  read the same series in both modes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from job_auditor.auditor import handler
from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.adapters.item_store import ItemStore
from job_auditor.auditor.domain.batches import PART, SCOPE_SEEN, decode_item, plan_items
from job_auditor.auditor.domain.events import iso
from job_auditor.auditor.domain.jobs import Source
from job_auditor.auditor.service import MAX_ACCOUNT_REASONS, RunSummary, SourceSummary
from job_auditor.auditor.settings import Settings, SettingsError, load_settings

logger = handler.logger
metrics = handler.metrics
tracer = handler.tracer

# An item list up to this size travels in the state's payload (256 KB at most, with the rest of the
# state); a larger one goes to S3 and the map reads it with ItemReader.
INLINE_ITEMS_MAX_BYTES = 64 * 1024
# Failures and stopped sources named in a summary, at most (the counts are always whole).
MAX_NAMED = 100
SKIPPED_REASON = "previous run still running"
# Accounts whose sources Plan discovers at once.
PLAN_CONCURRENCY = 16

# Account -> the clients an auditor for that account's sources is built on: the home account's state
# table, bus and topics, and the job APIs through `for_account` (AccountClients: each member account on
# its assumed role, the same as the direct handler's).
ClientProvider = Callable[[str], ClientFactory]


def _client_provider(settings: Settings, home: str) -> ClientProvider:
    clients = handler.clients_for(settings, home)
    return lambda account: clients


# -- the counts a batch returns and Summarize adds up ------------------------------------------------
@dataclass
class RunCounts:
    """What `handler._record_metrics` reads from a RunSummary, in a form that adds up across batches
    and travels as JSON."""

    sources: int = 0
    totals: Counter[str] = field(default_factory=Counter)
    per_source: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    by_status: Counter[tuple[str, str]] = field(default_factory=Counter)
    failed: list[dict[str, str]] = field(default_factory=list)
    failed_count: int = 0
    stopped: list[str] = field(default_factory=list)
    stopped_count: int = 0
    # Account -> {"sources": failed sources, "reasons": distinct reasons (the first few)}, as
    # RunSummary.failed_accounts has it: the AccountFailures metric and the summary's failedAccounts.
    accounts_failed: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, summary: RunSummary, not_started: Sequence[str] = ()) -> RunCounts:
        counts = cls(sources=len(summary.sources) + len(not_started))
        for name, of in handler._TOTALS.items():
            counts.totals[name] += sum(of(s) for s in summary.sources)
        for source in summary.sources:
            for name, of in handler._PER_SOURCE.items():
                counts.per_source[(source.job_kind, source.region, name)] += of(source)
            counts.by_status.update(
                {(source.job_kind, status): n for status, n in source.transitions_by_status.items()}
            )
            if source.error:
                counts.fail(source.source, source.error)
            elif source.stopped:
                counts.stop(source.source)
        for key in not_started:
            counts.stop(key)
        for account, entry in summary.failed_accounts().items():
            counts.fail_account(account, entry["sources"], entry["reasons"])
        return counts

    def fail(self, source: str, error: str, sources: int = 1) -> None:
        self.failed_count += sources
        if len(self.failed) < MAX_NAMED:
            self.failed.append({"source": source, "error": error})

    def fail_account(self, account: str, sources: int, reasons: Sequence[str]) -> None:
        entry = self.accounts_failed.setdefault(account, {"sources": 0, "reasons": []})
        entry["sources"] += sources
        for reason in reasons:
            if reason not in entry["reasons"] and len(entry["reasons"]) < MAX_ACCOUNT_REASONS:
                entry["reasons"].append(reason)

    def stop(self, source: str) -> None:
        self.stopped_count += 1
        if len(self.stopped) < MAX_NAMED:
            self.stopped.append(source)

    def add(self, other: RunCounts) -> None:
        self.sources += other.sources
        self.totals.update(other.totals)
        self.per_source.update(other.per_source)
        self.by_status.update(other.by_status)
        self.failed_count += other.failed_count
        self.failed += other.failed[: max(0, MAX_NAMED - len(self.failed))]
        self.stopped_count += other.stopped_count
        self.stopped += other.stopped[: max(0, MAX_NAMED - len(self.stopped))]
        for account, entry in other.accounts_failed.items():
            self.fail_account(account, entry["sources"], entry["reasons"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "totals": dict(self.totals),
            "perSource": [[*key, value] for key, value in self.per_source.items()],
            "byStatus": [[*key, value] for key, value in self.by_status.items()],
            "failed": self.failed,
            "failedCount": self.failed_count,
            "stopped": self.stopped,
            "stoppedCount": self.stopped_count,
            "failedAccounts": self.accounts_failed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunCounts:
        return cls(
            sources=int(data.get("sources", 0)),
            totals=Counter({str(k): int(v) for k, v in (data.get("totals") or {}).items()}),
            per_source=Counter(
                {(str(k), str(r), str(n)): int(v) for k, r, n, v in data.get("perSource") or []}
            ),
            by_status=Counter({(str(k), str(s)): int(v) for k, s, v in data.get("byStatus") or []}),
            failed=list(data.get("failed") or []),
            failed_count=int(data.get("failedCount", 0)),
            stopped=[str(s) for s in data.get("stopped") or []],
            stopped_count=int(data.get("stoppedCount", 0)),
            accounts_failed={
                str(account): {
                    "sources": int(e.get("sources", 0)),
                    "reasons": [str(r) for r in e.get("reasons") or []],
                }
                for account, e in (data.get("failedAccounts") or {}).items()
            },
        )

    @property
    def ok(self) -> bool:
        return self.failed_count == 0 and self.stopped_count == 0


def record_metrics(counts: RunCounts, account_listing_failed: bool = False) -> None:
    """The run metrics of `handler._record_metrics`, from counts: the same names, units and
    dimensions (tests/unit/test_fanout.py compares the two on one summary)."""
    for account, failed in counts.accounts_failed.items():
        handler._dimensioned("AccountFailures", failed["sources"], {"Account": account})
    metrics.add_metric(
        name="AccountListingFailures", unit=MetricUnit.Count, value=int(account_listing_failed)
    )
    for name in handler._TOTALS:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=counts.totals.get(name, 0))
    metrics.add_metric(name="RunSucceeded", unit=MetricUnit.Count, value=int(counts.ok))
    metrics.add_metric(name="RunPartialFailure", unit=MetricUnit.Count, value=int(not counts.ok))
    for (kind, region, name), value in counts.per_source.items():
        handler._dimensioned(name, value, {"JobKind": kind, "Region": region})
    for (kind, status), count in counts.by_status.items():
        handler._dimensioned("TransitionsByStatus", count, {"JobKind": kind, "Status": status})


# -- Plan ---------------------------------------------------------------------------------------------
def plan(
    settings: Settings, home: str, clients_for: ClientProvider, store: ItemStore | None, run_id: str
) -> dict[str, Any]:
    """Discover every account's sources and cut them into items (inline, or in S3 when large)."""
    sources: list[Source] = []
    seen: dict[str, bool] = {}
    failures: list[SourceSummary] = []

    def discover(account: str) -> tuple[list[Source], list[SourceSummary], dict[str, bool]]:
        try:
            auditor = handler.build_auditor(settings, clients_for(account))
            return auditor.plan(
                account, settings.audited_regions, settings.job_kinds, settings.configured_scopes
            )
        except Exception as exc:  # one account (its role, its session) must not stop the others
            logger.error("account discovery failed", extra={"account": account}, exc_info=True)
            return [], [SourceSummary(account, "", "", account, error=f"InternalError: {exc}")], {}

    listing = handler.accounts_of(settings, home, clients_for(home))
    accounts = list(listing.accounts)
    # Accounts are discovered side by side (each account's regions in turn, so one account-region
    # still sees one discovery call at a time).
    with ThreadPoolExecutor(max_workers=max(1, min(PLAN_CONCURRENCY, len(accounts)))) as pool:
        for found, failed, scopes in pool.map(discover, accounts):
            sources += found
            failures += failed
            seen |= scopes
    items = plan_items(sources, seen, settings.account_region_concurrency)
    if items.over_bound:
        logger.warning(
            "account-regions with more sources than the concurrency bound covers",
            extra={"accountRegions": items.over_bound},
        )
    out: dict[str, Any] = {
        "runId": run_id,
        "sourceCount": items.source_count,
        "itemCount": len(items.items),
        "accounts": len(accounts),
        **({"accountListingError": listing.error} if listing.error else {}),
        "discoveryFailures": [
            {"source": f.source, "account": f.account, "error": f.error or ""} for f in failures
        ],
        "overBound": items.over_bound,
    }
    size = len(json.dumps(items.items, separators=(",", ":")))
    if size <= INLINE_ITEMS_MAX_BYTES or store is None:
        out["items"] = items.items
    else:
        key = f"runs/{run_id}/items.json"
        store.put_json(key, items.items)
        out["itemsBucket"], out["itemsKey"] = store.bucket, key
    logger.info("plan", extra={k: v for k, v in out.items() if k != "items"} | {"itemsBytes": size})
    return out


# -- Batch --------------------------------------------------------------------------------------------
def audit_batch(
    settings: Settings,
    items: Iterable[Mapping[str, Any]],
    clients_for: ClientProvider,
    should_stop: Callable[[], bool],
) -> RunCounts:
    """Audit every item at once, each account-region with its item's share of threads."""
    items = list(items)

    def audit_item(item: Mapping[str, Any]) -> RunCounts:
        sources = decode_item(item)
        try:
            auditor = handler.build_auditor(
                settings, clients_for(str(item["account"])), source_concurrency=int(item["concurrency"])
            )
        except Exception as exc:  # the account's session (its role): its sources fail, not the batch
            logger.error("account-region not audited", extra={"item": item["account"]}, exc_info=True)
            counts = RunCounts(sources=len(sources))
            counts.fail(f"{item['account']}/{item['region']}", f"InternalError: {exc}", len(sources))
            counts.totals["SourceFailures"] += len(sources)
            return counts
        summary = auditor.run(sources, should_stop, scope_seen=dict(item.get(SCOPE_SEEN) or {}))
        done = {s.source for s in summary.sources}
        return RunCounts.of(summary, [s.key for s in sources if s.key not in done])

    counts = RunCounts()
    if not items:
        return counts
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="account-region") as pool:
        for result in pool.map(audit_item, items):
            counts.add(result)
    return counts


# -- Summarize ----------------------------------------------------------------------------------------
def _item_names(batch_input: Any) -> list[str]:
    """The account-regions of a child's input ({"Items": [...]}), as text; [] when unreadable."""
    try:
        data = json.loads(batch_input) if isinstance(batch_input, str) else batch_input
        return [f"{i['account']}/{i['region']} (part {i.get(PART, '1/1')})" for i in data["Items"]]
    except (ValueError, TypeError, KeyError):
        return []


def _item_accounts(batch_input: Any) -> Counter[str] | None:
    """Account -> sources of a child's input ({"Items": [...]}); None when unreadable."""
    accounts: Counter[str] = Counter()
    try:
        data = json.loads(batch_input) if isinstance(batch_input, str) else batch_input
        for item in data["Items"]:
            accounts[str(item["account"])] += len(item["sources"])
    except (ValueError, TypeError, KeyError):
        return None
    return accounts


def _child_results(event: Mapping[str, Any], store: ItemStore | None) -> Iterable[tuple[str, dict[str, Any]]]:
    """(status, result) per child: from ResultWriter's manifest in S3, or an inline list."""
    mapped = event.get("map")
    if isinstance(mapped, Mapping) and "ResultWriterDetails" in mapped:
        if store is None:
            raise SettingsError("invalid auditor environment: ITEMS_BUCKET: required to read map results")
        details = mapped["ResultWriterDetails"]
        return store.map_results(details["Bucket"], details["Key"])
    return [("SUCCEEDED", {"Output": r}) for r in mapped or []] if isinstance(mapped, list) else []


def summarize(event: Mapping[str, Any], store: ItemStore | None) -> tuple[RunCounts, dict[str, Any]]:
    """Add the batches up; name the failed discoveries, sources and children, with their reasons."""
    plan_out = event.get("plan") or {}
    counts = RunCounts()
    for failure in plan_out.get("discoveryFailures") or []:
        counts.fail(failure["source"], failure["error"])
        counts.totals["SourceFailures"] += 1
        if failure.get("account"):
            counts.fail_account(failure["account"], 1, [failure["error"]])
    failed_batches: list[dict[str, Any]] = []
    for status, result in _child_results(event, store):
        if status == "SUCCEEDED":
            output = result.get("Output")
            counts.add(RunCounts.from_dict(json.loads(output) if isinstance(output, str) else output or {}))
            continue
        # A child that failed (a crash, a timeout) or never started: its sources wait for the next run.
        names = _item_names(result.get("Input"))
        reason = f"{result.get('Error') or status}: {result.get('Cause') or 'not started'}"
        failed_batches.append({"accountRegions": names, "status": status, "reason": reason[:1000]})
        accounts = _item_accounts(result.get("Input"))
        # An unreadable input still stands for at least one source that waits.
        sources = 1 if accounts is None else sum(accounts.values())
        counts.fail(", ".join(names) or str(result.get("ExecutionArn", "a child execution")), reason, sources)
        counts.totals["SourceFailures"] += sources
        for account, count in (accounts or {}).items():
            counts.fail_account(account, count, [reason[:300]])
    map_error = event.get("mapError")
    if map_error:
        counts.fail("map run", f"{map_error.get('Error')}: {map_error.get('Cause')}"[:1000])
    listing_error = plan_out.get("accountListingError")
    status = "failed" if map_error else ("ok" if counts.ok and not listing_error else "partial-failure")
    summary = {
        "status": status,
        "runId": plan_out.get("runId"),
        "sources": plan_out.get("sourceCount", counts.sources),
        "transitions": counts.totals.get("Transitions", 0),
        "published": counts.totals.get("Published", 0),
        "parked": counts.totals.get("ParkedTransitions", 0),
        "failedSources": counts.failed,
        "failedSourceCount": counts.failed_count,
        "failedBatches": failed_batches[:MAX_NAMED],
        "accounts": plan_out.get("accounts", 1),
        "failedAccounts": counts.accounts_failed,
        **({"accountListingError": listing_error} if listing_error else {}),
        "stoppedEarly": counts.stopped_count > 0,
        "stoppedSources": counts.stopped,
        "overBound": plan_out.get("overBound") or [],
    }
    return counts, summary


# -- the Lambda handlers ------------------------------------------------------------------------------
def _store(settings: Settings, context: LambdaContext) -> ItemStore | None:
    if not settings.items_bucket:
        return None
    clients = handler.clients_for(settings, handler.home_account(settings, context))
    return ItemStore(clients("s3", settings.region), settings.items_bucket)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def plan_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Plan: the run's sources as map items."""
    settings = load_settings()
    run_id = str(event.get("executionName") or iso(datetime.now(UTC)) or context.aws_request_id)
    home = handler.home_account(settings, context)
    return plan(settings, home, _client_provider(settings, home), _store(settings, context), run_id)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def batch_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One child of the map: {"Items": [item, ...]} (ItemBatcher's input) -> counts and failures."""
    settings = load_settings()
    handler._check_lease(settings, context)
    counts = audit_batch(
        settings,
        event.get("Items") or [],
        _client_provider(settings, handler.home_account(settings, context)),
        should_stop=lambda: context.get_remaining_time_in_millis() < handler.TIME_BUDGET_MARGIN_MS,
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
    if event.get("skipped"):
        metrics.add_metric(name="RunsSkipped", unit=MetricUnit.Count, value=1)
        logger.warning("run skipped: previous run still running", extra={"run": event.get("runId")})
        return {"status": "skipped", "reason": SKIPPED_REASON, "runId": event.get("runId")}
    settings = load_settings()
    counts, summary = summarize(event, _store(settings, context))
    record_metrics(counts, account_listing_failed=bool((event.get("plan") or {}).get("accountListingError")))
    (logger.warning if summary["status"] != "ok" else logger.info)(
        "audit run finished", extra={"summary": summary}
    )
    return summary
