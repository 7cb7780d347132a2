"""Lambda entry point: validate the environment, build the adapters, run the audit, report.

Thin on purpose: the rules live in `auditor.domain` and `auditor.service`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from auditor.adapters.clients import ClientFactory
from auditor.adapters.job_api import BotoJobApi
from auditor.adapters.publishers import ChatPublisher, EventBridgePublisher, SnsPublisher
from auditor.adapters.state_store import DynamoStateStore
from auditor.ports import Publisher
from auditor.service import Auditor, AuditPolicy, RunSummary
from auditor.settings import Settings, load_settings

logger = Logger()
# Only botocore: patching every supported library imports requests, sqlite3, httplib and more at cold
# start (about 40 ms) for libraries the auditor does not use.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()

# Stop starting new sources when less than this is left of the invocation.
TIME_BUDGET_MARGIN_MS = 30_000


@lru_cache(maxsize=1)
def _clients() -> ClientFactory:
    """Built on first use and kept across warm invocations."""
    return ClientFactory()


def build_auditor(settings: Settings, clients: ClientFactory) -> Auditor:
    """Wire the adapters for one run."""
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
        ),
        clock=lambda: datetime.now(UTC),
    )


def _account(settings: Settings, context: LambdaContext) -> str:
    if settings.account_id:
        return settings.account_id
    # arn:aws:lambda:<region>:<account>:function:<name>
    return context.invoked_function_arn.split(":")[4]


def _service() -> str:
    return os.environ.get("POWERTOOLS_SERVICE_NAME", "job-auditor")


def _record_metrics(summary: RunSummary) -> None:
    totals = {
        "JobsListed": sum(s.jobs_listed + s.jobs_rechecked for s in summary.sources),
        "Transitions": sum(s.transitions for s in summary.sources),
        "Published": sum(s.published for s in summary.sources),
        "ApiCalls": sum(s.api_calls for s in summary.sources),
        "JobsInFlight": sum(s.jobs_in_flight for s in summary.sources),
        "SourceFailures": len(summary.failed_sources),
        "UnknownStatuses": sum(s.unknown_statuses for s in summary.sources),
        "PublishFailures": sum(s.publish_failures for s in summary.sources),
        "SkippedJobs": sum(sum(s.skipped.values()) for s in summary.sources),
        "StuckAlerts": sum(s.stuck_alerts for s in summary.sources),
    }
    for name, value in totals.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(name="RunSucceeded", unit=MetricUnit.Count, value=int(summary.status == "ok"))
    metrics.add_metric(name="RunPartialFailure", unit=MetricUnit.Count, value=int(summary.status != "ok"))
    # Per job kind and region (bounded: one series each; per knowledge base would be unbounded).
    per_source: dict[tuple[str, str], dict[str, int]] = {}
    for source in summary.sources:
        row = per_source.setdefault(
            (source.job_kind, source.region), {"JobsListed": 0, "ApiCalls": 0, "Transitions": 0}
        )
        row["JobsListed"] += source.jobs_listed + source.jobs_rechecked
        row["ApiCalls"] += source.api_calls
        row["Transitions"] += source.transitions
    for (kind, region), row in per_source.items():
        for name, value in row.items():
            with single_metric(
                name=name, unit=MetricUnit.Count, value=value, default_dimensions={"service": _service()}
            ) as metric:
                metric.add_dimension(name="JobKind", value=kind)
                metric.add_dimension(name="Region", value=region)
    by_status: dict[tuple[str, str], int] = {}
    for source in summary.sources:
        for status, count in source.transitions_by_status.items():
            key = (source.job_kind, status)
            by_status[key] = by_status.get(key, 0) + count
    for (kind, status), count in by_status.items():
        with single_metric(
            name="TransitionsByStatus",
            unit=MetricUnit.Count,
            value=count,
            default_dimensions={"service": _service()},
        ) as metric:
            metric.add_dimension(name="JobKind", value=kind)
            metric.add_dimension(name="Status", value=status)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled entry point; returns the run summary (per source: window, pages, jobs, transitions,
    API calls, duration)."""
    settings = load_settings()
    auditor = build_auditor(settings, _clients())
    sources, discovery_failures = auditor.sources(
        _account(settings, context),
        settings.audited_regions,
        settings.job_kinds,
        settings.qconnect_knowledge_base_ids,
    )
    summary = auditor.run(
        sources, should_stop=lambda: context.get_remaining_time_in_millis() < TIME_BUDGET_MARGIN_MS
    )
    summary.sources.extend(discovery_failures)
    _record_metrics(summary)
    result = summary.as_dict()
    log = logger.warning if summary.status != "ok" else logger.info
    log("audit run finished", extra={"summary": result})
    return result
