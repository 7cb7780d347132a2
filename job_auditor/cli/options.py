"""What every command shares: the global options (accepted before or after the command's name), the
exit codes, and the errors that map to them. No AWS here."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import click
from botocore.exceptions import BotoCoreError, ClientError
from click.core import ParameterSource

from job_auditor.auditor.ports import SourceError
from job_auditor.cli import render
from job_auditor.cli.resources import DEFAULT_STACK, STACK_ENV_VAR, ResourceError, Target, describe
from job_auditor.cli.views import Ambiguous, NotFound

_F = TypeVar("_F", bound=Callable[..., Any])

# -- exit codes ------------------------------------------------------------------------------------
OK, ERROR, USAGE, PARTIAL = 0, 1, 2, 3
EXIT_CODES = {
    OK: "ok",
    ERROR: "error: an AWS call failed; a stack, resource or job not found; declined",
    USAGE: "usage: a bad option or value; refused as ambiguous or empty; nothing done",
    PARTIAL: "partial: some sources or deliveries failed; the output says which",
}


def exit_codes_help(codes: Sequence[int] = tuple(EXIT_CODES)) -> str:
    """The epilog of a command's --help: the exit codes it uses (click keeps `\\b` blocks as they are)."""
    return "\b\nExit codes:\n" + "\n".join(f"  {code}  {EXIT_CODES[code]}" for code in codes)


class Refused(click.ClickException):
    """A request the CLI will not act on as given (ambiguous, empty, unconfirmed): exit 2."""

    exit_code = USAGE


class Partial(click.ClickException):
    """The command ran and part of it failed: exit 3."""

    exit_code = PARTIAL


# -- global options --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Global:
    decls: tuple[str, ...]
    help: str
    metavar: str | None = None


_GLOBALS: dict[str, _Global] = {
    "stack": _Global(
        ("--stack",),
        f"CloudFormation stack holding the JobAuditor construct [default: {DEFAULT_STACK}, or "
        f"${STACK_ENV_VAR}].",
        "NAME",
    ),
    "construct": _Global(
        ("--construct",),
        "The construct's path in the stack (its outputs' prefix), when it holds several.",
        "PATH",
    ),
    "region": _Global(
        ("--region",), "AWS region of the stack [default: the SDK's: AWS_REGION, profile].", "REGION"
    ),
    "profile": _Global(
        ("--profile",), "AWS profile of the caller's credentials [default: the SDK's].", "PROFILE"
    ),
    "table": _Global(("--table",), "State table, instead of the stack's StateTableName.", "NAME"),
    "bus": _Global(("--bus",), "Event bus (run, replay), instead of the stack's EventBusName.", "NAME"),
    "topic": _Global(
        ("--topic",), "Notification topic (run, replay --notify), instead of the stack's.", "ARN"
    ),
    "output": _Global(
        ("--output", "-o"),
        "table for people; json (every field, in full) or csv (jobs, history) for scripts [default: table].",
    ),
}
GLOBAL_NAMES = tuple(_GLOBALS)
_AFTER = "job_auditor.after"


@dataclass(frozen=True)
class Options:
    """The global options as the command sees them, wherever they were given."""

    stack: str
    construct: str | None
    region: str | None
    profile: str | None
    table: str | None
    bus: str | None
    topic: str | None
    output: str

    def target(self) -> Target:
        """Where the stack and its resources are."""
        return Target(
            stack=self.stack,
            construct=self.construct,
            region=self.region,
            profile=self.profile,
            table=self.table,
            bus=self.bus,
            topic=self.topic,
        )


def group_options(group: _F) -> _F:
    """The global options on the group (before the command's name), with their defaults."""
    for name, spec in reversed(_GLOBALS.items()):
        extra: dict[str, Any] = {}
        if name == "stack":
            extra = {"envvar": STACK_ENV_VAR, "default": DEFAULT_STACK}
        elif name == "output":
            extra = {"type": click.Choice(render.OUTPUTS), "default": render.TABLE}
        group = click.option(*spec.decls, name, metavar=spec.metavar, help=spec.help, **extra)(group)
    return group


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and param.name:
        ctx.meta.setdefault(_AFTER, {})[param.name] = value
    return value


def command_options(command: _F) -> _F:
    """The global options again on a command (after its name), and its errors as one line with the
    documented exit code."""
    wrapped: Any = _reported(command)
    for name, spec in reversed(_GLOBALS.items()):
        extra: dict[str, Any] = {"type": click.Choice(render.OUTPUTS)} if name == "output" else {}
        wrapped = click.option(
            *spec.decls,
            name,
            metavar=spec.metavar,
            help=spec.help,
            expose_value=False,
            callback=_remember,
            **extra,
        )(wrapped)
    return cast(_F, wrapped)


def options(ctx: click.Context, outputs: Sequence[str] = (render.TABLE, render.JSON)) -> Options:
    """The global options of this invocation: given after the command's name, else before it (else
    their defaults). The same option given both ways with different values is refused (exit 2), as is
    an output the command does not have."""
    root = ctx.find_root()
    after: dict[str, Any] = ctx.meta.get(_AFTER, {})
    values: dict[str, Any] = {}
    for name, spec in _GLOBALS.items():
        before = root.params.get(name)
        given_before = root.get_parameter_source(name) is ParameterSource.COMMANDLINE
        if name in after and given_before and after[name] != before:
            twice = f"{before} before the command, {after[name]} after it"
            raise Refused(f"{spec.decls[0]} given twice ({twice}): give it once")
        values[name] = after.get(name, before)
    if values["output"] not in outputs:
        raise Refused(f"{ctx.info_name} prints {' or '.join(outputs)}, not {values['output']}")
    return Options(**values)


def _reported(command: _F) -> _F:
    @functools.wraps(command)
    def reported(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Ambiguous as exc:
            raise Refused(str(exc)) from exc
        except (ResourceError, NotFound) as exc:
            raise click.ClickException(str(exc)) from exc
        except SourceError as exc:
            raise click.ClickException(f"{exc.code}: {exc}") from exc
        except (ClientError, BotoCoreError) as exc:
            raise click.ClickException(describe(exc)) from exc

    return cast(_F, reported)


class Command(click.Command):
    """A command whose --help lists its own options, then the global ones."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        own: list[tuple[str, str]] = []
        shared: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                (shared if param.name in _GLOBALS else own).append(record)
        for title, records in (("Options", own), ("Global options (before or after the command)", shared)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)
