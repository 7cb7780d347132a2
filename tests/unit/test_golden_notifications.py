"""Golden renderings of each transition kind for the email and chat channels.

Regenerate after an intended change with `UPDATE_GOLDEN=1 make unit`, then read the diff.
"""

import json
import os
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from job_auditor.auditor.domain.digest import Digest
from job_auditor.auditor.domain.events import build_detail
from job_auditor.auditor.domain.jobs import JOB_KINDS
from job_auditor.auditor.domain.notifications import body, chat_notification, subject
from tests.unit.factories import T0, job, transition

GOLDEN = Path(__file__).parent / "golden"
STATS = {
    "numberOfDocumentsScanned": 120,
    "numberOfNewDocumentsIndexed": 95,
    "numberOfModifiedDocumentsIndexed": 5,
    "numberOfDocumentsDeleted": 0,
    "numberOfDocumentsFailed": 20,
}

_stuck_job = job(7, "InProgress", created_minutes=-25 * 60)
STUCK = transition(_stuck_job, previous_status="InProgress")._replace(
    type="stuck", stuck_since=_stuck_job.created_at
)

KINDS: dict[str, Any] = {
    "discovered": transition(job(1, "InProgress"), previous_status=None),
    "completed": transition(job(2, "Completed", ended_at=T0 + timedelta(hours=1, minutes=30))),
    "failed-long-message": transition(
        job(3, "Failed", failure_message="Checkpoint shard 00007 is corrupt. " * 400)
    ),
    "unknown-status": transition(job(4, "Paused")),
    "stuck": STUCK,
    # A tracked job its API no longer finds: announced once, in the status it was last seen in.
    "disappeared": transition(
        job(13, "InProgress", created_minutes=-6 * 60), previous_status="InProgress"
    )._replace(
        type="disappeared",
        stuck_since=T0 - timedelta(hours=6),
    ),
    # A kind scoped by knowledge base and data source, with statistics and failure reasons.
    "ingestion-failed": transition(
        job(8, "FAILED", ended_at=None)._replace(
            job_id="INGEST0008",
            arn=None,
            name="INGEST0008",
            failure_message="Access denied to s3://docs/handbook.pdf; 20 files could not be parsed",
            details=MappingProxyType({"statistics": STATS}),
        ),
        previous_status="IN_PROGRESS",
        spec=JOB_KINDS["bedrock-kb-ingestion"],
        scope_ids=("KBAAAAAAAA", "DS11111111"),
    ),
    # The categories the new kinds brought: partly done, ran out of time, stopped by a person.
    "batch-partial": transition(
        job(9, "PartiallyCompleted")._replace(
            failure_message="7 of 100 records failed",
            details=MappingProxyType(
                {"totalRecordCount": 100, "successRecordCount": 93, "errorRecordCount": 7}
            ),
        ),
        spec=JOB_KINDS["bedrock-batch-inference"],
    ),
    "batch-expired": transition(job(10, "Expired"), spec=JOB_KINDS["bedrock-batch-inference"]),
    "customization-failed": transition(
        job(12, "Failed")._replace(
            failure_message="Training data s3://train/data.jsonl has 3 malformed lines"
        ),
        spec=JOB_KINDS["bedrock-customization"],
    ),
    "evaluation-stopped": transition(
        job(11, "Stopped"), previous_status="Stopping", spec=JOB_KINDS["bedrock-evaluation"]
    ),
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


# Issue 22, item 3: one run's transitions for people as one digest.
DIGESTED = [*KINDS.values(), *(transition(job(100 + n, "Completed")) for n in range(20))]


def test_digest_email_golden() -> None:
    digest = Digest.of([build_detail(t) for t in DIGESTED])
    _check(GOLDEN / "digest_email.txt", f"Subject: {digest.subject()}\n\n{digest.text()}\n")


def test_digest_chat_golden() -> None:
    digest = Digest.of([build_detail(t) for t in DIGESTED])
    _check(GOLDEN / "digest_chat.json", json.dumps(digest.chat(), indent=2, ensure_ascii=False) + "\n")
