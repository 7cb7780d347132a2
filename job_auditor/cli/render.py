"""Output: the same rows as a rich table for people, or as JSON for scripts (`--output`)."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from job_auditor.cli.times import age

TABLE, JSON = "table", "json"
OUTPUTS = (TABLE, JSON)
# Width when stdout is not a terminal (a pipe, a file, the demo's log): no wrapping of a row that
# fits this, whatever COLUMNS says, so each row stays one line for grep and scripts.
_PIPE_WIDTH = 240


@dataclass(frozen=True)
class Column:
    """A table column: its header, and how a row's cell is read (text)."""

    header: str
    cell: Callable[[dict[str, Any]], str]
    justify: str = "left"


def field(name: str, empty: str = "-") -> Callable[[dict[str, Any]], str]:
    """The cell of one field, as text."""

    def cell(row: dict[str, Any]) -> str:
        value = row.get(name)
        if value is None or value == "":
            return empty
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    return cell


def short(name: str, length: int = 8) -> Callable[[dict[str, Any]], str]:
    """The first characters of an id (eventIds are UUIDs: 8 tell them apart on a screen)."""
    return lambda row: str(row.get(name) or "-")[:length]


def ago(name: str, now: datetime) -> Callable[[dict[str, Any]], str]:
    """An ISO time field as its age at `now`."""

    def cell(row: dict[str, Any]) -> str:
        value = row.get(name)
        if not value:
            return "-"
        return age(now - datetime.fromisoformat(str(value))) + " ago"

    return cell


def seconds(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: age(None if row.get(name) is None else timedelta(seconds=int(row[name])))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _console(file: Any) -> Console:
    width = None if sys.stdout.isatty() else _PIPE_WIDTH
    return Console(file=file, width=width, highlight=False, soft_wrap=False)


def _print(renderable: Any) -> None:
    """To the current stdout (whatever it is at the call: a terminal, a test's, the demo's); off a
    terminal as plain text without the padding rich adds at line ends."""
    if sys.stdout.isatty():
        _console(sys.stdout).print(renderable)
        return
    buffer = io.StringIO()
    _console(buffer).print(renderable)
    sys.stdout.write("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n")


def table(title: str | None, columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> None:
    out = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        out.add_column(column.header, justify=column.justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        out.add_row(*(column.cell(row) for column in columns))
    _print(out)


def note(text: str) -> None:
    _print(text)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
