"""Golden renderings of each transition kind for the email and chat channels.

Regenerate after an intended change with `UPDATE_GOLDEN=1 make unit`, then read the diff.
"""

import json
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor.domain.events import build_detail
from auditor.domain.notifications import body, chat_notification, subject
from tests.unit.factories import T0, job, transition

GOLDEN = Path(__file__).parent / "golden"

_stuck_job = job(7, "InProgress", created_minutes=-25 * 60)
STUCK = replace(
    transition(_stuck_job, previous_status="InProgress"), type="stuck", stuck_since=_stuck_job.created_at
)

KINDS: dict[str, Any] = {
    "discovered": transition(job(1, "InProgress"), previous_status=None),
    "completed": transition(job(2, "Completed", ended_at=T0 + timedelta(hours=1, minutes=30))),
    "failed-long-message": transition(
        job(3, "Failed", failure_message="Checkpoint shard 00007 is corrupt. " * 400)
    ),
    "unknown-status": transition(job(4, "Paused")),
    "stuck": STUCK,
}


def _check(path: Path, text: str) -> None:
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"{path.name} missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text()


@pytest.mark.parametrize("kind", KINDS)
def test_email_golden(kind: str) -> None:
    detail = build_detail(KINDS[kind])
    _check(GOLDEN / f"email_{kind}.txt", f"Subject: {subject(detail)}\n\n{body(detail)}\n")


@pytest.mark.parametrize("kind", KINDS)
def test_chat_golden(kind: str) -> None:
    detail = build_detail(KINDS[kind])
    _check(
        GOLDEN / f"chat_{kind}.json",
        json.dumps(chat_notification(detail), indent=2, ensure_ascii=False) + "\n",
    )
