"""The auditor's environment: one typed model, validated once at the start of a run.

Every variable is an entry of the settings table (`contract.environment`): its name, form, bounds and
default live there, and the CDK stack sets exactly those variables (infra/auditor_function.py). A
missing or malformed variable fails the run with a message that names it, the form it expects and the
value it got. Variables that did not fit in Lambda's 4 KB environment are in SSM parameters
(SETTINGS_PARAMETERS names them), read through the `read_parameters` callable the composition root
passes, so no AWS client enters this module.

A stdlib NamedTuple read through the table's small parsers rather than a pydantic model: importing
pydantic and building the model's schema cost ~130 ms of every cold start (benchmarks/coldstart.py);
and not a dataclass, which compiles its generated methods as its module is imported.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import logging
import os
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from typing import Any, NamedTuple

from job_auditor.contract.environment import (
    BOUNDS,
    DEFAULT_STUCK_HOURS,
    EVENT_SOURCE_FORM,
    ORGANIZATION,
    REGION_PATTERN,
    RETIRED_SETTINGS,
    SETTINGS_PARAMETERS,
    Setting,
    parse_parameters,
    settings,
)
from job_auditor.contract.forms import text

__all__ = [
    "BOUNDS",
    "ENV_VARS",
    "EVENT_SOURCE_FORM",
    "FANOUT_ENV_VARS",
    "ReadParameters",
    "Settings",
    "SettingsError",
    "load_settings",
    "scope_env_vars",
]

# SSM parameter names -> their values (the names it could not find left out). The composition root
# passes one that reads each parameter once per cold start (adapters/parameters.py).
ReadParameters = Callable[[Collection[str]], Mapping[str, str]]
PARAMETERS_VARIABLE = str(SETTINGS_PARAMETERS.env_var)
logger = logging.getLogger(__name__)


class SettingsError(ValueError):
    """The environment is missing a variable or holds a malformed one."""


class Settings(NamedTuple):
    """Configuration of one auditor run: a field per variable of the settings table (defaults there).

    Build it with load_settings, which validates every value; the class itself only holds them.
    """

    state_table_name: str
    event_bus_name: str
    notification_topic_arn: str
    region: str
    account_id: str | None
    event_source: str
    job_kinds: tuple[str, ...]
    regions: tuple[str, ...]
    # Kind id -> the configured scope ids (knowledge bases, knowledge base/data source) from the
    # kind's scope variable; a kind not here discovers its scope.
    configured_scopes: dict[str, tuple[tuple[str, ...], ...]]
    initial_lookback_minutes: int
    overlap_seconds: int
    recheck_horizon_hours: int
    announce_baseline: bool
    history_ttl_days: int
    claim_lease_seconds: int
    # A job in the same in-progress status for longer than this gets one `stuck` alert, per kind;
    # kinds not listed: DEFAULT_STUCK_HOURS.
    stuck_after_hours: dict[str, int]
    # Repeat the alert every N hours while still stuck; 0: once.
    stuck_repeat_hours: int
    # The reconciliation sweep re-lists the last reconcile_lookback_hours every
    # reconcile_every_minutes (0: every run), to find transitions the windowed lists missed.
    reconcile_every_minutes: int
    reconcile_lookback_hours: int
    # A channel refusing a transition for a passing reason is retried this long, then parks it; more
    # transitions for people than digest_threshold in one run: one digest instead (0: never).
    publish_retry_hours: int
    digest_threshold: int
    # A job not found this many re-checks in a row is announced as disappeared.
    vanished_after_checks: int
    # The topic Amazon Q Developer in chat applications subscribes to (custom notifications).
    chat_topic_arn: str | None
    # Which transitions reach people: an SNS filter policy over the message attributes (the
    # subscriptions carry it; the chat topic's publisher applies it). None: every transition.
    notify_filter: dict[str, list[Any]] | None
    # Organization mode: the accounts to audit besides the deploying one (ids), or ORGANIZATION to
    # list them with AWS Organizations (under organizational_units if given). (): this account only.
    accounts: tuple[str, ...] | str
    organizational_units: tuple[str, ...]
    # The role assumed in every other account, and the ExternalId its trust policy may require.
    member_role_name: str
    member_external_id: str | None
    # Fan-out (auditMode=stepfunctions): the bucket of the run's item lists and map results, and how
    # many calls one account-region gets at once.
    items_bucket: str | None
    account_region_concurrency: int
    # discovery=cloudtrail: the queue of the announced job starts (None: every source lists its window).
    start_queue_url: str | None
    # Variables of the settings table this class has no field for (a plug-in's or a test's setting),
    # by field name: read them with value().
    other: Mapping[str, Any]

    def value(self, name: str) -> Any:
        """A setting's value by field name, whether this class declares it or not."""
        return self.other[name] if name in self.other else getattr(self, name)

    @property
    def from_organization(self) -> bool:
        """Whether the accounts are listed with AWS Organizations at the start of each run."""
        return self.accounts == ORGANIZATION

    @property
    def member_accounts(self) -> tuple[str, ...]:
        """The accounts configured by id (none in organization mode: they are listed per run)."""
        return () if isinstance(self.accounts, str) else self.accounts

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

    @property
    def publish_retry(self) -> timedelta:
        return timedelta(hours=self.publish_retry_hours)


_DECLARED = frozenset(Settings._fields)
_REGION = text("an AWS region name such as us-east-1", REGION_PATTERN)


def lambda_settings() -> tuple[Setting, ...]:
    """The table's settings the Lambda reads itself: its variables, less Powertools' own."""
    return tuple(s for s in settings() if s.field)


# Environment variable -> Settings field (a kind's scope variable -> the kind's id is scope_env_vars).
ENV_VARS: dict[str, str] = {
    s.env_var: s.field for s in lambda_settings() if s.env_var and s.field and not s.kind
}
# Set on the fan-out's functions only (auditMode=stepfunctions): the direct function's template
# stays as it was.
FANOUT_ENV_VARS = frozenset(s.env_var for s in settings() if s.env_var and s.fanout_only)


def scope_env_vars() -> dict[str, str]:
    """The registered kinds' scope variables (e.g. QCONNECT_KNOWLEDGE_BASE_IDS) -> their kind id:
    read into Settings.configured_scopes."""
    return {s.env_var: s.kind for s in settings() if s.env_var and s.kind}


def _with_parameters(
    env: Mapping[str, str], read_parameters: ReadParameters | None, problems: list[str]
) -> Mapping[str, str]:
    """`env` with the variables SETTINGS_PARAMETERS says are in SSM parameters (a variable also set
    in `env` keeps that value: an operator's override)."""
    try:
        where = parse_parameters(env.get(PARAMETERS_VARIABLE, "")) if env.get(PARAMETERS_VARIABLE) else {}
    except ValueError as exc:
        problems.append(f"{PARAMETERS_VARIABLE}: {exc}")
        return env
    wanted = {variable: name for variable, name in where.items() if not env.get(variable)}
    if not wanted:
        return env
    if read_parameters is None:
        problems.append(
            f"{PARAMETERS_VARIABLE}: {', '.join(wanted)} are in SSM parameters, and no parameter reader "
            "was given"
        )
        return env
    found = read_parameters(wanted.values())
    merged = dict(env)
    for variable, name in wanted.items():
        if name in found:
            merged[variable] = found[name]
        else:
            problems.append(f"{variable}: the SSM parameter {name} holding it was not found")
    return merged


def _read(setting: Setting, env: Mapping[str, str], values: dict[str, Any], problems: list[str]) -> Any:
    """The setting's value from `env` (its default when unset or empty); a problem when malformed."""
    assert setting.env_var
    raw = env.get(setting.env_var, "")
    if not raw.strip():
        if setting.required:
            problems.append(f"{setting.env_var}: required")
        return setting.default_value(values)
    try:
        return setting.form.read(raw)
    except ValueError as exc:
        problems.append(f"{setting.env_var}: {exc}")
        return setting.default_value(values)


def load_settings(
    environ: Mapping[str, str] | None = None, *, read_parameters: ReadParameters | None = None
) -> Settings:
    """Build Settings from environment variables (only the table's and AWS_REGION/AWS_DEFAULT_REGION
    are read) and the SSM parameters SETTINGS_PARAMETERS names (through `read_parameters`); raise one
    SettingsError naming every bad or missing variable."""
    problems: list[str] = []
    env = _with_parameters(os.environ if environ is None else environ, read_parameters, problems)
    values: dict[str, Any] = {}
    for setting in lambda_settings():
        values[setting.name] = _read(setting, env, values, problems)
    # The Lambda runtime sets AWS_REGION; AWS_DEFAULT_REGION is the SDK's fallback for local runs.
    region_from = (
        "AWS_DEFAULT_REGION" if env.get("AWS_DEFAULT_REGION") and not env.get("AWS_REGION") else "AWS_REGION"
    )
    region = env.get(region_from, "")
    if not region:
        problems.append(f"{region_from}: required")
    else:
        try:
            _REGION.read(region)
        except ValueError as exc:
            problems.append(f"{region_from}: {exc}")
    _warn_retired(env)
    if values.get("organizational_units") and values.get("accounts") != ORGANIZATION:
        problems.append(f"ORGANIZATIONAL_UNITS: only with ACCOUNTS={ORGANIZATION}")
    if problems:
        raise SettingsError("invalid auditor environment: " + "; ".join(problems))
    return _settings(values, region)


def _warn_retired(env: Mapping[str, str]) -> None:
    """A variable an earlier version read is ignored, saying what replaced it: the construct no longer
    sets it, so only a hand-set one (or a function caught mid-deployment) carries it."""
    for retired in RETIRED_SETTINGS:
        if env.get(retired.env_var, "").strip():
            logger.warning(
                "%s is no longer read (ignored): it was replaced by %s",
                retired.env_var,
                retired.instead(lambda s: s.env_var),
                extra={"variable": retired.env_var},
            )


def _settings(values: Mapping[str, Any], region: str) -> Settings:
    by_field = {s.field: values[s.name] for s in lambda_settings() if s.field and not s.kind}
    scopes = {s.kind: values[s.name] for s in lambda_settings() if s.kind and values[s.name]}
    declared = {name: value for name, value in by_field.items() if name in _DECLARED}
    other = {name: value for name, value in by_field.items() if name not in _DECLARED}
    return Settings(**declared, region=region, configured_scopes=scopes, other=other)
