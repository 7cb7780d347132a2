"""How long each test tier takes: `make check` (the inner loop) and `make test` (everything CI runs),
after install, in wall seconds and CPU seconds (user + system of every process the tier started).

The machine may be shared: wall time is what a developer waits, CPU time what the tier costs whatever
else runs; the load average beside them says how busy the machine was. `--cold` first removes the
type checker's, linter's and pytest's caches, as a fresh clone has none.

    python -m benchmarks.tiers [--tier check] [--tier test] [--cold] [--log DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIERS = ("check", "test")
CACHES = (".mypy_cache", ".ruff_cache", ".pytest_cache")


@dataclass(frozen=True)
class TierTime:
    """One run of one tier."""

    tier: str
    wall: float
    cpu: float
    load_before: float
    load_after: float
    exit_code: int
    summary: str


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _summary(log: str) -> str:
    """pytest's closing line ("889 passed in 412.3s"), if the tier got that far."""
    found = re.findall(r"^=+ (.*(?:passed|failed|error).*) =+$", log, flags=re.MULTILINE)
    return found[-1] if found else "(no pytest summary)"


def run_tier(tier: str, *, cold: bool, log_dir: Path) -> TierTime:
    """Run `make <tier>` from the repository root, its output to `log_dir/<tier>.log`."""
    if cold:
        for cache in CACHES:
            shutil.rmtree(ROOT / cache, ignore_errors=True)
    log_path = log_dir / f"{tier}.log"
    load_before = os.getloadavg()[0]
    cpu_before = _children_cpu()
    started = time.monotonic()
    with log_path.open("w") as log:
        code = subprocess.run(["make", tier], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False)
    wall = time.monotonic() - started
    return TierTime(
        tier=tier,
        wall=wall,
        cpu=_children_cpu() - cpu_before,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        exit_code=code.returncode,
        summary=_summary(log_path.read_text(errors="replace")),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--tier", action="append", choices=TIERS, help="a tier to time (default: both)")
    parser.add_argument("--cold", action="store_true", help="remove the tools' caches before each tier")
    default_log = Path(tempfile.gettempdir()) / "job-auditor-tiers"
    parser.add_argument("--log", type=Path, default=default_log, help="where each tier's output goes")
    args = parser.parse_args(argv)
    args.log.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} processors; caches {'removed' if args.cold else 'kept'}; logs in {args.log}")
    print(f"{'tier':<6} {'wall s':>8} {'cpu s':>8} {'load 1m before/after':>21}  result")
    for tier in args.tier or TIERS:
        t = run_tier(tier, cold=args.cold, log_dir=args.log)
        result = t.summary if t.exit_code == 0 else f"make exited {t.exit_code}: {t.summary}"
        load = f"{t.load_before:.1f} / {t.load_after:.1f}"
        print(f"{t.tier:<6} {t.wall:>8.1f} {t.cpu:>8.1f} {load:>21}  {result}", flush=True)


if __name__ == "__main__":
    main()
