"""`make demo`: the auditor's main job, end to end, on the local simulator and moto. No AWS account.

It runs the real Lambda handler, auditing every registered job kind, for several scheduled cycles
while jobs progress: a model import that runs for three days, a copy job that fails with a message,
Q in Connect imports in a discovered knowledge base, and then, for every other kind the registry
holds, a job that starts and ends in an outcome of its own (succeeded, failed with its reasons,
stopped, partly completed). Per cycle it shows what a user would see: the transitions, the
EventBridge events received by a rule's SQS queue, and the SNS notifications received by a
subscribed queue; at the end, what `job-auditor status` and `job-auditor history` show of its own
state. Handler logs and metrics go to a file, not the screen.
"""

from __future__ import annotations

import io
import sys
import tempfile
import textwrap
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from job_auditor.cli import cli
from job_auditor.contract.kinds import JOB_KINDS, JobKindSpec, StatusCategory, kind_ids
from simulator.world import ACCOUNT, DEFAULT_START, REGION, MotoServer, World

ROOT = Path(__file__).resolve().parent.parent

# The outcomes the other kinds end in, in turn (each kind takes the first of the rotation it has).
OUTCOMES = (StatusCategory.SUCCEEDED, StatusCategory.FAILED, StatusCategory.STOPPED, StatusCategory.PARTIAL)
OUTCOME_MESSAGES = {
    StatusCategory.FAILED: "Access denied to s3://demo-docs/handbook.pdf",
    StatusCategory.PARTIAL: "7 of 100 records failed validation",
}

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
    # The body of a failure if there is one: what people most need to read
    first = next((n["Message"] for n in notes if "Failure message" in n["Message"]), notes[0]["Message"])
    print(textwrap.indent(first if len(first) < 1200 else first[:1200] + " ...", "      | "))
    return len(events), len(notes)


def _scope(w: World, spec: JobKindSpec) -> tuple[str, ...]:
    """A new resource at each level of the kind's scope (a knowledge base, then its data source)."""
    ids: tuple[str, ...] = ()
    for step in spec.discovery:
        name = f"demo-{step.noun.replace(' ', '-')}"
        ids += (
            w.plane.create_scope_resource(step.client, step.list_method, REGION, parent_ids=ids, name=name),
        )
    return ids


def _outcome(spec: JobKindSpec, turn: int) -> tuple[str, StatusCategory]:
    """The kind's status for the turn's outcome, or the next outcome in the rotation it has."""
    for category in OUTCOMES[turn % len(OUTCOMES) :] + OUTCOMES[: turn % len(OUTCOMES)]:
        statuses = [s for s, c in spec.statuses.items() if c is category]
        if statuses:
            return statuses[0], category
    raise ValueError(f"{spec.id} has no terminal status in {OUTCOMES}")


def every_other_kind(w: World, shown: set[str]) -> list[tuple[str, JobKindSpec, StatusCategory]]:
    """Start a job of each registered kind the story has not shown yet; (job id, spec, outcome)."""
    started = []
    for turn, spec in enumerate(spec for spec in JOB_KINDS.values() if spec.id not in shown):
        running = next(s for s, c in spec.statuses.items() if c is StatusCategory.IN_PROGRESS)
        job_id = w.plane.create_job(spec, REGION, scope_ids=_scope(w, spec), status=running)
        started.append((job_id, spec, _outcome(spec, turn)[1]))
    return started


def end_them(w: World, started: list[tuple[str, JobKindSpec, StatusCategory]]) -> None:
    for job_id, spec, category in started:
        status, _ = _outcome(spec, OUTCOMES.index(category))
        w.plane.set_status(job_id, status, OUTCOME_MESSAGES.get(category))


def run_cycle(w: World, log: IO[str]) -> dict[str, Any]:
    with redirect_stdout(log):
        return w.run()


def story(w: World, log: IO[str]) -> tuple[list[int], set[str]]:
    """Seed jobs of the three original kinds and run eight scheduled cycles; [events, notifications]
    received, and the kinds with a transition announced."""
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
    shown: set[str] = set()

    def cycle(number: int, title: str) -> None:
        summary = run_cycle(w, log)
        shown.update(s["job_kind"] for s in summary["sources"] if s["transitions"] and not s["baseline"])
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

    return totals, shown


def play(w: World, log: IO[str]) -> tuple[list[int], int]:
    """The story, then every kind it does not tell; [events, notifications] received, and how
    many of each were expected (the story's nine, and two for each other kind: started, ended)."""
    totals, shown = story(w, log)

    def cycle(number: int, title: str) -> None:
        summary = run_cycle(w, log)
        shown.update(s["job_kind"] for s in summary["sources"] if s["transitions"])
        events, notes = show_cycle(number, title, w, summary)
        totals[0] += events
        totals[1] += notes

    w.advance(timedelta(minutes=5))
    others = every_other_kind(w, shown)
    names = ", ".join(spec.id for _, spec, _ in others)
    cycle(8, f"a job of every other registered kind starts ({names})")

    w.advance(timedelta(minutes=5))
    end_them(w, others)
    outcomes = ", ".join(f"{spec.id} {category.value.lower()}" for _, spec, category in others)
    cycle(9, f"each ends in an outcome of its own: {outcomes}")

    w.advance(timedelta(minutes=5))
    cycle(10, "next run: nothing repeats")

    missing = set(kind_ids()) - shown
    if missing:
        print(f"kinds without a transition: {', '.join(sorted(missing))}", file=sys.stderr)
        totals[0] = -1
    return totals, 9 + 2 * len(others)


def show_cli(w: World, job: str) -> None:
    """What an operator sees of the demo's own state: `job-auditor status`, then one job's history,
    the CLI finding the table from the stack's outputs as it would in an account."""
    w.deploy_stack()
    for args in (["status"], ["history", job]):
        print(f"\n=== $ job-auditor {' '.join(args)}")
        out = io.StringIO()
        with redirect_stdout(out):
            cli.main(args, prog_name="job-auditor", standalone_mode=False)
        print(textwrap.indent(out.getvalue().rstrip(), "    "))


def main() -> int:
    log_path = Path(tempfile.gettempdir()) / "job-auditor-demo.log"
    moto = MotoServer()
    moto.start()
    try:
        every_kind = {"JOB_KINDS": ",".join(kind_ids())}
        with open(log_path, "w") as log, World(moto, DEFAULT_START, env=every_kind) as w:
            with redirect_stdout(log):
                import job_auditor.auditor.observability  # noqa: F401, PLC0415 (bind the JSON logger to the log file)
            totals, expected = play(w, log)
            show_cli(w, "llama-3-8b-import")
            print(f"\nDone: {totals[0]} events and {totals[1]} notifications; expected {expected} of each.")
            if totals != [expected, expected]:
                print("demo expectation not met", file=sys.stderr)
                return 1
    finally:
        moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
