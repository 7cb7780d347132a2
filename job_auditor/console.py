"""The `job-auditor` console script: the operator CLI when the `cli` extra is installed, and a clear
message when it is not (the base package is what a CDK app needs; the script is installed with it)."""

from __future__ import annotations

import sys

INSTALL_HINT = "pip install 'job-auditor[cli]'"


def main() -> None:
    """Run the CLI (job_auditor.cli), or exit 1 naming the extra that brings its dependencies."""
    try:
        from job_auditor.cli import main as cli_main  # noqa: PLC0415 (only once the extra is known to be there)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.startswith("job_auditor"):
            raise
        sys.exit(f"job-auditor: the CLI needs the cli extra ({INSTALL_HINT}): {exc.name} is not installed")
    cli_main()
