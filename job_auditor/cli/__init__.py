"""The `job-auditor` operator CLI (a console script of the package): `status`, `jobs`, `history`,
`run --once` and `replay` over a deployed stack, found by its CloudFormation outputs.

Not part of the Lambda's asset, and free of aws-cdk-lib and pydantic: it starts fast.
"""

from __future__ import annotations

from job_auditor.cli.commands import cli, main

__all__ = ["cli", "main"]
