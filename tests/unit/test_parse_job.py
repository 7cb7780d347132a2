"""Odd members of the new kinds' jobs: reasons lists, statistics and record counts of the wrong shape."""

from __future__ import annotations

from datetime import UTC, datetime

from job_auditor.auditor.adapters.job_api import parse_job
from job_auditor.auditor.domain.jobs import JOB_KINDS
from job_auditor.auditor.ports import Listing

INGESTION = JOB_KINDS["bedrock-kb-ingestion"]
BATCH = JOB_KINDS["bedrock-batch-inference"]
STARTED = datetime(2026, 11, 1, tzinfo=UTC)


def _ingestion(**extra: object) -> dict[str, object]:
    return {"ingestionJobId": "INGEST0001", "status": "FAILED", "startedAt": STARTED, **extra}


def test_a_reasons_list_is_joined_and_what_is_not_text_is_left_out() -> None:
    job = parse_job(INGESTION, _ingestion(failureReasons=["denied", 42, "", None, "20 files unparsable"]))
    assert job is not None
    assert job.failure_message == "denied; 20 files unparsable"


def test_an_empty_or_malformed_reasons_member_means_no_failure_message() -> None:
    for reasons in ([], [7], {"not": "a list"}, 5):
        job = parse_job(INGESTION, _ingestion(failureReasons=reasons))
        assert job is not None and job.failure_message is None, reasons


def test_statistics_keep_their_scalar_members_and_drop_the_rest() -> None:
    stats = {"numberOfDocumentsScanned": 10, "nested": {"x": 1}, "list": [1], "numberOfDocumentsFailed": 2}
    job = parse_job(INGESTION, _ingestion(statistics=stats))
    assert job is not None
    assert dict(job.details) == {"statistics": {"numberOfDocumentsScanned": 10, "numberOfDocumentsFailed": 2}}


def test_details_of_the_wrong_shape_are_left_out_and_the_job_is_still_announced() -> None:
    # Given a batch job whose record counts are a list and a structure where numbers belong
    item = {
        "jobArn": "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefabcdef",
        "status": "PartiallyCompleted",
        "submitTime": STARTED,
        "totalRecordCount": [100],
        "errorRecordCount": 7,
        "successRecordCount": {},
    }
    listing = Listing()
    job = parse_job(BATCH, item, listing)
    # Then only the well-formed count is carried, and nothing is skipped
    assert job is not None and dict(job.details) == {"errorRecordCount": 7}
    assert listing.skipped == {}
