"""The records the domain works with: sources, observed jobs and recorded job states.

Job kinds are data in the registry (`contract.kinds`), re-exported here for the domain's modules: the
lister, the diff and the publishers read everything they need from a kind's spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from job_auditor.contract.kinds import JOB_KINDS, JobKindSpec, StatusCategory

__all__ = [
    "JOB_KINDS",
    "JobKindSpec",
    "JobState",
    "ObservedJob",
    "Source",
    "StatusCategory",
    "TransitionType",
]


@dataclass(frozen=True)
class Source:
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
    def unscoped(self) -> Source:
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


@dataclass(frozen=True)
class ObservedJob:
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
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class JobState:
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
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # When the job entered its current status, as far as the auditor knows; drives stuck alerts.
    status_since: datetime | None = None
    stuck_notified_at: datetime | None = None
    # Re-checks in a row that did not find the job (reset by its next transition).
    missing_checks: int = 0
    # Set by a `disappeared` transition: the job is no longer tracked.
    disappeared_at: datetime | None = None

    def tracked(self, spec: JobKindSpec) -> bool:
        """Still followed run after run: not in a terminal status and not gone."""
        return self.disappeared_at is None and not spec.is_terminal(self.status)


TransitionType = Literal["discovered", "status-changed", "stuck", "disappeared"]
