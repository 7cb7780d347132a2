"""The auditor's entry points as the Lambda runtime names them (`module.function`): the constructs set
them as each function's Handler, and the local harnesses (the simulator's World, the fan-out driver,
the benchmarks) invoke them by these names, as the runtime would. No module imports them."""

from __future__ import annotations

# The direct mode's function (auditMode=direct), and the one the fan-out's Plan and Batch share a role with.
AUDITOR = "job_auditor.auditor.handler.lambda_handler"
# The fan-out's steps (auditMode=stepfunctions).
PLAN = "job_auditor.auditor.fanout.plan_handler"
BATCH = "job_auditor.auditor.fanout.batch_handler"
SUMMARIZE = "job_auditor.auditor.fanout.summarize_handler"
