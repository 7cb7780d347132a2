"""Payloads that stay within a size whatever fails: texts clipped, named lists cut to a byte budget.

Pure: no boto3. The fan-out's payloads (auditor/fanout.py, run_metrics.RunCounts) use these to keep
each Step Functions state under contract.fanout_payload.PAYLOAD_BOUND_BYTES; the counts beside a
named list always say how many there were.
"""

import json
from collections.abc import Iterable
from typing import TypeVar

from job_auditor.contract.fanout_payload import MAX_TEXT_CHARS

T = TypeVar("T")
_ELLIPSIS = "..."


def json_size(value: object) -> int:
    """Bytes of `value` as compact UTF-8 JSON (how Step Functions measures a payload)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def clip(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`text` cut to `limit` characters, marked as cut."""
    return text if len(text) <= limit else text[: max(0, limit - len(_ELLIPSIS))] + _ELLIPSIS


def fit(entries: Iterable[T], budget_bytes: int) -> list[T]:
    """The first entries whose JSON, as a list, takes at most `budget_bytes`."""
    kept: list[T] = []
    used = 2  # the brackets
    for entry in entries:
        size = json_size(entry) + (1 if kept else 0)  # and its comma
        if used + size > budget_bytes:
            break
        kept.append(entry)
        used += size
    return kept
