"""The composition root: the one place that builds clients and adapters and wires them into the
planner, the source auditor and the audit step. Every entry point (the direct handler, the fan-out's
Plan, Batch and Summarize, `job-auditor run --once`) builds what it needs here.

Clients are built on first use and kept across warm invocations: the home account's, and each member
account's session (its assumed-role credentials, refreshed by botocore) and clients.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from job_auditor import availability
from job_auditor.auditor.adapters.accounts import (
    AccountClients,
    AccountList,
    AccountSessions,
    resolve_accounts,
)
from job_auditor.auditor.adapters.job_api import BotoJobApi
from job_auditor.auditor.adapters.parameters import ParameterReader
from job_auditor.auditor.adapters.publishers import ChatPublisher, EventBridgePublisher, SnsPublisher
from job_auditor.auditor.adapters.state_store import DynamoStateStore
from job_auditor.auditor.audit_step import SOURCE_CONCURRENCY, AuditStep
from job_auditor.auditor.planner import Planner, RunPlan
from job_auditor.auditor.ports import Publisher, StopCheck, never
from job_auditor.auditor.settings import Settings, SettingsError
from job_auditor.auditor.settings import load_settings as settings_from
from job_auditor.auditor.source_auditor import AuditPolicy, SourceAuditor

if TYPE_CHECKING:
    import boto3

    from job_auditor.auditor.adapters.clients import ClientFactory
    from job_auditor.auditor.adapters.item_store import ItemStore
    from job_auditor.auditor.adapters.start_queue import SqsStartFeed

# Stop starting new sources when less than this is left of the invocation.
TIME_BUDGET_MARGIN_MS = 30_000


class InvocationContext(Protocol):
    """What the wiring reads of the Lambda runtime's context object."""

    @property
    def invoked_function_arn(self) -> str: ...

    def get_remaining_time_in_millis(self) -> int: ...


def _clock() -> datetime:
    return datetime.now(UTC)


# -- clients ------------------------------------------------------------------------------------------
def member_clients(
    settings: Settings, home: str, home_session: boto3.session.Session | None = None
) -> AccountClients:
    """New clients of a run: the home account's (on `home_session`, else the default credentials), and
    each member account's through its role (`for_account`)."""
    sessions = AccountSessions(
        home,
        settings.region,
        role_name=settings.member_role_name,
        external_id=settings.member_external_id,
        home_session=home_session,
    )
    return AccountClients(sessions)


class _ClientCache:
    """One run's clients, kept across warm invocations while the home account, region, member role and
    external id stay the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, str, str, str | None] | None = None
        self._clients: ClientFactory | None = None
        self._fixed: ClientFactory | None = None

    def get(self, settings: Settings, home: str) -> ClientFactory:
        key = (home, settings.region, settings.member_role_name, settings.member_external_id)
        with self._lock:
            if self._fixed is not None:
                return self._fixed
            if self._clients is None or self._key != key:
                self._key, self._clients = key, member_clients(settings, home)
            return self._clients

    def reset(self, clients: ClientFactory | None) -> None:
        with self._lock:
            self._key, self._clients, self._fixed = None, None, clients


_CACHE = _ClientCache()


def clients_for(settings: Settings, home: str) -> ClientFactory:
    """The clients of a run (cached across warm invocations): the home account's state table, bus and
    topics, and each member account's on its role (`for_account`)."""
    return _CACHE.get(settings, home)


def reset(clients: ClientFactory | None = None) -> None:
    """Forget the cached clients and parameters: the next run builds its own, as after a cold start.
    With `clients`, every run uses those until the next reset (a session with its own credentials,
    endpoints or event hooks)."""
    global _PARAMETERS  # noqa: PLW0603 (a cold start's state, replaced whole)
    _CACHE.reset(clients)
    _PARAMETERS = ParameterReader()


# -- settings -----------------------------------------------------------------------------------------
# The SSM parameters holding what did not fit in the function's environment, read once per process.
_PARAMETERS = ParameterReader()


def load_settings() -> Settings:
    """The function's settings: its environment, and the SSM parameters SETTINGS_PARAMETERS names for
    the variables too large for it (infra/settings_parameters.py)."""
    return settings_from(read_parameters=_PARAMETERS)


# -- the invocation -----------------------------------------------------------------------------------
def home_account(settings: Settings, context: InvocationContext) -> str:
    """The deploying account: ACCOUNT_ID, else the function's own ARN."""
    if settings.account_id:
        return settings.account_id
    # arn:aws:lambda:<region>:<account>:function:<name>
    return context.invoked_function_arn.split(":")[4]


def check_lease(settings: Settings, context: InvocationContext) -> None:
    """A claim must outlive the run that wrote it, or another run takes it over while it is still being
    published (and both announce it). Refused before anything is claimed."""
    remaining = timedelta(milliseconds=context.get_remaining_time_in_millis())
    lease = int(settings.claim_lease.total_seconds())
    if settings.claim_lease <= remaining:
        raise SettingsError(
            f"invalid auditor environment: CLAIM_LEASE_SECONDS: {lease} s "
            f"is shorter than this invocation's remaining time ({int(remaining.total_seconds())} s); "
            "it must exceed the function timeout"
        )


def time_budget(context: InvocationContext) -> StopCheck:
    """True once less than TIME_BUDGET_MARGIN_MS is left of the invocation."""
    return lambda: context.get_remaining_time_in_millis() < TIME_BUDGET_MARGIN_MS


def accounts_of(settings: Settings, home: str, clients: ClientFactory) -> AccountList:
    """The accounts of this run (Organizations is asked only in organization mode)."""
    if not settings.from_organization:
        return resolve_accounts(settings, home)
    return resolve_accounts(settings, home, clients("organizations", settings.region))


# -- adapters and the use case ------------------------------------------------------------------------
def build_store(settings: Settings, clients: ClientFactory) -> DynamoStateStore:
    table = clients("dynamodb", settings.region)
    return DynamoStateStore(table, settings.state_table_name, settings.history_ttl)


def build_publishers(settings: Settings, clients: ClientFactory) -> list[Publisher]:
    """The bus, the notification topic, and the chat topic if configured."""
    region, source = settings.region, settings.event_source
    publishers: list[Publisher] = [
        EventBridgePublisher(clients("events", region), settings.event_bus_name, source),
        SnsPublisher(clients("sns", region), settings.notification_topic_arn, source, settings.notify_filter),
    ]
    if settings.chat_topic_arn:
        publishers.append(
            ChatPublisher(clients("sns", region), settings.chat_topic_arn, source, settings.notify_filter)
        )
    return publishers


def audit_policy(settings: Settings) -> AuditPolicy:
    return AuditPolicy(
        initial_lookback=settings.initial_lookback,
        overlap=settings.overlap,
        recheck_horizon=settings.recheck_horizon,
        claim_lease=settings.claim_lease,
        announce_baseline=settings.announce_baseline,
        stuck_after={kind: settings.stuck_threshold(kind) for kind in settings.job_kinds},
        stuck_repeat=settings.stuck_repeat,
        reconcile_every=settings.reconcile_every,
        reconcile_lookback=settings.reconcile_lookback,
        publish_retry=settings.publish_retry,
        digest_threshold=settings.digest_threshold,
        vanished_after_checks=settings.vanished_after_checks,
    )


def build_start_feed(settings: Settings, clients: ClientFactory, home: str | None) -> SqsStartFeed | None:
    """discovery=cloudtrail (START_QUEUE_URL set): the announced starts of the home account's jobs in
    the function's region; else None (every source lists)."""
    if not settings.start_queue_url or home is None:
        return None
    # Imported here: a deployment that lists (the default) never loads the CloudTrail feed.
    from job_auditor.auditor.adapters.start_queue import SqsStartFeed  # noqa: PLC0415

    return SqsStartFeed(
        clients("sqs", settings.region),
        settings.start_queue_url,
        account=home,
        region=settings.region,
        kinds=settings.job_kinds,
    )


def build_source_auditor(
    settings: Settings, clients: ClientFactory, home: str | None = None
) -> SourceAuditor:
    """The auditor of one source. `clients` serves the home account's state table, bus and topics; the
    job APIs are read with `clients.for_account(source.account)` (an AccountClients serves every
    member account; a plain ClientFactory only its own). With `home` (the deploying account), the
    start feed of discovery=cloudtrail if configured."""
    return SourceAuditor(
        job_api=BotoJobApi(clients),
        store=build_store(settings, clients),
        publishers=build_publishers(settings, clients),
        policy=audit_policy(settings),
        clock=_clock,
        start_feed=build_start_feed(settings, clients, home),
    )


def build_audit_step(
    settings: Settings,
    clients: ClientFactory,
    source_concurrency: int = SOURCE_CONCURRENCY,
    home: str | None = None,
) -> AuditStep:
    """Audits a plan, `source_concurrency` sources at once (the fan-out gives each account-region its
    share of the bound), delivers what it claimed and re-drives parked transitions (the fan-out's
    batches deliver their items' claims together, and its Plan step re-drives: `fanout`); with
    `home`, announced job starts replace listings where configured."""
    auditor = build_source_auditor(settings, clients, home)
    return AuditStep(auditor, auditor.store, _clock, concurrency=source_concurrency, redrive_parked=True)


def build_planner(settings: Settings, clients: ClientFactory) -> Planner:
    """Discovery through the job APIs, the audit records in the state table, the kinds where they are
    offered."""
    return Planner(BotoJobApi(clients), build_store(settings, clients), availability.offered, _clock)


def build_item_store(settings: Settings, home: str) -> ItemStore | None:
    """The fan-out's run bucket (ITEMS_BUCKET), if set."""
    if not settings.items_bucket:
        return None
    # Imported here: only the fan-out's steps have a run bucket; the direct handler never loads it.
    from job_auditor.auditor.adapters.item_store import ItemStore  # noqa: PLC0415

    return ItemStore(clients_for(settings, home)("s3", settings.region), settings.items_bucket)


def plan_run(
    settings: Settings,
    clients: ClientFactory,
    home: str,
    *,
    should_stop: StopCheck = never,
    account_concurrency: int = 1,
    find_orphans: bool = True,
) -> RunPlan:
    """This run's plan as configured: its accounts (listed from Organizations in organization mode),
    ACCOUNTS x AUDITED_REGIONS x JOB_KINDS, with the configured knowledge bases; and, unless this run's
    configuration is not the deployed one (`find_orphans` False), the known sources outside it."""
    accounts = accounts_of(settings, home, clients)
    return build_planner(settings, clients).plan(
        accounts.accounts,
        settings.audited_regions,
        settings.job_kinds,
        settings.configured_scopes,
        should_stop=should_stop,
        account_concurrency=account_concurrency,
        account_listing_error=accounts.error,
        find_orphans=find_orphans,
    )
