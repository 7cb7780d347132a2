"""Paging without a Lambda: EventBridge API destinations to PagerDuty, Opsgenie or any HTTPS endpoint.

Rules on the job-auditor bus select the transitions someone should be paged for (status categories,
statuses, stuck alerts: like the notification filters) and send each, reshaped by an input
transformer, to one API destination. The endpoint's secret (PagerDuty routing key, Opsgenie API key,
a generic endpoint's header value) stays in Secrets Manager: the template holds a dynamic reference
to it, which CloudFormation resolves into the EventBridge connection (a secret EventBridge keeps for
itself); it never appears in context, code or the template.

Each transition's `eventId` becomes the endpoint's deduplication key (PagerDuty `dedup_key`,
Opsgenie `alias`), so an event delivered twice opens one incident. The severity follows the
transition's status category (`SEVERITIES`); one rule per severity, since an input transformer cannot
map values. An event the endpoint refuses is retried by EventBridge for up to a day, then kept in a
dead-letter queue that raises an ops alarm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_cdk import Duration, Fn, RemovalPolicy, SecretValue
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from job_auditor.contract.environment import STUCK_TRANSITION
from job_auditor.contract.kinds import JOB_KINDS, StatusCategory
from job_auditor.infra import nag
from job_auditor.infra.dead_letter_queue import dead_letter_queue, undelivered_alarm


class AlertPreset(StrEnum):
    """The endpoints job-auditor knows the payload of."""

    PAGERDUTY = "pagerduty"
    OPSGENIE = "opsgenie"
    HTTPS = "https"


# The public endpoints (alertUrl overrides them: PagerDuty's and Opsgenie's EU service regions).
DEFAULT_URLS = {
    AlertPreset.PAGERDUTY: "https://events.pagerduty.com/v2/enqueue",
    AlertPreset.OPSGENIE: "https://api.opsgenie.com/v2/alerts",
}
# PagerDuty's Events API takes the routing key in the body; the connection also sends it as a header,
# since a connection must authorize with something.
PAGERDUTY_KEY_HEADER = "X-Routing-Key"
# EventBridge's longest retry: a paging endpoint that is down for hours still gets the page.
MAX_EVENT_AGE = Duration.hours(24)
RETRY_ATTEMPTS = 185
# Far below what PagerDuty and Opsgenie accept from one integration; EventBridge queues the rest.
RATE_LIMIT_PER_SECOND = 10


@dataclass(frozen=True)
class Severity:
    """How urgent a transition is, in each endpoint's words, and the status categories it covers."""

    name: str
    pagerduty: str
    opsgenie: str
    categories: frozenset[StatusCategory]


SEVERITIES = (
    # The job did not do its work.
    Severity("error", "error", "P2", frozenset({StatusCategory.FAILED, StatusCategory.EXPIRED})),
    # Part of it, or a status job-auditor does not know yet.
    Severity("warning", "warning", "P3", frozenset({StatusCategory.PARTIAL, StatusCategory.UNKNOWN})),
    # Everything else: done, stopped by a person, deleted, running.
    Severity(
        "info",
        "info",
        "P5",
        frozenset(
            {
                StatusCategory.SUCCEEDED,
                StatusCategory.STOPPED,
                StatusCategory.DELETED,
                StatusCategory.IN_PROGRESS,
                StatusCategory.STOPPING,
            }
        ),
    ),
)
# A job running far longer than expected, whatever its status: someone should look.
STUCK = Severity("stuck", "warning", "P3", frozenset())


def _statuses_in(statuses: Sequence[str], severity: Severity) -> list[str]:
    """The statuses whose category, for some registered kind, is one of the severity's."""
    return [
        status
        for status in statuses
        if any(
            spec.is_known(status) and spec.category(status) in severity.categories
            for spec in JOB_KINDS.values()
        )
    ]


def alert_patterns(
    event_source: str,
    *,
    statuses: Sequence[str],
    categories: Sequence[str],
    stuck_alerts: bool,
) -> list[tuple[Severity, dict[str, Any]]]:
    """The EventBridge pattern of each severity's rule: transitions whose category is selected, or whose
    status is (and whose category is the severity's), stuck alerts apart; and, when `stuck_alerts`,
    every stuck alert. A transition matches at most one rule."""
    patterns: list[tuple[Severity, dict[str, Any]]] = []
    for severity in SEVERITIES:
        chosen = sorted(c.value for c in severity.categories if c in categories)
        named = _statuses_in(statuses, severity)
        branches: list[dict[str, list[str]]] = []
        if chosen:
            branches.append({"statusCategory": chosen})
        if named:
            branches.append({"status": named, "statusCategory": sorted(c.value for c in severity.categories)})
        if not branches:
            continue
        detail: dict[str, Any] = {"transition": [{"anything-but": STUCK_TRANSITION}]}
        detail |= branches[0] if len(branches) == 1 else {"$or": branches}
        patterns.append((severity, {"source": [event_source], "detail": detail}))
    if stuck_alerts:
        patterns.append((STUCK, {"source": [event_source], "detail": {"transition": [STUCK_TRANSITION]}}))
    return patterns


def _field(path: str) -> str:
    return events.EventField.from_path(f"$.detail.{path}")


def _summary() -> str:
    return f"{_field('jobKind')} {_field('jobName')} is {_field('status')}"


def alert_body(preset: AlertPreset, severity: Severity) -> dict[str, Any]:
    """What the endpoint receives, with the event's fields as EventField placeholders.

    Placeholders stand alone as a value (EventBridge writes the value as JSON) except inside the
    summaries, where only fields whose form cannot hold a quote or a backslash appear (ids, statuses,
    regions, job names as the job APIs allow them): EventBridge does not escape text inserted into a
    string. The failure message travels inside the detail object only."""
    if preset == AlertPreset.PAGERDUTY:
        return {
            "event_action": "trigger",
            "dedup_key": _field("eventId"),
            "client": "job-auditor",
            "client_url": _field("consoleUrl"),
            "payload": {
                "summary": f"{_summary()} ({_field('account')} {_field('region')})",
                "source": f"{_field('account')}/{_field('region')}",
                "severity": severity.pagerduty,
                "component": _field("jobKind"),
                "group": _field("region"),
                "class": _field("statusCategory"),
                "timestamp": _field("observedTime"),
                "custom_details": events.EventField.from_path("$.detail"),
            },
            "links": [{"href": _field("consoleUrl"), "text": "The job in the AWS console"}],
        }
    if preset == AlertPreset.OPSGENIE:
        return {
            # Opsgenie keeps 130 characters of a message: the status first, the job's name last.
            "message": f"{_field('status')}: {_field('jobKind')} {_field('jobName')}",
            "alias": _field("eventId"),
            "description": f"{_summary()} in account {_field('account')}, {_field('region')}.",
            "priority": severity.opsgenie,
            "source": "job-auditor",
            "entity": f"{_field('account')}/{_field('region')}",
            "tags": ["job-auditor", _field("jobKind"), _field("statusCategory")],
            "details": {
                "eventId": _field("eventId"),
                "jobId": _field("jobId"),
                "status": _field("status"),
                "transition": _field("transition"),
                "consoleUrl": _field("consoleUrl"),
            },
        }
    return {
        "eventId": _field("eventId"),
        "severity": severity.name if severity is not STUCK else STUCK.pagerduty,
        "summary": f"{_summary()} ({_field('account')} {_field('region')})",
        "detail": events.EventField.from_path("$.detail"),
    }


def _authorization(
    preset: AlertPreset, secret: SecretValue, header_name: str
) -> tuple[events.Authorization, Mapping[str, events.HttpParameter] | None]:
    """The connection's authorization and body parameters for the preset."""
    if preset == AlertPreset.PAGERDUTY:
        return (
            events.Authorization.api_key(PAGERDUTY_KEY_HEADER, secret),
            {"routing_key": events.HttpParameter.from_secret(secret)},
        )
    if preset == AlertPreset.OPSGENIE:
        genie_key = SecretValue.unsafe_plain_text(Fn.join("", ["GenieKey ", secret.unsafe_unwrap()]))
        return events.Authorization.api_key("Authorization", genie_key), None
    return events.Authorization.api_key(header_name, secret), None


class AlertDestination(Construct):
    """The connection, the API destination, one rule per severity on `bus`, their dead-letter queue and
    its alarm.

    `secret` is the name (or ARN) of a Secrets Manager secret whose value is the PagerDuty routing key,
    the Opsgenie API key (without `GenieKey `), or the generic endpoint's `header_name` value."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus: events.IEventBus,
        event_source: str,
        preset: AlertPreset | str,
        secret: str,
        removal_policy: RemovalPolicy,
        url: str | None = None,
        header_name: str = "Authorization",
        statuses: Sequence[str] = (),
        categories: Sequence[str] = ("FAILED", "EXPIRED", "PARTIAL"),
        stuck_alerts: bool = True,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        preset = AlertPreset(preset)
        endpoint = url or DEFAULT_URLS.get(preset)
        if endpoint is None:
            raise ValueError("alertUrl: required with alertDestination=https (the endpoint to POST to)")
        authorization, body_parameters = _authorization(
            preset, SecretValue.secrets_manager(secret), header_name
        )
        self.connection = events.Connection(
            self,
            "Connection",
            authorization=authorization,
            body_parameters=body_parameters,
            description=f"job-auditor: authorizes pages to {preset.value}",
        )
        self.destination = events.ApiDestination(
            self,
            "Destination",
            connection=self.connection,
            endpoint=endpoint,
            http_method=events.HttpMethod.POST,
            rate_limit_per_second=RATE_LIMIT_PER_SECOND,
            description=f"job-auditor: pages to {preset.value}",
        )
        self.dead_letter_queue = dead_letter_queue(self, removal_policy=removal_policy)
        nag.acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the paging rules' API destination target; a "
            "dead-letter queue for it would never receive anything.",
        )
        self.rules: dict[str, events.Rule] = {}
        for severity, pattern in alert_patterns(
            event_source, statuses=statuses, categories=categories, stuck_alerts=stuck_alerts
        ):
            rule = events.Rule(
                self,
                f"{severity.name.capitalize()}Rule",
                event_bus=bus,
                description=f"job-auditor: pages {preset.value} for {severity.name} transitions",
                event_pattern=events.EventPattern(source=pattern["source"], detail=pattern["detail"]),
            )
            rule.add_target(
                targets.ApiDestination(
                    self.destination,
                    event=events.RuleTargetInput.from_object(alert_body(preset, severity)),
                    dead_letter_queue=self.dead_letter_queue,
                    max_event_age=MAX_EVENT_AGE,
                    retry_attempts=RETRY_ATTEMPTS,
                )
            )
            self.rules[severity.name] = rule
        self.alarm = undelivered_alarm(
            self,
            self.dead_letter_queue,
            description=(
                "A job-auditor page could not be delivered to the paging endpoint (EventBridge retried "
                "for a day); the event is in the alert destination's dead-letter queue."
            ),
            alarm_topic=alarm_topic,
        )
