"""An outage is not a first deployment (issue 20, item 5), on the in-memory fakes: a source whose earlier
attempts all failed (a member role not yet deployed, an SCP, a wrong ExternalId) is caught up from its
first attempt on its first successful audit: a job that failed during the outage is announced; only
what had last changed before that first attempt is recorded silently, as its baseline would have.
Only a source no run has attempted is a first deployment. The regression tests failed on the main
before sources recorded their first attempt."""

from __future__ import annotations

from datetime import timedelta

from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.ports import SourceError
from tests.fakes import ApiFault, FakeJob, Harness

ACCOUNT, MEMBER, REGION = "123456789012", "210987654321", "us-east-1"
KB = "0f6f1c2e-1111-4a3b-9c8d-000000000001"
MEMBER_IMPORT = Source(MEMBER, REGION, JOB_KINDS["bedrock-model-import"])
MEMBER_KB = Source(MEMBER, REGION, JOB_KINDS["qconnect-import"], (KB,))
HOUR = timedelta(hours=1)


def _role_missing(account: str) -> ApiFault:
    def deny(operation: str, source: Source | None) -> None:
        del operation
        if source is not None and source.account == account:
            raise SourceError(
                f"cannot assume arn:aws:iam::{account}:role/JobAuditorReader", code="AccessDenied"
            )

    return deny


def _day_of_outage(h: Harness, during: list[tuple[Source, FakeJob]]) -> None:
    """Hourly runs for a day while the member role is missing; the jobs appear meanwhile."""
    for n in range(24):
        h.clock.advance(HOUR)
        if n == 3:
            for source, job in during:
                h.api.add(source, job)
        summary = h.audit((ACCOUNT, MEMBER))
        assert summary.status == "partial-failure"


def test_a_job_that_failed_while_the_member_role_was_missing_is_announced() -> None:
    # Given a member account whose role is not deployed yet, for a day, and a job there that ran and
    # failed during that day; and one that had ended long before the first attempt
    h = Harness()
    old = FakeJob("arn:old", "Completed", h.clock() - 20 * HOUR, ended_at=h.clock() - 19 * HOUR)
    h.api.add(MEMBER_IMPORT, old)
    outage = _role_missing(MEMBER)
    h.api.faults.append(outage)
    failed = FakeJob("arn:during", "Failed", h.clock() + 3 * HOUR, ended_at=h.clock() + 4 * HOUR)
    _day_of_outage(h, [(MEMBER_IMPORT, failed)])
    # When the role is deployed and the next run audits the account
    h.api.faults.remove(outage)
    h.clock.advance(HOUR)
    summary = h.audit((ACCOUNT, MEMBER))
    # Then the job that failed meanwhile is announced; the one that ended before is not news
    assert h.publisher.statuses("arn:during") == [(None, "Failed", "discovered")]
    assert h.publisher.statuses("arn:old") == []
    (member,) = [s for s in summary.sources if s.account == MEMBER]
    assert member.catch_up and not member.baseline and member.recorded_silently == 1


def test_a_knowledge_base_found_once_discovery_works_again_is_caught_up() -> None:
    # Given a member account whose knowledge bases cannot be listed for a day (its role is missing),
    # with an import job that fails meanwhile
    h = Harness(kinds=("qconnect-import",))
    h.api.knowledge_bases[(MEMBER, REGION)] = [KB]
    outage = _role_missing(MEMBER)
    h.api.faults.append(outage)
    _day_of_outage(h, [(MEMBER_KB, FakeJob("job-during", "FAILED", h.clock() + 3 * HOUR))])
    # When the role is deployed
    h.api.faults.remove(outage)
    h.clock.advance(HOUR)
    h.audit((ACCOUNT, MEMBER))
    # Then the job that failed meanwhile is announced
    assert h.publisher.statuses("job-during") == [(None, "FAILED", "discovered")]


def test_a_source_never_attempted_is_still_a_silent_first_deployment() -> None:
    # Given jobs that exist before the first deployment
    h = Harness()
    h.api.add(MEMBER_IMPORT, FakeJob("arn:before", "Failed", h.clock() - HOUR))
    # When the first run audits the account
    h.clock.advance(timedelta(minutes=5))
    summary = h.audit((ACCOUNT, MEMBER))
    # Then it is a baseline: recorded, not announced
    (member,) = [s for s in summary.sources if s.account == MEMBER]
    assert member.baseline and not member.catch_up and member.recorded_silently == 1
    assert h.publisher.delivered == []


def test_a_first_run_stopped_by_the_time_budget_is_caught_up_not_repeated_silently() -> None:
    # Given a first run the time budget stops inside the source (after its first page), with jobs
    # already there and one that fails between the two runs
    h = Harness()
    h.api.page_size = 1
    for n in range(3):
        created = h.clock() - HOUR + n * timedelta(minutes=1)
        h.api.add(MEMBER_IMPORT, FakeJob(f"arn:before-{n}", "Completed", created, ended_at=created))
    h.clock.advance(timedelta(minutes=5))
    pages = iter([False, True])
    stopped = h.audit((MEMBER,), should_stop=lambda: next(pages, True))
    assert stopped.sources[0].stopped
    h.api.add(MEMBER_IMPORT, FakeJob("arn:after", "Failed", h.clock() + timedelta(minutes=1)))
    # When the next run audits it to the end
    h.clock.advance(timedelta(minutes=5))
    h.audit((MEMBER,))
    # Then the jobs from before the first attempt stay silent, the new failure is announced
    assert [t.job.job_id for t in h.publisher.delivered] == ["arn:after"]
