"""The planner's RunPlan and the audit step over it: what a run knew before it began (the scopes'
marks), what it could not discover, and which scopes it marks once it has audited."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from job_auditor import availability
from job_auditor.auditor.domain.checkpoint import advance
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.domain.schedule import record_of
from job_auditor.auditor.planner import Planner
from job_auditor.auditor.ports import SourceError
from tests.fakes import FakeJob, Harness, fail_store_once

# EU offers every kind; DARK does not offer Q in Connect (botocore's endpoint data).
ACCOUNT, OTHER, REGION, EU, DARK = "123456789012", "210987654321", "us-east-1", "eu-central-1", "eu-west-1"
QCONNECT = JOB_KINDS["qconnect-import"]


def _scope(account: str = ACCOUNT, region: str = REGION) -> Source:
    return Source(account, region, QCONNECT)


def _harness() -> Harness:
    h = Harness(kinds=("bedrock-model-import", "qconnect-import"))
    h.api.knowledge_bases[(ACCOUNT, REGION)] = ["kb-1", "kb-2"]
    return h


def test_a_plan_holds_the_sources_in_order_and_each_scopes_mark_as_read_before_the_run() -> None:
    # Given a scope audited before (us-east-1) and one never audited, found empty (eu-west-1)
    h = _harness()
    h.store.records[_scope().key] = record_of(_scope(), first_attempted_at=h.clock(), enumerated=True)
    # When the run is planned
    plan = h.planner().plan([ACCOUNT], [REGION, EU], h.kinds, {})
    # Then the sources come per region and kind, a knowledge base each, and the marks are as stored
    assert [s.key for s in plan.sources] == [
        f"{ACCOUNT}/{REGION}/bedrock-model-import",
        f"{ACCOUNT}/{REGION}/qconnect-import/kb-1",
        f"{ACCOUNT}/{REGION}/qconnect-import/kb-2",
        f"{ACCOUNT}/{EU}/bedrock-model-import",
    ]
    assert plan.marks == {_scope().key: True, _scope(region=EU).key: False}
    assert [m.scope.key for m in plan.empty_scopes] == [_scope(region=EU).key]
    assert plan.audited_before(plan.sources[1]) and not plan.audited_before(plan.sources[0])
    assert (plan.failures, plan.accounts, plan.stopped_early) == ((), 1, False)


def test_the_audit_step_marks_only_scopes_not_audited_before_once_it_has_audited() -> None:
    # Given a plan with one scope audited before and one not
    h = _harness()
    h.store.records[_scope().key] = before = record_of(
        _scope(), first_attempted_at=h.clock(), enumerated=True
    )
    plan = h.planner().plan([ACCOUNT], [REGION, EU], h.kinds, {})
    h.clock.advance(timedelta(minutes=5))
    writes: list[str] = []
    h.store.faults.append(lambda op: writes.append(op) if op == "record_scope" else None)
    # When it is audited
    summary = h.audit_step().run(plan)
    # Then the new scope is marked (one write), the one audited before is left as it was
    assert summary.status == "ok"
    assert h.store.records[_scope(region=EU).key].enumerated
    assert h.store.records[_scope().key] == before
    assert writes == ["record_scope"]


def test_a_scope_marked_by_an_earlier_version_is_audited_before_and_its_mark_moved_in_once() -> None:
    # Given a scope an earlier version marked (its checkpoint item), with a knowledge base
    h = _harness()
    h.store.legacy_checkpoints[_scope().key] = advance(None, h.clock())
    # When two runs plan and audit it
    first = h.planner().plan([ACCOUNT], [REGION], h.kinds, {})
    h.audit_step().run(first)
    h.clock.advance(timedelta(minutes=5))
    reads: list[str] = []
    h.store.faults.append(lambda op: reads.append(op) if op.startswith(("read", "load")) else None)
    second = h.planner().plan([ACCOUNT], [REGION], h.kinds, {})
    # Then it was audited before in both, and its mark is now in its record: the second plan reads
    # the records with its one query (the first run's sources have theirs) and nothing more
    assert first.marks == second.marks == {_scope().key: True}
    assert h.store.records[_scope().key].enumerated and not h.store.records[_scope().key].legacy
    assert reads == ["load_audit_records"]


def test_a_region_that_cannot_be_discovered_is_a_failed_summary_and_the_others_are_planned() -> None:
    # Given a second account whose knowledge bases cannot be listed
    h = _harness()

    def deny(operation: str, source: Source | None) -> None:
        del source
        if operation == "list_knowledge_bases":
            raise SourceError("not authorized", code="AccessDeniedException")

    h.api.knowledge_bases[(OTHER, REGION)] = ["kb-9"]
    h.api.faults.append(deny)
    # When both accounts are planned
    plan = h.planner().plan([ACCOUNT, OTHER], [REGION], h.kinds, {})
    # Then each account's knowledge base scope failed on its own, the import sources are planned
    assert [f.source for f in plan.failures] == [_scope().key, _scope(OTHER).key]
    assert {f.error for f in plan.failures} == {"AccessDeniedException: not authorized"}
    assert [s.key for s in plan.sources] == [
        f"{ACCOUNT}/{REGION}/bedrock-model-import",
        f"{OTHER}/{REGION}/bedrock-model-import",
    ]
    assert plan.marks == {}
    # And the audit step's summary lists them after the audited sources
    summary = h.audit_step().run(plan)
    assert [s.source for s in summary.failed_sources] == [_scope().key, _scope(OTHER).key]
    assert summary.accounts == 2


def test_a_resumed_plan_keeps_the_carried_marks_and_reads_only_a_missing_one() -> None:
    # Given sources planned elsewhere, with the mark of one of their two scopes carried
    h = _harness()
    h.store.records[_scope(OTHER).key] = record_of(
        _scope(OTHER), first_attempted_at=h.clock(), enumerated=True
    )
    sources = [Source(ACCOUNT, REGION, QCONNECT, ("kb-1",)), Source(OTHER, REGION, QCONNECT, ("kb-9",))]
    reads: list[str] = []
    h.store.faults.append(reads.append)
    # When the plan is resumed
    plan = h.planner().resume(sources, {_scope().key: False})
    # Then the carried mark stands and the missing one was read, once
    assert plan.sources == tuple(sources)
    assert plan.marks == {_scope().key: False, _scope(OTHER).key: True}
    assert reads == ["read_audit_records"]


def test_a_new_knowledge_base_in_a_scope_audited_before_is_announced_from_its_first_run() -> None:
    # Given a scope audited before and a knowledge base that appeared since, with a job
    h = _harness()
    h.run()
    h.api.knowledge_bases[(ACCOUNT, REGION)].append("kb-3")
    source = Source(ACCOUNT, REGION, QCONNECT, ("kb-3",))
    h.api.add(source, FakeJob("job-1", "START_IN_PROGRESS", h.clock()))
    # When the next run audits it (its baseline)
    summary = h.run()
    # Then its job is announced, not recorded silently
    (audited,) = [s for s in summary.sources if s.source == source.key]
    assert audited.baseline and audited.recorded_silently == 0
    assert h.publisher.statuses("job-1") == [(None, "START_IN_PROGRESS", "discovered")]


def test_a_kind_not_offered_in_a_region_is_never_planned_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given Q in Connect, which botocore's endpoint data does not offer in DARK, configured there
    h = _harness()
    h.api.knowledge_bases[(ACCOUNT, DARK)] = ["kb-dark"]
    planner = h.planner()
    # When two runs are planned (the planner's own rule: job_auditor.availability's, as synth's)
    availability._noted.clear()
    with caplog.at_level(logging.INFO, logger=availability.__name__):
        plans = [planner.plan([ACCOUNT], [REGION, DARK], h.kinds, {}) for _ in range(2)]
    # Then it is not discovered there, nor planned, nor failed: a counted skip, logged once
    assert all(f"{ACCOUNT}/{DARK}/qconnect-import/kb-dark" not in {s.key for s in p.sources} for p in plans)
    assert all(p.skipped == {"notOffered": 1} and p.failures == () for p in plans)
    assert f"{ACCOUNT}/{DARK}/qconnect-import" not in h.api.calls
    assert h.api.calls[f"{ACCOUNT}/{REGION}/qconnect-import"] == 2
    logged = [r for r in caplog.records if r.getMessage().startswith("job kind not offered")]
    assert [(r.__dict__["jobKind"], r.__dict__["region"]) for r in logged] == [("qconnect-import", DARK)]
    summary = h.audit_step().run(plans[1])
    assert summary.as_dict()["skippedSources"] == {"notOffered": 1} and summary.status == "ok"


def test_a_predicate_states_a_world_of_its_own() -> None:
    # Given a planner told that no kind is offered in EU (a test's world, not botocore's)
    h = _harness()
    planner = Planner(h.api, h.store, lambda spec, region: region != EU, h.clock)
    # When a run is planned there and at home / Then EU's kinds are skipped, home's planned
    plan = planner.plan([ACCOUNT], [REGION, EU], h.kinds, {})
    assert {s.region for s in plan.sources} == {REGION}
    assert plan.skipped == {"notOffered": len(h.kinds)}


def test_a_knowledge_base_taken_out_of_the_configured_ids_is_orphaned_as_configuration_changed() -> None:
    # Given two configured knowledge bases audited, then one of them taken out of the configuration
    h = _harness()
    h.scopes = {"qconnect-import": (("kb-1",), ("kb-2",))}
    h.run()
    h.scopes = {"qconnect-import": (("kb-1",),)}
    # When the next run is planned
    plan = h.planner().plan([ACCOUNT], [REGION], h.kinds, h.scopes)
    # Then the one left out is an orphan: configuration changed (not a deleted scope)
    assert [(o.source.key, o.reason) for o in plan.orphans] == [
        (f"{ACCOUNT}/{REGION}/qconnect-import/kb-2", "configuration changed")
    ]


def test_a_plan_that_cannot_read_the_records_plans_no_orphans_and_reads_each_source() -> None:
    # Given a source audited before, whose knowledge base is now gone, and a records query that fails
    h = _harness()
    h.run()
    h.api.knowledge_bases[(ACCOUNT, REGION)] = ["kb-1"]
    h.store.faults.append(fail_store_once("load_audit_records"))
    # When the run is planned
    plan = h.planner().plan([ACCOUNT], [REGION], h.kinds, {})
    # Then nothing is taken for an orphan, and the planned sources still have their records
    assert plan.orphans == ()
    assert all(plan.record(s) is not None and plan.record(s).checkpoint for s in plan.sources)  # type: ignore[union-attr]
