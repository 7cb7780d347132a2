"""The organization-mode memory benchmark (benchmarks/org_memory.py) cuts batches as the stack's
default does (it runs the handlers the tasks name: job_auditor.contract.handlers)."""

from benchmarks import org_memory
from job_auditor.infra.config import JobAuditorProps


def test_the_memory_benchmark_cuts_batches_of_the_default_size() -> None:
    assert JobAuditorProps().items_per_batch == org_memory.ITEMS_PER_BATCH
