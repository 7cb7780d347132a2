"""CloudTrail's side of discovery=cloudtrail: when a job starts in the simulator, the event CloudTrail
would deliver to the account's default EventBridge bus (detail-type "AWS API Call via CloudTrail", the
kind's Start call with its request parameters and the new job in its response elements) is put on
moto's default bus, where the rule the stack creates routes it to the auditor's queue.

Only kinds with a `start_event` in the registry are announced. `enabled` switches the trail off and on
(a trail that stops logging); `lose` drops chosen events (CloudTrail delivers on a best-effort basis).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from job_auditor.contract.discovery import CLOUDTRAIL_DETAIL_TYPE, event_source_name
from job_auditor.contract.kinds import JobKindSpec

# PutEvents takes ten entries a call.
_BATCH = 10


def start_call_event(
    spec: JobKindSpec, account: str, region: str, scope_ids: Sequence[str], job_id: str, at: datetime
) -> dict[str, Any]:
    """The PutEvents entry of one Start call as CloudTrail records it (the fields the auditor reads,
    and the usual envelope around them)."""
    start = spec.start_event
    if start is None:
        raise ValueError(f"{spec.id}: CloudTrail does not announce its starts")
    response: dict[str, Any] = {}
    cursor = response
    for part in start.job_id_path[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[start.job_id_path[-1]] = job_id
    event_source = start.event_sources[0]
    detail = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "AssumedRole", "accountId": account},
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": event_source,
        "eventName": start.event_names[0],
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "simulator",
        "requestParameters": dict(zip(spec.scope_params, scope_ids, strict=False)),
        "responseElements": response,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    return {
        "Time": at,
        "Source": event_source_name(event_source),
        "DetailType": CLOUDTRAIL_DETAIL_TYPE,
        "Detail": json.dumps(detail),
    }


class CloudTrailAnnouncer:
    """Puts the Start-call events of jobs started in a plane on the default bus of `events` (a moto
    EventBridge client of the plane's account and region)."""

    def __init__(self, events: Any, account: str) -> None:
        self._events = events
        self._account = account
        self.enabled = True
        self.lose: Callable[[str], bool] = lambda _job_id: False
        self.announced = 0

    def __call__(
        self, spec: JobKindSpec, region: str, scope_ids: tuple[str, ...], jobs: Sequence[tuple[str, datetime]]
    ) -> None:
        if not self.enabled or spec.start_event is None:
            return
        entries = [
            start_call_event(spec, self._account, region, scope_ids, job_id, at)
            for job_id, at in jobs
            if not self.lose(job_id)
        ]
        for start in range(0, len(entries), _BATCH):
            self._events.put_events(Entries=entries[start : start + _BATCH])
        self.announced += len(entries)
