"""The diff rule: previous state + observed jobs -> transitions. Pure; no I/O."""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from job_auditor.auditor.domain.jobs import JOB_NOT_FOUND, JobState, ObservedJob, Source, TransitionType

# Fixed namespace so the same transition always gets the same eventId, in any run, on any machine.
_EVENT_NAMESPACE = uuid.UUID("8f0b5a52-6c1e-4a8e-9d7a-6a3f1f0e2b11")


class Transition(NamedTuple):
    """One status change of one job, to be announced exactly once (at least once, same eventId)."""

    source: Source
    job: ObservedJob
    type: TransitionType
    previous_status: str | None
    # Sequence of the job's state before this transition (0 for a new job) and after it.
    previous_sequence: int
    observed_at: datetime
    # For `stuck` and `disappeared`: since when the job has held its status.
    stuck_since: datetime | None = None
    # For `disappeared`: why it is no longer followed (DISAPPEARED_REASONS). Not part of the eventId:
    # the job's last transition is one fact, whichever run found it.
    reason: str | None = None

    @property
    def status(self) -> str:
        return self.job.status

    @property
    def sequence(self) -> int:
        return self.previous_sequence + 1

    @property
    def event_id(self) -> str:
        """Deterministic: a retried or re-claimed transition carries the same id."""
        parts = [
            self.source.key,
            self.job.job_id,
            str(self.sequence),
            self.previous_status or "",
            self.status,
        ]
        if self.type == "disappeared":
            # Keeps the status it had, like a stuck alert: the kind tells the two apart.
            parts.append(self.type)
        return str(uuid.uuid5(_EVENT_NAMESPACE, "|".join(parts)))

    @property
    def unknown_status(self) -> bool:
        return not self.source.spec.is_known(self.status)

    def as_state(self) -> JobState:
        """The job state this transition commits."""
        job = self.job
        disappeared_at, reason = None, None
        if self.type == "stuck":
            status_since, stuck_notified_at = self.stuck_since, self.observed_at
        elif self.type == "disappeared":
            status_since, stuck_notified_at, disappeared_at = self.stuck_since, None, self.observed_at
            reason = self.reason
        elif self.type == "discovered":
            # First seen: it has held this status at most since it was created.
            status_since, stuck_notified_at = job.last_modified_at or job.created_at, None
        else:
            status_since, stuck_notified_at = self.observed_at, None
        return JobState(
            job_id=job.job_id,
            status=job.status,
            created_at=job.created_at,
            sequence=self.sequence,
            name=job.name,
            arn=job.arn,
            last_modified_at=job.last_modified_at,
            ended_at=job.ended_at,
            failure_message=job.failure_message,
            details=job.details,
            status_since=status_since,
            stuck_notified_at=stuck_notified_at,
            disappeared_at=disappeared_at,
            disappeared_reason=reason,
        )


def latest_observations(observed: Iterable[ObservedJob]) -> list[ObservedJob]:
    """One observation per job id. A job seen twice (on two pages, or by a list and a get) keeps the
    most recently modified observation, or the later one when neither says."""
    by_id: dict[str, ObservedJob] = {}
    for job in observed:
        seen = by_id.get(job.job_id)
        if seen is None or _not_older(job, seen):
            by_id[job.job_id] = job
    return list(by_id.values())


def _not_older(candidate: ObservedJob, seen: ObservedJob) -> bool:
    if candidate.last_modified_at and seen.last_modified_at:
        return candidate.last_modified_at >= seen.last_modified_at
    return True


def diff(
    source: Source,
    previous: Mapping[str, JobState],
    observed: Iterable[ObservedJob],
    observed_at: datetime,
) -> list[Transition]:
    """Transitions between what was recorded and what is observed now.

    A new job gives one `discovered` transition (with its current status); a known job whose status
    differs gives one `status-changed`; a job whose status is unchanged gives nothing. Jobs that were
    recorded but not observed give nothing: absence from a list is not a status.
    """
    transitions: list[Transition] = []
    for seen in latest_observations(observed):
        before = previous.get(seen.job_id)
        # The job item is keyed by the creation time first recorded: a Get that reports it with
        # another precision must not make the claim address another item.
        job = (
            seen
            if before is None or before.created_at == seen.created_at
            else seen._replace(created_at=before.created_at)
        )
        if before is None:
            transitions.append(
                Transition(source, job, "discovered", None, previous_sequence=0, observed_at=observed_at)
            )
        elif before.status != job.status:
            transitions.append(
                Transition(
                    source,
                    job,
                    "status-changed",
                    before.status,
                    previous_sequence=before.sequence,
                    observed_at=observed_at,
                )
            )
    transitions.sort(key=lambda t: (t.job.created_at, t.job.job_id))
    return transitions


def stuck(
    source: Source,
    previous: Mapping[str, JobState],
    observed: Iterable[ObservedJob],
    observed_at: datetime,
    threshold: timedelta,
    repeat: timedelta | None = None,
) -> list[Transition]:
    """`stuck` alerts: a job still in the same in-progress (or unknown) status for longer than
    `threshold` gets one alert; another every `repeat` if set. A job that moves gets its ordinary
    status-changed transition instead (the diff's job), which also resets this clock."""
    alerts: list[Transition] = []
    for job in latest_observations(observed):
        before = previous.get(job.job_id)
        if before is None or before.status != job.status or source.spec.is_terminal(job.status):
            continue
        since = before.status_since or before.created_at
        if observed_at - since < threshold:
            continue
        last = before.stuck_notified_at
        if last is not None and (repeat is None or observed_at - last < repeat):
            continue
        alerts.append(
            Transition(
                source,
                job,
                "stuck",
                before.status,
                previous_sequence=before.sequence,
                observed_at=observed_at,
                stuck_since=since,
            )
        )
    return alerts


def disappeared(
    source: Source, state: JobState, observed_at: datetime, reason: str = JOB_NOT_FOUND
) -> Transition:
    """A tracked job that re-check after re-check is not found any more (or, `reason`, whose source
    left the audit and whose API no longer answers for it): announced once, with the status it was
    last seen in, and no longer tracked (one not found is asked for by sweeps for a while:
    `JobState.lost`)."""
    job = ObservedJob(
        job_id=state.job_id,
        status=state.status,
        created_at=state.created_at,
        name=state.name,
        arn=state.arn,
        last_modified_at=state.last_modified_at,
        ended_at=state.ended_at,
        failure_message=state.failure_message,
        details=state.details,
    )
    return Transition(
        source,
        job,
        "disappeared",
        state.status,
        previous_sequence=state.sequence,
        observed_at=observed_at,
        stuck_since=state.status_since or state.created_at,
        reason=reason,
    )


def found_again(
    previous: Mapping[str, JobState], observed: Iterable[ObservedJob], changing: Iterable[str] = ()
) -> list[JobState]:
    """The recorded states of jobs observed now in the status recorded, with no transition now
    (`changing`: a transition's state starts afresh anyway), that re-checks had missed: not found on
    some (their misses start again from zero: a job is gone after so many misses in a row, not in
    all), or on so many that they were announced as disappeared (followed again, without an
    announcement: their status did not change; their next one is announced). Without it a job the API
    had lost for a while would never be followed again, and the status it ends in never announced."""
    skip = set(changing)
    again: list[JobState] = []
    for seen in latest_observations(observed):
        before = previous.get(seen.job_id)
        if (
            before is not None
            and seen.job_id not in skip
            and before.status == seen.status
            and (
                before.disappeared_reason == JOB_NOT_FOUND
                or (before.disappeared_at is None and before.missing_checks > 0)
            )
        ):
            again.append(before)
    return again


def untracked_history(
    source: Source, previous: Mapping[str, JobState], observed: Iterable[ObservedJob], horizon: datetime
) -> set[str]:
    """Jobs a sweep lists that the auditor never tracked and that ended before `horizon`: history
    from before the first deployment, not news. (A job still running is news at any age.)"""
    return {
        job.job_id
        for job in observed
        if job.job_id not in previous and source.spec.is_terminal(job.status) and job.created_at < horizon
    }
