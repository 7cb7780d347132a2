#!/usr/bin/env python3
"""CDK app of job-auditor: typed, validated context -> one stack holding the JobAuditor construct (and,
given `auditorRoleArn`, the member stack `<stackName>Member` for `cdk deploy JobAuditorMember`),
checked by cdk-nag. A thin user of the `job_auditor` package, as any other app would be.

`cdk synth`/`cdk deploy` (via cdk.json) and `make synth` (CDK_OUTDIR=cdk.out python app.py) both run
this file. It needs no AWS account or lookup: the stack is environment-agnostic. It exits 1 when the
context is invalid or the synthesized app has a finding no construct acknowledged (cdk-nag's among them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import aws_cdk as cdk

from job_auditor import ConfigError, JobAuditorProps, JobAuditorStack, add_nag_checks
from job_auditor.infra import nag
from job_auditor.infra.config import load_config
from job_auditor.infra.member_role import JobAuditorMemberStack, member_stack_name

ROOT = Path(__file__).resolve().parent


def apply_project_context(app: cdk.App) -> None:
    """Give `app` the context of cdk.json (the feature flags) wherever the key is still unset.

    The CDK CLI passes cdk.json's context itself; `python app.py` (make synth) and the tests build the
    app without the CLI, and would otherwise synthesize with other flags than `cdk deploy`.
    """
    for key, value in json.loads((ROOT / "cdk.json").read_text())["context"].items():
        if app.node.try_get_context(key) is None:
            app.node.set_context(key, value)


def build_app(app: cdk.App, config: JobAuditorProps) -> JobAuditorStack:
    """Add the stack and the cdk-nag checks (a validation plugin of `app`) to `app`, a new App."""
    apply_project_context(app)
    stack = JobAuditorStack(
        app,
        config.stack_name,
        config=config,
        description="job-auditor: announces status transitions of Bedrock and Q in Connect jobs",
    )
    if config.auditor_role_arn:
        # The member role for an account the StackSet does not reach (the management account) or an
        # account listed by hand: `cdk deploy JobAuditorMember -c auditorRoleArn=...`.
        JobAuditorMemberStack(
            app, member_stack_name(config), config=config, auditor_role_arn=config.auditor_role_arn
        )
    add_nag_checks(app)
    return stack


def app_config(app: cdk.App) -> JobAuditorProps:
    """The app's whole context (-c, cdk.json, cdk.context.json and what the CLI adds), validated: an
    unknown key fails too, not only a bad value."""
    return load_config(app.node.get_all_context())


def main() -> int:
    app = cdk.App()
    apply_project_context(app)
    try:
        # The constructs check what only they can measure (the functions' environment against
        # Lambda's 4 KB, a job kind offered in none of the audited regions) and raise the same error.
        build_app(app, app_config(app))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        app.synth()
    except RuntimeError as exc:  # jsii's form of aws-cdk-lib's ValidationFailed; the report was printed
        if "ValidationFailed" not in str(exc):
            raise
    # Read the report rather than trust the exception: in the CLI's process mode CDK only sets the exit
    # code of its Node process. With @aws-cdk/core:annotationsInValidationReport (cdk.json) the report
    # also holds the constructs' error and warning annotations.
    findings = nag.unacknowledged_findings(Path(app.outdir))
    for finding in findings:
        print(f"error: {finding}", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
