"""Every setting of job-auditor, described once: its CDK context key (and, in snake_case, the construct's
keyword argument), its Lambda environment variable (and, lower-case, the field of the Lambda's
Settings), its form, bounds, default and help. Standard library only.

The CDK props (infra/config.py), the environment the construct sets (infra/auditor_function.py), the
Lambda's settings (auditor/settings.py), the CLI's `run --once` and the README's tables of context keys
and variables all read this table, so a value synth accepts never fails the run and a setting is added
in one place: a `Setting` in `_TABLE` below (or, for a plug-in or a test, `register_setting`). A kind's
scope setting (its knowledge base ids) is described by the kind (`contract.kinds`) and joins the table
through `settings()`.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

from job_auditor.contract.discovery import CLOUDTRAIL, DISCOVERY_MODES, LISTING, START_QUEUE_URL
from job_auditor.contract.forms import (
    Bounds,
    Form,
    Invalid,
    choice,
    filter_policy,
    flag,
    invalid,
    listing,
    matches,
    one_of,
    shown,
    split_csv,
    text,
    whole,
)
from job_auditor.contract.kinds import (
    JOB_KINDS,
    JobKindSpec,
    ScopeSetting,
    StatusCategory,
    default_kind_ids,
    every_status,
    kind_ids,
)

__all__ = [
    "BOUNDS",
    "ENVELOPE_VERSION",
    "RETIRED_SETTINGS",
    "Bounds",
    "Invalid",
    "RetiredSetting",
    "Setting",
    "invalid",
    "register_setting",
    "registered_setting",
    "retired_setting",
    "settings",
    "shown",
    "split_csv",
]

# The version of the events' `detail` envelope (schemas/transition-event.v<version>.json), which the
# auditor writes, the Slack forwarder reads and the stack registers in the Schema Registry.
ENVELOPE_VERSION = "1"
# Module-level patterns are strings, compiled when first used (re's cache, as the forms' patterns): most
# runs read few of them, and compiling them all cost about 1 ms of every cold start.
# Every partition's region names (botocore's endpoints.json regionRegex): us-east-1, us-gov-west-1,
# cn-north-1, us-isob-east-1, eu-isoe-west-1, eusc-de-east-1 (the European Sovereign Cloud, the one
# partition whose names start with four letters; a new partition's prefix is added here).
REGION_PATTERN = r"([a-z]{2}|eusc)(-[a-z]+){1,2}-\d+"
# Message attributes the auditor sets on every SNS publish (auditor.domain.notifications.attributes).
FILTER_ATTRIBUTES = frozenset(
    {"jobKind", "status", "statusCategory", "previousStatus", "transition", "region", "account", "jobName"}
)
# The SNS filter policy operator for alternatives.
OR_KEY = "$or"
# The transition type of a stuck alert (the filter policy lets it through on its own).
STUCK_TRANSITION = "stuck"
DEFAULT_STUCK_HOURS = 24
# A Lambda layer version ARN (its partition and region in groups of those names): powertoolsLayerVersion's
# third form.
POWERTOOLS_LAYER_ARN_PATTERN = (
    r"arn:(?P<partition>aws(?:-[a-z]+)*):lambda:(?P<region>[a-z]+(?:-[a-z]+)+-\d):\d{12}:layer:"
    r"[A-Za-z0-9_-]{1,140}:[1-9]\d{0,9}"
)
# The events' source, shared with the context key eventSource. EventBridge reserves sources starting
# with "aws." (any case) for AWS services.
EVENT_SOURCE_FORM = "an event source: 1 to 256 of A-Z a-z 0-9 . _ - /, not starting with aws."
EVENT_SOURCE_PATTERN = r"(?i)(?!aws\.)[A-Za-z0-9._\-/]{1,256}"
_HOURS = r"[1-9][0-9]{0,4}"
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
# A Metrics Insights alarm evaluates the latest three hours of data only.
METRICS_INSIGHTS_ALARM_MINUTES = 180


# -- accounts (organization mode) -----------------------------------------------------------------

# ACCOUNTS / context key accounts: empty (the deploying account only), a comma list of account ids, or
# this word (every ACTIVE account AWS Organizations lists, optionally under organizationalUnits).
ORGANIZATION = "organization"
ACCOUNT_ID_PATTERN = r"[0-9]{12}"
ACCOUNTS_FORM = f"a comma list of 12-digit account ids, or {ORGANIZATION!r}"
# Organizations' own patterns: a root (r-) or an organizational unit (ou-<root>-<suffix>).
ORGANIZATIONAL_UNIT_PATTERN = r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}"
ORGANIZATIONAL_UNITS_FORM = "a comma list of organizational unit or root ids (ou-... or r-...)"
# The role the auditor assumes in every other account (IAM's role name pattern, without a path).
DEFAULT_MEMBER_ROLE_NAME = "JobAuditorReader"
MEMBER_ROLE_NAME_PATTERN = r"[A-Za-z0-9_+=,.@-]{1,64}"
MEMBER_ROLE_NAME_FORM = "an IAM role name: 1 to 64 of A-Z a-z 0-9 _ + = , . @ -"
# STS AssumeRole's ExternalId.
MEMBER_EXTERNAL_ID_PATTERN = r"[A-Za-z0-9_+=,.@:/-]{2,1224}"
MEMBER_EXTERNAL_ID_FORM = "an external id: 2 to 1224 of A-Z a-z 0-9 _ + = , . @ : / -"


def parse_accounts(value: str) -> tuple[str, ...] | str:
    """ACCOUNTS: () for the deploying account only, the ids in order (each once), or ORGANIZATION.
    Raises Invalid quoting the bad items."""
    words = tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
    if len(words) == 1 and words[0].lower() == ORGANIZATION:
        return ORGANIZATION
    bad = [w for w in words if not re.fullmatch(ACCOUNT_ID_PATTERN, w)]
    if bad:
        raise Invalid(ACCOUNTS_FORM, ", ".join(shown(b) for b in bad))
    return words


def _accounts_in_context(value: str) -> tuple[str, ...] | str:
    words = [p.strip().lower() for p in value.split(",") if p.strip()]
    if ORGANIZATION in words and len(set(words)) > 1:
        raise ValueError(f"{ORGANIZATION!r} stands alone, not in a list of account ids")
    return parse_accounts(value)


def _write_accounts(accounts: tuple[str, ...] | str) -> str:
    return accounts if isinstance(accounts, str) else ",".join(accounts)


# -- job kinds ------------------------------------------------------------------------------------


def kinds_form() -> str:
    """The form of a list of job kinds (JOB_KINDS, jobKinds), naming every registered kind."""
    return f"a comma list of {', '.join(kind_ids())}"


def kinds_example() -> str:
    return ",".join(default_kind_ids()[:2])


def stuck_hours_example() -> str:
    ids = kind_ids()
    return f"{ids[0]}=48,{ids[-1]}=6" if ids else "kind=48"


def stuck_hours_form() -> str:
    """The stuck-threshold grammar, shared with the context key stuckAfterHours."""
    return (
        "whole hours from 1 to 99999 for every job kind (e.g. 24), or kind=hours pairs, "
        f"e.g. {stuck_hours_example()} (unlisted kinds {DEFAULT_STUCK_HOURS})"
    )


def parse_stuck_hours(value: str) -> dict[str, int]:
    """Stuck thresholds by job kind from "24" (every kind) or "kind=hours,kind=hours" (others keep
    the default). Hours are 1 to 99999 without leading zeros; raises ValueError quoting the bad part."""
    value = value.strip()
    if re.fullmatch(_HOURS, value):
        return dict.fromkeys(kind_ids(), int(value))
    hours_by_kind: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        kind, _, hours = (s.strip() for s in part.partition("="))
        if kind not in JOB_KINDS or not re.fullmatch(_HOURS, hours):
            raise invalid(stuck_hours_form(), part)
        # The same pair twice is harmless; the same kind with two thresholds is ambiguous.
        if hours_by_kind.setdefault(kind, int(hours)) != int(hours):
            raise invalid(f"{stuck_hours_form()}, each kind once", part)
    return hours_by_kind


def write_stuck_hours(hours_by_kind: Mapping[str, int]) -> str:
    """The thresholds as STUCK_AFTER_HOURS: one number when every kind has the same."""
    if set(hours_by_kind) == set(kind_ids()) and len(set(hours_by_kind.values())) == 1:
        return str(next(iter(hours_by_kind.values())))
    return ",".join(f"{kind}={hours}" for kind, hours in hours_by_kind.items())


# -- scopes (knowledge bases, data sources) -------------------------------------------------------

SCOPE_DISCOVER_WORDS = ("", "discover")


def scope_form(spec: JobKindSpec) -> str:
    """The form of a kind's scope setting: ids of its first level, optionally narrowed further."""
    first, *rest = spec.discovery
    if not rest:
        return f"a comma list of {first.noun} ids ({first.id_form}), or 'discover'"
    path = "/".join(f"{step.noun.replace(' ', '-')}-id" for step in spec.discovery)
    return (
        f"a comma list of {first.noun} ids ({first.id_form}; its {rest[0].noun}s are discovered) or "
        f"{path} items, or 'discover'"
    )


def parse_scope_items(spec: JobKindSpec, value: str) -> tuple[tuple[str, ...], ...]:
    """A kind's configured scope: each item's ids, in order, each item once; () means discover.
    Raises Invalid quoting every bad item."""
    if value.strip().lower() in SCOPE_DISCOVER_WORDS:
        return ()
    items: list[tuple[str, ...]] = []
    bad: list[str] = []
    for raw in dict.fromkeys(p.strip() for p in value.split(",") if p.strip()):
        ids = tuple(raw.split("/"))
        ok = len(ids) <= len(spec.discovery) and all(
            re.fullmatch(step.id_pattern, part) for step, part in zip(spec.discovery, ids, strict=False)
        )
        if ok:
            items.append(ids)
        else:
            bad.append(raw)
    if bad:
        raise Invalid(scope_form(spec), ", ".join(shown(b) for b in bad))
    return tuple(items)


def write_scope_items(items: tuple[tuple[str, ...], ...]) -> str:
    return ",".join("/".join(ids) for ids in items) or "discover"


def scope_settings() -> tuple[tuple[JobKindSpec, ScopeSetting], ...]:
    """The kinds that can be narrowed to configured scopes, with their context key and variable."""
    return tuple((spec, spec.scope_setting) for spec in JOB_KINDS.values() if spec.scope_setting)


# -- the setting ----------------------------------------------------------------------------------

_CAMEL_HUMP = r"(?<=[a-z0-9])(?=[A-Z])"


def snake_case(context_key: str) -> str:
    """scheduleRateMinutes -> schedule_rate_minutes: a context key's keyword argument."""
    return re.sub(_CAMEL_HUMP, "_", context_key).lower()


# NamedTuples rather than dataclasses, like the Lambda's other read-only records: a dataclass
# compiles its generated methods as its module is imported, at every cold start (docs/architecture.md).
class Setting(NamedTuple):
    """One setting, described once.

    `context_key`: the CDK context key (None: the construct sets the variable from what it builds, e.g.
    the state table's name); its snake_case spelling is the construct's keyword argument and the
    attribute of JobAuditorProps. `env_var`: the Lambda's variable (None: CDK only); lower-case, the
    field of the Lambda's Settings. `default`: as text, the way `-c key=...` or the variable would give
    it ("" for none), or a function of the other settings' values (by name) for a default that depends
    on them. `unit`: what a cdk.Duration given for it is converted to, and the word in its form.
    `large`: the value may outgrow Lambda's 4 KB environment, and then travels in an SSM parameter.
    `env_when`: the construct sets the variable only when this holds of the values (by name), so a
    single-account function's environment stays what it was.
    """

    form: Form
    context_key: str | None = None
    env_var: str | None = None
    default: str | Callable[[Mapping[str, Any]], str] = ""
    help: str = ""
    example: str | Callable[[], str] = ""
    unit: str = ""
    # A word on a special value, in the context key's form: "(0: every run)".
    note: str = ""
    # The context key's form in words, where it is not the Lambda's form with the unit and an example.
    describe: str | Callable[[], str] | None = None
    # The README's default column, where the default's text says too little.
    default_doc: str | Callable[[], str] = ""
    # The Lambda fails without it (the construct always sets it).
    required: bool = False
    large: bool = False
    # Set on the fan-out's functions only (auditMode=stepfunctions).
    fanout_only: bool = False
    # Read by Powertools itself, not by the Lambda's Settings.
    in_settings: bool = True
    env_when: Callable[[Mapping[str, Any]], bool] | None = None
    # The job kind whose scope this is (Settings.configured_scopes holds it by kind).
    kind: str | None = None

    @property
    def name(self) -> str:
        """The keyword argument and JobAuditorProps attribute; for a Lambda-only setting, its field."""
        if self.context_key:
            return snake_case(self.context_key)
        assert self.env_var, "a setting has a context key, a variable or both"
        return self.env_var.lower()

    @property
    def field(self) -> str | None:
        """The Lambda's Settings field (None: the Lambda does not read it itself)."""
        return self.env_var.lower() if self.env_var and self.in_settings else None

    @property
    def context_form(self) -> str:
        """The context key's form in words, quoted in synth's errors and the README."""
        if self.describe is not None:
            return self.describe() if callable(self.describe) else self.describe
        words = self.form.bounds.form(self.unit) if self.form.bounds else self.form.text
        note = f" ({self.note})" if self.note else ""
        example = f", e.g. {self.example_text}" if self.example_text else ""
        return f"{words}{note}{example}"

    @property
    def example_text(self) -> str:
        return self.example() if callable(self.example) else self.example

    def default_text(self, values: Mapping[str, Any]) -> str:
        return self.default(values) if callable(self.default) else self.default

    def default_value(self, values: Mapping[str, Any]) -> Any:
        """The value when none is given; `values`: the other settings' values, by name."""
        return self.form.parse(self.default_text(values))


def _numbers(
    context_key: str | None,
    env_var: str | None,
    low: int,
    high: int,
    default: int,
    help: str,
    *,
    unit: str = "",
    **more: Any,
) -> Setting:
    """A whole-number setting between `low` and `high`."""
    more.setdefault("example", str(default))
    return Setting(whole(Bounds(low, high)), context_key, env_var, str(default), help, unit=unit, **more)


_EMAIL = matches(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")
_NAME_PREFIX = matches(r"[A-Za-z0-9._+-]{1,63}")
_TOPIC_ARN = text(
    "an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)",
    r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}",
    max_len=2048,
)
_ACCOUNTS = Form(ACCOUNTS_FORM, parse_accounts, _write_accounts, empty=(), strict=_accounts_in_context)
_STUCK_HOURS = Form(stuck_hours_form, parse_stuck_hours, write_stuck_hours, empty={})
_NOTIFY_FILTER = filter_policy(FILTER_ATTRIBUTES, OR_KEY)


def _slack_webhook_secret_name(value: str) -> str:
    # Context ends up in cdk.context.json, the cloud assembly and shell history: never a secret. The
    # message does not repeat the value.
    if re.match(r"^\s*(https?:|[^/]*hooks\.slack\.com)", value, re.IGNORECASE):
        raise ValueError(
            "this looks like the webhook URL itself; secrets never go in CDK context: store the URL in "
            "Secrets Manager and give the secret's name"
        )
    return str(_SECRET_NAME.read(value))


_SECRET_NAME = text(
    "a Secrets Manager secret name: 1 to 512 of A-Z a-z 0-9 / _ + = . @ -", r"[A-Za-z0-9/_+=.@-]+", 1, 512
)


# -- Microsoft Teams and paging (CDK only) ----------------------------------------------------------

_GUID = r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
# CloudFormation takes a Teams channel id URL-encoded (19%3A...%40thread.tacv2).
_TEAMS_CHANNEL = text(
    "a Microsoft Teams channel id: 19:...@thread.tacv2, or URL-encoded (19%3A...%40thread.tacv2)",
    r"[A-Za-z0-9_=+/.,-]*%3[aA][A-Za-z0-9_=+/.,-]*%40[A-Za-z0-9_=+/.,-]*",
    max_len=256,
)


def _teams_channel_id(value: str) -> str:
    # Teams shows 19:...@thread.tacv2; CloudFormation takes it URL-encoded.
    return str(_TEAMS_CHANNEL.read(value.strip().replace(":", "%3A").replace("@", "%40")))


_ALERT_SECRET = text(
    "a Secrets Manager secret name or ARN",
    r"(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}",
    max_len=2048,
)


def _alert_secret(value: str) -> str:
    # A PagerDuty routing key is 32 hexadecimal digits, an Opsgenie API key a GUID: never in context.
    # The message does not repeat the value.
    if re.match(r"^\s*([0-9a-fA-F]{32}|[0-9a-fA-F-]{36}|GenieKey|Bearer)", value):
        raise ValueError(
            "this looks like the key itself; secrets never go in CDK context: store it in Secrets Manager "
            "and give the secret's name"
        )
    return str(_ALERT_SECRET.read(value))


def _every_status_form() -> str:
    return f"a comma list of job statuses from {', '.join(every_status())}"


def _multi_account(values: Mapping[str, Any]) -> bool:
    return bool(values["accounts"])


def _in_organization_mode(values: Mapping[str, Any]) -> bool:
    return values["accounts"] == ORGANIZATION and bool(values["organizational_units"])


def _default_audit_mode(values: Mapping[str, Any]) -> str:
    """direct for the home account alone; stepfunctions once `accounts` names others (one invocation
    does not reach an organization's sources inside its timeout)."""
    return "stepfunctions" if values.get("accounts") else "direct"


# SETTINGS_PARAMETERS: the variables the construct moved to SSM parameters, as VARIABLE=name pairs
# (SSM parameter names hold neither "," nor "=").
PARAMETERS_FORM = "a comma list of VARIABLE=ssm-parameter-name pairs"
_PARAMETER_PAIR = r"([A-Z][A-Z0-9_]*)=([A-Za-z0-9_.\-/]{1,2048})"


def parse_parameters(value: str) -> dict[str, str]:
    """SETTINGS_PARAMETERS: variable -> the name of the SSM parameter holding its value."""
    pairs: dict[str, str] = {}
    bad: list[str] = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        if match := re.fullmatch(_PARAMETER_PAIR, part):
            pairs[match[1]] = match[2]
        else:
            bad.append(part)
    if bad:
        raise Invalid(PARAMETERS_FORM, ", ".join(shown(b) for b in bad))
    return pairs


def write_parameters(pairs: Mapping[str, str]) -> str:
    return ",".join(f"{variable}={name}" for variable, name in pairs.items())


# The Lambda's own variables, which the construct sets from what it builds (the state table's name,
# the topics' ARNs, ...). Named here so the construct refers to them; the table lists them too.
STATE_TABLE = Setting(
    text("a DynamoDB table name: 3 to 255 of A-Z a-z 0-9 _ . -", r"[A-Za-z0-9_.-]+", 3, 255),
    env_var="STATE_TABLE_NAME",
    help="DynamoDB state table",
    required=True,
)
EVENT_BUS = Setting(
    text("an EventBridge bus name or ARN", max_len=1600),
    env_var="EVENT_BUS_NAME",
    help="bus the events go to",
    required=True,
)
NOTIFICATION_TOPIC = Setting(
    _TOPIC_ARN, env_var="NOTIFICATION_TOPIC_ARN", help="SNS topic for people", required=True
)
ACCOUNT = Setting(
    text("a 12-digit account id", ACCOUNT_ID_PATTERN),
    env_var="ACCOUNT_ID",
    help="account named in events",
    default_doc="from the function's ARN",
)
CHAT_TOPIC = Setting(
    _TOPIC_ARN,
    env_var="CHAT_TOPIC_ARN",
    help="topic of custom notifications for Amazon Q Developer in chat applications",
    default_doc="none",
)
NOTIFY_FILTER = Setting(
    _NOTIFY_FILTER,
    env_var="NOTIFY_FILTER",
    help="JSON SNS filter policy over the message attributes, applied to the chat topic (`null` or "
    "`{}`: none); the construct builds it from the `notify*` keys",
    default_doc="none",
    large=True,
)
# A claim's lease must outlive a run (a Lambda runs at most 15 minutes); a crashed run's claims
# are re-published only once it expires, so an hour is the longest a transition may wait.
CLAIM_LEASE = _numbers(
    None,
    "CLAIM_LEASE_SECONDS",
    60,
    60 * 60,
    900,
    "after this, an unconfirmed claim is re-published by a later run; the construct sets the "
    "function timeout plus five minutes",
)
ITEMS_BUCKET = Setting(
    text("an S3 bucket name: 3 to 63 of a-z 0-9 . -", r"[a-z0-9][a-z0-9.-]*[a-z0-9]", 3, 63),
    env_var="ITEMS_BUCKET",
    help="stepfunctions mode only: the run bucket (item lists over 64 KB, the map's results)",
    default_doc="none",
    fanout_only=True,
)
START_QUEUE = Setting(
    text("an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)", r"https?://\S+", 10, 2048),
    env_var=START_QUEUE_URL,
    help="`discovery=cloudtrail`: the SQS queue of announced job starts; unset, every source lists its "
    "window",
    default_doc="none",
)
SETTINGS_PARAMETERS = Setting(
    Form(PARAMETERS_FORM, parse_parameters, write_parameters, empty={}),
    env_var="SETTINGS_PARAMETERS",
    help="the variables that did not fit in Lambda's 4 KB environment, each held in an SSM parameter "
    "and read once per cold start (the construct moves the largest `large` ones there, only when "
    "needed)",
    default_doc="none",
    in_settings=False,
)


# Read by Powertools itself in every function (its log level, metrics namespace and service).
LOG_LEVEL = Setting(
    choice("DEBUG", "INFO", "WARNING", "ERROR", upper=True),
    "logLevel",
    "POWERTOOLS_LOG_LEVEL",
    "INFO",
    "the functions' log level",
    describe="one of DEBUG, INFO, WARNING, ERROR",
    example="DEBUG",
    in_settings=False,
)
METRICS_NAMESPACE = Setting(
    # CloudWatch keeps the namespaces beginning with AWS/ for AWS's own metrics (PutMetricData refuses
    # them): metrics there would never be published and the heartbeat alarm would fire for ever.
    text(
        "a CloudWatch namespace: 1 to 255 of A-Z a-z 0-9 . - _ / #, not beginning with AWS/ (AWS's own)",
        r"(?!AWS/)[A-Za-z0-9.\-_/#]+",
        1,
        255,
    ),
    "metricsNamespace",
    "POWERTOOLS_METRICS_NAMESPACE",
    "JobAuditor",
    "CloudWatch namespace of the auditor's metrics (its alarms and dashboard read the same)",
    example="Platform/JobAuditor",
    in_settings=False,
)
SERVICE_NAME = Setting(
    text("a service name: 1 to 255 of A-Z a-z 0-9 . - _", r"[A-Za-z0-9._-]+", 1, 255),
    "serviceName",
    "POWERTOOLS_SERVICE_NAME",
    help="the `service` of the functions' logs and the `service` dimension of their metrics, one per "
    "copy in an account and region (each copy's alarms and dashboard read its own)",
    example="job-auditor-test",
    default_doc="the construct's name in kebab case: `job-auditor` for `app.py`'s stack `JobAuditor`, "
    "`platform-job-auditor` for a construct `JobAuditor` in a stack `Platform`",
    in_settings=False,
)


# The table, in the README's order (a kind's scope setting follows `regions`); Lambda-only variables,
# which the construct sets from what it builds, at the end. A new setting is one entry here; then
# regenerate the README's tables: `python -m job_auditor.infra.reference README.md`.
_TABLE: tuple[Setting, ...] = (
    STATE_TABLE,
    EVENT_BUS,
    NOTIFICATION_TOPIC,
    Setting(
        text(
            "a CloudFormation stack name: a letter, then letters, digits or hyphens",
            r"[A-Za-z][A-Za-z0-9-]{0,127}",
            max_len=128,
        ),
        "stackName",
        default="JobAuditor",
        help="CloudFormation stack name of `app.py`'s stack (deploy several copies side by side)",
        example="JobAuditorTest",
    ),
    Setting(
        listing(JOB_KINDS.__contains__, kinds_form, non_empty=True),
        "jobKinds",
        "JOB_KINDS",
        lambda _: ",".join(default_kind_ids()),
        "job kinds to poll (see [Job kinds](#job-kinds)); the others are opt-in (Bedrock emits "
        "best-effort events of its own for them); IAM follows. A default kind that none of the audited "
        "regions offers is left out (see [Regions where a kind is not offered]"
        "(#regions-where-a-kind-is-not-offered)); a kind named here that none of them offers fails synth",
        describe=lambda: f"{kinds_form()}, e.g. {kinds_example()}",
        example=kinds_example,
        default_doc=lambda: (
            "the kinds enabled by default: " + ", ".join(f"`{k}`" for k in default_kind_ids())
        ),
    ),
    Setting(
        listing(matches(REGION_PATTERN), "a comma list of AWS region names such as us-east-1"),
        "regions",
        "REGIONS",
        help="regions whose jobs are polled (IAM is limited to them, and each kind to those that offer it)",
        describe="a comma list of AWS region names, e.g. us-east-1,eu-west-1 (empty: the stack's region)",
        example="us-east-1,us-west-2",
        default_doc="the stack's region",
    ),
    _numbers(
        "scheduleRateMinutes", None, 1, 1440, 5, "how often the auditor runs", unit="minutes", example="10"
    ),
    Setting(
        listing(_EMAIL, "a comma list of email addresses"),
        "notificationEmails",
        help="email subscribers of the transition topic",
        example="a@example.com,b@example.com",
        default_doc="none",
    ),
    Setting(
        listing(
            lambda status: status in every_status(),
            lambda: f"a comma list of job statuses from {', '.join(every_status())}",
        ),
        "notifyStatuses",
        help="statuses that notify people (an SNS filter policy on the `status` attribute; stuck alerts "
        "pass it too, see `notifyStuckAlerts`); any status a kind reports (see [Job kinds](#job-kinds))",
        example="Completed,Failed",
        default_doc="all statuses",
    ),
    Setting(
        listing(
            StatusCategory.__members__.__contains__,
            f"a comma list of status categories from {', '.join(StatusCategory)}",
        ),
        "notifyStatusCategories",
        help="status categories that notify people, whatever each kind calls the status (filter on the "
        "`statusCategory` attribute); with `notifyStatuses` too, either one lets a transition through",
        describe=f"a comma list of status categories from {', '.join(StatusCategory)}, e.g. "
        "FAILED,PARTIAL,EXPIRED (any kind's statuses of those categories notify people)",
        example="FAILED,PARTIAL,EXPIRED",
        default_doc="all categories",
    ),
    Setting(
        listing(JOB_KINDS.__contains__, kinds_form),
        "notifyJobKinds",
        help="job kinds that notify people (filter on the `jobKind` attribute)",
        describe=lambda: f"{kinds_form()} (those that notify people)",
        example=lambda: default_kind_ids()[0],
        default_doc="all kinds",
    ),
    Setting(
        listing(_NAME_PREFIX, "a comma list of job name prefixes (letters, digits, . _ + -)"),
        "notifyNamePrefixes",
        help="only jobs whose name starts with one of these notify people (prefix filter on `jobName`)",
        example="prod-,release-",
        default_doc="any name",
    ),
    Setting(
        flag(),
        "notifyStuckAlerts",
        default="true",
        help="stuck alerts reach people whatever `notifyStatuses` says (their `status` is the job's "
        "in-progress one); `false`: they follow the status filter like any transition. `notifyJobKinds` "
        "and `notifyNamePrefixes` apply to them either way",
        describe="true or false (false: stuck alerts follow notifyStatuses like any transition)",
        example="false",
    ),
    Setting(
        listing(_EMAIL, "a comma list of email addresses"),
        "opsEmails",
        help="email subscribers of the ops (alarm) topic",
        example="oncall@example.com",
        default_doc="none",
    ),
    Setting(
        text("a Slack workspace (team) id such as T0123ABCD", r"[0-9A-Z]{1,255}"),
        "slackWorkspaceId",
        help="Slack workspace (team) id; with `slackChannelId` adds an Amazon Q Developer Slack channel",
        describe="a Slack workspace (team) id such as T0123ABCD, given together with slackChannelId",
        example="T0123ABCD",
        default_doc="none",
    ),
    Setting(
        text("a Slack channel id such as C0123ABCD", r"[A-Za-z0-9]{1,256}"),
        "slackChannelId",
        help="Slack channel id (given together with `slackWorkspaceId`)",
        describe="a Slack channel id such as C0123ABCD, given together with slackWorkspaceId",
        example="C0123ABCD",
        default_doc="none",
    ),
    Setting(
        Form(_SECRET_NAME.text, _slack_webhook_secret_name),
        "slackWebhookSecretName",
        help="name of a Secrets Manager secret holding a Slack incoming-webhook URL; adds the webhook "
        "forwarder (see [slack.md](docs/slack.md)). Never the URL itself",
        describe="the name of a Secrets Manager secret holding a Slack incoming-webhook URL "
        "(1 to 512 of A-Z a-z 0-9 / _ + = . @ -), e.g. job-auditor/slack-webhook",
        example="job-auditor/slack-webhook",
        default_doc="none",
    ),
    Setting(
        text("a Microsoft Teams team id (a GUID)", _GUID),
        "teamsTeamId",
        help="Microsoft Teams team id (a GUID); with `teamsChannelId` and `teamsTenantId` adds an Amazon Q "
        "Developer Teams channel (see [Connect Microsoft Teams](#connect-microsoft-teams))",
        describe="a Microsoft Teams team id (a GUID), given with teamsChannelId and teamsTenantId",
        example="00000000-1111-2222-3333-444444444444",
        default_doc="none",
    ),
    Setting(
        Form(_TEAMS_CHANNEL.text, _teams_channel_id),
        "teamsChannelId",
        help="Teams channel id as Teams shows it (`19:...@thread.tacv2`) or URL-encoded "
        "(`19%3A...%40thread.tacv2`); encoded for CloudFormation",
        describe="a Microsoft Teams channel id as Teams shows it, 19:...@thread.tacv2, or URL-encoded "
        "(19%3A...%40thread.tacv2), given with teamsTeamId and teamsTenantId",
        example="19:abc@thread.tacv2",
        default_doc="none",
    ),
    Setting(
        text("a Microsoft Entra tenant id (a GUID)", _GUID),
        "teamsTenantId",
        help="Microsoft Entra tenant id of the Teams team",
        describe="a Microsoft Entra tenant id (a GUID), given with teamsTeamId and teamsChannelId",
        example="55555555-6666-7777-8888-999999999999",
        default_doc="none",
    ),
    Setting(
        choice("pagerduty", "opsgenie", "https"),
        "alertDestination",
        help="`pagerduty`, `opsgenie` or `https`: page that endpoint through an EventBridge API destination, "
        "no Lambda (see [Page PagerDuty, Opsgenie or any HTTPS endpoint]"
        "(#page-pagerduty-opsgenie-or-any-https-endpoint)); needs `alertSecret`",
        describe="pagerduty, opsgenie or https (an EventBridge API destination pages that endpoint)",
        example="pagerduty",
        default_doc="none",
    ),
    Setting(
        Form(_ALERT_SECRET.text, _alert_secret),
        "alertSecret",
        help="name or ARN of the Secrets Manager secret holding the PagerDuty routing key, the Opsgenie "
        "API key (without `GenieKey `) or the `https` endpoint's header value. Never the key itself (a "
        "value that looks like one is refused)",
        describe="the name or ARN of a Secrets Manager secret holding the PagerDuty routing key, the "
        "Opsgenie API key or the https endpoint's header value, e.g. job-auditor/pagerduty",
        example="job-auditor/pagerduty",
        default_doc="none",
    ),
    Setting(
        text(
            "an https:// URL",
            # A host of DNS labels (a dot at least: a public name), a port from 1 to 65535.
            r"https://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}"
            r"(:(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
            r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?",
            max_len=2048,
        ),
        "alertUrl",
        help="the endpoint to POST to: required with `https`; for PagerDuty's or Opsgenie's EU service "
        "region (`https://api.eu.opsgenie.com/v2/alerts`)",
        describe="an https:// URL, e.g. https://events.eu.pagerduty.com/v2/enqueue (required with "
        "alertDestination=https)",
        example="https://events.eu.pagerduty.com/v2/enqueue",
        default_doc="the preset's public endpoint",
    ),
    Setting(
        text("an HTTP header name", r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,512}", max_len=512),
        "alertHeaderName",
        default="Authorization",
        help="`https` only: the header that carries the secret's value",
        describe="an HTTP header name, e.g. Authorization (the header alertDestination=https sends)",
        example="X-Api-Key",
    ),
    Setting(
        listing(lambda status: status in every_status(), _every_status_form),
        "alertStatuses",
        help="statuses that page too, whatever their category (any status a kind reports)",
        describe=lambda: f"{_every_status_form()}, e.g. Failed,FAILED",
        example="Failed,FAILED",
        default_doc="none",
    ),
    Setting(
        listing(
            StatusCategory.__members__.__contains__,
            f"a comma list of status categories from {', '.join(StatusCategory)}, or none",
            empty_words=("none",),
        ),
        "alertStatusCategories",
        default="FAILED,EXPIRED,PARTIAL",
        help="status categories that page (a rule pattern on `detail.statusCategory`); `none`: none",
        describe=f"a comma list of status categories from {', '.join(StatusCategory)}, e.g. "
        "FAILED,EXPIRED,PARTIAL (the transitions that page), or none",
        example="FAILED",
    ),
    Setting(
        flag(),
        "alertStuckAlerts",
        default="true",
        help="whether stuck alerts page (severity warning)",
        describe="true or false (true: every stuck alert pages)",
        example="false",
    ),
    Setting(
        _STUCK_HOURS,
        "stuckAfterHours",
        "STUCK_AFTER_HOURS",
        str(DEFAULT_STUCK_HOURS),
        "a job still in the same in-progress status after this many hours gets one `stuck` event and "
        "notification (one number for every kind, or kind=hours pairs)",
        describe=stuck_hours_form,
        example=stuck_hours_example,
        unit="hours",
    ),
    _numbers(
        "stuckRepeatHours",
        "STUCK_REPEAT_HOURS",
        0,
        365 * 24,
        0,
        "repeat the stuck alert every N hours while the job stays stuck",
        unit="hours",
        note="0: alert once",
        example="12",
    ),
    # First run's look-back: a month is already a large silent baseline.
    _numbers(
        "initialLookbackMinutes",
        "INITIAL_LOOKBACK_MINUTES",
        1,
        30 * 24 * 60,
        24 * 60,
        "how far back the first run looks for jobs",
        unit="minutes",
        example="4320",
    ),
    # Clock-skew allowance: a day is far beyond any real skew (and widens every list by that much).
    _numbers(
        "overlapSeconds",
        "OVERLAP_SECONDS",
        0,
        24 * 60 * 60,
        300,
        "how far each run re-reads before the last checkpoint (clock skew)",
        unit="seconds",
        example="600",
    ),
    # In-flight jobs older than this are re-checked with Get instead of listed: up to a year.
    _numbers(
        "recheckHorizonHours",
        "RECHECK_HORIZON_HOURS",
        1,
        365 * 24,
        72,
        "in-progress jobs older than this are re-checked individually instead of listed",
        unit="hours",
        example="168",
    ),
    Setting(
        flag(),
        "announceBaseline",
        "ANNOUNCE_BASELINE",
        "false",
        "whether the jobs found by the first run are announced",
        describe="true or false",
        example="true",
    ),
    # Transition history: ten years, far from the year-9999 limit of the expiry arithmetic
    # (3,000,000 days passed validation and then failed every run after publishing).
    _numbers(
        "historyRetentionDays",
        "HISTORY_TTL_DAYS",
        1,
        3_650,
        90,
        "TTL of transition history items in the state table",
        unit="days",
        example="30",
    ),
    _numbers(
        "archiveRetentionDays",
        None,
        0,
        36_500,
        90,
        "retention of the event archive",
        unit="days",
        note="0: keep forever",
        example="0",
    ),
    Setting(
        choice("retain", "destroy"),
        "removalPolicy",
        default="retain",
        help="`retain` keeps the table, key, log group and queue on stack deletion; `destroy` is for "
        "test stacks",
        describe="retain or destroy",
        example="destroy",
    ),
    _numbers("functionMemoryMb", None, 128, 10_240, 256, "Lambda memory", unit="MB", example="512"),
    _numbers(
        "functionTimeoutSeconds",
        None,
        10,
        900,
        120,
        "Lambda timeout; the claim lease is set to timeout + 5 minutes",
        unit="seconds",
        example="300",
    ),
    Setting(
        one_of(LOG_RETENTION_DAYS, f"one of {', '.join(map(str, LOG_RETENTION_DAYS))}"),
        "logRetentionDays",
        default="30",
        help="CloudWatch Logs retention (a value CloudWatch offers)",
        unit="days",
        example="90",
    ),
    LOG_LEVEL,
    METRICS_NAMESPACE,
    SERVICE_NAME,
    _numbers(
        "heartbeatPeriods",
        None,
        1,
        1440,
        3,
        "the heartbeat alarm fires after this many schedule periods without a successful run (at most "
        "one day in all)",
        describe="a whole number of schedule periods from 1 to 1440, at most one day in all, e.g. 3",
        example="6",
    ),
    Setting(
        text(
            "latest, a Powertools for AWS Lambda (Python) v3 release such as 3.37.0, or a layer version ARN "
            "(arn:aws:lambda:<region>:<account>:layer:<name>:<version>)",
            rf"latest|3\.\d+\.\d+|{POWERTOOLS_LAYER_ARN_PATTERN}",
        ),
        "powertoolsLayerVersion",
        # The Powertools release pinned in requirements.txt (tests/infra/test_powertools_pin.py).
        default="3.37.0",
        help="version of the AWS-managed Powertools layer, or the ARN of a Powertools v3 layer for "
        "python3.14 on arm64 in the stack's region where AWS publishes none (see below)",
        example="latest",
        default_doc="`3.37.0`, the release `requirements.txt` pins",
    ),
    Setting(
        text(EVENT_SOURCE_FORM, EVENT_SOURCE_PATTERN),
        "eventSource",
        "EVENT_SOURCE",
        "job-auditor",
        "`source` of the events on the bus (must not start with `aws.`)",
        example="acme.job-auditor",
    ),
    # The reconciliation sweep: every run (0) to weekly, so no lost transition waits longer than that.
    _numbers(
        "reconcileEveryMinutes",
        "RECONCILE_EVERY_MINUTES",
        0,
        7 * 24 * 60,
        60,
        "how often the reconciliation sweep re-lists recent jobs to find transitions the windowed lists "
        "missed",
        unit="minutes",
        note="0: every run",
        example="0",
    ),
    # How far back the sweep re-lists: up to a year, like the re-check horizon.
    _numbers(
        "reconcileLookbackHours",
        "RECONCILE_LOOKBACK_HOURS",
        1,
        365 * 24,
        24,
        "how far back the reconciliation sweep looks, and how long it asks for a job its API lost",
        unit="hours",
        example="72",
    ),
    # How long a channel refusing a transition for a passing reason is retried before it parks it
    # (re-driven automatically once it takes messages again): an hour to a month.
    _numbers(
        "publishRetryHours",
        "PUBLISH_RETRY_HOURS",
        1,
        720,
        24,
        "how long a channel (the bus, the topic, the chat topic) that refuses a transition for a passing "
        "reason (throttling, 5xx, access or key errors, a missing bus or topic) is retried, with back-off, "
        "before it parks it; a parked transition is re-driven automatically once the channel takes "
        "messages again. Replaces `maxPublishAttempts`, which synth now refuses",
        unit="hours",
        example="72",
    ),
    # More transitions for people than this in one run: one digest on their channels (0: never).
    _numbers(
        "digestThreshold",
        "DIGEST_THRESHOLD",
        0,
        1_000,
        20,
        "when one run has more transitions than this for people, the topic and the chat topic get one "
        "digest message instead (the bus still gets every event; see [Digests](#digests))",
        note="0: never a digest",
        example="50",
    ),
    # Consecutive not-found re-checks before a job is announced as disappeared: more than 100 only
    # hides a fault that is not passing.
    _numbers(
        "vanishedAfterChecks",
        "VANISHED_AFTER_CHECKS",
        1,
        100,
        3,
        "consecutive not-found re-checks before a job is announced as disappeared",
        example="5",
    ),
    Setting(
        _ACCOUNTS,
        "accounts",
        "ACCOUNTS",
        help="the accounts to audit besides the one the stack is in (see [Organization mode]"
        "(#organization-mode)): 12-digit ids, or `organization` for every active account AWS "
        "Organizations lists (suspended ones skipped). Every account but the home one is read by "
        "assuming `memberRoleName`",
        describe="a comma list of 12-digit AWS account ids, e.g. 111111111111,222222222222, or "
        f"{ORGANIZATION!r} (every active account of the organization, from AWS Organizations)",
        example="111111111111,222222222222",
        default_doc="the home account only",
        large=True,
        env_when=_multi_account,
    ),
    Setting(
        listing(matches(ORGANIZATIONAL_UNIT_PATTERN), ORGANIZATIONAL_UNITS_FORM),
        "organizationalUnits",
        "ORGANIZATIONAL_UNITS",
        help="OU or root ids: with `accounts=organization` only their accounts (and those of their child "
        "OUs) are audited; with `memberDeployment=stackset` the StackSet deploys the member role to "
        "them. Only valid with one of the two",
        describe="a comma list of organizational unit or root ids, e.g. ou-ab12-cdef3456,r-ab12",
        example="ou-ab12-cdef3456,r-ab12",
        default_doc="the whole organization",
        large=True,
        env_when=_in_organization_mode,
    ),
    Setting(
        text(MEMBER_ROLE_NAME_FORM, MEMBER_ROLE_NAME_PATTERN, max_len=64),
        "memberRoleName",
        "MEMBER_ROLE_NAME",
        DEFAULT_MEMBER_ROLE_NAME,
        "name of the read-only role the auditor assumes in each member account (the member stack "
        "creates it under this name)",
        example="AuditReader",
        env_when=_multi_account,
    ),
    Setting(
        text(MEMBER_EXTERNAL_ID_FORM, MEMBER_EXTERNAL_ID_PATTERN, 2, 1224),
        "memberExternalId",
        "MEMBER_EXTERNAL_ID",
        help="an `sts:ExternalId` the member roles require and the auditor sends; for a hub run by a third "
        "party (not a secret: it ends up in the templates)",
        example="acme-job-auditor",
        default_doc="none",
        env_when=lambda values: _multi_account(values) and values["member_external_id"] is not None,
    ),
    Setting(
        choice("none", "stackset"),
        "memberDeployment",
        default="none",
        help="`stackset`: the hub stack also deploys the member role to `organizationalUnits` as a "
        "service-managed StackSet with auto-deployment (needs `accounts`, `organizationalUnits`, "
        "`organizationId`)",
        describe="none or stackset (the member role as a service-managed StackSet to organizationalUnits)",
        example="stackset",
    ),
    Setting(
        choice("SELF", "DELEGATED_ADMIN", upper=True),
        "stackSetCallAs",
        help="`SELF` when the hub is the management account, `DELEGATED_ADMIN` when it is a "
        "CloudFormation StackSets delegated administrator; only with `memberDeployment=stackset`",
        describe="SELF (the hub is the management account) or DELEGATED_ADMIN (a CloudFormation "
        "delegated administrator)",
        example="DELEGATED_ADMIN",
        default_doc="`SELF`",
    ),
    Setting(
        text("an AWS Organizations organization id", r"o-[a-z0-9]{10,32}"),
        "organizationId",
        help="the organization: the member roles trust only principals of it (`aws:PrincipalOrgID`), and "
        "the auditor assumes only roles in it (`aws:ResourceOrgID`)",
        example="o-a1b2c3d4e5",
        default_doc="none",
    ),
    Setting(
        text(
            "the IAM role ARN of the hub's auditor function (its AuditorRoleArn output)",
            r"arn:aws[a-z-]*:iam::[0-9]{12}:role/([A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}",
            max_len=2048,
        ),
        "auditorRoleArn",
        help="the hub's `AuditorRoleArn` output; given, `app.py` also defines the member stack "
        "`<stackName>Member` (`cdk deploy JobAuditorMember`) for an account the StackSet does not reach",
        example="arn:aws:iam::111111111111:role/JobAuditor-AuditorRole1234-ABCD",
        default_doc="none",
    ),
    _numbers(
        "accountFailurePeriods",
        None,
        1,
        180,
        3,
        "with several accounts, the account-failure alarm fires after this many schedule periods in a "
        "row with failures in one account (at most 180 minutes in all: a Metrics Insights alarm "
        "evaluates the last three hours)",
        describe="a whole number of schedule periods from 1 to 180, at most "
        f"{METRICS_INSIGHTS_ALARM_MINUTES} minutes in all, e.g. 3",
        example="2",
    ),
    Setting(
        choice("direct", "stepfunctions"),
        "auditMode",
        default=_default_audit_mode,
        help="`direct`: the schedule invokes the auditor function; `stepfunctions`: it starts a state "
        "machine that plans the sources, audits them in a Distributed Map and summarizes the run "
        '(docs/performance.md, "Organization fan-out")',
        describe="direct (the schedule invokes the auditor function) or stepfunctions (the schedule "
        "starts a state machine that fans the sources out over a Distributed Map)",
        example="stepfunctions",
        default_doc="`direct`; `stepfunctions` when `accounts` is set",
    ),
    _numbers(
        "mapMaxConcurrency",
        None,
        1,
        10_000,
        40,
        "stepfunctions mode: child executions at once",
        unit="child executions",
        example="100",
    ),
    _numbers(
        "itemsPerBatch",
        None,
        1,
        100,
        20,
        "stepfunctions mode: account-regions per child execution; fewer children cost fewer state "
        "transitions",
        unit="account-regions per child execution",
        example="10",
    ),
    # Fan-out (auditMode=stepfunctions): calls in flight at once per account-region (one thread each).
    _numbers(
        "accountRegionConcurrency",
        "ACCOUNT_REGION_CONCURRENCY",
        1,
        16,
        2,
        "stepfunctions mode: calls in flight at once per account-region; about 11 List calls a second at 2",
        unit="calls in flight",
        example="4",
        fanout_only=True,
    ),
    _numbers(
        "toleratedFailurePercentage",
        None,
        0,
        100,
        10,
        "stepfunctions mode: failed children (percent) before the map run itself fails",
        unit="percent",
        example="25",
    ),
    Setting(
        choice("express", "standard"),
        "mapChildExecutionType",
        default="express",
        help="stepfunctions mode: the children's workflow type (Express is cheaper at a 5-minute "
        "schedule; a batch then ends within 240 s)",
        describe="express or standard (the Distributed Map's child executions)",
        example="standard",
    ),
    Setting(
        choice(*DISCOVERY_MODES),
        "discovery",
        default=LISTING,
        help=f"`{LISTING}`: every run lists each source's window; `{CLOUDTRAIL}`: new jobs of the kinds "
        "whose starts CloudTrail records (Q in Connect import jobs) are announced by their `StartImportJob` "
        "events through a queue, followed with Get, and listed in full only by the sweep (needs a trail "
        "recording management events, a kind it announces, and `auditMode=direct`; see [New jobs from "
        "CloudTrail](#new-jobs-from-cloudtrail))",
        describe=f"{LISTING} (every run lists each source's window) or {CLOUDTRAIL} (new Q in Connect import "
        "jobs are announced by CloudTrail and followed with Get; listed in full only by the sweep)",
        example=CLOUDTRAIL,
    ),
    ACCOUNT,
    CHAT_TOPIC,
    NOTIFY_FILTER,
    CLAIM_LEASE,
    ITEMS_BUCKET,
    START_QUEUE,
    SETTINGS_PARAMETERS,
)


# -- the registry ---------------------------------------------------------------------------------

_REGISTERED: dict[str, Setting] = {}


def _operation(method: str) -> str:
    """list_knowledge_bases -> ListKnowledgeBases: an SDK method's API operation."""
    return "".join(word.capitalize() for word in method.split("_"))


def _scope_setting(spec: JobKindSpec, scope: ScopeSetting) -> Setting:
    first = spec.discovery[0]
    return Setting(
        Form(
            lambda: scope_form(spec),
            lambda value: parse_scope_items(spec, value),
            write_scope_items,
            empty=(),
        ),
        scope.context_key,
        scope.env_var,
        "discover",
        f"{first.noun}s whose {spec.display_name}s are audited: {first.noun} ids or, where the scope has "
        f"more levels, `/`-joined ids; `discover` lists them with `{_operation(first.list_method)}`. IAM is "
        "narrowed to those named",
        example=scope.example,
        describe=lambda: scope_form(spec),
        large=True,
        kind=spec.id,
    )


def settings() -> tuple[Setting, ...]:
    """Every setting: the table's, each registered kind's scope setting (after `regions`), and those
    registered with `register_setting`."""
    at = next(i for i, s in enumerate(_TABLE) if s.context_key == "regions") + 1
    scopes = tuple(_scope_setting(spec, scope) for spec, scope in scope_settings())
    return (*_TABLE[:at], *scopes, *_TABLE[at:], *_REGISTERED.values())


def register_setting(setting: Setting) -> Setting:
    """Add a setting (a plug-in's, a test's); its name, context key and variable must be new."""
    taken = {(s.name, s.context_key, s.env_var) for s in settings()}
    names = {n for triple in taken for n in triple if n}
    if {setting.name, setting.context_key, setting.env_var} & names:
        raise ValueError(f"setting {setting.name!r} (or its key or variable) is registered already")
    _REGISTERED[setting.name] = setting
    return setting


@contextmanager
def registered_setting(setting: Setting) -> Iterator[Setting]:
    """`setting` in the table for the duration of a block (tests, plug-ins)."""
    register_setting(setting)
    try:
        yield setting
    finally:
        _REGISTERED.pop(setting.name, None)


def by_env_var() -> dict[str, Setting]:
    """The settings the Lambda's functions get as variables, by variable."""
    return {s.env_var: s for s in settings() if s.env_var}


def by_context_key() -> dict[str, Setting]:
    return {s.context_key: s for s in settings() if s.context_key}


def setting(name: str) -> Setting:
    """The setting of that name (snake_case), context key or variable."""
    for candidate in settings():
        if name in (candidate.name, candidate.context_key, candidate.env_var):
            return candidate
    raise KeyError(name)


# -- settings an earlier version had ---------------------------------------------------------------


class RetiredSetting(NamedTuple):
    """A setting an earlier version defined and this one does not: synth refuses its context key and
    keyword argument naming `replacement` (a setting of the table), and the Lambda ignores its variable
    with a warning, so a deployment that still sets it learns what to use instead."""

    context_key: str
    env_var: str
    replacement: str
    why: str

    @property
    def name(self) -> str:
        return snake_case(self.context_key)

    def instead(self, spelling: Callable[[Setting], str | None]) -> str:
        """What replaced it and why, the replacement spelled as `spelling` spells a setting (its context
        key, variable or name)."""
        return f"{spelling(setting(self.replacement))} ({self.why})"


RETIRED_SETTINGS: tuple[RetiredSetting, ...] = (
    RetiredSetting(
        "maxPublishAttempts",
        "MAX_PUBLISH_ATTEMPTS",
        "publishRetryHours",
        "a channel that refuses a transition is retried for a time, then parks it for automatic "
        "re-drive, instead of a count of failed runs",
    ),
)


def retired_setting(name: str) -> RetiredSetting | None:
    """The retired setting of that context key, keyword argument or variable (None: not a retired one)."""
    return next((r for r in RETIRED_SETTINGS if name in (r.context_key, r.name, r.env_var)), None)


# The range of every whole-number variable, by name (tests and docs read it).
BOUNDS: dict[str, Bounds] = {s.env_var: s.form.bounds for s in _TABLE if s.env_var and s.form.bounds}
