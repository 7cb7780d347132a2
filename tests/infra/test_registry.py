"""The registry drives everything: a kind described in a test alone, with no module edited, is accepted
by the Lambda's settings and the CDK context and gets exactly its IAM statements. (That the simulator
serves it too: tests/integration/test_simulator_registry.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from job_auditor.auditor.domain.notifications import kind_name
from job_auditor.auditor.settings import load_settings
from job_auditor.contract.kinds import JobKindSpec, registered
from job_auditor.infra.config import ConfigError, load_config
from tests.infra.conftest import synth
from tests.infra.test_iam import _arn, _assert_same, _auditor_statements, _common, _list_jobs, _statement
from tests.kinds import THROUGHPUT
from tests.unit.test_settings import VALID


@pytest.fixture
def throughput() -> Iterator[JobKindSpec]:
    with registered(THROUGHPUT) as spec:
        yield spec


def test_a_new_spec_is_accepted_by_the_lambdas_settings(throughput: JobKindSpec) -> None:
    # When the Lambda's environment names the new kind / Then it is accepted and audited
    settings = load_settings(VALID | {"JOB_KINDS": f"{throughput.id},bedrock-model-import"})
    assert settings.job_kinds == (throughput.id, "bedrock-model-import")
    # And its stuck threshold can be set like any kind's
    assert load_settings(VALID | {"STUCK_AFTER_HOURS": f"{throughput.id}=6"}).stuck_after_hours == {
        throughput.id: 6
    }
    # And people read its display name
    assert kind_name({"jobKind": throughput.id}) == "Bedrock provisioned throughput"


def test_a_new_spec_is_accepted_by_the_cdk_context_with_its_statuses(throughput: JobKindSpec) -> None:
    config = load_config(
        {"jobKinds": throughput.id, "notifyStatuses": "InService", "notifyJobKinds": throughput.id}
    )
    assert config.job_kinds == (throughput.id,)
    assert config.notification_filter == {
        "$or": [{"status": ["InService"]}, {"transition": ["stuck"]}],
        "jobKind": [throughput.id],
    }
    # And the error for an unknown kind lists it among the kinds there are
    with pytest.raises(ConfigError, match=f"jobKinds: .*{throughput.id}"):
        load_config({"jobKinds": "bedrock-nope"})


def test_without_the_spec_the_same_context_fails() -> None:
    # Given no such kind registered / Then the same configuration is refused: the registry decides
    with pytest.raises(
        ConfigError, match=r"jobKinds: expected a comma list of .*, got 'bedrock-provisioned-throughput'"
    ):
        load_config({"jobKinds": THROUGHPUT.id})


def test_a_new_spec_gets_exactly_its_iam_statements(throughput: JobKindSpec, tmp_path: Path) -> None:
    # When the stack is synthesized with the new kind alone
    stack = synth({"stackName": "JobAuditorRegistry", "jobKinds": throughput.id}, tmp_path)
    # Then the role holds its list action (no resource type, limited to the region) and its get
    # action on its own resource type, and nothing of any other kind
    region: Any = {"Ref": "AWS::Region"}
    expected = [
        *_common(stack),
        _list_jobs(["bedrock:ListProvisionedModelThroughputs"], [region]),
        _statement(
            "BedrockProvisionedThroughput1",
            "bedrock:GetProvisionedModelThroughput",
            _arn("bedrock", region, "provisioned-model/*"),
        ),
    ]
    _assert_same(_auditor_statements(stack), expected)
    # And the function audits it
    env = stack.resources("AWS::Lambda::Function")
    kinds = {f["Properties"]["Environment"]["Variables"].get("JOB_KINDS") for f in env.values()}
    assert throughput.id in kinds
