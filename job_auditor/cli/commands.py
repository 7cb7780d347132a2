"""The `job-auditor` commands: thin Click wrappers over the views (`views`), the output (`render`)
and the resources found from the stack (`resources`)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from botocore.exceptions import BotoCoreError, ClientError

from job_auditor import __version__
from job_auditor.auditor.adapters.state_reader import StateReader
from job_auditor.auditor.ports import SourceError
from job_auditor.cli import render, views
from job_auditor.cli.render import JSON, OUTPUTS, Column, ago, field, plural, seconds, short
from job_auditor.cli.resources import DEFAULT_STACK, STACK_ENV_VAR, ResourceError, Resources, Target, describe
from job_auditor.cli.times import FORM, parse_time
from job_auditor.contract.kinds import JOB_KINDS

_F = TypeVar("_F", bound=Callable[..., Any])
# What every command accepts: where the stack is, how to reach it, how to print.
_CONNECTION = ("stack", "construct", "region", "profile", "table")


class _Time(click.ParamType[datetime, Any]):
    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value), datetime.now(UTC))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


TIME = _Time()


def _common(command: _F) -> _F:
    """The options of every command, and its errors reported as one line (exit code 1)."""
    options = [
        click.option(
            "--stack",
            metavar="NAME",
            envvar=STACK_ENV_VAR,
            default=DEFAULT_STACK,
            show_default=True,
            help=f"CloudFormation stack holding the JobAuditor construct (also ${STACK_ENV_VAR}).",
        ),
        click.option(
            "--construct",
            metavar="PATH",
            help="The construct's path in the stack (its outputs' prefix), when the stack holds several.",
        ),
        click.option(
            "--region",
            metavar="REGION",
            help="AWS region of the stack (default: the SDK's: AWS_REGION, profile).",
        ),
        click.option(
            "--profile",
            metavar="PROFILE",
            help="AWS profile of the caller's credentials (default: the SDK's).",
        ),
        click.option("--table", metavar="NAME", help="State table, instead of the stack's StateTableName."),
        click.option(
            "--output",
            "-o",
            type=click.Choice(OUTPUTS),
            default=render.TABLE,
            show_default=True,
            help="A table for people, or JSON for scripts.",
        ),
    ]

    @functools.wraps(command)
    def reported(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (ResourceError, views.NotFound) as exc:
            raise click.ClickException(str(exc)) from exc
        except SourceError as exc:
            raise click.ClickException(f"{exc.code}: {exc}") from exc
        except (ClientError, BotoCoreError) as exc:
            raise click.ClickException(describe(exc)) from exc

    wrapped: Any = reported
    for option in reversed(options):
        wrapped = option(wrapped)
    return cast(_F, wrapped)


def _resources(kwargs: dict[str, Any], **extra: str | None) -> Resources:
    given = {name: kwargs.get(name) for name in _CONNECTION}
    return Resources(Target(**{k: v for k, v in {**given, **extra}.items() if v is not None}))


def _reader(resources: Resources) -> StateReader:
    return StateReader(resources.dynamodb(), resources.table_name)


def _where(kinds: Sequence[str] = (), accounts: Sequence[str] = ()) -> views.SourceFilter:
    return views.SourceFilter(kinds=tuple(kinds), accounts=tuple(accounts))


def _known_kinds(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [kind for kind in value if kind not in JOB_KINDS]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}: expected one of {', '.join(JOB_KINDS)}")
    return value


_KIND = click.option(
    "--kind",
    "kinds",
    multiple=True,
    metavar="KIND",
    callback=_known_kinds,
    help="Only this job kind (repeatable).",
)
_ACCOUNT = click.option(
    "--account", "accounts", multiple=True, metavar="ID", help="Only this account (repeatable)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="job-auditor")
def cli() -> None:
    """Operate a deployed job-auditor: its sources, jobs and transitions, a run from here, replays.

    Resources are found from the stack's CloudFormation outputs (--stack, default JobAuditor), with
    the caller's AWS credentials; AWS_ENDPOINT_URL_<SERVICE> points any service elsewhere."""


# -- status ----------------------------------------------------------------------------------------
def _status_columns(rows: Sequence[dict[str, Any]], now: datetime) -> list[Column]:
    columns = [Column("job kind", field("jobKind"))]
    if len({r["account"] for r in rows}) > 1:
        columns.append(Column("account", field("account")))
    if len({r["region"] for r in rows}) > 1:
        columns.append(Column("region", field("region")))
    if any(r["scopeIds"] for r in rows):
        columns.append(Column("scope", lambda r: "/".join(r["scopeIds"]) or "-"))
    return [
        *columns,
        Column("checkpoint", field("checkpoint")),
        Column("lag", seconds("lagSeconds"), "right"),
        Column("last run", ago("lastRunFinishedAt", now), "right"),
        Column("result", lambda r: r["result"] + (" (stopped early)" if r["stoppedEarly"] else "")),
        Column("transitions", field("transitions"), "right"),
        Column("in flight", field("jobsInFlight"), "right"),
        Column("pending", field("pendingClaims"), "right"),
        Column("parked", field("parked"), "right"),
    ]


@cli.command()
@_common
@_KIND
@_ACCOUNT
def status(output: str, kinds: tuple[str, ...], accounts: tuple[str, ...], **kwargs: Any) -> None:
    """Every source: checkpoint, last run and its result, jobs in flight, pending and parked claims,
    lag (now - the checkpoint)."""
    resources = _resources(kwargs)
    now = datetime.now(UTC)
    data = views.status(_reader(resources), now, _where(kinds, accounts))
    if output == JSON:
        render.emit_json(data)
        return
    rows = data["sources"]
    accounts_seen = sorted({r["account"] for r in rows})
    regions_seen = sorted({r["region"] for r in rows})
    title = f"{plural(len(rows), 'source')} in {resources.table_name}"
    if len(accounts_seen) == 1 and len(regions_seen) == 1:
        title += f" (account {accounts_seen[0]}, {regions_seen[0]})"
    render.table(title, _status_columns(rows, now), rows)
    for row in rows:
        if row["error"]:
            render.note(f"failed: {row['source']}: {row['error']}")
    if data["parked"]:
        render.table(
            "parked transitions (not announced; see docs/reliability.md)",
            [
                Column("source", field("source")),
                Column("job", field("jobId")),
                Column("status", field("status")),
                Column("eventId", field("eventId")),
                Column("parked", field("parkedAt")),
                Column("reason", field("reason")),
            ],
            data["parked"],
        )


# -- jobs ------------------------------------------------------------------------------------------
@cli.command()
@_common
@click.option("--in-flight", is_flag=True, help="Only jobs still tracked (not in a terminal status).")
@_KIND
@_ACCOUNT
def jobs(
    output: str, in_flight: bool, kinds: tuple[str, ...], accounts: tuple[str, ...], **kwargs: Any
) -> None:
    """The jobs the auditor tracks, oldest first."""
    resources = _resources(kwargs)
    now = datetime.now(UTC)
    rows = views.jobs(_reader(resources), _where(kinds, accounts), in_flight=in_flight)
    if output == JSON:
        render.emit_json(rows)
        return
    render.table(
        plural(len(rows), "job") + (" in flight" if in_flight else ""),
        [
            Column("job kind", field("jobKind")),
            Column("job", lambda r: str(r["jobName"] or r["jobId"])),
            Column("status", field("status")),
            Column("created", field("createdAt")),
            Column("in status for", ago("statusSince", now), "right"),
            Column("in flight", field("inFlight")),
            Column("pending claim", short("pendingEventId")),
        ],
        rows,
    )


# -- history ---------------------------------------------------------------------------------------
@cli.command()
@_common
@click.argument("job")
def history(output: str, job: str, **kwargs: Any) -> None:
    """A job's transitions (JOB: its id, ARN or name) with their times and eventIds."""
    resources = _resources(kwargs)
    rows = views.history(_reader(resources), job)
    if output == JSON:
        render.emit_json(rows)
        return
    several = len({r["jobId"] for r in rows}) > 1  # jobs of the same name
    render.table(
        f"{plural(len(rows), 'transition')} of {job}",
        [
            *([Column("job", field("jobId"))] if several else []),
            Column("observed", field("observedAt")),
            Column("transition", field("transition")),
            Column("from", field("previousStatus", "(new)")),
            Column("to", field("status")),
            Column("eventId", field("eventId")),
            Column("published", field("publishedAt")),
        ],
        rows,
    )


# -- run --------------------------------------------------------------------------------------------
def _read_env_file(path: Path) -> dict[str, str]:
    """NAME=VALUE lines (blank lines and # comments skipped; values taken as they are)."""
    env: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"line {number}: expected NAME=VALUE", param_hint="--env-file")
        env[name.strip().removeprefix("export ").strip()] = value.strip()
    return env


def _summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**s, "result": "failed" if s["error"] else ("stopped early" if s["stopped"] else "ok")}
        for s in summary["sources"]
    ]


@cli.command("run")
@_common
@click.option("--once", is_flag=True, help="One audit, now (required: the schedule runs the others).")
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The auditor's environment (NAME=VALUE lines) instead of the deployed function's.",
)
@click.option("--bus", metavar="NAME", help="Event bus, instead of the function's EVENT_BUS_NAME.")
@click.option("--topic", metavar="ARN", help="Topic, instead of the function's NOTIFICATION_TOPIC_ARN.")
def run(
    output: str, once: bool, env_file: Path | None, bus: str | None, topic: str | None, **kwargs: Any
) -> None:
    """One audit from here with the caller's credentials, configured as the deployed function is
    (its environment variables), printing the run summary. Claims, checkpoints and events are the
    real ones: a transition announced here is not announced again by the schedule."""
    if not once:
        raise click.UsageError("only one run at a time is supported: pass --once")
    resources = _resources(kwargs)
    function_arn = ""
    if env_file is not None:
        env = _read_env_file(env_file)
    else:
        function_arn, env = resources.function_configuration()
    overrides = {
        "STATE_TABLE_NAME": kwargs.get("table"),
        "EVENT_BUS_NAME": bus,
        "NOTIFICATION_TOPIC_ARN": topic,
    }
    env.update({name: value for name, value in overrides.items() if value})
    env["AWS_REGION"] = resources.region
    summary = _run_once(resources, env, function_arn)
    if output == JSON:
        render.emit_json(summary)
    else:
        render.table(
            f"run {summary['status']}: {plural(summary['transitions'], 'transition')}, "
            f"{summary['published']} published",
            [
                Column("source", field("source")),
                Column("window from", field("window_start")),
                Column("listed", field("jobs_listed"), "right"),
                Column("in flight", field("jobs_in_flight"), "right"),
                Column("transitions", field("transitions"), "right"),
                Column("published", field("published"), "right"),
                Column("API calls", field("api_calls"), "right"),
                Column("ms", field("duration_ms"), "right"),
                Column("result", field("result")),
            ],
            _summary_rows(summary),
        )
        for source in summary["sources"]:
            if source["error"]:
                render.note(f"failed: {source['source']}: {source['error']}")
    if summary["status"] != "ok":
        raise SystemExit(1)


def _run_once(resources: Resources, env: dict[str, str], function_arn: str) -> dict[str, Any]:
    """The Lambda's own wiring (`auditor.wiring` on `load_settings`), run in this process."""
    # Imported here: the read-only commands need none of the auditor's wiring.
    from job_auditor.auditor import wiring  # noqa: PLC0415
    from job_auditor.auditor.settings import SettingsError, load_settings  # noqa: PLC0415

    try:
        settings = load_settings(env)
    except SettingsError as exc:
        raise ResourceError(str(exc)) from exc
    account = settings.account_id or (function_arn.split(":")[4] if function_arn.count(":") >= 4 else "")
    if not account:
        raise ResourceError("the account to audit is unknown: set ACCOUNT_ID in the environment file")
    # As the Lambda wires it, on the caller's session: member accounts (ACCOUNTS) are read through
    # their roles, which trust only the auditor's role, so from a laptop they fail, each named.
    clients = wiring.member_clients(settings, account, home_session=resources.session)
    # A claim must outlive the run that wrote it (the Lambda checks its timeout against the lease):
    # stop starting new work a minute before the lease would run out.
    deadline = time.monotonic() + max(settings.claim_lease.total_seconds() - 60, 30)

    def should_stop() -> bool:
        return time.monotonic() > deadline

    plan = wiring.plan_run(settings, clients, account, should_stop=should_stop)
    return wiring.build_audit_step(settings, clients, home=account).run(plan, should_stop).as_dict()


# -- replay -----------------------------------------------------------------------------------------
def _event_source(resources: Resources, given: str | None) -> str:
    if given:
        return given
    try:
        _, env = resources.function_configuration()
    except ResourceError as exc:
        raise ResourceError(f"{exc} (or pass --event-source)") from exc
    return env.get("EVENT_SOURCE") or "job-auditor"


@cli.command()
@_common
@click.option("--since", required=True, type=TIME, help=f"From this observation time: {FORM}.")
@click.option("--until", type=TIME, help="Up to this observation time (default: now).")
@click.option("--job", metavar="JOB", help="Only this job (its id, ARN or name).")
@click.option(
    "--notify",
    is_flag=True,
    help="Also publish to the notification topic: people get the notifications again. "
    "Default: the event bus only.",
)
@click.option("--dry-run", is_flag=True, help="List what would be sent; send nothing.")
@click.option("--bus", metavar="NAME", help="Event bus, instead of the stack's EventBusName.")
@click.option("--topic", metavar="ARN", help="Topic (--notify), instead of the stack's NotificationTopicArn.")
@click.option(
    "--event-source",
    metavar="SOURCE",
    help="The events' source (default: the auditor function's EVENT_SOURCE).",
)
def replay(
    output: str,
    since: datetime,
    until: datetime | None,
    job: str | None,
    notify: bool,
    dry_run: bool,
    bus: str | None,
    topic: str | None,
    event_source: str | None,
    **kwargs: Any,
) -> None:
    """Re-publish transitions from history, as first published (same eventId and detail), to the
    event bus only unless --notify. Consumers that deduplicate on eventId see them once."""
    from job_auditor.auditor.adapters.publishers import EventBridgePublisher, SnsPublisher  # noqa: PLC0415

    resources = _resources(kwargs, bus=bus, topic=topic)
    found = views.replay_set(_reader(resources), since, until, job=job)
    outcomes: list[tuple[str, Callable[[str], bool]]] = []
    failed = 0
    if not dry_run and found.transitions:
        source = _event_source(resources, event_source)
        channels: list[tuple[str, Any]] = [
            ("eventbridge", EventBridgePublisher(resources.events(), resources.bus_name, source))
        ]
        if notify:
            channels.append(("sns", SnsPublisher(resources.sns(), resources.topic_arn, source)))
        for name, publisher in channels:
            result = publisher.publish(found.transitions)
            delivered = {t.event_id for t in result.delivered}
            failed += len(result.failed)
            outcomes.append((name, delivered.__contains__))
    rows = views.sent_rows(found.rows, outcomes)
    if output == JSON:
        render.emit_json({"dryRun": dry_run, "replayed": rows, "notReplayable": found.not_replayable})
    else:
        verb = "would replay" if dry_run else "replayed"
        render.table(
            f"{verb} {plural(len(rows), 'transition')}",
            [
                Column("observed", field("observedAt")),
                Column("job kind", field("jobKind")),
                Column("job", lambda r: str(r["jobName"] or r["jobId"])),
                Column("transition", field("transition")),
                Column("to", field("status")),
                Column("eventId", field("eventId")),
                *(Column(name, field(name)) for name, _ in outcomes),
            ],
            rows,
        )
        if found.not_replayable:
            render.note(
                f"{len(found.not_replayable)} history items predate replay support (no published "
                "transition kept): not replayed"
            )
    if failed:
        raise click.ClickException(f"{failed} deliveries failed; run the replay again to retry them")


def main(args: Sequence[str] | None = None) -> None:
    """The `job-auditor` console script."""
    cli.main(args=list(args) if args is not None else None, prog_name="job-auditor")
