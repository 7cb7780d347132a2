"""What reaches people: SNS filter policies (proven with moto), and the chat topic's custom notifications."""

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema

from job_auditor.auditor.domain.notifications import FilterPolicy, matches
from job_auditor.infra.config import load_config
from simulator.world import ACCOUNT, REGION, World
from tests.unit.test_channels import CHAT_SCHEMA

SOURCE_MODEL = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/imported/abcdefghijkl"
POLICY: FilterPolicy = {
    "status": ["Completed", "Failed", "COMPLETE", "FAILED"],
    "jobName": [{"prefix": "prod-"}],
}


def _busy_day(w: World) -> None:
    """Jobs of all kinds and names; some finish, some fail, some keep running."""
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    arns = [
        w.plane.create_model_import_job(region=REGION, name=f"{env}-imp-{i}", status="InProgress")
        for env in ("prod", "dev")
        for i in range(3)
    ]
    copies = [
        w.plane.create_model_copy_job(
            region=REGION, target_model_name=f"{env}-copy", source_model_arn=SOURCE_MODEL, status="InProgress"
        )
        for env in ("prod", "dev")
    ]
    qjob = w.plane.create_import_job(region=REGION, knowledge_base_id=kb, status="START_IN_PROGRESS")
    w.run()
    w.advance(timedelta(minutes=5))
    for i, arn in enumerate(arns):
        w.plane.set_status(arn, ["Completed", "Failed", "InProgress"][i % 3], failure_message="bad")
    for arn in copies:
        w.plane.set_status(arn, "Failed", failure_message="denied")
    w.plane.set_status(qjob, "COMPLETE")
    w.plane.create_model_import_job(region=REGION, name="prod-new", status="InProgress")
    w.run()


def test_filtered_subscription_receives_exactly_the_matching_messages(make_world: Any) -> None:
    # Given an unfiltered subscriber and one filtered to finished prod-* jobs
    w: World = make_world()
    filtered = w.subscribe_topic(POLICY, "finished-prod-only")
    # When a busy day of transitions is published
    _busy_day(w)
    everything = w.notifications_received()
    received = w.drain(filtered)
    # Then the filtered queue got exactly those whose attributes match the policy
    attrs = [{k: v["Value"] for k, v in n["MessageAttributes"].items()} for n in everything]
    expected = sorted(n["MessageId"] for n, a in zip(everything, attrs, strict=True) if matches(POLICY, a))
    assert sorted(n["MessageId"] for n in received) == expected
    assert 0 < len(received) < len(everything)
    assert {n["MessageAttributes"]["jobName"]["Value"][:5] for n in received} == {"prod-"}
    # And the SQS subscriber reads the default (text) rendering of the per-protocol message
    assert all(n["Message"].startswith(n["MessageAttributes"]["jobKind"]["Value"]) for n in received)


def test_chat_topic_gets_custom_notifications_filtered_like_the_other_channels(make_world: Any) -> None:
    w: World = make_world(NOTIFY_FILTER=json.dumps(POLICY))
    w._set_env({"CHAT_TOPIC_ARN": w.chat_topic_arn})
    chat = w.subscribe_topic(None, "chat-consumer", topic_arn=w.chat_topic_arn)
    _busy_day(w)
    everything = w.notifications_received()
    chat_messages = w.drain(chat)
    attrs = [{k: v["Value"] for k, v in n["MessageAttributes"].items()} for n in everything]
    assert len(chat_messages) == len([a for a in attrs if matches(POLICY, a)])
    for message in chat_messages:
        payload = json.loads(message["Message"])
        jsonschema.validate(payload, CHAT_SCHEMA)
        assert payload["metadata"]["threadId"]
    titles = sorted(json.loads(m["Message"])["content"]["title"] for m in chat_messages)
    assert titles[0].startswith(":white_check_mark: bedrock-model-import prod-imp-0")


# Issue 10, item 12: the README's own deploy example used to drop every stuck alert.


def _readme_deploy_statuses() -> str:
    """The notifyStatuses of the README's deploy example, as a reader would copy it."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme[readme.index("npx cdk deploy \\") :].split("```", 1)[0]
    (statuses,) = re.findall(r"-c notifyStatuses=(\S+)", example)
    return str(statuses)


def _stuck_then_completed(w: World) -> None:
    """A model import that stays in progress past the stuck threshold (1 h), then completes."""
    job = w.plane.create_model_import_job(region=REGION, name="slow", status="InProgress")
    w.run()
    w.advance(timedelta(hours=2))
    w.run()
    w.plane.set_status(job, "Completed")
    w.advance(timedelta(minutes=5))
    w.run()


def _transitions(messages: list[dict[str, Any]]) -> list[str]:
    return [m["MessageAttributes"]["transition"]["Value"] for m in messages]


def test_stuck_alert_reaches_email_under_a_status_filter(make_world: Any) -> None:
    # Given the README's deploy example (notifyStatuses=Completed,Failed,COMPLETE,FAILED) as the stack
    # builds it: an email-like subscription with its filter policy, one with notifyStuckAlerts=false,
    # and the chat topic, whose publisher applies the same filter (NOTIFY_FILTER)
    statuses = _readme_deploy_statuses()
    assert statuses == "Completed,Failed,COMPLETE,FAILED"
    policy = load_config({"notifyStatuses": statuses}).notification_filter
    opted_out = load_config({"notifyStatuses": statuses, "notifyStuckAlerts": "false"}).notification_filter
    w: World = make_world(
        JOB_KINDS="bedrock-model-import", STUCK_AFTER_HOURS="1", NOTIFY_FILTER=json.dumps(policy)
    )
    w._set_env({"CHAT_TOPIC_ARN": w.chat_topic_arn})
    email = w.subscribe_topic(policy, "email-like")
    email_opted_out = w.subscribe_topic(opted_out, "email-opted-out")
    chat = w.subscribe_topic(None, "chat-consumer", topic_arn=w.chat_topic_arn)
    # When a job gets stuck, then completes
    _stuck_then_completed(w)
    # Then the stuck alert reached email and Slack, and only the opted-out subscription went without it
    assert _transitions(w.drain(email)) == ["stuck", "status-changed"]
    assert _transitions(w.drain(email_opted_out)) == ["status-changed"]
    chat_messages = w.drain(chat)
    assert _transitions(chat_messages) == ["stuck", "status-changed"]
    assert json.loads(chat_messages[0]["Message"])["metadata"]["eventType"] == "stuck"


def test_stuck_alert_stays_out_of_chat_when_opted_out(make_world: Any) -> None:
    opted_out = load_config(
        {"notifyStatuses": "Completed,Failed", "notifyStuckAlerts": "false"}
    ).notification_filter
    w: World = make_world(
        JOB_KINDS="bedrock-model-import", STUCK_AFTER_HOURS="1", NOTIFY_FILTER=json.dumps(opted_out)
    )
    w._set_env({"CHAT_TOPIC_ARN": w.chat_topic_arn})
    chat = w.subscribe_topic(None, "chat-consumer", topic_arn=w.chat_topic_arn)
    _stuck_then_completed(w)
    assert _transitions(w.drain(chat)) == ["status-changed"]
    assert "stuck" in _transitions(w.notifications_received())


# Issue 22, item 3: a busy run reaches people as one digest; the bus still gets every event.


def _imports_complete_in_one_run(w: World, names: list[str], status: str = "Completed") -> None:
    arns = [w.plane.create_model_import_job(region=REGION, name=name, status="InProgress") for name in names]
    w.run()
    w.advance(timedelta(minutes=5))
    for arn in arns:
        w.plane.set_status(arn, status, failure_message="bad weights" if status == "Failed" else None)
    w.run()


def test_thirty_transitions_in_one_run_are_thirty_events_and_one_digest_per_topic(make_world: Any) -> None:
    # Given the chat topic configured, and a consumer on the bus, the topic and the chat topic
    w: World = make_world(JOB_KINDS="bedrock-model-import")
    w._set_env({"CHAT_TOPIC_ARN": w.chat_topic_arn})
    chat = w.subscribe_topic(None, "chat-consumer", topic_arn=w.chat_topic_arn)
    # When 30 jobs complete between two runs
    _imports_complete_in_one_run(w, [f"imp-{i}" for i in range(30)])
    # Then the bus carries 30 events, the topic one digest and the chat topic one digest
    events = w.events_received()
    assert len(events) == 30 and len({e["detail"]["eventId"] for e in events}) == 30
    (email,) = w.notifications_received()
    (chat_message,) = w.drain(chat)
    assert email["Subject"] == "[DIGEST] 30 job transitions"
    assert email["Message"].startswith("job-auditor digest: 30 job transitions in one run.")
    assert email["MessageAttributes"]["eventId"]["Value"].startswith("digest-")
    payload = json.loads(chat_message["Message"])
    jsonschema.validate(payload, CHAT_SCHEMA)
    assert payload["content"]["title"] == ":bookmark_tabs: job-auditor: 30 job transitions in one run"
    assert w.pending_claims() == set()


def test_a_digest_reaches_a_filtered_subscription_and_what_the_filter_drops_does_not(make_world: Any) -> None:
    # Given people's filter (finished prod-* jobs) on a subscription and in the auditor's environment
    w: World = make_world(JOB_KINDS="bedrock-model-import", NOTIFY_FILTER=json.dumps(POLICY))
    filtered = w.subscribe_topic(POLICY, "finished-prod-only")
    # When 22 prod-* and 5 dev-* jobs fail in one run
    _imports_complete_in_one_run(
        w, [f"prod-{i}" for i in range(22)] + [f"dev-{i}" for i in range(5)], "Failed"
    )
    # Then the filtered subscription gets one digest of the 22 (it carries the attributes of one of
    # them, which pass the filter), and none of the dev-* messages
    (digest,) = w.drain(filtered)
    assert digest["Subject"] == "[DIGEST] 22 job transitions, 22 need attention"
    assert digest["MessageAttributes"]["digest"]["Value"] == "true"
    assert "Need attention (22):" in digest["Message"]
    # And the unfiltered subscriber sees that digest and the five dev-* transitions one by one
    everything = w.notifications_received()
    assert sorted(n["Subject"][:9] for n in everything) == ["[DIGEST] ", *["[FAILED] "] * 5]
    assert len(w.events_received()) == 27
