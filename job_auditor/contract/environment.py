"""What the auditor's environment variables and the CDK context keys of the same meaning share: the
forms they accept, their ranges and the parsers of the grammars both read. Standard library only.

The Lambda's settings (auditor.settings) parse its environment with these; the CDK context model
(infra/config.py) validates the context keys with the same ones, so a value synth accepts never
fails the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from job_auditor.contract.kinds import JOB_KINDS, JobKindSpec, ScopeSetting, default_kind_ids, kind_ids

# The version of the events' `detail` envelope (schemas/transition-event.v<version>.json), which the
# auditor writes, the Slack forwarder reads and the stack registers in the Schema Registry.
ENVELOPE_VERSION = "1"
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
# Message attributes the auditor sets on every SNS publish (auditor.domain.notifications.attributes).
FILTER_ATTRIBUTES = frozenset(
    {"jobKind", "status", "statusCategory", "previousStatus", "transition", "region", "account", "jobName"}
)
# The SNS filter policy operator for alternatives.
OR_KEY = "$or"
# The transition type of a stuck alert (the filter policy lets it through on its own).
STUCK_TRANSITION = "stuck"
DEFAULT_STUCK_HOURS = 24
# The events' source, shared with the context key eventSource. EventBridge reserves sources starting
# with "aws." (any case) for AWS services.
EVENT_SOURCE_FORM = "an event source: 1 to 256 of A-Z a-z 0-9 . _ - /, not starting with aws."
EVENT_SOURCE_PATTERN = re.compile(r"(?!aws\.)[A-Za-z0-9._\-/]{1,256}", re.IGNORECASE)
_HOURS = re.compile(r"[1-9][0-9]{0,4}")


@dataclass(frozen=True, slots=True)
class Bounds:
    """The inclusive range of a whole-number setting. The CDK context key of the same meaning
    (infra/config.py) takes the same range, so a value synth accepts never fails the run."""

    low: int
    high: int

    def form(self, unit: str = "") -> str:
        return f"a whole number{f' of {unit}' if unit else ''} from {self.low} to {self.high}"


# The range of every whole-number variable, by name; infra/config.py gives the context key of the same
# meaning the same range. Every number has an upper bound: an unbounded one either overflows the date
# arithmetic after publishing (the same event then repeats every lease period) or postpones a
# recovery past anyone's notice.
BOUNDS: dict[str, Bounds] = {
    # First run's look-back: a month is already a large silent baseline.
    "INITIAL_LOOKBACK_MINUTES": Bounds(1, 30 * 24 * 60),
    # Clock-skew allowance: a day is far beyond any real skew (and widens every list by that much).
    "OVERLAP_SECONDS": Bounds(0, 24 * 60 * 60),
    # In-flight jobs older than this are re-checked with Get instead of listed: up to a year.
    "RECHECK_HORIZON_HOURS": Bounds(1, 365 * 24),
    # Transition history: ten years, far from the year-9999 limit of the expiry arithmetic
    # (3,000,000 days passed validation and then failed every run after publishing).
    "HISTORY_TTL_DAYS": Bounds(1, 3_650),
    # A claim's lease must outlive a run (a Lambda runs at most 15 minutes); a crashed run's claims
    # are re-published only once it expires, so an hour is the longest a transition may wait.
    "CLAIM_LEASE_SECONDS": Bounds(60, 60 * 60),
    # Repeat a stuck alert every N hours (0: once); more than a year apart is the same as once.
    "STUCK_REPEAT_HOURS": Bounds(0, 365 * 24),
    # The reconciliation sweep: every run (0) to weekly, so no lost transition waits longer than that.
    "RECONCILE_EVERY_MINUTES": Bounds(0, 7 * 24 * 60),
    # How far back the sweep re-lists: up to a year, like the re-check horizon.
    "RECONCILE_LOOKBACK_HOURS": Bounds(1, 365 * 24),
    # How long a channel refusing a transition for a passing reason is retried before it parks it
    # (re-driven automatically once it takes messages again): an hour to a month.
    "PUBLISH_RETRY_HOURS": Bounds(1, 720),
    # More transitions for people than this in one run: one digest on their channels (0: never).
    "DIGEST_THRESHOLD": Bounds(0, 1_000),
    # Consecutive not-found re-checks before a job is announced as disappeared: more than 100 only
    # hides a fault that is not passing.
    "VANISHED_AFTER_CHECKS": Bounds(1, 100),
    # Fan-out (auditMode=stepfunctions): calls in flight at once per account-region (one thread each).
    "ACCOUNT_REGION_CONCURRENCY": Bounds(1, 16),
}


# -- accounts (organization mode) -----------------------------------------------------------------

# ACCOUNTS / context key accounts: empty (the deploying account only), a comma list of account ids, or
# this word (every ACTIVE account AWS Organizations lists, optionally under organizationalUnits).
ORGANIZATION = "organization"
ACCOUNT_ID_PATTERN = re.compile(r"[0-9]{12}")
ACCOUNTS_FORM = f"a comma list of 12-digit account ids, or {ORGANIZATION!r}"
# Organizations' own patterns: a root (r-) or an organizational unit (ou-<root>-<suffix>).
ORGANIZATIONAL_UNIT_PATTERN = re.compile(r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}")
ORGANIZATIONAL_UNITS_FORM = "a comma list of organizational unit or root ids (ou-... or r-...)"
# The role the auditor assumes in every other account (IAM's role name pattern, without a path).
DEFAULT_MEMBER_ROLE_NAME = "JobAuditorReader"
MEMBER_ROLE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")
MEMBER_ROLE_NAME_FORM = "an IAM role name: 1 to 64 of A-Z a-z 0-9 _ + = , . @ -"
# STS AssumeRole's ExternalId.
MEMBER_EXTERNAL_ID_PATTERN = re.compile(r"[A-Za-z0-9_+=,.@:/-]{2,1224}")
MEMBER_EXTERNAL_ID_FORM = "an external id: 2 to 1224 of A-Z a-z 0-9 _ + = , . @ : / -"


def parse_accounts(text: str) -> tuple[str, ...] | str:
    """ACCOUNTS: () for the deploying account only, the ids in order (each once), or ORGANIZATION.
    Raises ValueError quoting the bad items."""
    words = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if len(words) == 1 and words[0].lower() == ORGANIZATION:
        return ORGANIZATION
    bad = [w for w in words if not ACCOUNT_ID_PATTERN.fullmatch(w)]
    if bad:
        raise ValueError(f"expected {ACCOUNTS_FORM}, got {', '.join(shown(b) for b in bad)}")
    return words


def shown(value: object) -> str:
    """A bad value for an error message: quoted, and cut short if long."""
    text = repr(value)
    return text if len(text) <= 100 else f"{text[:97]}... ({len(str(value))} characters)"


def invalid(expected: str, got: object) -> ValueError:
    return ValueError(f"expected {expected}, got {shown(got)}")


def split_csv(value: object) -> object:
    """A comma list as a tuple of its non-empty, stripped parts; other values pass through."""
    if not isinstance(value, str):
        return value
    return tuple(part.strip() for part in value.split(",") if part.strip())


# -- job kinds ------------------------------------------------------------------------------------


def kinds_form() -> str:
    """The form of a list of job kinds (JOB_KINDS, jobKinds), naming every registered kind."""
    return f"a comma list of {', '.join(kind_ids())}"


def kinds_example() -> str:
    return ",".join(default_kind_ids()[:2])


def stuck_hours_form() -> str:
    """The stuck-threshold grammar, shared with the context key stuckAfterHours."""
    ids = kind_ids()
    example = f"{ids[0]}=48,{ids[-1]}=6" if ids else "kind=48"
    return (
        "whole hours from 1 to 99999 for every job kind (e.g. 24), or kind=hours pairs, "
        f"e.g. {example} (unlisted kinds {DEFAULT_STUCK_HOURS})"
    )


def parse_stuck_hours(text: str) -> dict[str, int]:
    """Stuck thresholds by job kind from "24" (every kind) or "kind=hours,kind=hours" (others keep
    the default). Hours are 1 to 99999 without leading zeros; raises ValueError quoting the bad part."""
    text = text.strip()
    if _HOURS.fullmatch(text):
        return dict.fromkeys(kind_ids(), int(text))
    hours_by_kind: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, hours = (s.strip() for s in part.partition("="))
        if kind not in JOB_KINDS or not _HOURS.fullmatch(hours):
            raise invalid(stuck_hours_form(), part)
        # The same pair twice is harmless; the same kind with two thresholds is ambiguous.
        if hours_by_kind.setdefault(kind, int(hours)) != int(hours):
            raise invalid(f"{stuck_hours_form()}, each kind once", part)
    return hours_by_kind


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


def parse_scope_items(spec: JobKindSpec, text: str) -> tuple[tuple[str, ...], ...]:
    """A kind's configured scope: each item's ids, in order, each item once; () means discover.
    Raises ValueError quoting every bad item."""
    if text.strip().lower() in SCOPE_DISCOVER_WORDS:
        return ()
    items: list[tuple[str, ...]] = []
    bad: list[str] = []
    for raw in dict.fromkeys(p.strip() for p in text.split(",") if p.strip()):
        ids = tuple(raw.split("/"))
        ok = len(ids) <= len(spec.discovery) and all(
            re.fullmatch(step.id_pattern, part) for step, part in zip(spec.discovery, ids, strict=False)
        )
        if ok:
            items.append(ids)
        else:
            bad.append(raw)
    if bad:
        raise ValueError(f"expected {scope_form(spec)}, got {', '.join(shown(b) for b in bad)}")
    return tuple(items)


def scope_settings() -> tuple[tuple[JobKindSpec, ScopeSetting], ...]:
    """The kinds that can be narrowed to configured scopes, with their context key and variable."""
    return tuple((spec, spec.scope_setting) for spec in JOB_KINDS.values() if spec.scope_setting)
