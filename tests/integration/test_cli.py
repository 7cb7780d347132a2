"""The `job-auditor` CLI against a world (the simulator and moto) after a few audit cycles, its
resources found from a moto CloudFormation stack as from a deployed one."""

from __future__ import annotations

import csv
import io
import json
import warnings
from datetime import timedelta
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from job_auditor.cli import cli, permissions
from job_auditor.cli.resources import Resources
from job_auditor.contract.discovery import CLOUDTRAIL
from job_auditor.infra.config import load_config
from simulator.world import ACCOUNT, CHAT_TOPIC, EVENT_SOURCE, REGION, TABLE, World
from tests.integration.cli_story import KINDS, Story, tell
from tests.integration.conftest import START


@pytest.fixture(autouse=True)
def _record_aws_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every AWS call a command makes, recorded by a botocore event hook on the CLI's session (the
    one `run --once` builds its clients on too)."""
    built = Resources.__init__

    def init(self: Resources, target: Any, session: Any = None) -> None:
        built(self, target, session)
        self.session.events.register("before-call.*.*", _record)
        self.session.events.register("before-parameter-build.sns.*", _record_topic)

    monkeypatch.setattr(Resources, "__init__", init)
    CALLS.clear()


CALLS: list[str] = []
# The topics the commands' SNS calls named, in order.
TOPICS: list[str] = []
# Per command of the permissions table: the IAM actions its calls needed, over the tests.
EXERCISED: dict[str, set[str]] = {}


# (IAM action, region) of each call, for the policy's region conditions.
CALLS_IN: list[tuple[str, str]] = []


def _record(model: Any, request_signer: Any = None, **_: Any) -> None:
    action = permissions.iam_action(model.service_model.signing_name, model.name)
    CALLS.append(action)
    CALLS_IN.append((action, getattr(request_signer, "region_name", "")))


def _record_topic(params: Any, **_: Any) -> None:
    if "TopicArn" in params:
        TOPICS.append(params["TopicArn"])


def _story(make_world: Any, **env: str) -> Story:
    return tell(make_world(JOB_KINDS=KINDS, **env))


def _permissions_key(args: tuple[str, ...]) -> str | None:
    command = next((a for a in args if a in cli.commands), None)
    if command == "replay" and "--notify" in args:
        return "replay --notify"
    if command == "replay" and "--parked" in args:
        return "replay --parked"
    return command


def _invoke(*args: str, input: str | None = None) -> Result:
    """The command, in-process; and a check that the permissions table covers each AWS call it made."""
    CALLS.clear()
    CALLS_IN.clear()
    TOPICS.clear()
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input)
    key = _permissions_key(args)
    if key is not None and key in permissions.COMMANDS:
        uncovered = set(CALLS) - permissions.actions_of(key)
        assert not uncovered, f"{key}: {sorted(uncovered)} not in job_auditor.cli.permissions"
        EXERCISED.setdefault(key, set()).update(CALLS)
    return result


def _json(*args: str) -> Any:
    result = _invoke(*args, "--output", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _event_ids(events: list[dict[str, Any]], job: str | None = None) -> list[str]:
    return [e["detail"]["eventId"] for e in events if job is None or e["detail"]["jobId"] == job]


def test_status_shows_every_source_as_the_table_holds_it(make_world: Any) -> None:
    # Given three audit cycles and the stack's outputs
    s = _story(make_world)
    items = list(s.w.table_items())
    # When the status is asked for, as JSON and as a table
    data = _json("status")
    table = _invoke("status")
    # Then there is one row per audited source, each as DynamoDB has it
    rows = {r["source"]: r for r in data["sources"]}
    # (a discovered scope's record is not a source's)
    audits = {i["sk"]: i for i in items if i["pk"] == "AUDIT" and i.get("recordType") != "scope"}
    assert set(rows) == set(audits)
    assert {r["jobKind"] for r in rows.values()} == set(KINDS.split(","))
    for key, row in rows.items():
        # the checkpoint is in the source's record
        assert row["checkpoint"] == audits[key]["lastRunStartedAt"][:19] + "Z"
        assert row["lastRunFinishedAt"] == audits[key]["finishedAt"][:19] + "Z"
        in_flight = [i for i in items if i["pk"] == f"SRC#{key}" and "inflightSource" in i]
        assert row["jobsInFlight"] == len(in_flight)
        assert row["result"] == "ok" and row["error"] is None
        assert row["pendingClaims"] == row["parked"] == 0
        assert 0 <= row["lagSeconds"] < 60
    # the last cycle announced the copy job's failure, and nothing else
    by_kind = {r["jobKind"]: r for r in rows.values()}
    assert by_kind["bedrock-model-copy"]["transitions"] == 1
    assert by_kind["bedrock-model-import"]["transitions"] == 0
    assert by_kind["bedrock-model-import"]["jobsInFlight"] == 1  # phi
    assert by_kind["qconnect-import"]["jobsInFlight"] == 1 and by_kind["qconnect-import"]["scopeIds"]
    # And the table names them, with the table's name
    assert table.exit_code == 0
    assert f"3 sources in {TABLE} (account {ACCOUNT}, {REGION})" in table.output
    for kind in KINDS.split(","):
        assert kind in table.output


def test_status_counts_pending_and_parked_claims_and_replay_parked_redrives_them(
    make_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a bus deleted by mistake (a one-hour retry time) while the phi import completes
    s = _story(make_world, PUBLISH_RETRY_HOURS="1")
    s.w.plane.set_status(s.phi, "Completed")
    s.w.events.delete_event_bus(Name="job-auditor")
    for _ in range(3):
        s.w.advance(timedelta(minutes=5))
        s.w.run()
    # When the status is asked for while the bus is missing, Then the transition is pending, not parked
    (row,) = _json("status", "--kind", "bedrock-model-import")["sources"]
    assert row["pendingClaims"] == 1 and row["parked"] == 0
    # And once the bus has been missing for longer than the retry time, it is parked, for the bus only
    for _ in range(3):
        s.w.advance(timedelta(minutes=30))
        s.w.run()
    data = _json("status", "--kind", "bedrock-model-import")
    (row,) = data["sources"]
    assert row["parked"] == 1 and row["pendingClaims"] == 0
    (parked,) = data["parked"]
    assert parked["jobId"] == s.phi and parked["status"] == "Completed"
    assert parked["reason"].startswith("eventbridge: refused for 1 h or more")
    assert "ResourceNotFoundException" in parked["reason"]
    # When the bus is recreated and the operator re-drives the parked transitions
    s.w.events.create_event_bus(Name="job-auditor")
    redriven = s.w.subscribe_bus({"source": [EVENT_SOURCE]}, "after-the-outage")
    dry = _json("replay", "--parked", "--dry-run")
    (listed,) = dry["parked"]
    assert listed["channels"].keys() == {"eventbridge"} and s.w.drain(redriven) == []
    refused = _invoke("replay", "--parked")  # off a terminal without --yes: refused, nothing sent
    assert refused.exit_code == 2 and "--yes" in refused.output and s.w.drain(redriven) == []
    monkeypatch.setattr("job_auditor.cli.commands._can_ask", lambda: True)
    declined = _invoke("replay", "--parked", input="n\n")  # at a terminal, asked: no
    assert declined.exit_code == 1 and "Re-drive 1 parked transition" in declined.output
    assert s.w.drain(redriven) == []
    sent = _json("replay", "--parked", "--channel", "eventbridge", "--yes")
    # Then the bus got it with the eventId it was claimed with, and nothing is parked any more
    assert sent["parked"][0]["redriven"] == {"eventbridge": "delivered"}
    (event,) = s.w.drain(redriven)
    assert event["detail"]["eventId"] == listed["eventId"] and event["detail"]["jobId"] == s.phi
    assert _json("status")["parked"] == []
    (item,) = [h for h in _json("history", "phi-import") if h["eventId"] == listed["eventId"]]
    assert item["transition"] == "status-changed"
    # And the people were told once, when it happened (the topic never held it back)
    assert [n["Subject"][:11] for n in s.w.notifications_received()] == ["[Succeeded]"]
    # And --parked and --since do not go together
    assert _invoke("replay", "--parked", "--since", "1d").exit_code == 2


def _published_to(policy: dict[str, Any]) -> set[str]:
    """The topics a policy lets its holder publish to."""
    return {r for s in policy["Statement"] if "sns:Publish" in s["Action"] for r in s["Resource"]}


def test_replay_parked_redrives_the_chat_channel_within_the_policy_it_prints(make_world: Any) -> None:
    # Given a deployment with a chat channel (Slack, Teams) whose topic is deleted by mistake (a one-hour
    # retry time) while the phi import completes
    chat = f"arn:aws:sns:{REGION}:{ACCOUNT}:{CHAT_TOPIC}"
    s = _story(make_world, PUBLISH_RETRY_HOURS="1", CHAT_TOPIC_ARN=chat)
    s.w.sns.delete_topic(TopicArn=chat)
    s.w.plane.set_status(s.phi, "Completed")
    for _ in range(5):
        s.w.run()
        s.w.advance(timedelta(minutes=30))
    (parked,) = _json("status")["parked"]
    assert parked["jobId"] == s.phi and parked["reason"].startswith("chat: refused for 1 h or more")
    # When the topic is back and the operator re-drives the chat channel's parked transitions
    s.w.sns.create_topic(Name=CHAT_TOPIC)
    people = s.w.subscribe_topic(None, "chat-after-the-outage", topic_arn=chat)
    sent = _json("replay", "--parked", "--channel", "chat", "--yes")
    published_to = set(TOPICS)
    # Then the chat channel got the completion once, and nothing is parked any more
    assert sent["parked"][0]["redriven"] == {"chat": "delivered"}
    (message,) = s.w.drain(people)
    assert "phi-import" in message["Message"]
    assert _json("status")["parked"] == []
    # And the policy `iam-policy` prints for it lets it publish there: the stack names its chat topic
    policy = _json("iam-policy", "--command", "replay --parked")
    assert published_to == {chat} and published_to <= _published_to(policy)
    assert "${" not in json.dumps(policy)


def test_a_stack_without_a_chat_channel_gets_no_chat_statement(make_world: Any) -> None:
    _story(make_world)
    # When the policy of the commands that publish through the auditor's channels is printed
    policy = _json("iam-policy", "--command", "replay --parked", "--command", "run")
    template = json.loads(_invoke("iam-policy", "--template", "--command", "replay --parked").output)
    # Then it names only the notification topic, with no placeholder left for the missing chat topic
    assert _published_to(policy) == {f"arn:aws:sns:{REGION}:{ACCOUNT}:job-auditor-notifications"}
    assert "${" not in json.dumps(policy)
    # and the template keeps the chat topic's statement for stacks that have one
    assert "${ChatTopicArn}" in _published_to(template)


def test_run_once_on_a_cloudtrail_stack_drains_the_start_queue_within_its_policy(moto_server: Any) -> None:
    # Given a deployment with discovery=cloudtrail and a Q in Connect import started since its last run
    with World(moto_server, START, env={"JOB_KINDS": "qconnect-import"}, discovery=CLOUDTRAIL) as w:
        w.run()
        w.deploy_stack()
        kb = w.plane.create_knowledge_base(region=REGION, name="support-answers")
        job = w.plane.create_import_job(region=REGION, knowledge_base_id=kb, status="START_IN_PROGRESS")
        w.advance(timedelta(minutes=5))
        # When an operator runs the auditor once from the CLI (each call checked against the table)
        ran = _json("run", "--once")
        # Then it drained the announced start as the Lambda does, and announced the job
        assert ran["status"] == "ok"
        assert [e["detail"]["jobId"] for e in w.events_received()] == [job]
        # And the policy printed for it names the stack's start queue
        policy = _json("iam-policy", "--command", "run")
        (statement,) = [s for s in policy["Statement"] if "sqs:ReceiveMessage" in s["Action"]]
        assert statement["Resource"] == [w.start_queue_arn]
        assert "${" not in json.dumps(policy)


def _granted_regions(policy: dict[str, Any], action: str) -> set[str]:
    """The regions a policy grants `action` in (its statements' aws:RequestedRegion)."""
    regions: set[str] = set()
    for statement in policy["Statement"]:
        if action in statement["Action"]:
            named = statement["Condition"]["StringEquals"]["aws:RequestedRegion"]
            regions |= set(named if isinstance(named, list) else [named])
    return regions


OTHER_REGION = "us-west-2"


def test_run_once_reads_each_audited_region_and_kind_within_the_policy_it_prints(moto_server: Any) -> None:
    # Given a deployment auditing model imports in two regions, with a job in the second
    env = {"JOB_KINDS": "bedrock-model-import", "REGIONS": f"{REGION},{OTHER_REGION}"}
    with World(moto_server, START, env=env) as w:
        w.run()
        w.deploy_stack()
        job = w.plane.create_model_import_job(region=OTHER_REGION, name="west-import")
        w.advance(timedelta(minutes=5))
        # When an operator runs the auditor once
        ran = _json("run", "--once")
        called = [(action, region) for action, region in CALLS_IN if action.startswith("bedrock:")]
        # Then it read both regions and announced the job
        assert ran["status"] == "ok" and job in [e["detail"]["jobId"] for e in w.events_received()]
        assert {region for _, region in called} == {REGION, OTHER_REGION}
        # And the policy printed for it grants each of those calls in its region, and no other kind
        policy = _json("iam-policy", "--command", "run")
        for action, region in called:
            assert region in _granted_regions(policy, action), (action, region)
        granted = {a for statement in policy["Statement"] for a in statement["Action"]}
        assert {"bedrock:ListModelImportJobs", "bedrock:GetModelImportJob"} <= granted
        assert not [
            a for a in granted if a.startswith(("wisdom:", "bedrock:ListModelCopy", "bedrock:GetEval"))
        ]
        assert "${" not in json.dumps(policy)


def test_run_once_reads_settings_moved_to_ssm_within_the_policy_it_prints(
    moto_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment whose knowledge base ids did not fit the function's environment (an SSM
    # parameter holds them, as the construct writes it)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", moto_server.url)
    moved = {"SETTINGS_PARAMETERS": "QCONNECT_KNOWLEDGE_BASE_IDS=CFN-KnowledgeBases"}
    with World(moto_server, START, env={"JOB_KINDS": "qconnect-import", **moved}) as w:
        kb = w.plane.create_knowledge_base(region=REGION, name="support-answers")
        job = w.plane.create_import_job(region=REGION, knowledge_base_id=kb)
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="CFN-KnowledgeBases", Value=kb, Type="String"
        )
        w.run()
        w.deploy_stack()
        w.plane.set_status(job, "COMPLETE")
        w.advance(timedelta(minutes=5))
        # When an operator runs the auditor once
        ran = _json("run", "--once")
        # Then it read the moved setting and audited that knowledge base's import
        assert "ssm:GetParameters" in CALLS and "wisdom:ListKnowledgeBases" not in CALLS
        assert ran["status"] == "ok" and job in [e["detail"]["jobId"] for e in w.events_received()]
        # And the policy printed for it lets it read exactly that parameter
        policy = _json("iam-policy", "--command", "run")
        (statement,) = [s for s in policy["Statement"] if "ssm:GetParameters" in s["Action"]]
        assert statement["Resource"] == [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/CFN-KnowledgeBases"]


def test_a_stack_without_moved_settings_gets_no_ssm_statement(make_world: Any) -> None:
    _story(make_world)
    policy = _json("iam-policy", "--command", "run", "--command", "replay --parked")
    assert not [s for s in policy["Statement"] if "ssm:GetParameters" in s["Action"]]
    assert "${" not in json.dumps(policy)


def test_jobs_lists_the_tracked_jobs_and_filters_them(make_world: Any) -> None:
    s = _story(make_world)
    # When every job, the jobs in flight, one kind's and another account's are asked for
    every = _json("jobs")
    in_flight = _json("jobs", "--in-flight")
    imports = _json("jobs", "--kind", "bedrock-model-import")
    elsewhere = _json("jobs", "--account", "210987654321")
    # Then each is what the table holds
    assert {r["jobId"] for r in every} == {s.llama, s.phi, s.copy, s.quick}
    assert {r["jobId"] for r in in_flight} == {s.phi, s.quick}
    assert all(r["inFlight"] for r in in_flight)
    assert {r["jobId"] for r in imports} == {s.llama, s.phi}
    assert elsewhere == []
    unknown = _invoke("jobs", "--kind", "bedrock-model-imports")
    assert unknown.exit_code == 2 and "expected one of bedrock-model-import" in unknown.output
    status = {r["jobId"]: r["status"] for r in every}
    assert status[s.llama] == "Completed" and status[s.copy] == "Failed"
    # And the table shows jobs by name
    table = _invoke("jobs", "--in-flight")
    assert table.exit_code == 0 and "phi-import" in table.output and "2 jobs in flight" in table.output


def test_history_lists_the_event_ids_that_reached_the_bus(make_world: Any) -> None:
    s = _story(make_world)
    # When a job's history is asked for, by name and by id
    by_name = _json("history", "llama-import")
    by_id = _json("history", s.copy)
    # Then its transitions carry the eventIds the bus consumer received
    assert [r["eventId"] for r in by_name] == _event_ids(s.events, s.llama)
    assert [(r["previousStatus"], r["status"]) for r in by_name] == [("InProgress", "Completed")]
    assert [r["eventId"] for r in by_id] == _event_ids(s.events, s.copy)
    assert all(r["replayable"] and r["observedAt"] and r["publishedAt"] for r in by_name + by_id)
    # And the table shows the full eventId
    table = _invoke("history", "llama-import")
    assert table.exit_code == 0 and _event_ids(s.events, s.llama)[0] in table.output
    # and a job the table does not know is an error, not a traceback
    unknown = _invoke("history", "no-such-job")
    assert unknown.exit_code == 1 and "no job 'no-such-job'" in unknown.output


def test_replay_republishes_with_the_original_event_id_and_detail(make_world: Any) -> None:
    s = _story(make_world)
    replays = s.w.subscribe_bus({"source": [EVENT_SOURCE]}, "replay-consumer")
    # When a dry run, then a replay of the last day (bus only), then one job's with --notify run
    dry = _json("replay", "--since", "1d", "--dry-run")
    assert s.w.drain(replays) == []
    sent = _json("replay", "--since", "1d")
    received = s.w.drain(replays)
    nothing_to_people = s.w.notifications_received()
    one = _invoke("replay", "--since", "2026-11-01T00:00:00Z", "--job", "llama-import", "--notify", "--yes")
    # Then the dry run listed the three transitions, and the replay delivered them as first published
    assert sorted(r["eventId"] for r in dry["transitions"]) == sorted(_event_ids(s.events))
    assert dry["sent"] == {} and all(r["delivered"] == {} for r in dry["transitions"])
    assert sent["sent"] == {"eventbridge": 3} and sent["failed"] == {}
    assert all(r["delivered"] == {"eventbridge": True} for r in sent["transitions"])
    original = {e["detail"]["eventId"]: e for e in s.events}
    assert sorted(e["detail"]["eventId"] for e in received) == sorted(original)
    for event in received:
        first = original[event["detail"]["eventId"]]
        assert event["detail"] == first["detail"]
        assert (event["source"], event["detail-type"]) == (first["source"], first["detail-type"])
        assert event["resources"] == first["resources"] and event["time"] == first["time"]
    # people were not notified again, except with --notify
    assert nothing_to_people == []
    assert one.exit_code == 0, one.output
    assert _event_ids(s.w.drain(replays)) == _event_ids(s.events, s.llama)
    (note,) = s.w.notifications_received()
    assert "llama-import" in note["Subject"]


def test_replay_window_and_time_forms(make_world: Any) -> None:
    s = _story(make_world)
    # When the window ends before the copy job failed (its transition is the newest)
    newest = max(e["detail"]["observedTime"] for e in s.events)
    early = _json("replay", "--since", "1h", "--until", "3m", "--dry-run")
    # Then only the earlier transitions are in it
    ids = {r["eventId"] for r in early["transitions"]}
    assert ids == {e["detail"]["eventId"] for e in s.events if e["detail"]["observedTime"] < newest}
    # And a time in no known form is a usage error
    bad = _invoke("replay", "--since", "yesterday")
    assert bad.exit_code == 2 and "ISO 8601" in bad.output


def test_run_once_audits_with_the_functions_environment(make_world: Any) -> None:
    s = _story(make_world)
    # Given a job that completes after the last scheduled run
    s.w.advance(timedelta(minutes=5))
    s.w.plane.set_status(s.phi, "Completed")
    s.w.plane.clock.set(s.w.now())
    # When one run is made from here
    summary = _json("run", "--once")
    # Then it audited the function's kinds, announced the transition, and says so
    assert summary["status"] == "ok" and summary["transitions"] == summary["published"] == 1
    assert {x["jobKind"] for x in summary["sources"]} == set(KINDS.split(","))
    (event,) = s.w.events_received()
    assert event["detail"]["jobId"] == s.phi and event["detail"]["status"] == "Completed"
    # and the next scheduled run does not announce it again
    s.w.advance(timedelta(minutes=5))
    s.w.run()
    assert s.w.events_received() == []
    # And the table form prints the summary
    table = _invoke("run", "--once")
    assert table.exit_code == 0 and "run ok: 0 transitions" in table.output
    # and without --once nothing runs
    assert _invoke("run").exit_code == 2


def test_run_once_from_an_environment_file_needs_no_stack(make_world: Any, tmp_path: Any) -> None:
    s = _story(make_world)
    # Given the auditor's environment in a file, and no stack by that name
    env = s.w.environment()
    wanted = ("STATE_TABLE_NAME", "EVENT_BUS_NAME", "NOTIFICATION_TOPIC_ARN", "EVENT_SOURCE", "ACCOUNT_ID")
    # quoted and commented as .env files are (EVENT_BUS_NAME="job-auditor" reads job-auditor)
    lines = ["# the auditor's variables", *(f'{name}="{env[name]}"  # as deployed' for name in wanted)]
    (tmp_path / "auditor.env").write_text("\n".join([*lines, "JOB_KINDS=bedrock-model-copy", ""]))
    s.w.advance(timedelta(minutes=5))
    s.w.plane.set_status(s.phi, "Completed")
    # When one run is made with it
    summary = _json("run", "--once", "--stack", "Nowhere", "--env-file", str(tmp_path / "auditor.env"))
    # Then it audited only the file's kinds (the import that completed waits for the schedule)
    assert [x["jobKind"] for x in summary["sources"]] == ["bedrock-model-copy"]
    assert summary["status"] == "ok" and summary["transitions"] == 0
    # And a malformed environment is named, in one line: a bad value given (exit 2), as a bad option is
    (tmp_path / "bad.env").write_text("STATE_TABLE_NAME=x\nEVENT_BUS_NAME=b\nNOTIFICATION_TOPIC_ARN=nope\n")
    bad = _invoke("run", "--once", "--env-file", str(tmp_path / "bad.env"))
    assert bad.exit_code == 2 and "NOTIFICATION_TOPIC_ARN: expected an SNS topic ARN" in bad.output


def test_a_replay_the_bus_refuses_fails_and_says_so(make_world: Any) -> None:
    s = _story(make_world)
    # Given a bus that no longer exists
    s.w.events.delete_event_bus(Name="job-auditor")
    # When the last day is replayed
    result = _invoke("replay", "--since", "1d")
    # Then the command fails in part (exit 3), and says nothing reached the bus
    assert result.exit_code == 3
    assert "replayed 0 of 3 to the event bus" in result.output
    assert result.output.count("FAILED") == 3
    assert "3 deliveries to the event bus failed: run the replay again to retry them" in result.output


def test_resources_from_an_embedded_construct_or_given_outright(make_world: Any) -> None:
    s = _story(make_world)
    # Given a platform stack of one's own holding the construct under "JobAuditor"
    s.w.deploy_stack("Platform", construct="JobAuditor")
    # When the CLI is pointed at it, with and without the construct's path; and at no stack
    embedded = _json("jobs", "--stack", "Platform", "--construct", "JobAuditor")
    single = _json("jobs", "--stack", "Platform")
    wrong = _invoke("jobs", "--stack", "Platform", "--construct", "Other")
    given = _json("jobs", "--stack", "Nowhere", "--table", TABLE)
    # Then the same table is read each way, and a wrong construct is named in a one-line error
    assert {r["jobId"] for r in embedded} == {r["jobId"] for r in single} == {r["jobId"] for r in given}
    assert len(given) == 4
    assert wrong.exit_code == 1 and "construct 'Other'" in wrong.output


@pytest.mark.parametrize("command", [["status"], ["jobs"], ["history", "x"], ["replay", "--since", "1h"]])
def test_a_missing_stack_is_a_clear_error(make_world: Any, command: list[str], monkeypatch: Any) -> None:
    # Given no stack of that name
    make_world()
    monkeypatch.setenv("JOB_AUDITOR_STACK", "NoSuchStack")
    # When a command looks for it
    result = CliRunner().invoke(cli, command)
    # Then it says so in one line and exits 1, with no traceback
    assert result.exit_code == 1
    assert "stack 'NoSuchStack' not found in us-east-1" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_help_lists_the_commands() -> None:
    result = _invoke("--help")
    assert result.exit_code == 0
    for command in ("status", "jobs", "history", "run", "replay"):
        assert f"  {command} " in result.output
    replay = _invoke("replay", "--help")
    assert "Default: the event bus only." in " ".join(replay.output.split())


# -- global options --------------------------------------------------------------------------------
def test_global_options_go_before_or_after_the_command(make_world: Any) -> None:
    _story(make_world)
    # When the same question is asked with the global options before and after the command's name
    before = _invoke("--region", REGION, "--stack", "JobAuditor", "-o", "json", "jobs", "--in-flight")
    after = _invoke("jobs", "--in-flight", "--region", REGION, "--stack", "JobAuditor", "-o", "json")
    mixed = _invoke("--output", "json", "--table", TABLE, "jobs", "--region", REGION, "--in-flight")
    # Then each answers alike
    assert before.exit_code == after.exit_code == mixed.exit_code == 0, before.output + after.output
    assert json.loads(before.output) == json.loads(after.output) == json.loads(mixed.output)
    # And the same option given both ways with different values is refused, naming both (exit 2)
    twice = _invoke("--region", "eu-west-1", "status", "--region", REGION)
    assert twice.exit_code == 2
    assert twice.output.strip() == (
        f"Error: --region given twice (eu-west-1 before the command, {REGION} after it): give it once"
    )
    # and an output a command does not have is a usage error
    csv_status = _invoke("status", "-o", "csv")
    assert csv_status.exit_code == 2 and "status prints table or json, not csv" in csv_status.output


def test_jobs_and_history_as_csv_carry_every_field(make_world: Any) -> None:
    s = _story(make_world)
    # When jobs and a history are asked for as CSV and as JSON
    jobs_csv = list(csv.DictReader(io.StringIO(_invoke("-o", "csv", "jobs").output)))
    jobs_json = _json("jobs")
    history_csv = list(csv.DictReader(io.StringIO(_invoke("history", s.copy, "-o", "csv").output)))
    # Then the CSV has a row per job with the JSON's camelCase keys and values in full
    assert [r["jobId"] for r in jobs_csv] == [r["jobId"] for r in jobs_json]
    assert set(jobs_csv[0]) >= {"jobKind", "jobId", "jobArn", "status", "inFlight", "createdAt"}
    by_id = {r["jobId"]: r for r in jobs_csv}
    assert by_id[s.copy]["status"] == "Failed" and by_id[s.copy]["inFlight"] == "false"
    assert by_id[s.phi]["createdAt"].endswith("Z") and by_id[s.phi]["pendingEventId"] == ""
    assert [(r["previousStatus"], r["status"], r["eventId"]) for r in history_csv] == [
        ("InProgress", "Failed", _event_ids(s.events, s.copy)[0])
    ]


# -- refusals: commands act only on what they name -------------------------------------------------
def _twins(s: Story) -> str:
    """A copy job whose target model is named as the phi import job is: two jobs of one name."""
    twin = s.w.plane.create_model_copy_job(region=REGION, target_model_name="phi-import", status="InProgress")
    s.w.advance(timedelta(minutes=5))
    s.w.run()
    s.w.events_received()
    return twin


def test_a_name_several_jobs_share_is_refused_naming_them(make_world: Any) -> None:
    s = _story(make_world)
    twin = _twins(s)
    # When the history of that name is asked for, and a replay of it
    history = _invoke("history", "phi-import")
    replay = _invoke("replay", "--since", "1d", "--job", "phi-import")
    # Then both are refused (exit 2), listing each job, and nothing reached the bus
    for result in (history, replay):
        assert result.exit_code == 2, result.output
        assert "Error: 'phi-import' names 2 jobs; name one by its id or ARN" in result.output
        assert s.phi in result.output and twin in result.output
    assert s.w.events_received() == []
    # And naming one by its id, or narrowing by kind, answers for that job alone
    assert {r["jobId"] for r in _json("history", twin)} == {twin}
    assert {r["jobId"] for r in _json("history", "phi-import", "--kind", "bedrock-model-import")} == {s.phi}
    narrowed = _json("replay", "--since", "1d", "--job", "phi-import", "--kind", "bedrock-model-copy")
    assert [r["jobId"] for r in narrowed["transitions"]] == [twin]


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (
            ["--since", "1h", "--until", "2h"],
            "the window is empty: --since 2026-11-02T08:1",
        ),
        (["--since", "2026-11-02T09:00:00Z", "--until", "2026-11-02T09:00:00Z"], "the window is empty"),
        (["--since", "2026-11-03T00:00:00Z"], "--since 2026-11-03T00:00:00Z is in the future"),
    ],
)
def test_an_empty_or_reversed_window_is_refused(make_world: Any, window: list[str], message: str) -> None:
    s = _story(make_world)
    # When a replay is asked for over a window that holds no time
    result = _invoke("replay", *window)
    # Then it is refused (exit 2) with the reason, and nothing is sent
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert s.w.events_received() == []


def test_notify_asks_first_and_refuses_without_a_terminal(make_world: Any, monkeypatch: Any) -> None:
    s = _story(make_world)
    replays = s.w.subscribe_bus({"source": [EVENT_SOURCE]}, "replay-consumer")
    args = ("replay", "--since", "1d", "--job", "llama-import", "--notify")
    # When --notify is asked for off a terminal without --yes
    refused = _invoke(*args)
    # Then it is refused (exit 2) and nothing is sent anywhere
    assert refused.exit_code == 2
    assert "--notify sends people the notifications again: confirm with --yes" in refused.output
    assert s.w.drain(replays) == [] and s.w.notifications_received() == []
    # When a person at a terminal declines
    monkeypatch.setattr("job_auditor.cli.commands._can_ask", lambda: True)
    declined = _invoke(*args, input="n\n")
    # Then nothing is sent (exit 1), and the question said how many people would hear of what
    assert declined.exit_code == 1 and "Error: nothing sent" in declined.output
    assert "Send 1 notification to the topics' subscribers (email, chat) again? [y/N]" in declined.output
    assert "llama-import  status-changed -> Completed" in declined.output
    assert s.w.drain(replays) == [] and s.w.notifications_received() == []
    # When they accept, the transition goes to the bus and the topic
    accepted = _invoke(*args, input="y\n")
    assert (
        accepted.exit_code == 0
        and "replayed 1 of 1 to the event bus, 1 of 1 to the notification topic"
        in (" ".join(accepted.output.split()))
    )
    assert _event_ids(s.w.drain(replays)) == _event_ids(s.events, s.llama)
    assert len(s.w.notifications_received()) == 1


def test_notify_reaches_the_chat_channels_too_within_the_policy_it_prints(make_world: Any) -> None:
    # Given a deployment with a chat channel (Slack, Teams through Amazon Q Developer subscribe to the
    # chat topic, not to the notification topic) that sends people failures only
    chat = f"arn:aws:sns:{REGION}:{ACCOUNT}:{CHAT_TOPIC}"
    failures_only = json.dumps(load_config({"notifyStatuses": "Failed"}).notification_filter)
    s = _story(make_world, CHAT_TOPIC_ARN=chat, NOTIFY_FILTER=failures_only)
    people = s.w.subscribe_topic(None, "chat-replay", topic_arn=chat)
    # When the day's transitions are replayed with --notify
    sent = _json("replay", "--since", "1d", "--notify", "--yes")
    published_to = set(TOPICS)
    # Then the chat channel got the failure again, as the auditor words it for chat, and nothing else
    messages = s.w.drain(people)
    assert len(messages) == 1 and "copy" in messages[0]["Message"]
    assert sent["sent"]["chat"] == len(sent["transitions"])
    # And the policy printed for replay --notify lets it publish to both topics
    policy = _json("iam-policy", "--command", "replay --notify")
    assert chat in published_to and published_to <= _published_to(policy)


def test_a_window_with_nothing_in_it_says_so_and_sends_nothing(make_world: Any) -> None:
    s = _story(make_world)
    # When the window ends before the first transition was observed
    result = _invoke("replay", "--since", "2026-11-01T00:00:00Z", "--until", "2026-11-01T12:00:00Z")
    # Then nothing was replayed, and the output does not claim otherwise
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "nothing to replay: no transition observed in that window"
    assert s.w.events_received() == []


def test_exit_codes_are_in_the_help() -> None:
    result = _invoke("--help")
    text = " ".join(result.output.split())
    for line in ("0 ok", "1 error:", "2 usage:", "3 partial:"):
        assert line in text
    assert "3 partial" not in " ".join(_invoke("status", "--help").output.split())
    assert "3 partial" in " ".join(_invoke("replay", "--help").output.split())


# -- the permissions each command needs ------------------------------------------------------------
def _an_earlier_versions_source(w: Any) -> str:
    """A source as the version before the audit records carried checkpoints left it: its record
    without one, its checkpoint in an item of its own (what `status` reads with BatchGetItem)."""
    key = f"{ACCOUNT}/{REGION}/bedrock-evaluation"
    at = "2026-11-02T08:00:00.000000Z"
    w.dynamodb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": f"SRC#{key}"}, "sk": {"S": "CHECKPOINT"}, "lastRunStartedAt": {"S": at}},
    )
    record = {"pk": "AUDIT", "sk": key, "source": key, "account": ACCOUNT, "region": REGION}
    record |= {"jobKind": "bedrock-evaluation", "startedAt": at, "finishedAt": at, "result": "ok"}
    w.dynamodb.put_item(TableName=TABLE, Item={name: {"S": value} for name, value in record.items()})
    return key


def test_the_permissions_table_holds_exactly_what_the_commands_call(make_world: Any) -> None:
    s = _story(make_world)
    # Given a source an earlier version audited, its checkpoint still in an item of its own
    legacy = _an_earlier_versions_source(s.w)
    (row,) = [r for r in _json("status")["sources"] if r["source"] == legacy]
    assert row["checkpoint"] == "2026-11-02T08:00:00Z"
    # When each command that only reads, or re-publishes, is run
    calls: dict[str, set[str]] = {}
    for key, args in {
        "status": ("status",),
        "jobs": ("jobs", "--in-flight"),
        "history": ("history", "llama-import"),
        "replay": ("replay", "--since", "1d"),
        "replay --notify": ("replay", "--since", "1d", "--notify", "--yes"),
        "iam-policy": ("iam-policy",),
    }.items():
        assert _invoke(*args).exit_code == 0
        calls[key] = set(CALLS)
    # Then the policy printed for this stack grants each what it called (KMS is SNS's call with the
    # caller's rights), no more
    for key, called in calls.items():
        printed = _json("iam-policy", "--command", key)
        granted = {a for st in printed["Statement"] for a in st["Action"] if not a.startswith("kms:")}
        assert called == granted, key
    assert s.w.events_received()  # the replays did publish


def test_iam_policy_names_the_stacks_resources(make_world: Any) -> None:
    _story(make_world)
    # When the policy for status and replay is printed from the stack, and as a template
    policy = _json("iam-policy", "--command", "status", "--command", "replay")
    template = json.loads(_invoke("iam-policy", "--template", "--command", "status").output)
    # Then its statements name this stack's table, function and bus
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}" in resources
    assert f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}/index/*" in resources
    assert f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:JobAuditor-auditor" in resources
    assert f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/job-auditor" in resources
    assert f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/JobAuditor/*" in resources
    assert all("*" not in a for statement in policy["Statement"] for a in statement["Action"])
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == permissions.actions_of("status") | permissions.actions_of("replay")
    # and the template keeps the outputs' placeholders
    (stack, query, checkpoints) = template["Statement"]
    assert stack["Resource"] == ["arn:${Partition}:cloudformation:${Region}:${Account}:stack/${StackName}/*"]
    table = "arn:${Partition}:dynamodb:${Region}:${Account}:table/${StateTableName}"
    assert query["Resource"] == [table, f"{table}/index/*"] and checkpoints["Resource"] == [table]


def test_a_run_with_a_failed_source_exits_3_and_names_it(make_world: Any) -> None:
    s = _story(make_world)
    # Given a job API that denies the copy jobs' list
    s.w.plane.faults.deny(operation="ListModelCopyJobs")
    # When one run is made from here
    result = _invoke("run", "--once")
    # Then it ran (the other sources are audited), says which source failed, and exits 3
    assert result.exit_code == 3, result.output
    assert "run partial-failure" in result.output
    assert "failed: 123456789012/us-east-1/bedrock-model-copy: AccessDeniedException" in result.output
    assert "Error: run partial-failure: 1 source failed" in result.output


def test_a_reply_that_is_not_aws_is_an_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a CloudFormation endpoint that answers with a web page (a proxy's, a wrong URL)
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = b"<html><body>Sign in to the proxy</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        result = CliRunner().invoke(cli, ["--stack", "JobAuditor", "--region", "us-east-1", "status"])
    finally:
        server.shutdown()
    # Then one line names the stack and says the reply was not AWS's (exit 1)
    assert result.exit_code == 1, result.output
    assert "cannot read stack 'JobAuditor': the reply was not an AWS response" in result.output


def test_iam_policy_names_the_resources_given_on_the_command_line(make_world: Any) -> None:
    _story(make_world)
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:other-topic"
    policy = _json(
        "--table",
        "other-table",
        "--bus",
        "other-bus",
        "--topic",
        topic,
        "iam-policy",
        "--command",
        "replay --notify",
    )
    text = json.dumps(policy)
    assert "table/other-table" in text and "event-bus/other-bus" in text and topic in text
    assert TABLE not in text


def _stack_with_outputs(name: str, outputs: dict[str, str]) -> None:
    """A stack in moto with just these outputs (one deployed by another version, or by hand)."""
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "WaitConditionHandle is not supported"
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=name, TemplateBody=json.dumps(template)
        )


def test_iam_policy_of_a_stack_missing_outputs_is_refused_not_printed_with_placeholders(
    make_world: Any,
) -> None:
    make_world()
    _stack_with_outputs("Partial", {"StateTableName": TABLE})
    result = _invoke("--stack", "Partial", "iam-policy", "--command", "replay")
    assert result.exit_code == 1
    assert "the policy would keep" in result.output and "${EventBusArn}" in result.output
    assert "--template" in result.output


def test_run_once_in_organization_mode_lists_the_accounts_within_the_policy_it_prints(
    make_world: Any,
) -> None:
    # Given an organization-mode deployment in an organization's management account (its only account
    # yet: a member's role would trust the auditor's role only, not the operator)
    w = make_world(ACCOUNTS="organization", JOB_KINDS="bedrock-model-import")
    boto3.client("organizations", region_name=REGION).create_organization(FeatureSet="ALL")
    w.deploy_stack()
    # When an operator runs the auditor once (each call checked against the table)
    ran = _json("run", "--once")
    # Then it listed the organization's accounts, as the auditor does
    assert ran["status"] == "ok" and "organizations:ListAccounts" in CALLS
    # And the policy printed for it grants that listing, read-only
    policy = _json("iam-policy", "--command", "run")
    (listing,) = [s for s in policy["Statement"] if "organizations:ListAccounts" in s["Action"]]
    assert listing["Resource"] == ["*"]


def test_a_stack_of_listed_accounts_or_one_account_gets_no_organizations_statement(make_world: Any) -> None:
    for env in ({"ACCOUNTS": "111122223333"}, {}):
        w = make_world(**env)
        w.deploy_stack(name=f"Stack{len(env)}")
        policy = _json("--stack", f"Stack{len(env)}", "iam-policy", "--command", "run")
        assert not [s for s in policy["Statement"] if s["Action"][0].startswith("organizations:")]


def test_iam_policy_of_a_stack_from_before_the_audit_scope_outputs_is_refused_for_what_needs_them(
    make_world: Any,
) -> None:
    # Given a stack deployed before AuditedRegions (its function may hold settings in SSM, regions)
    make_world()
    _stack_with_outputs(
        "Before",
        {
            "StateTableName": TABLE,
            "EventBusArn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/job-auditor",
            "NotificationTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:job-auditor-notifications",
            "AuditorFunctionName": "job-auditor",
        },
    )
    # When the policy for run is asked for: refused, saying to redeploy
    refused = _invoke("--stack", "Before", "iam-policy", "--command", "run")
    assert refused.exit_code == 1 and "without the AuditedRegions output" in refused.output
    assert "redeploy it" in refused.output
    # And the commands that need none of it still get theirs
    assert _json("--stack", "Before", "iam-policy", "--command", "status", "--command", "replay")["Statement"]


def test_notify_with_the_chat_topic_down_delivers_the_rest_and_exits_3(make_world: Any) -> None:
    # Given a chat channel whose topic is gone (deleted by mistake, or refusing for hours)
    chat = f"arn:aws:sns:{REGION}:{ACCOUNT}:{CHAT_TOPIC}"
    s = _story(make_world, CHAT_TOPIC_ARN=chat)
    s.w.sns.delete_topic(TopicArn=chat)
    replays = s.w.subscribe_bus({"source": [EVENT_SOURCE]}, "replay-consumer")
    # When the day is replayed with --notify
    result = _invoke("replay", "--since", "1d", "--notify", "--yes")
    # Then the bus and the topic got every transition, the chat topic none, and the command says so
    assert result.exit_code == 3
    flat = " ".join(result.output.split())
    assert "deliveries to the chat topic failed" in flat and "run the replay again" in flat
    assert len(s.w.drain(replays)) == len(_event_ids(s.events))
