"""The job-kind registry: the one place a job kind is described. Standard library only.

Everything that differs between kinds is here as data: the SDK client and operations, the filters
and sort of the list call, the scope (none, a knowledge base, a knowledge base and a data source)
and how it is discovered, the statuses and what each means, the fields of a job, the console page,
and the IAM actions with the resource each needs. The Lambda's lister, diff, events and texts, the
CDK context, settings and IAM statements, the Slack forwarder, the simulator and the benchmarks
read it; none of them names a kind. A new kind is a new `JobKindSpec` passed to `register`.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple


class StatusCategory(StrEnum):
    """What a status means, independent of each API's spelling."""

    # Running, queued, submitted, validating, scheduled, starting: not ended.
    IN_PROGRESS = "IN_PROGRESS"
    # Asked to stop and not stopped yet: not ended, but no longer heading for success.
    STOPPING = "STOPPING"
    SUCCEEDED = "SUCCEEDED"
    # Ended with part of the work done (batch inference PartiallyCompleted).
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    # Stopped by a person: an outcome of its own, not a failure.
    STOPPED = "STOPPED"
    # Ended because it ran out of time (batch inference Expired).
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"
    # A status this registry does not list (AWS adds them): kept in flight and re-checked.
    UNKNOWN = "UNKNOWN"


TERMINAL_CATEGORIES = frozenset(
    {
        StatusCategory.SUCCEEDED,
        StatusCategory.PARTIAL,
        StatusCategory.FAILED,
        StatusCategory.STOPPED,
        StatusCategory.EXPIRED,
        StatusCategory.DELETED,
    }
)
RUNNING_CATEGORIES = frozenset({StatusCategory.IN_PROGRESS, StatusCategory.STOPPING})


class StatusFilterStyle(StrEnum):
    """How the list call takes a status filter."""

    # `param=<status>` (Bedrock statusEquals).
    EQUALS = "equals"
    # `param=[{"attribute": "STATUS", "operator": "EQ", "values": [<status>]}]` (bedrock-agent).
    FILTER_LIST = "filter-list"


# NamedTuples rather than dataclasses, like the Lambda's other read-only records: a dataclass
# compiles its generated methods as its module is imported, at every cold start (docs/architecture.md).
class IamGrant(NamedTuple):
    """IAM actions and the resource they are authorized on, from the Service Authorization Reference.

    `resource` is the ARN's resource part after `arn:<partition>:<service>:<region>:<account>:`, with
    `{0}`, `{1}` for the source's scope ids (a knowledge base, a data source) and `*` where the ids are
    only known at run time. None: the actions have no resource type, so they take `*` (limited to the
    audited regions with aws:RequestedRegion).
    """

    actions: tuple[str, ...]
    resource: str | None

    @property
    def service(self) -> str:
        """The ARN's service: the actions' prefix (all of one grant share it)."""
        return self.actions[0].split(":", 1)[0]


class DiscoveryStep(NamedTuple):
    """One level of a scope: how to list its resources (knowledge bases, then their data sources)."""

    client: str
    list_method: str
    result_key: str
    id_field: str
    status_field: str
    # Statuses of a resource on its way out: its jobs are not listed.
    gone_statuses: frozenset[str]
    max_page_size: int
    # The request parameter naming the parent level's id (None on the first level), and this level's
    # id in the job calls.
    parent_param: str | None
    id_param: str
    iam: IamGrant
    # A configured id must match this; id_form says it in words.
    id_pattern: str
    id_form: str
    # A name for people: "knowledge base", "data source".
    noun: str


class ScopeSetting(NamedTuple):
    """The CDK context key and Lambda variable that name a kind's scope instead of discovering it.

    Items are scope ids joined with "/" (a knowledge base, or knowledge base/data source); an item
    with fewer ids than the scope has levels has its lower levels discovered. Empty or "discover":
    everything is discovered.
    """

    context_key: str
    env_var: str
    # A value for the README's example column.
    example: str = ""


class StartEvent(NamedTuple):
    """The CloudTrail management event of a kind's Start call, as EventBridge's default bus receives it
    (detail-type "AWS API Call via CloudTrail") where a trail records management events: the run
    learns of new jobs from it instead of listing (contract.discovery, discovery=cloudtrail)."""

    # detail.eventSource; more than one where AWS's documents name the service differently.
    event_sources: tuple[str, ...]
    event_names: tuple[str, ...]
    # Where detail.responseElements holds the new job's id. The scope ids are the request parameters
    # named as the kind's scope parameters (an id or its ARN).
    job_id_path: tuple[str, ...]


class JobKindSpec(NamedTuple):
    """Everything job-auditor needs to know about one job API."""

    id: str
    display_name: str
    detail_type: str
    client: str
    list_method: str
    list_result_key: str
    # Request parameters that filter on creation time (after / before); None when the API has none.
    time_filter_param: str | None
    time_filter_before_param: str | None
    # Fixed request parameters of every list call (sort order).
    sort_params: Mapping[str, Any]
    max_page_size: int
    id_field: str
    name_field: str
    status_field: str
    creation_time_field: str
    last_modified_field: str | None
    end_time_field: str | None
    # A message, or a list of reasons (joined with "; ").
    failure_field: str | None
    arn_field: str | None
    # Request parameter that filters on one status; the reconciliation sweep lists each running
    # status with it, so a job of any age still running is found. None: the sweep reads every job
    # the API keeps.
    status_filter_param: str | None
    get_method: str
    get_id_param: str
    get_result_key: str | None
    statuses: Mapping[str, StatusCategory]
    # The console page listing this kind's jobs ({region} filled in); a job's own link is built from its ARN.
    jobs_console_url: str
    iam: tuple[IamGrant, ...]
    # The kind's scope, outermost level first: none, a knowledge base, a knowledge base and data source.
    discovery: tuple[DiscoveryStep, ...] = ()
    scope_setting: ScopeSetting | None = None
    status_filter_style: StatusFilterStyle = StatusFilterStyle.EQUALS
    # The list returns the newest first by creation_time_field (and has no time filter): paging stops
    # once a page ends before the window, so a run costs the same calls however long the history.
    newest_first: bool = False
    # The list summary carries the failure message; if not, a failed job is fetched once with Get.
    failure_in_list: bool = True
    # Members of a job copied into the event and the notification as they are (ingestion statistics,
    # batch inference record counts).
    detail_fields: tuple[str, ...] = ()
    # Audited unless jobKinds says otherwise (opt-in kinds have native events of their own).
    enabled_by_default: bool = True
    # Bedrock's own EventBridge event for this kind, if it has one (the README explains the overlap).
    native_detail_type: str | None = None
    # Set where announcing starts saves calls: a kind whose list has neither a time filter nor an order
    # reads its whole history every run; the others list their window in a page or so.
    start_event: StartEvent | None = None

    def category(self, status: str) -> StatusCategory:
        """The meaning of a status; UNKNOWN for a value this spec does not list (AWS adds them)."""
        return self.statuses.get(status, StatusCategory.UNKNOWN)

    def is_known(self, status: str) -> bool:
        return status in self.statuses

    @property
    def in_progress_statuses(self) -> tuple[str, ...]:
        """The known statuses of a job that has not ended: what the sweep lists one by one."""
        return tuple(s for s, c in self.statuses.items() if c in RUNNING_CATEGORIES)

    def is_terminal(self, status: str) -> bool:
        """Terminal statuses end tracking; unknown ones are kept in flight so they are re-checked."""
        return self.category(status) in TERMINAL_CATEGORIES

    @property
    def scope_params(self) -> tuple[str, ...]:
        """The request parameters naming a source's scope ids, outermost first."""
        return tuple(step.id_param for step in self.discovery)


# -- the registry ---------------------------------------------------------------------------------

_REGISTRY: dict[str, JobKindSpec] = {}
JOB_KINDS: Mapping[str, JobKindSpec] = MappingProxyType(_REGISTRY)
KIND_ID_PATTERN = r"[a-z][a-z0-9]*(-[a-z0-9]+)*"


def register(spec: JobKindSpec) -> JobKindSpec:
    """Add a kind; its id must be new and lower-case words joined by hyphens."""
    if not re.fullmatch(KIND_ID_PATTERN, spec.id):
        raise ValueError(f"job kind id {spec.id!r} must be lower-case words joined by hyphens")
    if spec.id in _REGISTRY:
        raise ValueError(f"job kind {spec.id!r} is registered already")
    _REGISTRY[spec.id] = spec
    return spec


def unregister(kind_id: str) -> None:
    _REGISTRY.pop(kind_id, None)


@contextmanager
def registered(spec: JobKindSpec) -> Iterator[JobKindSpec]:
    """`spec` in the registry for the duration of a block (tests, plug-ins)."""
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.id)


def kind_ids() -> tuple[str, ...]:
    """Every registered kind id, in registration order."""
    return tuple(_REGISTRY)


def default_kind_ids() -> tuple[str, ...]:
    """The kinds audited when jobKinds is not set."""
    return tuple(k for k, spec in _REGISTRY.items() if spec.enabled_by_default)


def job_clients(kind_ids: Iterable[str] | None = None) -> tuple[str, ...]:
    """Every SDK client the kinds (default: every registered one) and their scope discovery use."""
    specs = _REGISTRY.values() if kind_ids is None else [_REGISTRY[k] for k in kind_ids]
    return tuple(
        dict.fromkeys(c for spec in specs for c in (spec.client, *(s.client for s in spec.discovery)))
    )


def every_status() -> tuple[str, ...]:
    """Every status any registered kind reports, each once."""
    return tuple(dict.fromkeys(s for spec in _REGISTRY.values() for s in spec.statuses))


# -- the kinds ------------------------------------------------------------------------------------

_IN = StatusCategory.IN_PROGRESS
_ASCENDING_BY_CREATION = MappingProxyType({"sortBy": "CreationTime", "sortOrder": "Ascending"})
_BEDROCK_STATUSES = MappingProxyType(
    {"InProgress": _IN, "Completed": StatusCategory.SUCCEEDED, "Failed": StatusCategory.FAILED}
)
_STOPPABLE_BEDROCK_STATUSES = MappingProxyType(
    {**_BEDROCK_STATUSES, "Stopping": StatusCategory.STOPPING, "Stopped": StatusCategory.STOPPED}
)
_UUID = r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"
_BEDROCK_AGENT_ID = r"[0-9a-zA-Z]{10}"
_BEDROCK_CONSOLE = "https://{region}.console.aws.amazon.com/bedrock/home?region={region}"


def _bedrock_job(
    *,
    id: str,
    noun: str,
    plural_path: str,
    arn_type: str,
    result_key: str,
    action_noun: str,
    console_fragment: str,
    **overrides: Any,
) -> JobKindSpec:
    """A Bedrock control-plane job kind: list with creationTimeAfter/Before, statusEquals, ascending by
    creation time, 1,000 a page; Get by ARN; List has no resource type, Get takes the job's ARN."""
    fields: dict[str, Any] = {
        "id": id,
        "display_name": f"Bedrock {noun} job",
        "detail_type": f"Bedrock {noun.title()} Job Status Change",
        "client": "bedrock",
        "list_method": f"list_{plural_path}",
        "list_result_key": result_key,
        "time_filter_param": "creationTimeAfter",
        "time_filter_before_param": "creationTimeBefore",
        "sort_params": _ASCENDING_BY_CREATION,
        "max_page_size": 1000,
        "id_field": "jobArn",
        "name_field": "jobName",
        "status_field": "status",
        "creation_time_field": "creationTime",
        "last_modified_field": "lastModifiedTime",
        "end_time_field": "endTime",
        "failure_field": "failureMessage",
        "arn_field": "jobArn",
        "status_filter_param": "statusEquals",
        "get_method": f"get_{plural_path.removesuffix('s')}",
        "get_id_param": "jobIdentifier",
        "get_result_key": None,
        "statuses": _BEDROCK_STATUSES,
        "jobs_console_url": f"{_BEDROCK_CONSOLE}#/{console_fragment}",
        "iam": (
            IamGrant((f"bedrock:List{action_noun}s",), None),
            IamGrant((f"bedrock:Get{action_noun}",), f"{arn_type}/*"),
        ),
    }
    fields.update(overrides)
    return JobKindSpec(**fields)


register(
    _bedrock_job(
        id="bedrock-model-import",
        noun="model import",
        plural_path="model_import_jobs",
        arn_type="model-import-job",
        result_key="modelImportJobSummaries",
        action_noun="ModelImportJob",
        console_fragment="imported-models",
        failure_in_list=False,
    )
)
register(
    _bedrock_job(
        id="bedrock-model-copy",
        noun="model copy",
        plural_path="model_copy_jobs",
        arn_type="model-copy-job",
        result_key="modelCopyJobSummaries",
        action_noun="ModelCopyJob",
        console_fragment="custom-models",
        # Copy jobs have no name of their own; the target model's name is what people recognise.
        name_field="targetModelName",
        last_modified_field=None,
        end_time_field=None,
        get_id_param="jobArn",
    )
)
_KB_DISCOVERY = DiscoveryStep(
    client="qconnect",
    list_method="list_knowledge_bases",
    result_key="knowledgeBaseSummaries",
    id_field="knowledgeBaseId",
    status_field="status",
    gone_statuses=frozenset({"DELETED", "DELETE_IN_PROGRESS"}),
    max_page_size=100,
    parent_param=None,
    id_param="knowledgeBaseId",
    iam=IamGrant(("wisdom:ListKnowledgeBases",), None),
    id_pattern=_UUID,
    id_form="lower-case UUIDs",
    noun="knowledge base",
)
register(
    JobKindSpec(
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
        status_filter_param=None,
        get_method="get_import_job",
        get_id_param="importJobId",
        get_result_key="importJob",
        statuses=MappingProxyType(
            {
                "START_IN_PROGRESS": _IN,
                "COMPLETE": StatusCategory.SUCCEEDED,
                "FAILED": StatusCategory.FAILED,
                "DELETE_IN_PROGRESS": _IN,
                "DELETE_FAILED": StatusCategory.FAILED,
                "DELETED": StatusCategory.DELETED,
            }
        ),
        jobs_console_url="https://{region}.console.aws.amazon.com/connect/home?region={region}",
        # Q in Connect authorizes ListImportJobs and GetImportJob on the knowledge base.
        iam=(IamGrant(("wisdom:ListImportJobs", "wisdom:GetImportJob"), "knowledge-base/{0}"),),
        discovery=(_KB_DISCOVERY,),
        scope_setting=ScopeSetting(
            "qconnectKnowledgeBaseIds",
            "QCONNECT_KNOWLEDGE_BASE_IDS",
            "3f2c4a1e-1b2c-4d5e-8f90-a1b2c3d4e5f6,9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
        ),
        # EventBridge's event reference names qconnect.amazonaws.com; the API's endpoint and IAM prefix
        # are wisdom: both are matched (see the AWS facts in docs/performance.md).
        start_event=StartEvent(
            event_sources=("wisdom.amazonaws.com", "qconnect.amazonaws.com"),
            event_names=("StartImportJob",),
            job_id_path=("importJob", "importJobId"),
        ),
    )
)
register(
    _bedrock_job(
        id="bedrock-evaluation",
        noun="evaluation",
        plural_path="evaluation_jobs",
        arn_type="evaluation-job",
        result_key="jobSummaries",
        action_noun="EvaluationJob",
        console_fragment="eval-evaluation",
        end_time_field=None,
        # The summary has no failure; GetEvaluationJob has a list of messages.
        failure_field="failureMessages",
        failure_in_list=False,
        statuses=MappingProxyType(
            # Deleting leads to the job's disappearance, which is announced as such.
            {**_STOPPABLE_BEDROCK_STATUSES, "Deleting": _IN}
        ),
    )
)
register(
    JobKindSpec(
        id="bedrock-kb-ingestion",
        display_name="Bedrock knowledge base ingestion job",
        detail_type="Bedrock Knowledge Base Ingestion Job Status Change",
        client="bedrock-agent",
        list_method="list_ingestion_jobs",
        list_result_key="ingestionJobSummaries",
        time_filter_param=None,
        time_filter_before_param=None,
        # Documented order: newest first by start time, so paging stops at the window's start.
        sort_params=MappingProxyType({"sortBy": {"attribute": "STARTED_AT", "order": "DESCENDING"}}),
        newest_first=True,
        max_page_size=1000,
        id_field="ingestionJobId",
        name_field="ingestionJobId",
        status_field="status",
        creation_time_field="startedAt",
        last_modified_field="updatedAt",
        end_time_field=None,
        failure_field="failureReasons",
        failure_in_list=False,
        arn_field=None,
        status_filter_param="filters",
        status_filter_style=StatusFilterStyle.FILTER_LIST,
        get_method="get_ingestion_job",
        get_id_param="ingestionJobId",
        get_result_key="ingestionJob",
        statuses=MappingProxyType(
            {
                "STARTING": _IN,
                "IN_PROGRESS": _IN,
                "COMPLETE": StatusCategory.SUCCEEDED,
                "FAILED": StatusCategory.FAILED,
                "STOPPING": StatusCategory.STOPPING,
                "STOPPED": StatusCategory.STOPPED,
            }
        ),
        jobs_console_url=f"{_BEDROCK_CONSOLE}#/knowledge-bases",
        # bedrock-agent's job calls are authorized on the knowledge base.
        iam=(IamGrant(("bedrock:ListIngestionJobs", "bedrock:GetIngestionJob"), "knowledge-base/{0}"),),
        discovery=(
            DiscoveryStep(
                client="bedrock-agent",
                list_method="list_knowledge_bases",
                result_key="knowledgeBaseSummaries",
                id_field="knowledgeBaseId",
                status_field="status",
                gone_statuses=frozenset({"DELETING", "DELETE_UNSUCCESSFUL"}),
                max_page_size=1000,
                parent_param=None,
                id_param="knowledgeBaseId",
                iam=IamGrant(("bedrock:ListKnowledgeBases",), None),
                id_pattern=_BEDROCK_AGENT_ID,
                id_form="10 letters and digits",
                noun="knowledge base",
            ),
            DiscoveryStep(
                client="bedrock-agent",
                list_method="list_data_sources",
                result_key="dataSourceSummaries",
                id_field="dataSourceId",
                status_field="status",
                gone_statuses=frozenset({"DELETING", "DELETE_UNSUCCESSFUL"}),
                max_page_size=1000,
                parent_param="knowledgeBaseId",
                id_param="dataSourceId",
                iam=IamGrant(("bedrock:ListDataSources",), "knowledge-base/{0}"),
                id_pattern=_BEDROCK_AGENT_ID,
                id_form="10 letters and digits",
                noun="data source",
            ),
        ),
        scope_setting=ScopeSetting(
            "bedrockKnowledgeBaseIds", "BEDROCK_KNOWLEDGE_BASE_IDS", "ABCDEFGHIJ,KLMNOPQRST/UVWXYZ0123"
        ),
        detail_fields=("statistics",),
    )
)
register(
    _bedrock_job(
        id="bedrock-customization",
        noun="model customization",
        plural_path="model_customization_jobs",
        arn_type="model-customization-job",
        result_key="modelCustomizationJobSummaries",
        action_noun="ModelCustomizationJob",
        console_fragment="custom-models",
        # The summary has no failure message; GetModelCustomizationJob has it.
        failure_in_list=False,
        statuses=_STOPPABLE_BEDROCK_STATUSES,
        enabled_by_default=False,
        native_detail_type="Model Customization Job State Change",
    )
)
register(
    _bedrock_job(
        id="bedrock-batch-inference",
        noun="batch inference",
        plural_path="model_invocation_jobs",
        arn_type="model-invocation-job",
        result_key="invocationJobSummaries",
        action_noun="ModelInvocationJob",
        console_fragment="batch-inference",
        # Batch inference filters and reports on submission time, not creation time.
        time_filter_param="submitTimeAfter",
        time_filter_before_param="submitTimeBefore",
        creation_time_field="submitTime",
        failure_field="message",
        # GetModelInvocationJob's path is singular: /model-invocation-job/{jobIdentifier}.
        get_method="get_model_invocation_job",
        statuses=MappingProxyType(
            {
                "Submitted": _IN,
                "Validating": _IN,
                "Scheduled": _IN,
                "InProgress": _IN,
                "Completed": StatusCategory.SUCCEEDED,
                "PartiallyCompleted": StatusCategory.PARTIAL,
                "Failed": StatusCategory.FAILED,
                "Stopping": StatusCategory.STOPPING,
                "Stopped": StatusCategory.STOPPED,
                "Expired": StatusCategory.EXPIRED,
            }
        ),
        detail_fields=("totalRecordCount", "processedRecordCount", "successRecordCount", "errorRecordCount"),
        enabled_by_default=False,
        native_detail_type="Batch Inference Job State Change",
    )
)
