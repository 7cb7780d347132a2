"""The auditor's environment: one typed model, validated once at the start of a run.

This is the contract with the CDK stack (infra/auditor_function.py sets exactly these variables).
A missing or malformed variable fails the run with a message that names it, the form it expects and
the value it got.

A stdlib dataclass and a table of small parsers rather than a pydantic model: importing pydantic and
building the model's schema cost ~130 ms of every cold start (benchmarks/coldstart.py).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import timedelta
from typing import Any

from job_auditor.contract.discovery import START_QUEUE_URL
from job_auditor.contract.environment import (
    ACCOUNT_ID_PATTERN,
    BOUNDS,
    DEFAULT_MEMBER_ROLE_NAME,
    DEFAULT_STUCK_HOURS,
    EVENT_SOURCE_FORM,
    EVENT_SOURCE_PATTERN,
    FILTER_ATTRIBUTES,
    MEMBER_EXTERNAL_ID_FORM,
    MEMBER_EXTERNAL_ID_PATTERN,
    MEMBER_ROLE_NAME_FORM,
    MEMBER_ROLE_NAME_PATTERN,
    OR_KEY,
    ORGANIZATION,
    ORGANIZATIONAL_UNIT_PATTERN,
    ORGANIZATIONAL_UNITS_FORM,
    REGION_PATTERN,
    Bounds,
    invalid,
    kinds_form,
    parse_accounts,
    parse_scope_items,
    parse_stuck_hours,
    scope_settings,
    shown,
)
from job_auditor.contract.kinds import JOB_KINDS, default_kind_ids

__all__ = [
    "BOUNDS",
    "ENV_VARS",
    "EVENT_SOURCE_FORM",
    "FANOUT_ENV_VARS",
    "Settings",
    "SettingsError",
    "load_settings",
    "scope_env_vars",
]

# What int() takes, less other scripts' digits.
_INTEGER = re.compile(r"\s*[+-]?[0-9]+(_[0-9]+)*\s*")
# The forms pydantic accepted before, so existing environments keep working (case-insensitive).
_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


class SettingsError(ValueError):
    """The environment is missing a variable or holds a malformed one."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Configuration of one auditor run. Fields without a default are required.

    Build it with load_settings, which validates every value; the dataclass itself only holds them.
    """

    state_table_name: str
    event_bus_name: str
    notification_topic_arn: str
    region: str
    account_id: str | None = None
    event_source: str = "job-auditor"
    job_kinds: tuple[str, ...] = field(default_factory=default_kind_ids)
    regions: tuple[str, ...] = ()
    # Kind id -> the configured scope ids (knowledge bases, knowledge base/data source) from the
    # kind's scope variable; a kind not here discovers its scope.
    configured_scopes: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    initial_lookback_minutes: int = 24 * 60
    overlap_seconds: int = 300
    recheck_horizon_hours: int = 72
    announce_baseline: bool = False
    history_ttl_days: int = 90
    claim_lease_seconds: int = 900
    # A job in the same in-progress status for longer than this gets one `stuck` alert, per kind;
    # kinds not listed: DEFAULT_STUCK_HOURS.
    stuck_after_hours: dict[str, int] = field(default_factory=dict)
    # Repeat the alert every N hours while still stuck; 0: once.
    stuck_repeat_hours: int = 0
    # The reconciliation sweep re-lists the last reconcile_lookback_hours every
    # reconcile_every_minutes (0: every run), to find transitions the windowed lists missed.
    reconcile_every_minutes: int = 60
    reconcile_lookback_hours: int = 24
    # A transition whose publish failed this many times is parked instead of retried every run.
    max_publish_attempts: int = 5
    # A job not found this many re-checks in a row is announced as disappeared.
    vanished_after_checks: int = 3
    # The topic Amazon Q Developer in chat applications subscribes to (custom notifications).
    chat_topic_arn: str | None = None
    # Which transitions reach people: an SNS filter policy over the message attributes (the
    # subscriptions carry it; the chat topic's publisher applies it). None: every transition.
    notify_filter: dict[str, list[Any]] | None = None
    # Organization mode: the accounts to audit besides the deploying one (ids), or ORGANIZATION to
    # list them with AWS Organizations (under organizational_units if given). (): this account only.
    accounts: tuple[str, ...] | str = ()
    organizational_units: tuple[str, ...] = ()
    # The role assumed in every other account, and the ExternalId its trust policy may require.
    member_role_name: str = DEFAULT_MEMBER_ROLE_NAME
    member_external_id: str | None = None

    @property
    def from_organization(self) -> bool:
        """Whether the accounts are listed with AWS Organizations at the start of each run."""
        return self.accounts == ORGANIZATION

    @property
    def member_accounts(self) -> tuple[str, ...]:
        """The accounts configured by id (none in organization mode: they are listed per run)."""
        return () if isinstance(self.accounts, str) else self.accounts

    # Fan-out (auditMode=stepfunctions): the bucket of the run's item lists and map results, and how
    # many calls one account-region gets at once.
    items_bucket: str | None = None
    account_region_concurrency: int = 2
    # discovery=cloudtrail: the queue of the announced job starts (None: every source lists its window).
    start_queue_url: str | None = None

    @property
    def audited_regions(self) -> tuple[str, ...]:
        """Regions to audit: the configured ones, or the function's own region."""
        return self.regions or (self.region,)

    @property
    def initial_lookback(self) -> timedelta:
        return timedelta(minutes=self.initial_lookback_minutes)

    @property
    def overlap(self) -> timedelta:
        return timedelta(seconds=self.overlap_seconds)

    @property
    def recheck_horizon(self) -> timedelta:
        return timedelta(hours=self.recheck_horizon_hours)

    @property
    def claim_lease(self) -> timedelta:
        return timedelta(seconds=self.claim_lease_seconds)

    @property
    def history_ttl(self) -> timedelta:
        return timedelta(days=self.history_ttl_days)

    def stuck_threshold(self, kind: str) -> timedelta:
        return timedelta(hours=self.stuck_after_hours.get(kind, DEFAULT_STUCK_HOURS))

    @property
    def stuck_repeat(self) -> timedelta | None:
        return timedelta(hours=self.stuck_repeat_hours) if self.stuck_repeat_hours else None

    @property
    def reconcile_every(self) -> timedelta:
        """How often the reconciliation sweep runs; zero: every run."""
        return timedelta(minutes=self.reconcile_every_minutes)

    @property
    def reconcile_lookback(self) -> timedelta:
        return timedelta(hours=self.reconcile_lookback_hours)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


# Parsers: each takes the variable's (non-empty) text and returns the field's value, or raises
# ValueError("expected <form>, got <value>").


def _int(bounds: Bounds) -> Callable[[str], int]:
    expected = bounds.form()

    def parse(text: str) -> int:
        if not _INTEGER.fullmatch(text) or not bounds.low <= int(text) <= bounds.high:
            raise invalid(expected, text)
        return int(text)

    return parse


def _bool(text: str) -> bool:
    word = text.strip().lower()
    if word not in _TRUE | _FALSE:
        raise invalid("true or false", text)
    return word in _TRUE


def _text(
    expected: str, pattern: str | re.Pattern[str] | None = None, min_len: int = 1, max_len: int = 256
) -> Callable[[str], str]:
    compiled = None if pattern is None else re.compile(pattern)

    def parse(text: str) -> str:
        # fullmatch: a pattern ending in $ would also let a trailing newline through with match.
        if not min_len <= len(text) <= max_len or (compiled and not compiled.fullmatch(text)):
            raise invalid(expected, text)
        return text

    return parse


def _csv(
    ok: Callable[[str], bool], expected: str, empty_words: Collection[str] = (), non_empty: bool = False
) -> Callable[[str], tuple[str, ...]]:
    """A comma list whose every item passes `ok`; the error quotes only the bad items."""

    def parse(text: str) -> tuple[str, ...]:
        if text.strip().lower() in empty_words:
            return ()
        items = _split(text)
        if non_empty and not items:
            raise invalid(expected, text)
        # Each item once, in order: a repeated kind or knowledge base would be audited twice at once.
        items = tuple(dict.fromkeys(items))
        bad = [item for item in items if not ok(item)]
        if bad:
            raise ValueError(f"expected {expected}, got {', '.join(shown(b) for b in bad)}")
        return items

    return parse


def _kinds(text: str) -> tuple[str, ...]:
    """Registered kind ids, each once; a list without kinds would audit nothing, silently."""
    return _csv(JOB_KINDS.__contains__, kinds_form(), non_empty=True)(text)


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: pattern.fullmatch(value) is not None


def _filter_policy(text: str) -> dict[str, list[Any]] | None:
    """An SNS filter policy over FILTER_ATTRIBUTES: each attribute to a non-empty list of exact
    strings or {"prefix": "..."} objects, and "$or" to a list of at least two such policies (SNS
    reads "$or" as an operator only then). JSON null and {} mean no filter, as an unset variable
    does: a policy that names no attribute asks nothing of a message."""
    try:
        policy: object = json.loads(text)
    except json.JSONDecodeError:
        raise invalid("a JSON SNS filter policy", text) from None
    if policy is None or policy == {}:
        return None
    if not isinstance(policy, dict):
        raise invalid("a JSON object (an SNS filter policy)", text)
    _check_policy(policy)
    return policy


def _check_policy(policy: dict[str, object]) -> None:
    for name, rules in policy.items():
        if name == OR_KEY:
            if not (
                isinstance(rules, list) and len(rules) >= 2 and all(isinstance(p, dict) and p for p in rules)
            ):
                raise ValueError(
                    f"expected $or: a list of at least two filter policies, got {shown(json.dumps(rules))}"
                )
            for alternative in rules:
                _check_policy(alternative)
            continue
        if name not in FILTER_ATTRIBUTES:
            raise invalid(f"message attributes from {', '.join(sorted(FILTER_ATTRIBUTES))}", name)
        if not (isinstance(rules, list) and rules and all(map(_is_rule, rules))):
            raise ValueError(
                f'expected {name}: a non-empty list of strings or {{"prefix": "..."}} objects, '
                f"got {shown(json.dumps(rules))}"
            )


def _is_rule(rule: object) -> bool:
    if isinstance(rule, dict):
        return set(rule) == {"prefix"} and isinstance(rule["prefix"], str)
    return isinstance(rule, str)


_TOPIC_ARN = _text(
    "an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)",
    r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}",
    max_len=2048,
)
_REGION = _text("an AWS region name such as us-east-1", REGION_PATTERN)

# Environment variable -> (field, parser). The names are the public contract with the CDK stack.
# An unset or empty variable leaves the field's default; a field without a default is required.
_VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "STATE_TABLE_NAME": (
        "state_table_name",
        _text("a DynamoDB table name: 3 to 255 of A-Z a-z 0-9 _ . -", r"[A-Za-z0-9_.-]+", 3, 255),
    ),
    "EVENT_BUS_NAME": ("event_bus_name", _text("an EventBridge bus name or ARN", max_len=1600)),
    "NOTIFICATION_TOPIC_ARN": ("notification_topic_arn", _TOPIC_ARN),
    "EVENT_SOURCE": ("event_source", _text(EVENT_SOURCE_FORM, EVENT_SOURCE_PATTERN)),
    "JOB_KINDS": ("job_kinds", _kinds),
    "REGIONS": (
        "regions",
        _csv(_matches(REGION_PATTERN), "a comma list of AWS region names such as us-east-1"),
    ),
    "INITIAL_LOOKBACK_MINUTES": ("initial_lookback_minutes", _int(BOUNDS["INITIAL_LOOKBACK_MINUTES"])),
    "OVERLAP_SECONDS": ("overlap_seconds", _int(BOUNDS["OVERLAP_SECONDS"])),
    "RECHECK_HORIZON_HOURS": ("recheck_horizon_hours", _int(BOUNDS["RECHECK_HORIZON_HOURS"])),
    # true or false; also 1/0, yes/no, on/off, t/f, y/n, in any case.
    "ANNOUNCE_BASELINE": ("announce_baseline", _bool),
    "HISTORY_TTL_DAYS": ("history_ttl_days", _int(BOUNDS["HISTORY_TTL_DAYS"])),
    "CLAIM_LEASE_SECONDS": ("claim_lease_seconds", _int(BOUNDS["CLAIM_LEASE_SECONDS"])),
    "ACCOUNT_ID": ("account_id", _text("a 12-digit account id", ACCOUNT_ID_PATTERN)),
    "CHAT_TOPIC_ARN": ("chat_topic_arn", _TOPIC_ARN),
    "STUCK_AFTER_HOURS": ("stuck_after_hours", parse_stuck_hours),
    "STUCK_REPEAT_HOURS": ("stuck_repeat_hours", _int(BOUNDS["STUCK_REPEAT_HOURS"])),
    "RECONCILE_EVERY_MINUTES": ("reconcile_every_minutes", _int(BOUNDS["RECONCILE_EVERY_MINUTES"])),
    "RECONCILE_LOOKBACK_HOURS": ("reconcile_lookback_hours", _int(BOUNDS["RECONCILE_LOOKBACK_HOURS"])),
    "MAX_PUBLISH_ATTEMPTS": ("max_publish_attempts", _int(BOUNDS["MAX_PUBLISH_ATTEMPTS"])),
    "VANISHED_AFTER_CHECKS": ("vanished_after_checks", _int(BOUNDS["VANISHED_AFTER_CHECKS"])),
    "NOTIFY_FILTER": ("notify_filter", _filter_policy),
    "ACCOUNTS": ("accounts", parse_accounts),
    "ORGANIZATIONAL_UNITS": (
        "organizational_units",
        _csv(_matches(ORGANIZATIONAL_UNIT_PATTERN), ORGANIZATIONAL_UNITS_FORM),
    ),
    "MEMBER_ROLE_NAME": ("member_role_name", _text(MEMBER_ROLE_NAME_FORM, MEMBER_ROLE_NAME_PATTERN)),
    "MEMBER_EXTERNAL_ID": (
        "member_external_id",
        _text(MEMBER_EXTERNAL_ID_FORM, MEMBER_EXTERNAL_ID_PATTERN, 2, 1224),
    ),
    "ITEMS_BUCKET": (
        "items_bucket",
        _text("an S3 bucket name: 3 to 63 of a-z 0-9 . -", r"[a-z0-9][a-z0-9.-]*[a-z0-9]", 3, 63),
    ),
    "ACCOUNT_REGION_CONCURRENCY": ("account_region_concurrency", _int(BOUNDS["ACCOUNT_REGION_CONCURRENCY"])),
    START_QUEUE_URL: (
        "start_queue_url",
        _text(
            "an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)",
            r"https?://\S+",
            10,
            2048,
        ),
    ),
}
# Environment variable name -> field name.
ENV_VARS: dict[str, str] = {name: field_name for name, (field_name, _) in _VARIABLES.items()}
# Set on the fan-out's functions only (auditMode=stepfunctions): the direct function's template
# stays as it was.
FANOUT_ENV_VARS = frozenset({"ITEMS_BUCKET", "ACCOUNT_REGION_CONCURRENCY"})


def scope_env_vars() -> dict[str, str]:
    """The registered kinds' scope variables (e.g. QCONNECT_KNOWLEDGE_BASE_IDS) -> their kind id:
    read into Settings.configured_scopes."""
    return {setting.env_var: spec.id for spec, setting in scope_settings()}


_REQUIRED = frozenset(
    f.name for f in fields(Settings) if f.default is MISSING and f.default_factory is MISSING
)


def _configured_scopes(env: Mapping[str, str], problems: list[str]) -> dict[str, tuple[tuple[str, ...], ...]]:
    scopes: dict[str, tuple[tuple[str, ...], ...]] = {}
    for spec, setting in scope_settings():
        try:
            items = parse_scope_items(spec, env.get(setting.env_var, ""))
        except ValueError as exc:
            problems.append(f"{setting.env_var}: {exc}")
            continue
        if items:
            scopes[spec.id] = items
    return scopes


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from environment variables (only ENV_VARS and AWS_REGION/AWS_DEFAULT_REGION
    are read); raise one SettingsError naming every bad or missing variable."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []

    def read(name: str, field_name: str, parse: Callable[[str], object]) -> None:
        text = env.get(name, "")
        if text == "":
            if field_name in _REQUIRED:
                problems.append(f"{name}: required")
            return
        try:
            values[field_name] = parse(text)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")

    for name, (field_name, parse) in _VARIABLES.items():
        read(name, field_name, parse)
    values["configured_scopes"] = _configured_scopes(env, problems)
    # The Lambda runtime sets AWS_REGION; AWS_DEFAULT_REGION is the SDK's fallback for local runs.
    region_from = (
        "AWS_DEFAULT_REGION" if env.get("AWS_DEFAULT_REGION") and not env.get("AWS_REGION") else "AWS_REGION"
    )
    read(region_from, "region", _REGION)
    if values.get("organizational_units") and values.get("accounts") != ORGANIZATION:
        problems.append(f"ORGANIZATIONAL_UNITS: only with ACCOUNTS={ORGANIZATION}")
    if problems:
        raise SettingsError("invalid auditor environment: " + "; ".join(problems))
    return Settings(**values)
