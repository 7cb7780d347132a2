"""`make demo` keeps its promise: every registered kind shows a transition, and the counts add up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from job_auditor.contract.kinds import JOB_KINDS

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_shows_a_transition_of_every_kind_and_meets_its_expectation() -> None:
    # When the demo runs as `make demo` runs it
    command = [sys.executable, "-m", "simulator.demo"]
    result = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)
    # Then it succeeds, says so, and its event tables name every kind
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("Done: ") and "expected" in last
    counts = [int(word) for word in last.replace(";", " ").split() if word.isdigit()]
    assert counts[0] == counts[1] == counts[2]
    rows = [
        line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ") and line.split()
    ]
    assert set(JOB_KINDS) <= set(rows)
    # And it ends on the CLI's view of its own state: a status row per audited source, every one ok
    cycles, cli = result.stdout.split("\n=== $ job-auditor status\n")
    status, history = cli.split("\n=== $ job-auditor history llama-3-8b-import\n")
    sources = int(cycles.rsplit("sources=", 1)[1].split(",")[0])
    status_rows = [line.split() for line in status.splitlines() if line.split()[0] in JOB_KINDS]
    assert len(status_rows) == sources and {row[0] for row in status_rows} == set(JOB_KINDS)
    assert all(" ok " in f" {' '.join(row)} " for row in status_rows)
    assert f"{sources} sources in job-auditor-state" in status
    # and the llama import's history: its stuck alert and its completion, with the eventIds the
    # bus consumer received (the cycles' tables show their first 8 characters)
    transitions = [line.split() for line in history.splitlines() if line.strip()[:4] == "2026"]
    assert [(row[1], row[3]) for row in transitions] == [
        ("stuck", "InProgress"),
        ("status-changed", "Completed"),
    ]
    for row in transitions:
        assert f" {row[4][:8]}" in cycles
