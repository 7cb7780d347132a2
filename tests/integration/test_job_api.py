"""The job API adapter against the simulator: what a list pass returns for an API without a time filter."""

from datetime import timedelta
from typing import Any

import pytest

from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.adapters.job_api import BotoJobApi
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.ports import Stopped
from simulator.world import ACCOUNT, REGION, World


def test_untimed_listing_reads_every_page_but_keeps_only_the_window(make_world: Any) -> None:
    # Given a knowledge base with 180 import jobs from last week and 30 from the last hour
    w: World = make_world(JOB_KINDS="qconnect-import")
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    old = w.plane.bulk_create_jobs(
        "qconnect-import", REGION, 180, scope_ids=(kb,), start=w.now() - timedelta(days=7), status="COMPLETE"
    )
    new = w.plane.bulk_create_jobs(
        "qconnect-import", REGION, scope_ids=(kb,), count=30, start=w.now() - timedelta(minutes=40)
    )
    api = BotoJobApi(ClientFactory())
    source = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (kb,))
    # When the jobs created in the last hour are listed
    listing = api.list_jobs(source, w.now() - timedelta(hours=1))
    # Then every page is read (ListImportJobs has no time filter), but only the window's jobs are kept
    assert listing.pages == 3
    assert {job.job_id for job in listing.jobs} == set(new)
    assert not {job.job_id for job in listing.jobs} & set(old)
    assert listing.skipped == {}


def test_a_listing_read_page_by_page_resumes_at_a_page_token(make_world: Any) -> None:
    # Given a knowledge base with 250 import jobs
    w: World = make_world(JOB_KINDS="qconnect-import")
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    ids = w.plane.bulk_create_jobs(
        "qconnect-import", REGION, 250, scope_ids=(kb,), start=w.now() - timedelta(days=7), status="COMPLETE"
    )
    api = BotoJobApi(ClientFactory())
    source = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (kb,))
    # When the first page is read, and the listing is resumed later at its token
    first = next(api.list_pages(source))
    rest = list(api.list_pages(source, start_token=first.next_token))
    # Then every job is returned once, a page at a time, and the last page has no token
    seen = [job.job_id for page in [first, *rest] for job in page.jobs]
    assert sorted(seen) == sorted(ids) and len(seen) == 250
    assert [len(page.jobs) for page in [first, *rest]] == [100, 100, 50]
    assert rest[-1].next_token is None
    assert w.plane.count_calls("ListImportJobs") == 3


def test_a_listing_page_by_page_stops_between_pages_when_time_runs_out(make_world: Any) -> None:
    w: World = make_world(JOB_KINDS="qconnect-import")
    kb = w.plane.create_knowledge_base(region=REGION, name="kb")
    w.plane.bulk_create_jobs(
        "qconnect-import", REGION, 250, scope_ids=(kb,), start=w.now() - timedelta(days=7), status="COMPLETE"
    )
    source = Source(ACCOUNT, REGION, JOB_KINDS["qconnect-import"], (kb,))
    pages = []
    with pytest.raises(Stopped):
        for page in BotoJobApi(ClientFactory()).list_pages(source, should_stop=lambda: True):
            pages.append(page)
    assert len(pages) == 1 and pages[0].next_token is not None
    assert w.plane.count_calls("ListImportJobs") == 1
