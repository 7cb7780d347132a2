"""Running a CDK app of one's own (an `app.py` in its folder) as its user would: `python app.py` with
CDK_OUTDIR, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def synth_app(app_dir: Path, outdir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `app_dir/app.py` from `app_dir`, writing the cloud assembly to `outdir`; `env` adds to the
    environment (e.g. PYTHONPATH). The caller asserts on the return code and output."""
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=app_dir,
        env=dict(os.environ, CDK_OUTDIR=str(outdir), **env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
