"""The records the domain works with: sources, observed jobs and recorded job states.

Job kinds are data in the registry (`contract.kinds`), re-exported here for the domain's modules: the
lister, the diff and the publishers read everything they need from a kind's spec.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple

from job_auditor.contract.kinds import JOB_KINDS, JobKindSpec, StatusCategory

__all__ = [
    "ACCOUNT_REMOVED",
    "CONFIGURATION_CHANGED",
    "DISAPPEARED_REASONS",
    "JOB_KINDS",
    "JOB_NOT_FOUND",
    "ORPHAN_REASONS",
    "SCOPE_DELETED",
    "JobKindSpec",
    "JobState",
    "ObservedJob",
    "OrphanReason",
    "Source",
    "StatusCategory",
    "TransitionType",
]

# The details of a job whose API reports none: one read-only mapping, shared.
_NO_DETAILS: Mapping[str, Any] = MappingProxyType({})


class Source(NamedTuple):
    """What the auditor lists: an account, a region, a job API and the ids of its scope (a knowledge
    base; a knowledge base and a data source), in the order of the kind's `scope_params`."""

    account: str
    region: str
    spec: JobKindSpec
    scope_ids: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return "/".join((self.account, self.region, self.spec.id, *self.scope_ids))

    @property
    def unscoped(self) -> "Source":
        """The source without its scope ids: where discovered knowledge bases belong."""
        return Source(self.account, self.region, self.spec)

    @property
    def scope_params(self) -> dict[str, str]:
        """The request parameters that scope a list or get call to this source."""
        return dict(zip(self.spec.scope_params, self.scope_ids, strict=False))

    @property
    def knowledge_base_id(self) -> str | None:
        return self.scope_ids[0] if self.scope_ids else None

    @property
    def data_source_id(self) -> str | None:
        return self.scope_ids[1] if len(self.scope_ids) > 1 else None


class ObservedJob(NamedTuple):
    """A job as one list or get call returned it, normalised across APIs."""

    job_id: str
    status: str
    created_at: datetime
    name: str | None = None
    arn: str | None = None
    last_modified_at: datetime | None = None
    ended_at: datetime | None = None
    failure_message: str | None = None
    # The kind's detail_fields as the API returned them (JSON values), e.g. ingestion statistics.
    details: Mapping[str, Any] = _NO_DETAILS


class JobState(NamedTuple):
    """What the auditor last recorded about a job."""

    job_id: str
    status: str
    created_at: datetime
    sequence: int
    name: str | None = None
    arn: str | None = None
    last_modified_at: datetime | None = None
    ended_at: datetime | None = None
    failure_message: str | None = None
    details: Mapping[str, Any] = _NO_DETAILS
    # When the job entered its current status, as far as the auditor knows; drives stuck alerts.
    status_since: datetime | None = None
    stuck_notified_at: datetime | None = None
    # Re-checks in a row that did not find the job (reset by its next transition).
    missing_checks: int = 0
    # Set by a `disappeared` transition, with its reason (DISAPPEARED_REASONS).
    disappeared_at: datetime | None = None
    disappeared_reason: str | None = None

    def tracked(self, spec: JobKindSpec) -> bool:
        """Still followed run after run: not in a terminal status and not gone. A job announced as
        disappeared because its source left the audit (ORPHAN_REASONS) is kept among the jobs in
        flight: should its source be audited again (a kind configured again, an account back), it is
        followed again from where it stood; while its source stays out, nothing asks for it."""
        if spec.is_terminal(self.status):
            return False
        return self.disappeared_at is None or self.disappeared_reason in ORPHAN_REASONS

    def lost(self, spec: JobKindSpec) -> bool:
        """Announced as disappeared because its API no longer found it while it ran (`job not found`):
        an API may lose a job for a while, and the job may end meanwhile. Sweeps ask for it again with
        Get for a while (`to_recheck`, `given_up`), and a listing that returns it diffs it."""
        return self.disappeared_reason == JOB_NOT_FOUND and not spec.is_terminal(self.status)

    def indexed(self, spec: JobKindSpec) -> bool:
        """Among the jobs in flight the store returns (`StateStore.load_in_flight`): tracked, or lost
        (until a sweep lets it go: `StateStore.let_go`)."""
        return self.tracked(spec) or self.lost(spec)


TransitionType = Literal["discovered", "status-changed", "stuck", "disappeared"]

# Why a job is announced as `disappeared` (the event's detail.reason): a tracked job the API no longer
# finds; or one whose source left the audit and whose API no longer answers for it: its scope
# (knowledge base, data source) was deleted, its account left the audited accounts, or its kind,
# region or configured scope is no longer configured.
OrphanReason = Literal["scope deleted", "account removed", "configuration changed"]
JOB_NOT_FOUND: Final = "job not found"
SCOPE_DELETED: Final = "scope deleted"
ACCOUNT_REMOVED: Final = "account removed"
CONFIGURATION_CHANGED: Final = "configuration changed"
ORPHAN_REASONS: Final = (SCOPE_DELETED, ACCOUNT_REMOVED, CONFIGURATION_CHANGED)
DISAPPEARED_REASONS: Final = (JOB_NOT_FOUND, *ORPHAN_REASONS)
