"""cdk-nag AwsSolutions: no unsuppressed finding, and every suppression gives its reason."""

from __future__ import annotations

import csv

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.infra.conftest import Synth

VARIANTS = ("default", "full", "bedrock_only")


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_unsuppressed_nag_errors_or_warnings(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(variant)
    annotations = Annotations.from_stack(synth.stack)
    errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [e.entry.data for e in errors] == []
    assert [w.entry.data for w in warnings] == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_nag_ran_and_every_suppression_has_a_reason(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(variant)
    report = synth.outdir / f"AwsSolutions-{synth.stack.artifact_id}-NagReport.csv"
    if not report.exists():  # cdk-nag 2.x names it after the stack path (with a leading separator)
        report = next(synth.outdir.glob(f"AwsSolutions-*{synth.stack.artifact_id}-NagReport.csv"))
    rows = list(csv.DictReader(report.open()))
    assert any(r["Rule ID"] == "AwsSolutions-IAM5" for r in rows)  # the pack really ran
    assert {r["Compliance"] for r in rows} <= {"Compliant", "Suppressed"}
    for row in rows:
        if row["Compliance"] == "Suppressed":
            assert len(row["Exception Reason"]) > 40, row
