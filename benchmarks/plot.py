"""PNG of the auditor's cost per cycle against history size (needs matplotlib; optional)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.scenario import listing_class
from job_auditor.contract.kinds import JOB_KINDS


def _list_calls(row: dict[str, Any], label: str) -> int:
    """The list calls of a row's kinds whose listing is bounded the way `label` says."""
    by_kind = row["auditor"]["listCallsByKind"]
    return sum(v["measured"] for k, v in by_kind.items() if listing_class(JOB_KINDS[k]) == label)


def plot(report: dict[str, Any], path: Path) -> Path | None:
    """API calls, DynamoDB requests and wall time against history, at the base window."""
    import matplotlib  # noqa: PLC0415 (optional dependency)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = sorted(
        (s for s in report["scenarios"] if (s["inFlight"], s["transitionsPerCycle"]) == (500, 200)),
        key=lambda s: s["history"],
    )
    if len(rows) < 2:
        return None
    history = [r["history"] for r in rows]
    fig, (calls, time) = plt.subplots(1, 2, figsize=(11, 4))
    series = {
        f"list calls: {label}": [_list_calls(r, label) for r in rows]
        for label in dict.fromkeys(
            listing_class(JOB_KINDS[k]) for r in rows for k in r["auditor"]["listCallsByKind"]
        )
    }
    series["DynamoDB requests"] = [r["auditor"]["dynamodbRequests"] for r in rows]
    for label, values in series.items():
        calls.plot(history, values, marker="o", label=label)
    naive = [(r["history"], r["naive"]["apiCalls"]) for r in rows if "naive" in r]
    if naive:
        calls.plot(*zip(*naive, strict=True), marker="x", linestyle="--", label="naive poller, all calls")
    calls.set(xscale="log", yscale="log", xlabel="finished jobs kept (history)", ylabel="calls per cycle")
    calls.legend(fontsize=8)
    time.plot(history, [r["auditor"]["cpuS"] for r in rows], marker="o", label="auditor CPU (s)")
    time.plot(
        history, [r["auditor"]["modelledS"] for r in rows], marker="o", label="modelled duration in AWS (s)"
    )
    time.plot(history, [r["auditor"]["peakRssMb"] / 100 for r in rows], marker="s", label="peak RSS (100 MB)")
    time.set(
        xscale="log", xlabel="finished jobs kept (history)", title="500 in flight, 200 transitions per cycle"
    )
    time.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
