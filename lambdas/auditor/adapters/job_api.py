"""Reads the job control planes with boto3 paginators, driven entirely by each JobKindSpec."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from auditor.domain.events import TRUNCATION_MARK
from auditor.domain.jobs import JobKindSpec, JobState, ObservedJob, Source
from auditor.ports import Listing, SourceError, Stopped

logger = logging.getLogger(__name__)

ClientProvider = Callable[[str, str], Any]
_GONE_KB_STATUSES = frozenset({"DELETED", "DELETE_IN_PROGRESS"})
# Characters of a failure message kept in state: at 4 bytes a character, twice, well under 400 KB.
MAX_STORED_FAILURE_MESSAGE = 16_000
# What botocore raises on a response it cannot parse (an unparseable timestamp is a ValueError): a
# failure of that source, not of the whole run.
_MALFORMED = (ResponseParserError, ValueError)


def _storable(value: object) -> Any:
    """Text as DynamoDB and JSON can hold it: a lone surrogate (invalid UTF-8) would fail every write
    of the job for ever, so it becomes U+FFFD. Anything else is returned unchanged."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def _bounded(message: str | None) -> str | None:
    """A failure message as stored: the job item holds it twice while a claim is open (the state and
    the claimed transition), and an item is limited to 400 KB. Events cut it further (4,000)."""
    if message is None or len(message) <= MAX_STORED_FAILURE_MESSAGE:
        return message
    return message[: MAX_STORED_FAILURE_MESSAGE - len(TRUNCATION_MARK)] + TRUNCATION_MARK


def _as_utc(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def parse_job(
    kind: JobKindSpec, item: Mapping[str, Any], listing: Listing | None = None
) -> ObservedJob | None:
    """Normalise one API item; None (and a counted skip) when a field the auditor needs is missing."""

    def skip(reason: str) -> None:
        if listing is not None:
            listing.skip(reason)
        logger.warning("job skipped", extra={"reason": reason, "jobKind": kind.id, "item": dict(item)})

    job_id = _storable(item.get(kind.id_field))
    if not isinstance(job_id, str) or not job_id:
        skip("missing-job-id")
        return None
    status = _storable(item.get(kind.status_field))
    if not isinstance(status, str) or not status:
        skip("missing-status")
        return None
    created_at = _as_utc(item.get(kind.creation_time_field))
    if created_at is None:
        skip("missing-creation-time")
        return None

    def optional_time(name: str | None) -> datetime | None:
        return _as_utc(item.get(name)) if name else None

    def optional_text(name: str | None) -> str | None:
        value = item.get(name) if name else None
        return _storable(value) if isinstance(value, str) and value else None

    return ObservedJob(
        job_id=job_id,
        status=status,
        created_at=created_at,
        name=optional_text(kind.name_field),
        arn=optional_text(kind.arn_field),
        last_modified_at=optional_time(kind.last_modified_field),
        ended_at=optional_time(kind.end_time_field),
        failure_message=_bounded(optional_text(kind.failure_field)),
    )


class BotoJobApi:
    """`JobApi` over the real SDK clients."""

    def __init__(self, clients: ClientProvider) -> None:
        self._clients = clients
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def api_calls(self, source: Source) -> int:
        return self._calls[source.key]

    def _count(self, key: str) -> None:
        with self._lock:
            self._calls[key] += 1

    def list_jobs(
        self, source: Source, created_after: datetime, should_stop: Callable[[], bool] | None = None
    ) -> Listing:
        kind = source.kind
        client = self._clients(kind.client, source.region)
        params: dict[str, Any] = dict(kind.sort_params)
        if kind.time_filter_param:
            params[kind.time_filter_param] = created_after
        if kind.scope_param:
            params[kind.scope_param] = source.knowledge_base_id
        listing = Listing()
        tokens: set[str] = set()
        try:
            paginator = client.get_paginator(kind.list_method)
            pages = paginator.paginate(**params, PaginationConfig={"PageSize": kind.max_page_size})
            for page in pages:
                self._count(source.key)
                listing.pages += 1
                token = page.get("nextToken")
                # The SDK only catches a token repeated back to back; a cycle would page for ever.
                if token in tokens:
                    raise SourceError(
                        f"{source.key}: the API returned nextToken {token[:40]!r} again after "
                        f"{listing.pages} pages; listing stopped",
                        code="PaginationLoop",
                    )
                if token:
                    tokens.add(token)
                for item in page.get(kind.list_result_key) or []:
                    job = parse_job(kind, item, listing)
                    if job is None:
                        continue
                    # Without a time filter every job the API keeps comes back: drop the older ones page
                    # by page, so memory follows the window, not the history.
                    if kind.time_filter_param is None and job.created_at < created_after:
                        continue
                    listing.jobs.append(job)
                if should_stop is not None and page.get("nextToken") and should_stop():
                    raise Stopped(f"{source.key}: time budget reached after {listing.pages} pages")
        except ClientError as exc:
            raise _source_error(source, exc) from exc
        except BotoCoreError as exc:
            raise SourceError(f"{source.key}: {exc}", code=type(exc).__name__) from exc
        except _MALFORMED as exc:
            raise _malformed(source, exc) from exc
        return listing

    def get_job(self, source: Source, job: JobState) -> ObservedJob | None:
        kind = source.kind
        client = self._clients(kind.client, source.region)
        params: dict[str, Any] = {kind.get_id_param: job.job_id}
        if kind.scope_param:
            params[kind.scope_param] = source.knowledge_base_id
        self._count(source.key)
        try:
            response = getattr(client, kind.get_method)(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise _source_error(source, exc) from exc
        except BotoCoreError as exc:
            raise SourceError(f"{source.key}: {exc}", code=type(exc).__name__) from exc
        except _MALFORMED as exc:
            raise _malformed(source, exc) from exc
        item = response[kind.get_result_key] if kind.get_result_key else response
        return parse_job(kind, item)

    def list_knowledge_bases(self, account: str, region: str) -> list[str]:
        client = self._clients("qconnect", region)
        ids: list[str] = []
        try:
            for page in client.get_paginator("list_knowledge_bases").paginate(
                PaginationConfig={"PageSize": 100}
            ):
                for kb in page.get("knowledgeBaseSummaries") or []:
                    if kb.get("status") not in _GONE_KB_STATUSES and kb.get("knowledgeBaseId"):
                        ids.append(kb["knowledgeBaseId"])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Error")
            raise SourceError(f"{account}/{region}: ListKnowledgeBases failed: {exc}", code=code) from exc
        except BotoCoreError as exc:
            raise SourceError(f"{account}/{region}: {exc}", code=type(exc).__name__) from exc
        return ids


def _malformed(source: Source, exc: Exception) -> SourceError:
    return SourceError(f"{source.key}: malformed response: {exc}", code="MalformedResponse")


def _source_error(source: Source, exc: ClientError) -> SourceError:
    error = exc.response.get("Error", {})
    return SourceError(f"{source.key}: {error.get('Message') or exc}", code=error.get("Code", "Error"))
