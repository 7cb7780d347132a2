import json
from typing import Any

from job_auditor.auditor.domain.events import build_detail
from job_auditor.auditor.domain.jobs import JOB_KINDS
from job_auditor.auditor.domain.notifications import body, build_notification, chat_notification
from tests.unit.factories import job, transition

JOB_LINK = (
    "https://us-east-1.console.aws.amazon.com/go/view"
    "?arn=arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-import-job%2Fjob000000001"
)
IMPORTS_PAGE = "https://us-east-1.console.aws.amazon.com/bedrock/home?region=us-east-1#/imported-models"
CONNECT_PAGE = "https://us-east-1.console.aws.amazon.com/connect/home?region=us-east-1"


def test_subject_is_short_single_line_and_says_outcome() -> None:
    note = build_notification(build_detail(transition(job(1, "Failed", failure_message="bad weights"))))
    assert note.subject == "[FAILED] bedrock-model-import import-1 (us-east-1)"
    assert "InProgress -> Failed" in note.body
    assert "bad weights" in note.body
    assert "Account:        123456789012" in note.body
    assert note.attributes == {
        "jobKind": "bedrock-model-import",
        "status": "Failed",
        "statusCategory": "FAILED",
        "previousStatus": "InProgress",
        "transition": "status-changed",
        "region": "us-east-1",
        "account": "123456789012",
        "jobName": "import-1",
        "eventId": note.attributes["eventId"],
    }
    assert (
        note.attributes["eventId"]
        == build_detail(transition(job(1, "Failed", failure_message="bad weights")))["eventId"]
    )


def test_subject_with_a_huge_name_and_control_characters_stays_within_100_chars() -> None:
    note = build_notification(build_detail(transition(job(1, "Completed", name="a\nb\t" + "n" * 500))))
    assert len(note.subject) <= 100
    assert "\n" not in note.subject and "\t" not in note.subject
    assert note.subject.startswith("[Succeeded] bedrock-model-import a b")
    assert note.subject.endswith("(us-east-1)")


def test_discovered_job_body_says_new() -> None:
    note = build_notification(build_detail(transition(job(1, "InProgress"), previous_status=None)))
    assert "(new job) -> InProgress" in note.body
    assert note.attributes["previousStatus"] == "NONE"
    assert note.attributes["transition"] == "discovered"


def _qconnect_detail() -> dict[str, Any]:
    qjob = job(1, "COMPLETE")._replace(arn=None, job_id="11111111-2222-3333-4444-555555555555")
    return build_detail(
        transition(qjob, previous_status="START_IN_PROGRESS", spec=JOB_KINDS["qconnect-import"])
    )


def test_email_links_the_job_and_the_list_of_its_kinds_jobs() -> None:
    # Given a Bedrock job (it has an ARN) / When its email is rendered
    lines = body(build_detail(transition(job(1, "Completed")))).splitlines()
    # Then the console line opens the job, and the next line the list page
    console = lines.index(f"Console: {JOB_LINK}")
    assert lines[console + 1] == f"All Bedrock model import jobs: {IMPORTS_PAGE}"


def test_email_of_a_job_without_an_arn_has_one_console_line() -> None:
    text = body(_qconnect_detail())
    assert f"Console: {CONNECT_PAGE}\nEvent id: " in text
    assert "All " not in text
    assert text.count(CONNECT_PAGE) == 1


def test_chat_next_steps_open_the_job_then_offer_the_list() -> None:
    steps = chat_notification(build_detail(transition(job(1, "Completed"))))["content"]["nextSteps"]
    assert steps == [
        f"Open the job in the <{JOB_LINK}|AWS console>",
        f"Or see <{IMPORTS_PAGE}|all Bedrock model import jobs>",
    ]


def test_chat_next_steps_of_a_job_without_an_arn_link_the_kinds_page_once() -> None:
    steps = chat_notification(_qconnect_detail())["content"]["nextSteps"]
    assert steps == [f"Open the job in the <{CONNECT_PAGE}|AWS console>"]


def test_a_disappeared_job_says_so_in_subject_body_and_chat() -> None:
    from job_auditor.auditor.domain.diff import disappeared
    from job_auditor.auditor.domain.events import build_detail
    from job_auditor.auditor.domain.jobs import JobState
    from job_auditor.auditor.domain.notifications import body, chat_notification, subject
    from tests.unit.factories import SOURCE, T0

    state = JobState(
        "arn:aws:bedrock:us-east-1:123456789012:model-import-job/x", "InProgress", T0, 2, name="imp"
    )
    detail = build_detail(disappeared(SOURCE, state, T0))
    assert detail["transition"] == "disappeared"
    assert subject(detail) == "[DISAPPEARED] bedrock-model-import imp (us-east-1)"
    assert "no longer found (last seen InProgress)" in body(detail)
    assert chat_notification(detail)["content"]["title"].startswith(":ghost:")


def test_email_chat_and_slack_say_a_duration_the_same_way() -> None:
    from job_auditor.auditor.domain.notifications import body, chat_notification
    from job_auditor.slack_forwarder.blocks import render

    # Given a job that ran 49 hours
    detail = build_detail(transition(job(1, "Completed"))) | {"durationSeconds": 49 * 3600}
    # Then every channel says 2 days and 1 hour, in the same words
    assert "Duration:       2d 01h 00m" in body(detail)
    assert "*Duration* 2d 01h 00m" in chat_notification(detail)["content"]["description"]
    assert "*Duration*\\n2d 01h 00m" in json.dumps(render(detail))
