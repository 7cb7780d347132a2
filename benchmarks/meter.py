"""Counts what a process asks of AWS, through botocore's event hooks on a session it controls.

Per (service, operation): API calls (`after-call`, one per call whatever the retries) and HTTP
attempts (`before-send`). For DynamoDB it also *estimates* consumed capacity, because moto reports a
constant: item sizes are computed by DynamoDB's published rules and the units charged as on-demand
tables charge them:

- writes: 1 WRU per started KB of the larger of the old and new item, plus, per global secondary
  index the write touches (projection ALL here), 1 WRU per KB to add, update or remove the index
  entry and 2 when the index key changes (delete + put); a failed condition still costs the base
  write;
- reads: GetItem 1 RRU per started 4 KB (a missing item still costs 1), Query the sum of the items
  read in a page rounded up to 4 KB; eventually consistent reads and every GSI query cost half.

The old image of an item comes from a shadow kept of every item this process read or wrote, which
covers what the auditor writes (it reads an item's state before claiming it); an item never seen is
taken as new. The figures are estimates, named as such in the report.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

_KB = 1024
_READ_UNIT = 4 * _KB


def _value_size(value: Mapping[str, Any]) -> int:  # noqa: PLR0911 (one return per type)
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind in {"SS", "NS", "BS"}:
        return sum(_value_size({kind[0]: element}) for element in data)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in data.items())
    return 0


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of one item in DynamoDB JSON, as DynamoDB sizes it (attribute names + values)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


def install_thread_lanes() -> None:
    """Mark every thread started off the main thread with its lane: the main thread's direct child (a
    source's thread) it descends from. Calls made in a lane run one after another, except those on
    the lane's own pools (concurrent claim writes); lanes run side by side."""
    original = threading.Thread.__init__

    def init(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        parent = threading.current_thread()
        if parent is not threading.main_thread():
            self.bench_lane = getattr(parent, "bench_lane", parent)  # type: ignore[attr-defined]

    threading.Thread.__init__ = init  # type: ignore[method-assign]


def _lane() -> tuple[str, bool]:
    """(lane, pooled): the lane a call belongs to, and whether it came from one of the lane's pools."""
    thread = threading.current_thread()
    if thread is threading.main_thread():
        return "main", False
    lane = getattr(thread, "bench_lane", None)
    return (lane.name, True) if lane is not None else (thread.name, False)


class Meter:
    """Attach to a boto3 Session before clients are built from it; read the counters after a run."""

    def __init__(
        self, key_names: tuple[str, str] = ("pk", "sk"), indexes: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._keys = key_names
        # Per table: the key attribute pairs of its global secondary indexes.
        self._indexes = tuple(indexes)
        self._shadow: dict[tuple[str, str, str], dict[str, Any]] = {}
        # The auditor writes claims from several threads.
        self._lock = threading.RLock()
        # Off: the hooks return at once (to measure the CPU of the metered code without the meter's).
        self.enabled = True
        self.reset()

    def reset(self) -> None:
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        # Seconds spent inside each operation (request to parsed response), to see where time goes.
        self.seconds: defaultdict[str, float] = defaultdict(float)  # time inside calls, by operation
        # Per lane (see install_thread_lanes) and operation: [calls made in turn, calls made by a pool].
        self.lanes: dict[str, dict[str, list[int]]] = {}
        # Wall time with at least one call in flight: the union of the call intervals, so the
        # handler's own time stays wall minus this even when calls overlap.
        self.busy_seconds = 0.0
        self._in_flight = 0
        self._busy_since = 0.0
        self.rru = 0.0
        self.wru = 0.0

    def attach(self, session: Any) -> None:
        """Meter every call of the clients `session` builds (a boto3 or a bare botocore session)."""
        events = session.events if hasattr(session, "events") else session.get_component("event_emitter")
        events.register("before-parameter-build", self._remember_params)
        events.register("before-send", self._on_send)
        events.register("after-call", self._on_after_call)
        events.register("after-call-error", self._on_call_error)

    # -- hooks ----------------------------------------------------------------------------------
    @staticmethod
    def _name(model: Any) -> str:
        return f"{model.service_model.service_name}.{model.name}"

    def _remember_params(
        self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if not self.enabled:
            return
        with self._lock:
            context["bench_t0"] = time.perf_counter()
            if self._in_flight == 0:
                self._busy_since = context["bench_t0"]
            self._in_flight += 1
        if model.service_model.service_name == "dynamodb":
            context["bench_params"] = json.loads(json.dumps(params, default=str))

    def _on_send(self, **_: Any) -> None:
        if not self.enabled:
            return
        self.attempts["http"] += 1

    def _call_ended(self, context: dict[str, Any]) -> float:
        now = time.perf_counter()
        if "bench_t0" not in context:
            return 0.0
        self._in_flight -= 1
        if self._in_flight == 0:
            self.busy_seconds += now - self._busy_since
        return now - float(context.pop("bench_t0"))

    def _on_call_error(self, context: dict[str, Any], **_: Any) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._call_ended(context)

    def _on_after_call(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if not self.enabled:
            return
        with self._lock:
            name = self._name(model)
            self.calls[name] += 1
            self.seconds[name] += self._call_ended(context)
            lane, pooled = _lane()
            self.lanes.setdefault(lane, {}).setdefault(name, [0, 0])[int(pooled)] += 1
            if model.service_model.service_name != "dynamodb":
                return
            params = context.get("bench_params") or {}
            ok = int(getattr(http_response, "status_code", 200)) < 300
            self._capacity(model.name, params, parsed, ok)

    # -- DynamoDB capacity -----------------------------------------------------------------------
    def _key(self, table: str, item: Mapping[str, Any]) -> tuple[str, str, str] | None:
        pk, sk = self._keys
        if pk not in item:
            return None
        return (table, json.dumps(item[pk], sort_keys=True), json.dumps(item.get(sk), sort_keys=True))

    def _remember(self, table: str, item: Mapping[str, Any]) -> None:
        key = self._key(table, item)
        if key is not None:
            self._shadow[key] = dict(item)

    def _index_keys(self, item: Mapping[str, Any] | None) -> list[tuple[Any, Any] | None]:
        if item is None:
            return [None for _ in self._indexes]
        return [
            (json.dumps(item[a]), json.dumps(item[b])) if a in item and b in item else None
            for a, b in self._indexes
        ]

    def _write(self, table: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> float:
        """Units of one successful write (new None: a delete)."""
        old_size = item_size(old) if old else 0
        new_size = item_size(new) if new else 0
        units = _units(max(old_size, new_size), _KB)
        for before, after in zip(self._index_keys(old), self._index_keys(new), strict=True):
            if before is None and after is None:
                continue
            if before is None:
                units += _units(new_size, _KB)
            elif after is None:
                units += _units(old_size, _KB)
            elif before != after:
                units += _units(old_size, _KB) + _units(new_size, _KB)
            else:
                units += _units(max(old_size, new_size), _KB)
        return float(units)

    def _capacity(
        self, operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any], ok: bool
    ) -> None:
        estimate = self._ESTIMATES.get(operation)
        if estimate is not None:
            estimate(self, str(params.get("TableName", "")), params, parsed, ok)

    def _get_item(self, table: str, params: Mapping[str, Any], parsed: Mapping[str, Any], ok: bool) -> None:
        item = parsed.get("Item")
        size = item_size(item) if item else 0
        factor = 1.0 if params.get("ConsistentRead") else 0.5
        self.rru += factor * _units(size, _READ_UNIT)
        if item:
            self._remember(table, item)

    def _query(self, table: str, params: Mapping[str, Any], parsed: Mapping[str, Any], ok: bool) -> None:
        items = parsed.get("Items") or []
        size = sum(item_size(i) for i in items)
        eventual = "IndexName" in params or not params.get("ConsistentRead")
        self.rru += (0.5 if eventual else 1.0) * _units(size, _READ_UNIT)
        for item in items:  # GSI items are whole items too (projection ALL)
            self._remember(table, item)

    def _put_item(self, table: str, params: Mapping[str, Any], parsed: Mapping[str, Any], ok: bool) -> None:
        new = params["Item"]
        key = self._key(table, new)
        old = self._shadow.get(key) if key else None
        if ok:
            self.wru += self._write(table, new, old)
            self._remember(table, new)
        else:
            self.wru += _units(max(item_size(old) if old else 0, item_size(new)), _KB)

    def _update_item(
        self, table: str, params: Mapping[str, Any], parsed: Mapping[str, Any], ok: bool
    ) -> None:
        # The auditor's updates move a claim's lease or count an attempt or a miss: about the same
        # size; the pending index key may change.
        key = self._key(table, params["Key"])
        old = self._shadow.get(key) if key else None
        size = item_size(old) if old else 0
        indexed = sum(1 for k in self._index_keys(old) if k is not None)
        self.wru += _units(size, _KB) + (2 * indexed * _units(size, _KB) if ok else 0)

    def _delete_item(
        self, table: str, params: Mapping[str, Any], parsed: Mapping[str, Any], ok: bool
    ) -> None:
        key = self._key(table, params["Key"])
        old = self._shadow.pop(key, None) if key else None
        self.wru += self._write(table, None, old) if ok and old else 1.0

    def _batch_write_item(
        self, table: str, params: Mapping[str, Any], parsed: Mapping[str, Any], ok: bool
    ) -> None:
        unprocessed = parsed.get("UnprocessedItems") or {}
        for name, requests in (params.get("RequestItems") or {}).items():
            left = {json.dumps(r, sort_keys=True) for r in unprocessed.get(name, [])}
            for request in requests:
                if json.dumps(request, sort_keys=True) not in left:
                    self._batch_request(name, request)

    def _batch_request(self, table: str, request: Mapping[str, Any]) -> None:
        put = request.get("PutRequest")
        if put:
            new = put["Item"]
            key = self._key(table, new)
            self.wru += self._write(table, new, self._shadow.get(key) if key else None)
            self._remember(table, new)
        else:
            key = self._key(table, request["DeleteRequest"]["Key"])
            old = self._shadow.pop(key, None) if key else None
            self.wru += self._write(table, None, old) if old else 1.0

    def _batch_get_item(
        self, table: str, params: Mapping[str, Any], parsed: Mapping[str, Any], ok: bool
    ) -> None:
        for items in (parsed.get("Responses") or {}).values():
            self.rru += sum(0.5 * _units(item_size(i), _READ_UNIT) for i in items)

    # Operation -> its capacity estimate.
    _ESTIMATES: ClassVar[dict[str, Callable[..., None]]] = {
        "GetItem": _get_item,
        "Query": _query,
        "Scan": _query,
        "PutItem": _put_item,
        "UpdateItem": _update_item,
        "DeleteItem": _delete_item,
        "BatchWriteItem": _batch_write_item,
        "BatchGetItem": _batch_get_item,
    }

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": dict(sorted(self.calls.items())),
            "httpAttempts": sum(self.attempts.values()),
            "secondsInCalls": {k: round(v, 3) for k, v in sorted(self.seconds.items())},
            "busySeconds": round(self.busy_seconds, 4),
            "callsByLane": {lane: dict(sorted(ops.items())) for lane, ops in sorted(self.lanes.items())},
            "dynamodbReadUnits": round(self.rru, 1),
            "dynamodbWriteUnits": round(self.wru, 1),
        }
