"""The job API adapter against the simulator: what a list pass returns for an API without a time filter."""

from datetime import timedelta
from typing import Any

from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.auditor.adapters.job_api import BotoJobApi
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
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
