"""Where the CLI's resources are: the stack's outputs found by stack name (or names given outright),
and boto3 clients on the caller's credentials with the SDK's standard resolution (profile, region,
`AWS_ENDPOINT_URL_<SERVICE>`). No Click here: errors are `ResourceError`s the commands report."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound
from botocore.parsers import ResponseParserError

from job_auditor import stack_outputs
from job_auditor.stack_outputs import OutputsError, job_auditor_outputs

if TYPE_CHECKING:
    # Type stubs (requirements-dev.txt): for mypy only, never imported at run time.
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sns import SNSClient

DEFAULT_STACK = "JobAuditor"
STACK_ENV_VAR = "JOB_AUDITOR_STACK"


class ResourceError(Exception):
    """A resource the command needs cannot be found or read; the message says what to do."""


NOT_AWS = "the reply was not an AWS response (a proxy, or a wrong endpoint?)"


def describe(exc: ClientError | BotoCoreError) -> str:
    """An AWS error as one line: its code and message (credentials and access problems included)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "")
        where = f"{operation}: " if operation else ""
        return f"{where}{error.get('Code', 'Error')}: {error.get('Message', exc)}"
    return str(exc)


@dataclass(frozen=True)
class Target:
    """What the caller said about where the stack is and which resources to use."""

    stack: str = DEFAULT_STACK
    construct: str | None = None
    region: str | None = None
    profile: str | None = None
    table: str | None = None
    bus: str | None = None
    topic: str | None = None


class Resources:
    """The stack's resources, looked up once and only when a command needs one."""

    def __init__(self, target: Target, session: boto3.session.Session | None = None) -> None:
        self.target = target
        try:
            self.session = session or boto3.session.Session(
                profile_name=target.profile, region_name=target.region
            )
        except ProfileNotFound as exc:
            raise ResourceError(str(exc)) from exc

    @property
    def region(self) -> str:
        region = self.session.region_name
        if not region:
            raise ResourceError("no AWS region: pass --region, or set AWS_REGION or a profile's region")
        return region

    def dynamodb(self) -> DynamoDBClient:
        return self.session.client("dynamodb", region_name=self.region)

    def events(self) -> EventBridgeClient:
        return self.session.client("events", region_name=self.region)

    def sns(self) -> SNSClient:
        return self.session.client("sns", region_name=self.region)

    def lambda_(self) -> LambdaClient:
        return self.session.client("lambda", region_name=self.region)

    def cloudformation(self) -> CloudFormationClient:
        return self.session.client("cloudformation", region_name=self.region)

    # -- the stack ------------------------------------------------------------------------------
    @cached_property
    def outputs(self) -> dict[str, str]:
        """The JobAuditor's outputs in the stack (by their plain names: `StateTableName`, ...)."""
        name = self.target.stack
        try:
            stacks = self.cloudformation().describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
                raise ResourceError(
                    f"stack {name!r} not found in {self.region}: pass --stack (or set {STACK_ENV_VAR}) "
                    "and --region, or name the resources with --table, --bus and --topic"
                ) from exc
            raise ResourceError(f"cannot read stack {name!r}: {describe(exc)}") from exc
        except BotoCoreError as exc:
            raise ResourceError(f"cannot read stack {name!r}: {describe(exc)}") from exc
        # A reply that is not AWS's (a proxy's sign-in page, a wrong endpoint): botocore fails to parse
        # it, or parses a document without the result.
        except (ResponseParserError, KeyError) as exc:
            raise ResourceError(f"cannot read stack {name!r}: {NOT_AWS}") from exc
        try:
            outputs = [
                {"OutputKey": o.get("OutputKey", ""), "OutputValue": o.get("OutputValue", "")}
                for o in stacks[0].get("Outputs", [])
            ]
            return job_auditor_outputs(outputs, self.target.construct)
        except OutputsError as exc:
            where = f" under construct {self.target.construct!r}" if self.target.construct else ""
            raise ResourceError(f"stack {name!r}{where}: {exc}") from exc

    def _output(self, name: str, given: str | None, option: str | None) -> str:
        if given:
            return given
        value = self.outputs.get(name)
        if not value:
            instead = f": pass {option}" if option else ""
            raise ResourceError(f"stack {self.target.stack!r} has no {name} output{instead}")
        return value

    @property
    def table_name(self) -> str:
        return self._output(stack_outputs.STATE_TABLE_NAME, self.target.table, "--table")

    @property
    def bus_name(self) -> str:
        return self._output(stack_outputs.EVENT_BUS_NAME, self.target.bus, "--bus")

    @property
    def topic_arn(self) -> str:
        return self._output(stack_outputs.NOTIFICATION_TOPIC_ARN, self.target.topic, "--topic")

    @property
    def function_name(self) -> str:
        # What stands in for the function depends on the command: each caller says (run: --env-file).
        return self._output(stack_outputs.AUDITOR_FUNCTION_NAME, None, None)

    def function_configuration(self) -> tuple[str, dict[str, str]]:
        """The auditor function's ARN and environment variables, as the Lambda runs with them."""
        name = self.function_name
        try:
            config = self.lambda_().get_function_configuration(FunctionName=name)
        except (ClientError, BotoCoreError) as exc:
            raise ResourceError(f"cannot read the auditor function {name!r}: {describe(exc)}") from exc
        return config.get("FunctionArn", ""), dict(config.get("Environment", {}).get("Variables", {}))
