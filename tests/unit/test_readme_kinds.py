"""The README describes every registered kind: its id, detail-type and statuses with their category."""

from __future__ import annotations

from pathlib import Path

import pytest

from job_auditor.contract.kinds import JOB_KINDS, StatusCategory

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
TABLE = README[README.index("## Job kinds") : README.index("### Kinds with native Bedrock events")]


@pytest.mark.parametrize("kind_id", list(JOB_KINDS))
def test_each_kind_has_a_row_naming_its_api_and_every_status(kind_id: str) -> None:
    spec = JOB_KINDS[kind_id]
    row = next(line for line in TABLE.splitlines() if line.startswith(f"| `{kind_id}` |"))
    assert ("| yes |" in row) is spec.enabled_by_default
    assert all(f"`{status}`" in row for status in spec.statuses)
    # A status whose category is not its own name says it (after it in the row)
    for status, category in spec.statuses.items():
        if category.value.replace("_", "") not in status.upper().replace("_", ""):
            assert category.value in row.split(f"`{status}`", 1)[1], status


@pytest.mark.parametrize("kind_id", list(JOB_KINDS))
def test_the_event_section_lists_each_kind_and_detail_type(kind_id: str) -> None:
    event = README[README.index("## The event") : README.index("## Notifications people read")]
    assert f"`{JOB_KINDS[kind_id].detail_type}`" in event
    assert f"`{kind_id}`" in event


def test_every_status_category_is_explained() -> None:
    assert all(f"`{category.value}`" in TABLE for category in StatusCategory)


@pytest.mark.parametrize("kind_id", [k for k, spec in JOB_KINDS.items() if spec.native_detail_type])
def test_a_kind_with_native_events_is_opt_in_and_its_native_event_is_explained(kind_id: str) -> None:
    spec = JOB_KINDS[kind_id]
    native = README[README.index("### Kinds with native Bedrock events") :]
    native = native[: native.index("\n## ")]
    assert not spec.enabled_by_default
    assert f"`{spec.native_detail_type}`" in native
    assert f"`{spec.detail_type}`" in native
