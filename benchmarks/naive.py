"""The poller the auditor is measured against: what one writes first, without the checkpoint.

Each run lists *every* job of every source (no time filter; the API's largest page, so the
difference with the auditor is the filter and the state reads, not the page size), reads each job's
recorded status with one GetItem, and for each change writes the new status with one PutItem and
publishes one PutEvents entry and one SNS Publish per event. Its state table has one item per job
(`jobId` hash key). It is correct (it sees every change) but costs O(total history) per run.
"""

from __future__ import annotations

import json
from typing import Any

NAIVE_TABLE = "naive-jobs"

# (client, list method, result key, id field, status field, page size, extra params)
_BEDROCK = (
    ("bedrock", "list_model_import_jobs", "modelImportJobSummaries", "jobArn", "bedrock-model-import"),
    ("bedrock", "list_model_copy_jobs", "modelCopyJobSummaries", "jobArn", "bedrock-model-copy"),
)


def table_definition() -> dict[str, Any]:
    return {
        "TableName": NAIVE_TABLE,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "jobId", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "jobId", "KeyType": "HASH"}],
    }


class NaivePoller:
    """List everything, GetItem per job, one PutEvents entry and one SNS publish per event."""

    def __init__(self, session: Any, region: str, bus: str, topic_arn: str, source: str) -> None:
        self._bedrock = session.client("bedrock", region_name=region)
        self._qconnect = session.client("qconnect", region_name=region)
        self._db = session.client("dynamodb", region_name=region)
        self._events = session.client("events", region_name=region)
        self._sns = session.client("sns", region_name=region)
        self._bus = bus
        self._topic = topic_arn
        self._source = source

    def _jobs(self) -> list[tuple[str, str, str]]:
        """(kind, job id, status) of every job, every run."""
        jobs: list[tuple[str, str, str]] = []
        for _, method, key, id_field, kind in _BEDROCK:
            paginator = self._bedrock.get_paginator(method)
            for page in paginator.paginate(PaginationConfig={"PageSize": 1000}):
                jobs += [(kind, j[id_field], j["status"]) for j in page.get(key, [])]
        kbs = self._qconnect.get_paginator("list_knowledge_bases")
        for kb_page in kbs.paginate(PaginationConfig={"PageSize": 100}):
            for kb in kb_page.get("knowledgeBaseSummaries", []):
                paginator = self._qconnect.get_paginator("list_import_jobs")
                pages = paginator.paginate(
                    knowledgeBaseId=kb["knowledgeBaseId"], PaginationConfig={"PageSize": 100}
                )
                for page in pages:
                    jobs += [
                        ("qconnect-import", j["importJobId"], j["status"])
                        for j in page.get("importJobSummaries", [])
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
