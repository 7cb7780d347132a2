"""Where each job kind is offered (botocore's endpoint data), and the run-time plan that skips the rest."""

from __future__ import annotations

import logging

import botocore.session
import pytest

from job_auditor import availability
from job_auditor.auditor.adapters.clients import ServiceNotOffered
from job_auditor.auditor.domain.jobs import Source
from job_auditor.availability import (
    NOT_OFFERED,
    kind_services,
    not_offered_regions,
    note_not_offered,
    offered,
    partition_regions,
    plan_offered,
    service_offered,
)
from job_auditor.contract.kinds import JOB_KINDS, DiscoveryStep, default_kind_ids
from tests.fakes import T0, Clock, FakeJob, FakeJobApi, Harness

IMPORT = JOB_KINDS["bedrock-model-import"]
QCONNECT = JOB_KINDS["qconnect-import"]
INGESTION = JOB_KINDS["bedrock-kb-ingestion"]
BOTOCORE = botocore.session.get_session()


def test_a_kind_is_offered_only_where_botocore_lists_its_service() -> None:
    # Q in Connect: 10 commercial regions in the pinned botocore, eu-west-1 not among them
    assert offered(QCONNECT, "us-east-1")
    assert not offered(QCONNECT, "eu-west-1")
    assert {r for r in partition_regions(["aws"]) if offered(QCONNECT, r)} == set(
        BOTOCORE.get_available_regions("qconnect", "aws")
    )
    # Bedrock: listed in GovCloud, absent from the China partition's data
    assert offered(IMPORT, "us-gov-west-1")
    assert not offered(IMPORT, "cn-north-1")
    # and Q in Connect, listed in the commercial partition only, is offered in no other
    assert not offered(QCONNECT, "us-gov-west-1")
    assert not offered(QCONNECT, "cn-northwest-1")


def test_a_service_missing_from_the_endpoint_data_follows_the_service_it_belongs_to() -> None:
    # bedrock-agent has no entry in botocore's endpoint data at all: it follows bedrock
    assert BOTOCORE.get_available_regions("bedrock-agent", "aws") == []
    assert kind_services(INGESTION) == ("bedrock-agent",)
    for region in partition_regions(["aws", "aws-us-gov", "aws-cn"]):
        assert offered(INGESTION, region) == service_offered("bedrock", region), region
    assert not offered(INGESTION, "ap-east-1")


def test_a_region_or_service_botocore_does_not_know_gets_the_benefit_of_the_doubt() -> None:
    # A region no partition matches, and one that matches the commercial pattern but is newer than
    # the installed botocore
    assert offered(QCONNECT, "xx-mars-1")
    assert offered(QCONNECT, "us-east-9")
    # A kind whose client the endpoint data does not list and nothing bounds
    unknown = IMPORT._replace(id="made-up", client="made-up-service")
    assert all(offered(unknown, r) for r in partition_regions())


def test_a_global_service_is_offered_in_every_region_of_its_partitions() -> None:
    # Organizations has a partition endpoint (aws-global) and no regional one
    assert BOTOCORE.get_available_regions("organizations", "aws") == []
    assert all(
        service_offered("organizations", r) for r in partition_regions(["aws", "aws-us-gov", "aws-cn"])
    )
    # and the auditor's own regional services are offered wherever botocore lists a region
    for service in ("dynamodb", "events", "sns", "sts"):
        assert all(service_offered(service, r) for r in partition_regions(["aws", "aws-us-gov", "aws-cn"]))


def test_not_offered_regions_lists_every_known_region_where_the_kind_is_not_offered() -> None:
    every = partition_regions()
    assert set(not_offered_regions(QCONNECT)) == {r for r in every if not offered(QCONNECT, r)}
    assert "eu-west-1" in not_offered_regions(QCONNECT)
    assert "us-east-1" not in not_offered_regions(QCONNECT)
    assert not_offered_regions(IMPORT) == not_offered_regions(INGESTION)


def test_the_plan_skips_pairs_not_offered_and_logs_each_once(caplog: pytest.LogCaptureFixture) -> None:
    # Given a fresh process's record of what it logged
    availability._noted.clear()
    caplog.set_level(logging.INFO, logger=availability.__name__)
    specs = [IMPORT, QCONNECT]
    # When two runs plan the same configuration
    first = plan_offered(specs, ["us-east-1", "eu-west-1"])
    second = plan_offered(specs, ["us-east-1", "eu-west-1"])
    # Then Q in Connect is skipped in eu-west-1 only, and each run counts it
    assert first.kinds_by_region == {
        "us-east-1": ("bedrock-model-import", "qconnect-import"),
        "eu-west-1": ("bedrock-model-import",),
    }
    assert first.not_offered == second.not_offered == (("qconnect-import", "eu-west-1"),)
    # And the skip is logged once, naming the service botocore does not offer there
    logged = [r for r in caplog.records if r.getMessage().startswith("job kind not offered")]
    assert len(logged) == 1
    assert logged[0].__dict__["jobKind"] == "qconnect-import"
    assert logged[0].__dict__["servicesNotOffered"] == ["qconnect"]
    assert not note_not_offered(QCONNECT, "eu-west-1")


def _not_offered_here(scope: Source) -> None:
    """As AWS: a kind's call in a region that does not offer it finds no endpoint."""
    for service in kind_services(scope.spec):
        if not service_offered(service, scope.region):
            raise ServiceNotOffered(service, scope.region)


class RegionalJobApi(FakeJobApi):
    """The fake job APIs as AWS has them: every call of a kind in a region that does not offer it fails
    (job calls through the fault hook, scope discovery here, since its hook is not told the scope)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.faults.append(lambda _operation, source: _not_offered_here(source) if source else None)

    def list_scope(self, scope: Source, step: DiscoveryStep, parent_ids: tuple[str, ...]) -> list[str]:
        _not_offered_here(scope)
        return super().list_scope(scope, step, parent_ids)


REGIONS = partition_regions(["aws", "aws-us-gov", "aws-cn"])


@pytest.mark.parametrize("region", REGIONS)
def test_a_run_in_any_region_is_ok_and_counts_the_kinds_not_offered(region: str) -> None:
    # Given the default kinds, a job of each where it is offered, and APIs that fail where it is not
    h = Harness(region=region, kinds=default_kind_ids())
    h.api = RegionalJobApi(h.clock)
    h.api.knowledge_bases[(h.account, region)] = ["kb-1"]
    h.api.data_sources[(h.account, region, "kb-1")] = ["ds-1"]
    specs = [JOB_KINDS[k] for k in h.kinds]
    for spec in specs:
        scope = ("kb-1", "ds-1")[: len(spec.discovery)]
        status = next(iter(spec.statuses))
        h.api.add(Source(h.account, region, spec, scope), FakeJob(f"{spec.id}-1", status, T0, name="job"))
    # When the run audits what the plan keeps for the region
    plan = plan_offered(specs, [region])
    h.kinds = plan.kinds_by_region[region]
    summary = h.run()
    # Then it is ok: no source failed, every offered kind was audited, the others were counted
    assert summary.status == "ok", summary.failed_sources
    assert {s.job_kind for s in summary.sources} == set(h.kinds)
    assert {k for k, _ in plan.not_offered} == {s.id for s in specs if not offered(s, region)}
    assert len(plan.not_offered) + len(h.kinds) == len(specs)
    # And a run given every kind plans by the same rule: the kinds not offered are skipped, counted
    h.kinds = default_kind_ids()
    everything = h.run()
    assert everything.status == "ok", everything.failed_sources
    assert {s.job_kind for s in everything.sources} == {k for k in h.kinds if offered(JOB_KINDS[k], region)}
    assert everything.as_dict()["skippedSources"] == (
        {NOT_OFFERED: len(plan.not_offered)} if plan.not_offered else {}
    )
