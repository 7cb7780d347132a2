"""The function's role: exactly the statements the enabled job kinds need where they are offered, no
wildcard actions."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import (
    BEDROCK_KB_DS,
    BEDROCK_KB_ID,
    KB_ID,
    Synth,
    dumps,
    role_policies,
    role_statements,
)

TABLE_ACTIONS = [
    "dynamodb:BatchWriteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]


def _auditor_statements(synth: Synth) -> list[dict[str, Any]]:
    """Every statement the auditor's role holds, in its default policy and its job kinds' policies."""
    return role_statements(synth, synth.stack.job_auditor.auditor.role)


def _arn(service: str, region: Any, resource: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":{service}:",
                region,
                ":",
                {"Ref": "AWS::AccountId"},
                f":{resource}",
            ],
        ]
    }


def _common(synth: Synth) -> list[dict[str, Any]]:
    """Logs, X-Ray, table, bus, topic and its key: present whatever the job kinds."""
    ids = {
        "log_group": synth.logical_id(synth.stack.job_auditor.auditor.log_group),
        "table": synth.logical_id(synth.stack.job_auditor.state.table),
        "bus": synth.logical_id(synth.stack.job_auditor.events.bus),
        "topic": synth.logical_id(synth.stack.job_auditor.notifications.topic),
        "key": synth.logical_id(synth.stack.job_auditor.key.key),
    }
    table_arn = {"Fn::GetAtt": [ids["table"], "Arn"]}
    return [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [ids["log_group"], "Arn"]},
        },
        {
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Effect": "Allow",
            "Resource": "*",
        },
        {
            "Action": TABLE_ACTIONS,
            "Effect": "Allow",
            "Resource": [table_arn, {"Fn::Join": ["", [table_arn, "/index/*"]]}],
        },
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": {"Fn::GetAtt": [ids["bus"], "Arn"]}},
        {"Action": "sns:Publish", "Effect": "Allow", "Resource": {"Ref": ids["topic"]}},
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [ids["key"], "Arn"]},
        },
    ]


def _normalized(statement: dict[str, Any]) -> str:
    # The order of a statement's actions and resources means nothing (and @aws-cdk/aws-iam:minimizePolicies
    # sorts them).
    return dumps(
        {
            k: sorted(v, key=dumps) if k in ("Action", "Resource") and isinstance(v, list) else v
            for k, v in statement.items()
        }
    )


def _assert_same(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert sorted(_normalized(s) for s in actual) == sorted(_normalized(s) for s in expected)


def _statement(sid: str, actions: str | list[str], resource: Any) -> dict[str, Any]:
    return {"Sid": sid, "Action": actions, "Effect": "Allow", "Resource": resource}


def _list_jobs(actions: list[str], regions: list[Any], sid: str = "ListJobs") -> dict[str, Any]:
    return {
        "Sid": sid,
        "Action": sorted(actions) if len(actions) > 1 else actions[0],
        "Effect": "Allow",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestedRegion": regions}},
    }


def _kind_policies(synth: Synth) -> dict[str, list[str]]:
    """The auditor's conditional policies: their condition's logical id -> their statement ids."""
    return {
        f"{p['Condition']}:{i}": sorted(s["Sid"] for s in p["Properties"]["PolicyDocument"]["Statement"])
        for i, p in enumerate(role_policies(synth, synth.stack.job_auditor.auditor.role))
        if "Condition" in p
    }


def test_default_statements_discover_knowledge_bases_in_the_stack_region(default: Synth) -> None:
    # Given an environment-agnostic stack: the region is known at deploy time only
    region = {"Ref": "AWS::Region"}
    expected = [
        *_common(default),
        # Then each kind's list actions and resource statements form a policy of its own
        _list_jobs(["bedrock:ListModelImportJobs"], [region]),
        _statement(
            "BedrockModelImport1", "bedrock:GetModelImportJob", _arn("bedrock", region, "model-import-job/*")
        ),
        _list_jobs(["bedrock:ListModelCopyJobs"], [region]),
        _statement(
            "BedrockModelCopy1", "bedrock:GetModelCopyJob", _arn("bedrock", region, "model-copy-job/*")
        ),
        _list_jobs(["wisdom:ListKnowledgeBases"], [region]),
        _statement(
            "QconnectImport0",
            ["wisdom:GetImportJob", "wisdom:ListImportJobs"],
            _arn("wisdom", region, "knowledge-base/*"),
        ),
        _list_jobs(["bedrock:ListEvaluationJobs"], [region]),
        _statement(
            "BedrockEvaluation1", "bedrock:GetEvaluationJob", _arn("bedrock", region, "evaluation-job/*")
        ),
        # bedrock-agent's ingestion calls and ListDataSources are authorized on the knowledge base.
        _list_jobs(["bedrock:ListKnowledgeBases"], [region]),
        _statement(
            "BedrockKbIngestion0",
            ["bedrock:GetIngestionJob", "bedrock:ListIngestionJobs"],
            _arn("bedrock", region, "knowledge-base/*"),
        ),
        _statement(
            "BedrockKbIngestion2", "bedrock:ListDataSources", _arn("bedrock", region, "knowledge-base/*")
        ),
    ]
    _assert_same(_auditor_statements(default), expected)
    # And each policy exists only where botocore offers its kind: Q in Connect's under a condition of
    # its own, the Bedrock kinds' under Bedrock's (tests/infra/test_regions.py evaluates them)
    policies = _kind_policies(default)
    assert len(policies) == 5
    conditions = {key.split(":")[0].removeprefix("Auditor")[:14] for key in policies}
    assert conditions == {"BedrockOffered", "QconnectOffere"}


def _plain(service: str, region: str, resource: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":{service}:{region}:",
                {"Ref": "AWS::AccountId"},
                f":{resource}",
            ],
        ]
    }


def test_named_knowledge_bases_and_regions_narrow_the_resources(full: Synth) -> None:
    regions = ["us-east-1", "eu-west-1"]

    def each(
        service: str, resource: str, where: list[str] = regions
    ) -> list[dict[str, Any]] | dict[str, Any]:
        arns = [_plain(service, r, resource) for r in where]
        return arns if len(arns) > 1 else arns[0]

    topics = [full.stack.job_auditor.notifications.topic, full.stack.job_auditor.notifications.chat_topic]
    expected = [
        *(s for s in _common(full) if s["Action"] != "sns:Publish"),
        # Q in Connect's knowledge bases are named: no wisdom:ListKnowledgeBases.
        _list_jobs(
            [
                "bedrock:ListModelImportJobs",
                "bedrock:ListModelCopyJobs",
                "bedrock:ListEvaluationJobs",
                "bedrock:ListKnowledgeBases",
            ],
            regions,
        ),
        _statement("BedrockModelImport1", "bedrock:GetModelImportJob", each("bedrock", "model-import-job/*")),
        _statement("BedrockModelCopy1", "bedrock:GetModelCopyJob", each("bedrock", "model-copy-job/*")),
        # Q in Connect is not offered in eu-west-1 (botocore's endpoint data): granted in us-east-1 only
        _statement(
            "QconnectImport0",
            ["wisdom:GetImportJob", "wisdom:ListImportJobs"],
            each("wisdom", f"knowledge-base/{KB_ID}", ["us-east-1"]),
        ),
        _statement("BedrockEvaluation1", "bedrock:GetEvaluationJob", each("bedrock", "evaluation-job/*")),
        _statement(
            "BedrockKbIngestion0",
            ["bedrock:GetIngestionJob", "bedrock:ListIngestionJobs"],
            each("bedrock", "knowledge-base/*"),
        ),
        _statement("BedrockKbIngestion2", "bedrock:ListDataSources", each("bedrock", "knowledge-base/*")),
        # With Slack configured, custom notifications on the chat topic too (same KMS key, already granted):
        # minimizePolicies merges the two topics' grants into one statement.
        {
            "Action": "sns:Publish",
            "Effect": "Allow",
            "Resource": [{"Ref": full.logical_id(topic)} for topic in topics],
        },
    ]
    _assert_same(_auditor_statements(full), expected)
    # The regions are known at synth: no conditional policy, one default policy
    assert len(role_policies(full, full.stack.job_auditor.auditor.role)) == 1


def test_all_seven_kinds_get_exactly_their_list_and_get_actions(all_kinds: Synth) -> None:
    # Given every registered kind, and Bedrock knowledge bases named (one whole, one data source)
    region = {"Ref": "AWS::Region"}
    kb_arns = [_arn("bedrock", region, f"knowledge-base/{kb}") for kb in (BEDROCK_KB_ID, BEDROCK_KB_DS[0])]
    expected = [
        *_common(all_kinds),
        # Then each kind's list actions, which have no resource type, are limited to the region; no
        # bedrock:ListKnowledgeBases: every ingestion scope starts at a named knowledge base
        *(
            _list_jobs([action], [region])
            for action in (
                "bedrock:ListModelImportJobs",
                "bedrock:ListModelCopyJobs",
                "wisdom:ListKnowledgeBases",
                "bedrock:ListEvaluationJobs",
                "bedrock:ListModelCustomizationJobs",
                "bedrock:ListModelInvocationJobs",
            )
        ),
        # And each Get takes its own resource type
        _statement(
            "BedrockModelImport1", "bedrock:GetModelImportJob", _arn("bedrock", region, "model-import-job/*")
        ),
        _statement(
            "BedrockModelCopy1", "bedrock:GetModelCopyJob", _arn("bedrock", region, "model-copy-job/*")
        ),
        _statement(
            "QconnectImport0",
            ["wisdom:GetImportJob", "wisdom:ListImportJobs"],
            _arn("wisdom", region, "knowledge-base/*"),
        ),
        _statement(
            "BedrockEvaluation1", "bedrock:GetEvaluationJob", _arn("bedrock", region, "evaluation-job/*")
        ),
        _statement("BedrockKbIngestion0", ["bedrock:GetIngestionJob", "bedrock:ListIngestionJobs"], kb_arns),
        # ListDataSources only where a data source is left to discovery
        _statement(
            "BedrockKbIngestion1",
            "bedrock:ListDataSources",
            _arn("bedrock", region, f"knowledge-base/{BEDROCK_KB_ID}"),
        ),
        _statement(
            "BedrockCustomization1",
            "bedrock:GetModelCustomizationJob",
            _arn("bedrock", region, "model-customization-job/*"),
        ),
        _statement(
            "BedrockBatchInference1",
            "bedrock:GetModelInvocationJob",
            _arn("bedrock", region, "model-invocation-job/*"),
        ),
    ]
    _assert_same(_auditor_statements(all_kinds), expected)


def test_only_enabled_job_kinds_get_permissions(bedrock_only: Synth) -> None:
    region = {"Ref": "AWS::Region"}
    expected = [
        *_common(bedrock_only),
        _list_jobs(["bedrock:ListModelImportJobs"], [region]),
        _statement(
            "BedrockModelImport1", "bedrock:GetModelImportJob", _arn("bedrock", region, "model-import-job/*")
        ),
    ]
    _assert_same(_auditor_statements(bedrock_only), expected)


def test_no_policy_in_any_stack_grants_a_wildcard_action(
    default: Synth, full: Synth, all_kinds: Synth, accounts: Synth, organization: Synth, member: Synth
) -> None:
    for synth in (default, full, all_kinds, accounts, organization, member):
        for policy in synth.resources("AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert all(a != "*" and not a.endswith(":*") for a in actions), statement


def test_scheduler_role_may_only_invoke_the_function_and_feed_the_dlq(default: Synth) -> None:
    fn = default.logical_id(default.stack.job_auditor.auditor.function)
    dlq = default.logical_id(default.stack.job_auditor.schedule.dead_letter_queue)
    role_id = default.logical_id(default.stack.job_auditor.schedule.role)
    policies = [
        p
        for p in default.resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    assert len(policies) == 1
    fn_arn = {"Fn::GetAtt": [fn, "Arn"]}
    _assert_same(
        policies[0]["Properties"]["PolicyDocument"]["Statement"],
        [
            {
                "Action": "lambda:InvokeFunction",
                "Effect": "Allow",
                "Resource": [fn_arn, {"Fn::Join": ["", [fn_arn, ":*"]]}],
            },
            {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [dlq, "Arn"]}},
        ],
    )
