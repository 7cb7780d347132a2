"""A controllable clock, so tests decide what "now" is for creation and modification times, and the
time helpers of records and wire formats."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


def _require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


class SimClock:
    """The simulator's notion of time.

    Frozen by default: `now()` returns the same instant until `advance()` or `set()` is called, which
    is what deterministic tests want. With `follow_wall_clock=True` the clock also moves forward with
    real (monotonic) time from the moment it was created, which suits a standalone demo server;
    `advance()` and `set()` still work on top of that.
    """

    def __init__(self, start: datetime | None = None, *, follow_wall_clock: bool = False) -> None:
        self._lock = threading.Lock()
        self._base = _require_aware(start, "start") if start is not None else datetime.now(UTC)
        self._follow = follow_wall_clock
        self._anchor = time.monotonic()

    @property
    def follows_wall_clock(self) -> bool:
        """Whether the clock moves with real time between explicit changes."""
        return self._follow

    def now(self) -> datetime:
        """The current simulated instant (timezone-aware, UTC)."""
        with self._lock:
            if not self._follow:
                return self._base
            return self._base + timedelta(seconds=time.monotonic() - self._anchor)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward (or backward, for a negative delta); returns the new now."""
        with self._lock:
            self._base += delta
            current = self._base
        return current if not self._follow else self.now()

    def set(self, when: datetime) -> datetime:
        """Jump to an absolute instant; returns it."""
        value = _require_aware(when, "when")
        with self._lock:
            self._base = value
            self._anchor = time.monotonic()
        return value


# -- the time helpers of records and wire formats --------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(when: datetime) -> int:
    """Exact integer microseconds since the epoch of an aware datetime (the sort key of a job)."""
    if when.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got naive {when!r}")
    return (when - _EPOCH) // _MICROSECOND


def truncate_ms(when: datetime) -> datetime:
    """Drop sub-millisecond precision: the real APIs report milliseconds, so a timestamp a client read
    from a response and sends back as a filter compares exactly."""
    return when.astimezone(UTC).replace(microsecond=when.microsecond - when.microsecond % 1000)


def iso(when: datetime) -> str:
    """An ISO 8601 wire timestamp: UTC, milliseconds (Bedrock's)."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def epoch(when: datetime) -> float | int:
    """An epoch-seconds wire timestamp: a JSON number, fractional when needed (Q in Connect's)."""
    micros = to_micros(when)
    return micros // 1_000_000 if micros % 1_000_000 == 0 else micros / 1_000_000
