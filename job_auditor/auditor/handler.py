"""Lambda entry point of the direct mode: plan the run, audit it, count it.

Thin on purpose: the wiring is `auditor.wiring`'s, the rules are the planner's, the source auditor's
and the domain's. Only the Lambda runtime imports this module (by its Handler name,
`contract.handlers.AUDITOR`); everything else uses the wiring.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from job_auditor.auditor import wiring
from job_auditor.auditor.observability import logger, metrics, tracer
from job_auditor.auditor.run_metrics import record_run


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled entry point; returns the run summary (per source: window, pages, jobs, transitions,
    API calls, duration)."""
    settings = wiring.load_settings()
    wiring.check_lease(settings, context)
    home = wiring.home_account(settings, context)
    clients = wiring.clients_for(settings, home)
    should_stop = wiring.time_budget(context)
    plan = wiring.plan_run(settings, clients, home, should_stop=should_stop)
    summary = wiring.build_audit_step(settings, clients, home=home).run(plan, should_stop)
    record_run(summary)
    result = summary.as_dict()
    log = logger.warning if summary.status != "ok" else logger.info
    log("audit run finished", extra={"summary": result})
    return result
