"""A scope that goes away strands nothing (issue 20, items 2 and 8), on the in-memory fakes: a known
source outside a run's expansion (its knowledge base deleted, its account removed, its kind no longer
configured) has its claims published and each tracked job a final Get; a `disappeared` announcement
names the reason, and is made only for a job the API no longer answers for. Each regression test here
failed on the main before the planner found orphans."""

from __future__ import annotations

from datetime import timedelta

from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.ports import SourceError
from tests.fakes import ApiFault, FakeJob, Harness

ACCOUNT, MEMBER, REGION = "123456789012", "210987654321", "us-east-1"
KB, KB2 = "0f6f1c2e-1111-4a3b-9c8d-000000000001", "0f6f1c2e-1111-4a3b-9c8d-000000000002"
QCONNECT = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (KB,))
IMPORT = Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-import"])
MEMBER_IMPORT = Source(MEMBER, REGION, JOB_KINDS["bedrock-model-import"])
COPY = Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-copy"])


def _qconnect() -> Harness:
    """A Q in Connect knowledge base with an import job the auditor tracks (START_IN_PROGRESS)."""
    h = Harness(kinds=("qconnect-import",))
    h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB]
    h.run()
    h.api.add(QCONNECT, FakeJob("job-1", "START_IN_PROGRESS", h.clock()))
    h.run()
    assert h.publisher.statuses("job-1") == [(None, "START_IN_PROGRESS", "discovered")]
    return h


def _delete_knowledge_base(h: Harness, kb: str = KB) -> None:
    """The knowledge base is deleted, and its import jobs with it."""
    h.api.knowledge_bases[(ACCOUNT, REGION)].remove(kb)
    h.api.jobs.pop(Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (kb,)).key, None)


def _disappeared(h: Harness, job_id: str) -> list[str | None]:
    return [t.reason for t in h.publisher.delivered if t.job.job_id == job_id and t.type == "disappeared"]


def _runs(h: Harness, n: int) -> list[object]:
    return [h.run() for _ in range(n)]


def test_a_knowledge_base_deleted_after_its_import_completed_strands_nothing() -> None:
    # Given an import job the auditor follows, which completes, and its knowledge base deleted before
    # the next run
    h = _qconnect()
    h.api.set_status(QCONNECT, "job-1", "COMPLETE")
    _delete_knowledge_base(h)
    # When runs go on
    summaries = [h.run() for _ in range(h.policy.vanished_after_checks + 3)]
    # Then the job is announced once as disappeared, naming the reason, and no longer tracked
    assert _disappeared(h, "job-1") == ["scope deleted"]
    state = h.store.state_of(QCONNECT, "job-1")
    assert state is not None and state.disappeared_at is not None
    # And the runs counted the orphan and its job, then let it be (one Get per run until then)
    assert [len(s.orphans) for s in summaries] == [1] * h.policy.vanished_after_checks + [0] * 3
    assert summaries[0].as_dict()["orphanedSources"] == [{"source": QCONNECT.key, "reason": "scope deleted"}]
    assert summaries[0].as_dict()["orphanedJobs"] == 1
    gets = [op for op, params in h.api.requests if op == "get" and params.get("job_id") == "job-1"]
    assert len(gets) == h.policy.vanished_after_checks


def test_a_claim_pending_on_a_deleted_knowledge_base_is_published() -> None:
    # Given a transition every channel refused (its claim pending), then the knowledge base deleted
    h = _qconnect()
    h.api.set_status(QCONNECT, "job-1", "FAILED")
    h.publisher.refuse = lambda _: "ServiceUnavailable"
    h.run()
    assert len(h.store.pending()) == 1
    h.publisher.refuse = lambda _: None
    _delete_knowledge_base(h)
    # When the next run finds the knowledge base gone
    h.run()
    # Then the claim is published (it had ended: nothing is left to announce as disappeared)
    assert h.publisher.statuses("job-1")[-1] == ("START_IN_PROGRESS", "FAILED", "status-changed")
    assert h.store.pending() == []
    assert _disappeared(h, "job-1") == []


def test_a_knowledge_base_a_listing_omits_once_is_not_announced_disappeared() -> None:
    # Given a followed job whose knowledge base one discovery leaves out (the knowledge base is there)
    h = _qconnect()
    h.api.knowledge_bases[(ACCOUNT, REGION)] = []
    # When that run, then the next ones (the knowledge base listed again) go on, the job completing
    omitted = h.run()
    h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB]
    h.api.set_status(QCONNECT, "job-1", "COMPLETE")
    _runs(h, 3)
    # Then the final Get found the job: no disappeared, and its completion announced once
    assert [o.orphaned for o in omitted.orphans] == ["scope deleted"]
    assert omitted.orphans[0].jobs_rechecked == 1 and omitted.orphans[0].disappeared == 0
    assert _disappeared(h, "job-1") == []
    assert h.publisher.statuses("job-1") == [
        (None, "START_IN_PROGRESS", "discovered"),
        ("START_IN_PROGRESS", "COMPLETE", "status-changed"),
    ]


def test_a_knowledge_base_deleted_and_recreated_with_the_same_id_is_audited_again() -> None:
    # Given a knowledge base deleted while its job ran (announced as disappeared)
    h = _qconnect()
    _delete_knowledge_base(h)
    _runs(h, h.policy.vanished_after_checks + 1)
    assert _disappeared(h, "job-1") == ["scope deleted"]
    # When one with the same id comes back, with a new job
    h.api.knowledge_bases[(ACCOUNT, REGION)] = [KB]
    h.api.add(QCONNECT, FakeJob("job-2", "START_IN_PROGRESS", h.clock()))
    summary = h.run()
    # Then it is planned again, its new job announced (not a baseline), the old one left as it was
    assert [s.source for s in summary.sources] == [QCONNECT.key] and summary.orphans == []
    assert h.publisher.statuses("job-2") == [(None, "START_IN_PROGRESS", "discovered")]
    assert _disappeared(h, "job-1") == ["scope deleted"]


def test_an_account_removed_from_the_audit_announces_its_tracked_jobs_disappeared() -> None:
    # Given a member account's running job, followed
    h = Harness()
    h.api.add(MEMBER_IMPORT, FakeJob("arn:member-job", "InProgress", h.clock()))
    h.clock.advance(timedelta(minutes=5))
    h.audit((ACCOUNT, MEMBER))
    h.clock.advance(timedelta(minutes=5))
    h.api.add(MEMBER_IMPORT, FakeJob("arn:member-job-2", "InProgress", h.clock()))
    h.audit((ACCOUNT, MEMBER))
    # When the account leaves the audit and its role goes with it
    h.api.faults.append(_deny_account(MEMBER))
    summaries = []
    for _ in range(h.policy.vanished_after_checks + 1):
        h.clock.advance(timedelta(minutes=5))
        summaries.append(h.audit((ACCOUNT,)))
    # Then its tracked jobs are announced once each as disappeared: account removed
    assert _disappeared(h, "arn:member-job") == _disappeared(h, "arn:member-job-2") == ["account removed"]
    assert summaries[0].orphans[0].orphaned == "account removed"
    assert all(s.status == "ok" for s in summaries)


def test_an_account_whose_role_fails_is_not_orphaned() -> None:
    # Given a member account's followed job, and then its role failing (the account still audited)
    h = Harness(kinds=("bedrock-model-import", "qconnect-import"))
    h.api.add(MEMBER_IMPORT, FakeJob("arn:member-job", "InProgress", h.clock()))
    h.api.knowledge_bases[(MEMBER, REGION)] = [KB]
    member_kb = Source(MEMBER, REGION, JOB_KINDS["qconnect-import"], (KB,))
    h.api.add(member_kb, FakeJob("job-9", "START_IN_PROGRESS", h.clock()))
    h.clock.advance(timedelta(minutes=5))
    h.audit((ACCOUNT, MEMBER))
    h.api.faults.append(_deny_account(MEMBER))
    # When runs go on
    summaries = []
    for _ in range(h.policy.vanished_after_checks + 2):
        h.clock.advance(timedelta(minutes=5))
        summaries.append(h.audit((ACCOUNT, MEMBER)))
    # Then its sources fail (the knowledge base's discovery too), and nothing is orphaned or gone
    assert all(s.orphans == [] and s.status == "partial-failure" for s in summaries)
    assert _disappeared(h, "arn:member-job") == _disappeared(h, "job-9") == []


def test_the_organization_listing_failing_orphans_no_account() -> None:
    # Given a member account's followed job
    h = Harness()
    h.api.add(MEMBER_IMPORT, FakeJob("arn:member-job", "InProgress", h.clock()))
    h.clock.advance(timedelta(minutes=5))
    h.audit((ACCOUNT, MEMBER))
    # When Organizations cannot be listed (the home account alone is audited)
    for _ in range(h.policy.vanished_after_checks + 1):
        h.clock.advance(timedelta(minutes=5))
        plan = h.planner().plan([ACCOUNT], [REGION], h.kinds, {}, account_listing_error="AccessDenied: x")
        summary = h.audit_step().run(plan)
        # Then no source of the member account is taken for removed
        assert summary.orphans == [] and plan.orphans == ()
    assert _disappeared(h, "arn:member-job") == []


def test_a_kind_removed_from_the_configuration_is_followed_to_its_end_while_its_api_answers() -> None:
    # Given two kinds, a running copy job followed
    h = Harness(kinds=("bedrock-model-import", "bedrock-model-copy"))
    h.run()
    h.api.add(COPY, FakeJob("arn:copy-1", "InProgress", h.clock()))
    h.run()
    # When the copy kind is taken out of the configuration, and its job completes two runs later
    h.kinds = ("bedrock-model-import",)
    first = h.run()
    h.run()
    h.api.set_status(COPY, "arn:copy-1", "Completed")
    ended = h.run()
    later = _runs(h, 3)
    # Then it was followed with Get and its completion announced; nothing disappeared; then the
    # source is let be
    assert first.orphans[0].orphaned == "configuration changed"
    assert h.publisher.statuses("arn:copy-1") == [
        (None, "InProgress", "discovered"),
        ("InProgress", "Completed", "status-changed"),
    ]
    assert ended.orphans[0].jobs_in_flight == 0
    assert all(s.orphans == [] for s in later)  # type: ignore[attr-defined]


def test_a_kind_removed_whose_api_refuses_announces_its_jobs_disappeared() -> None:
    # Given a running copy job followed, then its kind removed and its grants with it
    h = Harness(kinds=("bedrock-model-import", "bedrock-model-copy"))
    h.api.add(COPY, FakeJob("arn:copy-1", "InProgress", h.clock()))
    h.run()
    h.kinds = ("bedrock-model-import",)

    def denied(operation: str, source: Source | None) -> None:
        if source is not None and source.spec.id == "bedrock-model-copy":
            raise SourceError(f"{operation}: not authorized", code="AccessDeniedException")

    h.api.faults.append(denied)
    # When runs go on
    _runs(h, h.policy.vanished_after_checks + 2)
    # Then it is announced once as disappeared: configuration changed
    assert _disappeared(h, "arn:copy-1") == ["configuration changed"]


def test_a_kind_removed_then_added_back_resumes_without_repeats() -> None:
    # Given a followed copy job, its kind removed for a while (the job followed meanwhile)
    h = Harness(kinds=("bedrock-model-import", "bedrock-model-copy"))
    h.run()
    h.api.add(COPY, FakeJob("arn:copy-1", "InProgress", h.clock()))
    h.run()
    h.kinds = ("bedrock-model-import",)
    _runs(h, 2)
    h.api.add(COPY, FakeJob("arn:copy-2", "Completed", h.clock()))
    # When the kind is configured again, and its first job completes
    h.kinds = ("bedrock-model-import", "bedrock-model-copy")
    back = h.run()
    h.api.set_status(COPY, "arn:copy-1", "Completed")
    _runs(h, 2)
    # Then it is audited from where it stood (first: it waited longest), the job created meanwhile
    # announced, each change once
    assert back.orphans == [] and back.sources[0].source == COPY.key and not back.sources[0].baseline
    assert h.publisher.statuses("arn:copy-1") == [
        (None, "InProgress", "discovered"),
        ("InProgress", "Completed", "status-changed"),
    ]
    assert h.publisher.statuses("arn:copy-2") == [(None, "Completed", "discovered")]


def test_a_throttled_final_get_is_retried_not_announced() -> None:
    # Given a knowledge base deleted while its job ran, whose API throttles for a while
    h = _qconnect()
    _delete_knowledge_base(h)

    def throttled(operation: str, source: Source | None) -> None:
        if operation == "get":
            raise SourceError("Rate exceeded", code="ThrottlingException")

    h.api.faults.append(throttled)
    # When runs go on while it throttles, then after
    during = _runs(h, h.policy.vanished_after_checks + 2)
    h.api.faults.clear()
    _runs(h, h.policy.vanished_after_checks)
    # Then nothing was announced while it throttled (each orphan a failure to retry), then once
    assert all(s.orphans[0].error == "ThrottlingException: Rate exceeded" for s in during)  # type: ignore[attr-defined]
    assert _disappeared(h, "job-1") == ["scope deleted"]


def _deny_account(account: str) -> ApiFault:
    def deny(operation: str, source: Source | None) -> None:
        del operation
        if source is not None and source.account == account:
            raise SourceError(
                f"cannot assume arn:aws:iam::{account}:role/JobAuditorReader", code="AccessDenied"
            )

    return deny


def test_a_job_announced_disappeared_while_its_kind_was_out_is_followed_again_once_it_is_back() -> None:
    # Given a job started long ago (older than the sweep's lookback), followed; then its kind taken out
    # of the configuration with its grants, so it is announced as disappeared (configuration changed)
    h = Harness(kinds=("bedrock-model-import", "bedrock-model-copy"))
    h.run()
    h.api.add(COPY, FakeJob("arn:copy-old", "InProgress", h.clock() - timedelta(hours=30)))
    h.run(timedelta(hours=1))
    h.kinds = ("bedrock-model-import",)
    denied = _deny_kind("bedrock-model-copy")
    h.api.faults.append(denied)
    _runs(h, h.policy.vanished_after_checks + 1)
    assert _disappeared(h, "arn:copy-old") == ["configuration changed"]
    # When it completes while its kind is out, and the configuration is edited back
    h.api.set_status(COPY, "arn:copy-old", "Completed")
    h.api.faults.remove(denied)
    h.kinds = ("bedrock-model-import", "bedrock-model-copy")
    _runs(h, 2)
    # Then it is followed again from where it stood: its completion is announced
    assert h.publisher.statuses("arn:copy-old")[-1] == ("InProgress", "Completed", "status-changed")


def _deny_kind(kind: str) -> ApiFault:
    def deny(operation: str, source: Source | None) -> None:
        if source is not None and source.spec.id == kind:
            raise SourceError(f"{operation}: not authorized", code="AccessDeniedException")

    return deny
