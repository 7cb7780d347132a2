"""Where AWS offers each job kind: botocore's endpoint data, read by one rule at synth and at run time.

The CDK side (IAM statements, the function's JOB_KINDS, the member role) and the Lambda (which kinds
a run audits in which region) both ask `offered`, so a kind the deployment does not grant is a kind the
run does not try. Like the contract, this module is shared by both sides and ships in the functions'
asset; unlike the contract it is not standard library only: it reads botocore's endpoint data, which
both sides have (the Lambda runtime ships botocore, the CDK app depends on boto3). It is not one of the
Lambda's adapters, which the CDK side never imports, nor part of the stdlib-only contract.

The rule, for one service in one region:
- a region botocore does not place in a partition, or does not list among the partition's regions (a
  region newer than the installed botocore), is given the benefit of the doubt: offered;
- a service the endpoint data does not list in any partition (bedrock-agent: the legacy data stopped
  growing before it) is offered wherever the service it belongs to is (`OFFERED_WITHIN`): Knowledge
  Bases for Amazon Bedrock do not exist where Bedrock does not;
- a global service (only a partition endpoint such as `aws-global`: Organizations, IAM) is offered
  in every region of the partitions that have it;
- otherwise the service is offered exactly in the regions the data lists for it in that partition
  (none in a partition that has no entry for it: Bedrock in the China regions, Q in Connect outside
  the commercial partition).
A kind is offered where every service it calls (its own client and its scope discovery's) is.

The answer depends on the installed botocore: the Lambda's runtime may ship another one than the
machine that ran `cdk synth` (docs/reliability.md says what follows).
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import functools
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import botocore.session
from botocore.exceptions import BotoCoreError

from job_auditor.contract.kinds import JobKindSpec

logger = logging.getLogger(__name__)

# Services botocore's endpoint data does not list, and the service whose regions bound theirs.
OFFERED_WITHIN = {"bedrock-agent": "bedrock"}
# The run summary's count of (kind, region) pairs skipped because the kind is not offered there.
NOT_OFFERED = "notOffered"


_reader: list[botocore.session.Session] = []
_reader_lock = threading.Lock()


def read_through(session: botocore.session.Session) -> None:
    """Read the endpoint data through `session` (one that builds clients, which parses the same data
    for its endpoint resolver), unless it has been read already: a second session would parse it
    again and register botocore's handlers again, a good part of a cold start."""
    with _reader_lock:
        if not _reader:
            _reader.append(session)


def _session() -> botocore.session.Session:
    """The botocore session the endpoint data is read through (no credentials, no network): the one
    `read_through` named, else one of its own."""
    with _reader_lock:
        if not _reader:
            _reader.append(botocore.session.get_session())
        return _reader[0]


@functools.cache
def _partition_regions(partition: str) -> frozenset[str]:
    """The regions the endpoint data places in `partition` (its `regions`), read from the data the
    session's endpoint resolver has parsed already: no service model is loaded for it."""
    data = _session().get_data("endpoints")
    return frozenset(next((p["regions"] for p in data["partitions"] if p["partition"] == partition), ()))


@functools.cache
def _regions(service: str, partition: str) -> frozenset[str]:
    return frozenset(_session().get_available_regions(service, partition))


@functools.cache
def _endpoints(service: str, partition: str) -> frozenset[str]:
    """Every endpoint of the service in the partition, the non-regional ones (`aws-global`) included."""
    return frozenset(_session().get_available_regions(service, partition, allow_non_regional=True))


@functools.cache
def _listed(service: str) -> bool:
    """Whether the endpoint data has an entry for `service` in any partition."""
    return any(_endpoints(service, partition) for partition in _session().get_available_partitions())


@functools.cache
def service_offered(service: str, region: str) -> bool:
    """Whether `service` (an SDK client name) is offered in `region`, by the rule above."""
    try:
        partition = _session().get_partition_for_region(region)
    except (BotoCoreError, ValueError):
        return True
    if region not in _partition_regions(partition):
        return True
    if not _listed(service):
        within = OFFERED_WITHIN.get(service)
        return within is None or service_offered(within, region)
    regional = _regions(service, partition)
    # A global service (Organizations, IAM) has only a partition endpoint: offered in every region.
    return region in regional or (not regional and bool(_endpoints(service, partition)))


def kind_services(spec: JobKindSpec) -> tuple[str, ...]:
    """The SDK clients a kind calls: its own and its scope discovery's, each once."""
    return tuple(dict.fromkeys((spec.client, *(step.client for step in spec.discovery))))


def deciding_services(spec: JobKindSpec) -> tuple[str, ...]:
    """The services whose endpoint data decides where the kind is offered: its own, each replaced by
    the one it belongs to when the data does not list it (bedrock-agent -> bedrock)."""
    decided = (s if _listed(s) else OFFERED_WITHIN.get(s) for s in kind_services(spec))
    return tuple(dict.fromkeys(s for s in decided if s is not None))


def offered(spec: JobKindSpec, region: str) -> bool:
    """Whether the kind can be audited in `region`: every service it calls is offered there."""
    return all(service_offered(service, region) for service in kind_services(spec))


def partition_regions(partitions: Iterable[str] | None = None) -> tuple[str, ...]:
    """Every region botocore lists in `partitions` (default: all of them), in partition order."""
    session = _session()
    names = session.get_available_partitions() if partitions is None else partitions
    return tuple(r for p in names for r in sorted(_partition_regions(p)))


def not_offered_regions(spec: JobKindSpec) -> tuple[str, ...]:
    """Every region botocore lists, in any partition, where the kind is not offered: what a template
    that does not know its region at synth tests `AWS::Region` against."""
    return tuple(r for r in partition_regions() if not offered(spec, r))


# A NamedTuple, not a dataclass: a dataclass compiles its generated methods as its module is imported,
# at every cold start (docs/architecture.md).
class OfferedPlan(NamedTuple):
    """Which kinds a run audits in each region, and the (kind, region) pairs it skips."""

    kinds_by_region: dict[str, tuple[str, ...]]
    not_offered: tuple[tuple[str, str], ...] = ()


def plan_offered(
    specs: Sequence[JobKindSpec],
    regions: Sequence[str],
    is_offered: Callable[[JobKindSpec, str], bool] = offered,
) -> OfferedPlan:
    """Split the configured kinds x regions into those offered and those skipped (`note_not_offered`
    logs each skipped pair the first time this process sees it). `is_offered` is `offered` but where a
    test states its own world."""
    kinds_by_region: dict[str, tuple[str, ...]] = {}
    skipped: list[tuple[str, str]] = []
    for region in regions:
        kept = []
        for spec in specs:
            if is_offered(spec, region):
                kept.append(spec.id)
            else:
                note_not_offered(spec, region)
                skipped.append((spec.id, region))
        kinds_by_region[region] = tuple(kept)
    return OfferedPlan(kinds_by_region, tuple(skipped))


_noted: set[tuple[str, str]] = set()
_noted_lock = threading.Lock()


def note_not_offered(spec: JobKindSpec, region: str) -> bool:
    """Log, once per process (a warm Lambda logs it at its cold start only), that `spec` is skipped in
    `region`; True the first time."""
    with _noted_lock:
        if (spec.id, region) in _noted:
            return False
        _noted.add((spec.id, region))
    missing = [s for s in kind_services(spec) if not service_offered(s, region)]
    logger.info(
        "job kind not offered in this region: skipped (botocore's endpoint data)",
        extra={"jobKind": spec.id, "region": region, "servicesNotOffered": missing},
    )
    return True
