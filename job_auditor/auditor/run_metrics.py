"""The counts of a run and its metrics: one RunCounts (it adds up across the fan-out's batches and
travels as JSON) and one `record_metrics` that every entry point emits the run's metrics with.

The metric names, units and dimensions are what the dashboard and the alarms read (infra/monitoring.py):
they are defined here once, whichever mode ran the audit.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from job_auditor.auditor.domain.bounded import clip, fit, json_size
from job_auditor.auditor.domain.jobs import JOB_KINDS
from job_auditor.auditor.observability import count, dimensioned_count, seconds
from job_auditor.auditor.summary import RunSummary, SourceSummary, add_account_failure
from job_auditor.contract.fanout_payload import BATCH_OUTPUT_MAX_BYTES

# Failures and stopped sources named in counts and summaries, at most (the counts are always whole).
MAX_NAMED = 100
# A status a kind does not list counts as this in TransitionsByStatus: each status is a metric series
# (billed per month) and an entry in the counts a batch returns, and an API may send any string.
OTHER_STATUS = "UNKNOWN"
# The shares of BATCH_OUTPUT_MAX_BYTES the named lists of a batch's counts take; the rest holds the
# totals and the per-kind-and-region counts (kinds x regions x 3 at most) whole.
NAMED_FAILURES_BYTES = BATCH_OUTPUT_MAX_BYTES // 4
NAMED_STOPPED_BYTES = BATCH_OUTPUT_MAX_BYTES // 8
ACCOUNT_REASONS_BYTES = BATCH_OUTPUT_MAX_BYTES // 8
NAMED_ORPHANS_BYTES = BATCH_OUTPUT_MAX_BYTES // 8

# Run totals: metric name -> what it sums over the sources.
TOTALS: dict[str, Callable[[SourceSummary], int]] = {
    "JobsListed": lambda s: s.jobs_listed + s.jobs_rechecked,
    "Transitions": lambda s: s.transitions,
    "Published": lambda s: s.published,
    "ApiCalls": lambda s: s.api_calls,
    "JobsInFlight": lambda s: s.jobs_in_flight,
    "SourceFailures": lambda s: int(s.error is not None),
    "UnknownStatuses": lambda s: s.unknown_statuses,
    "PublishFailures": lambda s: s.publish_failures,
    "ParkedTransitions": lambda s: s.parked,
    "ClaimConflicts": lambda s: s.claim_conflicts,
    "DisappearedJobs": lambda s: s.disappeared,
    "Reconciliations": lambda s: int(s.reconciled and s.checkpoint_advanced),
    "SkippedJobs": lambda s: sum(s.skipped.values()),
    "StuckAlerts": lambda s: s.stuck_alerts,
    "AuditRecordFailures": lambda s: s.audit_record_failures,
    # Known sources outside the run's expansion that it wound down, and the tracked jobs they held.
    "OrphanedSources": lambda s: int(s.orphaned is not None),
    "OrphanedJobs": lambda s: s.orphaned_jobs,
}
# Parked transitions a run delivered again (run-wide, not per source).
REDRIVEN = "RedrivenTransitions"
# Per job kind and region (bounded: one series each; per knowledge base would be unbounded).
PER_SOURCE: dict[str, Callable[[SourceSummary], int]] = {
    "JobsListed": TOTALS["JobsListed"],
    "ApiCalls": TOTALS["ApiCalls"],
    "Transitions": TOTALS["Transitions"],
}


# Added up as batches come in: a dataclass, without the comparison nothing makes (docs/architecture.md).
@dataclass(eq=False)
class RunCounts:
    """What the run metrics read, in a form that adds up across batches and travels as JSON."""

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
    # Reason -> sources (kind-region pairs) the plan left out: the SkippedSources metric.
    skipped: Counter[str] = field(default_factory=Counter)
    # The stalest planned source's age when the run began (the largest over batches).
    stalest_age_seconds: int = 0
    # Orphaned sources named, at most MAX_NAMED (the count is OrphanedSources).
    orphans: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, summary: RunSummary) -> "RunCounts":
        """The counts of one run's (or one batch item's) summary; its unstarted sources count as
        stopped."""
        counts = cls(
            sources=len(summary.sources) + len(summary.not_started),
            skipped=Counter(summary.skipped),
            stalest_age_seconds=summary.stalest_age_seconds,
            orphans=[{"source": s.source, "reason": s.orphaned or ""} for s in summary.orphans[:MAX_NAMED]],
        )
        every = [*summary.sources, *summary.orphans]
        for name, of in TOTALS.items():
            counts.totals[name] += sum(of(s) for s in every)
        counts.totals[REDRIVEN] += summary.redriven
        for source in every:
            for name, of in PER_SOURCE.items():
                counts.per_source[(source.job_kind, source.region, name)] += of(source)
            for status, n in source.transitions_by_status.items():
                counts.by_status[(source.job_kind, _known_status(source.job_kind, status))] += n
            if source.error:
                counts.fail(source.source, source.error)
            elif source.stopped:
                counts.stop(source.source)
        for key in summary.not_started:
            counts.stop(key)
        for account, entry in summary.failed_accounts().items():
            counts.fail_account(account, entry["sources"], entry["reasons"])
        return counts

    def fail(self, source: str, error: str, sources: int = 1) -> None:
        self.failed_count += sources
        if len(self.failed) < MAX_NAMED:
            self.failed.append({"source": clip(source), "error": clip(error)})

    def fail_account(self, account: str, sources: int, reasons: Sequence[str]) -> None:
        add_account_failure(self.accounts_failed, account, sources, [clip(r) for r in reasons])

    def stop(self, source: str) -> None:
        self.stopped_count += 1
        if len(self.stopped) < MAX_NAMED:
            self.stopped.append(clip(source))

    def add(self, other: "RunCounts") -> None:
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
        self.skipped.update(other.skipped)
        self.stalest_age_seconds = max(self.stalest_age_seconds, other.stalest_age_seconds)
        self.orphans += other.orphans[: max(0, MAX_NAMED - len(self.orphans))]

    def as_dict(self) -> dict[str, Any]:
        """The counts as a batch returns them, within BATCH_OUTPUT_MAX_BYTES: every count whole (each
        failing account's too, which its AccountFailures metric needs), the named failures, stopped
        sources and accounts' reasons each cut to their share."""
        return {
            "sources": self.sources,
            "totals": dict(self.totals),
            "perSource": [[*key, value] for key, value in self.per_source.items()],
            "byStatus": [[*key, value] for key, value in self.by_status.items()],
            "failed": fit(self.failed, NAMED_FAILURES_BYTES),
            "failedCount": self.failed_count,
            "stopped": fit(self.stopped, NAMED_STOPPED_BYTES),
            "stoppedCount": self.stopped_count,
            "failedAccounts": _accounts_within(self.accounts_failed, ACCOUNT_REASONS_BYTES),
            "skipped": dict(self.skipped),
            "stalestAgeSeconds": self.stalest_age_seconds,
            "orphans": fit(self.orphans, NAMED_ORPHANS_BYTES),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunCounts":
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
            skipped=Counter({str(k): int(v) for k, v in (data.get("skipped") or {}).items()}),
            stalest_age_seconds=int(data.get("stalestAgeSeconds", 0)),
            orphans=[
                {"source": str(o["source"]), "reason": str(o["reason"])} for o in data.get("orphans") or []
            ],
        )

    @property
    def ok(self) -> bool:
        return self.failed_count == 0 and self.stopped_count == 0


def _known_status(kind_id: str, status: str) -> str:
    """`status` if the kind lists it (or the kind is not registered here), else OTHER_STATUS."""
    spec = JOB_KINDS.get(kind_id)
    return status if spec is None or spec.is_known(status) else OTHER_STATUS


def _accounts_within(accounts: Mapping[str, Mapping[str, Any]], reasons_bytes: int) -> dict[str, Any]:
    """Every account with its failed sources; their reasons, in order, while `reasons_bytes` lasts."""
    out: dict[str, Any] = {}
    left = reasons_bytes
    for account, entry in accounts.items():
        reasons = fit(entry["reasons"], left) if left > 2 else []
        left -= json_size(reasons)
        out[account] = {"sources": entry["sources"], "reasons": reasons}
    return out


def accounts_named(accounts: Mapping[str, Mapping[str, Any]], budget_bytes: int) -> dict[str, Any]:
    """The failing accounts as a summary names them, within `budget_bytes` of JSON: as many accounts
    as fit, each with its failed-source count and first reason; then, while room is left, their
    further reasons in order. Every account named has a reason before any has a second."""
    out: dict[str, dict[str, Any]] = {}
    used = 2  # the braces
    for account, entry in accounts.items():
        named = {"sources": entry["sources"], "reasons": list(entry["reasons"][:1])}
        size = json_size(account) + 1 + json_size(named) + (1 if out else 0)  # colon, comma
        if used + size > budget_bytes:
            break
        out[account] = named
        used += size
    for account, named in out.items():
        for reason in accounts[account]["reasons"][1:]:
            size = json_size(reason) + 1  # and its comma
            if used + size > budget_bytes:
                return out
            named["reasons"].append(reason)
            used += size
    return out


def record_metrics(counts: RunCounts, *, succeeded: bool, account_listing_failed: bool) -> None:
    """The run's metrics, whichever mode audited it. `succeeded`: the run's status is ok (RunSucceeded,
    which the heartbeat alarm reads, else RunPartialFailure).

    Series by Account only for accounts with failures this run: a custom metric is billed per series
    and month, and a JobKind/Region series per account would multiply by the organization's size. The
    per-source series stay per kind and region, summed over accounts."""
    for account, failed in counts.accounts_failed.items():
        dimensioned_count("AccountFailures", failed["sources"], {"Account": account})
    count("AccountListingFailures", int(account_listing_failed))
    for name in (*TOTALS, REDRIVEN):
        count(name, counts.totals.get(name, 0))
    count("RunSucceeded", int(succeeded))
    count("RunPartialFailure", int(not succeeded))
    for (kind, region, name), value in counts.per_source.items():
        dimensioned_count(name, value, {"JobKind": kind, "Region": region})
    for (kind, status), total in counts.by_status.items():
        dimensioned_count("TransitionsByStatus", total, {"JobKind": kind, "Status": status})
    for reason, total in counts.skipped.items():
        dimensioned_count("SkippedSources", total, {"Reason": reason})
    seconds("StalestSourceAgeSeconds", counts.stalest_age_seconds)


def record_run(summary: RunSummary) -> None:
    """The metrics of a run audited in one invocation (the direct handler)."""
    record_metrics(
        RunCounts.of(summary),
        succeeded=summary.status == "ok",
        account_listing_failed=summary.account_listing_error is not None,
    )
