#!/usr/bin/env python3
"""CDK app of job-auditor: typed, validated context -> one stack, checked by cdk-nag.

`cdk synth`/`cdk deploy` (via cdk.json) and `make synth` (CDK_OUTDIR=cdk.out python app.py) both run
this file. It needs no AWS account or lookup: the stack is environment-agnostic. It exits 1 when the
context is invalid or the synthesized app has a finding no construct acknowledged (cdk-nag's among them).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# The stack shares contracts (environment variable names, table schema) with the Lambda's code.
sys.path.insert(0, str(ROOT / "lambdas"))

import aws_cdk as cdk  # noqa: E402
from aws_cdk import cx_api  # noqa: E402

from infra import nag  # noqa: E402
from infra.config import AuditorConfig, ConfigError, context_from_node, load_config  # noqa: E402
from infra.stack import JobAuditorStack  # noqa: E402


def build_app(app: cdk.App, config: AuditorConfig) -> JobAuditorStack:
    """Add the stack and the cdk-nag checks (a validation plugin of `app`) to `app`."""
    stack = JobAuditorStack(
        app,
        config.stack_name,
        config=config,
        description="job-auditor: announces status transitions of Bedrock and Q in Connect jobs",
    )
    cdk.Tags.of(stack).add("project", "job-auditor")
    nag.add_checks(app)
    return stack


def main() -> int:
    app = cdk.App()
    try:
        config = load_config(context_from_node(app.node.try_get_context))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    build_app(app, config)
    assembly: cx_api.CloudAssembly | None = None
    try:
        assembly = app.synth()
    except RuntimeError as exc:  # jsii's form of aws-cdk-lib's ValidationFailed; the report was printed
        if "ValidationFailed" not in str(exc):
            raise
    # Read the report rather than trust the exception: in the CLI's process mode CDK only sets the exit
    # code of its Node process.
    findings = nag.unacknowledged_findings(Path(app.outdir))
    # Error annotations of the constructs do not fail a synth either.
    if assembly is not None:
        findings += [
            f"{message.id}: {message.entry.data}"
            for stack in assembly.stacks
            for message in stack.messages
            if message.level == cx_api.SynthesisMessageLevel.ERROR
        ]
    for finding in findings:
        print(f"error: {finding}", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
