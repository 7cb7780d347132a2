"""A channel outage of any realistic length loses nothing (issue 20, item 1), and a busy run reaches
people as one digest (issue 22, item 3): one regression test per case, on the in-memory fakes
(tests/fakes.py: the bus, the notification topic and the chat topic, each able to refuse or be down).
Each failed on the main before channels were delivered on their own and retried for a time instead
of a count of runs (checked there with these fakes), except the two that pin what main already did:
a chat topic removed while claims wait, and twenty transitions that are not digested."""

from __future__ import annotations

from datetime import timedelta

from job_auditor.auditor.delivery import redrive
from job_auditor.auditor.domain.jobs import JOB_KINDS, Source
from tests.fakes import POLICY, FakeJob, Harness, RecordingPublisher, down_until

ACCOUNT, REGION = "123456789012", "us-east-1"
IMPORT = Source(ACCOUNT, REGION, JOB_KINDS["bedrock-model-import"])
FIVE_MINUTES = timedelta(minutes=5)


def _job(h: Harness, n: int, status: str = "InProgress") -> str:
    arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/job{n:06d}"
    return h.api.add(
        IMPORT, FakeJob(arn, status, h.clock() - timedelta(minutes=1), name=f"import-{n}")
    ).job_id


def _announced_once_on_every_channel(h: Harness, jobs: list[str]) -> None:
    for channel in h.channels:
        for arn in jobs:
            assert channel.statuses(arn) == [("InProgress", "Completed", "status-changed")], channel.name


def _outage(
    h: Harness, channel: RecordingPublisher, length: timedelta, code: str = "InternalFailure"
) -> list[str]:
    """Three running jobs complete, one each run, while `channel` refuses every call for `length` from
    the next run on; runs every five minutes through the outage and for an hour after it. Returns the
    jobs."""
    jobs = [_job(h, n) for n in range(3)]
    h.run()
    back = h.clock() + FIVE_MINUTES + length
    channel.outage = down_until(h.clock, back, code)
    for arn in jobs:
        h.api.set_status(IMPORT, arn, "Completed")
        h.run(FIVE_MINUTES)
    while h.clock() < back + timedelta(hours=1):
        h.run(FIVE_MINUTES)
    return jobs


def test_a_25_minute_bus_outage_delivers_everything_late_and_parks_nothing() -> None:
    # Given a bus that fails every call for 25 minutes while three jobs complete
    h = Harness()
    jobs = _outage(h, h.publisher, timedelta(minutes=25))
    # Then every completion reached every channel once, the bus late, and nothing was parked
    _announced_once_on_every_channel(h, jobs)
    assert h.store.parked_transitions == {}
    assert h.store.pending() == []


def test_a_key_policy_broken_for_three_hours_is_retried_not_parked() -> None:
    # Given a topic whose key policy a deploy broke for three hours (every publish AccessDenied)
    h = Harness()
    jobs = _outage(h, h.channel("sns"), timedelta(hours=3), "KMSAccessDenied")
    # Then once the key is fixed every completion is delivered; nothing parked, the bus never held back
    _announced_once_on_every_channel(h, jobs)
    assert h.store.parked_transitions == {}


def test_a_bus_deleted_and_recreated_gets_what_it_missed() -> None:
    # Given a bus deleted by mistake (ResourceNotFoundException) and recreated 40 minutes later
    h = Harness()
    jobs = _outage(h, h.publisher, timedelta(minutes=40), "ResourceNotFoundException")
    # Then it gets every transition it missed, with nothing parked
    _announced_once_on_every_channel(h, jobs)
    assert h.store.parked_transitions == {}


def test_a_down_bus_does_not_hold_back_the_topic_and_the_chat() -> None:
    # Given a bus that is down
    h = Harness()
    arn = _job(h, 1)
    h.run()
    h.publisher.outage = lambda: "InternalFailure"
    # When a job fails
    h.api.set_status(IMPORT, arn, "Failed")
    h.run()
    # Then people heard of it in that same run, while the bus keeps it pending
    for name in ("sns", "chat"):
        assert h.channel(name).statuses(arn) == [("InProgress", "Failed", "status-changed")]
    assert h.publisher.statuses(arn) == []
    (pending,) = h.store.pending()
    assert pending.job.job_id == arn


def test_a_down_topic_does_not_hold_back_the_bus_and_the_bus_is_not_repeated() -> None:
    # Given a notification topic that is down for an hour
    h = Harness()
    arn = _job(h, 1)
    h.run()
    h.channel("sns").outage = down_until(h.clock, h.clock() + timedelta(hours=1))
    # When a job fails and runs go on past the outage (and past the back-off's 30 minutes)
    h.api.set_status(IMPORT, arn, "Failed")
    for _ in range(20):
        h.run()
    # Then the bus had it in the first run and never again; the topic once it was back
    assert h.publisher.statuses(arn) == [("InProgress", "Failed", "status-changed")]
    assert h.channel("sns").statuses(arn) == [("InProgress", "Failed", "status-changed")]
    assert h.store.pending() == []


def test_an_outage_longer_than_the_retry_time_is_parked_then_redriven_with_the_original_event_id() -> None:
    # Given a bus down for 30 hours (longer than the 24-hour retry time) while a job fails
    h = Harness()
    arn = _job(h, 1)
    h.run()
    back = h.clock() + timedelta(hours=30)
    h.publisher.outage = down_until(h.clock, back)
    h.api.set_status(IMPORT, arn, "Failed")
    h.run()
    (claimed,) = h.store.pending()
    while h.clock() + timedelta(minutes=30) < back:
        h.run(timedelta(minutes=30))
    # Then after 24 hours the bus parked it, for a passing reason, and it is in history as such
    (parked,) = h.store.parked_transitions.values()
    assert parked.retryable == {"eventbridge"} and "refused for 24 h" in parked.channels["eventbridge"]
    assert h.store.history[claimed.event_id].deliveries.parked.keys() == {"eventbridge"}
    assert h.store.pending() == []
    # When the bus is back, the next run re-drives it with its original eventId
    h.clock.now = back
    summary = h.run()
    assert [t.event_id for t in h.publisher.delivered] == [claimed.event_id]
    assert summary.redriven == 1
    assert h.store.parked_transitions == {}
    assert h.store.history[claimed.event_id].deliveries.delivered == {"eventbridge", "sns", "chat"}
    # And people heard of it once, when it happened
    assert h.channel("sns").statuses(arn) == [("InProgress", "Failed", "status-changed")]


def test_a_down_channel_is_retried_with_backoff_not_every_run() -> None:
    # Given a bus down for three hours while a job completes
    h = Harness()
    arn = _job(h, 1)
    h.run()
    h.publisher.outage = down_until(h.clock, h.clock() + timedelta(hours=3))
    h.api.set_status(IMPORT, arn, "Completed")
    calls_before = h.publisher.calls
    # When runs go on every five minutes through the outage (36 runs)
    for _ in range(36):
        h.run()
    # Then the bus was tried far fewer times than there were runs (back-off up to 30 minutes)
    assert h.publisher.calls - calls_before <= 12
    h.run(timedelta(minutes=31))
    assert h.publisher.statuses(arn) == [("InProgress", "Completed", "status-changed")]


def test_a_channel_that_recovers_for_one_run_then_fails_again_loses_nothing() -> None:
    # Given a bus that is down, up for one run, then down again for two hours
    h = Harness()
    jobs = [_job(h, n) for n in range(4)]
    h.run()
    h.publisher.outage = lambda: "InternalFailure"
    for arn in jobs[:2]:
        h.api.set_status(IMPORT, arn, "Completed")
    h.run()
    h.publisher.outage = lambda: None
    h.api.set_status(IMPORT, jobs[2], "Completed")
    h.run(timedelta(minutes=2))
    h.publisher.outage = down_until(h.clock, h.clock() + timedelta(hours=2))
    h.api.set_status(IMPORT, jobs[3], "Completed")
    for _ in range(30):
        h.run()
    # Then every completion reached every channel once, and nothing was parked
    _announced_once_on_every_channel(h, jobs)
    assert h.store.parked_transitions == {}


def test_thousands_of_pending_claims_drain_a_bounded_number_per_run() -> None:
    # Given 400 jobs that completed while the bus was down, their claims pending
    h = Harness()
    jobs = [_job(h, n) for n in range(400)]
    h.run()
    h.publisher.outage = down_until(h.clock, h.clock() + timedelta(minutes=20))
    for arn in jobs:
        h.api.set_status(IMPORT, arn, "Completed")
    h.run()
    assert len(h.store.pending()) == 400
    # When the bus is back
    delivered = []
    for _ in range(6):
        h.run(timedelta(minutes=30))
        delivered.append(len(h.publisher.delivered))
    # Then each run took over at most 100 of them (its time budget holds), and all were delivered
    steps = [b - a for a, b in zip([0, *delivered], delivered, strict=False)]
    assert max(steps) <= 100
    assert len({t.event_id for t in h.publisher.delivered}) == 400
    assert h.store.pending() == []


def test_a_clock_ahead_by_a_day_parks_early_and_the_redrive_delivers() -> None:
    # Given a bus down while a job completes, and one run whose clock is 25 hours ahead
    h = Harness()
    arn = _job(h, 1)
    h.run()
    h.publisher.outage = lambda: "ThrottlingException"
    h.api.set_status(IMPORT, arn, "Completed")
    h.run()
    h.clock.advance(timedelta(hours=25))
    h.run(timedelta(minutes=31))
    h.clock.advance(-timedelta(hours=25))
    (parked,) = h.store.parked_transitions.values()
    assert parked.retryable == {"eventbridge"}
    # When the bus is back and runs go on with the right clock
    h.publisher.outage = lambda: None
    h.run()
    # Then the transition was re-driven: nothing lost
    assert h.publisher.statuses(arn) == [("InProgress", "Completed", "status-changed")]
    assert h.store.parked_transitions == {}


def test_a_chat_topic_removed_while_claims_are_pending_counts_as_done() -> None:
    # Given a job whose completion the bus and the chat topic refuse
    h = Harness()
    arn = _job(h, 1)
    h.run()
    h.publisher.outage = h.channel("chat").outage = lambda: "InternalFailure"
    h.api.set_status(IMPORT, arn, "Completed")
    h.run()
    assert len(h.store.pending()) == 1
    # When the configuration drops the chat topic, and the bus is back
    h.channels = [c for c in h.channels if c.name != "chat"]
    h.publisher.outage = lambda: None
    h.run(timedelta(minutes=2))
    # Then the bus got it and the claim finished: a channel no longer configured is owed nothing
    assert h.publisher.statuses(arn) == [("InProgress", "Completed", "status-changed")]
    assert h.store.pending() == [] and h.store.parked_transitions == {}


def test_a_chat_topic_added_while_claims_are_pending_gets_only_newer_transitions() -> None:
    # Given a completion the bus refuses, pending, and no chat topic configured
    h = Harness()
    h.channels = [c for c in h.channels if c.name != "chat"]
    first, second = _job(h, 1), _job(h, 2)
    h.run()
    h.publisher.outage = lambda: "InternalFailure"
    h.api.set_status(IMPORT, first, "Completed")
    h.run()
    # When a chat topic is configured, the bus is back and another job completes
    chat = RecordingPublisher("chat", people=True)
    h.channels.append(chat)
    h.publisher.outage = lambda: None
    h.api.set_status(IMPORT, second, "Completed")
    h.run(timedelta(minutes=2))
    # Then the new topic got the newer completion only; the bus both
    assert chat.statuses(first) == [] and chat.statuses(second) != []
    assert h.publisher.statuses(first) != [] and h.store.pending() == []


# -- the digest ------------------------------------------------------------------------------------
def test_thirty_transitions_in_one_run_reach_people_as_one_digest_and_the_bus_as_thirty_events() -> None:
    # Given 30 running jobs
    h = Harness()
    jobs = [_job(h, n) for n in range(30)]
    h.run()
    # When they all complete before the next run
    for arn in jobs:
        h.api.set_status(IMPORT, arn, "Completed")
    h.run()
    # Then the bus got 30 events, the topic and the chat one digest each, of those 30
    assert len(h.publisher.delivered) == 30
    for name in ("sns", "chat"):
        channel = h.channel(name)
        assert channel.delivered == []
        (digest,) = channel.digests
        assert sorted(t.job.job_id for t in digest) == sorted(jobs)
    assert h.store.pending() == []


def test_twenty_transitions_are_not_digested() -> None:
    h = Harness()
    jobs = [_job(h, n) for n in range(20)]
    h.run()
    for arn in jobs:
        h.api.set_status(IMPORT, arn, "Completed")
    h.run()
    assert len(h.channel("sns").delivered) == 20 and h.channel("sns").digests == []


def test_a_refused_digest_is_retried_and_counts_only_once_accepted() -> None:
    # Given 25 completions while the topic is down for 20 minutes
    h = Harness()
    jobs = [_job(h, n) for n in range(25)]
    h.run()
    topic = h.channel("sns")
    topic.outage = down_until(h.clock, h.clock() + timedelta(minutes=20))
    for arn in jobs:
        h.api.set_status(IMPORT, arn, "Completed")
    h.run()
    # Then the topic owes them all while it is down: the bus and chat are done with them
    assert topic.digests == [] and len(h.store.pending()) == 25
    assert len(h.channel("chat").digests) == 1
    # And once it is back they reach it, as one digest, once
    for _ in range(8):
        h.run()
    assert [len(d) for d in topic.digests] == [25] and topic.delivered == []
    assert h.store.pending() == []


def test_digest_threshold_zero_never_digests() -> None:
    h = Harness(policy=POLICY._replace(digest_threshold=0))
    jobs = [_job(h, n) for n in range(30)]
    h.run()
    for arn in jobs:
        h.api.set_status(IMPORT, arn, "Completed")
    h.run()
    assert len(h.channel("chat").delivered) == 30 and h.channel("chat").digests == []


# -- the operator's re-drive -----------------------------------------------------------------------
def test_the_operators_redrive_sends_a_parked_transition_to_one_channel_with_its_event_id() -> None:
    # Given a transition every channel refused for good (a malformed entry, since fixed)
    h = Harness()
    arn = _job(h, 1)
    h.run()
    for channel in h.channels:
        channel.refuse = lambda _: "InvalidParameter"
    h.api.set_status(IMPORT, arn, "Failed")
    h.run()
    (parked,) = h.store.parked_transitions.values()
    assert set(parked.channels) == {"eventbridge", "sns", "chat"} and parked.retryable == frozenset()
    for channel in h.channels:
        channel.refuse = lambda _: None
    # When the operator re-drives it to the bus only
    (outcome,) = redrive(
        h.store,
        h.channels,
        [parked],
        h.clock(),
        digest_threshold=20,
        channels={"eventbridge"},
        only_retryable=False,
    )
    # Then the bus got it with the original eventId; the other channels stay parked
    assert outcome.channels == {"eventbridge": "delivered"}
    assert [t.event_id for t in h.publisher.delivered] == [parked.transition.event_id]
    (left,) = h.store.parked_transitions.values()
    assert set(left.channels) == {"sns", "chat"}
    # And the automatic re-drive never retries what was refused for good
    h.run()
    assert h.channel("sns").delivered == []


def test_a_run_takes_over_at_most_its_allowance_of_unfinished_claims_across_sources() -> None:
    # Given six accounts with 100 completions each, pending while the bus was down
    h = Harness()
    accounts = [f"1111111111{n:02d}" for n in range(6)]
    sources = [Source(account, REGION, JOB_KINDS["bedrock-model-import"]) for account in accounts]
    arns = {
        source.key: [
            h.api.add(source, FakeJob(f"job-{source.account}-{n}", "InProgress", h.clock())).job_id
            for n in range(100)
        ]
        for source in sources
    }
    h.clock.advance(FIVE_MINUTES)
    h.audit(accounts)
    h.publisher.outage = down_until(h.clock, h.clock() + timedelta(minutes=20))
    for source in sources:
        for arn in arns[source.key]:
            h.api.set_status(source, arn, "Completed")
    h.clock.advance(FIVE_MINUTES)
    h.audit(accounts)
    assert len(h.store.pending()) == 600
    # When the bus is back
    h.clock.advance(timedelta(minutes=31))
    h.audit(accounts)
    # Then that run delivered 500 of them (the run's allowance), and the next one the rest
    assert len(h.publisher.delivered) == 500
    h.clock.advance(FIVE_MINUTES)
    h.audit(accounts)
    assert len({t.event_id for t in h.publisher.delivered}) == 600 and h.store.pending() == []


def test_a_run_claims_no_more_than_it_can_deliver_and_the_next_run_resumes() -> None:
    # Given 2,100 jobs that all complete between two runs (more than a run delivers: 2,000)
    h = Harness()
    jobs = [_job(h, n) for n in range(2_100)]
    h.run()
    for arn in jobs:
        h.api.set_status(IMPORT, arn, "Completed")
    # When the next run audits them
    first = h.run()
    # Then it stopped claiming once its outbox was full, delivered what it claimed, kept its checkpoint
    delivered = len(h.publisher.delivered)
    assert 2_000 <= delivered < 2_100 and first.stopped_early
    assert not first.sources[0].checkpoint_advanced and h.store.pending() == []
    # And the next run announces the rest, none twice
    h.run()
    assert len({t.event_id for t in h.publisher.delivered}) == len(h.publisher.delivered) == 2_100
