"""How the auditor learns of new jobs, shared by the CDK construct (infra/start_discovery.py), the Lambda
(adapters/start_queue.py) and the simulator. Standard library only.

`listing` (the default): every run lists each source's window. `cloudtrail`: the kinds whose Start call
CloudTrail records as a management event (`JobKindSpec.start_event`) are announced through a rule on
the default event bus into an SQS queue; a run drains it, follows announced and in-flight jobs with
Get, and lists such a source in full only in its reconciliation sweep.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from job_auditor.contract.kinds import JOB_KINDS, JobKindSpec

LISTING = "listing"
CLOUDTRAIL = "cloudtrail"
DISCOVERY_MODES = (LISTING, CLOUDTRAIL)
# The Lambda's variable naming the queue; set only in cloudtrail mode.
START_QUEUE_URL = "START_QUEUE_URL"
# What EventBridge calls every API call CloudTrail delivers.
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"


def announced_kinds(kind_ids: Iterable[str]) -> tuple[JobKindSpec, ...]:
    """The kinds of `kind_ids` whose job starts CloudTrail announces."""
    return tuple(JOB_KINDS[k] for k in kind_ids if JOB_KINDS[k].start_event is not None)


def event_source_name(event_source: str) -> str:
    """An event's `source` on EventBridge for a CloudTrail `eventSource`: wisdom.amazonaws.com ->
    aws.wisdom."""
    return "aws." + event_source.split(".", 1)[0]


def start_event_pattern(kind_ids: Iterable[str]) -> dict[str, Any] | None:
    """The event pattern of the rule on the default bus: the successful Start calls of the announced
    kinds among `kind_ids` (None: none is announced). The adapter checks each event's pairing of
    source, event source and name again, so one pattern serves every kind."""
    specs = announced_kinds(kind_ids)
    sources = [s for spec in specs if spec.start_event for s in spec.start_event.event_sources]
    names = [n for spec in specs if spec.start_event for n in spec.start_event.event_names]
    if not specs:
        return None
    return {
        "source": sorted({event_source_name(s) for s in sources}),
        "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
        "detail": {
            "eventSource": sorted(set(sources)),
            "eventName": sorted(set(names)),
            # A refused call started nothing.
            "errorCode": [{"exists": False}],
        },
    }
