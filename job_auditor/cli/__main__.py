"""`python -m job_auditor.cli`: the console script without its entry point installed."""

from job_auditor.cli import main

main()
