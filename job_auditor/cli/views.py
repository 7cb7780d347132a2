"""What each command shows, as plain rows (JSON values, ISO times) built from the state reader. The
same rows are printed as a table or as JSON (`render`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from job_auditor.auditor.adapters.state_codec import parked_of, parse_timestamp
from job_auditor.auditor.adapters.state_reader import (
    SourceRecord,
    StateReader,
    followed,
    iter_matching_jobs,
    replayable,
)
from job_auditor.auditor.delivery import RedriveOutcome
from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.ports import Parked
from job_auditor.cli.times import iso
from job_auditor.contract.state_schema import KEY_SEPARATOR, SORT_KEY

_COUNT_CONCURRENCY = 8


class NotFound(LookupError):
    """What the operator asked for is not in the table."""


class Ambiguous(LookupError):
    """What the operator named matches several things; the message names them."""


class EmptyWindow(ValueError):
    """A time window with nothing in it by construction: reversed, or of no length."""


@dataclass(frozen=True)
class SourceFilter:
    """Which sources a command looks at (empty: all)."""

    kinds: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def keep(self, source: SourceRecord) -> bool:
        return (
            (not self.kinds or source.job_kind in self.kinds)
            and (not self.accounts or source.account in self.accounts)
            and (not self.regions or source.region in self.regions)
        )


def _sources(reader: StateReader, where: SourceFilter) -> list[SourceRecord]:
    return sorted((s for s in reader.sources() if where.keep(s)), key=lambda s: s.key)


def _when(text: object) -> datetime | None:
    return parse_timestamp(text) if isinstance(text, str) and text else None


def _iso_of(text: object) -> str | None:
    return iso(_when(text))


# -- status ----------------------------------------------------------------------------------------
def status(reader: StateReader, now: datetime, where: SourceFilter = SourceFilter()) -> dict[str, Any]:
    """Every audited source with its checkpoint, last run, jobs in flight, claims and lag; and the
    parked transitions."""
    sources = _sources(reader, where)
    # Kept in each source's audit record; an earlier version's checkpoint items where it has none yet.
    checkpoints = reader.checkpoints(s.key for s in sources if s.audit.checkpoint is None)
    parked = [p for p in reader.parked() if p.get("source") in {s.key for s in sources}]
    parked_by_source = Counter(str(p.get("source")) for p in parked)
    # Two index counts per source, several sources at once (the client is thread-safe).
    with ThreadPoolExecutor(max_workers=_COUNT_CONCURRENCY) as pool:
        counts = list(
            pool.map(lambda s: (reader.in_flight_count(s.key), reader.pending_count(s.key)), sources)
        )
    rows = []
    for source, (in_flight, pending) in zip(sources, counts, strict=True):
        audit = source.audit
        checkpoint = audit.checkpoint or checkpoints.get(source.key)
        high_water = checkpoint.last_run_started_at if checkpoint else None
        rows.append(
            {
                "source": source.key,
                "jobKind": source.job_kind,
                "account": source.account,
                "region": source.region,
                "scopeIds": list(source.scope_ids),
                "checkpoint": iso(high_water),
                "lastReconciledAt": iso(checkpoint.last_reconciled_at if checkpoint else None),
                "lastRunStartedAt": iso(audit.started_at),
                "lastRunFinishedAt": iso(audit.finished_at),
                "result": audit.result,
                "error": audit.error,
                "stoppedEarly": audit.stopped,
                "transitions": audit.transitions,
                "published": audit.published,
                "jobsInFlight": in_flight,
                "pendingClaims": pending,
                "parked": parked_by_source.get(source.key, 0),
                "lagSeconds": int((now - high_water).total_seconds()) if high_water else None,
            }
        )
    return {
        "generatedAt": iso(now),
        "sources": rows,
        "parked": [
            {
                "source": p.get("source"),
                "jobId": p.get("jobId"),
                "status": p.get("status"),
                "eventId": p.get("eventId"),
                "parkedAt": _iso_of(p.get("parkedAt")),
                "reason": p.get("reason"),
            }
            for p in parked
        ],
    }


# -- jobs ------------------------------------------------------------------------------------------
def _job_row(source: SourceRecord, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": source.key,
        "jobKind": source.job_kind,
        "account": source.account,
        "region": source.region,
        "jobId": item.get("jobId"),
        "jobName": item.get("jobName"),
        "jobArn": item.get("jobArn"),
        "status": item.get("status"),
        "inFlight": followed(item),
        "createdAt": _iso_of(item.get("createdAt")),
        "statusSince": _iso_of(item.get("statusSince")),
        "endedAt": _iso_of(item.get("endedAt")),
        "failureMessage": item.get("failureMessage"),
        "lastEventId": item.get("lastEventId"),
        "pendingEventId": item.get("pendingEventId"),
    }


def jobs(reader: StateReader, where: SourceFilter, *, in_flight: bool = False) -> list[dict[str, Any]]:
    """The tracked jobs of the sources kept by `where`, oldest first."""
    rows = [
        _job_row(source, item)
        for source in _sources(reader, where)
        for item in reader.jobs(source.key, in_flight=in_flight)
    ]
    return sorted(rows, key=lambda r: (r["createdAt"] or "", r["source"], r["jobId"] or ""))


# -- history ---------------------------------------------------------------------------------------
def _history_row(source_key: str, item: dict[str, Any]) -> dict[str, Any]:
    # sk = HIST#<observed time>#<event id>
    sort_key = str(item.get(SORT_KEY, ""))
    observed = sort_key.split(KEY_SEPARATOR)[1] if KEY_SEPARATOR in sort_key else None
    return {
        "observedAt": _iso_of(observed),
        "source": source_key,
        "jobId": item.get("jobId"),
        "transition": item.get("transition"),
        "previousStatus": item.get("previousStatus"),
        "status": item.get("status"),
        "eventId": item.get("eventId"),
        "publishedAt": _iso_of(item.get("publishedAt")),
        "replayable": replayable(item) is not None,
    }


def _one_job(reader: StateReader, sources: Sequence[str], job: str) -> tuple[str, dict[str, Any]]:
    """The one job `job` names (its id or ARN; else its name), and its source. NotFound if none,
    Ambiguous (naming each) if several: the operator picks one by id or ARN."""
    matches = list(iter_matching_jobs(reader, sources, job))
    if not matches:
        raise NotFound(f"no job {job!r} in the table ({len(sources)} sources searched)")
    by_id = [(key, item) for key, item in matches if job in (item.get("jobId"), item.get("jobArn"))]
    chosen = by_id or matches
    if len(chosen) > 1:
        # Two lines a job, to read in an 80-column terminal; the account and region if they differ.
        # A source key is account/region/kind[/scope ids] (Source.key).
        places = {"/".join(key.split("/")[:2]) for key, _ in chosen}
        lines = []
        for key, item in chosen:
            account, region, kind = [*key.split("/"), "", "", ""][:3]
            place = f" in {account}/{region}" if len(places) > 1 else ""
            created = _iso_of(item.get("createdAt"))
            lines += [
                f"  {item.get('jobId')}",
                f"      {kind}{place}, {item.get('status')}, created {created}",
            ]
        raise Ambiguous(
            f"{job!r} names {len(chosen)} jobs; name one by its id or ARN:\n"
            + "\n".join(lines)
            + "\n(or narrow with --kind or --account)"
        )
    return chosen[0]


def history(reader: StateReader, job: str, where: SourceFilter = SourceFilter()) -> list[dict[str, Any]]:
    """The transitions of the one job `job` names (by id, ARN or name), oldest first. History is read
    from the job's creation on, in the job's own source only."""
    source_key, item = _one_job(reader, [s.key for s in _sources(reader, where)], job)
    created = _when(item.get("createdAt"))
    items = reader.history(source_key, since=created, job_ids=[str(item["jobId"])])
    rows = [{**_history_row(source_key, h), "jobName": item.get("jobName")} for h in items]
    return sorted(rows, key=lambda r: (r["observedAt"] or "", r["eventId"] or ""))


# -- replay ----------------------------------------------------------------------------------------
@dataclass
class ReplaySet:
    """What a replay would send: the transitions, and the history rows that cannot be replayed."""

    transitions: list[Transition]
    rows: list[dict[str, Any]]
    not_replayable: list[dict[str, Any]]


def check_window(since: datetime, until: datetime | None, now: datetime) -> None:
    """EmptyWindow if [since, until (or now)] holds no time: reversed, of no length, or in the future."""
    end = until or now
    if since > now:
        raise EmptyWindow(f"--since {iso(since)} is in the future (now is {iso(now)})")
    if since >= end:
        raise EmptyWindow(f"the window is empty: --since {iso(since)} is not before --until {iso(end)}")


def replay_set(
    reader: StateReader,
    since: datetime,
    until: datetime | None,
    *,
    job: str | None = None,
    where: SourceFilter = SourceFilter(),
) -> ReplaySet:
    """The history observed in [since, until] (of the one job `job` names, if given), as the
    transitions first published, to publish again."""
    sources = [s.key for s in _sources(reader, where)]
    wanted: dict[str, list[str]] = {key: [] for key in sources}
    if job is not None:
        key, item = _one_job(reader, sources, job)
        wanted = {key: [str(item["jobId"])]}
    found = ReplaySet([], [], [])
    for key, job_ids in wanted.items():
        for item in reader.history(key, since=since, until=until, job_ids=job_ids):
            row = _history_row(key, item)
            transition = replayable(item)
            if transition is None:
                found.not_replayable.append(row)
                continue
            found.transitions.append(transition)
            found.rows.append({**row, "jobName": transition.job.name, "jobKind": transition.source.spec.id})
    order = sorted(range(len(found.rows)), key=lambda i: found.rows[i]["observedAt"] or "")
    found.rows = [found.rows[i] for i in order]
    found.transitions = [found.transitions[i] for i in order]
    return found


def sent_rows(rows: Sequence[dict[str, Any]], delivered: Mapping[str, Set[str]]) -> list[dict[str, Any]]:
    """Each replayed row with, per channel, whether it was delivered."""
    return [
        {**row, "delivered": {channel: row["eventId"] in ids for channel, ids in delivered.items()}}
        for row in rows
    ]


# -- run -------------------------------------------------------------------------------------------
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


# The run summary's names that say something else in the other commands' output.
_RENAMED = {"stopped": "stoppedEarly"}


def _iso_text(value: object) -> str | None:
    return iso(datetime.fromisoformat(value)) if isinstance(value, str) and value else None


def run_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The auditor's run summary as the other commands print: camelCase keys, times in ISO 8601 to the
    second, and each source's result (`ok`, `failed`, `stopped early`) as `status` words it."""
    sources = []
    for source in summary.get("sources", []):
        row = {_RENAMED.get(k, _camel(k)): v for k, v in source.items()}
        row["windowStart"] = _iso_text(row.get("windowStart"))
        row["result"] = "failed" if row.get("error") else "stopped early" if row.get("stoppedEarly") else "ok"
        sources.append(row)
    return {**summary, "startedAt": _iso_text(summary.get("startedAt")), "sources": sources}


# -- replay --parked -------------------------------------------------------------------------------
def parked_set(
    reader: StateReader,
    *,
    job: str | None = None,
    channel: str | None = None,
    where: SourceFilter = SourceFilter(),
) -> list[Parked]:
    """The parked transitions (of one job, by id, ARN or name; parked by one channel; of the sources
    `where` keeps), oldest first."""
    parked = [
        p
        for p in map(parked_of, reader.parked())
        if (not where.kinds or p.transition.source.spec.id in where.kinds)
        and (not where.accounts or p.transition.source.account in where.accounts)
    ]
    if job is not None:
        parked = [
            p for p in parked if job in (p.transition.job.job_id, p.transition.job.arn, p.transition.job.name)
        ]
        if not parked:
            raise NotFound(f"no parked transition of job {job!r}")
    if channel is not None:
        parked = [p for p in parked if channel in p.channels]
    return sorted(parked, key=lambda p: (p.parked_at, p.transition.event_id))


def parked_rows(parked: Sequence[Parked], outcomes: Sequence[RedriveOutcome] = ()) -> list[dict[str, Any]]:
    """Each parked transition with its channels, and what a re-drive did on each."""
    done = {o.parked.transition.event_id: o.channels for o in outcomes}
    return [
        {
            "parkedAt": iso(p.parked_at),
            "source": p.transition.source.key,
            "jobId": p.transition.job.job_id,
            "jobName": p.transition.job.name,
            "status": p.transition.status,
            "eventId": p.transition.event_id,
            "channels": dict(p.channels),
            "redriven": done.get(p.transition.event_id, {}),
        }
        for p in parked
    ]
