"""Settings too large for Lambda's 4 KB environment, end to end: the template synth writes (300 accounts
and 100 knowledge base ids in SSM parameters) is deployed to moto, and a run reads them back once and
audits every account and every knowledge base they name. The run is `job-auditor run --once`, which
configures itself from the function's environment exactly as the Lambda does (load_settings with a
ParameterReader)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from job_auditor.auditor.adapters.parameters import ParameterReader
from job_auditor.auditor.settings import load_settings
from job_auditor.cli import cli
from simulator.world import ACCOUNT, BUS, DEFAULT_START, REGION, TABLE, MotoServer, World
from tests.infra.conftest import Synth, synth

pytestmark = pytest.mark.filterwarnings("ignore:Exception\\(AccessDenied\\):UserWarning")

MEMBERS = ("111122223333", "444455556666")
# 300 accounts: the two with a member role first, then 298 without one.
ACCOUNTS = (*MEMBERS, *(f"{500000000000 + i}" for i in range(298)))


def _deploy(w: World, synthesized: Synth, tmp: Path) -> dict[str, str]:
    """The synthesized SSM parameters put into moto, and the auditor function's environment as
    CloudFormation would resolve it here (the world's table, bus, topic and account; the parameters'
    names): the function `job-auditor` finds by stack. Returns the environment."""
    ssm = boto3.client("ssm", region_name=REGION)
    names: dict[str, str] = {}
    for logical_id, parameter in synthesized.resources("AWS::SSM::Parameter").items():
        names[logical_id] = f"CFN-{logical_id}"
        props = parameter["Properties"]
        ssm.put_parameter(
            Name=names[logical_id], Value=props["Value"], Type=props["Type"], Tier=props["Tier"]
        )
    function = synthesized.resources("AWS::Lambda::Function")[
        synthesized.logical_id(synthesized.stack.job_auditor.function)
    ]
    template_env: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    built = {"STATE_TABLE_NAME": TABLE, "EVENT_BUS_NAME": BUS, "NOTIFICATION_TOPIC_ARN": w.topic_arn}
    built["ACCOUNT_ID"] = ACCOUNT
    pointer = template_env["SETTINGS_PARAMETERS"]["Fn::Join"][1]
    built["SETTINGS_PARAMETERS"] = "".join(p if isinstance(p, str) else names[p["Ref"]] for p in pointer)
    # Every reference is resolved: nothing of the template's environment is left out
    assert {k for k, v in template_env.items() if not isinstance(v, str)} == set(built)
    env = {k: v for k, v in template_env.items() if isinstance(v, str)} | built
    w.deploy_stack()
    w.lambda_.update_function_configuration(FunctionName="JobAuditor-auditor", Environment={"Variables": env})
    return env


def _run_once() -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["run", "--once", "--output", "json"], catch_exceptions=False)
    # The summary on stdout; a run with failed sources exits 3 (partial), saying so on stderr
    assert result.exit_code in (0, 3), result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


@pytest.fixture
def world(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", moto_server.url)
    w = World(moto_server, DEFAULT_START, member_accounts=MEMBERS)
    w.__enter__()
    yield w
    w.__exit__(None, None, None)


def test_300_accounts_from_ssm_are_read_back_and_each_audited(world: World, tmp_path: Path) -> None:
    # Given jobs in the home account and in the two member accounts a role lets the auditor into
    jobs = {
        account: world.plane_of(account).create_model_import_job(region=REGION, name=f"imp-{account}")
        for account in (ACCOUNT, *MEMBERS)
    }
    # And the stack synthesized with 300 accounts and 100 knowledge base ids, deployed here
    knowledge_bases = [f"{i:08x}-1b2c-4d5e-8f90-a1b2c3d4e5f6" for i in range(100)]
    synthesized = synth(
        {
            "stackName": "JobAuditorLarge",
            "accounts": ",".join(ACCOUNTS),
            "qconnectKnowledgeBaseIds": knowledge_bases,
            "jobKinds": "bedrock-model-import",
            "regions": REGION,
            "announceBaseline": "true",
        },
        tmp_path / "cdk.out",
    )
    env = _deploy(world, synthesized, tmp_path)
    assert "ACCOUNTS" not in env and "QCONNECT_KNOWLEDGE_BASE_IDS" not in env
    # When the Lambda's settings are loaded from that environment
    reader = ParameterReader(boto3.client("ssm", region_name=REGION))
    settings = load_settings(env | {"AWS_REGION": REGION}, read_parameters=reader)
    # Then both lists are read back whole, in order
    assert settings.member_accounts == ACCOUNTS
    assert settings.configured_scopes["qconnect-import"] == tuple((kb,) for kb in knowledge_bases)
    # When one run is made as the function would make it
    summary = _run_once()
    # Then every one of the 300 accounts was audited: the two members' and the home account's jobs were
    # announced, each naming its account; each of the 298 others failed alone, naming its role
    announced = {e["detail"]["account"]: e["detail"]["jobId"] for e in world.events_received()}
    assert announced == jobs
    failed = [s for s in summary["sources"] if s["error"]]
    assert len(failed) == 298
    assert {s["source"].split("/")[0] for s in failed} == set(ACCOUNTS[2:])
    assert all("JobAuditorReader" in s["error"] for s in failed)
    assert summary["accounts"] == 301


def test_100_knowledge_bases_from_ssm_are_each_audited(world: World, tmp_path: Path) -> None:
    # Given two Q in Connect knowledge bases with an import job each, named among 100 ids
    plane = world.plane_of(ACCOUNT)
    real = [plane.create_knowledge_base(region=REGION, name=f"kb-{n}") for n in range(2)]
    imports = {kb: plane.create_import_job(region=REGION, knowledge_base_id=kb) for kb in real}
    knowledge_bases = [*real, *(f"{i:08x}-1b2c-4d5e-8f90-a1b2c3d4e5f6" for i in range(98))]
    synthesized = synth(
        {
            "stackName": "JobAuditorKnowledgeBases",
            "qconnectKnowledgeBaseIds": knowledge_bases,
            "jobKinds": "qconnect-import",
            "regions": REGION,
            "announceBaseline": "true",
        },
        tmp_path / "cdk.out",
    )
    # The ids alone (3,699 bytes) do not fit beside the rest: they are in SSM, the accounts are not
    (parameter,) = synthesized.resources("AWS::SSM::Parameter").values()
    assert parameter["Properties"]["Value"] == ",".join(knowledge_bases)
    _deploy(world, synthesized, tmp_path)
    # When one run is made as the function would make it
    summary = _run_once()
    # Then one source per knowledge base was audited: the two real ones' jobs announced, the 98 others
    # each failing alone
    assert len(summary["sources"]) == 100
    announced = {e["detail"]["jobId"] for e in world.events_received()}
    assert announced == set(imports.values())
    assert len([s for s in summary["sources"] if s["error"]]) == 98
