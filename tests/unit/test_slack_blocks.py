"""Block Kit rendering of transitions for the Slack webhook: looks, fields, Slack's limits, goldens."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from job_auditor.auditor.domain.events import build_detail
from job_auditor.slack_forwarder.blocks import (
    MAX_BLOCKS,
    MAX_FIELD_CHARS,
    MAX_FIELDS,
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
    fit,
    render,
    render_plain,
)
from tests.unit import factories
from tests.unit.slack_samples import IMPORT_ARN, KB_ID, SAMPLES

GOLDEN = Path(__file__).parent / "golden"
# UPDATE_GOLDEN=1 pytest tests/unit/test_slack_blocks.py rewrites the golden files after a deliberate change.
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _blocks(payload: dict[str, Any]) -> list[dict[str, Any]]:
    (attachment,) = payload["attachments"]
    return list(attachment["blocks"])


def _job_text(payload: dict[str, Any]) -> str:
    """The text of the section with the job's ARN or id and the console links."""
    (section,) = [
        b for b in _blocks(payload) if b["type"] == "section" and "*Job " in b.get("text", {}).get("text", "")
    ]
    return str(section["text"]["text"])


def _texts(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def _assert_within_slack_limits(payload: dict[str, Any]) -> None:
    blocks = _blocks(payload)
    assert 0 < len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= MAX_HEADER_CHARS
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
            fields = block.get("fields", [])
            assert len(fields) <= MAX_FIELDS
            assert all(len(f["text"]) <= MAX_FIELD_CHARS for f in fields)
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_rendering_matches_the_golden_file(name: str) -> None:
    # Given a transition / When rendered / Then the payload is exactly the reviewed golden JSON
    payload = render(SAMPLES[name])
    golden = GOLDEN / f"slack_{name}.json"
    if UPDATE:
        golden.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    assert payload == json.loads(golden.read_text())
    _assert_within_slack_limits(payload)


@pytest.mark.parametrize(
    ("name", "emoji", "colour", "word"),
    [
        ("succeeded", ":white_check_mark:", "#2eb886", "Succeeded"),
        ("failed", ":x:", "#d40e0d", "FAILED"),
        ("discovered", ":hourglass_flowing_sand:", "#439fe0", "In progress"),
        ("deleted", ":wastebasket:", "#808080", "Deleted"),
        ("unknown", ":grey_question:", "#9e9e9e", "Unknown status"),
        ("stuck", ":warning:", "#daa038", "STUCK"),
        ("partial", ":large_orange_diamond:", "#e8912d", "PARTIALLY COMPLETED"),
        ("expired", ":alarm_clock:", "#c2185b", "EXPIRED"),
        ("stopped", ":black_square_for_stop:", "#7a7a7a", "Stopped"),
    ],
)
def test_emoji_colour_and_word_follow_the_status_category(
    name: str, emoji: str, colour: str, word: str
) -> None:
    payload = render(SAMPLES[name])
    header = _blocks(payload)[0]
    assert header["type"] == "header"
    assert header["text"]["text"].startswith(f"{emoji} {word}: ")
    assert payload["attachments"][0]["color"] == colour
    assert payload["text"].startswith(f"{emoji} [{word}] ")


def test_every_field_people_need_is_shown() -> None:
    payload = render(SAMPLES["succeeded"])
    text = _texts(payload)
    for expected in (
        "*Account*\\n123456789012",
        "*Region*\\nus-east-1",
        "*Job kind*\\nbedrock-model-import",
        "*Job name*\\nllama-3-8b-import",
        "*Status*\\nInProgress → Completed",
        "*Created*\\n2026-11-02T08:00:00Z",
        "*Ended*\\n2026-11-05T08:02:00Z",
        "*Duration*\\n3d 00h 02m",
        f"`{IMPORT_ARN}`",
        "09f6f1c6-c1d3-5c3a-b5ff-23e94444d7d2",
    ):
        assert expected in text, expected
    # A link, not a URL button: webhook apps have no interactivity endpoint, so a button would show a
    # warning icon once clicked
    url = SAMPLES["succeeded"]["consoleUrl"]
    assert f":arrow_upper_right: <{url}|Open in the AWS console>" in _blocks(payload)[3]["text"]["text"]
    assert "button" not in text


def test_q_in_connect_job_shows_its_id_and_knowledge_base() -> None:
    text = _texts(render(SAMPLES["deleted"]))
    assert "*Job id*\\n`f0e1d2c3-b4a5-4968-8776-655443322110`" in text
    assert f"*Knowledge base*\\n`{KB_ID}`" in text
    assert "*Job name*\\n-" in text


def test_ingestion_job_shows_its_data_source_statistics_and_reasons() -> None:
    text = _texts(render(SAMPLES["ingestion-failed"]))
    assert "`KBAAAAAAAA`" in text and "`DS11111111`" in text
    assert "*Documents scanned*\\n120" in text and "*Documents failed*\\n20" in text
    assert "Access denied to s3://docs/handbook.pdf" in text


def test_new_job_and_stuck_job_say_so() -> None:
    assert "*new job → InProgress*" in _texts(render(SAMPLES["discovered"]))
    stuck = _texts(render(SAMPLES["stuck"]))
    assert "*still InProgress after 24h 00m 00s*" in stuck
    assert "*Status*\\nInProgress (for 24h 00m 00s)" in stuck


def test_disappeared_job_says_so_with_its_last_status() -> None:
    payload = render(SAMPLES["stuck"] | {"transition": "disappeared"})
    assert _blocks(payload)[0]["text"]["text"].startswith(":ghost: DISAPPEARED")
    assert "*no longer found (last seen InProgress)*" in _texts(payload)
    assert payload["attachments"][0]["color"] == "#808080"


def test_unknown_status_category_value_renders_as_unknown() -> None:
    payload = render(SAMPLES["succeeded"] | {"statusCategory": "SOMETHING_NEW", "status": "Paused"})
    assert _blocks(payload)[0]["text"]["text"].startswith(":grey_question: Unknown status")
    assert "InProgress → Paused" in _texts(payload)


def test_long_failure_message_is_cut_inside_a_code_block_under_the_section_limit() -> None:
    # Given a 4,000-character failure message with mrkdwn control characters
    payload = render(SAMPLES["failed"])
    (failure,) = [
        b
        for b in _blocks(payload)
        if b["type"] == "section" and "Failure" in b.get("text", {}).get("text", "")
    ]
    text = failure["text"]["text"]
    # Then the section is within Slack's 3,000 characters, fenced, escaped and marked as cut
    assert len(text) <= MAX_SECTION_CHARS
    assert len(text) > MAX_SECTION_CHARS - 20
    assert text.startswith("*Failure message (truncated)*\n```ValidationException")
    assert text.endswith("…```")
    assert "&lt;safetensors&gt; &amp; config.json" in text
    assert "`architectures`" not in text  # a backtick would close the code block early
    _assert_within_slack_limits(payload)


def test_huge_values_everywhere_stay_within_every_limit() -> None:
    big = "x<&>" * 5_000
    detail = SAMPLES["failed"] | {
        "jobName": big,
        "jobArn": big,
        "status": big,
        "previousStatus": big,
        "region": big,
        "account": big,
        "eventId": big,
        "knowledgeBaseId": big,
        "failureMessage": big,
    }
    payload = render(detail)
    _assert_within_slack_limits(payload)
    assert len(payload["text"]) <= 300


def test_missing_fields_do_not_break_rendering() -> None:
    payload = render({"eventId": "e1", "status": "Completed"})
    _assert_within_slack_limits(payload)
    assert _blocks(payload)[0]["text"]["text"] == ":grey_question: Unknown status: job (unnamed job)"
    assert "Open in the AWS console" not in _texts(payload)


UNSAFE_URLS = ["javascript:alert(1)", "http://example.com", "https://example.com/a|b", "https://x/<!here>"]


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_a_console_url_that_is_not_plain_https_gets_no_link(url: str) -> None:
    payload = render(SAMPLES["succeeded"] | {"consoleUrl": url})
    assert "Open in the AWS console" not in _texts(payload)
    # The list page is still linked, on its own
    jobs_url = SAMPLES["succeeded"]["jobsConsoleUrl"]
    assert _job_text(payload).endswith(f"\n:arrow_upper_right: <{jobs_url}|All Bedrock model import jobs>")


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_a_jobs_console_url_that_is_not_plain_https_gets_no_link(url: str) -> None:
    payload = render(SAMPLES["succeeded"] | {"jobsConsoleUrl": url})
    job_url = SAMPLES["succeeded"]["consoleUrl"]
    assert _job_text(payload).endswith(f"\n:arrow_upper_right: <{job_url}|Open in the AWS console>")
    assert "All Bedrock model import jobs" not in _texts(payload)


def test_ampersands_in_the_console_url_are_escaped() -> None:
    payload = render(SAMPLES["succeeded"] | {"consoleUrl": "https://console.aws.amazon.com/x?a=1&b=2"})
    assert "<https://console.aws.amazon.com/x?a=1&amp;b=2|Open in the AWS console>" in _texts(payload)


def test_ampersands_in_the_jobs_console_url_are_escaped() -> None:
    payload = render(SAMPLES["succeeded"] | {"jobsConsoleUrl": "https://console.aws.amazon.com/y?a=1&b=2"})
    assert "<https://console.aws.amazon.com/y?a=1&amp;b=2|All Bedrock model import jobs>" in _job_text(
        payload
    )


def test_job_link_from_a_real_event_carries_the_encoded_arn() -> None:
    # Given the detail the auditor publishes for a Bedrock job (consoleUrl from its ARN)
    detail = json.loads(json.dumps(build_detail(factories.transition(factories.job(3, "Completed")))))
    # When rendered
    text = _job_text(render(detail))
    # Then the first link opens the job through the ARN redirect, the ARN percent-encoded whole,
    # and the second one the list of the kind's jobs
    assert text.endswith(
        "\n:arrow_upper_right: <https://us-east-1.console.aws.amazon.com/go/view"
        "?arn=arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-import-job%2Fjob000000003"
        "|Open in the AWS console>"
        " · <https://us-east-1.console.aws.amazon.com/bedrock/home?region=us-east-1#/imported-models"
        "|All Bedrock model import jobs>"
    )


def test_job_without_an_arn_gets_one_link() -> None:
    # Given a Q in Connect job: consoleUrl and jobsConsoleUrl are both the kind's page
    text = _job_text(render(SAMPLES["deleted"]))
    page = SAMPLES["deleted"]["consoleUrl"]
    assert text.endswith(f"`\n:arrow_upper_right: <{page}|Open in the AWS console>")
    assert text.count(page) == 1


def test_an_envelope_without_jobs_console_url_gets_the_job_link_only() -> None:
    # Given a detail published before jobsConsoleUrl existed (e.g. redriven from the dead-letter queue)
    detail = {k: v for k, v in SAMPLES["succeeded"].items() if k != "jobsConsoleUrl"}
    text = _job_text(render(detail))
    assert text.endswith(f"\n:arrow_upper_right: <{detail['consoleUrl']}|Open in the AWS console>")


def test_long_console_urls_keep_the_job_section_within_slack_limits() -> None:
    # Given two URLs each within the per-URL bound but together longer than a section
    job_url = "https://console.aws.amazon.com/go/view?arn=" + "a" * 1_900
    jobs_url = "https://console.aws.amazon.com/list?" + "b" * 1_900
    payload = render(SAMPLES["succeeded"] | {"consoleUrl": job_url, "jobsConsoleUrl": jobs_url})
    text = _job_text(payload)
    # Then the section stays within 3,000 characters: the job link stays, the list link is left out,
    # and the ARN is shown whole
    assert len(text) <= MAX_SECTION_CHARS
    assert f"<{job_url}|Open in the AWS console>" in text
    assert jobs_url not in text
    assert f"`{IMPORT_ARN}`" in text
    _assert_within_slack_limits(payload)


def test_fit_never_cuts_inside_an_entity_and_keeps_short_text() -> None:
    assert fit("a<b", 10) == "a&lt;b"
    assert fit("<<<<", 6) == "&lt;…"
    assert len(fit("&" * 100, 50)) <= 50
    assert fit("abc", 3) == "abc"
    assert fit("abcd", 3) == "ab…"
    assert fit("<x>", 3, markdown=False) == "<x>"


def test_plain_text_message_is_escaped_and_cut() -> None:
    payload = render_plain("hello <world> & " + "y" * 5_000)
    _assert_within_slack_limits(payload)
    assert _blocks(payload)[0]["text"]["text"].startswith("hello &lt;world&gt; &amp; yyy")
    assert payload["text"].startswith(":speech_balloon: Notification: hello")
    assert render_plain("  ")["attachments"][0]["blocks"][0]["text"]["text"] == "(empty message)"


def test_renders_what_the_auditor_really_publishes() -> None:
    # Given the lambda-protocol message of a real transition (build_detail, envelope v1)
    detail = json.loads(json.dumps(build_detail(factories.transition())))
    # When rendered / Then it is a complete message within Slack's limits
    payload = render(detail)
    _assert_within_slack_limits(payload)
    assert (
        _blocks(payload)[0]["text"]["text"]
        == ":white_check_mark: Succeeded: Bedrock model import job import-1"
    )
    assert detail["eventId"] in _texts(payload)
