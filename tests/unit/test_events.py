import json
from datetime import timedelta

from job_auditor.auditor.domain.events import MAX_FAILURE_MESSAGE_CHARS, build_event, entry_size
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from tests.unit.factories import T0, job, transition

IMPORTS_PAGE = "https://us-east-1.console.aws.amazon.com/bedrock/home?region=us-east-1#/imported-models"


def test_event_carries_the_versioned_envelope() -> None:
    done = job(7, "Completed", ended_at=T0 + timedelta(hours=1, minutes=30))
    event = build_event(transition(done), "job-auditor")
    assert event.source == "job-auditor"
    assert event.detail_type == "Bedrock Model Import Job Status Change"
    assert event.resources == (done.arn,)
    detail = event.detail
    assert detail["version"] == "1"
    assert detail["transition"] == "status-changed"
    assert (detail["previousStatus"], detail["status"], detail["statusCategory"]) == (
        "InProgress",
        "Completed",
        "SUCCEEDED",
    )
    assert detail["durationSeconds"] == 5400
    assert detail["creationTime"] == "2026-11-20T12:00:00Z"
    assert detail["jobKind"] == "bedrock-model-import"
    assert detail["failureMessageTruncated"] is False
    assert detail["eventId"] == transition(done).event_id


def test_long_failure_message_is_truncated_and_flagged() -> None:
    failed = job(1, "Failed", failure_message="x" * 300_000)
    event = build_event(transition(failed), "job-auditor")
    assert len(event.detail["failureMessage"]) == MAX_FAILURE_MESSAGE_CHARS
    assert event.detail["failureMessage"].endswith("[truncated]")
    assert event.detail["failureMessageTruncated"] is True
    assert entry_size(event) < 256 * 1024


def test_entry_size_counts_utf8_bytes() -> None:
    event = build_event(transition(job(1, "Completed", name="модель-✓")), "job-auditor")
    expected = (
        14
        + len(b"job-auditor")
        + len(event.detail_type)
        + len(json.dumps(event.detail, separators=(",", ":"), ensure_ascii=False).encode())
        + len(event.resources[0])
    )
    assert entry_size(event) == expected


def test_qconnect_event_has_no_arn_but_names_the_knowledge_base() -> None:
    t = transition(
        job(1, "COMPLETE")._replace(arn=None, job_id="11111111-2222-3333-4444-555555555555"),
        previous_status="START_IN_PROGRESS",
        spec=JOB_KINDS["qconnect-import"],
    )
    event = build_event(t, "job-auditor")
    assert event.resources == ()
    assert event.detail_type == "Q in Connect Import Job Status Change"
    assert event.detail["statusCategory"] == "SUCCEEDED"


def test_bedrock_job_console_url_opens_the_job_through_the_arn_redirect() -> None:
    # Given a Bedrock model import job, which has an ARN
    t = transition(job(5, "Completed"))
    # When its event is built
    detail = build_event(t, "job-auditor").detail
    # Then consoleUrl is the console's ARN redirect with the whole ARN percent-encoded (: and / too)
    assert detail["consoleUrl"] == (
        "https://us-east-1.console.aws.amazon.com/go/view"
        "?arn=arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-import-job%2Fjob000000005"
    )
    # And jobsConsoleUrl is the list of the kind's jobs
    assert detail["jobsConsoleUrl"] == IMPORTS_PAGE


def test_model_copy_job_links_use_the_sources_region_and_its_own_list_page() -> None:
    arn = "arn:aws:bedrock:eu-west-1:123456789012:model-copy-job/z9y8x7w6v5u4"
    t = transition(
        job(1, "Failed")._replace(job_id=arn, arn=arn), spec=JOB_KINDS["bedrock-model-copy"]
    )._replace(
        source=Source("123456789012", "eu-west-1", JOB_KINDS["bedrock-model-copy"]),
    )
    detail = build_event(t, "job-auditor").detail
    assert detail["consoleUrl"] == (
        "https://eu-west-1.console.aws.amazon.com/go/view"
        "?arn=arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Amodel-copy-job%2Fz9y8x7w6v5u4"
    )
    assert detail["jobsConsoleUrl"] == (
        "https://eu-west-1.console.aws.amazon.com/bedrock/home?region=eu-west-1#/custom-models"
    )


def test_job_without_an_arn_links_to_its_kinds_page() -> None:
    # Given a Q in Connect import job: an id, no ARN
    t = transition(
        job(1, "COMPLETE")._replace(arn=None, job_id="11111111-2222-3333-4444-555555555555"),
        previous_status="START_IN_PROGRESS",
        spec=JOB_KINDS["qconnect-import"],
    )
    detail = build_event(t, "job-auditor").detail
    # Then both links are the kind's console page
    page = "https://us-east-1.console.aws.amazon.com/connect/home?region=us-east-1"
    assert detail["consoleUrl"] == page
    assert detail["jobsConsoleUrl"] == page
