"""A list kept sorted by key, with bisect-based range scans: what makes a list page O(log n + page)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Generic, TypeVar

# The two key types in use: (creation micros, seq) for bedrock jobs, ids for Q in Connect.
_K = TypeVar("_K", tuple[int, int], str)
_V = TypeVar("_V")


class SortedIndex(Generic[_K, _V]):
    """Values kept sorted by a comparable key, with bisect-based range scans (not thread-safe)."""

    def __init__(self) -> None:
        self.keys: list[_K] = []
        self.values: list[_V] = []

    def __len__(self) -> int:
        return len(self.keys)

    def insert(self, key: _K, value: _V) -> None:
        """Insert one value; appending in key order is O(1) amortised."""
        if not self.keys or self.keys[-1] < key:
            self.keys.append(key)
            self.values.append(value)
            return
        at = bisect.bisect_left(self.keys, key)
        self.keys.insert(at, key)
        self.values.insert(at, value)

    def extend(self, items: Sequence[tuple[_K, _V]]) -> None:
        """Insert many values at once (one sort instead of many list insertions)."""
        if not items:
            return
        if len(items) == 1:
            self.insert(*items[0])
            return
        pairs: list[tuple[_K, _V]] = sorted(items, key=lambda kv: kv[0])
        if self.keys and not self.keys[-1] < pairs[0][0]:
            merged: list[tuple[_K, _V]] = list(zip(self.keys, self.values, strict=True))
            merged.extend(pairs)
            merged.sort(key=lambda kv: kv[0])
            self.keys, self.values = [k for k, _ in merged], [v for _, v in merged]
            return
        self.keys.extend(k for k, _ in pairs)
        self.values.extend(v for _, v in pairs)

    def remove(self, key: _K) -> None:
        """Remove the value stored under key, if any."""
        at = bisect.bisect_left(self.keys, key)
        if at < len(self.keys) and self.keys[at] == key:
            del self.keys[at]
            del self.values[at]

    def bisect_left(self, key: _K) -> int:
        """First position whose key is >= key."""
        return bisect.bisect_left(self.keys, key)

    def bisect_right(self, key: _K) -> int:
        """First position whose key is > key."""
        return bisect.bisect_right(self.keys, key)
