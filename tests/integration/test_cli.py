"""The `job-auditor` CLI against a world (the simulator and moto) after a few audit cycles, its
resources found from a moto CloudFormation stack as from a deployed one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from job_auditor.cli import cli
from simulator.world import ACCOUNT, EVENT_SOURCE, REGION, TABLE, World

KINDS = "bedrock-model-import,bedrock-model-copy,qconnect-import"


@dataclass
class Story:
    w: World
    llama: str
    phi: str
    copy: str
    quick: str
    # What the bus consumer's queue received, in the cycles after the baseline.
    events: list[dict[str, Any]]


def _story(make_world: Any, **env: str) -> Story:
    """A baseline of three jobs, then: the llama import completes and a phi import starts, then the
    copy job fails; the Q in Connect import and the phi import stay in progress."""
    w: World = make_world(JOB_KINDS=KINDS, **env)
    plane = w.plane
    llama = plane.create_model_import_job(region=REGION, name="llama-import", status="InProgress")
    copy = plane.create_model_copy_job(region=REGION, target_model_name="llama-eu", status="InProgress")
    kb = plane.create_knowledge_base(region=REGION, name="support-answers")
    quick = plane.create_import_job(region=REGION, knowledge_base_id=kb, status="START_IN_PROGRESS")
    w.run()
    w.advance(timedelta(minutes=5))
    plane.set_status(llama, "Completed")
    phi = plane.create_model_import_job(region=REGION, name="phi-import", status="InProgress")
    w.run()
    w.advance(timedelta(minutes=5))
    plane.set_status(copy, "Failed", failure_message="The key policy denies the target account")
    w.run()
    events = w.events_received()
    w.notifications_received()
    assert len(events) == 3
    w.deploy_stack()
    return Story(w, llama, phi, copy, quick, events)


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


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
    audits = {i["sk"]: i for i in items if i["pk"] == "AUDIT"}
    assert set(rows) == set(audits)
    assert {r["jobKind"] for r in rows.values()} == set(KINDS.split(","))
    for key, row in rows.items():
        checkpoint = next(i for i in items if i["pk"] == f"SRC#{key}" and i["sk"] == "CHECKPOINT")
        assert row["checkpoint"] == checkpoint["lastRunStartedAt"][:19] + "Z"
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


def test_status_counts_pending_and_parked_claims_and_replay_parked_redrives_them(make_world: Any) -> None:
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
    refused = _invoke("replay", "--parked")  # asks first; no answer: nothing sent
    assert refused.exit_code == 1 and s.w.drain(redriven) == []
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
    one = _invoke("replay", "--since", "2026-11-01T00:00:00Z", "--job", "llama-import", "--notify")
    # Then the dry run listed the three transitions, and the replay delivered them as first published
    assert sorted(r["eventId"] for r in dry["replayed"]) == sorted(_event_ids(s.events))
    assert all(r["eventbridge"] for r in sent["replayed"])
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
    ids = {r["eventId"] for r in early["replayed"]}
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
    assert {x["job_kind"] for x in summary["sources"]} == set(KINDS.split(","))
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
    lines = ["# the auditor's variables", *(f"{name}={env[name]}" for name in wanted)]
    (tmp_path / "auditor.env").write_text("\n".join([*lines, "JOB_KINDS=bedrock-model-copy", ""]))
    s.w.advance(timedelta(minutes=5))
    s.w.plane.set_status(s.phi, "Completed")
    # When one run is made with it
    summary = _json("run", "--once", "--stack", "Nowhere", "--env-file", str(tmp_path / "auditor.env"))
    # Then it audited only the file's kinds (the import that completed waits for the schedule)
    assert [x["job_kind"] for x in summary["sources"]] == ["bedrock-model-copy"]
    assert summary["status"] == "ok" and summary["transitions"] == 0
    # And a malformed environment is named, in one line
    (tmp_path / "bad.env").write_text("STATE_TABLE_NAME=x\nEVENT_BUS_NAME=b\nNOTIFICATION_TOPIC_ARN=nope\n")
    bad = _invoke("run", "--once", "--env-file", str(tmp_path / "bad.env"))
    assert bad.exit_code == 1 and "NOTIFICATION_TOPIC_ARN: expected an SNS topic ARN" in bad.output


def test_a_replay_the_bus_refuses_fails_and_says_so(make_world: Any) -> None:
    s = _story(make_world)
    # Given a bus that no longer exists
    s.w.events.delete_event_bus(Name="job-auditor")
    # When the last day is replayed
    result = _invoke("replay", "--since", "1d")
    # Then the command fails, after listing what was not delivered
    assert result.exit_code == 1
    assert "3 deliveries failed; run the replay again to retry them" in result.output


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
