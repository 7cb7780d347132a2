"""The auditor's environment: one typed model, validated once at the start of a run.

This is the contract with the CDK stack (infra/auditor_function.py sets exactly these variables).
A missing or malformed variable fails the run with a message that names it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

JobKindId = Literal["bedrock-model-import", "bedrock-model-copy", "qconnect-import"]
ALL_JOB_KINDS: tuple[JobKindId, ...] = ("bedrock-model-import", "bedrock-model-copy", "qconnect-import")

# Shared with the CDK context model (infra/config.py), so both accept the same forms.
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
KB_ID_PATTERN = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$")
_ACCOUNT = re.compile(r"^\d{12}$")
# Message attributes the auditor sets on every SNS publish (auditor.domain.notifications.attributes).
FILTER_ATTRIBUTES = frozenset(
    {"jobKind", "status", "previousStatus", "transition", "region", "account", "jobName"}
)

# Environment variable name -> field name. The names are the public contract with the CDK stack.
ENV_VARS: dict[str, str] = {
    "STATE_TABLE_NAME": "state_table_name",
    "EVENT_BUS_NAME": "event_bus_name",
    "NOTIFICATION_TOPIC_ARN": "notification_topic_arn",
    "EVENT_SOURCE": "event_source",
    "JOB_KINDS": "job_kinds",
    "REGIONS": "regions",
    "QCONNECT_KNOWLEDGE_BASE_IDS": "qconnect_knowledge_base_ids",
    "INITIAL_LOOKBACK_MINUTES": "initial_lookback_minutes",
    "OVERLAP_SECONDS": "overlap_seconds",
    "RECHECK_HORIZON_HOURS": "recheck_horizon_hours",
    "ANNOUNCE_BASELINE": "announce_baseline",
    "HISTORY_TTL_DAYS": "history_ttl_days",
    "CLAIM_LEASE_SECONDS": "claim_lease_seconds",
    "ACCOUNT_ID": "account_id",
    "CHAT_TOPIC_ARN": "chat_topic_arn",
    "STUCK_AFTER_HOURS": "stuck_after_hours",
    "STUCK_REPEAT_HOURS": "stuck_repeat_hours",
    "NOTIFY_FILTER": "notify_filter",
}
_FIELD_TO_ENV = {field: env for env, field in ENV_VARS.items()}

PositiveInt = Annotated[int, Field(gt=0)]
DEFAULT_STUCK_HOURS = 24


class SettingsError(ValueError):
    """The environment is missing a variable or holds a malformed one."""


def split_csv(value: object) -> object:
    """A comma list as a tuple of its non-empty, stripped parts; other values pass through."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseModel):
    """Validated configuration of one auditor run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_table_name: Annotated[str, Field(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")]
    event_bus_name: Annotated[str, Field(min_length=1, max_length=1600)]
    notification_topic_arn: str
    region: str
    account_id: str | None = None
    event_source: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._\-/]+$")] = (
        "job-auditor"
    )
    job_kinds: tuple[JobKindId, ...] = ALL_JOB_KINDS
    regions: tuple[str, ...] = ()
    # Empty tuple: discover every knowledge base with ListKnowledgeBases.
    qconnect_knowledge_base_ids: tuple[str, ...] = ()
    initial_lookback_minutes: PositiveInt = 24 * 60
    overlap_seconds: Annotated[int, Field(ge=0, le=86_400)] = 300
    recheck_horizon_hours: PositiveInt = 72
    announce_baseline: bool = False
    history_ttl_days: PositiveInt = 90
    claim_lease_seconds: Annotated[int, Field(ge=60)] = 900
    # A job in the same in-progress status for longer than this gets one `stuck` alert: hours for
    # every kind ("24") or per kind ("bedrock-model-import=48,qconnect-import=6"; others 24).
    stuck_after_hours: dict[str, int] = Field(default_factory=dict)
    # Repeat the alert every N hours while still stuck; 0: once.
    stuck_repeat_hours: Annotated[int, Field(ge=0)] = 0
    # The topic Amazon Q Developer in chat applications subscribes to (custom notifications).
    chat_topic_arn: str | None = None
    # Which transitions reach people: an SNS filter policy over the message attributes (the
    # subscriptions carry it; the chat topic's publisher applies it). None: every transition.
    notify_filter: dict[str, list[str | dict[str, str]]] | None = None

    @field_validator("job_kinds", "regions", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("qconnect_knowledge_base_ids", mode="before")
    @classmethod
    def _kb_ids(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "discover", "*"}:
            return ()
        return split_csv(value)

    @field_validator("qconnect_knowledge_base_ids")
    @classmethod
    def _kb_id_form(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [kb for kb in value if not KB_ID_PATTERN.match(kb)]
        if bad:
            raise ValueError(f"expected knowledge base ids (UUIDs) or 'discover', got {bad}")
        return value

    @field_validator("regions")
    @classmethod
    def _region_form(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in value if not REGION_PATTERN.match(r)]
        if bad:
            raise ValueError(f"expected AWS region names such as us-east-1, got {bad}")
        return value

    @field_validator("region")
    @classmethod
    def _own_region(cls, value: str) -> str:
        if not REGION_PATTERN.match(value):
            raise ValueError(f"expected an AWS region name such as us-east-1, got {value!r}")
        return value

    @field_validator("notification_topic_arn")
    @classmethod
    def _topic_arn(cls, value: str) -> str:
        if not _TOPIC_ARN.match(value):
            raise ValueError(
                f"expected an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>), got {value!r}"
            )
        return value

    @field_validator("stuck_after_hours", mode="before")
    @classmethod
    def _stuck_form(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if re.fullmatch(r"\d+", text):
            return {kind: int(text) for kind in ALL_JOB_KINDS}
        out: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            kind, _, hours = part.partition("=")
            if kind.strip() not in ALL_JOB_KINDS or not hours.strip().isdigit() or int(hours) == 0:
                raise ValueError(
                    f"expected hours, or job-kind=hours pairs such as qconnect-import=6, got {part!r}"
                )
            out[kind.strip()] = int(hours)
        return out

    @field_validator("stuck_after_hours")
    @classmethod
    def _stuck_positive(cls, value: dict[str, int]) -> dict[str, int]:
        if any(hours <= 0 for hours in value.values()):
            raise ValueError("stuck thresholds must be whole hours greater than 0")
        return value

    def stuck_threshold(self, kind: str) -> timedelta:
        return timedelta(hours=self.stuck_after_hours.get(kind, DEFAULT_STUCK_HOURS))

    @property
    def stuck_repeat(self) -> timedelta | None:
        return timedelta(hours=self.stuck_repeat_hours) if self.stuck_repeat_hours else None

    @field_validator("chat_topic_arn")
    @classmethod
    def _chat_topic_arn(cls, value: str | None) -> str | None:
        return None if value is None else cls._topic_arn(value)

    @field_validator("notify_filter", mode="before")
    @classmethod
    def _filter_json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"expected a JSON SNS filter policy, got {value!r}") from exc
        return value

    @field_validator("notify_filter")
    @classmethod
    def _filter_form(
        cls, value: dict[str, list[str | dict[str, str]]] | None
    ) -> dict[str, list[str | dict[str, str]]] | None:
        for name, rules in (value or {}).items():
            if name not in FILTER_ATTRIBUTES:
                raise ValueError(
                    f"filter on unknown attribute {name!r}; expected one of {sorted(FILTER_ATTRIBUTES)}"
                )
            if not rules or any(isinstance(r, dict) and set(r) != {"prefix"} for r in rules):
                raise ValueError(f"{name}: expected a non-empty list of strings or {{'prefix': ...}} objects")
        return value

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.match(value):
            raise ValueError(f"expected a 12-digit account id, got {value!r}")
        return value

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


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from environment variables; raise SettingsError naming each bad variable."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {
        field: env[name] for name, field in ENV_VARS.items() if name in env and env[name] != ""
    }
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        raw["region"] = region
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            name = _FIELD_TO_ENV.get(field, "AWS_REGION" if field == "region" else field)
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid auditor environment: " + "; ".join(problems)) from None
