"""The fan-out's payloads (auditMode=stepfunctions): the field names the state machine
(infra/fanout.py) and its Lambda steps (auditor/fanout.py, auditor/domain/batches.py) share.

    state:   {"plan": <Plan's output>, "map": <the map's result>, "mapError": <its caught error>,
              "summary": <Summarize's output>, "guard": <the Guard's selected result>}
    Plan:    in {"executionName"}; out {"runId", "sourceCount", "itemCount", "accounts",
              "accountListingError"?, "discoveryFailures", "overBound", "skippedSources",
              "stalestSourceAgeSeconds", and "items" (inline) or "itemsBucket" + "itemsKey" (in S3)}
    item:    {"account", "region", "concurrency", "part", "sources", "scopeSeen", "records"?,
              "orphans"?}: one account-region
    Batch:   in {"Items": [item, ...]} (ItemBatcher's); out: the batch's counts
    Summarize: out: the run summary, {"status": "ok" | "partial-failure" | "failed", "runId", ...}
    Skipped: Summarize's input for a run that found the previous one running:
              {"skipped": true, "reason", "runId"}
"""

from __future__ import annotations

# The execution's state.
PLAN = "plan"
MAP = "map"
MAP_ERROR = "mapError"
SUMMARY = "summary"
GUARD = "guard"

# Plan's input and output.
EXECUTION_NAME = "executionName"
RUN_ID = "runId"
SOURCE_COUNT = "sourceCount"
ITEM_COUNT = "itemCount"
ACCOUNTS = "accounts"
ACCOUNT_LISTING_ERROR = "accountListingError"
DISCOVERY_FAILURES = "discoveryFailures"
OVER_BOUND = "overBound"
SKIPPED_SOURCES = "skippedSources"
STALEST_AGE_SECONDS = "stalestSourceAgeSeconds"
ITEMS = "items"
ITEMS_BUCKET = "itemsBucket"
ITEMS_KEY = "itemsKey"

# One map item: the sources of one account-region (or one part of a large one).
ITEM_ACCOUNT = "account"
ITEM_REGION = "region"
ITEM_SOURCES = "sources"
ITEM_CONCURRENCY = "concurrency"
ITEM_SCOPE_SEEN = "scopeSeen"
ITEM_PART = "part"
# Per source of the item (same order), what Plan read of its audit record: [checkpoint's last run
# start, its last sweep, first attempt] (null where none), or null for a source no run has attempted.
ITEM_RECORDS = "records"
# Known sources of this account-region outside the run's expansion: [reason, kind id, *scope ids].
ITEM_ORPHANS = "orphans"

# A child's input, as the Distributed Map's ItemBatcher builds it (the service's name).
BATCH_ITEMS = "Items"

# Summarize's output: the run summary; the state machine fails the execution on this status.
SUMMARY_STATUS = "status"
STATUS_FAILED = "failed"

# The Skipped step's input to Summarize.
SKIPPED = "skipped"
REASON = "reason"

# The Guard's result, as its ResultSelector names it.
GUARD_RUNNING = "running"
GUARD_SELF_LISTED = "selfListed"


def path(*keys: str) -> str:
    """A JSONPath into the state: path(PLAN, ITEMS) == "$.plan.items"."""
    return ".".join(("$", *keys))
