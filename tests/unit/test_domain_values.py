"""Every value class of the domain is immutable and compared and hashed by its values.

The domain's values are shared between threads (a run audits sources in parallel) and kept as keys
and in claims: none may change after it is built. Each class defined in job_auditor.auditor.domain
needs a sample here, so a class added later is checked too.
"""

import enum
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from datetime import timedelta

import pytest

from job_auditor.auditor import domain
from job_auditor.auditor.domain.batches import ItemPlan
from job_auditor.auditor.domain.checkpoint import Checkpoint, WindowPlan
from job_auditor.auditor.domain.diff import Transition
from job_auditor.auditor.domain.digest import Digest
from job_auditor.auditor.domain.events import Event, build_event
from job_auditor.auditor.domain.jobs import SCOPE_DELETED, JobState, ObservedJob, Source
from job_auditor.auditor.domain.notifications import Look, Notification, build_notification
from job_auditor.auditor.domain.schedule import AuditRecord, Orphan, record_of
from job_auditor.auditor.domain.sweep import SweepProgress, SweepStart, SweepState
from tests.unit.factories import SOURCE, T0, job, transition


def _event() -> Event:
    return build_event(transition(job(1, "Failed", failure_message="bad input")), "job-auditor")


# A fresh instance at each call, built from equal values.
SAMPLES: dict[type, Callable[[], object]] = {
    Source: lambda: Source(SOURCE.account, SOURCE.region, SOURCE.spec, ("KB1",)),
    ObservedJob: lambda: job(1, "Completed", ended_at=T0),
    JobState: lambda: transition(job(2, "Failed")).as_state(),
    Transition: lambda: transition(job(3, "Completed")),
    AuditRecord: lambda: record_of(SOURCE, checkpoint=Checkpoint(T0, T0), first_attempted_at=T0),
    Orphan: lambda: Orphan(SOURCE, SCOPE_DELETED),
    Checkpoint: lambda: Checkpoint(T0, T0 + timedelta(hours=1)),
    WindowPlan: lambda: WindowPlan(T0, baseline=True, sweep=True, sweep_start=T0 - timedelta(days=1)),
    SweepProgress: lambda: SweepProgress(T0, T0, SweepState.STOPPED, cursor="page-2", pages=1),
    SweepStart: lambda: SweepStart(True, SweepProgress(T0, T0, SweepState.RUNNING), resume_at="page-2"),
    Look: lambda: Look("FAILED", ":x:", "#d40e0d"),
    Notification: lambda: build_notification(_event().detail),
    Event: _event,
    Digest: lambda: Digest.of([_event().detail]),
    ItemPlan: lambda: ItemPlan(items=[{"account": SOURCE.account}], over_bound=[]),
}


def _domain_classes() -> set[type]:
    found: set[type] = set()
    for info in pkgutil.iter_modules(domain.__path__):
        module = importlib.import_module(f"{domain.__name__}.{info.name}")
        found |= {
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__ and not issubclass(cls, enum.Enum | Exception)
        }
    return found


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def test_every_domain_class_has_a_sample() -> None:
    # Given the classes the domain's modules define (enums aside)
    classes = _domain_classes()
    # Then each is checked below, and no sample names a class the domain no longer has
    assert {cls.__name__ for cls in classes} == {cls.__name__ for cls in SAMPLES}


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda cls: cls.__name__)
def test_a_domain_value_is_immutable_and_compared_and_hashed_by_value(cls: type) -> None:
    # Given two instances built from equal values
    first, second = SAMPLES[cls](), SAMPLES[cls]()
    assert type(first) is cls
    names = list(inspect.signature(cls).parameters)
    values = [getattr(first, name) for name in names]
    # Then they are equal, though distinct objects
    assert first is not second
    assert first == second
    # And none of their fields can be set, nor an attribute added
    for name in names:
        with pytest.raises(AttributeError):
            setattr(first, name, getattr(second, name))
    with pytest.raises(AttributeError):
        first.added = 1  # type: ignore[attr-defined]
    # And the class hashes by value (not by identity, not unhashable as a mutable class is); an
    # instance whose fields are all hashable hashes as its equal does
    assert cls.__hash__ is not None
    assert cls.__hash__ is not object.__hash__
    if all(_hashable(value) for value in values):
        assert hash(first) == hash(second)
        assert len({first, second}) == 1
