"""Organization mode without AWS: the account settings, which accounts a run audits (on a fake
Organizations client), the per-account sessions and clients, and the failure of one account's role."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any, cast

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import ClientError

from job_auditor.auditor import fanout, wiring
from job_auditor.auditor.adapters import accounts
from job_auditor.auditor.adapters.accounts import (
    AccountClients,
    AccountSessions,
    MemberRoleError,
    resolve_accounts,
)
from job_auditor.auditor.adapters.clients import ClientFactory, ServiceNotOffered
from job_auditor.auditor.domain.batches import plan_items
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from job_auditor.auditor.settings import Settings, SettingsError, load_settings
from job_auditor.auditor.summary import RunSummary, SourceSummary
from tests.fakes import FakeJob, Harness

HOME, A, B, C = "123456789012", "111122223333", "444455556666", "777788889999"
VALID = {
    "AWS_REGION": "us-east-1",
    "STATE_TABLE_NAME": "job-auditor-state",
    "EVENT_BUS_NAME": "job-auditor",
    "NOTIFICATION_TOPIC_ARN": f"arn:aws:sns:us-east-1:{HOME}:job-auditor",
}


def _settings(**env: str) -> Settings:
    return load_settings(VALID | env)


# -- settings ---------------------------------------------------------------------------------------


def test_accounts_default_to_the_home_account_with_the_reader_role() -> None:
    settings = _settings()
    assert settings.accounts == ()
    assert not settings.from_organization
    assert settings.member_role_name == "JobAuditorReader"
    assert settings.member_external_id is None
    assert resolve_accounts(settings, HOME).accounts == (HOME,)


def test_an_account_list_is_audited_after_the_home_account_each_once() -> None:
    settings = _settings(ACCOUNTS=f" {A}, {HOME},{A} ,{B}")
    assert settings.member_accounts == (A, HOME, B)
    assert resolve_accounts(settings, HOME).accounts == (HOME, A, B)


def test_organization_mode_and_its_units() -> None:
    settings = _settings(ACCOUNTS="Organization", ORGANIZATIONAL_UNITS="ou-ab12-abcdefgh, r-ab12")
    assert settings.from_organization
    assert settings.member_accounts == ()
    assert settings.organizational_units == ("ou-ab12-abcdefgh", "r-ab12")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ACCOUNTS": "1234, 111122223333, x"},
            "ACCOUNTS: expected a comma list of 12-digit account ids, or 'organization', got '1234', 'x'",
        ),
        ({"ACCOUNTS": "organization,111122223333"}, "ACCOUNTS: expected a comma list of 12-digit account"),
        (
            {"ACCOUNTS": "organization", "ORGANIZATIONAL_UNITS": "ou-x"},
            "ORGANIZATIONAL_UNITS: expected a comma list of organizational unit or root ids "
            "(ou-... or r-...), got 'ou-x'",
        ),
        ({"ORGANIZATIONAL_UNITS": "r-ab12"}, "ORGANIZATIONAL_UNITS: only with ACCOUNTS=organization"),
        (
            {"ACCOUNTS": A, "ORGANIZATIONAL_UNITS": "r-ab12"},
            "ORGANIZATIONAL_UNITS: only with ACCOUNTS=organization",
        ),
        ({"MEMBER_ROLE_NAME": "path/Reader"}, "MEMBER_ROLE_NAME: expected an IAM role name"),
        ({"MEMBER_ROLE_NAME": "R" * 65}, "MEMBER_ROLE_NAME: expected an IAM role name"),
        ({"MEMBER_EXTERNAL_ID": "x"}, "MEMBER_EXTERNAL_ID: expected an external id: 2 to 1224"),
        ({"MEMBER_EXTERNAL_ID": "x" * 1225}, "MEMBER_EXTERNAL_ID: expected an external id"),
        ({"MEMBER_EXTERNAL_ID": "has space"}, "MEMBER_EXTERNAL_ID: expected an external id"),
    ],
)
def test_bad_account_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        _settings(**env)
    assert message in str(raised.value)


def test_role_name_and_external_id_forms_accept_what_iam_and_sts_do() -> None:
    settings = _settings(MEMBER_ROLE_NAME="Job+Auditor=Reader,.@_-1", MEMBER_EXTERNAL_ID="a:b/c=d+e@f.g-h_i")
    assert settings.member_role_name == "Job+Auditor=Reader,.@_-1"
    assert settings.member_external_id == "a:b/c=d+e@f.g-h_i"


# -- which accounts: a fake Organizations client ----------------------------------------------------


class FakeOrganizations:
    """Pages of accounts (the whole organization, or per parent) and units per parent."""

    def __init__(
        self,
        accounts: list[list[dict[str, Any]]] | None = None,
        by_parent: Mapping[str, list[list[dict[str, Any]]]] | None = None,
        units: Mapping[str, list[str]] | None = None,
        error: Exception | None = None,
    ) -> None:
        self.accounts = accounts or []
        self.by_parent = by_parent or {}
        self.units = units or {}
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_paginator(self, name: str) -> Any:
        if self.error is not None:
            raise self.error
        return _Lister(self, name)


class _Lister:
    def __init__(self, fake: FakeOrganizations, name: str) -> None:
        self.fake, self.name = fake, name

    def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
        self.fake.calls.append((self.name, params))
        if self.name == "list_accounts":
            yield from ({"Accounts": page} for page in self.fake.accounts)
        elif self.name == "list_accounts_for_parent":
            yield from ({"Accounts": page} for page in self.fake.by_parent.get(params["ParentId"], []))
        else:
            units = self.fake.units.get(params["ParentId"], [])
            # one page per unit: pagination of the units too
            yield from ({"OrganizationalUnits": [{"Id": unit}]} for unit in units)


def _account(account_id: str, status: str | None = "ACTIVE", state: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"Id": account_id, "Name": account_id}
    if status is not None:
        record["Status"] = status
    if state is not None:
        record["State"] = state
    return record


def _resolve(fake: FakeOrganizations, **env: str) -> accounts.AccountList:
    return resolve_accounts(_settings(ACCOUNTS="organization", **env), HOME, cast(Any, fake))


def test_organization_accounts_every_page_home_first_non_active_skipped() -> None:
    # Given two pages of accounts: the management (home) account among them, one suspended, one
    # closing (State, which newer responses carry), one whose State says more than its Status
    fake = FakeOrganizations(
        accounts=[
            [_account(A), _account(HOME), _account(B, "SUSPENDED")],
            [_account(C, None, "PENDING_CLOSURE"), _account("999988887777", "ACTIVE", "SUSPENDED")],
            [_account("222233334444", None, "ACTIVE")],
        ]
    )
    listed = _resolve(fake)
    assert listed.accounts == (HOME, A, "222233334444")
    assert listed.members == (A, "222233334444")
    assert listed.skipped == {B: "SUSPENDED", C: "PENDING_CLOSURE", "999988887777": "SUSPENDED"}
    assert listed.error is None
    assert [name for name, _ in fake.calls] == ["list_accounts"]


def test_organizational_units_are_walked_down_every_nested_unit() -> None:
    # Given a unit with a nested unit two levels deep, and a root listed as well
    fake = FakeOrganizations(
        by_parent={
            "ou-ab12-aaaaaaaa": [[_account(A)]],
            "ou-ab12-bbbbbbbb": [[_account(B)], [_account(HOME)]],
            "ou-ab12-cccccccc": [[_account(C, "SUSPENDED")]],
            "r-ab12": [[_account(A)]],
        },
        units={"ou-ab12-aaaaaaaa": ["ou-ab12-bbbbbbbb"], "ou-ab12-bbbbbbbb": ["ou-ab12-cccccccc"]},
    )
    listed = _resolve(fake, ORGANIZATIONAL_UNITS="ou-ab12-aaaaaaaa,r-ab12")
    assert listed.accounts == (HOME, A, B)
    assert listed.skipped == {C: "SUSPENDED"}
    parents = [params["ParentId"] for name, params in fake.calls if name == "list_accounts_for_parent"]
    assert parents == ["ou-ab12-aaaaaaaa", "r-ab12", "ou-ab12-bbbbbbbb", "ou-ab12-cccccccc"]


def test_an_organization_that_cannot_be_listed_leaves_the_home_account_with_the_reason() -> None:
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not the management account"}}, "ListAccounts"
    )
    listed = _resolve(FakeOrganizations(error=denied))
    assert listed.accounts == (HOME,)
    assert listed.error == (
        "AccessDeniedException: cannot list the organization's accounts: not the management account"
    )


# -- sessions and clients -------------------------------------------------------------------------


def _home_session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="AKIDHOME", aws_secret_access_key="secret", region_name="us-east-1"
    )


def _clients(**kwargs: Any) -> AccountClients:
    return AccountClients(AccountSessions(HOME, "us-east-1", home_session=_home_session(), **kwargs))


def test_clients_per_account_and_region_are_built_once_and_reused() -> None:
    clients = _clients()
    member = clients.for_account(A)
    bedrock = member("bedrock", "us-east-1")
    assert clients.for_account(A)("bedrock", "us-east-1") is bedrock
    assert member("bedrock", "us-east-1") is bedrock
    assert member("bedrock", "us-west-2") is not bedrock
    assert clients.for_account(B)("bedrock", "us-east-1") is not bedrock
    # the home account's are the factory's own
    assert clients.for_account(HOME) is clients
    assert clients("bedrock", "us-east-1") is not bedrock
    # and a plain factory serves one account, whichever is asked
    plain = ClientFactory(_home_session())
    assert plain.for_account(A) is plain


def test_a_member_session_holds_botocores_refreshable_assumed_role_credentials() -> None:
    sessions = AccountSessions(HOME, "us-east-1", home_session=_home_session(), external_id="ext-id")
    session = sessions.session(A)
    assert sessions.session(A) is session
    assert sessions.session(HOME) is sessions.home_session
    credentials = session.get_credentials()
    # Deferred: nothing is assumed until a call needs it (no request made here; sockets are off)
    assert isinstance(credentials, DeferredRefreshableCredentials)
    assert credentials.method == "assume-role"
    assert sessions.role_arn(A) == f"arn:aws:iam::{A}:role/JobAuditorReader"


def test_member_role_arns_are_in_the_functions_partition() -> None:
    sessions = AccountSessions(HOME, "cn-north-1", home_session=_home_session(), role_name="Reader")
    assert sessions.role_arn(A) == f"arn:aws-cn:iam::{A}:role/Reader"


class _Fetcher:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.kwargs: dict[str, Any] = {}

    def fetch_credentials(self) -> dict[str, Any]:
        raise self.error


def test_a_role_that_cannot_be_assumed_is_the_accounts_reason() -> None:
    role = f"arn:aws:iam::{A}:role/JobAuditorReader"
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")
    with pytest.raises(MemberRoleError) as raised:
        accounts._assume(cast(Any, _Fetcher(denied)), role)
    assert raised.value.code == "AccessDenied"
    assert str(raised.value) == f"cannot assume {role}: not authorized"


def test_the_assume_role_request_is_botocores_with_the_session_name_duration_and_external_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions = AccountSessions(HOME, "us-east-1", home_session=_home_session(), external_id="ext-id")
    captured: dict[str, Any] = {}
    real = AssumeRoleCredentialFetcher

    def spy(**kwargs: Any) -> Any:
        captured.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(accounts, "AssumeRoleCredentialFetcher", spy)
    sessions.session(A)
    assert captured["role_arn"] == f"arn:aws:iam::{A}:role/JobAuditorReader"
    assert captured["extra_args"] == {
        "RoleSessionName": "job-auditor",
        "DurationSeconds": 3600,
        "ExternalId": "ext-id",
    }
    sts = captured["client_creator"]("sts", aws_access_key_id="a", aws_secret_access_key="b")
    # The regional endpoint of the function's region
    assert sts.meta.region_name == "us-east-1"
    assert sts.meta.endpoint_url == "https://sts.us-east-1.amazonaws.com"


def test_a_region_where_the_service_is_not_offered_fails_before_any_client_is_built() -> None:
    clients = _clients()
    with pytest.raises(ServiceNotOffered) as raised:
        clients.for_account(A)("qconnect", "eu-west-1")
    assert raised.value.code == "ServiceNotOffered"
    assert str(raised.value) == "qconnect is not offered in eu-west-1"
    # a service botocore has no endpoint data for, or a region it does not know, is not refused
    clients.for_account(A)("bedrock-agent", "eu-west-1")
    clients.for_account(A)("bedrock", "xx-mars-1")


def _members(count: int) -> list[str]:
    return [f"2{n:011d}" for n in range(1, count + 1)]


def _member_session(clients: AccountClients, account: str) -> botocore.session.Session:
    session = clients.sessions.session(account)
    assert isinstance(session, botocore.session.Session)
    return session


def test_member_accounts_share_one_loader_and_read_each_model_once() -> None:
    # Given the clients of 100 member accounts (all kept), counting what their loader reads from disk
    clients = _clients()
    # (a loader of its own: the test harness shares one across the process, which has read the models)
    clients.sessions.loader = botocore.loaders.create_loader()
    members = _members(100)
    clients.keep_at_least(len(members))
    loader = clients.sessions.loader
    reads: list[str] = []
    load_file = loader.file_loader.load_file

    def counted(path: str) -> Any:
        reads.append(path)
        return load_file(path)

    loader.file_loader.load_file = counted
    # When the first member account's clients are built, then 99 more accounts'
    for service in ("bedrock", "bedrock-agent", "qconnect"):
        clients.for_account(members[0])(service, "us-east-1")
    first = list(reads)
    for account in members[1:]:
        clients.for_account(account)("bedrock", "us-west-2")
    # Then every member session holds the one loader, and no model was read again
    sessions = [_member_session(clients, a) for a in members]
    assert all(session.get_component("data_loader") is loader for session in sessions)
    assert any("bedrock" in path for path in first)
    assert reads == first
    # And each account's credentials are its own
    assert len({id(session.get_credentials()) for session in sessions}) == len(members)


def test_the_member_clients_kept_are_bounded_and_evicted_accounts_release_their_session() -> None:
    # Given more member accounts than the clients kept (one region each)
    clients = _clients()
    bound = accounts.MAX_CACHED_ACCOUNT_REGIONS
    members = _members(bound + 50)
    first = clients.for_account(members[0])("bedrock", "us-east-1")
    sessions: dict[str, weakref.ref[botocore.session.Session]] = {}
    # When each is used once
    for account in members:
        clients.for_account(account)("bedrock", "us-east-1")
        sessions[account] = weakref.ref(_member_session(clients, account))
    gc.collect()
    # Then the cache holds the bound: the account-regions used last
    assert clients.cached_account_regions == tuple((a, "us-east-1") for a in members[-bound:])
    # And the evicted accounts' sessions are gone (their credentials with them); the kept ones live
    assert [a for a in members if sessions[a]() is None] == members[:-bound]
    assert clients.sessions.member_sessions() == bound
    # And an evicted account used again gets new clients on a new session
    again = clients.for_account(members[0])("bedrock", "us-east-1")
    assert again is not first
    assert clients.cached_account_regions[-1] == (members[0], "us-east-1")
    assert len(clients.cached_account_regions) == bound


def test_a_batch_larger_than_the_bound_keeps_all_its_account_regions_until_the_next_one() -> None:
    # Given a batch of more account-regions than the default bound, announced before it runs
    clients = _clients()
    bound = accounts.MAX_CACHED_ACCOUNT_REGIONS
    members = _members(bound + 8)
    clients.keep_at_least(len(members))
    # When each is used, and then the first again
    first = [clients.for_account(a)("bedrock", "us-east-1") for a in members]
    # Then none was evicted: the first account's client is the one it had
    assert len(clients.cached_account_regions) == len(members)
    assert clients.for_account(members[0])("bedrock", "us-east-1") is first[0]
    # And a smaller batch next brings the default bound back, keeping the most recently used
    clients.keep_at_least(5)
    assert len(clients.cached_account_regions) == bound
    assert clients.cached_account_regions[-1] == (members[0], "us-east-1")


def test_the_least_recently_used_account_region_is_evicted_and_an_account_keeps_its_session() -> None:
    clients = AccountClients(
        AccountSessions(HOME, "us-east-1", home_session=_home_session()), max_account_regions=3
    )
    # Given A in two regions and B in one: the cache is full
    a_east = clients.for_account(A)("bedrock", "us-east-1")
    clients.for_account(A)("bedrock", "us-west-2")
    clients.for_account(B)("bedrock", "us-east-1")
    session_a = weakref.ref(_member_session(clients, A))
    # When A's first region is used again and C arrives
    assert clients.for_account(A)("bedrock", "us-east-1") is a_east
    clients.for_account(C)("bedrock", "us-east-1")
    gc.collect()
    # Then the least recently used account-region (A's second) is evicted, and A keeps its one session
    assert clients.cached_account_regions == ((B, "us-east-1"), (A, "us-east-1"), (C, "us-east-1"))
    assert session_a() is _member_session(clients, A)
    # And the home account's clients are never evicted
    home = clients("dynamodb", "us-east-1")
    for account in (B, C, A):
        clients.for_account(account)("bedrock-agent", "eu-west-1")
    assert clients.for_account(HOME)("dynamodb", "us-east-1") is home


# -- the use case: one account failing ------------------------------------------------------------


def test_one_accounts_failure_fails_only_its_sources_and_is_summarised_by_account() -> None:
    # Given three accounts' import jobs, and member B, whose every call fails
    h = Harness()
    sources = {
        account: Source(account, "us-east-1", JOB_KINDS["bedrock-model-import"]) for account in (HOME, A, B)
    }
    for account, source in sources.items():
        h.api.add(
            source,
            FakeJob(f"arn:aws:bedrock:us-east-1:{account}:model-import-job/j", "InProgress", h.clock()),
        )

    def deny(operation: str, source: Source | None) -> None:
        del operation
        if source is not None and source.account == B:
            raise MemberRoleError(f"arn:aws:iam::{B}:role/JobAuditorReader", "AccessDenied", "not authorized")

    h.api.faults.append(deny)
    h.clock.advance(timedelta(minutes=5))
    summary = h.audit((HOME, A, B))
    # Then the others' sources are audited, B's fails with its reason, named by account
    assert summary.accounts == 3
    assert {s.account: s.error for s in summary.sources} == {
        HOME: None,
        A: None,
        B: f"AccessDenied: cannot assume arn:aws:iam::{B}:role/JobAuditorReader: not authorized",
    }
    assert summary.status == "partial-failure"
    assert summary.as_dict()["failedAccounts"] == {
        B: {
            "sources": 1,
            "reasons": [
                f"AccessDenied: cannot assume arn:aws:iam::{B}:role/JobAuditorReader: not authorized"
            ],
        }
    }
    # And nothing of B's advanced: its checkpoint waits for the next run
    assert sources[B].key not in h.store.checkpoints
    assert sources[A].key in h.store.checkpoints


def test_account_reasons_are_listed_once_without_the_account_and_bounded() -> None:
    summary = RunSummary(started_at="t")
    for n in range(15):
        key = f"{A}/us-east-1/kind-{n}"
        summary.sources.append(SourceSummary(key, "kind", "us-east-1", A, error=f"Throttling: {key}: slow"))
        key = f"{B}/us-east-1/kind-{n}"
        summary.sources.append(
            SourceSummary(key, "kind", "us-east-1", B, error="AccessDenied: cannot assume x")
        )
    failed = summary.failed_accounts()
    assert failed[B] == {"sources": 15, "reasons": ["AccessDenied: cannot assume x"]}
    assert failed[A]["sources"] == 15
    assert failed[A]["reasons"][0] == "Throttling: us-east-1/kind-0: slow"
    assert len(failed[A]["reasons"]) == 10


def test_an_organization_listing_failure_makes_the_run_a_partial_failure() -> None:
    summary = RunSummary(started_at="t", account_listing_error="AccessDeniedException: cannot list")
    assert summary.status == "partial-failure"
    assert summary.as_dict()["accountListingError"] == "AccessDeniedException: cannot list"
    assert "accountListingError" not in RunSummary(started_at="t").as_dict()


def test_accounts_left_unexpanded_when_the_budget_runs_out_wait_for_the_next_run() -> None:
    # Given a budget already spent once the first account's sources are expanded
    h = Harness()
    summary = h.audit((HOME, A, B), should_stop=lambda: True)
    # Then the run says it stopped early, and audited only what it expanded (nothing of A's or B's)
    assert summary.stopped_early
    assert summary.accounts == 1
    assert {s.account for s in summary.sources} <= {HOME}


def test_a_fanout_batch_keeps_the_clients_of_every_account_region_it_audits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a batch of more member account-regions than the client cache keeps by default
    clients = _clients()
    members = _members(accounts.MAX_CACHED_ACCOUNT_REGIONS + 8)
    sources = [Source(m, "us-east-1", JOB_KINDS["bedrock-model-import"]) for m in members]
    items = plan_items(sources, {}, concurrency=1).items
    bounds: list[int] = []

    def build_audit_step(*_: Any, **__: Any) -> Any:
        bounds.append(clients.max_account_regions)
        raise RuntimeError("stop here: only the bound in force while the batch runs matters")

    monkeypatch.setattr(wiring, "build_audit_step", build_audit_step)
    # When the batch runs
    counts = fanout.audit_batch(_settings(), items, clients, should_stop=lambda: False)
    # Then every item was audited (and failed here) with the bound raised to the batch's size
    assert counts.failed_count == len(members)
    assert bounds == [len(members)] * len(members)
