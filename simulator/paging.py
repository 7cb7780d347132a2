"""Paging: opaque `nextToken`s bound to their query, and pages scanned out of a sorted index.

`nextToken` is base64url of a small JSON cursor plus an HMAC over it, keyed per simulator process and
bound to the operation, region, knowledge base and every filter and sort parameter (not to
maxResults, which a client may change between pages). A token from another query, or any other
string, is a ValidationException. The cursor is the key of the last item returned, so items created
while a client pages never make a page skip or repeat an item it already returned.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from simulator.errors import validation
from simulator.sorted_index import SortedIndex

# Per-process secret: tokens are opaque and cannot be forged or carried to another simulator instance.
_TOKEN_KEY = secrets.token_bytes(32)


def binding_of(operation: str, region: str, scope: Mapping[str, str | None]) -> str:
    canonical = json.dumps([operation, region, sorted(scope.items())], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_token(binding: str, cursor: list[Any]) -> str:
    """An opaque token for a cursor, bound to one query."""
    payload = json.dumps({"b": binding, "c": cursor}, separators=(",", ":")).encode()
    sig = hmac.new(_TOKEN_KEY, payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(payload + sig).decode().rstrip("=")


def decode_token(token: str, binding: str) -> list[Any]:
    """The cursor in a token; ValidationException unless this simulator issued it for this query."""
    invalid = validation("Invalid pagination token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise invalid from None
    payload, sig = raw[:-12], raw[-12:]
    if len(raw) <= 12 or not hmac.compare_digest(
        sig, hmac.new(_TOKEN_KEY, payload, hashlib.sha256).digest()[:12]
    ):
        raise invalid
    data = json.loads(payload)
    if data.get("b") != binding:
        raise validation("The nextToken does not match the request parameters it was issued for")
    cursor = data["c"]
    assert isinstance(cursor, list)
    return cursor


@dataclass(frozen=True)
class Page:
    """One page of items and the cursor key of the last one, if more match."""

    items: list[Any]
    next_key: Any | None


def creation_bounds(
    index: SortedIndex[tuple[int, int], Any],
    after: int | None,
    before: int | None,
    cursor: tuple[int, int] | None,
    descending: bool,
) -> tuple[int, int]:
    """The slice of a (creation micros, seq) index a list may return: created strictly after `after`
    and strictly before `before` (micros, None: unbounded), and past the cursor of the page before in
    the list's direction."""
    lo = index.bisect_right((after, 1 << 62)) if after is not None else 0
    hi = index.bisect_left((before, -1)) if before is not None else len(index)
    if cursor is not None:
        if descending:
            hi = min(hi, index.bisect_left(cursor))
        else:
            lo = max(lo, index.bisect_right(cursor))
    return lo, hi


def scan(
    index: SortedIndex[Any, Any],
    lo: int,
    hi: int,
    descending: bool,
    keep: Callable[[Any], bool],
    limit: int,
) -> Page:
    def positions() -> Iterator[int]:
        return iter(range(hi - 1, lo - 1, -1)) if descending else iter(range(lo, hi))

    items: list[Any] = []
    last_key: Any = None
    for i in positions():
        value = index.values[i]
        if not keep(value):
            continue
        if len(items) == limit:
            # One more match exists beyond the page: hand out a token (never one for an empty page).
            return Page(items, last_key)
        items.append(value)
        last_key = index.keys[i]
    return Page(items, None)
