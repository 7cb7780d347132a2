"""Lambda's 4 KB environment: 300 accounts and 100 knowledge base ids synthesize, the largest settings
move to SSM parameters that each function may read, the environment left fits, and what cannot fit
fails synth naming the setting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from job_auditor import stack_outputs
from job_auditor.contract.environment import Setting, registered_setting
from job_auditor.contract.forms import text
from job_auditor.infra.config import ConfigError, load_config
from job_auditor.infra.settings_parameters import ENVIRONMENT_LIMIT, TOKEN_ALLOWANCE
from tests.infra.conftest import FULL_CONTEXT, Synth, synth
from tests.infra.test_config import _run_app

ACCOUNTS = tuple(f"{100000000000 + i}" for i in range(300))
KNOWLEDGE_BASES = tuple(f"{i:08x}-1b2c-4d5e-8f90-a1b2c3d4e5f6" for i in range(100))
LARGE_CONTEXT: dict[str, object] = {
    "stackName": "JobAuditorLarge",
    "accounts": ",".join(ACCOUNTS),
    "qconnectKnowledgeBaseIds": list(KNOWLEDGE_BASES),
    "jobKinds": "bedrock-model-import,qconnect-import",
}


def deployed_size(variables: dict[str, Any]) -> int:
    """The environment's size once deployed, counted independently of the construct: its compact JSON,
    each value CloudFormation fills in (a Ref, a Fn::Join part) at TOKEN_ALLOWANCE characters."""

    def size(value: Any) -> int:
        if isinstance(value, str):
            return len(json.dumps(value))
        parts = value.get("Fn::Join", ["", []])[1] if "Fn::Join" in value else [value]
        return 2 + sum(len(p) if isinstance(p, str) else TOKEN_ALLOWANCE for p in parts)

    return 1 + sum(len(json.dumps(name)) + 1 + size(value) + 1 for name, value in variables.items())


def _functions(synthesized: Synth) -> dict[str, dict[str, Any]]:
    return {
        key: resource["Properties"]
        for key, resource in synthesized.resources("AWS::Lambda::Function").items()
        if resource["Properties"]["Handler"].startswith("job_auditor.auditor.")
    }


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth(LARGE_CONTEXT, tmp_path_factory.mktemp("large"))


def test_a_small_configuration_keeps_every_setting_in_the_environment(default: Synth, full: Synth) -> None:
    for synthesized in (default, full):
        synthesized.template.resource_count_is("AWS::SSM::Parameter", 0)
        for props in _functions(synthesized).values():
            assert "SETTINGS_PARAMETERS" not in props["Environment"]["Variables"]
            assert deployed_size(props["Environment"]["Variables"]) < ENVIRONMENT_LIMIT


def test_300_accounts_and_100_knowledge_bases_move_to_ssm_and_the_environment_fits(large: Synth) -> None:
    # Given 300 account ids (3,899 bytes) and 100 knowledge base ids (3,699 bytes): 7.6 KB together
    parameters = large.resources("AWS::SSM::Parameter")
    by_value = {p["Properties"]["Value"]: key for key, p in parameters.items()}
    # Then each is an SSM parameter of its own, Standard tier (each fits in 4 KB)
    assert set(by_value) == {",".join(ACCOUNTS), ",".join(KNOWLEDGE_BASES)}
    assert {p["Properties"]["Tier"] for p in parameters.values()} == {"Standard"}
    assert {p["Properties"]["Type"] for p in parameters.values()} == {"String"}
    # And every function running the auditor's code (auditor, Plan, Batch, Summarize) names them in
    # SETTINGS_PARAMETERS instead of carrying them, and its environment fits in Lambda's 4 KB
    functions = _functions(large)
    assert len(functions) == 4
    expected_pointer = {
        "Fn::Join": [
            "",
            [
                "ACCOUNTS=",
                {"Ref": by_value[",".join(ACCOUNTS)]},
                ",QCONNECT_KNOWLEDGE_BASE_IDS=",
                {"Ref": by_value[",".join(KNOWLEDGE_BASES)]},
            ],
        ]
    }
    for props in functions.values():
        env = props["Environment"]["Variables"]
        assert "ACCOUNTS" not in env and "QCONNECT_KNOWLEDGE_BASE_IDS" not in env
        assert env["SETTINGS_PARAMETERS"] == expected_pointer
        assert deployed_size(env) < ENVIRONMENT_LIMIT


SSM_READ = {"ssm:DescribeParameters", "ssm:GetParameters", "ssm:GetParameter", "ssm:GetParameterHistory"}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _ssm_readers(synthesized: Synth) -> dict[str, set[str]]:
    """Policy -> the resources (logical ids) its ssm: statements name; every ssm: action a read."""
    readers: dict[str, set[str]] = {}
    for key, policy in synthesized.resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = set(_listed(statement["Action"]))
            if not any(action.startswith("ssm:") for action in actions):
                continue
            assert actions <= SSM_READ
            parts = [part for arn in _listed(statement["Resource"]) for part in arn["Fn::Join"][1]]
            refs = {p["Ref"] for p in parts if isinstance(p, dict) and "Ref" in p}
            readers.setdefault(key, set()).update(r for r in refs if not r.startswith("AWS::"))
    return readers


def test_each_role_may_read_exactly_the_moved_settings(large: Synth) -> None:
    parameters = set(large.resources("AWS::SSM::Parameter"))
    readers = _ssm_readers(large)
    # The auditor's role (Plan and Batch run under it too) and Summarize's: those parameters, no other
    assert sorted(key.rstrip("0123456789ABCDEF") for key in readers) == [
        "AuditorRoleDefaultPolicy",
        "FanoutSummarizeRoleDefaultPolicy",
    ]
    assert all(named == parameters for named in readers.values())


def test_a_list_larger_than_a_standard_parameter_goes_to_the_advanced_tier(tmp_path: Path) -> None:
    accounts = [f"{200000000000 + i}" for i in range(500)]  # 6,499 bytes
    synthesized = synth({"stackName": "JobAuditorAdvanced", "accounts": accounts}, tmp_path)
    (parameter,) = synthesized.resources("AWS::SSM::Parameter").values()
    assert parameter["Properties"]["Tier"] == "Advanced"
    assert parameter["Properties"]["Value"] == ",".join(accounts)


def test_a_list_no_parameter_holds_fails_synth_naming_the_setting(tmp_path: Path) -> None:
    accounts = [f"{300000000000 + i}" for i in range(700)]  # 9,099 bytes
    with pytest.raises(ConfigError) as caught:
        synth({"stackName": "JobAuditorTooMany", "accounts": accounts}, tmp_path)
    message = str(caught.value)
    assert message.startswith("invalid job-auditor context: accounts: 9099 bytes, more than an SSM parameter")
    assert "accounts=organization" in message


def test_a_value_that_cannot_move_and_does_not_fit_fails_synth_naming_it(tmp_path: Path) -> None:
    # Given a setting the table does not mark large, given a 4,000-character value
    label = Setting(
        text("a label", max_len=5000), "probeLabel", "PROBE_LABEL", help="a label only this test knows"
    )
    with registered_setting(label), pytest.raises(ConfigError) as caught:
        synth({"stackName": "JobAuditorLabel", "probeLabel": "x" * 4000}, tmp_path)
    # Then synth fails, naming it as the largest part of an environment Lambda would refuse
    assert "the functions' environment is" in str(caught.value)
    assert "the largest are probeLabel (4002 bytes)" in str(caught.value)


def test_cdk_synth_of_the_app_reports_it_as_a_context_error(tmp_path: Path) -> None:
    # Given `cdk synth -c accounts=<700 ids>` / When app.py runs / Then it fails with the message alone
    accounts = ",".join(f"{300000000000 + i}" for i in range(700))
    result = _run_app({"accounts": accounts}, tmp_path)
    assert result.returncode == 1
    # (jsii, started by then, may print its Node version notice first)
    assert result.stderr.splitlines()[-1].startswith(
        "error: invalid job-auditor context: accounts: 9099 bytes"
    )


def test_the_moved_settings_parameters_are_a_stack_output_and_only_then(large: Synth, default: Synth) -> None:
    # What the CLI's least-privilege policy grants `run --once` and `replay --parked` to read
    (value,) = [
        v["Value"] for k, v in large.json["Outputs"].items() if k == stack_outputs.SETTINGS_PARAMETER_ARNS
    ]
    separator, parts = value["Fn::Join"]
    parameters = large.resources("AWS::SSM::Parameter")
    assert separator == "," and len(parts) == len(parameters) >= 2
    assert stack_outputs.SETTINGS_PARAMETER_ARNS not in default.json["Outputs"]


def test_the_audited_regions_and_kinds_are_stack_outputs(default: Synth, full: Synth) -> None:
    outputs = {k: v["Value"] for k, v in full.json["Outputs"].items()}
    assert outputs[stack_outputs.AUDITED_REGIONS] == "us-east-1,eu-west-1"
    assert outputs[stack_outputs.AUDITED_JOB_KINDS] == ",".join(load_config(FULL_CONTEXT).job_kinds)
    # an environment-agnostic stack without regions audits its own region, known at deploy time
    assert default.json["Outputs"][stack_outputs.AUDITED_REGIONS]["Value"] == {"Ref": "AWS::Region"}
