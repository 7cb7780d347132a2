"""Reads the job control planes with boto3 paginators, driven entirely by each JobKindSpec."""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.domain.events import TRUNCATION_MARK
from job_auditor.auditor.domain.jobs import JobKindSpec, JobState, ObservedJob, Source
from job_auditor.auditor.ports import MALFORMED_RESPONSE, Listing, ListingPage, SourceError, Stopped
from job_auditor.contract.kinds import DiscoveryStep, StatusFilterStyle

logger = logging.getLogger(__name__)

# The client of a registry-chosen service by name, per (service, region). Which service, list and get
# operation a kind calls is data (contract.kinds), so the calls go by name on a plain botocore client:
# no typed client of the stubs can be named here, and the responses are checked as they are read.
# A plain provider serves one account (its credentials'); a ClientFactory serves each source's account
# through `for_account` (accounts.AccountClients: the member accounts' roles).
ClientProvider = Callable[[str, str], BaseClient]
# What AWS answers where the caller's credentials are not valid in a region: an opt-in region the
# account has not enabled (or a service not enabled there).
_REGION_NOT_ENABLED = frozenset({"UnrecognizedClientException", "InvalidClientTokenId", "OptInRequired"})
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
        failure_message=_bounded(_failure_text(item.get(kind.failure_field) if kind.failure_field else None)),
        details=_job_details(kind, item),
    )


def _failure_text(value: object) -> str | None:
    """A failure message, or a list of reasons (evaluation, ingestion) joined with "; "."""
    if isinstance(value, list):
        value = "; ".join(str(_storable(v)) for v in value if isinstance(v, str) and v)
    return _storable(value) if isinstance(value, str) and value else None


def _job_details(kind: JobKindSpec, item: Mapping[str, Any]) -> Mapping[str, Any]:
    """The kind's detail fields present in the item, as JSON values (ingestion statistics, record
    counts); a member of another shape is left out rather than failing the job."""
    details: dict[str, Any] = {}
    for name in kind.detail_fields:
        value = item.get(name)
        if isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if isinstance(v, (int, float, str, bool))}
        if isinstance(value, (int, float, str, bool, dict)) and value != {}:
            details[name] = value
    return MappingProxyType(details)


class BotoJobApi:
    """`JobApi` over the real SDK clients."""

    def __init__(self, clients: ClientProvider | ClientFactory) -> None:
        self._clients = clients
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _client(self, source: Source, service: str) -> BaseClient:
        """The client of `service` in the source's account and region (built on first use)."""
        clients = self._clients
        if isinstance(clients, ClientFactory):
            return clients.for_account(source.account)(service, source.region)
        return clients(service, source.region)

    def check_access(self, source: Source) -> None:
        # A factory of member accounts assumes the account's role here; the source's clients are
        # built when it first calls.
        if isinstance(self._clients, ClientFactory):
            with _translated(source.key):
                self._clients.check_credentials(source.account, source.region)

    def api_calls(self, source: Source) -> int:
        return self._calls[source.key]

    def _count(self, key: str) -> None:
        with self._lock:
            self._calls[key] += 1

    def _pages(
        self,
        client: BaseClient,
        operation: str,
        params: Mapping[str, Any],
        page_size: int,
        label: str,
        count_as: str,
    ) -> Iterator[Mapping[str, Any]]:
        """Every page of a list operation, with the guards every listing needs: a nextToken the API
        hands out twice (a cycle would page for ever; the SDK only catches one repeated back to back)
        ends the listing, and so does a page that is not an object."""
        tokens: set[str] = set()
        pages = iter(
            client.get_paginator(operation).paginate(**params, PaginationConfig={"PageSize": page_size})
        )
        for number in itertools.count(1):
            try:
                page = next(pages)
            except StopIteration:
                return
            except (AttributeError, TypeError) as exc:
                # botocore's parser meets a string where the model has an object, and so on.
                self._count(count_as)
                raise _malformed(label, exc) from exc
            self._count(count_as)
            if not isinstance(page, Mapping):
                raise SourceError(f"{label}: page {number} is not an object", code=MALFORMED_RESPONSE)
            token = page.get("nextToken")
            if isinstance(token, str) and token in tokens:
                raise SourceError(
                    f"{label}: the API returned nextToken {token[:40]!r} again after {number} pages; "
                    "listing stopped",
                    code="PaginationLoop",
                )
            if isinstance(token, str):
                tokens.add(token)
            yield page

    def list_jobs(
        self,
        source: Source,
        created_after: datetime | None,
        should_stop: Callable[[], bool] | None = None,
        status: str | None = None,
        created_before: datetime | None = None,
    ) -> Listing:
        spec = source.spec
        params = _list_params(source, created_after, status, created_before)
        listing = Listing()
        with _translated(source.key):
            client = self._client(source, spec.client)
            pages = self._pages(client, spec.list_method, params, spec.max_page_size, source.key, source.key)
            for page in pages:
                listing.pages += 1
                for item in _items(page, spec.list_result_key, listing):
                    job = parse_job(spec, item, listing)
                    if job is None:
                        continue
                    if created_after is not None and job.created_at < created_after:
                        _older(source, job, listing)
                        continue
                    listing.jobs.append(job)
                if _ends_before(spec, page, created_after):
                    break
                if should_stop is not None and page.get("nextToken") and should_stop():
                    raise Stopped(f"{source.key}: time budget reached after {listing.pages} pages")
        return listing

    def list_pages(
        self, source: Source, should_stop: Callable[[], bool] | None = None, start_token: str | None = None
    ) -> Iterator[ListingPage]:
        spec = source.spec
        params = _list_params(source, None, None, None)
        if start_token is not None:
            # The API's own token as the first request's: botocore's StartingToken would read a token
            # holding "___" as its own legacy format.
            params["nextToken"] = start_token
        with _translated(source.key):
            client = self._client(source, spec.client)
            pages = self._pages(client, spec.list_method, params, spec.max_page_size, source.key, source.key)
            for page in pages:
                token = page.get("nextToken")
                out = ListingPage(next_token=token if isinstance(token, str) and token else None)
                out.pages = 1
                for item in _items(page, spec.list_result_key, out):
                    job = parse_job(spec, item, out)
                    if job is not None:
                        out.jobs.append(job)
                yield out
                if out.next_token and should_stop is not None and should_stop():
                    raise Stopped(f"{source.key}: time budget reached after a page")

    def get_job(self, source: Source, job: JobState) -> ObservedJob | None:
        spec = source.spec
        params: dict[str, Any] = {spec.get_id_param: job.job_id, **source.scope_params}
        with _translated(source.key):
            client = self._client(source, spec.client)
            self._count(source.key)
            try:
                response = getattr(client, spec.get_method)(**params)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return None
                raise
        item = response.get(spec.get_result_key) if spec.get_result_key else response
        if not isinstance(item, Mapping):
            raise SourceError(
                f"{source.key}: {spec.get_method} returned no job object", code=MALFORMED_RESPONSE
            )
        current = parse_job(spec, item)
        if current is None:
            # An answer, not "not found": counted as a miss, it would announce a running job as
            # disappeared, and no longer follow it.
            raise SourceError(
                f"{source.key}: {spec.get_method} returned a job without a field the auditor needs",
                code=MALFORMED_RESPONSE,
            )
        return current

    def list_scope(self, scope: Source, step: DiscoveryStep, parent_ids: tuple[str, ...]) -> list[str]:
        params = {step.parent_param: parent_ids[-1]} if step.parent_param and parent_ids else {}
        label = "/".join((scope.key, *parent_ids)) + f": {step.list_method}"
        ids: list[str] = []
        skipped = Listing()
        with _translated(label):
            client = self._client(scope, step.client)
            pages = self._pages(client, step.list_method, params, step.max_page_size, label, scope.key)
            for page in pages:
                for resource in _items(page, step.result_key, skipped):
                    resource_id = resource.get(step.id_field)
                    if not isinstance(resource_id, str) or not resource_id:
                        skipped.skip(f"missing-{step.id_field}")
                    elif resource.get(step.status_field) not in step.gone_statuses:
                        ids.append(resource_id)
        if skipped.skipped:
            logger.warning("scope resources skipped", extra={"source": label, "skipped": skipped.skipped})
        return ids


def _list_params(
    source: Source, created_after: datetime | None, status: str | None, created_before: datetime | None
) -> dict[str, Any]:
    spec = source.spec
    params: dict[str, Any] = dict(spec.sort_params)
    filters = (
        (spec.time_filter_param, created_after),
        (spec.time_filter_before_param, created_before),
        (spec.status_filter_param, _status_filter(spec, status)),
    )
    params.update({name: value for name, value in filters if name and value is not None})
    params.update(source.scope_params)
    return params


def _status_filter(spec: JobKindSpec, status: str | None) -> object:
    if status is None or spec.status_filter_style is StatusFilterStyle.EQUALS:
        return status
    return [{"attribute": "STATUS", "operator": "EQ", "values": [status]}]


def _ends_before(spec: JobKindSpec, page: Mapping[str, Any], created_after: datetime | None) -> bool:
    """Whether a newest-first listing has reached the window's start: its page's last job began
    before it, so every later page is older still (the order is the API's documented sort)."""
    if not spec.newest_first or created_after is None:
        return False
    items = page.get(spec.list_result_key) or []
    last = items[-1] if isinstance(items, list) and items else None
    started = _as_utc(last.get(spec.creation_time_field)) if isinstance(last, Mapping) else None
    return started is not None and started < created_after


def _older(source: Source, job: ObservedJob, listing: Listing) -> None:
    """Without a time filter every job the API keeps comes back: the older ones are dropped page by
    page, so memory follows the window, not the history. With one, an older job is the API's error:
    counted."""
    if source.spec.time_filter_param:
        listing.skip("created-before-window")
        logger.warning(
            "job older than the time filter ignored", extra={"source": source.key, "job": job.job_id}
        )


def _items(page: Mapping[str, Any], key: str, listing: Listing) -> Iterator[Mapping[str, Any]]:
    """The page's items that are objects; anything else is a counted skip."""
    items = page.get(key) or []
    if not isinstance(items, list):
        raise SourceError(f"{key} is not a list", code=MALFORMED_RESPONSE)
    for item in items:
        if isinstance(item, Mapping):
            yield item
        else:
            listing.skip("malformed-item")
            logger.warning("list item skipped: not an object", extra={"key": key, "item": repr(item)[:200]})


@contextmanager
def _translated(label: str) -> Iterator[None]:
    """The SDK's errors, and responses it could not parse, as the failure of one source (`label`)."""
    try:
        yield
    except ClientError as exc:
        raise _source_error(label, exc) from exc
    except BotoCoreError as exc:
        raise SourceError(f"{label}: {exc}", code=type(exc).__name__) from exc
    except _MALFORMED as exc:
        raise _malformed(label, exc) from exc


def _malformed(label: str, exc: Exception) -> SourceError:
    return SourceError(f"{label}: malformed response: {exc}", code=MALFORMED_RESPONSE)


def _source_error(label: str, exc: ClientError) -> SourceError:
    error = exc.response.get("Error", {})
    code = error.get("Code", "Error")
    message = error.get("Message") or str(exc)
    if code in _REGION_NOT_ENABLED:
        message += " (the region may not be enabled for this account: opt-in regions must be enabled first)"
    return SourceError(f"{label}: {message}", code=code)
