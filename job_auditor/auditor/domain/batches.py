"""Fan-out items: the sources of one run cut into map items, one account-region per item.

Pure: no boto3. The Plan step turns the discovered sources into items; the Distributed Map's
`ItemBatcher` packs several items into one child; the batch step turns each item back into sources.

Why an item is an account-region (and not a source): the batcher cuts the item list by count and
bytes, without knowing accounts or regions. With one source per item, one account-region could land in
two children at once and be called twice as hard. With an account-region per item, every child holds
whole account-regions, and audits each with at most its item's `concurrency` threads: no
account-region is ever called by more than `accountRegionConcurrency` calls at once.

An account-region with more than `max_sources` sources is split into parts (a batch input is at most
256 KB); the parts share the bound (each gets `concurrency // parts` threads, at least one), so the
bound still holds up to `concurrency x max_sources` sources in one account-region; beyond that each
part runs one thread and `over_bound` names the account-region.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.contract.fanout_payload import (
    ITEM_ACCOUNT,
    ITEM_CONCURRENCY,
    ITEM_PART,
    ITEM_REGION,
    ITEM_SCOPE_SEEN,
    ITEM_SOURCES,
)

# Sources in one item at most: about 100 bytes each, well inside a 256 KB batch input.
MAX_SOURCES_PER_ITEM = 250


@dataclass(frozen=True)
class ItemPlan:
    """The map items of one run, and the account-regions too large to keep within the bound."""

    items: list[dict[str, Any]]
    over_bound: list[str]

    @property
    def source_count(self) -> int:
        return sum(len(item[ITEM_SOURCES]) for item in self.items)


def encode_source(source: Source) -> list[str]:
    """A source inside its item: the kind id and its scope ids (account and region are the item's)."""
    return [source.spec.id, *source.scope_ids]


def decode_item(item: Mapping[str, Any]) -> list[Source]:
    """The sources of one item, in order; ValueError on an unknown kind or a malformed entry."""
    account, region = str(item[ITEM_ACCOUNT]), str(item[ITEM_REGION])
    sources = []
    for entry in item[ITEM_SOURCES]:
        if not isinstance(entry, list) or not entry or not all(isinstance(part, str) for part in entry):
            raise ValueError(f"malformed source entry {entry!r} in item {account}/{region}")
        kind = JOB_KINDS.get(entry[0])
        if kind is None:
            raise ValueError(f"unknown job kind {entry[0]!r} in item {account}/{region}")
        sources.append(Source(account, region, kind, tuple(entry[1:])))
    return sources


def plan_items(
    sources: Iterable[Source],
    scope_seen: Mapping[str, bool],
    concurrency: int,
    max_sources: int = MAX_SOURCES_PER_ITEM,
) -> ItemPlan:
    """One item per account-region (split past `max_sources`), in the order the sources came;
    each carries the `scope_seen` flags of its own sources' scopes."""
    if concurrency < 1 or max_sources < 1:
        raise ValueError("concurrency and max_sources must be at least 1")
    groups: dict[tuple[str, str], list[Source]] = {}
    for source in sources:
        groups.setdefault((source.account, source.region), []).append(source)
    items: list[dict[str, Any]] = []
    over_bound: list[str] = []
    for (account, region), group in groups.items():
        parts = math.ceil(len(group) / max_sources)
        if parts > concurrency:
            over_bound.append(f"{account}/{region}")
        share = max(1, concurrency // parts)
        for number in range(parts):
            chunk = group[number * max_sources : (number + 1) * max_sources]
            scopes = {s.unscoped.key for s in chunk if s.spec.discovery}
            items.append(
                {
                    ITEM_ACCOUNT: account,
                    ITEM_REGION: region,
                    ITEM_CONCURRENCY: share,
                    ITEM_PART: f"{number + 1}/{parts}",
                    ITEM_SOURCES: [encode_source(s) for s in chunk],
                    ITEM_SCOPE_SEEN: {key: scope_seen[key] for key in sorted(scopes) if key in scope_seen},
                }
            )
    return ItemPlan(items=items, over_bound=over_bound)


def batches(items: Sequence[Mapping[str, Any]], items_per_batch: int) -> list[list[Mapping[str, Any]]]:
    """What an `ItemBatcher` with MaxItemsPerBatch=`items_per_batch` hands the children: the items in
    order, cut every `items_per_batch` (the in-process driver and the benchmark use it)."""
    return [list(items[i : i + items_per_batch]) for i in range(0, len(items), items_per_batch)]
