"""The poller the auditor is measured against: what one writes first, without the checkpoint.

Each run lists *every* job of every source of the kinds it is given (no time filter; the API's
largest page, so the difference with the auditor is the filter and the state reads, not the page
size; list call, result key, id and status fields and scope discovery from each kind's spec), reads
each job's
recorded status with one GetItem, and for each change writes the new status with one PutItem and
publishes one PutEvents entry and one SNS Publish per event. Its state table has one item per job
(`jobId` hash key). It is correct (it sees every change) but costs O(total history) per run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import boto3
from botocore.client import BaseClient

from job_auditor.auditor.adapters.clients import named_client
from job_auditor.contract.kinds import JOB_KINDS, JobKindSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import CreateTableInputTypeDef

NAIVE_TABLE = "naive-jobs"


def table_definition() -> CreateTableInputTypeDef:
    return {
        "TableName": NAIVE_TABLE,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "jobId", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "jobId", "KeyType": "HASH"}],
    }


def _pages(client: BaseClient, method: str, params: dict[str, str], page_size: int) -> Iterator[Any]:
    paginator = client.get_paginator(method)
    yield from paginator.paginate(**params, PaginationConfig={"PageSize": page_size})


class NaivePoller:
    """List everything, GetItem per job, one PutEvents entry and one SNS publish per event."""

    def __init__(
        self,
        session: boto3.session.Session,
        region: str,
        bus: str,
        topic_arn: str,
        source: str,
        kinds: Sequence[str],
    ) -> None:
        self._session = session
        self._region = region
        self._specs = [JOB_KINDS[kind] for kind in kinds]
        self._clients: dict[str, BaseClient] = {}
        self._db = session.client("dynamodb", region_name=region)
        self._events = session.client("events", region_name=region)
        self._sns = session.client("sns", region_name=region)
        self._bus = bus
        self._topic = topic_arn
        self._source = source

    def _client(self, name: str) -> BaseClient:
        """A job API's client, named by the kind."""
        if name not in self._clients:
            self._clients[name] = named_client(self._session, name, region_name=self._region)
        return self._clients[name]

    def _scopes(self, spec: JobKindSpec) -> list[dict[str, str]]:
        """The scope parameters of every list call of a kind: every resource of each level of its
        scope, under every resource of the level above (one empty scope for an unscoped kind)."""
        scopes: list[dict[str, str]] = [{}]
        parent: str | None = None
        for step in spec.discovery:
            found: list[dict[str, str]] = []
            for scope in scopes:
                params = {step.parent_param: scope[parent]} if step.parent_param and parent else {}
                for page in _pages(self._client(step.client), step.list_method, params, step.max_page_size):
                    found += [
                        {**scope, step.id_param: r[step.id_field]} for r in page.get(step.result_key, [])
                    ]
            scopes, parent = found, step.id_param
        return scopes

    def _jobs(self) -> list[tuple[str, str, str]]:
        """(kind, job id, status) of every job, every run."""
        jobs: list[tuple[str, str, str]] = []
        for spec in self._specs:
            client = self._client(spec.client)
            for scope in self._scopes(spec):
                for page in _pages(client, spec.list_method, scope, spec.max_page_size):
                    jobs += [
                        (spec.id, j[spec.id_field], j[spec.status_field])
                        for j in page.get(spec.list_result_key, [])
                    ]
        return jobs

    def run(self) -> dict[str, int]:
        jobs = self._jobs()
        events = 0
        for kind, job_id, status in jobs:
            item = self._db.get_item(TableName=NAIVE_TABLE, Key={"jobId": {"S": job_id}}).get("Item")
            previous = item["status"]["S"] if item else None
            if previous == status:
                continue
            self._db.put_item(TableName=NAIVE_TABLE, Item={"jobId": {"S": job_id}, "status": {"S": status}})
            detail = {"jobKind": kind, "jobId": job_id, "previousStatus": previous, "status": status}
            self._events.put_events(
                Entries=[
                    {
                        "Source": self._source,
                        "DetailType": "Job Status Change",
                        "Detail": json.dumps(detail),
                        "EventBusName": self._bus,
                    }
                ]
            )
            self._sns.publish(TopicArn=self._topic, Message=json.dumps(detail))
            events += 1
        return {"jobsListed": len(jobs), "events": events}
