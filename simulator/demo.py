"""`make demo`: the auditor's main job, end to end, on the local simulator and moto. No AWS account.

It seeds jobs of all three APIs, runs the real Lambda handler for several scheduled cycles while jobs
progress (a model import that runs for three days, a copy job that fails with a message, Q in
Connect imports in a discovered knowledge base), and shows per cycle what a user would see: the
transitions, the EventBridge events received by a rule's SQS queue, and the SNS notifications
received by a subscribed queue. Handler logs and metrics go to a file, not the screen.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambdas"))  # the Lambda asset's import root, as in AWS

from simulator.world import ACCOUNT, DEFAULT_START, REGION, MotoServer, World  # noqa: E402

LONG_FAILURE = (
    "Model validation failed: the checkpoint at s3://demo-models/phi-3/ is missing config.json; "
    "expected a Hugging Face safetensors layout. " * 3
).strip()


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join("    " + o for o in out)


def show_cycle(number: int, title: str, w: World, summary: dict[str, Any]) -> tuple[int, int]:
    events = w.events_received()
    notes = w.notifications_received()
    print(f"\n=== Cycle {number} at {w.now():%Y-%m-%d %H:%M} UTC: {title}")
    listed = sum(s["jobs_listed"] for s in summary["sources"])
    silently = sum(s["recorded_silently"] for s in summary["sources"])
    calls = sum(s["api_calls"] for s in summary["sources"])
    print(
        f"    run: status={summary['status']}, sources={len(summary['sources'])}, jobs listed={listed}, "
        f"API calls={calls}, transitions={summary['transitions']}, published={summary['published']}"
        + (f", recorded silently as baseline={silently}" if silently else "")
    )
    if not events and not notes:
        print("    (nothing to announce)")
        return 0, 0
    rows = []
    for event in events:
        d = event["detail"]
        rows.append(
            [
                d["jobKind"],
                (d["jobName"] or d["jobId"])[:28],
                d["previousStatus"] or "(new)",
                f"STUCK ({d['status']})" if d["transition"] == "stuck" else d["status"],
                f"{(d['durationSeconds'] or 0) / 3600:.1f} h",
                d["eventId"][:8],
            ]
        )
    print("\n    EventBridge events received by the rule's SQS queue:")
    print(table(rows, ["job kind", "job", "from", "to", "duration", "eventId"]))
    print("\n    SNS notifications received by the subscribed SQS queue (subject, then body of the first):")
    for note in notes:
        print(f"    - {note['Subject']}")
    first = notes[0]["Message"]
    print(textwrap.indent(first if len(first) < 1200 else first[:1200] + " ...", "      | "))
    return len(events), len(notes)


def run_cycle(w: World, log: IO[str]) -> dict[str, Any]:
    with redirect_stdout(log):
        return w.run()


def play(w: World, log: IO[str]) -> list[int]:
    """Seed jobs and run eight scheduled cycles; return [events, notifications] received."""
    plane = w.plane
    print("job-auditor demo: the real handler against the local job simulator and moto")
    print(f"account {ACCOUNT}, region {REGION}; handler logs and metrics: {log.name}")
    print("consumers: an EventBridge rule on the bus -> SQS queue; an SQS queue subscribed to the topic")

    llama = plane.create_model_import_job(
        region=REGION,
        name="llama-3-8b-import",
        status="InProgress",
        creation_time=w.now() - timedelta(hours=1),
    )
    mistral = plane.create_model_import_job(
        region=REGION,
        name="mistral-7b-import",
        status="InProgress",
        creation_time=w.now() - timedelta(minutes=20),
    )
    source_model = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/imported/abcd1234efgh"
    copy = plane.create_model_copy_job(
        region=REGION,
        target_model_name="llama-3-8b-eu",
        source_model_arn=source_model,
        status="InProgress",
    )
    kb = plane.create_knowledge_base(region=REGION, name="support-quick-responses")
    qr = plane.create_import_job(region=REGION, knowledge_base_id=kb, status="START_IN_PROGRESS")
    totals = [0, 0]

    def cycle(number: int, title: str) -> None:
        summary = run_cycle(w, log)
        events, notes = show_cycle(number, title, w, summary)
        totals[0] += events
        totals[1] += notes

    cycle(1, "first run after deploy: 4 jobs found, recorded as the baseline, no notification storm")

    w.advance(timedelta(minutes=5))
    plane.set_status(mistral, "Completed")
    plane.set_status(qr, "COMPLETE")
    phi = plane.create_model_import_job(region=REGION, name="phi-3-mini-import", status="InProgress")
    cycle(2, "mistral import completes, quick responses import completes, a new import starts")

    w.advance(timedelta(minutes=5))
    plane.set_status(
        copy, "Failed", failure_message="Source model is encrypted with a key the target cannot use"
    )
    plane.set_status(phi, "Failed", failure_message=LONG_FAILURE)
    cycle(3, "the copy job and the phi-3 import fail, each with a failure message")

    w.advance(timedelta(hours=23))
    cycle(4, "a day later the llama import is still in progress: one stuck alert, once")

    w.advance(timedelta(days=1))
    kb2 = plane.create_knowledge_base(region=REGION, name="billing-quick-responses")
    bad = plane.create_import_job(region=REGION, knowledge_base_id=kb2, status="START_IN_PROGRESS")
    cycle(5, "a new knowledge base is discovered, with an import job in it")

    w.advance(timedelta(minutes=5))
    plane.set_status(bad, "FAILED")
    cycle(6, "that import fails")

    w.advance(timedelta(days=1))
    plane.set_status(llama, "Completed")
    cycle(7, "three days after it started, long before the checkpoint, the llama import completes")

    w.advance(timedelta(minutes=5))
    cycle(8, "next run: nothing repeats")

    return totals


def main() -> int:
    log_path = Path(tempfile.gettempdir()) / "job-auditor-demo.log"
    moto = MotoServer()
    moto.start()
    try:
        with open(log_path, "w") as log, World(moto, DEFAULT_START) as w:
            with redirect_stdout(log):
                import auditor.handler  # noqa: F401, PLC0415 (bind the JSON logger to the log file)
            totals = play(w, log)
            expected = 9
            print(f"\nDone: {totals[0]} events and {totals[1]} notifications; expected {expected} of each.")
            if totals != [expected, expected]:
                print("demo expectation not met", file=sys.stderr)
                return 1
    finally:
        moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
