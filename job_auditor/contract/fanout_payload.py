"""The fan-out's payloads (auditMode=stepfunctions): the field names the state machine
(infra/fanout.py) and its Lambda steps (auditor/fanout.py, auditor/domain/batches.py) share.

    state:   {"plan": <Plan's output>, "map": <the map's result>, "mapError": <its caught error>,
              "summary": <Summarize's output>, "guard": <the Guard's selected result>}
    Plan:    in {"executionName"}; out {"runId", "sourceCount", "itemCount", "accounts",
              "accountListingError"?, "discoveryFailures" (the first few), "discoveryFailureCount",
              "discoveryFailuresKey"? (all of them, in S3), "overBound" (the first few),
              "overBoundCount", and "items" (inline) or "itemsBucket" + "itemsKey" (in S3)}
    item:    {"account", "region", "concurrency", "part", "sources", "scopeSeen"}: one account-region
    Batch:   in {"Items": [item, ...]} (ItemBatcher's); out: the batch's counts
    Summarize: out: the run summary, {"status": "ok" | "partial-failure" | "failed", "runId", ...}
    Skipped: Summarize's input for a run that found the previous one running:
              {"skipped": true, "reason", "runId"}
"""

from __future__ import annotations

# -- size bounds ----------------------------------------------------------------------------------
# Step Functions fails an execution whose state input or output passes 256 KiB (UTF-8) with
# States.DataLimitExceeded, which no Catch handles (States.ALL does not match it): one payload too
# large stops every account's audit. Every payload of the fan-out is therefore bounded here, whatever
# fails: named lists are cut to a byte budget, their counts travel whole, details go to S3.
STATE_PAYLOAD_LIMIT_BYTES = 256 * 1024
# Our bound for any state's input or output: the service's limit less headroom for what Step
# Functions adds around our payloads (ResultPath merges, the ItemBatcher's wrapping, a Catch's error).
PAYLOAD_BOUND_BYTES = 200 * 1024
# The shares of it. The parent's state holds all of these at once by the end: the Guard's result,
# Plan's output (its inline items and its named failures), the map's result or the error its Catch
# caught, and Summarize's output.
INLINE_ITEMS_MAX_BYTES = 64 * 1024
PLAN_NAMED_MAX_BYTES = 24 * 1024
MAP_ERROR_MAX_BYTES = 40 * 1024  # the service's own: Error up to 256 and Cause up to 32,768 characters
SUMMARY_MAX_BYTES = 64 * 1024
# A child's output (its batch's counts), and a child's input (the ItemBatcher's MaxInputBytesPerBatch).
BATCH_OUTPUT_MAX_BYTES = 128 * 1024
BATCH_INPUT_MAX_BYTES = PAYLOAD_BOUND_BYTES
# A reason or a name inside a payload, at most (characters).
MAX_TEXT_CHARS = 300

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
DISCOVERY_FAILURE_COUNT = "discoveryFailureCount"
DISCOVERY_FAILURES_KEY = "discoveryFailuresKey"
OVER_BOUND = "overBound"
OVER_BOUND_COUNT = "overBoundCount"
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
