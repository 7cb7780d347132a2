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
