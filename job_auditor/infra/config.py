"""The props of a JobAuditor: typed keyword arguments (or the CDK context keys), validated before any
construct is built, from the settings table (`contract.environment`).

Every setting is one entry of that table: its context key, its keyword argument (the key in
snake_case), its form, bounds, default and help. A context value (a string from `-c`, a JSON value from
cdk.json) and a keyword argument (a str, int, bool, sequence, mapping, cdk.Duration or
cdk.RemovalPolicy) are both written as text and read with the Lambda's own parser (the context's
stricter one where the README promises less), so a value synth accepts never fails the run. Every bad
value raises ConfigError, naming the key (or the keyword) and the form it expects; all problems at once.
"""

from __future__ import annotations

import difflib
import enum
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack

from job_auditor.contract.discovery import CLOUDTRAIL, announced_kinds, start_event_pattern
from job_auditor.contract.environment import (
    LOG_RETENTION_DAYS,
    METRICS_INSIGHTS_ALARM_MINUTES,
    OR_KEY,
    ORGANIZATION,
    STUCK_TRANSITION,
    Setting,
    retired_setting,
    settings,
)
from job_auditor.contract.forms import Invalid, shown
from job_auditor.contract.kinds import kind_ids

if TYPE_CHECKING:
    from aws_cdk import Duration, RemovalPolicy

__all__ = [
    "LOG_RETENTION_DAYS",
    "METRICS_INSIGHTS_ALARM_MINUTES",
    "ConfigError",
    "JobAuditorOptions",
    "JobAuditorProps",
    "as_props",
    "context_keys",
    "expected_forms",
    "filter_combinations",
    "is_cdk_key",
    "load_config",
]


class ConfigError(ValueError):
    """The props or the CDK context hold a malformed value; the message names each bad key."""


def cdk_settings() -> tuple[Setting, ...]:
    """The settings a JobAuditor takes: those with a context key (and so a keyword argument)."""
    return tuple(s for s in settings() if s.context_key)


def expected_forms() -> dict[str, str]:
    """Every context key job-auditor defines -> the form it expects, for the kinds registered now."""
    return {s.context_key: s.context_form for s in cdk_settings() if s.context_key}


def context_keys() -> tuple[str, ...]:
    return tuple(expected_forms())


class JobAuditorOptions(TypedDict, total=False):
    """The keyword arguments of JobAuditor and JobAuditorProps: the context keys of the README in
    snake_case. A number of seconds, minutes, hours or days also takes a cdk.Duration (a whole number
    of that unit); lists take any sequence; a kind's scope ids (knowledge bases) a sequence of ids or of
    (knowledge base, data source) pairs. A setting added to the table alone (register_setting) is taken
    too, by its name, without a type here."""

    stack_name: str
    job_kinds: Sequence[str]
    regions: Sequence[str]
    qconnect_knowledge_base_ids: Sequence[str]
    bedrock_knowledge_base_ids: Sequence[str | tuple[str, str]]
    schedule_rate_minutes: int | Duration
    notification_emails: Sequence[str]
    notify_statuses: Sequence[str]
    notify_status_categories: Sequence[str]
    notify_job_kinds: Sequence[str]
    notify_name_prefixes: Sequence[str]
    notify_stuck_alerts: bool
    ops_emails: Sequence[str]
    slack_workspace_id: str
    slack_channel_id: str
    slack_webhook_secret_name: str
    stuck_after_hours: int | Duration | Mapping[str, int | Duration] | str
    stuck_repeat_hours: int | Duration
    initial_lookback_minutes: int | Duration
    overlap_seconds: int | Duration
    recheck_horizon_hours: int | Duration
    announce_baseline: bool
    history_retention_days: int | Duration
    archive_retention_days: int | Duration
    removal_policy: RemovalPolicy | Literal["retain", "destroy"]
    function_memory_mb: int
    function_timeout_seconds: int | Duration
    log_retention_days: int | Duration
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]
    metrics_namespace: str
    service_name: str
    heartbeat_periods: int
    powertools_layer_version: str
    event_source: str
    reconcile_every_minutes: int | Duration
    reconcile_lookback_hours: int | Duration
    publish_retry_hours: int | Duration
    digest_threshold: int
    vanished_after_checks: int
    accounts: Sequence[str] | Literal["organization"]
    organizational_units: Sequence[str]
    member_role_name: str
    member_external_id: str
    member_deployment: Literal["none", "stackset"]
    stack_set_call_as: Literal["SELF", "DELEGATED_ADMIN"]
    organization_id: str
    auditor_role_arn: str
    account_failure_periods: int
    audit_mode: Literal["direct", "stepfunctions"]
    map_max_concurrency: int
    items_per_batch: int
    account_region_concurrency: int
    tolerated_failure_percentage: int
    map_child_execution_type: Literal["express", "standard"]
    discovery: Literal["listing", "cloudtrail"]
    teams_team_id: str
    teams_channel_id: str
    teams_tenant_id: str
    alert_destination: Literal["pagerduty", "opsgenie", "https"]
    alert_secret: str
    alert_url: str
    alert_header_name: str
    alert_statuses: Sequence[str]
    alert_status_categories: Sequence[str]
    alert_stuck_alerts: bool


# -- writing a given value as text ----------------------------------------------------------------

_DURATION_UNITS = {"seconds": "to_seconds", "minutes": "to_minutes", "hours": "to_hours", "days": "to_days"}


def _duration_text(setting: Setting, value: Any) -> str:
    """A cdk.Duration as a whole number of the setting's unit ("90 minutes" is not a whole number of
    hours: refused, as CDK's own conversion refuses it)."""
    convert = _DURATION_UNITS.get(setting.unit)
    if convert is None:
        raise Invalid(setting.context_form, f"the duration {value.to_human_string()}")
    try:
        return str(int(getattr(value, convert)()))
    except RuntimeError:  # jsii's form of CDK's "cannot be converted into a whole number"
        raise Invalid(
            setting.context_form, f"{value.to_human_string()}, not a whole number of {setting.unit}"
        ) from None


def _item_text(setting: Setting, item: object) -> str:
    """One item of a list: a string (a JSON list item from cdk.json is taken whole, so no surrounding
    blanks), or a tuple of scope ids (knowledge base, data source)."""
    if isinstance(item, tuple | list) and all(isinstance(part, str) for part in item):
        item = "/".join(item)
    if not isinstance(item, str) or item != item.strip() or "," in item:
        raise Invalid(setting.context_form, shown(item))
    return item


def _scalar_text(value: object) -> str | None:
    """A str, bool, int or enum (cdk.RemovalPolicy: jsii enums are Python enums) as text; None for
    anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return str(value.value) if isinstance(value, enum.Enum) else None


def _is_duration(value: object) -> bool:
    return hasattr(value, "to_human_string") and hasattr(value, "to_seconds")  # cdk.Duration


def _as_text(setting: Setting, value: object) -> str:
    """A given value written as the setting's text, the way `-c key=...` would give it."""
    if (scalar := _scalar_text(value)) is not None:
        return scalar
    if _is_duration(value):
        return _duration_text(setting, value)
    if isinstance(value, Mapping) and all(isinstance(v, int) or _is_duration(v) for v in value.values()):
        return ",".join(
            f"{key}={_duration_text(setting, v) if _is_duration(v) else v}" for key, v in value.items()
        )
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return ",".join(_item_text(setting, item) for item in value)
    raise Invalid(setting.context_form, shown(value))


def _problem(key: str, setting: Setting, error: ValueError) -> str:
    """A bad value's problem, quoting the key's own form (not the Lambda's words for it)."""
    if isinstance(error, Invalid):
        return f"{key}: expected {setting.context_form}, got {error.got}"
    message = str(error)
    return (
        message if setting.context_form in message else f"{key}: {message}; expected {setting.context_form}"
    )


def _read(setting: Setting, value: object) -> Any:
    """A given value of the setting: empty text means the default, as in the Lambda's environment."""
    given = _as_text(setting, value)
    read = setting.form.strict or setting.form.read
    return read(given) if given.strip() else None


# -- the props ------------------------------------------------------------------------------------


@dataclass(frozen=True, init=False)
class JobAuditorProps:
    """The validated settings of one JobAuditor: an attribute per setting of the table with a context
    key (its keyword argument's name), and the derived values the constructs read.

    Build it with keyword arguments (JobAuditorProps(regions=["us-east-1"])) or from context keys
    (load_config); either way every value is checked and a bad one raises ConfigError naming it."""

    stack_name: str
    job_kinds: tuple[str, ...]
    regions: tuple[str, ...]
    # Kind id -> configured scope ids (from each kind's scope setting, e.g. qconnect_knowledge_base_ids);
    # a kind not here discovers its scope.
    configured_scopes: dict[str, tuple[tuple[str, ...], ...]]
    schedule_rate_minutes: int
    notification_emails: tuple[str, ...]
    notify_statuses: tuple[str, ...]
    notify_status_categories: tuple[str, ...]
    notify_job_kinds: tuple[str, ...]
    notify_name_prefixes: tuple[str, ...]
    # Stuck alerts reach people whatever notify_statuses says (their status is an in-progress one).
    notify_stuck_alerts: bool
    ops_emails: tuple[str, ...]
    slack_workspace_id: str | None
    slack_channel_id: str | None
    slack_webhook_secret_name: str | None
    stuck_after_hours: dict[str, int]
    stuck_repeat_hours: int
    initial_lookback_minutes: int
    overlap_seconds: int
    recheck_horizon_hours: int
    announce_baseline: bool
    history_retention_days: int
    archive_retention_days: int
    removal_policy: str
    function_memory_mb: int
    function_timeout_seconds: int
    log_retention_days: int
    log_level: str
    metrics_namespace: str
    # None: the construct's own name (JobAuditor derives it from its path).
    service_name: str | None
    heartbeat_periods: int
    powertools_layer_version: str
    event_source: str
    reconcile_every_minutes: int
    reconcile_lookback_hours: int
    publish_retry_hours: int
    digest_threshold: int
    vanished_after_checks: int
    # Organization mode (docs/organization.md). (): the home account only; "organization": every active
    # account AWS Organizations lists (limited to organizational_units when given).
    accounts: tuple[str, ...] | str
    organizational_units: tuple[str, ...]
    member_role_name: str
    member_external_id: str | None
    member_deployment: str
    stack_set_call_as: str | None
    organization_id: str | None
    # The stand-alone member stack's trusted principal (app.py defines <stackName>Member when given).
    auditor_role_arn: str | None
    account_failure_periods: int
    # Fan-out (docs/performance.md, "Organization fan-out"): the defaults are the cheapest that keep
    # 1,000 sources within a minute per period.
    audit_mode: str
    map_max_concurrency: int
    items_per_batch: int
    account_region_concurrency: int
    tolerated_failure_percentage: int
    map_child_execution_type: str
    # How new jobs are found: listing, or cloudtrail (announced starts; infra/start_discovery.py).
    discovery: str
    # Microsoft Teams through Amazon Q Developer in chat applications (infra/teams_channel.py).
    teams_team_id: str | None
    teams_channel_id: str | None
    teams_tenant_id: str | None
    # Paging through an EventBridge API destination (infra/alert_destination.py).
    alert_destination: str | None
    alert_secret: str | None
    alert_url: str | None
    alert_header_name: str
    alert_statuses: tuple[str, ...]
    alert_status_categories: tuple[str, ...]
    alert_stuck_alerts: bool
    # Settings of the table this class has no attribute for (a plug-in's or a test's), by name.
    other: Mapping[str, Any]
    # The names of the settings given a value (the others took their defaults).
    given: frozenset[str]

    def __init__(self, **options: Unpack[JobAuditorOptions]) -> None:
        by_name = {s.name: s for s in cdk_settings()}
        problems = [
            _unknown(name, list(by_name), "keyword argument") for name in options if name not in by_name
        ]
        given = [(by_name[name], value) for name, value in options.items() if name in by_name]
        _fill(self, _validated(given, lambda s: s.name, problems, "props"), given)

    def value(self, name: str) -> Any:
        """A setting's value by name, whether this class declares it or not."""
        return self.other[name] if name in self.other else getattr(self, name)

    @property
    def multi_account(self) -> bool:
        """Whether accounts other than the home one are audited (accounts is set)."""
        return bool(self.accounts)

    @property
    def organization_mode(self) -> bool:
        """Whether the accounts come from AWS Organizations (accounts=organization)."""
        return self.accounts == ORGANIZATION

    @property
    def member_accounts(self) -> tuple[str, ...]:
        """The accounts named by id (none in organization mode: they are listed at run time)."""
        return () if isinstance(self.accounts, str) else self.accounts

    @property
    def call_as(self) -> str:
        """The StackSet's CallAs: SELF unless stackSetCallAs says DELEGATED_ADMIN."""
        return self.stack_set_call_as or "SELF"

    @property
    def slack_enabled(self) -> bool:
        return self.slack_workspace_id is not None and self.slack_channel_id is not None

    @property
    def notification_filter(self) -> dict[str, list[Any]] | None:
        """Which transitions reach people, as an SNS filter policy over the Lambda's message
        attributes: carried by every human subscription, and applied by the Lambda to the chat topic.

        A stuck alert carries the job's in-progress status, which a filter of outcomes (Completed,
        Failed) would drop: unless notifyStuckAlerts is false, stuck alerts pass the status condition
        on their own ($or), while the job kind and name conditions still apply to them."""
        return notification_filter(
            self.notify_statuses,
            self.notify_status_categories,
            self.notify_job_kinds,
            self.notify_name_prefixes,
            self.notify_stuck_alerts,
        )

    def scope_ids(self, kind_id: str) -> tuple[tuple[str, ...], ...]:
        """The configured scope ids of a kind (empty: discovered)."""
        return self.configured_scopes.get(kind_id, ())

    @property
    def claim_lease_seconds(self) -> int:
        """A claim's lease must outlive one run: the function timeout plus five minutes."""
        return self.function_timeout_seconds + 300


def notification_filter(
    statuses: Sequence[str],
    categories: Sequence[str],
    kinds: Sequence[str],
    name_prefixes: Sequence[str],
    stuck_alerts: bool,
) -> dict[str, list[Any]] | None:
    """The SNS filter policy of the notify* settings (JobAuditorProps.notification_filter)."""
    policy: dict[str, list[Any]] = {}
    # The outcomes asked for: a status or a category (either one lets a transition through).
    outcomes: list[dict[str, list[Any]]] = []
    if statuses:
        outcomes.append({"status": list(statuses)})
    if categories:
        outcomes.append({"statusCategory": list(categories)})
    if outcomes and stuck_alerts:
        outcomes.append({"transition": [STUCK_TRANSITION]})
    if len(outcomes) == 1:
        policy |= outcomes[0]
    elif outcomes:
        policy[OR_KEY] = outcomes
    if kinds:
        policy["jobKind"] = list(kinds)
    if name_prefixes:
        policy["jobName"] = [{"prefix": p} for p in name_prefixes]
    return policy or None


_NOTIFY = ("notify_statuses", "notify_status_categories", "notify_job_kinds", "notify_name_prefixes")


# -- validation -----------------------------------------------------------------------------------


def _validated(
    given: Sequence[tuple[Setting, object]],
    key: Callable[[Setting], str],
    problems: list[str],
    what: str = "context",
) -> dict[str, Any]:
    """Every CDK setting's value by name: the given ones read, the others their defaults (a default
    may depend on given values, e.g. auditMode on accounts). Raises ConfigError listing `problems` and
    every bad value and rule broken, each named as `key` spells the setting."""
    values: dict[str, Any] = {}
    for setting, value in given:
        if value is None:
            continue
        try:
            values[setting.name] = _read(setting, value)
        except ValueError as exc:
            problems.append(_problem(key(setting), setting, exc))
    if problems:
        raise ConfigError(f"invalid job-auditor {what}: " + " | ".join(problems))
    given_names = {name for name, value in values.items() if value is not None}
    for setting in cdk_settings():
        if values.get(setting.name) is None:
            values[setting.name] = setting.default_value(values)
    problems += _rule_problems(values, lambda name: key(_setting(name)))
    problems += _unused_problems(values, given_names, lambda name: key(_setting(name)))
    if problems:
        raise ConfigError(f"invalid job-auditor {what}: " + " | ".join(problems))
    return values


def _setting(name: str) -> Setting:
    return next(s for s in cdk_settings() if s.name == name)


# SNS rejects a subscription filter policy whose "total combination of values" exceeds 150, counted
# by multiplying the number of values in each array. Read literally for "$or" (its own array too),
# which is at least what SNS and CDK's own check count, so synth fails before a deploy would. A policy
# also has at most five keys and 256 KB (SNS developer guide, "Filter policy constraints").
MAX_FILTER_COMBINATIONS = 150
MAX_FILTER_KEYS = 5
MAX_FILTER_POLICY_BYTES = 256 * 1024


def filter_combinations(policy: Mapping[str, Sequence[Any]] | None) -> int:
    """The product of the lengths of every array in the policy, nested "$or" policies included."""
    total = 1
    for name, values in (policy or {}).items():
        total *= len(values)
        if name == OR_KEY:
            for alternative in values:
                total *= filter_combinations(alternative)
    return total


def filter_keys(policy: Mapping[str, Sequence[Any]] | None) -> set[str]:
    """The attribute names a policy filters on, those inside "$or" alternatives included."""
    keys: set[str] = set()
    for name, values in (policy or {}).items():
        if name == OR_KEY:
            for alternative in values:
                keys |= filter_keys(alternative)
        else:
            keys.add(name)
    return keys


def filter_policy_problem(policy: Mapping[str, Sequence[Any]] | None) -> str | None:
    """Why SNS would reject the policy (too many combinations, keys or bytes), or None."""
    combinations, keys = filter_combinations(policy), sorted(filter_keys(policy))
    size = len(json.dumps(policy).encode())
    for over, what, most in (
        (
            combinations > MAX_FILTER_COMBINATIONS,
            f"of {combinations} combinations of values",
            MAX_FILTER_COMBINATIONS,
        ),
        (len(keys) > MAX_FILTER_KEYS, f"on {len(keys)} keys ({', '.join(keys)})", MAX_FILTER_KEYS),
        (size > MAX_FILTER_POLICY_BYTES, f"of {size} bytes", MAX_FILTER_POLICY_BYTES),
    ):
        if over:
            return f"policy {what}, and SNS takes at most {most}"
    return None


def _rule_problems(values: Mapping[str, Any], key: Callable[[str], str]) -> list[str]:
    """The rules between settings; each message names the setting it is about first."""
    problems: list[str] = []
    if (values["slack_workspace_id"] is None) != (values["slack_channel_id"] is None):
        missing = "slack_channel_id" if values["slack_channel_id"] is None else "slack_workspace_id"
        problems.append(f"{key(missing)}: required when the other Slack id is given")
    statuses, categories, kinds, prefixes = (values[name] for name in _NOTIFY)
    policy = notification_filter(statuses, categories, kinds, prefixes, values["notify_stuck_alerts"])
    if problem := filter_policy_problem(policy):
        notify = ", ".join(key(name) for name in _NOTIFY)
        problems.append(
            f"{notify}: together they make an SNS filter {problem}: list fewer (or set "
            f"{key('notify_stuck_alerts')}=false)"
        )
    heartbeat, rate = key("heartbeat_periods"), key("schedule_rate_minutes")
    if values["heartbeat_periods"] * values["schedule_rate_minutes"] > 1440:
        problems.append(
            f"{heartbeat}: {heartbeat} x {rate} must be at most 1440 minutes (a CloudWatch alarm period is "
            "at most one day)"
        )
    return (
        problems
        + _organization_problems(values, key)
        + _reach_problems(values, key)
        + _discovery_problems(values, key)
    )


# Settings that act only with another: given without it they would be taken and do nothing, which
# hides a mistake (the other one forgotten, or the wrong mode). Each: the settings, when they act, and
# the setting (and value) they need, for the message.
_FANOUT = (
    "map_max_concurrency",
    "items_per_batch",
    "tolerated_failure_percentage",
    "map_child_execution_type",
)
_ONLY_WITH: tuple[tuple[tuple[str, ...], Callable[[Mapping[str, Any]], bool], str, str], ...] = (
    (
        ("alert_statuses", "alert_status_categories", "alert_stuck_alerts", "alert_header_name"),
        lambda values: values["alert_destination"] is not None,
        "alert_destination",
        "",
    ),
    (
        ("alert_header_name",),
        lambda values: values["alert_destination"] in (None, "https"),
        "alert_destination",
        "https",
    ),
    (
        (*_FANOUT, "account_region_concurrency"),
        lambda values: values["audit_mode"] == "stepfunctions",
        "audit_mode",
        "stepfunctions",
    ),
    (("account_failure_periods",), lambda values: bool(values["accounts"]), "accounts", ""),
)


def _unused_problems(values: Mapping[str, Any], given: set[str], key: Callable[[str], str]) -> list[str]:
    """A given setting that does nothing in this configuration (`_ONLY_WITH`)."""
    problems = []
    for names, acts, needed, value in _ONLY_WITH:
        if acts(values):
            continue
        for name in (n for n in names if n in given):
            problems.append(f"{key(name)}: only used with {key(needed)}" + (f"={value}" if value else ""))
    return problems


def _discovery_problems(values: Mapping[str, Any], key: Callable[[str], str]) -> list[str]:
    """discovery=cloudtrail: one run drains the queue, and some audited kind's starts are announced."""
    discovery = key("discovery")
    if values["discovery"] != CLOUDTRAIL:
        return []
    if values["audit_mode"] != "direct":
        return [
            f"{discovery}: {CLOUDTRAIL} needs {key('audit_mode')}=direct (one run drains the queue of "
            "announced starts; the fan-out's children would take each other's)"
        ]
    if start_event_pattern(values["job_kinds"]) is None:
        return [
            f"{discovery}: {CLOUDTRAIL} needs a job kind whose starts CloudTrail announces in "
            f"{key('job_kinds')} (" + ", ".join(spec.id for spec in announced_kinds(kind_ids())) + ")"
        ]
    return []


def _reach_problems(values: Mapping[str, Any], key: Callable[[str], str]) -> list[str]:
    """The Teams ids go together; a paging destination needs its secret (and https its URL)."""
    teams = ("teams_team_id", "teams_channel_id", "teams_tenant_id")
    if any(values[name] is not None for name in teams):
        missing = [key(name) for name in teams if values[name] is None]
        if missing:
            return [f"{missing[0]}: required when another Teams id is given"]
    return _alert_problems(values, key)


def _alert_problems(values: Mapping[str, Any], key: Callable[[str], str]) -> list[str]:
    destination, secret, url = (key(name) for name in ("alert_destination", "alert_secret", "alert_url"))
    chosen = values["alert_destination"]
    if chosen is None:
        given = values["alert_secret"] or values["alert_url"]
        return [f"{destination}: required when {secret} or {url} is given"] if given else []
    if not values["alert_secret"]:
        return [f"{secret}: required with {destination}={chosen}"]
    if chosen == "https" and not values["alert_url"]:
        return [f"{url}: required with {destination}=https"]
    if not (values["alert_statuses"] or values["alert_status_categories"] or values["alert_stuck_alerts"]):
        return [
            f"{key('alert_status_categories')}: empty, as are {key('alert_statuses')} and "
            f"{key('alert_stuck_alerts')}: nothing would page"
        ]
    return []


def _organization_problems(values: Mapping[str, Any], key: Callable[[str], str]) -> list[str]:
    """The rules between the organization mode's settings."""
    problems: list[str] = []
    stackset = values["member_deployment"] == "stackset"
    accounts, units = key("accounts"), key("organizational_units")
    if values["organizational_units"] and not (values["accounts"] == ORGANIZATION or stackset):
        problems.append(
            f"{units}: only used with {accounts}={ORGANIZATION} (the OUs whose accounts are audited) or "
            f"{key('member_deployment')}=stackset (the OUs the member role is deployed to)"
        )
    if stackset:
        needed = ("accounts", "organizational_units", "organization_id")
        if missing := [key(name) for name in needed if not values[name]]:
            problems.append(
                f"{key('member_deployment')}: stackset needs {', '.join(missing)} (the accounts to audit, "
                "the OUs to deploy the member role to, and the organization the role trusts)"
            )
    elif values["stack_set_call_as"] is not None:
        problems.append(f"{key('stack_set_call_as')}: only used with {key('member_deployment')}=stackset")
    minutes = values["account_failure_periods"] * values["schedule_rate_minutes"]
    if values["accounts"] and minutes > METRICS_INSIGHTS_ALARM_MINUTES:
        failures = key("account_failure_periods")
        problems.append(
            f"{failures}: {failures} x {key('schedule_rate_minutes')} must be at most "
            f"{METRICS_INSIGHTS_ALARM_MINUTES} minutes with several accounts (the per-account failure "
            "alarm is a Metrics Insights alarm, which evaluates the latest three hours only)"
        )
    return problems


# -- the context ----------------------------------------------------------------------------------

# Context keys that belong to CDK, not to job-auditor, and pass unchecked: what the CLI sets on every
# run (aws:cdk:enable-path-metadata, aws:cdk:enable-asset-metadata, aws:cdk:version-reporting,
# aws:cdk:bundling-stacks, ...), feature flags in cdk.json (@aws-cdk/..., and
# @aws-cdk-containers/ecs-service-extensions:enableDefaultLogDriver among the recommended ones), CDK
# v1's aws-cdk:* keys, cached lookups in cdk.context.json (provider:account=...:region=...), and the
# CLI's notice acknowledgements and telemetry switch. Any other key is a typo or a key of another
# library: it fails synth, since ignoring it silently changes what is deployed.
_CDK_KEY_PREFIXES = ("aws:", "aws-cdk:", "@aws-cdk/", "@aws-cdk-containers/")
_CDK_KEYS = frozenset({"acknowledged-issue-numbers", "cli-telemetry"})
_LOOKUP_KEY = re.compile(r"[a-z][a-z0-9-]*:.*=.*")


def is_cdk_key(key: str) -> bool:
    """Whether a context key belongs to CDK itself (feature flags, the CLI's own, cached lookups)."""
    return key.startswith(_CDK_KEY_PREFIXES) or key in _CDK_KEYS or _LOOKUP_KEY.fullmatch(key) is not None


def _unknown(key: str, known: Sequence[str], what: str) -> str:
    """The problem with a key job-auditor does not define, naming the closest one it does (or, for a
    key an earlier version defined, the one that replaced it)."""
    if retired := retired_setting(key):
        spelling = (lambda s: s.context_key) if key == retired.context_key else (lambda s: s.name)
        return f"{what} {key!r} was replaced by {retired.instead(spelling)}"
    by_case = {name.lower(): name for name in known}
    close = difflib.get_close_matches(key.lower(), by_case, n=1, cutoff=0.6)
    hint = f"did you mean {by_case[close[0]]!r}?" if close else "the README lists the context keys"
    return f"unknown {what} {key!r} ({hint})"


def load_config(context: Mapping[str, object]) -> JobAuditorProps:
    """The props from CDK context values (strings from `-c`, or JSON values from cdk.json).

    Keys CDK itself uses (is_cdk_key) pass unchecked; any other key job-auditor does not define fails,
    naming the closest one it does. Every problem is reported in one ConfigError.
    """
    by_key = {s.context_key: s for s in cdk_settings() if s.context_key}
    problems = [
        _unknown(key, list(by_key), "context key")
        for key in context
        if key not in by_key and not is_cdk_key(key)
    ]
    given = [(by_key[key], value) for key, value in context.items() if key in by_key]
    props = JobAuditorProps.__new__(JobAuditorProps)
    _fill(props, _validated(given, lambda s: str(s.context_key), problems), given)
    return props


def _fill(props: JobAuditorProps, values: dict[str, Any], given: Sequence[tuple[Setting, object]]) -> None:
    declared = {f.name for f in fields(JobAuditorProps)}
    chosen = frozenset(s.name for s, value in given if value is not None and _as_text(s, value).strip())
    object.__setattr__(props, "given", chosen)
    scopes = {s.kind: values.pop(s.name) for s in cdk_settings() if s.kind}
    object.__setattr__(props, "configured_scopes", {kind: ids for kind, ids in scopes.items() if ids})
    for name, value in values.items():
        if name in declared:
            object.__setattr__(props, name, value)
    object.__setattr__(props, "other", {n: v for n, v in values.items() if n not in declared})


def as_props(props: JobAuditorProps | Mapping[str, object] | None) -> JobAuditorProps:
    """`props` as given to a construct: typed props as they are, context keys validated (None: defaults)."""
    if isinstance(props, JobAuditorProps):
        return props
    return load_config(props or {})
