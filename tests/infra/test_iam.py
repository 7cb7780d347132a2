"""The function's role: exactly the statements the enabled job kinds need, no wildcard actions."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import KB_ID, Synth, dumps

TABLE_ACTIONS = [
    "dynamodb:BatchWriteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]


def _auditor_statements(synth: Synth) -> list[dict[str, Any]]:
    role_id = synth.logical_id(synth.stack.auditor.role)
    policies = [
        p
        for p in synth.resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    assert len(policies) == 1
    return list(policies[0]["Properties"]["PolicyDocument"]["Statement"])


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
        "log_group": synth.logical_id(synth.stack.auditor.log_group),
        "table": synth.logical_id(synth.stack.state.table),
        "bus": synth.logical_id(synth.stack.events.bus),
        "topic": synth.logical_id(synth.stack.notifications.topic),
        "key": synth.logical_id(synth.stack.key.key),
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


def test_default_statements_discover_knowledge_bases_in_the_stack_region(default: Synth) -> None:
    region = {"Ref": "AWS::Region"}
    expected = [
        *_common(default),
        {
            "Sid": "ListJobs",
            "Action": [
                "bedrock:ListModelImportJobs",
                "bedrock:ListModelCopyJobs",
                "wisdom:ListKnowledgeBases",
            ],
            "Effect": "Allow",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": [region]}},
        },
        {
            "Sid": "GetModelImportJob",
            "Action": "bedrock:GetModelImportJob",
            "Effect": "Allow",
            "Resource": _arn("bedrock", region, "model-import-job/*"),
        },
        {
            "Sid": "GetModelCopyJob",
            "Action": "bedrock:GetModelCopyJob",
            "Effect": "Allow",
            "Resource": _arn("bedrock", region, "model-copy-job/*"),
        },
        {
            "Sid": "QConnectImportJobs",
            "Action": ["wisdom:GetImportJob", "wisdom:ListImportJobs"],
            "Effect": "Allow",
            "Resource": _arn("wisdom", region, "knowledge-base/*"),
        },
    ]
    _assert_same(_auditor_statements(default), expected)


def test_named_knowledge_bases_and_regions_narrow_the_resources(full: Synth) -> None:
    regions = ["us-east-1", "eu-west-1"]

    def plain(service: str, region: str, resource: str) -> dict[str, Any]:
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

    topics = [full.stack.notifications.topic, full.stack.notifications.chat_topic]
    expected = [
        *(s for s in _common(full) if s["Action"] != "sns:Publish"),
        {
            "Sid": "ListJobs",
            "Action": ["bedrock:ListModelImportJobs", "bedrock:ListModelCopyJobs"],
            "Effect": "Allow",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": regions}},
        },
        {
            "Sid": "GetModelImportJob",
            "Action": "bedrock:GetModelImportJob",
            "Effect": "Allow",
            "Resource": [plain("bedrock", r, "model-import-job/*") for r in regions],
        },
        {
            "Sid": "GetModelCopyJob",
            "Action": "bedrock:GetModelCopyJob",
            "Effect": "Allow",
            "Resource": [plain("bedrock", r, "model-copy-job/*") for r in regions],
        },
        {
            "Sid": "QConnectImportJobs",
            "Action": ["wisdom:GetImportJob", "wisdom:ListImportJobs"],
            "Effect": "Allow",
            "Resource": [plain("wisdom", r, f"knowledge-base/{KB_ID}") for r in regions],
        },
        # With Slack configured, custom notifications on the chat topic too (same KMS key, already granted):
        # minimizePolicies merges the two topics' grants into one statement.
        {
            "Action": "sns:Publish",
            "Effect": "Allow",
            "Resource": [{"Ref": full.logical_id(topic)} for topic in topics],
        },
    ]
    _assert_same(_auditor_statements(full), expected)


def test_only_enabled_job_kinds_get_permissions(bedrock_only: Synth) -> None:
    region = {"Ref": "AWS::Region"}
    expected = [
        *_common(bedrock_only),
        {
            "Sid": "ListJobs",
            "Action": "bedrock:ListModelImportJobs",
            "Effect": "Allow",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": [region]}},
        },
        {
            "Sid": "GetModelImportJob",
            "Action": "bedrock:GetModelImportJob",
            "Effect": "Allow",
            "Resource": _arn("bedrock", region, "model-import-job/*"),
        },
    ]
    _assert_same(_auditor_statements(bedrock_only), expected)


def test_no_policy_in_any_stack_grants_a_wildcard_action(default: Synth, full: Synth) -> None:
    for synth in (default, full):
        for policy in synth.resources("AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert all(a != "*" and not a.endswith(":*") for a in actions), statement


def test_scheduler_role_may_only_invoke_the_function_and_feed_the_dlq(default: Synth) -> None:
    fn = default.logical_id(default.stack.auditor.function)
    dlq = default.logical_id(default.stack.schedule.dead_letter_queue)
    role_id = default.logical_id(default.stack.schedule.role)
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
