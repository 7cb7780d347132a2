"""The seven AWS operations: request validation and filtering (paging in `simulator.paging`, the JSON
in `simulator.wire`).

Independent of HTTP: each handler takes the plane, the region, the decoded path parameters and the
query string, and returns the JSON body or raises `ApiError`.

Default page size when maxResults is absent: 100 for Bedrock (maximum 1000) and 100 for Q in Connect
(maximum 100).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simulator.errors import ApiError, constraint, not_found, validation
from simulator.paging import binding_of, creation_bounds, decode_token, encode_token, scan
from simulator.records import KnowledgeBase, to_micros
from simulator.sorted_index import SortedIndex
from simulator.state import ControlPlane
from simulator.wire import (
    Body,
    render_copy_job,
    render_import_job,
    render_import_job_summary,
    render_knowledge_base,
    render_q_import_job,
    render_q_import_job_summary,
)

BEDROCK_DEFAULT_PAGE_SIZE = 100
BEDROCK_MAX_PAGE_SIZE = 1000
QCONNECT_DEFAULT_PAGE_SIZE = 100
QCONNECT_MAX_PAGE_SIZE = 100

BEDROCK_STATUS_ENUM = ("InProgress", "Completed", "Failed")
_UUID = r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"
_UUID_RE = re.compile(_UUID)
_KB_ARN_RE = re.compile(rf"arn:[a-z-]*?:wisdom:[a-z0-9-]*?:[0-9]{{12}}:[a-z-]*?/({_UUID})(?:/{_UUID}){{0,2}}")
_IMPORT_JOB_ARN_RE = re.compile(
    r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-import-job/[a-z0-9]{12}"
)
_COPY_JOB_ARN_RE = re.compile(
    r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-copy-job/[a-z0-9]{12}"
)
_JOB_NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*")
_MODEL_NAME_RE = re.compile(r"([0-9a-zA-Z][_-]?){1,63}")
_ACCOUNT_RE = re.compile(r"[0-9]{12}")

Query = Mapping[str, str]


# -- request validation ----------------------------------------------------------------------------


def _max_results(query: Query, default: int, maximum: int) -> int:
    raw = query.get("maxResults")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise validation(f"Value '{raw}' at 'maxResults' is not a valid integer") from None
    if value < 1:
        raise constraint(value, "maxResults", "have value greater than or equal to 1")
    if value > maximum:
        raise constraint(value, "maxResults", f"have value less than or equal to {maximum}")
    return value


def _timestamp(query: Query, name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise validation(f"Value '{raw}' at '{name}' is not a valid ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return to_micros(parsed)


def _enum(query: Query, name: str, allowed: tuple[str, ...]) -> str | None:
    value = query.get(name)
    if value is not None and value not in allowed:
        raise constraint(value, name, f"satisfy enum value set: [{', '.join(allowed)}]")
    return value


def _pattern(query: Query, name: str, pattern: re.Pattern[str], max_len: int | None = None) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    if max_len is not None and not 1 <= len(value) <= max_len:
        raise constraint(value, name, f"have length between 1 and {max_len}")
    if not pattern.fullmatch(value):
        raise constraint(value, name, f"satisfy regular expression pattern: {pattern.pattern}")
    return value


def _list_bedrock(
    plane: ControlPlane,
    region: str,
    query: Query,
    operation: str,
    index_of: Callable[[ControlPlane, str], SortedIndex[tuple[int, int], Any]],
    extra_filters: Mapping[str, str | None],
    keep_extra: Callable[[Any], bool],
) -> tuple[list[Any], str | None]:
    limit = _max_results(query, BEDROCK_DEFAULT_PAGE_SIZE, BEDROCK_MAX_PAGE_SIZE)
    after = _timestamp(query, "creationTimeAfter")
    before = _timestamp(query, "creationTimeBefore")
    status = _enum(query, "statusEquals", BEDROCK_STATUS_ENUM)
    _enum(query, "sortBy", ("CreationTime",))
    order = _enum(query, "sortOrder", ("Ascending", "Descending")) or "Descending"
    descending = order == "Descending"
    binding = binding_of(
        operation,
        region,
        {
            "creationTimeAfter": str(after),
            "creationTimeBefore": str(before),
            "statusEquals": status,
            "sortOrder": order,
            **extra_filters,
        },
    )
    cursor: tuple[int, int] | None = None
    token = query.get("nextToken")
    if token is not None:
        raw = decode_token(token, binding)
        cursor = (int(raw[0]), int(raw[1]))

    def keep(job: Any) -> bool:
        return (status is None or job.status == status) and keep_extra(job) and plane.listed(job)

    with plane.lock:
        index = index_of(plane, region)
        lo, hi = creation_bounds(index, after, before, cursor, descending)
        page = scan(index, lo, hi, descending, keep, limit)
        next_token = encode_token(binding, list(page.next_key)) if page.next_key is not None else None
        return page.items, next_token


# -- Bedrock ---------------------------------------------------------------------------------------


def list_model_import_jobs(plane: ControlPlane, region: str, path: Mapping[str, str], query: Query) -> Body:
    """GET /model-import-jobs."""
    name_contains = _pattern(query, "nameContains", _JOB_NAME_RE, 63)
    items, token = _list_bedrock(
        plane,
        region,
        query,
        "ListModelImportJobs",
        lambda p, r: p.region(r).import_jobs,
        {"nameContains": name_contains},
        lambda job: name_contains is None or name_contains in job.name,
    )
    with plane.lock:
        body: Body = {"modelImportJobSummaries": [render_import_job_summary(j) for j in items]}
    if token:
        body["nextToken"] = token
    return body


def get_model_import_job(plane: ControlPlane, region: str, path: Mapping[str, str], query: Query) -> Body:
    """GET /model-import-jobs/{jobIdentifier} (ARN or job name)."""
    ident = path["jobIdentifier"]
    if len(ident) > 1011 or not (_IMPORT_JOB_ARN_RE.fullmatch(ident) or _JOB_NAME_RE.fullmatch(ident)):
        raise constraint(ident, "jobIdentifier", "satisfy regular expression pattern")
    with plane.lock:
        state = plane.region(region)
        job = state.import_jobs_by_arn.get(ident) or state.import_jobs_by_name.get(ident)
        if job is None:
            raise not_found(f"The specified model import job {ident} could not be found.")
        return render_import_job(job)


def list_model_copy_jobs(plane: ControlPlane, region: str, path: Mapping[str, str], query: Query) -> Body:
    """GET /model-copy-jobs."""
    account = _pattern(query, "sourceAccountEquals", _ACCOUNT_RE)
    source_arn = query.get("sourceModelArnEquals")
    if source_arn is not None and not 20 <= len(source_arn) <= 1011:
        raise constraint(source_arn, "sourceModelArnEquals", "have length between 20 and 1011")
    target = _pattern(query, "outputModelNameContains", _MODEL_NAME_RE, 63)
    items, token = _list_bedrock(
        plane,
        region,
        query,
        "ListModelCopyJobs",
        lambda p, r: p.region(r).copy_jobs,
        {"sourceAccountEquals": account, "sourceModelArnEquals": source_arn, "targetNameContains": target},
        lambda job: (
            (account is None or job.source_account_id == account)
            and (source_arn is None or job.source_model_arn == source_arn)
            and (target is None or target in job.target_model_name)
        ),
    )
    with plane.lock:
        body: Body = {"modelCopyJobSummaries": [render_copy_job(j) for j in items]}
    if token:
        body["nextToken"] = token
    return body


def get_model_copy_job(plane: ControlPlane, region: str, path: Mapping[str, str], query: Query) -> Body:
    """GET /model-copy-jobs/{jobArn}."""
    arn = path["jobArn"]
    if not _COPY_JOB_ARN_RE.fullmatch(arn):
        raise constraint(arn, "jobArn", f"satisfy regular expression pattern: {_COPY_JOB_ARN_RE.pattern}")
    with plane.lock:
        job = plane.region(region).copy_jobs_by_arn.get(arn)
        if job is None:
            raise not_found(f"The specified model copy job {arn} could not be found.")
        return render_copy_job(job)


# -- Q in Connect ----------------------------------------------------------------------------------


def knowledge_base_id_of(raw: str) -> str:
    """The UUID a knowledgeBaseId path value names (the UUID itself or the knowledge base ARN)."""
    if _UUID_RE.fullmatch(raw):
        return raw
    match = _KB_ARN_RE.fullmatch(raw)
    if match is None:
        raise constraint(raw, "knowledgeBaseId", "satisfy regular expression pattern: a UUID or an ARN")
    return match.group(1)


def _knowledge_base(plane: ControlPlane, region: str, raw: str) -> KnowledgeBase:
    kb = plane.region(region).kb_by_id.get(knowledge_base_id_of(raw))
    if kb is None:
        raise not_found(f"Knowledge base {raw} not found")
    return kb


def _list_by_id(
    index: SortedIndex[str, Any],
    query: Query,
    binding: str,
    limit: int,
    keep: Callable[[Any], bool] = lambda _: True,
) -> tuple[list[Any], str | None]:
    lo = 0
    token = query.get("nextToken")
    if token is not None:
        lo = index.bisect_right(str(decode_token(token, binding)[0]))
    page = scan(index, lo, len(index), False, keep, limit)
    return page.items, encode_token(binding, [page.next_key]) if page.next_key is not None else None


def list_import_jobs(plane: ControlPlane, region: str, path: Mapping[str, str], query: Query) -> Body:
    """GET /knowledgeBases/{knowledgeBaseId}/importJobs; ordered by import job id, not creation."""
    limit = _max_results(query, QCONNECT_DEFAULT_PAGE_SIZE, QCONNECT_MAX_PAGE_SIZE)
    with plane.lock:
        kb = _knowledge_base(plane, region, path["knowledgeBaseId"])
        binding = binding_of("ListImportJobs", region, {"knowledgeBaseId": kb.knowledge_base_id})
        jobs = plane.region(region).kb_jobs[kb.knowledge_base_id]
        items, token = _list_by_id(jobs, query, binding, limit, plane.listed)
        body: Body = {"importJobSummaries": [render_q_import_job_summary(j) for j in items]}
    if token:
        body["nextToken"] = token
    return body


def get_import_job(plane: ControlPlane, region: str, path: Mapping[str, str], query: Query) -> Body:
    """GET /knowledgeBases/{knowledgeBaseId}/importJobs/{importJobId}."""
    job_id = path["importJobId"]
    if not _UUID_RE.fullmatch(job_id):
        raise constraint(job_id, "importJobId", f"satisfy regular expression pattern: {_UUID}")
    with plane.lock:
        kb = _knowledge_base(plane, region, path["knowledgeBaseId"])
        index = plane.region(region).kb_jobs[kb.knowledge_base_id]
        at = index.bisect_left(job_id)
        if at == len(index) or index.keys[at] != job_id:
            raise not_found(f"Import job {job_id} not found in knowledge base {kb.knowledge_base_id}")
        return {"importJob": render_q_import_job(index.values[at])}


def list_knowledge_bases(plane: ControlPlane, region: str, path: Mapping[str, str], query: Query) -> Body:
    """GET /knowledgeBases; ordered by knowledge base id."""
    limit = _max_results(query, QCONNECT_DEFAULT_PAGE_SIZE, QCONNECT_MAX_PAGE_SIZE)
    binding = binding_of("ListKnowledgeBases", region, {})
    with plane.lock:
        items, token = _list_by_id(plane.region(region).knowledge_bases, query, binding, limit)
        body: Body = {"knowledgeBaseSummaries": [render_knowledge_base(kb) for kb in items]}
    if token:
        body["nextToken"] = token
    return body


Handler = Callable[[ControlPlane, str, Mapping[str, str], Query], Body]


@dataclass(frozen=True)
class Route:
    """One hand-written AWS operation: its path template segments (the model's, which the routing
    table in `simulator.modeled` matches) and its handler."""

    operation: str
    service: str
    segments: tuple[str, ...]
    handler: Handler


ROUTES: tuple[Route, ...] = (
    Route("ListModelImportJobs", "bedrock", ("model-import-jobs",), list_model_import_jobs),
    Route("GetModelImportJob", "bedrock", ("model-import-jobs", "{jobIdentifier}"), get_model_import_job),
    Route("ListModelCopyJobs", "bedrock", ("model-copy-jobs",), list_model_copy_jobs),
    Route("GetModelCopyJob", "bedrock", ("model-copy-jobs", "{jobArn}"), get_model_copy_job),
    Route("ListKnowledgeBases", "qconnect", ("knowledgeBases",), list_knowledge_bases),
    Route(
        "ListImportJobs", "qconnect", ("knowledgeBases", "{knowledgeBaseId}", "importJobs"), list_import_jobs
    ),
    Route(
        "GetImportJob",
        "qconnect",
        ("knowledgeBases", "{knowledgeBaseId}", "importJobs", "{importJobId}"),
        get_import_job,
    ),
)


def require_knowledge_base_scope(path: Mapping[str, str]) -> str | None:
    """The knowledge base UUID a call is scoped to (for fault rules), best effort."""
    raw = path.get("knowledgeBaseId")
    if raw is None:
        return None
    try:
        return knowledge_base_id_of(raw)
    except ApiError:
        return raw
