"""The organization-mode memory benchmark (benchmarks/org_memory.py) measures what the stack deploys:
the handlers the fan-out's tasks name, and batches of the default size."""

from benchmarks import org_memory
from job_auditor.infra import fanout
from job_auditor.infra.config import JobAuditorProps


def test_the_memory_benchmark_runs_the_deployed_handlers_at_the_default_batch_size() -> None:
    assert org_memory.PLAN_HANDLER == fanout.PLAN_HANDLER
    assert org_memory.BATCH_HANDLER == fanout.BATCH_HANDLER
    assert JobAuditorProps.model_fields["items_per_batch"].default == org_memory.ITEMS_PER_BATCH
