"""What an idle source costs the state table (issue 23, item 2), on the in-memory fakes: one write per
source and run (its audit record, which carries the checkpoint), and no read of its own beyond the
planner's one query of every record; state an earlier version wrote (checkpoint items, scope marks)
keeps working and moves into the records. The regression test failed on the main, whose idle source
wrote a checkpoint and a last-audit record and read its checkpoint every run."""

from __future__ import annotations

from datetime import timedelta

from job_auditor.auditor.domain.checkpoint import advance
from job_auditor.auditor.domain.events import iso
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from tests.fakes import FakeJob, Harness

ACCOUNT, REGION = "123456789012", "us-east-1"
IMPORT = Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-import"])
COPY = Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-copy"])
QCONNECT = JOB_KINDS["qconnect-import"]
KB = "0f6f1c2e-1111-4a3b-9c8d-000000000001"
# The store's reads; everything else it is asked is a write.
READS = frozenset(
    {
        "load_checkpoint",
        "load_audit_records",
        "read_audit_records",
        "load_jobs_since",
        "load_in_flight",
        "reclaim_expired",
        "count_pending",
        "parked_due",
    }
)


def test_an_idle_source_costs_one_write_and_no_read_of_its_own_record_per_run() -> None:
    # Given two sources audited before, with nothing happening
    h = Harness(kinds=("bedrock-model-import", "bedrock-model-copy"))
    h.run()
    h.run()
    ops: list[str] = []
    h.store.faults.append(ops.append)
    # When the next run audits them
    summary = h.run()
    # Then each cost one write (its record, the checkpoint moved in it); the records came from one read
    assert summary.status == "ok" and all(s.checkpoint_advanced for s in summary.sources)
    assert [op for op in ops if op not in READS] == ["record_audit", "record_audit"]
    assert ops.count("load_audit_records") == 1
    # (and the parked transitions due for a re-drive from one more: one per run, whatever the sources)
    assert ops.count("parked_due") == 1
    assert "read_audit_records" not in ops and "load_checkpoint" not in ops
    assert h.store.checkpoints[IMPORT.key].last_run_started_at == h.clock()


def test_state_an_earlier_version_wrote_keeps_working_and_moves_into_the_records() -> None:
    # Given what the previous version left: a checkpoint item per source, a scope's mark, and a
    # tracked job; and no audit record of the new kind
    h = Harness(kinds=("bedrock-model-import", "qconnect-import"))
    h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB]
    h.api.add(IMPORT, FakeJob("arn:job-1", "InProgress", h.clock() - timedelta(minutes=10)))
    h.run()  # tracks the job, as the previous version had
    scope = Source(ACCOUNT, REGION, QCONNECT)
    checkpoint = h.store.checkpoints[IMPORT.key]
    for key in list(h.store.records):
        record = h.store.records.pop(key)
        if record.checkpoint is not None or record.enumerated:
            h.store.legacy_checkpoints[key] = record.checkpoint or advance(None, h.clock())
    assert set(h.store.legacy_checkpoints) == {IMPORT.key, f"{scope.key}/{KB}", scope.key}
    # When the new version runs, the job having completed, and a new knowledge base's job appears
    h.api.set_status(IMPORT, "arn:job-1", "Completed")
    h.api.knowledge_bases[(ACCOUNT, REGION)].append("kb-new")
    h.api.add(Source(ACCOUNT, REGION, QCONNECT, ("kb-new",)), FakeJob("job-9", "FAILED", h.clock()))
    upgraded = h.run()
    # Then no source is a baseline but the new knowledge base (in a scope audited before: announced);
    # the completion and the new knowledge base's job are announced
    assert [s.source for s in upgraded.sources if s.baseline] == [f"{scope.key}/kb-new"]
    assert h.publisher.statuses("arn:job-1") == [("InProgress", "Completed", "status-changed")]
    assert h.publisher.statuses("job-9") == [(None, "FAILED", "discovered")]
    assert h.store.checkpoints[IMPORT.key].last_run_started_at > checkpoint.last_run_started_at
    # And from then on the records hold it all: the next run reads nothing of the earlier items
    reads: list[str] = []
    h.store.faults.append(reads.append)
    h.run()
    assert "read_audit_records" not in reads
    assert h.store.records[scope.key].enumerated


def test_a_stale_read_of_the_records_only_widens_the_window() -> None:
    # Given a source whose record, as the next run reads it, is a run behind (eventual consistency)
    h = Harness()
    h.run()
    h.run()
    h.store.stale_records = dict(h.store.records)
    behind = h.store.checkpoints[IMPORT.key].last_run_started_at
    h.run()
    h.api.add(IMPORT, FakeJob("arn:job-1", "Failed", h.clock()))
    # When the next runs read the stale records
    stale = h.run()
    h.store.stale_records = None
    h.run()
    # Then the stale run listed from the older checkpoint and announced the job once; the checkpoint
    # never moved back
    assert stale.sources[0].window_start == iso(behind - h.policy.overlap)
    assert h.publisher.statuses("arn:job-1") == [(None, "Failed", "discovered")]
    assert h.store.checkpoints[IMPORT.key].last_run_started_at == h.clock()


def test_a_streamed_sweep_keeps_its_own_record_written_once_per_sweep_not_per_run() -> None:
    # Given an idle Q in Connect knowledge base (no time filter: its sweep streams every page)
    h = Harness(kinds=("qconnect-import",))
    h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB]
    h.run()
    ops: list[str] = []
    h.store.faults.append(ops.append)
    # When runs go on for a sweep period and the next sweep is due
    h.run()
    idle = [op for op in ops if op not in READS | {"load_sweep", "load_jobs"}]
    ops.clear()
    h.clock.advance(timedelta(hours=1))
    swept = h.run()
    # Then a run that is not a sweep writes only the audit record; the sweep writes its own record
    # before its first page (a sweep that dies is known by it) and the audit record, whose
    # lastReconciledAt says the sweep completed: its record is not written again
    assert idle == ["record_audit"]
    assert swept.sources[0].reconciled and swept.sources[0].checkpoint_advanced
    assert [op for op in ops if op not in READS | {"load_sweep", "load_jobs"}] == [
        "save_sweep",
        "record_audit",
    ]
    assert h.store.checkpoints[Source(ACCOUNT, REGION, QCONNECT, (KB,)).key].last_reconciled_at == h.clock()
