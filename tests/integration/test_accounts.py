"""Organization mode on the simulator and moto: the real handler assumes each member account's role with
moto's STS, the simulator serves each account's own jobs (known by the access key moto issued), and
the transitions of every account reach the bus once, each naming its account."""

import json
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.credentials import DeferredRefreshableCredentials
from moto.sts.models import sts_backends

from job_auditor.auditor.adapters.accounts import AccountClients, AccountSessions
from simulator.moto_accounts import create_role, trust_policy
from simulator.world import ACCOUNT, DEFAULT_START, MotoServer, World

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient

# moto warns that STS's model has no AccessDenied error shape (the harness's refusal; see
# simulator.moto_accounts): botocore reads the code all the same.
pytestmark = pytest.mark.filterwarnings("ignore:Exception\\(AccessDenied\\):UserWarning")

MEMBER_A = "111122223333"
MEMBER_B = "444455556666"
REGIONS = ("us-east-1", "us-west-2")
ACCOUNTS = (ACCOUNT, MEMBER_A, MEMBER_B)


@pytest.fixture
def org(moto_server: MotoServer) -> Any:
    opened: list[World] = []

    def factory(regions: tuple[str, ...] = REGIONS, **env: str) -> World:
        w = World(
            moto_server,
            DEFAULT_START,
            env={"REGIONS": ",".join(regions), **env},
            member_accounts=[MEMBER_A, MEMBER_B],
        )
        w.__enter__()
        opened.append(w)
        return w

    yield factory
    for w in reversed(opened):
        w.__exit__(None, None, None)


def _seed(w: World, regions: tuple[str, ...] = REGIONS) -> dict[tuple[str, str], str]:
    """One in-progress import job per account and region; their ARNs."""
    return {
        (account, region): w.plane_of(account).create_model_import_job(region=region, name=f"imp-{account}")
        for account in ACCOUNTS
        for region in regions
    }


def _progress(w: World, jobs: dict[tuple[str, str], str]) -> None:
    """Every job completes, and a new one appears, in every account and region."""
    w.advance(timedelta(minutes=5))
    for (account, region), arn in jobs.items():
        plane = w.plane_of(account)
        plane.set_status(arn, "Completed", region=region)
        plane.create_model_import_job(region=region, name=f"new-{account}-{w.now():%H%M}")


def _by_account(events: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    return Counter((e["detail"]["account"], e["detail"]["region"], e["detail"]["status"]) for e in events)


def _every(accounts: tuple[str, ...], regions: tuple[str, ...] = REGIONS) -> Counter[tuple[str, str, str]]:
    return Counter(
        {(a, r, status): 1 for a in accounts for r in regions for status in ("Completed", "InProgress")}
    )


def _emf(out: str, name: str) -> dict[str, float]:
    """Account -> the value of a metric with the Account dimension, from the EMF lines."""
    found: dict[str, float] = {}
    for line in out.splitlines():
        if line.startswith('{"_aws"') and name in json.loads(line):
            record = json.loads(line)
            if "Account" in record:
                found[record["Account"]] = record[name][0]
    return found


def test_every_accounts_transitions_reach_the_bus_once_naming_the_account(org: Any) -> None:
    # Given three accounts (home and two members, each with its role) in two regions, and a baseline
    w: World = org()
    jobs = _seed(w)
    first = w.run()
    assert first["status"] == "ok", first["failedAccounts"]
    assert first["accounts"] == 3
    assert w.events_received() == []
    # When a job completes and another appears in every account and region
    _progress(w, jobs)
    summary = w.run()
    # Then every transition of every account arrives once, naming its account
    assert summary["status"] == "ok"
    events = w.events_received()
    assert _by_account(events) == _every(ACCOUNTS)
    assert len({e["detail"]["eventId"] for e in events}) == len(events) == 12
    for event in events:
        assert event["detail"]["jobArn"].split(":")[4] == event["detail"]["account"]
    # And the member accounts were read with their own credentials: the role assumed once per run and
    # account, not per source (World.run rebuilds the handler's clients, as a cold start would)
    for member in (MEMBER_A, MEMBER_B):
        assert w.plane.count_calls("ListModelImportJobs", account=member) >= 4
        assert len(sts_backends[member]["aws"].assumed_roles) == 2
    # And the next run has nothing more to say
    again = w.run()
    assert again["status"] == "ok" and again["published"] == 0
    assert w.events_received() == []


def test_a_member_whose_role_is_missing_fails_alone_and_catches_up_once_the_role_is_back(
    org: Any, capsys: Any
) -> None:
    # Given a baseline of three accounts
    w: World = org()
    jobs = _seed(w)
    w.run()
    # When member B's role is gone while every account's jobs move on
    w.delete_member_role(MEMBER_B)
    _progress(w, jobs)
    capsys.readouterr()
    summary = w.run()
    out = capsys.readouterr().out
    # Then B's sources fail with the reason, named and counted by account
    assert summary["status"] == "partial-failure"
    failed = summary["failedAccounts"]
    assert set(failed) == {MEMBER_B}
    role = f"arn:aws:iam::{MEMBER_B}:role/JobAuditorReader"
    assert failed[MEMBER_B]["reasons"] == [
        f"AccessDenied: cannot assume {role}: User: arn:aws:sts::{ACCOUNT}:user/moto is not authorized to "
        f"perform: sts:AssumeRole on resource: {role}"
    ]
    # (3 listed kinds and 2 discovered scopes, in each region)
    assert failed[MEMBER_B]["sources"] == 10
    assert all(s["account"] == MEMBER_B for s in summary["sources"] if s["error"])
    assert _emf(out, "AccountFailures") == {MEMBER_B: 10.0}
    assert "Traceback" not in capsys.readouterr().err
    # And every transition of the other accounts arrives
    assert _by_account(w.events_received()) == _every((ACCOUNT, MEMBER_A))
    # When the role is back
    w.create_member_role(MEMBER_B)
    w.advance(timedelta(minutes=5))
    healed = w.run()
    # Then B's transitions are announced, once: nothing was lost while it failed
    assert healed["status"] == "ok"
    assert healed["failedAccounts"] == {}
    assert _by_account(w.events_received()) == _every((MEMBER_B,))
    w.advance(timedelta(minutes=5))
    assert w.run()["published"] == 0
    assert w.events_received() == []


def test_an_account_dropped_from_accounts_announces_its_followed_jobs_disappeared(org: Any) -> None:
    # Given three accounts, a job running in member B that the auditor follows
    w: World = org(regions=("us-east-1",))
    w.run()
    arn = w.plane_of(MEMBER_B).create_model_import_job(region="us-east-1", name="imp-b")
    w.advance(timedelta(minutes=5))
    w.run()
    assert [e["detail"]["jobId"] for e in w.events_received()] == [arn]
    # When B leaves the audited accounts, and its member role with it
    w.set_env(ACCOUNTS=MEMBER_A)
    w.delete_member_role(MEMBER_B)
    summaries = []
    for _ in range(4):
        w.advance(timedelta(minutes=5))
        summaries.append(w.run())
    # Then its job is announced once as disappeared, naming the reason; no run failed for it
    events = w.events_received()
    assert [(e["detail"]["jobId"], e["detail"]["transition"], e["detail"].get("reason")) for e in events] == [
        (arn, "disappeared", "account removed")
    ]
    assert all(s["status"] == "ok" and s["failedAccounts"] == {} for s in summaries)
    removed = {o["source"] for o in summaries[0]["orphanedSources"]}
    assert f"{MEMBER_B}/us-east-1/bedrock-model-import" in removed
    assert {o["reason"] for o in summaries[0]["orphanedSources"]} == {"account removed"}
    assert summaries[-1]["orphanedSources"] == []


def test_a_member_role_missing_for_a_day_then_deployed_announces_the_job_that_failed_meanwhile(
    org: Any,
) -> None:
    # Given member B's role not deployed yet when the auditor starts, and an import job that starts in
    # B and fails during the day it takes to deploy it
    w: World = org(regions=("us-east-1",))
    w.delete_member_role(MEMBER_B)
    plane = w.plane_of(MEMBER_B)
    before = plane.create_model_import_job(region="us-east-1", name="before", status="Completed")
    for hour in range(0, 24, 4):
        w.advance(timedelta(hours=4))
        if hour == 4:
            failed = plane.create_model_import_job(region="us-east-1", name="during", status="InProgress")
        if hour == 12:
            plane.set_status(failed, "Failed", region="us-east-1")
        assert w.run()["failedAccounts"].keys() == {MEMBER_B}
    assert w.events_received() == []
    # When the role is deployed
    w.create_member_role(MEMBER_B)
    w.advance(timedelta(minutes=5))
    healed = w.run()
    # Then the job that failed meanwhile is announced; the one that ended before the first attempt is not
    assert healed["status"] == "ok"
    events = w.events_received()
    assert [(e["detail"]["jobId"], e["detail"]["status"]) for e in events] == [(failed, "Failed")]
    assert before not in {e["detail"]["jobId"] for e in events}
    (b,) = [s for s in healed["sources"] if s["source"] == f"{MEMBER_B}/us-east-1/bedrock-model-import"]
    assert b["catch_up"] and not b["baseline"]


def test_a_region_without_the_service_is_skipped_and_a_region_not_enabled_fails_only_its_sources(
    org: Any,
) -> None:
    # Given eu-west-1, where botocore's endpoint data does not offer Q in Connect, and member A, which
    # has not enabled eu-west-1 (AWS answers UnrecognizedClientException there)
    regions = ("us-east-1", "eu-west-1")
    w: World = org(regions=regions)
    w.plane.disable_region(MEMBER_A, "eu-west-1")
    jobs = {k: v for k, v in _seed(w, regions).items() if k != (MEMBER_A, "eu-west-1")}
    first = w.run()
    # Then Q in Connect is not planned in eu-west-1 (a counted skip, not a failure), and A fails there
    failed = {s["source"]: s["error"] for s in first["sources"] if s["error"]}
    assert first["skippedSources"] == {"notOffered": 1}
    assert not any("/eu-west-1/qconnect-import" in s["source"] for s in first["sources"])
    a_in_region = {source for source in failed if source.startswith(f"{MEMBER_A}/eu-west-1/")}
    assert {s.split("/")[2] for s in a_in_region} == {
        "bedrock-model-import",
        "bedrock-model-copy",
        "bedrock-evaluation",
        "bedrock-kb-ingestion",
    }
    for source in a_in_region:
        assert failed[source].startswith(f"UnrecognizedClientException: {source}")
        assert "may not be enabled" in failed[source]
    assert set(failed) == a_in_region
    assert first["failedAccounts"] == {MEMBER_A: first["failedAccounts"][MEMBER_A]}
    assert first["failedAccounts"][MEMBER_A]["sources"] == 4
    # And every other source's transitions arrive, once
    _progress(w, jobs)
    w.run()
    expected = _every(ACCOUNTS, regions)
    del expected[(MEMBER_A, "eu-west-1", "Completed")], expected[(MEMBER_A, "eu-west-1", "InProgress")]
    assert _by_account(w.events_received()) == expected


def test_member_credentials_are_botocores_and_refresh_before_they_expire(org: Any) -> None:
    # Given the member sessions the handler uses
    w: World = org(regions=("us-east-1",))
    w.plane_of(MEMBER_A).create_model_import_job(region="us-east-1", name="imp-a")
    clients = AccountClients(AccountSessions(ACCOUNT, "us-east-1"))
    session = clients.sessions.session(MEMBER_A)
    assert isinstance(session.get_credentials(), DeferredRefreshableCredentials)
    bedrock = cast("BedrockClient", clients.for_account(MEMBER_A)("bedrock", "us-east-1"))
    # The same client for the same account and region; another account's is another
    assert clients.for_account(MEMBER_A)("bedrock", "us-east-1") is bedrock
    assert clients.for_account(MEMBER_B)("bedrock", "us-east-1") is not bedrock
    assert clients.for_account(ACCOUNT) is clients
    # When it is used, then again 50 minutes later (10 minutes before the hour's credentials expire)
    assert [j["jobName"] for j in bedrock.list_model_import_jobs()["modelImportJobSummaries"]] == ["imp-a"]
    w.advance(timedelta(minutes=50))
    bedrock.list_model_import_jobs()
    # Then botocore assumed the role again, and both keys are the member's
    calls = [c for c in w.plane.calls if c.operation == "ListModelImportJobs"]
    assert [c.account for c in calls] == [MEMBER_A, MEMBER_A]
    assert calls[0].access_key != calls[1].access_key
    assert len(sts_backends[MEMBER_A]["aws"].assumed_roles) == 2


def test_organization_mode_audits_the_active_accounts_moto_lists(org: Any) -> None:
    # Given an organization (this account its management account) with two member accounts
    w: World = org(regions=("us-east-1",), ACCOUNTS="organization")
    organizations = boto3.client("organizations", region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    members = []
    for name in ("alpha", "beta"):
        status = organizations.create_account(Email=f"{name}@example.com", AccountName=name)
        members.append(status["CreateAccountStatus"]["AccountId"])
    for member in members:
        w.create_member_role(member)
        w.plane_of(member).create_model_import_job(region="us-east-1", name=f"imp-{member}")
    # When the auditor runs
    summary = w.run()
    # Then every account was audited, the management (home) account first
    assert summary["status"] == "ok", summary
    assert summary["accounts"] == 3
    audited = {s["account"] for s in summary["sources"]}
    assert audited == {ACCOUNT, *members}
    assert summary["sources"][0]["account"] == ACCOUNT


def test_an_organization_that_cannot_be_listed_leaves_the_home_account_audited(org: Any) -> None:
    # Given organization mode, limited to a unit, in an account that belongs to no organization (moto's
    # ListAccounts answers an empty list there where AWS refuses; ListAccountsForParent refuses in both)
    w: World = org(regions=("us-east-1",), ACCOUNTS="organization", ORGANIZATIONAL_UNITS="ou-ab12-abcdefgh")
    w.plane.create_model_import_job(region="us-east-1", name="imp-home")
    # When the auditor runs
    summary = w.run()
    # Then the home account is audited, and the run says why the others were not
    assert summary["status"] == "partial-failure"
    assert summary["accounts"] == 1
    assert ": cannot list the organization's accounts: " in summary["accountListingError"]
    assert summary["failedSources"] == []
    assert {s["account"] for s in summary["sources"]} == {ACCOUNT}


def test_the_external_id_is_sent_and_a_role_that_wants_another_one_is_refused(
    moto_server: MotoServer,
) -> None:
    # Given member roles that trust the home account only with ExternalId "job-auditor-ext", which the
    # function is configured with, except member B's, which wants another one
    with World(
        moto_server,
        DEFAULT_START,
        env={"JOB_KINDS": "bedrock-model-import"},
        member_accounts=[MEMBER_A, MEMBER_B],
        member_external_id="job-auditor-ext",
    ) as w:
        w.delete_member_role(MEMBER_B)
        create_role(MEMBER_B, w.member_role_name, trust_policy(ACCOUNT, "someone-else"))
        # When the auditor runs
        summary = w.run()
    # Then A is read (the ExternalId matched), B is refused with the role named
    failed = summary["failedAccounts"]
    assert set(failed) == {MEMBER_B}
    assert failed[MEMBER_B]["reasons"][0].startswith(
        f"AccessDenied: cannot assume arn:aws:iam::{MEMBER_B}:role/JobAuditorReader: "
    )
    assert {s["account"] for s in summary["sources"] if not s["error"]} == {ACCOUNT, MEMBER_A}
