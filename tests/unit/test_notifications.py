from auditor.domain.events import build_detail
from auditor.domain.notifications import build_notification
from tests.unit.factories import job, transition


def test_subject_is_short_single_line_and_says_outcome() -> None:
    note = build_notification(build_detail(transition(job(1, "Failed", failure_message="bad weights"))))
    assert note.subject == "[FAILED] bedrock-model-import import-1 (us-east-1)"
    assert "InProgress -> Failed" in note.body
    assert "bad weights" in note.body
    assert "Account:        123456789012" in note.body
    assert note.attributes == {
        "jobKind": "bedrock-model-import",
        "status": "Failed",
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
