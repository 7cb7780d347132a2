"""cdk-nag 3 (AwsSolutions) and the helpers each construct uses to acknowledge the findings it accepts.

cdk-nag 3 is a CDK policy-validation plugin (`Validations.of(app).add_plugins`), not an Aspect: it checks
the construct tree after synthesis, and CDK writes every plugin's findings, and the acknowledged ones
with their reasons, to `validation-report.json` in the cloud assembly. A finding nobody acknowledged
fails `app.synth()` (outside the CLI it raises `ValidationFailed`); `unacknowledged_findings` reads the
same report, so `app.py` and the tests need not rely on that.

A construct acknowledges a finding on a construct of its own (`acknowledge`): the acknowledgment covers
that construct and what is below it, names the exact finding and gives the reason. cdk-nag 3 has no
pattern form (v2's `appliesTo` regular expressions), so an IAM5 finding is named by its wildcard as
cdk-nag flattens it (`wildcard_resource`), e.g. `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:
bedrock:<AWS::Region>:<AWS::AccountId>:model-import-job/*]`: a new wildcard anywhere still fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"
# cx_api.VALIDATION_REPORT_FILE in aws-cdk-lib (not exported to Python).
VALIDATION_REPORT = "validation-report.json"
# Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords on "*" to the function's role.
XRAY_RESOURCE_REASON = (
    "X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) have no resource type in the service "
    "authorization reference, so they take '*'."
)


def add_nag_checks(app: cdk.App) -> None:
    """Run the AwsSolutions pack on every stack of `app` when it synthesizes."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Accept `finding` (a rule id such as `AwsSolutions-SQS3`, or `AwsSolutions-IAM5[...]`) on `scope`
    and everything below it. Acknowledging the same finding on the same construct again replaces the reason.
    """
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"{PACK}::{finding}", reason=reason))


def wildcard_resource(scope: IConstruct, resource: str) -> str:
    """The IAM5 finding cdk-nag reports for a wildcard `resource` (a string that may hold tokens)."""
    return f"AwsSolutions-IAM5[Resource::{_flatten(cdk.Stack.of(scope).resolve(resource))}]"


def wildcard_action(action: str) -> str:
    """The IAM5 finding cdk-nag reports for a wildcard `action`, e.g. `kms:GenerateDataKey*`."""
    return f"AwsSolutions-IAM5[Action::{action}]"


def _flatten(node: Any) -> str:
    """cdk-nag's flattenCfnReference: a resolved CloudFormation value as the text its findings quote."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        for intrinsic, render in _INTRINSICS.items():  # in cdk-nag's order
            if node.get(intrinsic):
                return render(node[intrinsic])
    return json.dumps(node, separators=(",", ":"))


_INTRINSICS: dict[str, Callable[[Any], str]] = {
    "Fn::Join": lambda value: str(value[0]).join(_flatten(item) for item in value[1]),
    "Fn::Sub": _flatten,
    "Fn::GetAtt": lambda value: f"<{_flatten(value[0])}.{_flatten(value[1])}>",
    "Fn::ImportValue": _flatten,
    "Ref": lambda value: f"<{_flatten(value)}>",
}


@dataclass(frozen=True)
class Finding:
    """One finding of a validation plugin on one construct; `reason` is set when it was acknowledged."""

    plugin: str
    rule: str
    severity: str
    construct_path: str
    reason: str | None = None
    acknowledged_at: str | None = None

    def __str__(self) -> str:
        return f"[{self.severity}] {self.construct_path}: {self.rule} ({self.plugin})"


def _read_report(outdir: Path) -> list[dict[str, Any]]:
    path = outdir / VALIDATION_REPORT
    if not path.exists():  # CDK writes no report when no plugin ran
        return []
    reports: list[dict[str, Any]] = json.loads(path.read_text())["pluginReports"]
    return reports


def _findings(report: dict[str, Any], key: str) -> list[Finding]:
    return [
        Finding(
            plugin=report["pluginName"],
            rule=violation["ruleName"],
            severity=violation["severity"],
            construct_path=construct["constructPath"],
            reason=violation.get("reason"),
            acknowledged_at=violation.get("acknowledgedAt"),
        )
        for violation in report.get(key) or []
        for construct in violation["violatingConstructs"]
    ]


def unacknowledged_findings(outdir: Path) -> list[str]:
    """Every finding in the assembly at `outdir` that nobody acknowledged (any severity), and every
    plugin that failed to run, one line each; empty when the synth is clean."""
    problems: list[str] = []
    for report in _read_report(outdir):
        problems += [str(finding) for finding in _findings(report, "violations")]
        error = (report.get("metadata") or {}).get("error")
        if error:
            problems.append(f"[error] {report['pluginName']}: {error}")
        elif report["conclusion"] == "failure" and not report.get("violations"):
            problems.append(f"[error] {report['pluginName']}: failed without a finding")
    return problems


def acknowledged_findings(outdir: Path) -> list[Finding]:
    """The findings in the assembly at `outdir` that a construct acknowledged, with the reasons."""
    return [
        finding for report in _read_report(outdir) for finding in _findings(report, "suppressedViolations")
    ]
