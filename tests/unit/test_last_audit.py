"""The per-source last-audit record (`job-auditor status`), on the in-memory fakes: written once per
source and run whatever the run did, and never the reason a run fails."""

from __future__ import annotations

from datetime import timedelta

from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.ports import SourceError
from tests.fakes import FakeJob, Harness, fail_once, fail_store_once

ACCOUNT, REGION = "123456789012", "us-east-1"
IMPORT = Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-import"])


def _arn(n: int) -> str:
    return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/job{n:06d}"


def test_each_run_records_how_the_audit_of_each_source_ended() -> None:
    # Given a baseline run, then a job that completes
    h = Harness()
    h.api.add(IMPORT, FakeJob(_arn(1), "InProgress", h.clock() - timedelta(minutes=1)))
    h.api.add(IMPORT, FakeJob(_arn(2), "InProgress", h.clock() - timedelta(minutes=1)))
    h.run()
    h.api.set_status(IMPORT, _arn(1), "Completed")
    # When the next run audits the source
    writes: list[str] = []
    h.store.faults.append(lambda op: writes.append(op) if op == "record_audit" else None)
    summary = h.run()
    # Then one record says when it started and ended, that it went through, and what it did
    audit = h.store.audits[IMPORT.key]
    assert writes == ["record_audit"]
    assert audit.result == "ok" and audit.error is None and not audit.stopped
    assert audit.started_at <= audit.finished_at == h.clock()
    assert audit.transitions == audit.published == 1
    assert audit.jobs_in_flight == 1 and audit.checkpoint_advanced
    assert h.store.checkpoints[IMPORT.key].last_run_started_at == audit.started_at
    assert summary.sources[0].audit_record_failures == 0


def test_a_failed_source_is_recorded_as_failed_with_its_error() -> None:
    # Given a job API that is throttled out of retries
    h = Harness()
    h.api.faults.append(fail_once("list", SourceError("Rate exceeded", code="ThrottlingException")))
    # When the run audits the source
    summary = h.run()
    # Then the record says it failed, and why
    audit = h.store.audits[IMPORT.key]
    assert summary.sources[0].error is not None
    assert audit.result == "failed"
    assert audit.error == "ThrottlingException: Rate exceeded"
    assert not audit.checkpoint_advanced


def test_a_failed_record_write_is_counted_and_keeps_the_checkpoint_back() -> None:
    # Given a store that refuses the last-audit write (which carries the checkpoint) once
    h = Harness()
    h.api.add(IMPORT, FakeJob(_arn(1), "InProgress", h.clock() - timedelta(minutes=1)))
    h.run()
    before = h.store.checkpoints[IMPORT.key]
    h.api.set_status(IMPORT, _arn(1), "Failed")
    h.store.faults.append(fail_store_once("record_audit"))
    # When the run audits the source
    summary = h.run()
    # Then its transition is announced, the failure counted, and the checkpoint stays where it was
    # (the source's failure: the next run lists this window again)
    source = summary.sources[0]
    assert source.audit_record_failures == 1
    assert source.error == "ThrottlingException: record_audit failed (injected)"
    assert not source.checkpoint_advanced and summary.status == "partial-failure"
    assert h.publisher.statuses(_arn(1)) == [("InProgress", "Failed", "status-changed")]
    assert h.store.checkpoints[IMPORT.key] == before
    # and the record left is the previous run's, until the next run writes its own, moving on
    assert h.store.audits[IMPORT.key].finished_at < h.clock()
    h.run()
    assert h.store.audits[IMPORT.key].finished_at == h.clock()
    assert h.store.checkpoints[IMPORT.key].last_run_started_at == h.clock()
    assert h.publisher.statuses(_arn(1)) == [("InProgress", "Failed", "status-changed")]


def test_an_older_run_never_replaces_a_later_runs_record() -> None:
    # Given the record of a run
    h = Harness()
    h.run()
    later = h.store.audits[IMPORT.key]
    # When a run that started earlier (an overlap) records its audit afterwards
    h.store.record_audit(IMPORT, type(later)(later.started_at - timedelta(minutes=5), later.finished_at))
    # Then the later run's record stays
    assert h.store.audits[IMPORT.key] == later
