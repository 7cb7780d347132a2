"""The `job-auditor` commands: thin Click wrappers over the views (`views`), the output (`render`)
and the resources found from the stack (`resources`). The global options and exit codes are in
`options`, the permissions each command needs in `permissions`."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from job_auditor import __version__, stack_outputs
from job_auditor.auditor.adapters.publishers import CHANNEL_NAMES
from job_auditor.auditor.adapters.state_reader import StateReader
from job_auditor.cli import permissions, render, views
from job_auditor.cli.options import (
    ERROR,
    OK,
    PARTIAL,
    USAGE,
    Command,
    Options,
    Partial,
    Refused,
    command_options,
    exit_codes_help,
    group_options,
    options,
)
from job_auditor.cli.render import (
    CSV,
    JSON,
    Column,
    ago,
    field,
    last_part,
    left,
    plural,
    prefix,
    right,
    seconds,
)
from job_auditor.cli.resources import ResourceError, Resources
from job_auditor.cli.times import FORM, duration, parse_time
from job_auditor.contract.environment import CHAT_TOPIC, EVENT_BUS, NOTIFICATION_TOPIC, STATE_TABLE, setting
from job_auditor.contract.kinds import JOB_KINDS

if TYPE_CHECKING:
    from job_auditor.auditor.adapters.accounts import AccountClients
    from job_auditor.auditor.settings import Settings


def now() -> datetime:
    """The time the commands read ages and windows against."""
    return datetime.now(UTC)


def command_line_now(ctx: click.Context) -> datetime:
    """The one "now" of a command line: its ages (`--since 1d --until 1d`) and its window's end are
    measured from it, so a window of no length is one."""
    moment: datetime = ctx.find_root().meta.setdefault("job_auditor.now", now())
    return moment


class _Time(click.ParamType[datetime, Any]):
    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        # One "now" for every time of a command line: `--since 1d --until 1d` is a window of no length.
        moment = now() if ctx is None else command_line_now(ctx)
        try:
            return parse_time(str(value), moment)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


TIME = _Time()


def _resources(opts: Options) -> Resources:
    return Resources(opts.target())


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


class _Group(click.Group):
    command_class = Command


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=exit_codes_help(),
)
@click.version_option(__version__, prog_name="job-auditor")
@group_options
def cli(**_: Any) -> None:
    """Operate a deployed job-auditor: its sources, jobs and transitions, a run from here, replays.

    Resources are found from the stack's CloudFormation outputs (--stack, default JobAuditor), with
    the caller's AWS credentials; AWS_ENDPOINT_URL_<SERVICE> points any service elsewhere. The
    global options go before or after the command's name."""


def _several(rows: Sequence[dict[str, Any]], name: str) -> bool:
    return len({str(r.get(name)) for r in rows}) > 1


def _where_columns(rows: Sequence[dict[str, Any]]) -> list[Column]:
    """Account and region columns, each only when the rows are of several."""
    return [left(name, field(name), rank=2) for name in ("account", "region") if _several(rows, name)]


def _scope_column(rows: Sequence[dict[str, Any]]) -> list[Column]:
    if not any(r.get("scopeIds") for r in rows):
        return []
    return [
        left(
            "scope",
            lambda r: "/".join(r["scopeIds"]) or "-",
            rank=2,
            short=lambda r: "/".join(i[:8] for i in r["scopeIds"]) or "-",
        )
    ]


# -- status ----------------------------------------------------------------------------------------
def _status_columns(rows: Sequence[dict[str, Any]], at: datetime) -> list[Column]:
    return [
        left("job kind", field("jobKind")),
        *_where_columns(rows),
        *_scope_column(rows),
        left("checkpoint", field("checkpoint"), rank=4),
        right("lag", seconds("lagSeconds"), rank=2),
        right("last run", ago("lastRunFinishedAt", at), rank=2),
        left("result", lambda r: r["result"] + (" (stopped early)" if r["stoppedEarly"] else "")),
        right("transitions", field("transitions"), rank=3),
        right("in flight", field("jobsInFlight"), rank=2),
        right("pending", field("pendingClaims"), rank=3),
        right("parked", field("parked"), rank=2),
    ]


_PARKED_COLUMNS = [
    left("source", field("source"), rank=3),
    left("job", field("jobId"), short=last_part(field("jobId"))),
    left("status", field("status"), rank=2),
    left("eventId", field("eventId"), rank=2, short=prefix("eventId")),
    left("parked", field("parkedAt"), rank=3),
    left("reason", field("reason"), wrap=True),
]


@cli.command(epilog=exit_codes_help((OK, ERROR, USAGE)))
@command_options
@_KIND
@_ACCOUNT
@click.pass_context
def status(ctx: click.Context, kinds: tuple[str, ...], accounts: tuple[str, ...]) -> None:
    """Every source: checkpoint, last run and its result, jobs in flight, pending and parked claims,
    lag (now - the checkpoint); and the parked transitions."""
    opts = options(ctx)
    resources = _resources(opts)
    at = now()
    data = views.status(_reader(resources), at, _where(kinds, accounts))
    if opts.output == JSON:
        render.emit_json(data)
        return
    rows = data["sources"]
    title = f"{plural(len(rows), 'source')} in {resources.table_name}"
    if rows and not _several(rows, "account") and not _several(rows, "region"):
        title += f" (account {rows[0]['account']}, {rows[0]['region']})"
    render.table(title, _status_columns(rows, at), rows)
    for row in rows:
        if row["error"]:
            render.note(f"failed: {row['source']}: {row['error']}")
    if data["parked"]:
        render.table(
            "parked transitions (channels that gave up on them; job-auditor replay --parked re-drives)",
            _PARKED_COLUMNS,
            data["parked"],
        )


# -- jobs ------------------------------------------------------------------------------------------
JOB_FIELDS = (
    "source",
    "jobKind",
    "account",
    "region",
    "jobId",
    "jobName",
    "jobArn",
    "status",
    "inFlight",
    "createdAt",
    "statusSince",
    "endedAt",
    "failureMessage",
    "lastEventId",
    "pendingEventId",
)


@cli.command(epilog=exit_codes_help((OK, ERROR, USAGE)))
@command_options
@click.option("--in-flight", is_flag=True, help="Only jobs still tracked (not in a terminal status).")
@_KIND
@_ACCOUNT
@click.pass_context
def jobs(ctx: click.Context, in_flight: bool, kinds: tuple[str, ...], accounts: tuple[str, ...]) -> None:
    """The jobs the auditor tracks, oldest first."""
    opts = options(ctx, render.OUTPUTS)
    at = now()
    rows = views.jobs(_reader(_resources(opts)), _where(kinds, accounts), in_flight=in_flight)
    if opts.output == JSON:
        render.emit_json(rows)
        return
    if opts.output == CSV:
        render.emit_csv(rows, JOB_FIELDS)
        return
    render.table(
        plural(len(rows), "job") + (" in flight" if in_flight else ""),
        [
            left("job kind", field("jobKind")),
            *_where_columns(rows),
            left(
                "job",
                lambda r: str(r["jobName"] or r["jobId"]),
                short=lambda r: str(r["jobName"] or last_part(field("jobId"))(r)),
            ),
            left("status", field("status")),
            left("created", field("createdAt"), rank=3),
            right("in status for", ago("statusSince", at), rank=2),
            left("in flight", field("inFlight"), rank=3),
            left("pending claim", field("pendingEventId"), rank=3, short=prefix("pendingEventId")),
        ],
        rows,
    )


# -- history ---------------------------------------------------------------------------------------
HISTORY_FIELDS = (
    "observedAt",
    "source",
    "jobId",
    "jobName",
    "transition",
    "previousStatus",
    "status",
    "eventId",
    "publishedAt",
    "replayable",
)


@cli.command(epilog=exit_codes_help((OK, ERROR, USAGE)))
@command_options
@_KIND
@_ACCOUNT
@click.argument("job")
@click.pass_context
def history(ctx: click.Context, job: str, kinds: tuple[str, ...], accounts: tuple[str, ...]) -> None:
    """The transitions of one job (JOB: its id or ARN, or its name if no other job has it) with their
    times and eventIds. A name several jobs share is refused, listing them (exit 2)."""
    opts = options(ctx, render.OUTPUTS)
    rows = views.history(_reader(_resources(opts)), job, _where(kinds, accounts))
    if opts.output == JSON:
        render.emit_json(rows)
        return
    if opts.output == CSV:
        render.emit_csv(rows, HISTORY_FIELDS)
        return
    render.table(
        f"{plural(len(rows), 'transition')} of {job}",
        [
            left("observed", field("observedAt")),
            left("transition", field("transition")),
            left("from", field("previousStatus", "(new)"), rank=3),
            left("to", field("status")),
            left("eventId", field("eventId"), rank=2, short=prefix("eventId")),
            left("published", field("publishedAt"), rank=4),
        ],
        rows,
    )


# -- run --------------------------------------------------------------------------------------------
def _read_env_file(path: Path) -> dict[str, str]:
    """The file's variables with dotenv's rules (quotes, `export`, inline comments, ${VAR}); a line
    dotenv cannot parse, or a name without a value, is a usage error naming its line."""
    # Imported here: only this option needs python-dotenv.
    from dotenv import dotenv_values  # noqa: PLC0415
    from dotenv.parser import parse_stream  # noqa: PLC0415

    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            if binding.error:
                line = binding.original
                raise click.BadParameter(
                    f"line {line.line}: expected NAME=VALUE, got {line.string.strip()!r}",
                    param_hint="--env-file",
                )
    values = dotenv_values(path, encoding="utf-8")
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise click.BadParameter(
            f"{', '.join(missing)}: no value (expected NAME=VALUE)", param_hint="--env-file"
        )
    return {name: value for name, value in values.items() if value is not None}


def _run_columns(rows: Sequence[dict[str, Any]]) -> list[Column]:
    return [
        left("job kind", field("jobKind")),
        *_where_columns(rows),
        *_scope_column(rows),
        left("window from", field("windowStart"), rank=4),
        right("listed", field("jobsListed"), rank=3),
        right("in flight", field("jobsInFlight"), rank=2),
        right("transitions", field("transitions")),
        right("published", field("published")),
        right("API calls", field("apiCalls"), rank=3),
        right("took", lambda r: duration(r["durationMs"]), rank=3),
        left("result", field("result")),
    ]


@cli.command("run", epilog=exit_codes_help((OK, ERROR, USAGE, PARTIAL)))
@command_options
@click.option("--once", is_flag=True, help="One audit, now (required: the schedule runs the others).")
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The auditor's environment (a .env file: NAME=VALUE lines, dotenv's quoting) instead of the "
    "deployed function's.",
)
@click.pass_context
def run(ctx: click.Context, once: bool, env_file: Path | None) -> None:
    """One audit from here with the caller's credentials, configured as the deployed function is
    (its environment variables), printing the run summary. Claims, checkpoints and events are the
    real ones: a transition announced here is not announced again by the schedule."""
    if not once:
        raise click.UsageError("only one run at a time is supported: pass --once")
    opts = options(ctx)
    resources = _resources(opts)
    function_arn = ""
    if env_file is not None:
        env = _read_env_file(env_file)
    else:
        try:
            function_arn, env = resources.function_configuration()
        except ResourceError as exc:
            # The run needs the function's whole configuration: --table, --bus and --topic are not it.
            raise ResourceError(
                f"{exc} (or pass --env-file: run --once needs the function's environment)"
            ) from exc
    # The settings table names the variables (contract.environment).
    overrides = {
        str(STATE_TABLE.env_var): opts.table,
        str(EVENT_BUS.env_var): opts.bus,
        str(NOTIFICATION_TOPIC.env_var): opts.topic,
    }
    env.update({name: value for name, value in overrides.items() if value})
    env["AWS_REGION"] = resources.region
    # An environment file is a configuration of its own: the sources it leaves out are not wound down.
    summary = views.run_summary(_run_once(resources, env, function_arn, deployed=env_file is None))
    if opts.output == JSON:
        render.emit_json(summary)
    else:
        rows = summary["sources"]
        render.table(
            f"run {summary['status']}: {plural(summary['transitions'], 'transition')}, "
            f"{summary['published']} published",
            _run_columns(rows),
            rows,
        )
        for source in rows:
            if source["error"]:
                render.note(f"failed: {source['source']}: {source['error']}")
    if summary["status"] != "ok":
        failed = len(summary["failedSources"])
        raise Partial(
            f"run {summary['status']}: {plural(failed, 'source')} failed"
            + (", stopped early" if summary["stoppedEarly"] else "")
        )


def _auditor(
    resources: Resources, env: dict[str, str], function_arn: str, *, from_file: bool = False
) -> tuple[Settings, AccountClients, str]:
    """The auditor's settings (`load_settings` on its environment), its clients as the Lambda wires
    them on the caller's session, and the home account (`from_file`: see `_load_settings`)."""
    from job_auditor.auditor import wiring  # noqa: PLC0415

    settings = _load_settings(resources, env, from_file=from_file)
    account = settings.account_id or (function_arn.split(":")[4] if function_arn.count(":") >= 4 else "")
    if not account:
        raise ResourceError("the account to audit is unknown: set ACCOUNT_ID in the environment file")
    # As the Lambda wires it, on the caller's session: member accounts (ACCOUNTS) are read through
    # their roles, which trust only the auditor's role, so from a laptop they fail, each named.
    return settings, wiring.member_clients(settings, account, home_session=resources.session), account


def _load_settings(resources: Resources, env: dict[str, str], *, from_file: bool = False) -> Settings:
    """`load_settings` on the auditor's environment, as the Lambda does (settings too large for the
    function's environment are in SSM parameters, SETTINGS_PARAMETERS). A bad value in an environment
    file the operator gave is a bad value given (exit 2); in the deployed function's, an error (exit 1)."""
    from job_auditor.auditor.adapters.parameters import ParameterReader  # noqa: PLC0415
    from job_auditor.auditor.settings import SettingsError, load_settings  # noqa: PLC0415

    try:
        reader = ParameterReader(session=resources.session, region=resources.region)
        return load_settings(env, read_parameters=reader)
    except SettingsError as exc:
        raise (Refused if from_file else ResourceError)(str(exc)) from exc


def _run_once(
    resources: Resources, env: dict[str, str], function_arn: str, *, deployed: bool
) -> dict[str, Any]:
    """The Lambda's own wiring (`auditor.wiring` on `load_settings`), run in this process; `deployed`:
    the environment is the deployed function's (a source outside it is an orphan, wound down)."""
    # Imported here: the read-only commands need none of the auditor's wiring.
    from job_auditor.auditor import wiring  # noqa: PLC0415

    settings, clients, account = _auditor(resources, env, function_arn, from_file=not deployed)
    # A claim must outlive the run that wrote it (the Lambda checks its timeout against the lease):
    # stop starting new work a minute before the lease would run out.
    deadline = time.monotonic() + max(settings.claim_lease.total_seconds() - 60, 30)

    def should_stop() -> bool:
        return time.monotonic() > deadline

    plan = wiring.plan_run(settings, clients, account, should_stop=should_stop, find_orphans=deployed)
    return wiring.build_audit_step(settings, clients, home=account).run(plan, should_stop).as_dict()


# -- replay -----------------------------------------------------------------------------------------
def _event_source(resources: Resources, given: str | None) -> str:
    if given:
        return given
    try:
        _, env = resources.function_configuration()
    except ResourceError as exc:
        raise ResourceError(f"{exc} (or pass --event-source)") from exc
    event_source = setting("eventSource")
    return env.get(str(event_source.env_var)) or event_source.default_text({})


def _can_ask() -> bool:
    """Whether a person can answer a question: standard input is a terminal."""
    return sys.stdin.isatty()


_LISTED_BEFORE_ASKING = 10


def _confirm(question: str, yes: bool, refusal: str) -> None:
    """Ask before sending people or channels something again: --yes answers; off a terminal without
    it, the command is refused (exit 2); a person who says no stops it (exit 1)."""
    if yes:
        return
    if not _can_ask():
        raise Refused(f"{refusal}: confirm with --yes when not at a terminal")
    if not click.confirm(question, default=False, err=True):
        raise click.ClickException("nothing sent")


def _confirm_notify(rows: Sequence[dict[str, Any]], yes: bool) -> None:
    """People are about to get notifications again: they see which (on stderr, so that JSON output
    stays whole) and say so, or --yes does."""
    if not yes and _can_ask():
        for row in rows[:_LISTED_BEFORE_ASKING]:
            job = row["jobName"] or row["jobId"]
            click.echo(f"  {row['observedAt']}  {job}  {row['transition']} -> {row['status']}", err=True)
        if len(rows) > _LISTED_BEFORE_ASKING:
            more = len(rows) - _LISTED_BEFORE_ASKING
            click.echo(f"  ... and {more} more (--dry-run lists them all)", err=True)
    _confirm(
        f"Send {plural(len(rows), 'notification')} to the topics' subscribers (email, chat) again?",
        yes,
        "--notify sends people the notifications again",
    )


def _publish(
    resources: Resources, found: views.ReplaySet, event_source: str | None, notify: bool
) -> dict[str, set[str]]:
    """The transitions through the auditor's own publishers (the bus; the topic with --notify): the
    eventIds each channel delivered."""
    from job_auditor.auditor.adapters.publishers import EventBridgePublisher, SnsPublisher  # noqa: PLC0415

    source = _event_source(resources, event_source)
    channels: list[tuple[str, Any]] = [
        ("eventbridge", EventBridgePublisher(resources.events(), resources.bus_name, source))
    ]
    if notify:
        channels.append(("sns", SnsPublisher(resources.sns(), resources.topic_arn, source)))
        if (chat := _chat_channel(resources, source)) is not None:
            channels.append(("chat", chat))
    delivered: dict[str, set[str]] = {}
    for name, publisher in channels:
        result = publisher.publish(found.transitions)
        delivered[name] = {t.event_id for t in result.delivered}
    return delivered


def _chat_channel(resources: Resources, source: str) -> Any | None:
    """The auditor's chat channel where it has one (Slack and Teams through Amazon Q Developer subscribe
    to its chat topic, not to the notification topic): the chat topic, with the notify filter the
    auditor applies there (a chat subscription takes no filter policy). None without one."""
    from job_auditor.auditor.adapters.publishers import ChatPublisher  # noqa: PLC0415

    try:
        _, env = resources.function_configuration()
    except ResourceError as exc:
        render.note(f"the chat channels are not notified: {exc}")
        return None
    if not env.get(str(CHAT_TOPIC.env_var)):
        return None
    env.update({str(STATE_TABLE.env_var): resources.table_name, "AWS_REGION": resources.region})
    settings = _load_settings(resources, env)
    return ChatPublisher(resources.sns(), str(settings.chat_topic_arn), source, settings.notify_filter)


def _delivery_cell(channel: str) -> render.Cell:
    return lambda row: "sent" if row["delivered"][channel] else "FAILED"


def _replay_title(rows: Sequence[dict[str, Any]], delivered: dict[str, set[str]], dry_run: bool) -> str:
    if dry_run:
        return f"would replay {plural(len(rows), 'transition')} (dry run: nothing sent)"
    if not rows:
        return "nothing to replay: no transition observed in that window"
    counts = ", ".join(f"{len(ids)} of {len(rows)} to {_CHANNELS[name]}" for name, ids in delivered.items())
    return f"replayed {counts}"


_CHANNELS = {"eventbridge": "the event bus", "sns": "the notification topic", "chat": "the chat topic"}


@cli.command(epilog=exit_codes_help((OK, ERROR, USAGE, PARTIAL)))
@command_options
@click.option("--since", type=TIME, help=f"From this observation time: {FORM}.")
@click.option("--until", type=TIME, help="Up to this observation time (default: now).")
@click.option(
    "--parked",
    is_flag=True,
    help="Instead of history: the parked transitions, to the channels that gave up on them.",
)
@click.option(
    "--channel",
    type=click.Choice(CHANNEL_NAMES),
    help="With --parked: only to this channel (and only transitions it parked).",
)
@click.option(
    "--job", metavar="JOB", help="Only this job (its id or ARN, or its name if no other job has it)."
)
@_KIND
@_ACCOUNT
@click.option(
    "--notify",
    is_flag=True,
    help="Also publish to the notification topic: people get the notifications again (asks first). "
    "Default: the event bus only.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask (--notify, --parked; needed off a terminal).")
@click.option("--dry-run", is_flag=True, help="List what would be sent; send nothing.")
@click.option(
    "--event-source",
    metavar="SOURCE",
    help="The events' source (default: the auditor function's EVENT_SOURCE).",
)
@click.pass_context
def replay(
    ctx: click.Context,
    since: datetime | None,
    until: datetime | None,
    parked: bool,
    channel: str | None,
    job: str | None,
    kinds: tuple[str, ...],
    accounts: tuple[str, ...],
    notify: bool,
    yes: bool,
    dry_run: bool,
    event_source: str | None,
) -> None:
    """Re-publish transitions from history, as first published (same eventId and detail), to the
    event bus only unless --notify. Consumers that deduplicate on eventId see them once. Only what
    history holds is sent; a --job name several jobs share, and an empty or reversed window, are
    refused (exit 2). With --parked instead of --since: deliver the parked transitions to the
    channels that gave up on them, each channel that takes one removed from it."""
    opts = options(ctx)
    if parked == (since is not None):
        raise Refused("give --since (history) or --parked, one of them")
    # An option the chosen form does not use is a mistake to say, not to ignore.
    unused = (
        {"--until": until, "--notify": notify, "--event-source": event_source}
        if parked
        else {"--channel": channel}
    )
    if given := [name for name, value in unused.items() if value]:
        form = "--parked" if parked else "--since"
        raise Refused(f"{', '.join(given)}: not used with {form}")
    if parked:
        where = _where(kinds, accounts)
        _replay_parked(opts, job=job, channel=channel, where=where, dry_run=dry_run, yes=yes)
        return
    assert since is not None
    try:
        views.check_window(since, until, command_line_now(ctx))
    except views.EmptyWindow as exc:
        raise Refused(str(exc)) from exc
    resources = _resources(opts)
    found = views.replay_set(_reader(resources), since, until, job=job, where=_where(kinds, accounts))
    delivered: dict[str, set[str]] = {}
    if not dry_run and found.transitions:
        if notify:
            _confirm_notify(found.rows, yes)
        delivered = _publish(resources, found, event_source, notify)
    rows = views.sent_rows(found.rows, delivered)
    failed = {name: len(rows) - len(ids) for name, ids in delivered.items() if len(ids) < len(rows)}
    if opts.output == JSON:
        render.emit_json(
            {
                "dryRun": dry_run,
                "transitions": rows,
                "sent": {name: len(ids) for name, ids in delivered.items()},
                "failed": failed,
                "notReplayable": found.not_replayable,
            }
        )
    else:
        render.table(
            _replay_title(rows, delivered, dry_run),
            [
                left("observed", field("observedAt")),
                left("job kind", field("jobKind"), rank=3),
                left("job", lambda r: str(r["jobName"] or r["jobId"]), short=last_part(field("jobId"))),
                left("transition", field("transition"), rank=2),
                left("to", field("status"), rank=2),
                left("eventId", field("eventId"), rank=2, short=prefix("eventId")),
                *(left(name, _delivery_cell(name)) for name in delivered),
            ],
            rows,
        )
        if found.not_replayable:
            render.note(
                f"{len(found.not_replayable)} history items predate replay support (no published "
                "transition kept): not replayed"
            )
    if failed:
        raise Partial(
            "; ".join(f"{count} deliveries to {_CHANNELS[name]} failed" for name, count in failed.items())
            + ": run the replay again to retry them (consumers deduplicate on eventId)"
        )


# -- iam-policy -------------------------------------------------------------------------------------
@cli.command("iam-policy", epilog=exit_codes_help((OK, ERROR, USAGE)))
@command_options
@click.option(
    "--command",
    "commands",
    multiple=True,
    type=click.Choice(list(permissions.COMMANDS)),
    metavar="COMMAND",
    help=f"Only what this command needs: {', '.join(permissions.COMMANDS)} (repeatable; default: every "
    "command).",
)
@click.option(
    "--template",
    is_flag=True,
    help="ARNs with ${Output} placeholders for the stack's outputs, without reading the stack (a comma-list "
    "output, ${AuditedRegions} or ${SettingsParameterArns}, stands for its items, one list element each).",
)
@click.pass_context
def iam_policy(ctx: click.Context, commands: tuple[str, ...], template: bool) -> None:
    """The least-privilege IAM policy (JSON) an operator needs for these commands, its ARNs those of the
    stack's resources (read from its outputs)."""
    opts = options(ctx)  # the policy is JSON whatever --output says: it is for IAM, not for people
    wanted = commands or tuple(permissions.COMMANDS)
    if template:
        values = permissions.PLACEHOLDERS
    else:
        resources = _resources(opts)
        # The resources the other commands would use: --table, --topic override the stack's outputs.
        given = {
            stack_outputs.STATE_TABLE_NAME: opts.table,
            stack_outputs.NOTIFICATION_TOPIC_ARN: opts.topic,
        }
        outputs = {**resources.outputs, **{name: value for name, value in given.items() if value}}
        # What run --once and the replays that use the auditor's settings need is only known from the
        # outputs a stack has had since 0.3 (its regions, kinds, accounts, moved settings).
        if set(wanted) & permissions.NEED_THE_AUDIT_SCOPE and stack_outputs.AUDITED_REGIONS not in outputs:
            raise ResourceError(
                f"stack {opts.stack!r} was deployed by a version without the AuditedRegions output: its "
                "policy for run and replay --parked/--notify cannot be known (the audited regions and kinds, "
                "settings in SSM): redeploy it, or choose --command status, jobs, history or replay"
            )
        values = permissions.values_of(opts.stack, resources.region, outputs)
        if opts.bus:
            values[stack_outputs.EVENT_BUS_ARN] = (
                f"arn:{values['Partition']}:events:{resources.region}:{values['Account']}:event-bus/{opts.bus}"
            )
    document = permissions.policy(wanted, values)
    if not template and (missing := permissions.unfilled(document)):
        named = ", ".join("${" + name + "}" for name in missing)
        raise ResourceError(
            f"stack {opts.stack!r}: the policy would keep {named}, which its outputs do not give (a stack "
            "deployed by an older version, or not a JobAuditor's): redeploy it, or pass --template"
        )
    render.emit_json(document)


def _per_channel(name: str) -> render.Cell:
    return lambda row: ", ".join(f"{channel}: {what}" for channel, what in row[name].items())


def _replay_parked(
    opts: Options,
    *,
    job: str | None,
    channel: str | None,
    where: views.SourceFilter,
    dry_run: bool,
    yes: bool,
) -> None:
    """Re-drive parked transitions with the auditor's own channels (its environment, with the global
    options' table, bus and topic), original eventIds."""
    from job_auditor.auditor import wiring  # noqa: PLC0415
    from job_auditor.auditor.delivery import redrive  # noqa: PLC0415

    resources = _resources(opts)
    found = views.parked_set(_reader(resources), job=job, channel=channel, where=where)
    outcomes: list[Any] = []
    if found and not dry_run:
        to = channel or "the channels that gave up on them"
        _confirm(
            f"Re-drive {plural(len(found), 'parked transition')} to {to}?",
            yes,
            "--parked delivers parked transitions again",
        )
        function_arn, env = resources.function_configuration()
        overrides = {"EVENT_BUS_NAME": opts.bus, "NOTIFICATION_TOPIC_ARN": opts.topic}
        env.update({name: value for name, value in overrides.items() if value})
        env.update({"STATE_TABLE_NAME": resources.table_name, "AWS_REGION": resources.region})
        settings, clients, _ = _auditor(resources, env, function_arn)
        outcomes = redrive(
            wiring.build_store(settings, clients),
            wiring.build_publishers(settings, clients),
            found,
            now(),
            digest_threshold=settings.digest_threshold,
            channels=None if channel is None else {channel},
            only_retryable=False,
        )
    rows = views.parked_rows(found, outcomes)
    if opts.output == JSON:
        render.emit_json({"dryRun": dry_run, "parked": rows})
    else:
        verb = "would re-drive" if dry_run else "re-drove"
        render.table(
            f"{verb} {plural(len(rows), 'parked transition')}",
            [
                left("parked", field("parkedAt"), rank=3),
                left("job", lambda r: str(r["jobName"] or r["jobId"]), short=last_part(field("jobId"))),
                left("to", field("status"), rank=2),
                left("eventId", field("eventId"), rank=2, short=prefix("eventId")),
                left("channels", _per_channel("channels"), wrap=True),
                *([] if dry_run else [left("re-driven", _per_channel("redriven"), wrap=True)]),
            ],
            rows,
        )
    failed = sum(what != "delivered" for o in outcomes for what in o.channels.values())
    if failed:
        raise Partial(f"{failed} deliveries failed; they stay parked")


def main(args: Sequence[str] | None = None) -> None:
    """The `job-auditor` console script."""
    cli.main(args=list(args) if args is not None else None, prog_name="job-auditor")
