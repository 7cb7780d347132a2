#!/usr/bin/env python3
"""CDK app of job-auditor: typed, validated context -> one stack, checked by cdk-nag.

`cdk synth`/`cdk deploy` (via cdk.json) and `make synth` (CDK_OUTDIR=cdk.out python app.py) both run
this file. It needs no AWS account or lookup: the stack is environment-agnostic.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# The stack shares contracts (environment variable names, table schema) with the Lambda's code.
sys.path.insert(0, str(ROOT / "lambdas"))

import aws_cdk as cdk  # noqa: E402
from aws_cdk import cx_api  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.config import AuditorConfig, ConfigError, load_config  # noqa: E402
from infra.stack import JobAuditorStack  # noqa: E402


def build_app(app: cdk.App, config: AuditorConfig) -> JobAuditorStack:
    """Add the stack and the cdk-nag checks to `app`."""
    stack = JobAuditorStack(
        app,
        config.stack_name,
        config=config,
        description="job-auditor: announces status transitions of Bedrock and Q in Connect jobs",
    )
    cdk.Tags.of(stack).add("project", "job-auditor")
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return stack


def app_config(app: cdk.App) -> AuditorConfig:
    """The app's whole context (-c, cdk.json, cdk.context.json and what the CLI adds), validated: an
    unknown key fails too, not only a bad value."""
    return load_config(app.node.get_all_context())


def main() -> int:
    app = cdk.App()
    try:
        config = app_config(app)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    build_app(app, config)
    assembly = app.synth()
    # cdk-nag reports findings as error annotations, which alone do not fail a synth: fail it here.
    errors = [
        f"{message.id}: {message.entry.data}"
        for stack in assembly.stacks
        for message in stack.messages
        if message.level == cx_api.SynthesisMessageLevel.ERROR
    ]
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
