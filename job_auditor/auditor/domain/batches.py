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

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from job_auditor.auditor.domain.checkpoint import Checkpoint
from job_auditor.auditor.domain.jobs import JOB_KINDS, ORPHAN_REASONS, OrphanReason, Source
from job_auditor.auditor.domain.schedule import AuditRecord, Orphan, record_of
from job_auditor.contract.fanout_payload import (
    ITEM_ACCOUNT,
    ITEM_CONCURRENCY,
    ITEM_ORPHANS,
    ITEM_PART,
    ITEM_RECORDS,
    ITEM_REGION,
    ITEM_SCOPE_SEEN,
    ITEM_SOURCES,
)

# Sources in one item at most: about 100 bytes each, well inside a 256 KB batch input.
MAX_SOURCES_PER_ITEM = 250


class ItemPlan(NamedTuple):
    """The map items of one run, and the account-regions too large to keep within the bound."""

    items: list[dict[str, Any]]
    over_bound: list[str]

    @property
    def source_count(self) -> int:
        return sum(len(item[ITEM_SOURCES]) for item in self.items)


def encode_source(source: Source) -> list[str]:
    """A source inside its item: the kind id and its scope ids (account and region are the item's)."""
    return [source.spec.id, *source.scope_ids]


def _decode_source(account: str, region: str, entry: object) -> Source:
    if not isinstance(entry, list) or not entry or not all(isinstance(part, str) for part in entry):
        raise ValueError(f"malformed source entry {entry!r} in item {account}/{region}")
    kind = JOB_KINDS.get(entry[0])
    if kind is None:
        raise ValueError(f"unknown job kind {entry[0]!r} in item {account}/{region}")
    return Source(account, region, kind, tuple(entry[1:]))


def decode_item(item: Mapping[str, Any]) -> list[Source]:
    """The sources of one item, in order; ValueError on an unknown kind or a malformed entry."""
    account, region = str(item[ITEM_ACCOUNT]), str(item[ITEM_REGION])
    return [_decode_source(account, region, entry) for entry in item[ITEM_SOURCES]]


def _when(text: object) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def encode_record(record: AuditRecord | None) -> list[str | None] | None:
    """What a batch needs of a source's record: its checkpoint and its first attempt."""
    if record is None or not record.attempted:
        return None
    checkpoint = record.checkpoint
    return [
        _iso(checkpoint.last_run_started_at if checkpoint else None),
        _iso(checkpoint.last_reconciled_at if checkpoint else None),
        _iso(record.first_attempted_at),
    ]


def decode_records(item: Mapping[str, Any], sources: Sequence[Source]) -> dict[str, AuditRecord] | None:
    """The records Plan read of an item's sources (a source no run attempted has an empty one); None
    for an item without them (planned by an earlier version): the batch reads them itself."""
    encoded = item.get(ITEM_RECORDS)
    if encoded is None:
        return None
    if not isinstance(encoded, list) or len(encoded) != len(sources):
        raise ValueError(f"malformed records in item {item[ITEM_ACCOUNT]}/{item[ITEM_REGION]}")
    records: dict[str, AuditRecord] = {}
    for source, entry in zip(sources, encoded, strict=True):
        last_run, reconciled, first = (entry or [None, None, None])[:3]
        run_start = _when(last_run)
        checkpoint = Checkpoint(run_start, _when(reconciled)) if run_start else None
        records[source.key] = record_of(source, checkpoint=checkpoint, first_attempted_at=_when(first))
    return records


def decode_orphans(item: Mapping[str, Any]) -> list[Orphan]:
    """The orphans of one item: [reason, kind id, *scope ids] each."""
    account, region = str(item[ITEM_ACCOUNT]), str(item[ITEM_REGION])
    orphans = []
    for entry in item.get(ITEM_ORPHANS) or []:
        if not isinstance(entry, list) or len(entry) < 2 or entry[0] not in ORPHAN_REASONS:
            raise ValueError(f"malformed orphan entry {entry!r} in item {account}/{region}")
        orphans.append(Orphan(_decode_source(account, region, entry[1:]), cast(OrphanReason, entry[0])))
    return orphans


def plan_items(
    sources: Iterable[Source],
    scope_seen: Mapping[str, bool],
    concurrency: int,
    max_sources: int = MAX_SOURCES_PER_ITEM,
    records: Mapping[str, AuditRecord] | None = None,
    orphans: Sequence[Orphan] = (),
) -> ItemPlan:
    """One item per account-region (split past `max_sources`), in the order the sources came (the
    least recently audited first: an item comes where its stalest source does); each carries the
    `scope_seen` flags of its own sources' scopes, their `records` and, in its first part, the
    account-region's orphans (an account-region with orphans only gets an item of its own, last)."""
    if concurrency < 1 or max_sources < 1:
        raise ValueError("concurrency and max_sources must be at least 1")
    groups: dict[tuple[str, str], list[Source]] = {}
    for source in sources:
        groups.setdefault((source.account, source.region), []).append(source)
    left: dict[tuple[str, str], list[Orphan]] = {}
    for orphan in orphans:
        groups.setdefault((orphan.source.account, orphan.source.region), [])
        left.setdefault((orphan.source.account, orphan.source.region), []).append(orphan)
    items: list[dict[str, Any]] = []
    over_bound: list[str] = []
    for (account, region), group in groups.items():
        parts = max(1, math.ceil(len(group) / max_sources))
        if parts > concurrency:
            over_bound.append(f"{account}/{region}")
        share = max(1, concurrency // parts)
        for number in range(parts):
            chunk = group[number * max_sources : (number + 1) * max_sources]
            scopes = {s.unscoped.key for s in chunk if s.spec.discovery}
            item: dict[str, Any] = {
                ITEM_ACCOUNT: account,
                ITEM_REGION: region,
                ITEM_CONCURRENCY: share,
                ITEM_PART: f"{number + 1}/{parts}",
                ITEM_SOURCES: [encode_source(s) for s in chunk],
                ITEM_SCOPE_SEEN: {key: scope_seen[key] for key in sorted(scopes) if key in scope_seen},
            }
            if records is not None:
                item[ITEM_RECORDS] = [encode_record(records.get(s.key)) for s in chunk]
            if number == 0 and left.get((account, region)):
                item[ITEM_ORPHANS] = [[o.reason, *encode_source(o.source)] for o in left[(account, region)]]
            items.append(item)
    return ItemPlan(items=items, over_bound=over_bound)


def batches(items: Sequence[Mapping[str, Any]], items_per_batch: int) -> list[list[Mapping[str, Any]]]:
    """What an `ItemBatcher` with MaxItemsPerBatch=`items_per_batch` hands the children: the items in
    order, cut every `items_per_batch` (the in-process driver and the benchmark use it)."""
    return [list(items[i : i + items_per_batch]) for i in range(0, len(items), items_per_batch)]
