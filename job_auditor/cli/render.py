"""Output: the same rows as a table for people, or as JSON or CSV for scripts (`--output`).

A table never folds a word: each column is as wide as its widest cell (headers wrap at spaces only).
When the terminal is narrower than the table, the least important columns are shortened (to their
short form: an id's first characters, an ARN's last part) and then hidden, until it fits; a line
under the table names what was hidden. `-o json` always carries every field in full.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from job_auditor.cli.times import age

TABLE, JSON, CSV = "table", "json", "csv"
OUTPUTS = (TABLE, JSON, CSV)
# Off a terminal (a pipe, a file, a log) nothing is hidden: every row stays one line, whatever COLUMNS says.
_UNLIMITED = 10_000
# rich's SIMPLE_HEAD box without edges: a space between columns and a space of padding each side.
_GAP = 3

Cell = Callable[[dict[str, Any]], str]
Justify = Literal["left", "right"]


@dataclass(frozen=True)
class Column:
    """A table column: its header, how a row's cell is read (text), and how much it matters.

    `rank` 1 columns are kept at any width; higher ranks give way first, shortened to `short` if the
    column has a short form, then hidden. `wrap` columns hold prose and may wrap at spaces."""

    header: str
    cell: Cell
    justify: Justify = "left"
    rank: int = 1
    short: Cell | None = None
    wrap: bool = False


def left(header: str, cell: Cell, rank: int = 1, short: Cell | None = None, *, wrap: bool = False) -> Column:
    """A text column."""
    return Column(header, cell, "left", rank, short, wrap)


def right(header: str, cell: Cell, rank: int = 1) -> Column:
    """A figure's column (right-aligned)."""
    return Column(header, cell, "right", rank)


def field(name: str, empty: str = "-") -> Cell:
    """The cell of one field, as text."""

    def cell(row: dict[str, Any]) -> str:
        value = row.get(name)
        if value is None or value == "":
            return empty
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    return cell


def prefix(name: str, length: int = 8) -> Cell:
    """The first characters of an id (eventIds are UUIDs: 8 tell them apart on a screen)."""
    return lambda row: str(row.get(name) or "-")[:length]


def last_part(cell: Cell) -> Cell:
    """An ARN or a path by its last part (`.../model-import-job/a1b2` -> `a1b2`)."""
    return lambda row: cell(row).rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def ago(name: str, now: datetime) -> Cell:
    """An ISO time field as its age at `now`."""

    def cell(row: dict[str, Any]) -> str:
        value = row.get(name)
        if not value:
            return "-"
        return age(now - datetime.fromisoformat(str(value))) + " ago"

    return cell


def seconds(name: str) -> Cell:
    """A field of seconds as a duration people read (`3h 5m`)."""
    return lambda row: age(None if row.get(name) is None else timedelta(seconds=int(row[name])))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- the table's plan ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Planned:
    column: Column
    cell: Cell
    width: int


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _width(column: Column, cell: Cell, rows: Sequence[dict[str, Any]]) -> int:
    cells = [cell(row) for row in rows]
    measure = _longest_word if column.wrap else len
    return max([_longest_word(column.header), *(measure(c) for c in cells)])


def _total(planned: Sequence[_Planned]) -> int:
    return sum(p.width for p in planned) + _GAP * max(len(planned) - 1, 0)


class _Fit:
    """The columns shown, as they are shown, while a table is fitted to a width."""

    def __init__(self, columns: Sequence[Column], rows: Sequence[dict[str, Any]], width: int) -> None:
        self.columns, self.rows, self.width = columns, rows, width
        self.full = {id(c): _Planned(c, c.cell, _width(c, c.cell, rows)) for c in columns}
        self.shown = dict(self.full)

    def fits(self) -> bool:
        return _total(list(self.shown.values())) <= self.width

    def shorten(self, column: Column) -> None:
        if not self.fits() and column.short is not None:
            self.shown[id(column)] = _Planned(column, column.short, _width(column, column.short, self.rows))

    def hide(self, column: Column) -> None:
        if not self.fits() and column.rank > 1:
            del self.shown[id(column)]

    def try_(self, planned: _Planned) -> None:
        """Show `planned` (a column, or its full form) if the table still fits."""
        before = self.shown.get(id(planned.column))
        self.shown[id(planned.column)] = planned
        if not self.fits():
            if before is None:
                del self.shown[id(planned.column)]
            else:
                self.shown[id(planned.column)] = before


def plan(
    columns: Sequence[Column], rows: Sequence[dict[str, Any]], width: int
) -> tuple[list[_Planned], list[str]]:
    """The columns that fit in `width`, each with the cell form and width it is shown with, and the
    headers of those hidden. Until the table fits: columns with a short form take it, then columns
    are hidden, the least important first (among equals, the rightmost). Then, the most important
    first, each column comes back in full where there is room, else in its short form."""
    fit = _Fit(columns, rows, width)
    giving_way = sorted(columns, key=lambda c: (-c.rank, -columns.index(c)))
    for column in giving_way:
        fit.shorten(column)
    shortened = dict(fit.shown)
    for column in giving_way:
        fit.hide(column)
    for column in reversed(giving_way):
        if id(column) not in fit.shown:
            fit.try_(shortened[id(column)])
        if id(column) in fit.shown:
            fit.try_(fit.full[id(column)])
    planned = [fit.shown[id(c)] for c in columns if id(c) in fit.shown]
    return _grow_headers(planned, width), [c.header for c in columns if id(c) not in fit.shown]


def _grow_headers(planned: list[_Planned], width: int) -> list[_Planned]:
    """Room left over goes to headers wrapped over two lines, so they read on one where they can."""
    grown = list(planned)
    for i, p in enumerate(grown):
        room = width - _total(grown)
        need = len(p.column.header) - p.width
        if 0 < need <= room:
            grown[i] = replace(p, width=len(p.column.header))
    return grown


# -- printing --------------------------------------------------------------------------------------
def _terminal() -> bool:
    return sys.stdout.isatty()


def _console(file: Any, width: int) -> Console:
    return Console(file=file, width=width, highlight=False, soft_wrap=False, markup=False, emoji=False)


def terminal_width() -> int:
    """The width tables are planned for: the terminal's; unlimited off a terminal."""
    return Console(file=sys.stdout).width if _terminal() else _UNLIMITED


def _print(renderable: Any) -> None:
    """To the current stdout (whatever it is at the call: a terminal, a test's, the demo's); off a
    terminal as plain text without the padding rich adds at line ends."""
    width = terminal_width()
    if _terminal():
        _console(sys.stdout, width).print(renderable)
        return
    buffer = io.StringIO()
    _console(buffer, width).print(renderable)
    sys.stdout.write("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n")


def build(
    title: str | None, columns: Sequence[Column], rows: Sequence[dict[str, Any]], width: int
) -> tuple[Table, list[str]]:
    """The table of `rows` planned for `width` columns, and the headers of the columns it hides."""
    planned, hidden = plan(columns, rows, width)
    out = Table(
        title=Text(title) if title else None,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    for p in planned:
        out.add_column(
            # A header wraps at its spaces (its column is at least as wide as its longest word).
            Text(p.column.header, no_wrap=False, overflow="ellipsis"),
            justify=p.column.justify,
            width=p.width,
            no_wrap=not p.column.wrap,
            # Only ever at a width too narrow for the rank-1 columns: a cut word ends with "…".
            overflow="ellipsis",
        )
    for row in rows:
        # Text, not a string: a cell's brackets and colons are data, not rich's markup or emoji codes.
        out.add_row(*(Text(p.cell(row)) for p in planned))
    return out, hidden


def table(title: str | None, columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> None:
    """Rows as a table that fits the terminal (see the module's docstring); no rows: the title alone."""
    if not rows:
        note(title or "")
        return
    width = terminal_width()
    out, hidden = build(title, columns, rows, width)
    _print(out)
    if hidden:
        note(f"(hidden at {width} columns: {', '.join(hidden)}; -o json has every field)")


def note(text: str) -> None:
    _print(text)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def emit_csv(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> None:
    """Rows as CSV with a header line of their JSON keys, every value in full (RFC 4180 quoting)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    writer.writerows([_csv_value(row.get(name)) for name in fields] for row in rows)
    sys.stdout.write(out.getvalue())
