"""The real handler against the simulator and moto: events read back from SQS queues subscribed to
the bus and the topic, state read back from DynamoDB."""

import json
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from job_auditor.auditor.adapters.job_api import BotoJobApi
from job_auditor.auditor.settings import SettingsError
from simulator.mutators import ResponseMutator
from simulator.world import ACCOUNT, REGION, World

BEDROCK_ONLY = {"JOB_KINDS": "bedrock-model-import"}


def _details(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["detail"] for e in events]


def _transitions(events: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    return sorted((d["jobName"] or d["jobId"], d["previousStatus"], d["status"]) for d in _details(events))


def test_first_run_records_a_silent_baseline(make_world: Any) -> None:
    # Given jobs of all three kinds created within the initial lookback
    w: World = make_world()
    w.plane.create_model_import_job(region=REGION, name="imp-1", status="InProgress")
    w.plane.create_model_copy_job(
        region=REGION,
        target_model_name="copy-1",
        source_model_arn=f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/imported/abcdefghijkl",
        status="Completed",
    )
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    w.plane.create_import_job(region=REGION, knowledge_base_id=kb, status="START_IN_PROGRESS")
    # When the auditor runs for the first time
    summary = w.run()
    # Then nothing is announced, yet every job is recorded and every source has a checkpoint in its
    # audit record (no item of its own: one write per source and run)
    assert summary["status"] == "ok"
    assert summary["published"] == 0
    assert w.events_received() == []
    assert w.notifications_received() == []
    jobs = [i for i in w.table_items("SRC#") if i["sk"].startswith("JOB#")]
    assert sorted(j["status"] for j in jobs) == ["Completed", "InProgress", "START_IN_PROGRESS"]
    assert [i for i in w.table_items("SRC#") if i["sk"] == "CHECKPOINT"] == []
    records = {i["sk"]: i for i in w.table_items("AUDIT")}
    checkpoints = {key for key, i in records.items() if "lastRunStartedAt" in i}
    assert checkpoints == {s["source"] for s in summary["sources"]}
    # and the scopes themselves are marked (Q in Connect's, and the Bedrock knowledge bases' though
    # there is none yet): knowledge bases discovered later are announced, not baselined
    assert {key for key, i in records.items() if i.get("enumeratedAt")} == {
        f"{ACCOUNT}/{REGION}/qconnect-import",
        f"{ACCOUNT}/{REGION}/bedrock-kb-ingestion",
    }
    # every kind audited by default has its sources (evaluation jobs too, though there are none)
    assert {s["source"] for s in summary["sources"]} == {
        f"{ACCOUNT}/{REGION}/bedrock-model-import",
        f"{ACCOUNT}/{REGION}/bedrock-model-copy",
        f"{ACCOUNT}/{REGION}/qconnect-import/{kb}",
        f"{ACCOUNT}/{REGION}/bedrock-evaluation",
    }


def test_baseline_can_be_announced(make_world: Any) -> None:
    w: World = make_world(ANNOUNCE_BASELINE="true", **BEDROCK_ONLY)
    w.plane.create_model_import_job(region=REGION, name="imp-1", status="InProgress")
    w.run()
    assert _transitions(w.events_received()) == [("imp-1", None, "InProgress")]
    assert len(w.notifications_received()) == 1


def test_transitions_of_all_three_kinds_reach_the_bus_and_the_topic(make_world: Any) -> None:
    # Given a baseline
    w: World = make_world()
    imp = w.plane.create_model_import_job(region=REGION, name="imp-1", status="InProgress")
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    qjob = w.plane.create_import_job(region=REGION, knowledge_base_id=kb, status="START_IN_PROGRESS")
    w.run()
    # When jobs progress, fail and appear between two runs
    w.advance(timedelta(minutes=5))
    w.plane.set_status(imp, "Completed")
    w.plane.set_status(qjob, "COMPLETE")
    copy = w.plane.create_model_copy_job(
        region=REGION,
        target_model_name="copy-1",
        source_model_arn=f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/imported/abcdefghijkl",
        status="InProgress",
    )
    w.plane.set_status(copy, "Failed", failure_message="Source model is not shareable")
    summary = w.run()
    # Then each transition reaches the bus consumer once, with the envelope
    events = w.events_received()
    assert _transitions(events) == sorted(
        [
            ("copy-1", None, "Failed"),
            ("imp-1", "InProgress", "Completed"),
            (qjob, "START_IN_PROGRESS", "COMPLETE"),
        ]
    )
    by_kind = {e["detail"]["jobKind"]: e for e in events}
    assert by_kind["bedrock-model-import"]["detail-type"] == "Bedrock Model Import Job Status Change"
    assert by_kind["bedrock-model-import"]["source"] == "job-auditor"
    assert by_kind["bedrock-model-import"]["resources"] == [imp]
    assert by_kind["bedrock-model-copy"]["detail"]["failureMessage"] == "Source model is not shareable"
    assert by_kind["qconnect-import"]["detail"]["knowledgeBaseId"] == kb
    assert {e["detail"]["account"] for e in events} == {ACCOUNT}
    # ... and the topic subscriber gets a readable message per transition, with filterable attributes
    notes = w.notifications_received()
    assert len(notes) == 3
    subjects = sorted(n["Subject"] for n in notes)
    assert subjects[0].startswith("[FAILED] bedrock-model-copy copy-1")
    assert all(len(s) <= 100 for s in subjects)
    failed = next(n for n in notes if n["Subject"].startswith("[FAILED]"))
    assert "Source model is not shareable" in failed["Message"]
    assert failed["MessageAttributes"]["status"]["Value"] == "Failed"
    # ... state is committed: job items updated, history written, no claim left open
    statuses = {i["jobId"]: i["status"] for i in w.table_items("SRC#") if i["sk"].startswith("JOB#")}
    assert statuses[imp] == "Completed"
    assert statuses[qjob] == "COMPLETE"
    history = [i for i in w.table_items("SRC#") if i["sk"].startswith("HIST#")]
    assert sorted(h["eventId"] for h in history) == sorted(e["detail"]["eventId"] for e in events)
    assert all(h["expiresAt"] > w.now().timestamp() for h in history)
    assert w.pending_claims() == set()
    assert summary["transitions"] == 3
    # And a run with nothing new announces nothing
    w.advance(timedelta(minutes=5))
    assert w.run()["transitions"] == 0
    assert w.events_received() == []


@pytest.mark.parametrize(
    ("horizon_hours", "expect_get_calls"),
    [(72, True), (120, False)],
    ids=["beyond-horizon-rechecked-with-get", "within-horizon-kept-in-the-list-window"],
)
def test_job_created_three_days_before_the_checkpoint_completes_later(
    make_world: Any, horizon_hours: int, expect_get_calls: bool
) -> None:
    # Given a long job found on the first run, and three days of runs while it is in progress
    w: World = make_world(RECHECK_HORIZON_HOURS=str(horizon_hours), **BEDROCK_ONLY)
    slow = w.plane.create_model_import_job(region=REGION, name="slow-import", status="InProgress")
    w.run()
    for _ in range(13):
        w.advance(timedelta(hours=6))
        w.plane.create_model_import_job(region=REGION, name=f"quick-{_}", status="Completed")
        w.run()
    w.events_received()
    # When it completes after three days
    w.advance(timedelta(minutes=5))
    w.plane.reset_calls()
    w.plane.set_status(slow, "Completed")
    summary = w.run()
    # Then exactly one InProgress -> Completed event for it
    events = [e for e in w.events_received() if e["detail"]["jobName"] == "slow-import"]
    assert [(e["detail"]["previousStatus"], e["detail"]["status"]) for e in events] == [
        ("InProgress", "Completed")
    ]
    assert events[0]["detail"]["durationSeconds"] >= 3 * 24 * 3600
    (source,) = summary["sources"]
    assert (w.plane.count_calls("GetModelImportJob") == 1) is expect_get_calls
    assert source["jobs_rechecked"] == (1 if expect_get_calls else 0)
    # And further runs say nothing more about it
    w.advance(timedelta(minutes=5))
    w.run()
    assert w.events_received() == []


def test_2500_import_jobs_in_the_window_are_seen_with_three_list_calls(make_world: Any) -> None:
    w: World = make_world(**BEDROCK_ONLY)
    for i in range(2500):
        w.plane.create_model_import_job(
            region=REGION,
            name=f"bulk-{i}",
            status="InProgress",
            creation_time=w.now() - timedelta(seconds=i + 1),
        )
    w.plane.reset_calls()
    summary = w.run()
    (source,) = summary["sources"]
    assert source["jobs_listed"] == 2500
    # Three pages of the window, and the baseline sweep's one page of older jobs still in progress.
    assert source["pages"] == 3 + 1
    assert w.plane.count_calls("ListModelImportJobs") == 3 + 1
    jobs = [i for i in w.table_items("SRC#") if i["sk"].startswith("JOB#")]
    assert len(jobs) == 2500


def test_250_qconnect_import_jobs_in_one_knowledge_base_are_all_seen(make_world: Any) -> None:
    w: World = make_world(JOB_KINDS="qconnect-import", ANNOUNCE_BASELINE="true")
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    ids = {
        w.plane.create_import_job(
            region=REGION,
            knowledge_base_id=kb,
            status="COMPLETE",
            created_time=w.now() - timedelta(minutes=i + 1),
        )
        for i in range(250)
    }
    # An old, ended job outside the lookback is history from before the deployment: the baseline's sweep
    # reads it (the API has no time filter) and passes over it, counted
    w.plane.create_import_job(
        region=REGION, knowledge_base_id=kb, status="COMPLETE", created_time=w.now() - timedelta(days=3)
    )
    w.plane.reset_calls()
    summary = w.run()
    (source,) = summary["sources"]
    assert source["jobs_listed"] == 251
    assert source["skipped"] == {"untracked-history": 1}
    assert w.plane.count_calls("ListImportJobs") == 3
    assert {e["detail"]["jobId"] for e in w.events_received()} == ids


def test_configured_knowledge_base_ids_skip_discovery(make_world: Any) -> None:
    w: World = make_world(JOB_KINDS="qconnect-import", ANNOUNCE_BASELINE="true")
    wanted = w.plane.create_knowledge_base(region=REGION, name="wanted")
    other = w.plane.create_knowledge_base(region=REGION, name="other")
    w.plane.create_import_job(region=REGION, knowledge_base_id=other, status="COMPLETE")
    job = w.plane.create_import_job(region=REGION, knowledge_base_id=wanted, status="COMPLETE")
    w._set_env({"QCONNECT_KNOWLEDGE_BASE_IDS": wanted})
    w.plane.reset_calls()
    w.run()
    assert [e["detail"]["jobId"] for e in w.events_received()] == [job]
    assert w.plane.count_calls("ListKnowledgeBases") == 0


def test_unknown_status_is_recorded_announced_and_counted(make_world: Any) -> None:
    w: World = make_world(**BEDROCK_ONLY)
    imp = w.plane.create_model_import_job(region=REGION, name="imp", status="InProgress")
    w.run()
    w.advance(timedelta(minutes=5))
    w.plane.set_status(imp, "Paused")
    summary = w.run()
    (event,) = w.events_received()
    assert (event["detail"]["status"], event["detail"]["statusCategory"]) == ("Paused", "UNKNOWN")
    assert summary["sources"][0]["unknown_statuses"] == 1
    (note,) = w.notifications_received()
    assert note["Subject"].startswith("[Unknown status]")
    # Still in flight: it stays watched and its next change is announced too
    w.advance(timedelta(minutes=5))
    w.plane.set_status(imp, "Completed")
    w.run()
    assert [(e["detail"]["previousStatus"], e["detail"]["status"]) for e in w.events_received()] == [
        ("Paused", "Completed")
    ]


def test_a_failing_source_does_not_stop_the_others(make_world: Any) -> None:
    # Given copy jobs are denied to the auditor
    w: World = make_world(JOB_KINDS="bedrock-model-import,bedrock-model-copy", ANNOUNCE_BASELINE="true")
    w.plane.faults.deny(operation="ListModelCopyJobs")
    w.plane.create_model_import_job(region=REGION, name="imp", status="InProgress")
    # When the auditor runs
    summary = w.run()
    # Then the import source still publishes, and the run names the failed source
    assert _transitions(w.events_received()) == [("imp", None, "InProgress")]
    assert summary["status"] == "partial-failure"
    assert summary["failedSources"] == [f"{ACCOUNT}/{REGION}/bedrock-model-copy"]
    failed = next(s for s in summary["sources"] if s["error"])
    assert failed["error"].startswith("AccessDeniedException")
    assert failed["checkpoint_advanced"] is False


def test_missing_environment_variable_fails_with_its_name(make_world: Any, monkeypatch: Any) -> None:
    w: World = make_world()
    monkeypatch.delenv("EVENT_BUS_NAME")
    with pytest.raises(SettingsError, match="EVENT_BUS_NAME: required"):
        w.run()


def test_every_event_id_is_unique_across_a_busy_sequence(make_world: Any) -> None:
    w: World = make_world(ANNOUNCE_BASELINE="true", **BEDROCK_ONLY)
    arns = [
        w.plane.create_model_import_job(region=REGION, name=f"j{i}", status="InProgress") for i in range(30)
    ]
    w.run()
    for step, arn in enumerate(arns):
        w.advance(timedelta(minutes=1))
        w.plane.set_status(arn, "Completed" if step % 2 else "Failed")
        if step % 5 == 0:
            w.run()
    w.advance(timedelta(minutes=1))
    w.run()
    ids = Counter(e["detail"]["eventId"] for e in w.events_received())
    assert len(ids) == 60
    assert max(ids.values()) == 1


def test_knowledge_base_created_after_the_first_run_is_announced_not_baselined(make_world: Any) -> None:
    # Given two knowledge bases at first deploy (silent baseline for both)
    w: World = make_world(JOB_KINDS="qconnect-import")
    for name in ("kb-a", "kb-b"):
        kb = w.plane.create_knowledge_base(region=REGION, name=name)
        w.plane.create_import_job(region=REGION, knowledge_base_id=kb, status="COMPLETE")
    w.run()
    assert w.events_received() == []
    # When a third knowledge base appears later with an import job
    w.advance(timedelta(minutes=5))
    kb_c = w.plane.create_knowledge_base(region=REGION, name="kb-c")
    job = w.plane.create_import_job(region=REGION, knowledge_base_id=kb_c, status="START_IN_PROGRESS")
    w.run()
    # Then its job is announced as discovered
    assert [(e["detail"]["jobId"], e["detail"]["knowledgeBaseId"]) for e in w.events_received()] == [
        (job, kb_c)
    ]


def test_failed_import_job_is_announced_with_its_failure_message(make_world: Any) -> None:
    # ListModelImportJobs summaries carry no failureMessage: the auditor fetches it with one Get
    w: World = make_world(**BEDROCK_ONLY)
    imp = w.plane.create_model_import_job(region=REGION, name="imp", status="InProgress")
    w.run()
    w.advance(timedelta(minutes=5))
    w.plane.set_status(imp, "Failed", failure_message="config.json missing")
    w.plane.reset_calls()
    w.run()
    (event,) = w.events_received()
    assert event["detail"]["failureMessage"] == "config.json missing"
    assert w.plane.count_calls("GetModelImportJob") == 1
    (note,) = w.notifications_received()
    assert "config.json missing" in note["Message"]


def test_stuck_job_gets_one_alert_then_a_normal_notification_when_it_moves(make_world: Any) -> None:
    # Given a job found in progress, and the auditor running every few hours
    w: World = make_world(STUCK_AFTER_HOURS="bedrock-model-import=12", **BEDROCK_ONLY)
    slow = w.plane.create_model_import_job(region=REGION, name="slow", status="InProgress")
    w.run()
    # When it is still in progress past the threshold, across several runs
    for _ in range(6):
        w.advance(timedelta(hours=4))
        w.run()
    # Then exactly one stuck event and one stuck notification
    (event,) = w.events_received()
    assert event["detail"]["transition"] == "stuck"
    assert event["detail"]["status"] == event["detail"]["previousStatus"] == "InProgress"
    assert event["detail"]["stuckForSeconds"] >= 12 * 3600
    (note,) = w.notifications_received()
    assert note["Subject"] == "[STUCK] bedrock-model-import slow (us-east-1)"
    assert "still InProgress after" in note["Message"]
    # And when it finally completes, the ordinary transition
    w.plane.set_status(slow, "Completed")
    w.advance(timedelta(minutes=5))
    w.run()
    (done,) = w.events_received()
    assert (done["detail"]["transition"], done["detail"]["previousStatus"], done["detail"]["status"]) == (
        "status-changed",
        "InProgress",
        "Completed",
    )


def test_stuck_alert_repeats_every_n_hours_when_asked(make_world: Any) -> None:
    w: World = make_world(STUCK_AFTER_HOURS="12", STUCK_REPEAT_HOURS="6", **BEDROCK_ONLY)
    w.plane.create_model_import_job(region=REGION, name="slow", status="InProgress")
    w.run()
    for _ in range(12):  # 24 hours in 2-hour steps: alerts at ~12 h and ~18 h and ~24 h
        w.advance(timedelta(hours=2))
        w.run()
    stuck_events = [e for e in w.events_received() if e["detail"]["transition"] == "stuck"]
    assert len(stuck_events) == 3
    assert len({e["detail"]["eventId"] for e in stuck_events}) == 3


def test_run_emits_metrics_in_embedded_metric_format(make_world: Any, capsys: Any) -> None:
    # Given a run with one transition
    w: World = make_world(ANNOUNCE_BASELINE="true", **BEDROCK_ONLY)
    w.plane.create_model_import_job(region=REGION, name="imp", status="InProgress")
    capsys.readouterr()
    w.run()
    # Then the EMF lines carry the run's totals and the per job kind / region series
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    values: dict[tuple[str, tuple[str, ...]], float] = {}
    for line in lines:
        for directive in line["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "JobAuditor"
            dims = tuple(f"{d}={line[d]}" for d in directive["Dimensions"][0])
            for metric in directive["Metrics"]:
                values[(metric["Name"], dims)] = line[metric["Name"]][0]
    assert values[("RunSucceeded", ("service=job-auditor",))] == 1
    assert values[("Transitions", ("service=job-auditor",))] == 1
    per_kind = ("service=job-auditor", "JobKind=bedrock-model-import", "Region=us-east-1")
    assert values[("JobsListed", per_kind)] == 1
    # The window's page, and the baseline sweep's page of older jobs still in progress
    assert values[("ApiCalls", per_kind)] == 2
    assert (
        values[
            (
                "TransitionsByStatus",
                ("service=job-auditor", "JobKind=bedrock-model-import", "Status=InProgress"),
            )
        ]
        == 1
    )


def test_sources_are_audited_at_the_same_time_each_with_its_own_counts(
    make_world: Any, monkeypatch: Any
) -> None:
    # Given four sources (two Bedrock kinds, two knowledge bases), each with one job in progress
    w: World = make_world(JOB_KINDS="bedrock-model-import,bedrock-model-copy,qconnect-import")
    imp = w.plane.create_model_import_job(region=REGION, name="imp", status="InProgress")
    copy = w.plane.create_model_copy_job(
        region=REGION,
        target_model_name="copy",
        source_model_arn=f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/imported/abcdefghijkl",
        status="InProgress",
    )
    kbs = [w.plane.create_knowledge_base(region=REGION, name=f"kb{i}") for i in range(2)]
    kb_jobs = [w.plane.create_import_job(region=REGION, knowledge_base_id=kb) for kb in kbs]
    # and a job API whose listing waits until all four sources are listing at once
    all_listing = threading.Barrier(4, timeout=20)
    real_list, real_pages = BotoJobApi.list_jobs, BotoJobApi.list_pages

    first_listing: set[str] = set()

    def together(source: Any) -> None:
        if source.key not in first_listing:  # a sweep lists a source more than once
            first_listing.add(source.key)
            all_listing.wait()  # raises BrokenBarrierError (the source fails) if sources ran one by one

    def list_together(self: BotoJobApi, source: Any, *args: Any, **kwargs: Any) -> Any:
        together(source)
        return real_list(self, source, *args, **kwargs)

    def pages_together(self: BotoJobApi, source: Any, *args: Any, **kwargs: Any) -> Any:
        # A sweep of Q in Connect's unfiltered listing reads it page by page.
        together(source)
        return real_pages(self, source, *args, **kwargs)

    monkeypatch.setattr(BotoJobApi, "list_jobs", list_together)
    monkeypatch.setattr(BotoJobApi, "list_pages", pages_together)
    # When the first run audits them, Then all four list concurrently and both knowledge bases'
    # baselines stay silent (neither takes the other's scope mark for an earlier deployment)
    first = w.run()
    assert first["failedSources"] == []
    assert w.events_received() == []
    # And after each job changes, the next run announces exactly the four changes
    w.advance(timedelta(minutes=5))
    for ref in (imp, copy):
        w.plane.set_status(ref, "Completed")
    for job in kb_jobs:
        w.plane.set_status(job, "COMPLETE")
    all_listing.reset()
    second = w.run()
    assert second["failedSources"] == []
    assert sorted(d["status"] for d in _details(w.events_received())) == [
        "COMPLETE",
        "COMPLETE",
        "Completed",
        "Completed",
    ]
    # And each source's API calls are its own: one list page each, nothing counted twice
    assert [s["api_calls"] for s in second["sources"]] == [1, 1, 1, 1]


@pytest.mark.parametrize(("every", "swept"), [("0", True), ("60", False)])
def test_reconcile_every_minutes_decides_which_runs_sweep(make_world: Any, every: str, swept: bool) -> None:
    # Given an auditor whose first run (a sweep, like every baseline) is done
    w: World = make_world(RECONCILE_EVERY_MINUTES=every, **BEDROCK_ONLY)
    assert w.run()["sources"][0]["reconciled"]
    # When the next run comes five minutes later
    w.advance(timedelta(minutes=5))
    (source,) = w.run()["sources"]
    # Then it sweeps only when RECONCILE_EVERY_MINUTES says every run
    assert source["reconciled"] is swept


def test_a_job_listed_later_than_the_overlap_is_announced_by_the_next_sweep(make_world: Any) -> None:
    # Given a running auditor, and a job its list API shows only 40 minutes after its creation
    w: World = make_world(**BEDROCK_ONLY)
    w.run()
    w.advance(timedelta(minutes=5))
    arn = w.plane.create_model_import_job(region=REGION, name="late", status="Failed")
    w.plane.hide_from_lists(arn, w.now() + timedelta(minutes=40))
    # When the schedule runs for an hour and a half (the window moves past it before it is listed)
    announced: list[dict[str, Any]] = []
    for _ in range(18):
        w.advance(timedelta(minutes=5))
        w.run()
        announced += w.events_received()
    # Then the sweep announced it, once
    assert [(e["detail"]["jobArn"], e["detail"]["status"]) for e in announced] == [(arn, "Failed")]


def test_a_tracked_job_deleted_from_the_api_is_announced_as_disappeared_once(make_world: Any) -> None:
    # Given a job the auditor tracks in flight, which then vanishes from the API
    w: World = make_world(**BEDROCK_ONLY)
    arn = w.plane.create_model_import_job(region=REGION, name="doomed", status="InProgress")
    w.run()
    w.plane.delete_job(arn)
    # When runs go on
    announced: list[dict[str, Any]] = []
    for _ in range(6):
        w.advance(timedelta(minutes=5))
        w.run()
        announced += w.events_received()
    # Then one event says it disappeared, with the status it was last seen in, and it is not followed
    (event,) = announced
    assert event["detail"]["transition"] == "disappeared"
    assert (event["detail"]["previousStatus"], event["detail"]["status"]) == ("InProgress", "InProgress")
    assert w.plane.count_calls("GetModelImportJob") == 3


def _announced(w: World, runs: int, every: timedelta) -> list[tuple[str, str | None, str]]:
    """(transition, previous status, status) of what `runs` runs `every` apart put on the bus."""
    out: list[tuple[str, str | None, str]] = []
    for _ in range(runs):
        w.advance(every)
        w.run()
        out += [
            (e["detail"]["transition"], e["detail"]["previousStatus"], e["detail"]["status"])
            for e in w.events_received()
        ]
    return out


def test_misses_a_day_apart_are_not_misses_in_a_row_and_the_job_is_followed_to_its_end(
    make_world: Any,
) -> None:
    # Given a long import the auditor follows by Get (created before its window)
    w: World = make_world(DIGEST_THRESHOLD="0", **BEDROCK_ONLY)
    arn = w.plane.create_model_import_job(
        region=REGION, name="long", status="InProgress", creation_time=w.now() - timedelta(days=4)
    )
    w.run()
    # When one Get a day answers "not found" (as many as make a job gone, but never in a row) and the
    # runs between find it
    announced = []
    for _ in range(3):
        announced += _announced(w, 24, timedelta(hours=1))
        w.plane.faults.add_rule("ResourceNotFoundException", operation="GetModelImportJob", times=1)
        announced += _announced(w, 1, timedelta(minutes=5))
    # And it then completes
    w.plane.set_status(arn, "Completed")
    announced += _announced(w, 3, timedelta(minutes=5))
    # Then it was never announced as disappeared, and its completion was
    assert not [a for a in announced if a[0] == "disappeared"]
    assert ("status-changed", "InProgress", "Completed") in announced


def test_a_job_announced_as_disappeared_that_comes_back_is_followed_again_to_its_end(
    make_world: Any,
) -> None:
    # Given a job the auditor follows, then missing from the listing and from Get for three runs in a
    # row (the API's answer wrong for a quarter of an hour): announced as disappeared
    w: World = make_world(STUCK_AFTER_HOURS="48", DIGEST_THRESHOLD="0", **BEDROCK_ONLY)
    w.run()
    arn = w.plane.create_model_import_job(region=REGION, name="imp", status="InProgress")
    assert _announced(w, 1, timedelta(minutes=5)) == [("discovered", None, "InProgress")]
    w.plane.hide_from_lists(arn, until=w.now() + timedelta(minutes=16))
    w.plane.faults.add_rule("ResourceNotFoundException", operation="GetModelImportJob", times=3)
    assert _announced(w, 4, timedelta(minutes=5)) == [("disappeared", "InProgress", "InProgress")]
    # When it is listed and answered again, runs for a day and a half in the same status, then completes
    meanwhile = _announced(w, 36, timedelta(hours=1))
    w.plane.set_status(arn, "Completed")
    after = _announced(w, 3, timedelta(minutes=5))
    # Then its return is recorded without an announcement (its status did not change), and its
    # completion is announced once
    assert meanwhile == []
    assert after == [("status-changed", "InProgress", "Completed")]


def test_a_job_the_api_loses_while_it_ends_is_announced_once_it_is_back(make_world: Any) -> None:
    # Given a long import the auditor follows by Get (created four days ago: older than the sweep's
    # lookback, so once it has ended no listing returns it)
    w: World = make_world(DIGEST_THRESHOLD="0", **BEDROCK_ONLY)
    arn = w.plane.create_model_import_job(
        region=REGION, name="long", status="InProgress", creation_time=w.now() - timedelta(days=4)
    )
    w.run()
    # When the API loses it for two hours (lists leave it out, Get answers ResourceNotFound): announced
    # as disappeared after three runs; and it completes meanwhile
    w.plane.lose_job(arn, until=w.now() + timedelta(hours=2))
    lost = _announced(w, 3, timedelta(minutes=5))
    w.plane.set_status(arn, "Completed")
    calls = w.plane.count_calls("GetModelImportJob")
    # And runs go on until a sweep period after it is back
    back = _announced(w, 33, timedelta(minutes=5))
    # Then its completion is announced, once
    assert lost == [("disappeared", "InProgress", "InProgress")]
    assert back == [("status-changed", "InProgress", "Completed")]
    # And once it was announced as disappeared only the sweeps asked for it (one Get each, an hour
    # apart, until one found it), not the 33 runs
    assert 1 <= w.plane.count_calls("GetModelImportJob") - calls <= 3


@pytest.mark.parametrize("hours_ahead", [3, 25])
def test_one_run_with_its_clock_ahead_does_not_blind_the_runs_after_it(
    make_world: Any, hours_ahead: int
) -> None:
    # Given a run whose clock is hours ahead (a laptop's `run --once`), its checkpoint written so
    w: World = make_world(DIGEST_THRESHOLD="0", **BEDROCK_ONLY)
    w.run()
    w.advance(timedelta(minutes=5))
    skew = timedelta(hours=hours_ahead)
    w.advance(skew)
    w.run()
    w.advance(-skew)
    # When, the clocks right again, a job starts and fails ten minutes later
    w.advance(timedelta(minutes=5))
    arn = w.plane.create_model_import_job(region=REGION, name="quick", status="InProgress")
    announced = _announced(w, 2, timedelta(minutes=5))
    w.plane.set_status(arn, "Failed", failure_message="bad weights")
    announced += _announced(w, 1, timedelta(minutes=5))
    # Then its start and its failure are announced within a run each, as without the skew
    assert announced == [("discovered", None, "InProgress"), ("status-changed", "InProgress", "Failed")]


def test_a_get_answer_without_a_needed_field_is_not_taken_for_not_found(make_world: Any) -> None:
    # Given a long import the auditor follows by Get
    w: World = make_world(DIGEST_THRESHOLD="0", **BEDROCK_ONLY)
    arn = w.plane.create_model_import_job(
        region=REGION, name="long", status="InProgress", creation_time=w.now() - timedelta(days=4)
    )
    w.run()
    # When three Get answers in a row lack the job's creation time (an answer the auditor cannot read)
    w.plane.mutator = ResponseMutator().set_field("GetModelImportJob", "creationTime", None, times=3)
    runs = []
    for _ in range(3):
        w.advance(timedelta(minutes=5))
        runs.append(w.run())
    # Then those runs fail for the source, saying why, and nothing is announced
    assert [r["status"] for r in runs] == ["partial-failure"] * 3
    assert "without a field the auditor needs" in runs[0]["sources"][0]["error"]
    assert w.events_received() == []
    # And once the answers are whole again the job is followed to its end, never announced as gone
    w.plane.mutator = None
    w.plane.set_status(arn, "Completed")
    assert _announced(w, 2, timedelta(minutes=5)) == [("status-changed", "InProgress", "Completed")]
