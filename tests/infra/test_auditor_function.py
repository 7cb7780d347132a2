"""The auditor function: runtime, packaging, layer, concurrency, logging, tracing and environment."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from job_auditor import ConfigError, JobAuditor
from job_auditor.auditor.settings import ENV_VARS, FANOUT_ENV_VARS, load_settings, scope_env_vars
from job_auditor.contract import handlers
from job_auditor.contract.discovery import START_QUEUE_URL
from job_auditor.infra.auditor_function import RUNTIME_PYTHON, bytecode_interpreter
from job_auditor.infra.config import JobAuditorProps
from tests.infra.conftest import Synth

POWERTOOLS_VARS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}

# Deploy-time values standing in for the CloudFormation references in the environment.
SAMPLE_VALUES = {
    "STATE_TABLE_NAME": "JobAuditor-StateTable-1ABC",
    "EVENT_BUS_NAME": "JobAuditorEventsBus1A2B3C",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:JobAuditor-Topic-1ABC",
    "ACCOUNT_ID": "123456789012",
    "CHAT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:JobAuditor-ChatTopic-1ABC",
    START_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/JobAuditor-StartDiscoveryQueue-1ABC",
}
RECONCILE_VARS = (
    "RECONCILE_EVERY_MINUTES",
    "RECONCILE_LOOKBACK_HOURS",
    "PUBLISH_RETRY_HOURS",
    "DIGEST_THRESHOLD",
    "VANISHED_AFTER_CHECKS",
)
LAMBDA_REQUIRED = {
    "AWS_REGION": "us-east-1",
    "STATE_TABLE_NAME": SAMPLE_VALUES["STATE_TABLE_NAME"],
    "EVENT_BUS_NAME": SAMPLE_VALUES["EVENT_BUS_NAME"],
    "NOTIFICATION_TOPIC_ARN": SAMPLE_VALUES["NOTIFICATION_TOPIC_ARN"],
}


def _function(synth: Synth) -> dict[str, Any]:
    """The auditor function (in stepfunctions mode the fan-out's functions sit beside it)."""
    function = synth.resources("AWS::Lambda::Function")[
        synth.logical_id(synth.stack.job_auditor.auditor.function)
    ]
    return dict(function["Properties"])


def _environment(synth: Synth) -> dict[str, Any]:
    return dict(_function(synth)["Environment"]["Variables"])


def test_runtime_architecture_handler(default: Synth) -> None:
    props = _function(default)
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "job_auditor.auditor.handler.lambda_handler"


def test_reserved_concurrency_one_and_no_async_retries(default: Synth) -> None:
    assert _function(default)["ReservedConcurrentExecutions"] == 1
    default.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 300, "Qualifier": "$LATEST"},
    )


def test_memory_timeout_and_log_retention_follow_context(default: Synth, full: Synth) -> None:
    assert (_function(default)["MemorySize"], _function(default)["Timeout"]) == (256, 120)
    assert (_function(full)["MemorySize"], _function(full)["Timeout"]) == (512, 300)
    default.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    full.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})


def test_json_logging_to_its_own_log_group_and_xray_tracing(default: Synth) -> None:
    props = _function(default)
    log_group_id, _ = default.only("AWS::Logs::LogGroup")
    assert props["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "WARN",
        "LogGroup": {"Ref": log_group_id},
    }
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_powertools_layer_comes_from_the_public_ssm_parameter_for_arm64_python314(default: Synth) -> None:
    layers = _function(default)["Layers"]
    assert len(layers) == 1
    parameter = layers[0]["Ref"]
    version = JobAuditorProps().powertools_layer_version  # the pinned release, not "latest"
    assert default.json["Parameters"][parameter] == {
        "Type": "AWS::SSM::Parameter::Value<String>",
        "Default": f"/aws/service/powertools/python/arm64/python3.14/{version}",
    }


def test_code_asset_is_the_lambda_code_of_the_package_and_only_the_runtimes_bytecode(default: Synth) -> None:
    # The function's S3Key is "<asset hash>.zip"; the assets manifest maps the hash to the staged folder.
    key = _function(default)["Code"]["S3Key"]
    manifest = json.loads((default.outdir / f"{default.stack.artifact_id}.assets.json").read_text())
    source = manifest["files"][key.removesuffix(".zip")]["source"]
    assert source["packaging"] == "zip"
    asset_dir = default.outdir / source["path"]
    files = {p.relative_to(asset_dir).as_posix() for p in asset_dir.rglob("*") if p.is_file()}
    assert "job_auditor/auditor/settings.py" in files
    assert "job_auditor/contract/state_schema.py" in files
    assert "job_auditor/slack_forwarder/handler.py" in files
    # Bytecode only for the runtime's Python (none of this checkout's), and only where synth has that
    # Python (tests/infra/test_lambda_asset.py)
    runtime_tag = f"cpython-{RUNTIME_PYTHON.replace('.', '')}"
    bytecode = [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert all(f.endswith(f".{runtime_tag}.pyc") for f in bytecode), bytecode
    assert bool(bytecode) == (bytecode_interpreter(RUNTIME_PYTHON) is not None)
    # and none of the CDK side: the constructs, the CLI, the schema files
    assert {f.split("/")[1] for f in files} == {
        "__init__.py",
        "availability.py",
        "auditor",
        "contract",
        "slack_forwarder",
    }


# The single-account variants leave the account variables unset (today's template unchanged); the
# organization variants set them. The fan-out's variables are set on its functions only.
ACCOUNT_VARS = {"ACCOUNTS", "ORGANIZATIONAL_UNITS", "MEMBER_ROLE_NAME", "MEMBER_EXTERNAL_ID"}


def test_environment_names_are_exactly_the_lambdas_contract(
    default: Synth, full: Synth, accounts: Synth, organization: Synth, cloudtrail: Synth
) -> None:
    contract = (set(ENV_VARS) - FANOUT_ENV_VARS) | set(scope_env_vars()) | POWERTOOLS_VARS
    for synth in (default, full):
        assert set(_environment(synth)) == contract - ACCOUNT_VARS - {START_QUEUE_URL}
    # discovery=cloudtrail adds the queue of announced job starts
    assert set(_environment(cloudtrail)) == contract - ACCOUNT_VARS
    assert ACCOUNT_VARS - {"ORGANIZATIONAL_UNITS"} <= set(_environment(accounts)) <= contract
    assert ACCOUNT_VARS - {"MEMBER_EXTERNAL_ID"} <= set(_environment(organization)) <= contract


def test_environment_values_pass_the_lambdas_own_validation(
    default: Synth, full: Synth, accounts: Synth, organization: Synth, cloudtrail: Synth
) -> None:
    for synth in (default, full, accounts, organization, cloudtrail):
        env = {
            name: SAMPLE_VALUES[name] if not isinstance(value, str) else value
            for name, value in _environment(synth).items()
        }
        settings = load_settings({**env, "AWS_REGION": "us-east-1"})
        assert settings.claim_lease_seconds > _function(synth)["Timeout"]


def test_environment_values(default: Synth, full: Synth) -> None:
    env = _environment(default)
    assert env["STATE_TABLE_NAME"] == {"Ref": default.logical_id(default.stack.job_auditor.state.table)}
    assert env["EVENT_BUS_NAME"] == {"Ref": default.logical_id(default.stack.job_auditor.events.bus)}
    assert env["NOTIFICATION_TOPIC_ARN"] == {
        "Ref": default.logical_id(default.stack.job_auditor.notifications.topic)
    }
    assert env["ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}
    assert {k: v for k, v in env.items() if isinstance(v, str)} == {
        "EVENT_SOURCE": "job-auditor",
        "JOB_KINDS": "bedrock-model-import,bedrock-model-copy,qconnect-import,bedrock-evaluation,"
        "bedrock-kb-ingestion",
        "REGIONS": "",
        "QCONNECT_KNOWLEDGE_BASE_IDS": "discover",
        "BEDROCK_KNOWLEDGE_BASE_IDS": "discover",
        "INITIAL_LOOKBACK_MINUTES": "1440",
        "OVERLAP_SECONDS": "300",
        "RECHECK_HORIZON_HOURS": "72",
        "ANNOUNCE_BASELINE": "false",
        "HISTORY_TTL_DAYS": "90",
        "CLAIM_LEASE_SECONDS": "420",
        "STUCK_AFTER_HOURS": "24",
        "STUCK_REPEAT_HOURS": "0",
        "RECONCILE_EVERY_MINUTES": "60",
        "RECONCILE_LOOKBACK_HOURS": "24",
        "PUBLISH_RETRY_HOURS": "24",
        "DIGEST_THRESHOLD": "20",
        "VANISHED_AFTER_CHECKS": "3",
        "POWERTOOLS_SERVICE_NAME": "job-auditor",
        "POWERTOOLS_METRICS_NAMESPACE": "JobAuditor",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "CHAT_TOPIC_ARN": "",
        "NOTIFY_FILTER": "",
    }
    full_env = _environment(full)
    assert full_env["REGIONS"] == "us-east-1,eu-west-1"
    assert full_env["QCONNECT_KNOWLEDGE_BASE_IDS"] == "11111111-2222-3333-4444-555555555555"
    assert full_env["ANNOUNCE_BASELINE"] == "true"
    assert full_env["CLAIM_LEASE_SECONDS"] == "600"


def test_reconciliation_and_publish_protocol_keys_are_passed_to_the_lambda(full: Synth) -> None:
    # Given the context keys of the reconciliation sweep and the publish protocol (FULL_CONTEXT)
    env = _environment(full)
    # Then the function gets them as its variables, and its own settings read them back
    assert {name: env[name] for name in RECONCILE_VARS} == {
        "RECONCILE_EVERY_MINUTES": "0",
        "RECONCILE_LOOKBACK_HOURS": "168",
        "PUBLISH_RETRY_HOURS": "48",
        "DIGEST_THRESHOLD": "0",
        "VANISHED_AFTER_CHECKS": "4",
    }
    settings = load_settings({name: env[name] for name in RECONCILE_VARS} | LAMBDA_REQUIRED)
    assert settings.reconcile_every == timedelta(0)
    assert settings.reconcile_lookback == timedelta(days=7)
    assert (settings.publish_retry, settings.digest_threshold) == (timedelta(hours=48), 0)
    assert settings.vanished_after_checks == 4


def test_role_has_no_managed_policies(default: Synth) -> None:
    default.template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "lambda.amazonaws.com"}})]}
            ),
            "ManagedPolicyArns": Match.absent(),
        },
    )


GOVCLOUD_LAYER = "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:layer:PowertoolsPythonV3-python314-arm64:4"


def test_a_layer_version_arn_replaces_the_public_parameter_where_aws_publishes_none() -> None:
    # Given a stack in a region where AWS publishes no Powertools parameter (GovCloud) and a layer of
    # one's own there
    stack = cdk.Stack(cdk.App(), "Host", env=cdk.Environment(account="123456789012", region="us-gov-west-1"))
    JobAuditor(stack, "JobAuditor", props={"powertoolsLayerVersion": GOVCLOUD_LAYER})
    template = Template.from_stack(stack).to_json()
    # When it is synthesized / Then the auditor runs on that layer, and no parameter is read for it
    (function,) = [
        f["Properties"]
        for f in template["Resources"].values()
        if f["Type"] == "AWS::Lambda::Function" and f["Properties"].get("Handler") == handlers.AUDITOR
    ]
    assert function["Layers"] == [GOVCLOUD_LAYER]
    assert "powertools" not in json.dumps(template.get("Parameters", {}))


def test_a_layer_of_another_region_fails_synth_naming_the_key() -> None:
    # Lambda takes only a layer of the function's own region: CreateFunction would fail at deploy
    stack = cdk.Stack(cdk.App(), "Host", env=cdk.Environment(account="123456789012", region="us-gov-east-1"))
    with pytest.raises(
        ConfigError,
        match=r"powertoolsLayerVersion: the layer .* is in us-gov-west-1, not in the stack's region "
        r"us-gov-east-1",
    ):
        JobAuditor(stack, "JobAuditor", props={"powertoolsLayerVersion": GOVCLOUD_LAYER})


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws-cn:lambda:us-east-1:123456789012:layer:PT:3",
        "arn:aws:lambda:cn-north-1:123456789012:layer:PT:3",
        "arn:aws:lambda:us-gov-west-1:123456789012:layer:PT:3",
    ],
)
def test_a_layer_whose_partition_is_not_its_regions_fails_synth(arn: str) -> None:
    # An ARN no layer can have: CreateFunction would refuse it mid-deploy, after the retained resources
    stack = cdk.Stack(cdk.App(), "Host")
    with pytest.raises(
        ConfigError, match=r"powertoolsLayerVersion: the layer .* names the region .* partition"
    ):
        JobAuditor(stack, "JobAuditor", props={"powertoolsLayerVersion": arn})
