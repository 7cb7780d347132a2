"""Lambda entry point: validate the environment, build the adapters, run the audit, report.

Thin on purpose: the rules live in `auditor.domain` and `auditor.service`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from job_auditor.auditor.adapters.accounts import (
    AccountClients,
    AccountList,
    AccountSessions,
    resolve_accounts,
)
from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.adapters.job_api import BotoJobApi
from job_auditor.auditor.adapters.publishers import ChatPublisher, EventBridgePublisher, SnsPublisher
from job_auditor.auditor.adapters.state_store import DynamoStateStore
from job_auditor.auditor.ports import Publisher
from job_auditor.auditor.service import Auditor, AuditPolicy, RunSummary, SourceSummary
from job_auditor.auditor.settings import Settings, SettingsError, load_settings

logger = Logger()
# Only botocore: patching every supported library imports requests, sqlite3, httplib and more at cold
# start (about 40 ms) for libraries the auditor does not use.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()

# Stop starting new sources when less than this is left of the invocation.
TIME_BUDGET_MARGIN_MS = 30_000


@lru_cache(maxsize=1)
def _clients(home_account: str, region: str, role_name: str, external_id: str | None) -> ClientFactory:
    """Built on first use and kept across warm invocations: the home account's clients, and each
    member account's session (its assumed-role credentials, refreshed by botocore) and clients."""
    sessions = AccountSessions(home_account, region, role_name=role_name, external_id=external_id)
    return AccountClients(sessions)


def build_auditor(
    settings: Settings, clients: ClientFactory, *, source_concurrency: int | None = None
) -> Auditor:
    """Wire the adapters for one run. `clients` serves the home account's state table, bus and
    topics; the job APIs are read with `clients.for_account(source.account)` (an AccountClients
    serves every member account; a plain ClientFactory only its own). `source_concurrency`: sources
    audited at once, if not the default (the fan-out's batches give each account-region its share)."""
    region = settings.region
    publishers: list[Publisher] = [
        EventBridgePublisher(clients("events", region), settings.event_bus_name, settings.event_source),
        SnsPublisher(clients("sns", region), settings.notification_topic_arn, settings.event_source),
    ]
    if settings.chat_topic_arn:
        publishers.append(
            ChatPublisher(
                clients("sns", region), settings.chat_topic_arn, settings.event_source, settings.notify_filter
            )
        )
    return Auditor(
        job_api=BotoJobApi(clients),
        store=DynamoStateStore(clients("dynamodb", region), settings.state_table_name, settings.history_ttl),
        publishers=publishers,
        policy=AuditPolicy(
            initial_lookback=settings.initial_lookback,
            overlap=settings.overlap,
            recheck_horizon=settings.recheck_horizon,
            claim_lease=settings.claim_lease,
            announce_baseline=settings.announce_baseline,
            stuck_after={kind: settings.stuck_threshold(kind) for kind in settings.job_kinds},
            stuck_repeat=settings.stuck_repeat,
            reconcile_every=settings.reconcile_every,
            reconcile_lookback=settings.reconcile_lookback,
            max_publish_attempts=settings.max_publish_attempts,
            vanished_after_checks=settings.vanished_after_checks,
            **({} if source_concurrency is None else {"source_concurrency": source_concurrency}),
        ),
        clock=lambda: datetime.now(UTC),
    )


def clients_for(settings: Settings, home_account: str) -> ClientFactory:
    """The clients of a run (cached across warm invocations): the home account's, and each member
    account's on its role (`for_account`). What `build_auditor` and `resolve_accounts` take."""
    return _clients(home_account, settings.region, settings.member_role_name, settings.member_external_id)


def home_account(settings: Settings, context: LambdaContext) -> str:
    """The deploying account: ACCOUNT_ID, else the function's own ARN."""
    if settings.account_id:
        return settings.account_id
    # arn:aws:lambda:<region>:<account>:function:<name>
    return context.invoked_function_arn.split(":")[4]


def _service() -> str:
    return os.environ.get("POWERTOOLS_SERVICE_NAME", "job-auditor")


# Run totals: metric name -> what it sums over the sources.
_TOTALS: dict[str, Callable[[SourceSummary], int]] = {
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
}
# Per job kind and region (bounded: one series each; per knowledge base would be unbounded).
_PER_SOURCE: dict[str, Callable[[SourceSummary], int]] = {
    "JobsListed": _TOTALS["JobsListed"],
    "ApiCalls": _TOTALS["ApiCalls"],
    "Transitions": _TOTALS["Transitions"],
}


def _dimensioned(name: str, value: int, dimensions: dict[str, str]) -> None:
    with single_metric(
        name=name, unit=MetricUnit.Count, value=value, default_dimensions={"service": _service()}
    ) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


def _record_metrics(summary: RunSummary) -> None:
    # Series by Account only for accounts with failures this run: a custom metric is billed per
    # series and month, and a JobKind/Region series per account would multiply by the organization's
    # size. The per-source series below stay per kind and region, summed over accounts.
    for account, failed in summary.failed_accounts().items():
        _dimensioned("AccountFailures", failed["sources"], {"Account": account})
    metrics.add_metric(
        name="AccountListingFailures",
        unit=MetricUnit.Count,
        value=int(summary.account_listing_error is not None),
    )
    for name, of in _TOTALS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=sum(of(s) for s in summary.sources))
    metrics.add_metric(name="RunSucceeded", unit=MetricUnit.Count, value=int(summary.status == "ok"))
    metrics.add_metric(name="RunPartialFailure", unit=MetricUnit.Count, value=int(summary.status != "ok"))
    per_source: Counter[tuple[str, str, str]] = Counter()
    by_status: Counter[tuple[str, str]] = Counter()
    for source in summary.sources:
        for name, of in _PER_SOURCE.items():
            per_source[(source.job_kind, source.region, name)] += of(source)
        by_status.update({(source.job_kind, status): n for status, n in source.transitions_by_status.items()})
    for (kind, region, name), value in per_source.items():
        _dimensioned(name, value, {"JobKind": kind, "Region": region})
    for (kind, status), count in by_status.items():
        _dimensioned("TransitionsByStatus", count, {"JobKind": kind, "Status": status})


def accounts_of(settings: Settings, home: str, clients: ClientFactory) -> AccountList:
    """The accounts of this run (Organizations is asked only in organization mode)."""
    if not settings.from_organization:
        return resolve_accounts(settings, home)
    return resolve_accounts(settings, home, clients("organizations", settings.region))


def _check_lease(settings: Settings, context: LambdaContext) -> None:
    """A claim must outlive the run that wrote it, or another run takes it over while it is still being
    published (and both announce it). Refused before anything is claimed."""
    remaining = timedelta(milliseconds=context.get_remaining_time_in_millis())
    lease = int(settings.claim_lease.total_seconds())
    if settings.claim_lease <= remaining:
        raise SettingsError(
            f"invalid auditor environment: CLAIM_LEASE_SECONDS: {lease} s "
            f"is shorter than this invocation's remaining time ({int(remaining.total_seconds())} s); "
            "it must exceed the function timeout"
        )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled entry point; returns the run summary (per source: window, pages, jobs, transitions,
    API calls, duration)."""
    settings = load_settings()
    _check_lease(settings, context)
    home = home_account(settings, context)
    clients = clients_for(settings, home)
    accounts = accounts_of(settings, home, clients)
    auditor = build_auditor(settings, clients)
    summary = auditor.audit_accounts(
        accounts.accounts,
        settings.audited_regions,
        settings.job_kinds,
        settings.configured_scopes,
        should_stop=lambda: context.get_remaining_time_in_millis() < TIME_BUDGET_MARGIN_MS,
    )
    summary.account_listing_error = accounts.error
    _record_metrics(summary)
    result = summary.as_dict()
    log = logger.warning if summary.status != "ok" else logger.info
    log("audit run finished", extra={"summary": result})
    return result
