"""Times as operators type them: ISO 8601 (`2026-11-02T09:00:00Z`, a date, an offset) or an age
relative to now (`90s`, `30m`, `2h`, `1d`, `1w`). Times without an offset are UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_AGE = re.compile(r"(?P<count>[0-9]+)\s*(?P<unit>[smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
FORM = "an ISO 8601 time (2026-11-02T09:00:00Z) or an age such as 30m, 2h, 1d"


def parse_time(text: str, now: datetime) -> datetime:
    """The moment `text` names; ValueError naming the accepted forms otherwise."""
    value = text.strip()
    age = _AGE.fullmatch(value.lower())
    if age:
        try:
            return now - timedelta(**{_UNITS[age["unit"]]: int(age["count"])})
        except OverflowError:
            raise ValueError(f"{text!r} reaches before year 1: expected {FORM}") from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected {FORM}, got {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, to the second (what a person reads and a script parses)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def age(delta: timedelta | None) -> str:
    """A duration as people read it: 45s, 12m, 3h 5m, 2d 4h."""
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours}h" if hours else f"{days}d"
    elif hours:
        text = f"{hours}h {minutes}m" if minutes else f"{hours}h"
    elif minutes:
        text = f"{minutes}m"
    else:
        text = f"{secs}s"
    return sign + text


def duration(milliseconds: int | None) -> str:
    """A run's duration: tenths of a second under a minute (0.4s, 12.5s), else as `age` prints it."""
    if milliseconds is None:
        return "-"
    if milliseconds < 60_000:
        return f"{milliseconds / 1000:.1f}s"
    return age(timedelta(milliseconds=milliseconds))
