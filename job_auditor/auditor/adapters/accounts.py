"""Many accounts: which ones to audit, and a session and clients for each.

The deploying (home) account is read with the function's own credentials. Every other account is
read through its member role, `arn:<partition>:iam::<account>:role/<MEMBER_ROLE_NAME>`, with
botocore's own refreshable assumed-role credentials (`AssumeRoleCredentialFetcher` behind
`DeferredRefreshableCredentials`): the role is assumed on the first call that needs it and again
shortly before the credentials expire, by botocore, with no cache of ours.

Memory. botocore resolves a session's credentials once and keeps them (`Session.get_credentials`),
so refreshable per-account credentials need a session per account (a client given keys,
`create_client(aws_access_key_id=...)`, keeps those keys and never refreshes them). What a session
otherwise costs is its data loader, which parses and caches the service models, the endpoint rules
and the endpoints and partitions data: about 14 MB for an account's discovery clients in 4 regions.
So every member session is a bare botocore session into which one loader is registered
(`register_component("data_loader", ...)`, botocore's public way to give a session its loader): the
models are read once per process, and a member account costs its credentials and its clients (about
0.3 MB a client, and on AWS 0.7 MB more: each client's TLS trust store). Clients are built per
(account, service, region) on first use and reused, so each account-region keeps its own adaptive
retry rate limiter (one throttled account does not slow the others). Only the account-regions used
last keep their clients (`MAX_CACHED_ACCOUNT_REGIONS`), so a warm worker that serves account after
account stops growing; an account whose account-regions are all evicted releases its session (at
Python's next cyclic garbage collection: botocore's objects refer to each other), and assumes its
role again when next needed.

An account whose role cannot be assumed fails each of its sources with a `SourceError` that names the
role (`AccessDenied: cannot assume arn:aws:iam::111122223333:role/JobAuditorReader: ...`); nothing of
it is advanced, so the next run retries it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError

from job_auditor.auditor.adapters.clients import (
    RETRY_CONFIG,
    AccountClientProvider,
    AnySession,
    ClientFactory,
)
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
# How long a refused role (its AssumeRole answered AccessDenied: the role missing, or its trust policy not
# naming this function's role) is not asked again: the account's other sources in the run fail at once
# with the same reason instead of each assuming it again (a thousand accounts without the StackSet's role
# would cost a thousand AssumeRole calls per region and kind). Short: a role deployed mid-run is used
# by the next run, or within this long by a run still going.
REFUSAL_SECONDS = 60.0
# STS errors that say the same whatever the moment: anything else (throttling, a 5xx, a network error)
# is asked again at the next need.
_REFUSALS = frozenset({"AccessDenied", "RegionDisabledException"})
# Member account-regions whose clients are kept (the most recently used), unless a caller asks for
# more (`keep_at_least`). Why 32: an account-region in use must not be evicted (it would be built again,
# with a new rate limiter, and its account's role assumed again), and 32 covers what runs at once by
# default: a fan-out batch audits all its items at once (`itemsPerBatch`, 20 by default) and Plan
# discovers 16 accounts at once, one region of each at a time. And it fits the 256 MB default: on AWS an
# account-region's three job API clients take about 3 MB (each client has its own TLS trust store,
# ~0.5 MB: botocore builds an SSL context per client and loads its CA bundle into it), and a warm batch
# function with a full cache peaks near 215 MB (benchmarks/org_memory.py, docs/organization.md).
MAX_CACHED_ACCOUNT_REGIONS = 32
# The account states Organizations reports (`State`; older responses only `Status`) that are audited.
_ACTIVE = "ACTIVE"


class MemberRoleError(SourceError):
    """The member role of an account could not be assumed: every source of that account fails with
    this reason, and the next run tries again."""

    def __init__(self, role_arn: str, code: str, message: str) -> None:
        super().__init__(f"cannot assume {role_arn}: {message}", code=code)
        self.role_arn = role_arn
        self.message = message


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
    """The home account's session, and a session per member account while any of its clients is in use.

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
        core = botocore.session.Session()
        # The one loader of every member session (and of the home session, unless one is given): its
        # `data_path` is the standard configuration's (AWS_DATA_PATH), as a session of its own would have.
        self.loader = core.get_component("data_loader")
        self.home_session = home_session or boto3.session.Session(botocore_session=core)
        self.partition = self.home_session.get_partition_for_region(region)
        self._sts_config = sts_config
        # Held by the clients built from them (AccountClients): a session whose clients are all gone is
        # released, and the next one of that account assumes its role again.
        self._sessions: weakref.WeakValueDictionary[str, botocore.session.Session] = (
            weakref.WeakValueDictionary()
        )
        self._lock = threading.Lock()
        # The STS client of the home credentials of the moment (`_sts_client`).
        self._sts: tuple[tuple[str, tuple[tuple[str, Any], ...]], Any] | None = None
        # Accounts whose role was refused: when (monotonic), the error's code and message (the error
        # itself would keep its traceback's frames).
        self._refused: dict[str, tuple[float, str, str]] = {}
        # Building clients is not thread-safe on one session, and the sessions share one loader: every
        # client built here (the home account's, the members', and the STS client of the refreshes,
        # in several threads) is built under this lock. Clients once built are used without it.
        self.client_lock = threading.Lock()
        logging.getLogger("botocore.credentials").addFilter(_QUIET)

    def role_arn(self, account: str) -> str:
        return f"arn:{self.partition}:iam::{account}:role/{self.role_name}"

    def session(self, account: str) -> AnySession:
        """The account's session: the home one, or one on the account's member role."""
        if account == self.home_account:
            return self.home_session
        with self._lock:
            session = self._sessions.get(account)
            if session is None:
                session = self._sessions[account] = self._member_session(account)
            return session

    def member_sessions(self) -> int:
        """Member sessions alive (held by some client)."""
        return len(self._sessions)

    def _sts_client(self, service: str, **kwargs: Any) -> Any:
        """The client botocore's fetcher asks for on each AssumeRole, with the home credentials of the
        moment: one kept while those stay the same (a thousand accounts' roles assumed by one STS
        client, not a client built for each)."""
        key = (service, tuple(sorted(kwargs.items())))
        with self.client_lock:
            if self._sts is None or self._sts[0] != key:
                client = self.home_session.client(
                    service,  # type: ignore[call-overload]
                    region_name=self.region,
                    config=self._sts_config,
                    **kwargs,
                )
                self._sts = (key, client)
            return self._sts[1]

    def _member_session(self, account: str) -> botocore.session.Session:
        role_arn = self.role_arn(account)
        extra: dict[str, Any] = {
            "RoleSessionName": ROLE_SESSION_NAME,
            "DurationSeconds": ROLE_SESSION_SECONDS,
        }
        if self.external_id:
            extra["ExternalId"] = self.external_id
        with self.client_lock:
            source_credentials = self.home_session.get_credentials()
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=self._sts_client,
            source_credentials=source_credentials,
            role_arn=role_arn,
            extra_args=extra,
        )
        credentials = DeferredRefreshableCredentials(
            refresh_using=functools.partial(self._assume, account, fetcher),
            method=_AssumedRoleProvider.METHOD,
        )
        # A bare botocore session, not a boto3 one: boto3's Session appends its own data path to the
        # loader it is given, so one loader shared by many boto3 sessions would grow a search path per
        # account. A member account needs clients only (no boto3 resources).
        core = botocore.session.Session()
        core.register_component("data_loader", self.loader)
        core.register_component(
            "credential_provider", CredentialResolver([_AssumedRoleProvider(credentials)])
        )
        core.set_config_variable("region", self.region)
        return core

    def _assume(self, account: str, fetcher: AssumeRoleCredentialFetcher) -> dict[str, Any]:
        """botocore's fetch, its failures as the account's reason; a refusal remembered for
        REFUSAL_SECONDS (the account's other sources fail with it, without a call)."""
        self.raise_if_refused(account)
        try:
            return _assume(fetcher, self.role_arn(account))
        except MemberRoleError as exc:
            if exc.code in _REFUSALS:
                with self._lock:
                    self._refused[account] = (time.monotonic(), exc.code, exc.message)
            raise

    def raise_if_refused(self, account: str) -> None:
        """Raises MemberRoleError if `account`'s role was refused a moment ago (REFUSAL_SECONDS)."""
        with self._lock:
            refused = self._refused.get(account)
        if refused is not None and time.monotonic() - refused[0] < REFUSAL_SECONDS:
            raise MemberRoleError(self.role_arn(account), refused[1], refused[2])

    def checked_session(self, account: str) -> AnySession:
        """`account`'s session, its credentials resolved now (its role assumed, unless held or refused
        a moment ago): raises MemberRoleError if they cannot be had."""
        if account == self.home_account:
            return self.home_session
        self.raise_if_refused(account)  # before a session is built for it again
        session = self.session(account)
        credentials = session.get_credentials()
        if credentials is not None:
            credentials.get_frozen_credentials()
        return session


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
    hands out each member account's clients: `for_account(account)(service, region)`. Built on first
    use and reused; the member accounts' for the `max_account_regions` account-regions used most
    recently. Safe to share across threads and warm invocations."""

    def __init__(
        self,
        sessions: AccountSessions,
        config: Config = RETRY_CONFIG,
        *,
        max_account_regions: int = MAX_CACHED_ACCOUNT_REGIONS,
    ) -> None:
        super().__init__(sessions.home_session, config, lock=sessions.client_lock)
        self.sessions = sessions
        self._default_bound = max_account_regions
        self.max_account_regions = max_account_regions
        # (account, region) -> that account-region's clients, least recently used first.
        self._members: OrderedDict[tuple[str, str], ClientFactory] = OrderedDict()
        self._members_lock = threading.Lock()

    @property
    def home_account(self) -> str:
        return self.sessions.home_account

    @property
    def cached_account_regions(self) -> tuple[tuple[str, str], ...]:
        """The member account-regions whose clients are kept, least recently used first."""
        with self._members_lock:
            return tuple(self._members)

    def keep_at_least(self, account_regions: int) -> None:
        """Keep `account_regions` member account-regions from now on, if more than the default bound
        (the items of a batch larger than it, all audited at once); fewer, the default bound again."""
        with self._members_lock:
            self.max_account_regions = max(self._default_bound, account_regions)
            self._evict()

    def check_credentials(self, account: str, region: str) -> None:
        """Assume `account`'s role now if not held (MemberRoleError if refused), then keep the
        account-region's clients, which hold the session the credentials are kept in: an account
        whose role is refused builds no clients."""
        if account != self.sessions.home_account:
            self._account_region(account, region, self.sessions.checked_session(account))

    def for_account(self, account: str) -> AccountClientProvider:
        if account == self.sessions.home_account:
            return self
        return functools.partial(self._member_client, account)

    def _member_client(self, account: str, service: str, region: str) -> BaseClient:
        return self._account_region(account, region)(service, region)

    def _account_region(self, account: str, region: str, session: AnySession | None = None) -> ClientFactory:
        """The account-region's clients, now the most recently used; the least recently used beyond
        the bound are dropped (and with the last of an account's, its session)."""
        key = (account, region)
        with self._members_lock:
            factory = self._members.get(key)
            if factory is not None:
                self._members.move_to_end(key)
                return factory
        # Outside the lock: a new account's session takes a while to build, and meanwhile the other
        # threads' clients are only looked up.
        self.sessions.raise_if_refused(account)  # a refused account costs no session nor clients
        session = session or self.sessions.session(account)
        with self._members_lock:
            factory = self._members.setdefault(
                key, ClientFactory(session, self._config, lock=self.sessions.client_lock)
            )
            self._members.move_to_end(key)
            self._evict()
            return factory

    def _evict(self) -> None:
        while len(self._members) > self.max_account_regions:
            self._members.popitem(last=False)


# -- which accounts ---------------------------------------------------------------------------------


# A NamedTuple, not a dataclass: a dataclass compiles its generated methods as its module is imported,
# at every cold start (docs/architecture.md).
class AccountList(NamedTuple):
    """The accounts one run audits, the home account first, each once; what was left out and why."""

    accounts: tuple[str, ...]
    # Listed by Organizations but not ACTIVE: account id -> its state (SUSPENDED, PENDING_CLOSURE...).
    skipped: Mapping[str, str] = MappingProxyType({})
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
