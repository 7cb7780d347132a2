"""Scopes that go away and sources that wait, end to end: the real handler against the simulator and moto
(issue 20, items 2, 4 and 8). A Q in Connect knowledge base deleted after its import completed, a kind
taken out of JOB_KINDS, and a source the time budget keeps leaving out; what reaches the queue
subscribed to the bus, and what the summary counts."""

from collections.abc import Collection
from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from job_auditor.auditor import wiring
from job_auditor.contract.state_schema import PENDING
from simulator.world import ACCOUNT, REGION, TABLE, FakeLambdaContext, World

QCONNECT_ONLY = {"JOB_KINDS": "qconnect-import"}


def _disappeared(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [
        (e["detail"]["jobId"], e["detail"].get("reason"))
        for e in events
        if e["detail"]["transition"] == "disappeared"
    ]


def test_a_knowledge_base_deleted_after_its_import_completed_announces_the_job_disappeared(
    make_world: Any,
) -> None:
    # Given a Q in Connect import job the auditor follows
    w: World = make_world(**QCONNECT_ONLY)
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    w.run()
    job = w.plane.create_import_job(region=REGION, knowledge_base_id=kb, status="START_IN_PROGRESS")
    w.advance(timedelta(minutes=5))
    w.run()
    assert [e["detail"]["status"] for e in w.events_received()] == ["START_IN_PROGRESS"]
    # When the import completes and the knowledge base is deleted (its jobs with it) before the next run
    w.plane.set_status(job, "COMPLETE")
    w.plane.delete_knowledge_base(REGION, kb)
    summaries = []
    for _ in range(4):
        w.advance(timedelta(minutes=5))
        summaries.append(w.run())
    # Then the job is announced once as disappeared, naming the reason, on the bus and the topic
    events = w.events_received()
    assert _disappeared(events) == [(job, "scope deleted")]
    (event,) = events
    assert event["detail"]["previousStatus"] == event["detail"]["status"] == "START_IN_PROGRESS"
    assert any("no longer audited: scope deleted" in n["Message"] for n in w.notifications_received())
    # And the runs counted the orphan until it was wound down; every run went through
    source = f"{ACCOUNT}/{REGION}/qconnect-import/{kb}"
    assert [s["orphanedSources"] for s in summaries] == [
        [{"source": source, "reason": "scope deleted"}]
    ] * 3 + [[]]
    assert summaries[0]["orphanedJobs"] == 1
    assert all(s["status"] == "ok" for s in summaries)
    state = next(i for i in w.table_items("SRC#") if i["sk"].startswith("JOB#") and i["jobId"] == job)
    assert state["disappearedReason"] == "scope deleted"
    record = next(i for i in w.table_items("AUDIT") if i["sk"] == source)
    assert record["retiredReason"] == "scope deleted"


def test_a_kind_taken_out_of_job_kinds_is_followed_to_its_end_then_let_be(make_world: Any) -> None:
    # Given a Bedrock model import job the auditor follows
    w: World = make_world(JOB_KINDS="bedrock-model-import,bedrock-model-copy")
    w.run()
    arn = w.plane.create_model_import_job(region=REGION, name="imp-1", status="InProgress")
    w.advance(timedelta(minutes=5))
    w.run()
    w.events_received()
    # When the kind is taken out of the configuration (its API still answers), and the job completes
    w.set_env(JOB_KINDS="bedrock-model-copy")
    listed = w.plane.count_calls("ListModelImportJobs")
    w.advance(timedelta(minutes=5))
    first = w.run()
    w.plane.set_status(arn, "Completed", region=REGION)
    w.advance(timedelta(minutes=5))
    ended = w.run()
    w.advance(timedelta(minutes=5))
    after = w.run()
    # Then the job was followed with Get, its completion announced, nothing announced as disappeared
    events = w.events_received()
    assert [(e["detail"]["previousStatus"], e["detail"]["status"]) for e in events] == [
        ("InProgress", "Completed")
    ]
    assert first["orphanedSources"] == [
        {"source": f"{ACCOUNT}/{REGION}/bedrock-model-import", "reason": "configuration changed"}
    ]
    assert ended["orphanedJobs"] == 1 and after["orphanedSources"] == []
    assert w.plane.count_calls("GetModelImportJob") == 2
    assert w.plane.count_calls("ListModelImportJobs") == listed


class _Budget(FakeLambdaContext):
    """An invocation whose time runs out once `sources` sources have listed their jobs and claimed every
    transition they found (a run records its sources' audits only at its end, after delivering, so
    the budget watches the job API's calls and the pending claims): the sources already started finish,
    no other starts."""

    def __init__(self, w: World, sources: int, unannounced: Collection[str] = ()) -> None:
        super().__init__()
        self._w, self._sources, self._unannounced = w, sources, set(unannounced)
        self._since = len(w.plane.calls)

    def get_remaining_time_in_millis(self) -> int:
        calls = self._w.plane.calls.snapshot()[self._since :]
        listed = {c.params.get("knowledgeBaseId") for c in calls if c.operation == "ListImportJobs"}
        claimed = self._w.dynamodb.scan(TableName=TABLE, IndexName=PENDING.name, Select="COUNT")["Count"]
        done = len(listed) >= self._sources and claimed >= len(listed & self._unannounced)
        return 29_000 if done else 60_000


def test_a_source_the_time_budget_keeps_leaving_out_is_audited_within_a_few_runs(
    make_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given ten knowledge bases, every one audited once, and a time budget that fits four sources a run
    # (audited one at a time: with several at once, a source starts while the budget still waits for
    # another's claim, and a run on a busy machine could start all ten)
    monkeypatch.setattr(wiring, "build_audit_step", partial(wiring.build_audit_step, source_concurrency=1))
    w: World = make_world(**QCONNECT_ONLY)
    kbs = [w.plane.create_knowledge_base(region=REGION, name=f"kb-{n}") for n in range(10)]
    for _ in range(3):
        w.advance(timedelta(minutes=5))
        w.run(context=_Budget(w, 4))
    audited = {s["source"].rsplit("/", 1)[1] for s in w.table_items("AUDIT") if "startedAt" in s}
    assert audited == set(kbs)
    # When an import job fails in each knowledge base
    jobs = {w.plane.create_import_job(region=REGION, knowledge_base_id=kb, status="FAILED") for kb in kbs}
    summaries: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for _ in range(3):
        w.advance(timedelta(minutes=5))
        announced = {e["detail"]["knowledgeBaseId"] for e in events}
        summaries.append(w.run(context=_Budget(w, 4, set(kbs) - announced)))
        events += w.events_received()
    # Then within three runs every failure was announced, though each run audited only four sources
    assert {e["detail"]["jobId"] for e in events} == jobs
    assert [(s["stoppedEarly"], len(s["sources"])) for s in summaries] == [(True, 4)] * 3
    # And each run says how stale its stalest source was (at most three runs)
    assert all(0 < s["stalestSourceAgeSeconds"] <= 3 * 5 * 60 + 60 for s in summaries)
