"""The README's tables of context keys and Lambda variables, generated from the settings table.

    python -m job_auditor.infra.reference README.md           # rewrite the tables in place
    python -m job_auditor.infra.reference --check README.md   # exit 1 if they differ from the table

Each table sits between a begin and an end marker (HTML comments, invisible on GitHub); everything
else in the file is left as it is. tests/infra/test_reference.py fails when the README and the table
differ.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from job_auditor.contract.environment import Setting, settings
from job_auditor.infra.config import cdk_settings

CONTEXT_TABLE = "context-keys"
ENVIRONMENT_TABLE = "lambda-environment"
REGENERATE = "python -m job_auditor.infra.reference README.md"


def _begin(table: str) -> str:
    return f"<!-- {table}: generated from job_auditor/contract/environment.py by `{REGENERATE}` -->"


def _end(table: str) -> str:
    return f"<!-- end of {table} -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(setting: Setting) -> str:
    if setting.default_doc:
        return setting.default_doc() if callable(setting.default_doc) else setting.default_doc
    if setting.required:
        return "required"
    text = "" if callable(setting.default) else setting.default
    return f"`{text}`" if text else "none"


def _what(setting: Setting, help_text: str) -> str:
    bounds = setting.form.bounds
    if bounds is None:
        return help_text
    note = f"; {setting.note}" if setting.note else ""
    return f"{help_text} ({bounds.low} to {bounds.high}{note})"


def context_table() -> str:
    """The context keys: key, default, an example, what it does."""
    rows = ["| key | default | example | what it does |", "|---|---|---|---|"]
    for setting in cdk_settings():
        example = f"`-c {setting.context_key}={setting.example_text}`" if setting.example_text else ""
        rows.append(
            f"| `{setting.context_key}` | {_cell(_default(setting))} | {_cell(example)} | "
            f"{_cell(_what(setting, setting.help))} |"
        )
    return "\n".join(rows)


def environment_table() -> str:
    """The Lambda's variables: name, default, the context key it comes from, what it means and takes."""
    rows = ["| variable | default | from | meaning |", "|---|---|---|---|"]
    for setting in settings():
        if not setting.env_var:
            continue
        source = f"`{setting.context_key}`" if setting.context_key else "the construct"
        meaning = f"{setting.help}; {setting.form.text}"
        rows.append(f"| `{setting.env_var}` | {_cell(_default(setting))} | {source} | {_cell(meaning)} |")
    return "\n".join(rows)


def render(text: str) -> str:
    """`text` (a README) with both tables regenerated between their markers."""
    for table, body in ((CONTEXT_TABLE, context_table()), (ENVIRONMENT_TABLE, environment_table())):
        begin, end = _begin(table), _end(table)
        if begin not in text or end not in text:
            raise ValueError(f"the README lacks the markers of the {table} table: {begin} ... {end}")
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{body}\n{end}{tail}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the README's tables of settings.")
    parser.add_argument("readme", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 if the tables differ; change nothing")
    args = parser.parse_args(argv)
    current = args.readme.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(
                f"{args.readme}: the settings tables differ from the table; run `{REGENERATE}`",
                file=sys.stderr,
            )
            return 1
        return 0
    args.readme.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
