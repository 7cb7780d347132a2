"""examples/: an app of one's own embedding the JobAuditor construct synthesizes, cdk-nag clean, and
its stack outputs are the construct's, found the way the CLI finds them."""

from __future__ import annotations

import json
from pathlib import Path

from job_auditor import stack_outputs
from tests.cdk_apps import synth_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "embedded"


def test_the_embedded_example_synthesizes_with_the_construct_and_its_own_rule(tmp_path: Path) -> None:
    # Given the example app, run as its README says, from its own folder
    # When it synthesizes
    result = synth_app(EXAMPLE, tmp_path)
    # Then it succeeds without a finding (the construct acknowledges its own, the example its queue's)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "validation-report.json").read_text())
    violations = [v for plugin in report.get("pluginReports", []) for v in plugin.get("violations", [])]
    assert violations == []
    template = json.loads((tmp_path / "MlPlatform.template.json").read_text())
    types = [r["Type"] for r in template["Resources"].values()]
    # and the stack holds the whole job-auditor next to the app's own queue and rule
    for resource_type in (
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::Scheduler::Schedule",
        "AWS::Events::EventBus",
        "AWS::EventSchemas::Registry",
        "AWS::EventSchemas::Schema",
        "AWS::SNS::Topic",
    ):
        assert resource_type in types, resource_type
    rules = [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    failed = [r for r in rules if r["Properties"].get("EventPattern", {}).get("detail")]
    assert [r["Properties"]["EventPattern"]["detail"] for r in failed] == [{"statusCategory": ["FAILED"]}]
    # and the construct's outputs carry its path, and are found as the CLI finds them
    outputs = [{"OutputKey": key, "OutputValue": key} for key in template["Outputs"]]
    found = stack_outputs.job_auditor_outputs(outputs)
    assert found[stack_outputs.STATE_TABLE_NAME].startswith("JobAuditorStateTableName")
    assert set(found) >= {stack_outputs.EVENT_BUS_NAME, stack_outputs.AUDITOR_FUNCTION_NAME}
