"""Many accounts: which ones to audit, and a session and clients for each.

The deploying (home) account is read with the function's own credentials. Every other account is
read through its member role, `arn:<partition>:iam::<account>:role/<MEMBER_ROLE_NAME>`, with
botocore's own refreshable assumed-role credentials (`AssumeRoleCredentialFetcher` behind
`DeferredRefreshableCredentials`): the role is assumed on the first call that needs it and again
shortly before the credentials expire, by botocore, with no cache of ours. One session per account,
built on first use; clients per (account, service, region), built on first use and reused, so each
account-region has its own adaptive retry rate limiter (one throttled account does not slow the
others).

An account whose role cannot be assumed fails each of its sources with a `SourceError` that names the
role (`AccessDenied: cannot assume arn:aws:iam::111122223333:role/JobAuditorReader: ...`); nothing of
it is advanced, so the next run retries it.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError

from job_auditor.auditor.adapters.clients import RETRY_CONFIG, ClientFactory
from job_auditor.auditor.ports import SourceError
from job_auditor.contract.environment import DEFAULT_MEMBER_ROLE_NAME

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient

    from job_auditor.auditor.settings import Settings

logger = logging.getLogger(__name__)

ROLE_SESSION_NAME = "job-auditor"
# An hour: the longest a role chain allows, and the default maximum of a role; botocore refreshes
# ahead of expiry (15 minutes before), so a run never holds credentials that lapse mid-listing.
ROLE_SESSION_SECONDS = 3600
# Member accounts whose session and clients a warm function keeps (least recently used dropped first):
# each holds about 0.4 MB per client, and a function of the fan-out meets every account over time.
MAX_CACHED_ACCOUNTS = 64
# The account states Organizations reports (`State`; older responses only `Status`) that are audited.
_ACTIVE = "ACTIVE"


class MemberRoleError(SourceError):
    """The member role of an account could not be assumed: every source of that account fails with
    this reason, and the next run tries again."""

    def __init__(self, role_arn: str, code: str, message: str) -> None:
        super().__init__(f"cannot assume {role_arn}: {message}", code=code)
        self.role_arn = role_arn


class _QuietRefreshFailure(logging.Filter):
    """botocore logs a failed credential refresh with its traceback before raising it; ours is a
    SourceError the service records once per source with its reason, so the traceback is dropped
    (the warning line stays)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], MemberRoleError):
            record.exc_info = None
            record.exc_text = None
        return True


_QUIET = _QuietRefreshFailure()


class _AssumedRoleProvider(CredentialProvider):
    """A credential provider that is nothing but the member role's refreshable credentials."""

    METHOD = "assume-role"
    CANONICAL_NAME = "job-auditor-member-role"

    def __init__(self, credentials: DeferredRefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> DeferredRefreshableCredentials:
        return self._credentials


class AccountSessions:
    """The home account's session and one session per member account, each built on first use.

    `region` is the function's own: AssumeRole goes to that region's STS endpoint (botocore's default,
    `sts_regional_endpoints=regional`), and it names the partition of the member role ARNs.
    """

    def __init__(
        self,
        home_account: str,
        region: str,
        *,
        role_name: str = DEFAULT_MEMBER_ROLE_NAME,
        external_id: str | None = None,
        home_session: boto3.session.Session | None = None,
        sts_config: Config = RETRY_CONFIG,
    ) -> None:
        self.home_account = home_account
        self.region = region
        self.role_name = role_name
        self.external_id = external_id
        self.home_session = home_session or boto3.session.Session()
        self.partition = self.home_session.get_partition_for_region(region)
        self._sts_config = sts_config
        self._sessions: dict[str, boto3.session.Session] = {}
        self._lock = threading.Lock()
        # Creating clients from one session is not thread-safe: the STS clients of the refreshes (in
        # several threads) and the home account's clients (AccountClients) share this lock.
        self.home_lock = threading.Lock()
        logging.getLogger("botocore.credentials").addFilter(_QUIET)

    def role_arn(self, account: str) -> str:
        return f"arn:{self.partition}:iam::{account}:role/{self.role_name}"

    def session(self, account: str) -> boto3.session.Session:
        """The account's session: the home one, or one on the account's member role."""
        if account == self.home_account:
            return self.home_session
        with self._lock:
            session = self._sessions.get(account)
            if session is None:
                session = self._sessions[account] = self._member_session(account)
            return session

    def _sts_client(self, service: str, **kwargs: Any) -> Any:
        with self.home_lock:
            return self.home_session.client(
                service,  # type: ignore[call-overload]
                region_name=self.region,
                config=self._sts_config,
                **kwargs,
            )

    def _member_session(self, account: str) -> boto3.session.Session:
        role_arn = self.role_arn(account)
        extra: dict[str, Any] = {
            "RoleSessionName": ROLE_SESSION_NAME,
            "DurationSeconds": ROLE_SESSION_SECONDS,
        }
        if self.external_id:
            extra["ExternalId"] = self.external_id
        with self.home_lock:
            source_credentials = self.home_session.get_credentials()
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=self._sts_client,
            source_credentials=source_credentials,
            role_arn=role_arn,
            extra_args=extra,
        )
        credentials = DeferredRefreshableCredentials(
            refresh_using=functools.partial(_assume, fetcher, role_arn), method=_AssumedRoleProvider.METHOD
        )
        core = botocore.session.Session()
        core.register_component(
            "credential_provider", CredentialResolver([_AssumedRoleProvider(credentials)])
        )
        # The home session's loader: the service models and endpoint data parsed once for every
        # account (about 14 MB each otherwise: a Lambda of 256 MB could not hold twenty accounts).
        core.register_component("data_loader", self.home_session._session.get_component("data_loader"))
        return boto3.session.Session(botocore_session=core, region_name=self.region)

    def forget(self, account: str) -> None:
        """Drop `account`'s session (its next use assumes the role again)."""
        with self._lock:
            self._sessions.pop(account, None)


def _assume(fetcher: AssumeRoleCredentialFetcher, role_arn: str) -> dict[str, Any]:
    """botocore's fetch, its failures as the account's reason."""
    try:
        return fetcher.fetch_credentials()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise MemberRoleError(role_arn, error.get("Code", "Error"), error.get("Message") or str(exc)) from exc
    except BotoCoreError as exc:
        raise MemberRoleError(role_arn, type(exc).__name__, str(exc)) from exc


class AccountClients(ClientFactory):
    """A `ClientFactory` of the home account (what the state store and publishers use) that also
    hands out one factory per member account: `for_account(account)(service, region)`. Each factory
    builds its clients on first use and keeps them, for the MAX_CACHED_ACCOUNTS accounts used last;
    safe to share across threads and warm invocations."""

    def __init__(self, sessions: AccountSessions, config: Config = RETRY_CONFIG) -> None:
        super().__init__(sessions.home_session, config, lock=sessions.home_lock)
        self.sessions = sessions
        # Least recently used first (dicts keep insertion order; a use moves the account to the end).
        self._members: dict[str, ClientFactory] = {}
        self._members_lock = threading.Lock()

    @property
    def home_account(self) -> str:
        return self.sessions.home_account

    def for_account(self, account: str) -> ClientFactory:
        if account == self.sessions.home_account:
            return self
        with self._members_lock:
            factory = self._members.pop(account, None)
            if factory is None:
                factory = ClientFactory(self.sessions.session(account), self._config)
            self._members[account] = factory
            while len(self._members) > MAX_CACHED_ACCOUNTS:
                oldest = next(iter(self._members))
                del self._members[oldest]
                self.sessions.forget(oldest)
            return factory


# -- which accounts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountList:
    """The accounts one run audits, the home account first, each once; what was left out and why."""

    accounts: tuple[str, ...]
    # Listed by Organizations but not ACTIVE: account id -> its state (SUSPENDED, PENDING_CLOSURE...).
    skipped: dict[str, str] = field(default_factory=dict)
    # Organizations could not be listed: only the home account (and none of the others) this run.
    error: str | None = None

    @property
    def members(self) -> tuple[str, ...]:
        return self.accounts[1:]


def resolve_accounts(
    settings: Settings, home_account: str, organizations: OrganizationsClient | None = None
) -> AccountList:
    """The accounts to audit: the home account, then ACCOUNTS' ids; in organization mode every ACTIVE
    account Organizations lists (under ORGANIZATIONAL_UNITS and their nested units, if given), from
    the management account or a delegated administrator. A listing that fails leaves the home account
    alone, with the error to report."""
    if not settings.from_organization:
        return AccountList(_ordered(home_account, settings.member_accounts))
    if organizations is None:
        organizations = ClientFactory()("organizations", settings.region)
    skipped: dict[str, str] = {}
    listed: list[str] = []
    try:
        for account in _listed(organizations, settings.organizational_units):
            account_id = account.get("Id")
            if not isinstance(account_id, str):
                continue
            state = account.get("State") or account.get("Status")
            if state == _ACTIVE:
                listed.append(account_id)
            else:
                skipped[account_id] = str(state)
    except (ClientError, BotoCoreError) as exc:
        error = _listing_error(exc)
        logger.error(
            "organization accounts not listed: auditing the home account only", extra={"error": error}
        )
        return AccountList((home_account,), error=error)
    if skipped:
        logger.info("accounts not ACTIVE skipped", extra={"skipped": skipped})
    return AccountList(_ordered(home_account, listed), skipped)


def _listing_error(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message") or str(exc)
    else:
        code, message = type(exc).__name__, str(exc)
    return f"{code}: cannot list the organization's accounts: {message}"


def _ordered(home_account: str, others: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((home_account, *others)))


def _listed(organizations: OrganizationsClient, parents: tuple[str, ...]) -> Iterator[Any]:
    """Every account of the organization, or of the given roots/units and every unit under them."""
    if not parents:
        for page in organizations.get_paginator("list_accounts").paginate():
            yield from page.get("Accounts", [])
        return
    pending = list(parents)
    seen: set[str] = set()
    while pending:
        parent = pending.pop(0)
        if parent in seen:
            continue
        seen.add(parent)
        for page in organizations.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
            yield from page.get("Accounts", [])
        units = organizations.get_paginator("list_organizational_units_for_parent")
        for unit_page in units.paginate(ParentId=parent):
            pending.extend(unit["Id"] for unit in unit_page.get("OrganizationalUnits", []) if "Id" in unit)
