"""What a run did: one SourceSummary per source, and the RunSummary the direct handler returns.

Pure: the audit step fills them in, the entry points return them (`as_dict`) and count them
(`run_metrics.RunCounts.of`).
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from job_auditor.auditor.domain.jobs import Source
from job_auditor.auditor.ports import SourceError

# Distinct failure reasons kept per account in a summary (its sources may number thousands).
MAX_ACCOUNT_REASONS = 10


def failure_reason(exc: Exception) -> str:
    """An exception as a summary's error: the source error's code, else the exception's type."""
    if isinstance(exc, SourceError):
        return f"{exc.code}: {exc}"
    return f"InternalError: {type(exc).__name__}: {exc}"


# Filled in as a run goes: dataclasses, without the comparison nothing makes (a dataclass compiles its
# generated methods as its module is imported, at every cold start: docs/architecture.md).
@dataclass(eq=False)
class SourceSummary:
    """What one run did for one source (returned by the handler, logged, turned into metrics)."""

    source: str
    job_kind: str
    region: str
    account: str = ""
    window_start: str | None = None
    # No run had attempted it: the first deployment's baseline (recorded silently).
    baseline: bool = False
    # Attempted before, never committed (its earlier attempts failed): caught up from its first attempt.
    catch_up: bool = False
    reconciled: bool = False
    pages: int = 0
    api_calls: int = 0
    jobs_listed: int = 0
    jobs_rechecked: int = 0
    jobs_in_flight: int = 0
    transitions: int = 0
    published: int = 0
    recorded_silently: int = 0
    claimed_elsewhere: int = 0
    claim_conflicts: int = 0
    recovered: int = 0
    # Transitions some channel refused this run, and per channel; transitions finished with some
    # channel given up on them (parked).
    publish_failures: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    parked: int = 0
    stuck_alerts: int = 0
    disappeared: int = 0
    unknown_statuses: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    transitions_by_status: dict[str, int] = field(default_factory=dict)
    checkpoint_advanced: bool = False
    # The time budget ran out inside this source: what was claimed is published and committed, the
    # rest (and the checkpoint) waits for the next run.
    stopped: bool = False
    error: str | None = None
    duration_ms: int = 0
    # The source's last-audit record could not be written (`job-auditor status` shows the previous one).
    audit_record_failures: int = 0
    # A known source outside this run's expansion, wound down: why, and the tracked jobs it still had.
    orphaned: str | None = None
    orphaned_jobs: int = 0
    # Job starts announced for this source (discovery=cloudtrail).
    starts_announced: int = 0
    # Why a due sweep was not made this run (backing off after failed sweeps), if it was not.
    sweep_postponed: str | None = None

    @classmethod
    def of(cls, source: Source, error: str | None = None) -> "SourceSummary":
        """A summary of `source` (failed with `error`, if given)."""
        return cls(source.key, source.spec.id, source.region, source.account, error=error)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def add_account_failure(
    accounts: dict[str, dict[str, Any]], account: str, sources: int, reasons: Sequence[str]
) -> None:
    """Count `sources` more failed sources of `account` in `accounts` (account -> {"sources": n,
    "reasons": [...]}), keeping its distinct reasons up to MAX_ACCOUNT_REASONS: the one place the
    summary's failedAccounts and the AccountFailures metric are bounded."""
    entry = accounts.setdefault(account, {"sources": 0, "reasons": []})
    entry["sources"] += sources
    for reason in reasons:
        if reason not in entry["reasons"] and len(entry["reasons"]) < MAX_ACCOUNT_REASONS:
            entry["reasons"].append(reason)


def account_reason(source: SourceSummary) -> str:
    """A failure as the account's reason: without the account in the source's key, so that a reason
    its sources share (its role, a region not enabled) is listed once per region and kind at most."""
    return (source.error or "").replace(f"{source.account}/", "", 1)


@dataclass(eq=False)
class RunSummary:
    started_at: str
    sources: list[SourceSummary] = field(default_factory=list)
    stopped_early: bool = False
    # How many accounts this run audited, and why the organization's accounts could not be listed (the
    # home account is audited alone then).
    accounts: int = 1
    account_listing_error: str | None = None
    # Keys of the sources the time budget left unstarted: they wait for the next run.
    not_started: list[str] = field(default_factory=list)
    # Known sources outside this run's expansion, wound down after the planned ones.
    orphans: list[SourceSummary] = field(default_factory=list)
    # Reason -> (kind, region) pairs the plan left out (a kind not offered in a region).
    skipped: dict[str, int] = field(default_factory=dict)
    # The stalest planned source's age (since its last fully committed audit) when the run began.
    stalest_age_seconds: int = 0
    # Parked transitions delivered again this run (a channel took them after an outage).
    redriven: int = 0

    @property
    def failed_sources(self) -> list[SourceSummary]:
        return [s for s in [*self.sources, *self.orphans] if s.error]

    @property
    def status(self) -> str:
        if self.failed_sources or self.stopped_early or self.account_listing_error:
            return "partial-failure"
        return "ok"

    def failed_accounts(self) -> dict[str, dict[str, Any]]:
        """Account -> its failed sources' count and their distinct reasons (first MAX_ACCOUNT_REASONS)."""
        failed: dict[str, dict[str, Any]] = {}
        for source in self.failed_sources:
            add_account_failure(failed, source.account, 1, [account_reason(source)])
        return failed

    def as_dict(self) -> dict[str, Any]:
        every = [*self.sources, *self.orphans]
        return {
            "status": self.status,
            "startedAt": self.started_at,
            "stoppedEarly": self.stopped_early,
            "transitions": sum(s.transitions for s in every),
            "published": sum(s.published for s in every),
            "parked": sum(s.parked for s in every),
            "redriven": self.redriven,
            "failedSources": [s.source for s in self.failed_sources],
            "accounts": self.accounts,
            "failedAccounts": self.failed_accounts(),
            **({"accountListingError": self.account_listing_error} if self.account_listing_error else {}),
            "orphanedSources": [{"source": s.source, "reason": s.orphaned} for s in self.orphans],
            "orphanedJobs": sum(s.orphaned_jobs for s in self.orphans),
            "skippedSources": dict(self.skipped),
            "stalestSourceAgeSeconds": self.stalest_age_seconds,
            "sources": [s.as_dict() for s in self.sources],
            "orphans": [s.as_dict() for s in self.orphans],
        }
