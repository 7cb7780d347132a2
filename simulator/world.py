"""A whole local world for the auditor: the job simulator, a moto server for DynamoDB, EventBridge,
SNS and SQS, the resources the CDK stack would create, and a clock that both the handler and the
simulator follow.

The handler runs unmodified: it finds the local endpoints through the SDK's standard
`AWS_ENDPOINT_URL_<SERVICE>` variables, and time is moved with time-machine, so "three days later"
is a call, not a wait. Used by the integration tests, `make demo`, the benchmarks and the soak.

Many accounts: `member_accounts=[...]` gives each member account its member role in moto's IAM
(trusting the home account) and sets ACCOUNTS; the handler then assumes those roles through moto's
STS, for real, and the simulator serves each caller its own account's jobs (`plane_of(account)`),
knowing the account by the access key moto issued (`simulator.moto_accounts`). AssumeRole honours the
roles and their trust policies while the world is open (`enforce_trust`).
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import socket
import urllib.request
import uuid
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import time_machine
from moto.server import ThreadedMotoServer

from job_auditor.contract import handlers
from job_auditor.contract.discovery import CLOUDTRAIL, LISTING, START_QUEUE_URL, start_event_pattern
from job_auditor.contract.kinds import default_kind_ids, job_clients
from job_auditor.contract.state_schema import SOURCE_PREFIX
from simulator import ControlPlane, SimClock, SimulatorServer
from simulator.cloudtrail import CloudTrailAnnouncer
from simulator.moto_accounts import (
    DEFAULT_ROLE_NAME,
    create_role,
    delete_role,
    enforce_trust,
    moto_account_of,
    trust_policy,
)

if TYPE_CHECKING:
    from job_auditor.auditor.adapters.clients import ClientFactory

ACCOUNT = "123456789012"
REGION = "us-east-1"
TABLE = "job-auditor-state"
BUS = "job-auditor"
TOPIC = "job-auditor-notifications"
CHAT_TOPIC = "job-auditor-chat"
EVENT_SOURCE = "job-auditor"
START_QUEUE = "job-auditor-job-starts"
START_RULE = "job-auditor-job-starts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """A moto server on a free loopback port; `reset()` empties every service between tests."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (loopback only)
            pass


@dataclass
class FakeLambdaContext:
    """What the Lambda runtime passes to a handler; enough for Powertools."""

    function_name: str = "job-auditor"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:job-auditor"
    aws_request_id: str = ""
    log_group_name: str = "/aws/lambda/job-auditor"
    log_stream_name: str = "local"
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class World:
    """Simulator + moto + resources + environment + clock. Use as a context manager.

    `tick=False` stops the clock between `advance` calls and `seed` draws the simulator's ids from a
    seeded generator: the same story then leaves the same state, to the second and to the id (the
    CLI's golden terminal captures)."""

    def __init__(
        self,
        moto: MotoServer,
        start: datetime,
        *,
        env: Mapping[str, str] | None = None,
        account: str = ACCOUNT,
        region: str = REGION,
        member_accounts: tuple[str, ...] | list[str] = (),
        member_role_name: str = DEFAULT_ROLE_NAME,
        member_external_id: str | None = None,
        discovery: str = LISTING,
        tick: bool = True,
        seed: int | None = None,
    ) -> None:
        self.moto = moto
        self._tick = tick
        # cloudtrail: jobs started in the home account's plane are announced on moto's default bus,
        # whose rule feeds the auditor's queue (START_QUEUE_URL), as the stack's construct wires it.
        self.discovery = discovery
        self.announcer: CloudTrailAnnouncer | None = None
        self.start_queue_url = ""
        self.start_queue_arn = ""
        self.account = account
        self.region = region
        self.member_accounts = tuple(member_accounts)
        self.member_role_name = member_role_name
        self.member_external_id = member_external_id
        self.plane = ControlPlane(clock=SimClock(start=start), account_id=account, seed=seed)
        self.simulator = SimulatorServer(self.plane, host="127.0.0.1", port=0, account_of=moto_account_of)
        self._trust: Any = None
        self._start = start
        self._extra_env = dict(env or {})
        self._saved_env: dict[str, str | None] = {}
        self._traveller: Any = None
        self._travel: Any = None
        self.topic_arn = f"arn:aws:sns:{region}:{account}:{TOPIC}"
        self.chat_topic_arn = f"arn:aws:sns:{region}:{account}:{CHAT_TOPIC}"

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> World:
        self.moto.reset()
        self.simulator.start()
        self._travel = time_machine.travel(self._start, tick=self._tick)
        self._traveller = self._travel.start()
        self._set_env(self.environment())
        self._create_resources()
        self._trust = enforce_trust()
        self._trust.__enter__()
        for member in self.member_accounts:
            self.create_member_role(member)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._trust is not None:
            self._trust.__exit__(None, None, None)
            self._trust = None
        self.simulator.stop()
        if self._travel is not None:
            self._travel.stop()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def environment(self) -> dict[str, str]:
        """What the CDK stack sets on the function, pointed at the local endpoints."""
        env = {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            # Every client a registered kind or its scope discovery uses is served by the simulator.
            **{
                f"AWS_ENDPOINT_URL_{c.upper().replace('-', '_')}": self.simulator.endpoint_url
                for c in job_clients()
            },
            "AWS_ENDPOINT_URL_DYNAMODB": self.moto.url,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": self.moto.url,
            "AWS_ENDPOINT_URL_SNS": self.moto.url,
            "AWS_ENDPOINT_URL_SQS": self.moto.url,
            # Member accounts' roles are assumed with moto's STS; organization mode lists moto's.
            "AWS_ENDPOINT_URL_STS": self.moto.url,
            "AWS_ENDPOINT_URL_ORGANIZATIONS": self.moto.url,
            # What the `job-auditor` CLI reads the stack from (`deploy_stack`).
            "AWS_ENDPOINT_URL_CLOUDFORMATION": self.moto.url,
            "AWS_ENDPOINT_URL_LAMBDA": self.moto.url,
            "AWS_ENDPOINT_URL_IAM": self.moto.url,
            "STATE_TABLE_NAME": TABLE,
            "EVENT_BUS_NAME": BUS,
            "NOTIFICATION_TOPIC_ARN": self.topic_arn,
            "EVENT_SOURCE": EVENT_SOURCE,
            "ACCOUNT_ID": self.account,
            "POWERTOOLS_SERVICE_NAME": "job-auditor",
            "POWERTOOLS_METRICS_NAMESPACE": "JobAuditor",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        if self.member_accounts:
            env["ACCOUNTS"] = ",".join(self.member_accounts)
        if self.member_role_name != DEFAULT_ROLE_NAME:
            env["MEMBER_ROLE_NAME"] = self.member_role_name
        if self.member_external_id:
            env["MEMBER_EXTERNAL_ID"] = self.member_external_id
        if self.start_queue_url:
            env[START_QUEUE_URL] = self.start_queue_url
        env.update(self._extra_env)
        return env

    def set_env(self, **env: str) -> None:
        """Change the function's environment between runs (a redeploy with another configuration);
        restored when the world closes."""
        self._set_env(env)

    def _set_env(self, env: Mapping[str, str]) -> None:
        for name, value in env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _create_resources(self) -> None:
        from job_auditor.contract.state_schema import table_definition  # noqa: PLC0415 (lambdas on path)

        self.dynamodb = boto3.client("dynamodb", region_name=self.region)
        self.dynamodb.create_table(**table_definition(TABLE))
        self.events = boto3.client("events", region_name=self.region)
        self.events.create_event_bus(Name=BUS)
        self.sns = boto3.client("sns", region_name=self.region)
        self.sns.create_topic(Name=TOPIC)
        self.sns.create_topic(Name=CHAT_TOPIC)
        self.sqs = boto3.client("sqs", region_name=self.region)
        self.bus_queue = self.subscribe_bus({"source": [EVENT_SOURCE]}, "bus-consumer")
        self.topic_queue = self.subscribe_topic(None, "topic-consumer")
        if self.discovery == CLOUDTRAIL:
            self._announce_starts()

    def _announce_starts(self) -> None:
        """discovery=cloudtrail: the rule on the default bus and its queue, as the stack's
        JobStartDiscovery construct creates them; the plane announces every job it starts."""
        kinds = self._extra_env.get("JOB_KINDS", "").split(",") if self._extra_env.get("JOB_KINDS") else None
        pattern = start_event_pattern(kinds or default_kind_ids())
        url, arn = self._queue(START_QUEUE)
        # The auditor's receives leave a message invisible for as long as the function may run.
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "150"})
        self.events.put_rule(Name=START_RULE, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=START_RULE, Targets=[{"Id": "queue", "Arn": arn}])
        self.start_queue_url, self.start_queue_arn = url, arn
        self._set_env({START_QUEUE_URL: url})
        self.announcer = CloudTrailAnnouncer(self.events, self.account)
        self.plane.start_listeners.append(self.announcer)

    def _queue(self, name: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return url, arn

    def subscribe_bus(self, pattern: Mapping[str, Any], name: str) -> str:
        """An SQS queue fed by a rule on the bus, as a consumer's automation would have."""
        url, arn = self._queue(name)
        self.events.put_rule(Name=name, EventBusName=BUS, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=name, EventBusName=BUS, Targets=[{"Id": "queue", "Arn": arn}])
        return url

    def subscribe_topic(
        self, filter_policy: Mapping[str, Any] | None, name: str, topic_arn: str | None = None
    ) -> str:
        """An SQS queue subscribed to the topic (optionally with a filter policy)."""
        url, arn = self._queue(name)
        attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
        self.sns.subscribe(
            TopicArn=topic_arn or self.topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes
        )
        return url

    # -- accounts -------------------------------------------------------------------------------
    def plane_of(self, account: str) -> ControlPlane:
        """The simulator's state of one account (the home account's is `plane`)."""
        return self.plane.for_account(account)

    def create_member_role(self, account: str, *, trusted_account: str | None = None) -> str:
        """The member role in `account`, trusting the home account (or `trusted_account`) with the
        world's ExternalId; returns its ARN."""
        document = trust_policy(trusted_account or self.account, self.member_external_id)
        return create_role(account, self.member_role_name, document)

    def delete_member_role(self, account: str) -> None:
        delete_role(account, self.member_role_name)

    # -- the stack, as the CLI finds it ---------------------------------------------------------
    def deploy_stack(self, name: str = "JobAuditor", construct: str = "") -> dict[str, str]:
        """A CloudFormation stack whose outputs name this world's resources as the JobAuditor
        construct's do (under `construct`'s path, with CDK's hash, when given), and an auditor function
        whose environment is the world's: what `job-auditor --stack <name>` reads. Output name ->
        value."""
        from job_auditor import stack_outputs  # noqa: PLC0415
        from job_auditor.auditor.settings import ENV_VARS, PARAMETERS_VARIABLE, scope_env_vars  # noqa: PLC0415
        from job_auditor.contract.environment import SETTINGS_PARAMETERS  # noqa: PLC0415

        function = f"{name}-auditor"
        # The Lambda's own variables (its settings, the kinds' scopes, the moved settings' pointer).
        variables = {*ENV_VARS, *scope_env_vars(), PARAMETERS_VARIABLE}
        env = {k: v for k, v in self.environment().items() if k in variables or k.startswith("POWERTOOLS_")}
        self.lambda_ = boto3.client("lambda", region_name=self.region)
        self.lambda_.create_function(
            FunctionName=function,
            Runtime="python3.14",
            Role=self._function_role(function),
            Handler=handlers.AUDITOR,
            Code={"ZipFile": _empty_zip()},
            Environment={"Variables": env},
        )
        outputs = {
            stack_outputs.STATE_TABLE_NAME: TABLE,
            stack_outputs.EVENT_BUS_NAME: BUS,
            stack_outputs.EVENT_BUS_ARN: f"arn:aws:events:{self.region}:{self.account}:event-bus/{BUS}",
            stack_outputs.NOTIFICATION_TOPIC_ARN: self.topic_arn,
            stack_outputs.AUDITOR_FUNCTION_NAME: function,
        }
        outputs[stack_outputs.AUDITED_REGIONS] = env.get("REGIONS") or self.region
        if env.get("ACCOUNTS"):
            # The setting's word and the output's are one: "organization".
            organization = env["ACCOUNTS"] == stack_outputs.ORGANIZATION_ACCOUNTS
            outputs[stack_outputs.AUDITED_ACCOUNTS] = (
                stack_outputs.ORGANIZATION_ACCOUNTS if organization else stack_outputs.LISTED_ACCOUNTS
            )
        if env.get("JOB_KINDS"):
            outputs[stack_outputs.AUDITED_JOB_KINDS] = env["JOB_KINDS"]
        if env.get("SETTINGS_PARAMETERS"):
            names = SETTINGS_PARAMETERS.form.read(env["SETTINGS_PARAMETERS"]).values()
            arn = f"arn:aws:ssm:{self.region}:{self.account}:parameter"
            outputs[stack_outputs.SETTINGS_PARAMETER_ARNS] = ",".join(f"{arn}/{n.lstrip('/')}" for n in names)
        if env.get("CHAT_TOPIC_ARN"):
            outputs[stack_outputs.CHAT_TOPIC_ARN] = env["CHAT_TOPIC_ARN"]
        if self.start_queue_arn:
            outputs[stack_outputs.START_QUEUE_ARN] = self.start_queue_arn
        suffix = "1A2B3C4D" if construct else ""
        template = {
            # moto needs one resource; it creates nothing for this one.
            "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {f"{construct}{key}{suffix}": {"Value": value} for key, value in outputs.items()},
        }
        self.cloudformation = boto3.client("cloudformation", region_name=self.region)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "WaitConditionHandle is not supported"
            self.cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
        return outputs

    def _function_role(self, name: str) -> str:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam = boto3.client("iam", region_name=self.region)
        arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        return arn

    # -- time and runs --------------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move the world's clock (handler and simulator alike)."""
        self._traveller.shift(delta)
        self.plane.clock.set(self.now())

    def run(
        self,
        remaining_ms: int = 300_000,
        *,
        context: FakeLambdaContext | None = None,
        clients: ClientFactory | None = None,
    ) -> dict[str, Any]:
        """One scheduled invocation of the real direct-mode handler; `clients` (a ClientFactory, e.g.
        on a session with fault hooks) replaces the wiring's own for this invocation."""
        if context is None:
            context = FakeLambdaContext(remaining_ms=remaining_ms)
        result: dict[str, Any] = self.invoke(handlers.AUDITOR, {"source": "aws.scheduler"}, context, clients)
        return result

    def invoke(
        self,
        handler: str,
        event: Any,
        context: FakeLambdaContext | None = None,
        clients: ClientFactory | None = None,
    ) -> Any:
        """One invocation of a function's handler, found by its Handler name as the Lambda runtime
        finds it (`module.function`), with fresh clients (endpoints are per world; with `clients`,
        those)."""
        from job_auditor.auditor import wiring  # noqa: PLC0415 (lambdas on path)

        module, function = handler.rsplit(".", 1)
        entry = getattr(importlib.import_module(module), function)
        if context is None:
            context = FakeLambdaContext()
        context.aws_request_id = str(uuid.uuid4())
        self.plane.clock.set(self.now())
        wiring.reset(clients)
        try:
            return entry(event, context)
        finally:
            wiring.reset()

    # -- what consumers received ----------------------------------------------------------------
    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message waiting in a queue, parsed, removed from the queue."""
        out: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return out
            for message in batch:
                out.append(json.loads(message["Body"]))
            self.sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )

    def events_received(self) -> list[dict[str, Any]]:
        """EventBridge events delivered to the bus consumer's queue."""
        return self.drain(self.bus_queue)

    def notifications_received(self) -> list[dict[str, Any]]:
        """SNS notifications delivered to the topic subscriber's queue."""
        return self.drain(self.topic_queue)

    def pending_claims(self) -> set[str]:
        """Event ids of claimed transitions not yet confirmed as published."""
        return {str(i["pendingEventId"]) for i in self.table_items(SOURCE_PREFIX) if "pendingEventId" in i}

    def table_items(self, prefix: str = "") -> Iterator[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

        de = TypeDeserializer()
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=TABLE):
            for item in page["Items"]:
                plain = {k: de.deserialize(v) for k, v in item.items()}
                if str(plain["pk"]).startswith(prefix):
                    yield plain


def _empty_zip() -> bytes:
    """A function package for moto, which stores it and runs nothing."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "the auditor's code runs in-process (job-auditor run --once)\n")
    return buffer.getvalue()


@contextmanager
def world(moto: MotoServer, start: datetime, **kwargs: Any) -> Iterator[World]:
    with World(moto, start, **kwargs) as w:
        yield w


DEFAULT_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
__all__ = ["DEFAULT_START", "FakeLambdaContext", "MotoServer", "World", "free_port", "timedelta", "world"]
