"""The soak's oracle: the simulator's ground truth against what consumers received and what DynamoDB holds.

Ground truth is every status each job really held, in order (recorded by whoever drives the control
plane: `Truth.created` / `Truth.changed`). The auditor can only see a job at audit times, so a job
that went InProgress -> Completed -> (nothing) between two runs legitimately yields one transition,
and one that went InProgress -> Stopping -> Completed between two runs yields InProgress -> Completed.
The oracle therefore checks, per job:

1. no phantom: every event names a status the job really had, and `previousStatus -> status` is a
   real change (the job held `previousStatus` before it held `status`, and they differ);
2. stable ids: every repeat of an event carries the same `eventId` with the same content, and one
   (job, sequence) has one `eventId`;
3. no gap: the delivered events, deduplicated by `eventId` and ordered by `sequence`, chain without a
   gap (`sequence` n+1's `previousStatus` is `sequence` n's `status`) from the job's first recorded
   status (its `discovered` event, or its silent baseline status) to its true final status;
4. convergence: after a final fault-free run, DynamoDB holds each job's true status, with the
   sequence of its last event, and no claim is left open;
5. no skip: whenever a source's checkpoint is at C, every job of that source created before C is
   recorded in DynamoDB (checked incrementally by `Truth.check_checkpoints` after every cycle).

`stuck` alerts (a job in the same in-progress status for too long) take a sequence number without
changing the status: in the chain they must repeat the current status (`previousStatus` = `status`
= the status the job holds at that point of the chain); they are not counted as transitions.

A job deleted while in flight must end its chain with one `disappeared` event (repeating the status it
was last seen in, which may be older than its true last one: a status that lasted less than a run),
naming why it went (the job deleted: `job not found`; its knowledge base deleted: `scope deleted`),
and be recorded as disappeared. A job the API lost for a while (`Truth.lose`: lists and Get answered
as for no job) may be announced as disappeared (`job not found`) by a run that met it lost; its chain
then goes on from there once it is back, to its true final status like any other. A parked
transition (kept in the table for operators after the bus refused it for good) counts as announced
in its job's chain.

6. every channel: every transition of the chains reached each other channel's consumer too (the
   notification topic, the chat topic), unless that channel refused it for good (parked for it);
   nothing is left parked for a passing reason (an outage longer than the retry time is re-driven
   once the channel is back). A job whose listing lagged is exempt from
check 5: the checkpoint may pass it before it is visible; the reconciliation sweep finds it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from job_auditor.contract.state_schema import JOB_PREFIX

STATUS_TRANSITIONS = frozenset({"discovered", "status-changed"})
STUCK = "stuck"
DISAPPEARED = "disappeared"


@dataclass
class JobTruth:
    job_id: str
    source_key: str
    created_at: datetime
    history: list[tuple[datetime, str]] = field(default_factory=list)
    deleted_at: datetime | None = None
    # Created hidden from its list for a while (the list API's lag).
    lagging: bool = False
    # Why it went (a deleted job: "job not found"; its knowledge base deleted: "scope deleted"): what a
    # `disappeared` event of it must say.
    gone_reason: str | None = None
    # Gone with its knowledge base, whether or not it was still running: announced as disappeared if
    # the auditor still followed it, else its chain simply ends at its true final status.
    with_scope: bool = False
    # Gone with its knowledge base while the auditor recorded it ended (it follows it no longer): the
    # ended status it recorded. A change after that, made between two runs just before the deletion
    # (an ended job being deleted), is one no run could see: its chain may end at this status.
    ended_as: str | None = None
    # When the API answered for it as for no job (lists and Get), from and until.
    lost: list[tuple[datetime, datetime]] = field(default_factory=list)

    def lost_at(self, when: datetime) -> bool:
        """Whether the API had lost the job at `when`."""
        return any(start <= when < until for start, until in self.lost)

    @property
    def statuses(self) -> list[str]:
        return [status for _, status in self.history]

    @property
    def final(self) -> str:
        return self.history[-1][1]

    def really_changed(self, previous: str, status: str) -> bool:
        """Whether the job held `previous` before it held `status` (and they differ)."""
        if previous == status:
            return False
        seen_previous = False
        for held in self.statuses:
            if seen_previous and held == status:
                return True
            if held == previous:
                seen_previous = True
        return False


@dataclass(frozen=True)
class ParkedChannels:
    """The channels a parked item names, and those of them parked for a passing reason."""

    channels: frozenset[str]
    retryable: frozenset[str]

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> ParkedChannels:
        channels = item.get("channels")
        names = frozenset(channels) if isinstance(channels, Mapping) else frozenset({"eventbridge"})
        return cls(names, frozenset(item.get("retryable") or ()))


@dataclass
class Verdict:
    violations: list[str] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


class Truth:
    """What the simulator really did, and the checks against it."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobTruth] = {}
        # Status each job had when the first (baseline) run recorded it silently.
        self.baseline: dict[str, str] = {}
        self.checkpoint_violations: list[str] = []
        self._unverified: dict[str, list[JobTruth]] = defaultdict(list)

    # -- recording --------------------------------------------------------------------------------
    def created(
        self, job_id: str, source_key: str, created_at: datetime, status: str, *, lagging: bool = False
    ) -> None:
        job = JobTruth(job_id, source_key, created_at, [(created_at, status)], lagging=lagging)
        self.jobs[job_id] = job
        if not lagging:
            self._unverified[source_key].append(job)

    def deleted(
        self,
        job_id: str,
        when: datetime,
        reason: str = "job not found",
        *,
        with_scope: bool = False,
        ended_as: str | None = None,
    ) -> None:
        job = self.jobs[job_id]
        job.deleted_at, job.gone_reason, job.with_scope = when, reason, with_scope
        job.ended_as = ended_as

    def changed(self, job_id: str, when: datetime, status: str) -> None:
        self.jobs[job_id].history.append((when, status))

    def lose(self, job_id: str, start: datetime, until: datetime) -> None:
        """The API answers for the job as for no job from `start` until `until`."""
        self.jobs[job_id].lost.append((start, until))

    def end_losses(self, when: datetime) -> list[str]:
        """Every loss still going on at `when` ends then (the faults stop): the jobs it ends."""
        ended = []
        for job in self.jobs.values():
            if job.lost and job.lost[-1][1] > when:
                job.lost[-1] = (job.lost[-1][0], when)
                ended.append(job.job_id)
        return ended

    def take_baseline(self) -> None:
        """Call right after the first, fault-free run: what it recorded silently. A job its list still
        hid is not in it (the baseline cannot see it; it is announced once it shows up)."""
        self.baseline = {job_id: job.final for job_id, job in self.jobs.items() if not job.lagging}

    @property
    def status_changes(self) -> int:
        return sum(len(job.history) - 1 for job in self.jobs.values())

    # -- check 5, after every cycle ---------------------------------------------------------------
    def check_checkpoints(self, checkpoints: Mapping[str, datetime], recorded: Any) -> None:
        """`checkpoints`: source key -> checkpoint; `recorded(source_key, job) -> bool` says whether
        DynamoDB holds the job. Jobs are verified once, when a checkpoint first passes them."""
        for source_key, jobs in self._unverified.items():
            checkpoint = checkpoints.get(source_key)
            if checkpoint is None:
                continue
            still: list[JobTruth] = []
            for job in jobs:
                if job.created_at >= checkpoint:
                    still.append(job)
                elif not recorded(source_key, job):
                    self.checkpoint_violations.append(
                        f"checkpoint of {source_key} moved to {checkpoint.isoformat()} past job "
                        f"{job.job_id} (created {job.created_at.isoformat()}) never recorded"
                    )
            self._unverified[source_key] = still

    # -- checks 1 to 4, at the end ----------------------------------------------------------------
    def verify(
        self,
        events: Iterable[Mapping[str, Any]],
        items: Iterable[Mapping[str, Any]],
        parked: Iterable[Mapping[str, Any]] = (),
        *,
        channels: Mapping[str, Iterable[str]] | None = None,
        parked_channels: Mapping[str, ParkedChannels] | None = None,
    ) -> Verdict:
        """`events`: every event the bus consumer received; `items`: the state table's items;
        `parked`: the details of the parked transitions; `channels`: the eventIds each other channel's
        consumer received; `parked_channels`: by eventId, the channels that parked it."""
        verdict = Verdict(violations=list(self.checkpoint_violations))
        bad = verdict.violations
        parked = list(parked)
        by_id, deliveries = self._check_events([e["detail"] for e in events], bad)
        parked_ids, _ = self._check_events(parked, bad)
        by_id = {**parked_ids, **by_id}
        items = list(items)
        open_claims = [str(i["jobId"]) for i in items if "pendingEventId" in i]
        if open_claims:
            bad.append(f"{len(open_claims)} claims left open after the final run: {open_claims[:5]}")
        lost = self._check_chains(by_id, items, bad)
        lost_on = _check_channels(by_id, channels or {}, parked_channels or {}, bad)
        verdict.figures = {
            "jobs": len(self.jobs),
            "truth status changes": self.status_changes,
            "transitions": sum(1 for d in by_id.values() if d.get("transition") in STATUS_TRANSITIONS),
            "stuck alerts": sum(1 for d in by_id.values() if d.get("transition") == STUCK),
            "disappeared": sum(1 for d in by_id.values() if d.get("transition") == DISAPPEARED),
            "disappeared, scope deleted": sum(
                1
                for d in by_id.values()
                if d.get("transition") == DISAPPEARED and d.get("reason") == "scope deleted"
            ),
            "disappeared, lost by the API": sum(
                1
                for d in by_id.values()
                if d.get("transition") == DISAPPEARED
                and str(d["jobId"]) in self.jobs
                and _lost_when_met(d, self.jobs[str(d["jobId"])])
            ),
            "parked": len(parked_ids),
            "delivered": sum(deliveries.values()),
            "duplicates": sum(deliveries.values()) - len(by_id),
            "lost": lost,
            **{f"lost on {channel}": n for channel, n in lost_on.items()},
            "parked for a passing reason, left": sum(
                1 for p in (parked_channels or {}).values() if p.retryable
            ),
            "violations": len(bad),
        }
        return verdict

    def _check_events(
        self, details: list[Mapping[str, Any]], bad: list[str]
    ) -> tuple[dict[str, Mapping[str, Any]], Counter[str]]:
        """Checks 1 and 2, event by event; returns the events by id and deliveries per id."""
        by_id: dict[str, Mapping[str, Any]] = {}
        by_job_seq: dict[tuple[str, int], str] = {}
        deliveries: Counter[str] = Counter()
        for d in details:
            event_id = str(d["eventId"])
            deliveries[event_id] += 1
            content = (d["jobId"], d["sequence"], d["previousStatus"], d["status"])
            first = by_id.setdefault(event_id, d)
            if (first["jobId"], first["sequence"], first["previousStatus"], first["status"]) != content:
                bad.append(f"eventId {event_id} repeated with different content: {content}")
            other = by_job_seq.setdefault((d["jobId"], int(d["sequence"])), event_id)
            if other != event_id:
                bad.append(f"job {d['jobId']} sequence {d['sequence']} has two eventIds")
            job = self.jobs.get(str(d["jobId"]))
            if job is None:
                bad.append(f"event {event_id} for a job that never existed: {d['jobId']}")
            else:
                _check_event(d, job, event_id, bad)
        return by_id, deliveries

    def _check_chains(
        self, by_id: Mapping[str, Mapping[str, Any]], items: list[Mapping[str, Any]], bad: list[str]
    ) -> int:
        """Checks 3 and 4, job by job; returns how many transitions were lost."""
        per_job: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for d in by_id.values():
            per_job[str(d["jobId"])].append(d)
        recorded = {
            str(i["jobId"]): i for i in items if str(i.get("sk", "")).startswith(JOB_PREFIX) and "jobId" in i
        }
        lost = 0
        for job_id, job in self.jobs.items():
            chain = sorted(per_job.get(job_id, []), key=lambda d: int(d["sequence"]))
            lost += self._check_chain(job, chain, recorded.get(job_id), bad)
        return lost

    def _check_chain(
        self, job: JobTruth, chain: list[Mapping[str, Any]], item: Mapping[str, Any] | None, bad: list[str]
    ) -> int:
        """Checks 3 and 4 for one job; returns how many of its transitions were lost."""
        job_id = job.job_id
        status = self.baseline.get(job_id)
        if job.deleted_at is not None and not chain and status is None:
            return 0  # gone before the auditor could see it: nothing to announce
        sequence = 1 if status is not None else 0
        lost = 0
        for d in chain:
            if int(d["sequence"]) != sequence + 1 or d["previousStatus"] != status:
                bad.append(
                    f"gap: {job_id} went from ({sequence}, {status}) to event "
                    f"({d['sequence']}, {d['previousStatus']} -> {d['status']})"
                )
                lost += 1
            sequence, status = int(d["sequence"]), d["status"]
        ended_seen = (
            job.with_scope
            and status in (job.final, job.ended_as)
            and (not chain or chain[-1].get("transition") != DISAPPEARED)
        )
        if job.deleted_at is not None and not ended_seen:
            if not chain or chain[-1].get("transition") != DISAPPEARED:
                bad.append(f"lost: {job_id} was deleted in flight but never announced as disappeared")
                lost += 1
            elif item is None or not item.get("disappearedAt") or int(item["sequence"]) != sequence:
                bad.append(f"state: {job_id} announced as disappeared but not recorded so: {item}")
            return lost
        # Where the auditor saw the job end, if its knowledge base took a later change along.
        final = job.ended_as if ended_seen and status == job.ended_as else job.final
        if status != final:
            bad.append(f"lost: {job_id} ends at {final} but the last announced status is {status}")
            lost += 1
        if item is None:
            bad.append(f"state: {job_id} is not recorded in DynamoDB")
        elif item["status"] != final or int(item["sequence"]) != sequence:
            bad.append(
                f"state: {job_id} recorded ({item['sequence']}, {item['status']}), "
                f"truth ({sequence}, {final})"
            )
        return lost


def _check_event(d: Mapping[str, Any], job: JobTruth, event_id: str, bad: list[str]) -> None:
    """Check 1 for one event: a status the job had, and a change (or a repeat) it really went through."""
    if d["status"] not in job.statuses:
        bad.append(f"phantom: {d['jobId']} never had status {d['status']} (event {event_id})")
    prev = d["previousStatus"]
    if d.get("transition") in (STUCK, DISAPPEARED):
        if prev != d["status"]:
            bad.append(f"{d['transition']} {event_id} changes status {prev} -> {d['status']}")
        if d.get("transition") == DISAPPEARED:
            _check_disappeared(d, job, bad)
    elif d.get("transition") not in STATUS_TRANSITIONS:
        bad.append(f"event {event_id} of unknown transition kind {d.get('transition')!r}")
    elif prev is not None and not job.really_changed(prev, d["status"]):
        bad.append(f"phantom: {d['jobId']} never went {prev} -> {d['status']} (event {event_id})")


def _check_disappeared(d: Mapping[str, Any], job: JobTruth, bad: list[str]) -> None:
    """A job announced as disappeared was deleted (and the event says why it went), or the API had lost
    it when the run met it (`job not found`)."""
    if _lost_when_met(d, job):
        return
    if job.deleted_at is None:
        bad.append(f"phantom: {d['jobId']} announced as disappeared but never deleted nor lost")
    elif d.get("reason") != job.gone_reason:
        bad.append(f"{d['jobId']} announced as disappeared because {d.get('reason')!r}: {job.gone_reason!r}")


def _lost_when_met(d: Mapping[str, Any], job: JobTruth) -> bool:
    """Whether `d` (a `disappeared` event) met its job lost by the API: not found, while it was."""
    observed = d.get("observedTime")
    return (
        d.get("reason") == "job not found"
        and bool(observed)
        and job.lost_at(datetime.fromisoformat(str(observed)))
    )


def _check_channels(
    by_id: Mapping[str, Mapping[str, Any]],
    channels: Mapping[str, Iterable[str]],
    parked: Mapping[str, ParkedChannels],
    bad: list[str],
) -> dict[str, int]:
    """Check 6: per channel, the transitions announced on the bus (or parked) that its consumer never
    received and that it did not refuse for good."""
    for event_id, where in parked.items():
        if where.retryable:
            bad.append(
                f"parked for a passing reason and never re-driven: {event_id} on {sorted(where.retryable)}"
            )
    lost: dict[str, int] = {}
    for channel, received in channels.items():
        seen = set(received)
        missing = [
            event_id
            for event_id in by_id
            if event_id not in seen
            and channel not in parked.get(event_id, ParkedChannels(frozenset(), frozenset())).channels
        ]
        lost[channel] = len(missing)
        if missing:
            bad.append(f"lost on {channel}: {len(missing)} transitions never reached it, e.g. {missing[:3]}")
    return lost
