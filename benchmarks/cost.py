"""Monthly cost per account-region from the benchmark's measured counts.

Prices: AWS list prices, us-east-1, as read for this model in 2026-11 (check them before relying on
the figures: https://aws.amazon.com/lambda/pricing/, /dynamodb/pricing/on-demand/,
/eventbridge/pricing/, /sns/pricing/). Free tiers are ignored.

Model: a run's cost = a fixed part (the run with no transitions: list, state reads, audit record write,
Lambda duration) + a per-transition part (the difference to the run with transitions, divided by
their count). The fixed part is paid every scheduled run; the per-transition part once per
transition, whatever the schedule, so it is priced per month from an assumed transition rate.
"""

from __future__ import annotations

from typing import Any

PRICES_AS_OF = "2026-11"
PRICES = {
    "lambdaGbSecondArm": 0.0000133334,  # USD per GB-s, arm64 (the function's architecture)
    "lambdaRequest": 0.20 / 1e6,
    "dynamodbWriteUnit": 0.625 / 1e6,  # on-demand, per write request unit
    "dynamodbReadUnit": 0.125 / 1e6,  # on-demand, per read request unit
    "eventBridgeEvent": 1.00 / 1e6,  # custom events, per 64 KB chunk of each PutEvents entry
    "snsPublish": 0.50 / 1e6,  # per 64 KB chunk published; each PublishBatch entry counts
}
MEMORY_GB = 256 / 1024  # infra default functionMemoryMb
# Lambda allocates CPU in proportion to memory: one full vCPU at 1,769 MB.
GB_PER_VCPU = 1769 / 1024
SCHEDULES_MIN = (1, 5, 15)
MINUTES_PER_MONTH = 30 * 24 * 60
# Transitions per month the per-transition part is priced at.
WORKLOADS = {"idle": 0, "1k transitions/day": 30_000, "200 per 5 min": 200 * 12 * 24 * 30}


def billed_seconds(row: dict[str, Any]) -> float:
    """A run's duration on Lambda: the modelled duration (calls at in-Region latency), or the CPU it
    needs at the vCPU share MEMORY_GB buys, whichever is longer. The measured CPU includes the
    benchmark's own metering, so the CPU-bound figure is an upper bound."""
    return max(float(row["modelledS"]), float(row["cpuS"]) / (MEMORY_GB / GB_PER_VCPU))


def _run_cost(row: dict[str, Any]) -> dict[str, float]:
    """USD of one run, by service (SNS: one request per transition per channel, 2 channels)."""
    return {
        "lambda": billed_seconds(row) * MEMORY_GB * PRICES["lambdaGbSecondArm"] + PRICES["lambdaRequest"],
        "dynamodb": row["writeUnitsEstimated"] * PRICES["dynamodbWriteUnit"]
        + row["readUnitsEstimated"] * PRICES["dynamodbReadUnit"],
        "eventbridge": row["transitions"] * PRICES["eventBridgeEvent"],
        "sns": row["transitions"] * PRICES["snsPublish"],
    }


def cost_model(report: dict[str, Any]) -> dict[str, Any]:
    """Fixed and per-transition parts from the scenarios at the same history and in-flight count
    with 0 and with some transitions; monthly totals per schedule and workload."""
    by_key = {(s["history"], s["inFlight"], s["transitionsPerCycle"]): s for s in report["scenarios"]}
    out: dict[str, Any] = {
        "pricesAsOf": PRICES_AS_OF,
        "prices": PRICES,
        "memoryGb": MEMORY_GB,
        "gbPerVcpu": GB_PER_VCPU,
        "scenarios": {},
    }
    for (history, in_flight, transitions), scenario in sorted(by_key.items()):
        idle = by_key.get((history, in_flight, 0))
        if transitions == 0 or idle is None:
            continue
        fixed = _run_cost(idle["auditor"])
        busy = _run_cost(scenario["auditor"])
        count = max(1, scenario["auditor"]["transitions"])
        per_transition = {k: max(0.0, (busy[k] - fixed[k]) / count) for k in fixed}
        name = f"history {history}, {in_flight} in flight"
        model: dict[str, Any] = {}
        for minutes in SCHEDULES_MIN:
            runs = MINUTES_PER_MONTH / minutes
            for label, monthly_transitions in WORKLOADS.items():
                parts = {k: fixed[k] * runs + per_transition[k] * monthly_transitions for k in fixed}
                model[f"{minutes}-min {label}"] = {
                    **{k: round(v, 4) for k, v in parts.items()},
                    "totalUsd": round(sum(parts.values()), 4),
                }
        out["scenarios"][name] = {
            "fixedPerRunUsd": {k: round(v, 9) for k, v in fixed.items()},
            "perTransitionUsd": {k: round(v, 9) for k, v in per_transition.items()},
            "monthly": model,
        }
    return out
