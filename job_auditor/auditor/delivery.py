"""Deliver claimed transitions to every channel, each channel on its own: the outbox of a run.

Sources hand what they claimed (and the claims they took over) to the run's `Outbox`; once the run's
audits are done it delivers them, channel by channel (the bus, the notification topic, the chat
topic), each transition only to the channels still owed it, with one eventId everywhere. A channel
that refuses a transition holds no other channel back:

- refused for good (validation, too large: `publishers.PERMANENT_ERRORS`): that channel parks it at
  once;
- refused for a passing reason (throttling, 5xx, access or key errors, a missing bus or topic): it
  stays claimed, its lease set to a back-off (from a minute, doubling, at most 30 minutes), and is
  tried again until it has been refused for the retry time (PUBLISH_RETRY_HOURS); then parked, and
  re-driven automatically once the channel takes messages again.

A claim is finalized (history written, with the channels that took it and those parked) once every
channel it is owed took it or parked it. When people would get more than DIGEST_THRESHOLD messages
from one delivery, their channels get one digest instead (the bus still gets every event); the
transitions count as delivered on that channel only once the digest is accepted.

No boto3 here: the publishers and the store are ports.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple

from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.events import iso
from job_auditor.auditor.ports import (
    Claim,
    Deliveries,
    Parked,
    Publisher,
    PublishResult,
    StateStore,
)
from job_auditor.auditor.summary import SourceSummary, failure_reason

logger = logging.getLogger(__name__)

# A channel's refusal this run: why, and whether it is final for that entry.
Refusal = tuple[str, bool]


# A NamedTuple, not a dataclass: a dataclass compiles its generated methods as its module is imported,
# at every cold start (docs/architecture.md).
class DeliveryPolicy(NamedTuple):
    """How long a channel is retried, when a digest replaces messages, how much one run takes on."""

    retry_for: timedelta = timedelta(hours=24)
    # More transitions for people than this in one delivery: one digest instead (0: never).
    digest_threshold: int = 20
    backoff_base: timedelta = timedelta(minutes=1)
    backoff_cap: timedelta = timedelta(minutes=30)
    # Claims taken over per source and per run, and parked transitions re-driven per run: an outage's
    # backlog drains over several runs, each delivered within the run's time budget.
    recover_limit: int = 100
    recover_per_run: int = 500
    redrive_limit: int = 50
    # Claims one run delivers at most (new and taken over): its sources stop claiming past it, as at
    # the time budget, so that the delivery fits in the time left after the audits (the 30 s margin).
    max_per_run: int = 2_000

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed delivery (exponential, capped)."""
        exponent = min(max(attempts - 1, 0), 20)
        return min(self.backoff_base * (1 << exponent), self.backoff_cap)


def advance(
    deliveries: Deliveries,
    configured: Collection[str],
    accepted: Collection[str],
    refused: Mapping[str, Refusal],
    now: datetime,
    retry_for: timedelta,
) -> Deliveries:
    """A claim's delivery state after one attempt: the channels that took it, those that refused it
    for good (parked), those that refused it for a passing reason (retried until refused for
    `retry_for`, then parked as retryable)."""
    parked = dict(deliveries.parked)
    retryable = set(deliveries.retryable)
    failing = {c: t for c, t in deliveries.failing_since.items() if c not in accepted}
    errors = {c: e for c, e in deliveries.errors.items() if c not in accepted}
    for channel, (reason, permanent) in refused.items():
        if permanent:
            parked[channel] = reason
        else:
            since = failing.setdefault(channel, now)
            errors[channel] = reason
            if now - since < retry_for:
                continue
            hours = int(retry_for.total_seconds() // 3600)
            parked[channel] = f"refused for {hours} h or more (since {iso(since)}); last: {reason}"
            retryable.add(channel)
        failing.pop(channel, None)
        errors.pop(channel, None)
    transient = any(not permanent for _, permanent in refused.values())
    return Deliveries(
        channels=deliveries.channels if deliveries.channels is not None else frozenset(configured),
        delivered=deliveries.delivered | frozenset(accepted),
        parked=MappingProxyType(parked),
        retryable=frozenset(retryable),
        failing_since=MappingProxyType(failing),
        errors=MappingProxyType(errors),
        attempts=deliveries.attempts + int(transient),
    )


def publish(
    publisher: Publisher, transitions: Sequence[Transition], digest_threshold: int
) -> tuple[PublishResult, bool]:
    """Deliver `transitions` to one channel: one message each, or, when people would read more than
    `digest_threshold` of them there, one digest of those (and the others one by one). Says whether
    a digest was sent."""
    people = publisher.for_people(transitions) if digest_threshold else []
    if len(people) <= digest_threshold:
        return publisher.publish(transitions), False
    digested = publisher.publish_digest(people)
    logger.info(
        "digest instead of messages",
        extra={"channel": publisher.name, "transitions": len(people), "delivered": bool(digested.delivered)},
    )
    in_digest = {t.event_id for t in people}
    rest = [t for t in transitions if t.event_id not in in_digest]
    if not rest:
        return digested, True
    others = publisher.publish(rest)
    others.delivered += digested.delivered
    others.failed += digested.failed
    others.reasons.update(digested.reasons)
    others.permanent |= digested.permanent
    others.requests += digested.requests
    for code, count in digested.errors.items():
        others.refused(code, count)
    return others, True


def _refusals(result: PublishResult) -> dict[str, Refusal]:
    """By eventId: why each failed transition failed, and whether for good."""
    return {
        t.event_id: (result.reasons.get(t.event_id, "not delivered"), t.event_id in result.permanent)
        for t in result.failed
    }


def _down(result: PublishResult) -> bool:
    """Nothing went through and something failed for a passing reason: the channel is down."""
    return not result.delivered and any(t.event_id not in result.permanent for t in result.failed)


@dataclass(eq=False)
class DeliveryReport:
    """What one delivery did: digests sent, parked transitions re-driven, channels found down."""

    digests: int = 0
    redriven: int = 0
    down: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class RedriveOutcome:
    """One parked transition re-driven: per channel, "delivered" or why not."""

    parked: Parked
    channels: dict[str, str] = field(default_factory=dict)


def redrive(
    store: StateStore,
    publishers: Sequence[Publisher],
    parked: Sequence[Parked],
    now: datetime,
    *,
    digest_threshold: int,
    channels: Collection[str] | None = None,
    only_retryable: bool = True,
    skip: Collection[str] = (),
) -> list[RedriveOutcome]:
    """Deliver parked transitions again, with their original eventId, to the channels that gave up on
    them (of `channels` if given; only those that gave up for a passing reason with
    `only_retryable`), skipping channels in `skip` (found down this run). A channel that takes one
    is removed from its parked item (gone once none is left); one that refuses it for good no longer
    gets it automatically. A channel whose whole call fails stops for this re-drive."""
    outcomes = {p.transition.event_id: RedriveOutcome(p) for p in parked}
    for publisher in publishers:
        name = publisher.name
        if name in skip or (channels is not None and name not in channels):
            continue
        due = [p for p in parked if name in (p.retryable if only_retryable else p.channels)]
        if not due:
            continue
        result, _ = publish(publisher, [p.transition for p in due], digest_threshold)
        for t in result.delivered:
            outcomes[t.event_id].channels[name] = "delivered"
        for event_id, (reason, permanent) in _refusals(result).items():
            outcomes[event_id].channels[name] = ("refused for good: " if permanent else "") + reason
    for outcome in outcomes.values():
        delivered = [c for c, what in outcome.channels.items() if what == "delivered"]
        refused = {c: what for c, what in outcome.channels.items() if what.startswith("refused for good")}
        if delivered or refused:
            store.unpark(outcome.parked, delivered, refused, now)
    return [o for o in outcomes.values() if o.channels]


class Outbox:
    """A run's claims, delivered once its audits are done (`deliver`). Several sources' threads add
    to it at once; `deliver` runs once, after them."""

    def __init__(
        self,
        store: StateStore,
        publishers: Sequence[Publisher],
        policy: DeliveryPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._publishers = list(publishers)
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._claims: dict[str, tuple[Claim, SourceSummary]] = {}
        self._after: list[Callable[[], None]] = []
        self._recoveries_left = policy.recover_per_run

    @property
    def policy(self) -> DeliveryPolicy:
        return self._policy

    def reserve_recoveries(self, wanted: int) -> int:
        """How many unfinished claims a source may take over now (at most `wanted`): the run's
        allowance is shared by its sources; `refund` what was not used."""
        with self._lock:
            granted = max(0, min(wanted, self._recoveries_left))
            self._recoveries_left -= granted
            return granted

    def can_recover(self) -> bool:
        """Whether the run's allowance of claims to take over has any left."""
        with self._lock:
            return self._recoveries_left > 0

    def refund(self, unused: int) -> None:
        with self._lock:
            self._recoveries_left += max(0, unused)

    def full(self) -> bool:
        """Whether this run has as many claims as it delivers: its sources stop claiming."""
        with self._lock:
            return len(self._claims) >= self._policy.max_per_run

    def add(self, claims: Iterable[Claim], result: SourceSummary) -> None:
        """Deliver these claims of one source (counted on `result`) with the run's others."""
        with self._lock:
            for claim in claims:
                self._claims.setdefault(claim.transition.event_id, (claim, result))

    def after_delivery(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the delivery is done (a source's last-audit record, which counts what
        was published)."""
        with self._lock:
            self._after.append(callback)

    def deliver(self, *, redrive_parked: bool = False) -> DeliveryReport:
        """Deliver every claim added so far; then, with `redrive_parked`, re-drive parked transitions
        to the channels not found down; then the callbacks."""
        with self._lock:
            entries, self._claims = list(self._claims.values()), {}
            callbacks, self._after = self._after, []
        report = DeliveryReport()
        now = self._clock()
        try:
            if entries:
                self._deliver(entries, now, report)
            if redrive_parked:
                self._redrive(now, report)
        finally:
            for callback in callbacks:
                callback()
        return report

    def _deliver(
        self, entries: list[tuple[Claim, SourceSummary]], now: datetime, report: DeliveryReport
    ) -> None:
        names = [p.name for p in self._publishers]
        accepted: dict[str, set[str]] = {c.transition.event_id: set() for c, _ in entries}
        refused: dict[str, dict[str, Refusal]] = {c.transition.event_id: {} for c, _ in entries}
        owed = {
            p.name: [c.transition for c, _ in entries if p.name in c.deliveries.owed(names)]
            for p in self._publishers
        }
        busy = [p for p in self._publishers if owed[p.name]]
        # Each channel on a thread of its own: a slow or hanging channel holds no other back.
        with ThreadPoolExecutor(max_workers=max(1, len(busy)), thread_name_prefix="channel") as pool:
            outcomes = list(pool.map(lambda p: publish(p, owed[p.name], self._policy.digest_threshold), busy))
        for publisher, (result, digested) in zip(busy, outcomes, strict=True):
            report.digests += int(digested and bool(result.delivered))
            for t in result.delivered:
                accepted[t.event_id].add(publisher.name)
            for event_id, refusal in _refusals(result).items():
                refused[event_id][publisher.name] = refusal
            if result.failed:
                logger.error(
                    "publish failed",
                    extra={"channel": publisher.name, "failed": len(result.failed), "errors": result.errors},
                )
            if _down(result):
                report.down[publisher.name] = next(iter(result.reasons.values()), "refused")
        self._settle(entries, names, accepted, refused, now)

    def _settle(
        self,
        entries: list[tuple[Claim, SourceSummary]],
        names: list[str],
        accepted: Mapping[str, set[str]],
        refused: Mapping[str, Mapping[str, Refusal]],
        now: datetime,
    ) -> None:
        """Finalize the claims no channel is owed any more; keep the others for later, each with its
        back-off as its lease."""
        done: list[tuple[Claim, SourceSummary]] = []
        later: list[tuple[Claim, SourceSummary]] = []
        for claim, result in entries:
            event_id = claim.transition.event_id
            deliveries = advance(
                claim.deliveries, names, accepted[event_id], refused[event_id], now, self._policy.retry_for
            )
            settled = claim._replace(deliveries=deliveries)
            (later if deliveries.owed(names) else done).append((settled, result))
            if refused[event_id]:
                result.publish_failures += 1
                for channel in refused[event_id]:
                    result.refused[channel] = result.refused.get(channel, 0) + 1
        self._record(done, later, now)

    def _record(
        self, done: list[tuple[Claim, SourceSummary]], later: list[tuple[Claim, SourceSummary]], now: datetime
    ) -> None:
        policy = self._policy
        try:
            self._store.finalize([c for c, _ in done], now)
            self._store.retry_later([(c, now + policy.backoff(c.deliveries.attempts)) for c, _ in later])
        except Exception as exc:  # delivered but not recorded: claims stay, re-published later (same id)
            error = f"delivered but not recorded: {failure_reason(exc)}"
            logger.error("could not record deliveries", extra={"error": error})
            for _, result in done + later:
                result.error = result.error or error
            return
        for claim, result in done:
            if claim.deliveries.parked:
                result.parked += 1
                logger.error(
                    "transition parked",
                    extra={"eventId": claim.transition.event_id, "channels": dict(claim.deliveries.parked)},
                )
            else:
                result.published += 1

    def _redrive(self, now: datetime, report: DeliveryReport) -> None:
        policy = self._policy
        try:
            parked = self._store.parked_due(policy.redrive_limit)
            if not parked:
                return
            outcomes = redrive(
                self._store,
                self._publishers,
                parked,
                now,
                digest_threshold=policy.digest_threshold,
                skip=report.down,
            )
        except Exception as exc:  # parked transitions wait for the next run
            logger.error("re-drive of parked transitions failed", extra={"error": failure_reason(exc)})
            return
        report.redriven = sum(1 for o in outcomes if "delivered" in o.channels.values())
        if outcomes:
            logger.warning(
                "parked transitions re-driven",
                extra={"redriven": report.redriven, "tried": len(outcomes)},
            )


def deliver(outbox: Outbox, results: Sequence[SourceSummary], *, redrive_parked: bool = False) -> int:
    """Deliver a run's outbox; an unexpected error fails the run's sources (their claims stay and are
    delivered later), never the run. Returns the parked transitions re-driven."""
    try:
        return outbox.deliver(redrive_parked=redrive_parked).redriven
    except Exception as exc:
        error = f"delivery failed: {failure_reason(exc)}"
        logger.error("delivery failed", extra={"error": error}, exc_info=True)
        for result in results:
            result.error = result.error or error
        return 0
