"""Job kinds declared as data, and the records the domain works with.

A new job kind is a new `JobKindSpec` in `JOB_KINDS`, not new code: the lister, the diff and the
publishers read everything they need from the spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Literal


class StatusCategory(StrEnum):
    """What a status means, independent of each API's spelling."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    DELETED = "DELETED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class JobKindSpec:
    """Everything the auditor needs to know about one job API."""

    id: str
    display_name: str
    detail_type: str
    client: str
    list_method: str
    list_result_key: str
    # Request parameters that filter on creation time (after / before); None when the API has none.
    time_filter_param: str | None
    time_filter_before_param: str | None
    sort_params: MappingProxyType[str, str]
    max_page_size: int
    id_field: str
    name_field: str
    status_field: str
    creation_time_field: str
    last_modified_field: str | None
    end_time_field: str | None
    failure_field: str | None
    arn_field: str | None
    # Extra request parameter that scopes the list to a parent resource (Q in Connect: knowledge base).
    scope_param: str | None
    # Request parameter that filters on one status; the reconciliation sweep lists each in-progress
    # status with it and no time filter, so a job of any age still running is found. None: the sweep
    # reads every job the API keeps.
    status_filter_param: str | None
    get_method: str
    get_id_param: str
    get_result_key: str | None
    statuses: MappingProxyType[str, StatusCategory]
    # The console page listing this kind's jobs ({region} filled in); a job's own link is built from its ARN.
    jobs_console_url: str
    # The list summary carries the failure message; if not, a failed job is fetched once with Get.
    failure_in_list: bool = True
    iam_actions: tuple[str, ...] = field(default=())

    def category(self, status: str) -> StatusCategory:
        """The meaning of a status; UNKNOWN for a value this spec does not list (AWS adds them)."""
        return self.statuses.get(status, StatusCategory.UNKNOWN)

    def is_known(self, status: str) -> bool:
        return status in self.statuses

    @property
    def in_progress_statuses(self) -> tuple[str, ...]:
        return tuple(s for s, c in self.statuses.items() if c == StatusCategory.IN_PROGRESS)

    def is_terminal(self, status: str) -> bool:
        """Terminal statuses end tracking; unknown ones are kept in flight so they are re-checked."""
        return self.category(status) in {
            StatusCategory.SUCCEEDED,
            StatusCategory.FAILED,
            StatusCategory.DELETED,
        }


_BEDROCK_STATUSES = MappingProxyType(
    {
        "InProgress": StatusCategory.IN_PROGRESS,
        "Completed": StatusCategory.SUCCEEDED,
        "Failed": StatusCategory.FAILED,
    }
)
_ASCENDING_BY_CREATION = MappingProxyType({"sortBy": "CreationTime", "sortOrder": "Ascending"})

BEDROCK_MODEL_IMPORT = JobKindSpec(
    id="bedrock-model-import",
    display_name="Bedrock model import job",
    detail_type="Bedrock Model Import Job Status Change",
    client="bedrock",
    list_method="list_model_import_jobs",
    list_result_key="modelImportJobSummaries",
    time_filter_param="creationTimeAfter",
    time_filter_before_param="creationTimeBefore",
    sort_params=_ASCENDING_BY_CREATION,
    max_page_size=1000,
    id_field="jobArn",
    name_field="jobName",
    status_field="status",
    creation_time_field="creationTime",
    last_modified_field="lastModifiedTime",
    end_time_field="endTime",
    failure_field="failureMessage",
    arn_field="jobArn",
    scope_param=None,
    status_filter_param="statusEquals",
    get_method="get_model_import_job",
    get_id_param="jobIdentifier",
    get_result_key=None,
    statuses=_BEDROCK_STATUSES,
    jobs_console_url="https://{region}.console.aws.amazon.com/bedrock/home?region={region}#/imported-models",
    iam_actions=("bedrock:ListModelImportJobs", "bedrock:GetModelImportJob"),
    failure_in_list=False,
)

BEDROCK_MODEL_COPY = JobKindSpec(
    id="bedrock-model-copy",
    display_name="Bedrock model copy job",
    detail_type="Bedrock Model Copy Job Status Change",
    client="bedrock",
    list_method="list_model_copy_jobs",
    list_result_key="modelCopyJobSummaries",
    time_filter_param="creationTimeAfter",
    time_filter_before_param="creationTimeBefore",
    sort_params=_ASCENDING_BY_CREATION,
    max_page_size=1000,
    id_field="jobArn",
    # Copy jobs have no name of their own; the target model's name is what people recognise.
    name_field="targetModelName",
    status_field="status",
    creation_time_field="creationTime",
    last_modified_field=None,
    end_time_field=None,
    failure_field="failureMessage",
    arn_field="jobArn",
    scope_param=None,
    status_filter_param="statusEquals",
    get_method="get_model_copy_job",
    get_id_param="jobArn",
    get_result_key=None,
    statuses=_BEDROCK_STATUSES,
    jobs_console_url="https://{region}.console.aws.amazon.com/bedrock/home?region={region}#/custom-models",
    iam_actions=("bedrock:ListModelCopyJobs", "bedrock:GetModelCopyJob"),
)

QCONNECT_IMPORT = JobKindSpec(
    id="qconnect-import",
    display_name="Q in Connect import job",
    detail_type="Q in Connect Import Job Status Change",
    client="qconnect",
    list_method="list_import_jobs",
    list_result_key="importJobSummaries",
    time_filter_param=None,
    time_filter_before_param=None,
    sort_params=MappingProxyType({}),
    max_page_size=100,
    id_field="importJobId",
    name_field="importJobId",
    status_field="status",
    creation_time_field="createdTime",
    last_modified_field="lastModifiedTime",
    end_time_field=None,
    failure_field=None,
    arn_field=None,
    scope_param="knowledgeBaseId",
    status_filter_param=None,
    get_method="get_import_job",
    get_id_param="importJobId",
    get_result_key="importJob",
    statuses=MappingProxyType(
        {
            "START_IN_PROGRESS": StatusCategory.IN_PROGRESS,
            "COMPLETE": StatusCategory.SUCCEEDED,
            "FAILED": StatusCategory.FAILED,
            "DELETE_IN_PROGRESS": StatusCategory.IN_PROGRESS,
            "DELETE_FAILED": StatusCategory.FAILED,
            "DELETED": StatusCategory.DELETED,
        }
    ),
    jobs_console_url="https://{region}.console.aws.amazon.com/connect/home?region={region}",
    iam_actions=("wisdom:ListImportJobs", "wisdom:GetImportJob", "wisdom:ListKnowledgeBases"),
)

JOB_KINDS: MappingProxyType[str, JobKindSpec] = MappingProxyType(
    {spec.id: spec for spec in (BEDROCK_MODEL_IMPORT, BEDROCK_MODEL_COPY, QCONNECT_IMPORT)}
)


@dataclass(frozen=True)
class Source:
    """What the auditor lists: an account, a region, a job API and, for Q in Connect, a knowledge base."""

    account: str
    region: str
    spec: JobKindSpec
    knowledge_base_id: str | None = None

    @property
    def key(self) -> str:
        parts = [self.account, self.region, self.spec.id]
        if self.knowledge_base_id:
            parts.append(self.knowledge_base_id)
        return "/".join(parts)

    @property
    def scope(self) -> Source:
        """The source without its knowledge base: where discovered knowledge bases belong."""
        return Source(self.account, self.region, self.spec)


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
