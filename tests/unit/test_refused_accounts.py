"""An account whose member role is refused (the StackSet's role not deployed there, its trust policy
not naming us): its sources fail with the role's reason without reading their state, the role is asked
once for a while rather than once per source, and what earlier runs claimed for it is still
delivered. A thousand such accounts used to cost a thousand AssumeRole calls per region and kind, and
each source's state reads, before failing the same way."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from job_auditor.auditor.adapters import accounts
from job_auditor.auditor.adapters.accounts import AccountClients, AccountSessions, MemberRoleError
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from tests.fakes import FakeJob, Harness, down_until

HOME, MEMBER, REGION = "123456789012", "210987654321", "us-east-1"
MEMBER_IMPORT = Source(MEMBER, REGION, JOB_KINDS["bedrock-model-import"])
ROLE = f"arn:aws:iam::{MEMBER}:role/JobAuditorReader"


def _refuse_role(account: str) -> Any:
    def deny(operation: str, source: Source | None) -> None:
        del operation  # every request of the account needs its credentials
        if source is not None and source.account == account:
            raise MemberRoleError(ROLE, "AccessDenied", "not authorized to perform: sts:AssumeRole")

    return deny


def test_a_refused_account_reads_none_of_its_state_and_still_delivers_what_it_claimed() -> None:
    # Given a member account audited once (a job in flight), then a job completing while the bus is
    # down, so the run's claim waits for the bus
    h = Harness()
    arn = f"arn:aws:bedrock:{REGION}:{MEMBER}:model-import-job/j1"
    h.api.add(MEMBER_IMPORT, FakeJob(arn, "InProgress", h.clock() - timedelta(minutes=1)))
    h.audit((HOME, MEMBER))
    h.api.set_status(MEMBER_IMPORT, arn, "Completed")
    h.publisher.outage = down_until(h.clock, h.clock() + timedelta(minutes=20), "InternalFailure")
    h.clock.advance(timedelta(minutes=5))
    h.audit((HOME, MEMBER))
    assert h.publisher.statuses(arn) == []  # (the bus is down)
    # When the member's role is then refused (its StackSet instance deleted), for the next runs
    h.api.faults.append(_refuse_role(MEMBER))
    reads: list[str] = []
    h.store.faults.append(reads.append)
    summary = None
    for _ in range(6):
        h.clock.advance(timedelta(minutes=5))
        summary = h.audit((HOME, MEMBER))
    # Then the member's source fails each run with the role's reason, reading none of its jobs' state
    assert summary is not None
    (member,) = [s for s in summary.sources if s.account == MEMBER]
    assert member.error == f"AccessDenied: cannot assume {ROLE}: not authorized to perform: sts:AssumeRole"
    assert reads.count("load_in_flight") == 6  # the home account's source, once a run; not the member's
    # And the completion claimed before the role went is delivered once the bus is back
    assert ("InProgress", "Completed", "status-changed") in h.publisher.statuses(arn)
    assert h.store.pending() == []


def _sessions(monkeypatch: pytest.MonkeyPatch, error: ClientError | None) -> tuple[AccountClients, list[str]]:
    """Member sessions whose every AssumeRole fails with `error` (None: succeeds), counting them."""
    asked: list[str] = []

    class Fetcher:
        def __init__(self, **kwargs: Any) -> None:
            self.role_arn = kwargs["role_arn"]

        def fetch_credentials(self) -> dict[str, Any]:
            asked.append(self.role_arn)
            if error is not None:
                raise error
            expiry = datetime.now(UTC) + timedelta(hours=1)
            return {"access_key": "AKIA", "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()}

    monkeypatch.setattr(accounts, "AssumeRoleCredentialFetcher", Fetcher)
    home = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return AccountClients(AccountSessions(HOME, REGION, home_session=home)), asked


REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1")


def test_a_refused_role_is_asked_once_for_a_while_and_builds_no_clients_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a member account whose role is refused (AccessDenied)
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")
    clients, asked = _sessions(monkeypatch, denied)
    # When its sources in four regions check its credentials, one after another
    for region in REGIONS:
        with pytest.raises(MemberRoleError) as raised:
            clients.check_credentials(MEMBER, region)
        assert str(raised.value) == f"cannot assume {ROLE}: not authorized"
        assert raised.value.code == "AccessDenied"
    # Then the role was asked once, and no clients were built for it
    assert asked == [ROLE]
    assert clients.cached_account_regions == ()
    # (nor are any while the refusal holds)
    with pytest.raises(MemberRoleError):
        clients.for_account(MEMBER)("bedrock", REGION)
    # And once REFUSAL_SECONDS have passed, it is asked again (a role deployed meanwhile is used)
    later = time.monotonic() + accounts.REFUSAL_SECONDS + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    with pytest.raises(MemberRoleError):
        clients.check_credentials(MEMBER, REGION)
    assert asked == [ROLE, ROLE]


def test_a_readable_account_is_assumed_once_and_its_checked_regions_keep_their_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a member account whose role is assumed
    clients, asked = _sessions(monkeypatch, None)
    # When its sources in four regions check its credentials, then use their clients
    for region in REGIONS:
        clients.check_credentials(MEMBER, region)
        clients.for_account(MEMBER)("bedrock", region)
    # Then the role was assumed once (the session holds the credentials), and each region's clients
    # are kept from the check on
    assert asked == [ROLE]
    assert clients.cached_account_regions == tuple((MEMBER, r) for r in REGIONS)
    # And the home account needs no check
    clients.check_credentials(HOME, REGION)
    assert asked == [ROLE]


def test_a_throttled_assume_role_is_asked_again_at_the_next_need(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given AssumeRole throttled past botocore's retries (a passing condition, not the role's answer)
    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "AssumeRole")
    clients, asked = _sessions(monkeypatch, throttled)
    # When two sources of the account check its credentials
    for _ in range(2):
        with pytest.raises(MemberRoleError, match="Rate exceeded"):
            clients.check_credentials(MEMBER, REGION)
    # Then each asked: nothing is remembered of a passing failure
    assert asked == [ROLE, ROLE]


def test_one_sts_client_assumes_every_accounts_role_while_the_home_credentials_stay() -> None:
    # Given the member sessions of one function
    home = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    sessions = AccountSessions(HOME, REGION, home_session=home)
    keys = {"aws_access_key_id": "AKIA1", "aws_secret_access_key": "s1", "aws_session_token": "t1"}
    # When botocore's fetchers of many accounts ask for their STS client with the same home credentials
    first = sessions._sts_client("sts", **keys)
    # Then they share one (building a client per AssumeRole cost a thousand clients a run)
    assert all(sessions._sts_client("sts", **keys) is first for _ in range(3))
    # And rotated home credentials get a client of their own
    assert sessions._sts_client("sts", **{**keys, "aws_session_token": "t2"}) is not first
