"""The construct as a library: settings as typed keyword arguments in the CDK idiom (Durations, a
RemovalPolicy, lists of knowledge base ids), one error type for every bad value, an existing alarm topic
or bus, and several JobAuditors in one stack, each with names and metrics of its own."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from cfnlint.api import lint

from job_auditor import ConfigError, JobAuditor, JobAuditorProps, add_nag_checks
from job_auditor.infra import nag

KB = "11111111-2222-3333-4444-555555555555"
OPS_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:platform-ops"


def _logical_id(construct: Any) -> str:
    return str(cdk.Stack.of(construct).get_logical_id(construct.node.default_child))


def _function(template: Template, auditor: JobAuditor) -> dict[str, Any]:
    functions = template.find_resources("AWS::Lambda::Function")
    return dict(functions[_logical_id(auditor.auditor.function)]["Properties"])


def test_keyword_arguments_take_durations_a_removal_policy_and_knowledge_base_ids() -> None:
    # Given a stack of one's own and the settings as typed keyword arguments
    stack = cdk.Stack(cdk.App(), "Host")
    auditor = JobAuditor(
        stack,
        "JobAuditor",
        regions=["eu-west-2"],
        schedule_rate_minutes=cdk.Duration.minutes(15),
        function_timeout_seconds=cdk.Duration.minutes(5),
        history_retention_days=cdk.Duration.days(30),
        removal_policy=cdk.RemovalPolicy.DESTROY,
        job_kinds=["qconnect-import", "bedrock-kb-ingestion"],
        qconnect_knowledge_base_ids=[KB],
        bedrock_knowledge_base_ids=["KB12345678", ("KB87654321", "DS12345678")],
        stuck_after_hours={"qconnect-import": 6},
        announce_baseline=True,
    )
    template = Template.from_stack(stack)
    # Then the function, schedule and table get them, converted to the setting's unit
    props = _function(template, auditor)
    env = props["Environment"]["Variables"]
    assert props["Timeout"] == 300
    assert (env["REGIONS"], env["HISTORY_TTL_DAYS"], env["ANNOUNCE_BASELINE"]) == ("eu-west-2", "30", "true")
    assert env["QCONNECT_KNOWLEDGE_BASE_IDS"] == KB
    assert env["BEDROCK_KNOWLEDGE_BASE_IDS"] == "KB12345678,KB87654321/DS12345678"
    assert env["STUCK_AFTER_HOURS"] == "qconnect-import=6"
    (schedule,) = template.find_resources("AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["ScheduleExpression"] == "rate(15 minutes)"
    (table,) = template.find_resources("AWS::DynamoDB::Table").values()
    assert table["DeletionPolicy"] == "Delete"
    # and the props are the same as from the context keys of the README
    assert auditor.config.configured_scopes == {
        "qconnect-import": ((KB,),),
        "bedrock-kb-ingestion": (("KB12345678",), ("KB87654321", "DS12345678")),
    }


def test_primitives_are_still_taken() -> None:
    assert JobAuditorProps(schedule_rate_minutes=15, removal_policy="destroy") == JobAuditorProps(
        schedule_rate_minutes=cdk.Duration.minutes(15), removal_policy=cdk.RemovalPolicy.DESTROY
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"schedule_rate_minutes": cdk.Duration.seconds(90)},
            "schedule_rate_minutes: expected a whole number of minutes from 1 to 1440, e.g. 10, got "
            "1 minute 30 seconds, not a whole number of minutes",
        ),
        ({"schedule_rate_minutes": "often"}, "schedule_rate_minutes: expected a whole number of minutes"),
        ({"schedule_rate_minutes": 2.5}, "schedule_rate_minutes: expected a whole number of minutes"),
        (
            {"function_memory_mb": cdk.Duration.minutes(1)},
            "function_memory_mb: expected a whole number of MB",
        ),
        (
            {"removal_policy": cdk.RemovalPolicy.SNAPSHOT},
            "removal_policy: expected retain or destroy, got 'SNAPSHOT'",
        ),
        ({"regions": ["us-east-1", "mars-1"]}, "regions: expected a comma list of AWS region names"),
        ({"regions": "us-east-1"}, None),
        ({"qconnect_knowledge_base_ids": ["kb-1"]}, "qconnect_knowledge_base_ids: expected a comma list"),
        ({"announce_baseline": "yes"}, "announce_baseline: expected true or false, got 'yes'"),
        ({"slack_workspace_id": "T0123ABCD"}, "slack_channel_id: required when the other Slack id is given"),
        ({"schedul_rate_minutes": 5}, "unknown keyword argument 'schedul_rate_minutes' (did you mean"),
    ],
)
def test_every_bad_value_is_a_config_error_naming_the_keyword(
    options: dict[str, Any], message: str | None
) -> None:
    if message is None:
        # a single region as a string is a comma list of one
        assert JobAuditorProps(**options).regions == ("us-east-1",)
        return
    with pytest.raises(ConfigError) as caught:
        JobAuditorProps(**options)
    assert str(caught.value).startswith("invalid job-auditor props: ")
    assert message in str(caught.value)
    # and the construct raises the same
    with pytest.raises(ConfigError):
        JobAuditor(cdk.Stack(cdk.App(), "Host"), "JobAuditor", **options)


def test_props_and_keyword_arguments_together_are_refused() -> None:
    with pytest.raises(ConfigError, match="give props or keyword arguments, not both"):
        JobAuditor(cdk.Stack(cdk.App(), "Host"), "JobAuditor", props=JobAuditorProps(), regions=["eu-west-1"])


def test_an_existing_alarm_topic_and_bus_are_used_instead_of_its_own() -> None:
    # Given a platform's own ops topic and bus
    stack = cdk.Stack(cdk.App(), "Host")
    topic = sns.Topic.from_topic_arn(stack, "Ops", OPS_TOPIC_ARN)
    bus = events.EventBus.from_event_bus_name(stack, "Bus", "platform")
    auditor = JobAuditor(
        stack, "JobAuditor", alarm_topic=topic, event_bus=bus, ops_emails=["oncall@example.com"]
    )
    template = Template.from_stack(stack)
    # Then no bus and only the transition topic are created; the alarms go to the given topic
    template.resource_count_is("AWS::Events::EventBus", 0)
    template.resource_count_is("AWS::SNS::Topic", 1)
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [OPS_TOPIC_ARN]
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"TopicArn": OPS_TOPIC_ARN, "Protocol": "email"}
    )
    # the function puts its events on the given bus, which archives the auditor's events
    assert _function(template, auditor)["Environment"]["Variables"]["EVENT_BUS_NAME"] == "platform"
    (archive,) = template.find_resources("AWS::Events::Archive").values()
    assert archive["Properties"]["EventPattern"]["source"] == ["job-auditor"]
    assert auditor.event_bus is bus and auditor.monitoring.ops_topic is topic


def test_a_prefix_names_the_physical_names_and_a_bad_one_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "Host")
    JobAuditor(
        stack, "JobAuditor", prefix="ml-audit", slack_workspace_id="T0123ABCD", slack_channel_id="C0123ABCD"
    )
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::EventSchemas::Registry", {"RegistryName": "ml-audit-events"})
    template.has_resource_properties(
        "AWS::Chatbot::SlackChannelConfiguration", {"ConfigurationName": "job-auditor-ml-audit"}
    )
    with pytest.raises(ConfigError, match="prefix: expected a letter, then letters, digits or hyphens"):
        JobAuditor(stack, "Other", prefix="ml audit")


# -- several JobAuditors in one stack ---------------------------------------------------------------

# Literal names a resource holds as its own physical name (the Schema's is scoped by its registry).
_SCOPED_BY = {"AWS::EventSchemas::Schema": "RegistryName"}
# *Name properties that name no resource: a topic's sender name in emails, an alarm's metric.
_NOT_NAMES = {"DisplayName", "MetricName"}


def _physical_names(template: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, property, value) of every *Name property a resource sets to a value of its own (not a
    reference to another resource)."""
    names = []
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key, value in props.items():
            if not key.endswith("Name") or key in _NOT_NAMES:
                continue
            if isinstance(value, dict) and {"Ref", "Fn::GetAtt"} & set(value):
                continue
            scope = json.dumps(props.get(_SCOPED_BY.get(resource["Type"], ""), ""))
            names.append((resource["Type"], key, json.dumps(value, sort_keys=True) + scope))
    return names


@pytest.fixture(scope="module")
def two_auditors(tmp_path_factory: pytest.TempPathFactory) -> tuple[cdk.Stack, Path]:
    """Two full-featured JobAuditors (Slack, the webhook forwarder, organization mode's StackSet, the
    fan-out) in one stack, synthesized with cdk-nag."""
    outdir = tmp_path_factory.mktemp("two")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Platform")
    common: dict[str, Any] = {
        "slack_workspace_id": "T0123ABCD",
        "slack_channel_id": "C0123ABCD",
        "accounts": "organization",
        "organizational_units": ["ou-ab12-cdef3456"],
        "organization_id": "o-a1b2c3d4e5",
        "member_deployment": "stackset",
    }
    JobAuditor(
        stack, "Prod", member_role_name="ProdAuditReader", slack_webhook_secret_name="prod/hook", **common
    )
    JobAuditor(
        stack,
        "Staging",
        member_role_name="StagingAuditReader",
        slack_webhook_secret_name="staging/hook",
        **common,
    )
    add_nag_checks(app)
    app.synth()
    return stack, outdir


def test_two_auditors_in_one_stack_have_every_physical_name_of_their_own(
    two_auditors: tuple[cdk.Stack, Path],
) -> None:
    stack, outdir = two_auditors
    template = json.loads((outdir / stack.template_file).read_text())
    names = _physical_names(template)
    # Then each name-bearing property is set, and no two resources share a value
    assert {(kind, key) for kind, key, _ in names} >= {
        ("AWS::EventSchemas::Registry", "RegistryName"),
        ("AWS::Chatbot::SlackChannelConfiguration", "ConfigurationName"),
        ("AWS::CloudFormation::StackSet", "StackSetName"),
        ("AWS::StepFunctions::StateMachine", "StateMachineName"),
        ("AWS::Events::EventBus", "Name"),
    }
    assert [name for name, count in Counter(names).items() if count > 1] == []
    # and cdk-nag found nothing unacknowledged
    assert nag.unacknowledged_findings(outdir) == []


def test_two_auditors_in_one_stack_pass_cfn_lint(two_auditors: tuple[cdk.Stack, Path]) -> None:
    stack, outdir = two_auditors
    matches = lint((outdir / stack.template_file).read_text(), regions=["us-east-1", "eu-west-1"])
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")] == []


def test_each_auditors_alarms_read_its_own_service(two_auditors: tuple[cdk.Stack, Path]) -> None:
    stack, outdir = two_auditors
    template = json.loads((outdir / stack.template_file).read_text())
    auditors = [c for c in stack.node.children if isinstance(c, JobAuditor)]
    services = []
    for auditor in auditors:
        function = template["Resources"][_logical_id(auditor.auditor.function)]
        service = function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        heartbeat = auditor.monitoring.alarms["Heartbeat"]
        alarm = template["Resources"][_logical_id(heartbeat)]["Properties"]
        # a broken copy's heartbeat fires while the other runs: each reads its own functions' metrics
        assert alarm["Dimensions"] == [{"Name": "service", "Value": service}]
        services.append(service)
    assert services == ["platform-prod", "platform-staging"]


def test_auditors_in_nested_stacks_of_two_parents_are_named_by_their_parents() -> None:
    app = cdk.App()
    names = []
    for parent in ("Team1", "Team2"):
        nested = cdk.NestedStack(cdk.Stack(app, parent), "Nested")
        names.append(JobAuditor(nested, "JobAuditor").name)
    assert names == ["Team1-Nested-JobAuditor", "Team2-Nested-JobAuditor"]


def test_two_auditors_whose_names_would_meet_in_one_account_and_region_are_refused() -> None:
    stack = cdk.Stack(cdk.App(), "Platform")
    JobAuditor(stack, "Job.Auditor")
    with pytest.raises(
        ConfigError,
        match=r"Platform/Job_Auditor and Platform/Job\.Auditor would both be named "
        r"'Platform-Job-Auditor'.*give one a prefix",
    ):
        JobAuditor(stack, "Job_Auditor")
    # and a prefix of its own settles it
    assert JobAuditor(stack, "Job_Auditor_2", prefix="platform-audit-2").name == "platform-audit-2"


def test_one_stack_name_in_two_accounts_may_hold_an_auditor_each() -> None:
    app = cdk.App()
    for account in ("111111111111", "222222222222"):
        env = cdk.Environment(account=account, region="eu-west-1")
        stack = cdk.Stack(app, f"Platform{account}", stack_name="platform", env=env)
        assert JobAuditor(stack, "JobAuditor").name == "platform-JobAuditor"


def test_two_auditors_on_one_bus_need_sources_of_their_own() -> None:
    from aws_cdk import aws_events as events

    refused = cdk.Stack(cdk.App(), "Platform")
    bus = events.EventBus(refused, "Shared")
    JobAuditor(refused, "TeamA", event_bus=bus)
    with pytest.raises(
        ConfigError,
        match=r"Platform/TeamB and Platform/TeamA put their events on one bus under one source "
        r"'job-auditor'.*eventSource",
    ):
        JobAuditor(refused, "TeamB", event_bus=bus)
    # Given sources of their own, each copy's archive (and alert rules) match its own source only
    stack = cdk.Stack(cdk.App(), "Platform")
    bus = events.EventBus(stack, "Shared")
    JobAuditor(stack, "TeamA", event_bus=bus)
    JobAuditor(stack, "TeamC", event_bus=bus, event_source="team-c.job-auditor")
    archives = Template.from_stack(stack).find_resources("AWS::Events::Archive")
    sources = sorted(a["Properties"]["EventPattern"]["source"][0] for a in archives.values())
    assert sources == ["job-auditor", "team-c.job-auditor"]


def test_stuck_after_hours_takes_a_duration_for_every_kind_or_per_kind() -> None:
    stack = cdk.Stack(cdk.App(), "Host")
    every = JobAuditor(stack, "Every", stuck_after_hours=cdk.Duration.days(2))
    per_kind = JobAuditor(
        stack,
        "PerKind",
        stuck_after_hours={"bedrock-model-import": cdk.Duration.hours(48), "qconnect-import": 6},
    )
    assert set(every.config.stuck_after_hours.values()) == {48}
    assert per_kind.config.stuck_after_hours["bedrock-model-import"] == 48
    assert per_kind.config.stuck_after_hours["qconnect-import"] == 6
    with pytest.raises(
        ConfigError, match=r"stuck_after_hours: .*got 1 hour 30 minutes, not a whole number of hours"
    ):
        JobAuditor(stack, "Odd", stuck_after_hours=cdk.Duration.minutes(90))


def test_copies_in_other_accounts_regions_or_stages_may_share_a_bus_name_and_a_source() -> None:
    from aws_cdk import aws_events as events

    app = cdk.App()
    places = [("111111111111", "us-east-1"), ("222222222222", "us-east-1"), ("111111111111", "eu-west-1")]
    for number, (account, region) in enumerate(places):
        stack = cdk.Stack(app, f"Audit{number}", env=cdk.Environment(account=account, region=region))
        bus = events.EventBus.from_event_bus_name(stack, "Bus", "default")
        JobAuditor(stack, "JobAuditor", event_bus=bus)
    # and a pipeline's stages, each an environment-agnostic stack of its own
    for stage in ("Dev", "Prod"):
        stack = cdk.Stack(cdk.Stage(app, stage), "Audit")
        JobAuditor(
            stack, "JobAuditor", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "default")
        )
