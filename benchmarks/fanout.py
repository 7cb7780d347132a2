"""The fan-out (auditMode=stepfunctions) at 10 / 100 / 1,000 / 10,000 sources: modelled wall time per
period, peak calls per second per account-region, Step Functions state transitions and Lambda
GB-seconds per month, and the monthly cost at a 5-minute schedule; and the cost-target shape
(100 accounts x 4 regions x 5 kinds) beyond a single-account deployment, for Express and Standard
children and several batch sizes, so the defaults are picked from numbers.

    python -m benchmarks.fanout            # the table (also part of `make bench`)

Modelled, not measured: an idle source's calls are those the auditor makes (tests/integration/
test_bench_smoke.py holds it to them: one List, and on DynamoDB three Queries (in flight, recent jobs,
expired claims) and one UpdateItem of its audit record, which carries the checkpoint; the records
themselves come from Plan's one Query of the AUDIT partition and travel in the items), timed at the
same nominal in-Region latencies as benchmarks/run.py. Figures only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.run import JOB_API_LATENCY_S, NOMINAL_LATENCY_S

# Prices (USD, us-east-1, read 2026-11; /work/shared/aws-facts.md "Organization scale", and
# https://aws.amazon.com/step-functions/pricing/, /lambda/pricing/, /s3/pricing/, /dynamodb/pricing/).
SFN_STANDARD_TRANSITION = 0.025 / 1_000
SFN_EXPRESS_REQUEST = 1.00 / 1e6
SFN_EXPRESS_GB_SECOND = 0.00001667  # first 1,000 GB-hours a month
EXPRESS_MEMORY_GB = 64 / 1024  # billed in 64 MB steps; a child holding one batch input stays in the first
LAMBDA_GB_SECOND = 0.0000133334  # arm64
LAMBDA_REQUEST = 0.20 / 1e6
S3_PUT = 0.005 / 1_000
S3_GET = 0.0004 / 1_000
DDB_WRITE_UNIT = 0.625 / 1e6
DDB_READ_UNIT = 0.125 / 1e6
# Step Functions bills a Distributed Map one state transition per child execution it starts
# (docs: concepts-transitions, "Transitions in Distributed Map states").
TRANSITIONS_PER_CHILD_START = 1
# A Standard child runs one Task state: its own start and the Task's transitions.
STANDARD_CHILD_TRANSITIONS = 2
# The parent's states on the normal path: Guard, Overlap, Plan, ItemsInS3, Audit, Summarize,
# MapRunFailed, Done.
PARENT_TRANSITIONS = 8

MINUTES_PER_MONTH = 30 * 24 * 60
SCHEDULE_MIN = 5
MEMORY_GB = 256 / 1024  # functionMemoryMb default
# A warm invocation's own overhead (the Lambda service and the handler's set-up), seconds.
INVOKE_OVERHEAD_S = 0.05
CHILD_START_S = 0.2  # Distributed Map: a child's start after the previous wave ends
SUMMARIZE_S = 0.5
# An idle source: one List on the job API and four DynamoDB calls.
SOURCE_JOB_API_CALLS = 1
SOURCE_DDB_CALLS = 4
SOURCE_S = SOURCE_JOB_API_CALLS * JOB_API_LATENCY_S["List"] + SOURCE_DDB_CALLS * NOMINAL_LATENCY_S["dynamodb"]
# One write: its audit record (the checkpoint in it).
SOURCE_WRITE_UNITS = 1
# Two index queries (eventually consistent: half a unit each), the window's query (strongly
# consistent: one), and its share of Plan's eventually consistent query of the audit records (about
# 500 bytes each, half a unit per 4 KB).
AUDIT_RECORD_BYTES = 500
SOURCE_READ_UNITS = 2 * 0.5 + 1.0 + AUDIT_RECORD_BYTES / 4096 * 0.5
# Discovery per account-region (Plan): the two discovering kinds list their knowledge bases, the
# ingestion kind its data sources per knowledge base (a page each); the scopes' marks come from Plan's
# query of the audit records.
DISCOVERY_LISTS_PER_ACCOUNT_REGION = 3
PLAN_CONCURRENCY = 16  # job_auditor.auditor.fanout.PLAN_CONCURRENCY
INLINE_ITEMS_MAX_BYTES = 64 * 1024
ITEM_BYTES_PER_SOURCE = 50

SIZES = {10: (1, 2), 100: (5, 4), 1_000: (50, 4), 10_000: (500, 4)}  # sources -> (accounts, regions)
KINDS = 5
TARGET_SHAPE = (100, 4)  # the cost target: 100 accounts x 4 regions x 5 kinds
SINGLE_ACCOUNT = (1, 4)


@dataclass(frozen=True)
class Design:
    items_per_batch: int = 20
    max_concurrency: int = 40
    account_region_concurrency: int = 2
    express: bool = True


@dataclass(frozen=True)
class Row:
    sources: int
    accounts: int
    regions: int
    children: int
    wall_s: float
    peak_calls_per_s_per_account_region: float
    transitions_per_month: int
    lambda_gb_s_per_month: float
    usd_per_month: float
    usd_by_service: dict[str, float]


def model(accounts: int, regions: int, design: Design) -> Row:
    """One period of the fan-out for accounts x regions x KINDS sources, and its month."""
    per_ar = KINDS
    sources = accounts * regions * per_ar
    items = accounts * regions
    children = math.ceil(items / design.items_per_batch)
    c = design.account_region_concurrency
    child_s = INVOKE_OVERHEAD_S + math.ceil(per_ar / c) * SOURCE_S
    waves = math.ceil(children / design.max_concurrency)
    # One query of the audit records, then each account's discovery, PLAN_CONCURRENCY accounts at once.
    plan_s = INVOKE_OVERHEAD_S + NOMINAL_LATENCY_S["dynamodb"]
    plan_s += (
        math.ceil(accounts / PLAN_CONCURRENCY)
        * regions
        * (DISCOVERY_LISTS_PER_ACCOUNT_REGION * JOB_API_LATENCY_S["List"])
    )
    wall = 0.1 + plan_s + waves * (CHILD_START_S + child_s) + SUMMARIZE_S
    runs = MINUTES_PER_MONTH / SCHEDULE_MIN
    transitions_run = PARENT_TRANSITIONS + children * TRANSITIONS_PER_CHILD_START
    if not design.express:
        transitions_run += children * STANDARD_CHILD_TRANSITIONS
    gb_s_run = (children * child_s + plan_s + SUMMARIZE_S) * MEMORY_GB
    usd = {
        "stepFunctions": transitions_run * SFN_STANDARD_TRANSITION
        + (
            children * (SFN_EXPRESS_REQUEST + child_s * EXPRESS_MEMORY_GB * SFN_EXPRESS_GB_SECOND)
            if design.express
            else 0
        ),
        "lambda": gb_s_run * LAMBDA_GB_SECOND + (children + 2) * LAMBDA_REQUEST,
        "s3": (2 + (sources * ITEM_BYTES_PER_SOURCE > INLINE_ITEMS_MAX_BYTES)) * S3_PUT + 3 * S3_GET,
        "dynamodb": sources * (SOURCE_WRITE_UNITS * DDB_WRITE_UNIT + SOURCE_READ_UNITS * DDB_READ_UNIT),
    }
    return Row(
        sources=sources,
        accounts=accounts,
        regions=regions,
        children=children,
        wall_s=round(wall, 2),
        # At most `c` calls in flight per account-region; each thread one List per SOURCE_S.
        peak_calls_per_s_per_account_region=round(c * SOURCE_JOB_API_CALLS / SOURCE_S, 1),
        transitions_per_month=round(transitions_run * runs),
        lambda_gb_s_per_month=round(gb_s_run * runs),
        usd_per_month=round(sum(usd.values()) * runs, 2),
        usd_by_service={k: round(v * runs, 2) for k, v in usd.items()},
    )


def direct_usd(accounts: int, regions: int) -> float:
    """Today's direct mode (one function, SOURCE_CONCURRENCY=4 sources at once) per month."""
    sources = accounts * regions * KINDS
    wall = INVOKE_OVERHEAD_S + math.ceil(sources / 4) * SOURCE_S
    per_run = wall * MEMORY_GB * LAMBDA_GB_SECOND + LAMBDA_REQUEST
    per_run += sources * (SOURCE_WRITE_UNITS * DDB_WRITE_UNIT + SOURCE_READ_UNITS * DDB_READ_UNIT)
    return round(per_run * MINUTES_PER_MONTH / SCHEDULE_MIN, 2)


def report(design: Design = Design()) -> dict[str, Any]:
    rows = [model(a, r, design) for a, r in SIZES.values()]
    single = direct_usd(*SINGLE_ACCOUNT)
    choices = []
    for express in (True, False):
        for per_batch in (1, 5, 10, 20, 50):
            d = Design(items_per_batch=per_batch, express=express, max_concurrency=design.max_concurrency)
            target = model(*TARGET_SHAPE, d)
            thousand = model(*SIZES[1_000], d)
            choices.append(
                {
                    "express": express,
                    "itemsPerBatch": per_batch,
                    "targetUsdPerMonth": target.usd_per_month,
                    "beyondSingleAccountUsd": round(target.usd_per_month - single, 2),
                    "orchestrationUsd": round(
                        target.usd_by_service["stepFunctions"] + target.usd_by_service["s3"], 2
                    ),
                    "wall1000S": thousand.wall_s,
                    "meetsTargets": thousand.wall_s <= 60 and target.usd_per_month - single < 30,
                }
            )
    return {
        "design": asdict(design),
        "sourceSeconds": round(SOURCE_S, 3),
        "rows": [asdict(r) for r in rows],
        "singleAccountDirectUsd": single,
        "target": asdict(model(*TARGET_SHAPE, design)),
        "choices": choices,
    }


def print_report(out: dict[str, Any]) -> None:
    print(f"fan-out model (per source {out['sourceSeconds']} s; design {out['design']})")
    print(
        f"{'sources':>8} {'children':>8} {'wall s':>7} {'calls/s/AR':>10} {'SFN trans/mo':>13} "
        f"{'GB-s/mo':>9} {'USD/mo':>8}"
    )
    for r in out["rows"]:
        print(
            f"{r['sources']:>8} {r['children']:>8} {r['wall_s']:>7} "
            f"{r['peak_calls_per_s_per_account_region']:>10} "
            f"{r['transitions_per_month']:>13} {r['lambda_gb_s_per_month']:>9} {r['usd_per_month']:>8}"
        )
    t = out["target"]
    print(
        f"100 accounts x 4 regions x 5 kinds: USD {t['usd_per_month']}/month {t['usd_by_service']}; "
        f"single-account direct: USD {out['singleAccountDirectUsd']}"
    )
    print(f"{'child':>8} {'perBatch':>8} {'USD/mo':>8} {'beyond':>8} {'orchestr.':>9} {'wall@1k':>8} ok")
    for c in out["choices"]:
        kind = "express" if c["express"] else "standard"
        print(
            f"{kind:>8} {c['itemsPerBatch']:>8} {c['targetUsdPerMonth']:>8} {c['beyondSingleAccountUsd']:>8} "
            f"{c['orchestrationUsd']:>9} {c['wall1000S']:>8} {c['meetsTargets']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    out = report()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_report(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
