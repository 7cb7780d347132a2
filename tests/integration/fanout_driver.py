"""Runs the CDK-synthesized audit state machine in-process: the states in the order the definition
says, with its own ItemBatcher, ItemReader, ResultWriter, ToleratedFailurePercentage and Catch, each
Lambda task calling our handler by its Handler name (`contract.handlers`), against the simulator and moto.

Why not moto's ASL interpreter: moto 5.2.5's grammar has no ItemBatcher, MaxItemsPerBatch or EXPRESS
token (its lexer, asl/antlr/runtime/ASLLexer.py), so it rejects the definition, and it runs Lambda
tasks in Docker, which this machine does not have. This driver interprets the subset of the States
language the definition uses (Task, Choice, Distributed Map, Succeed, Fail; JSONPath Parameters,
ResultSelector, ResultPath; the two intrinsics it calls) and fails on anything else, so a definition
change it does not understand shows here instead of passing unnoticed.

Children run one after another (the definition's MaxConcurrency is recorded, not modelled: the
benchmark models the wall time); a child "killed" by the test is recorded as FAILED with its input,
as Step Functions' ResultWriter does.

The payload quota is the service's: every state's input (after Parameters) and output, each Lambda
task's result and each child's input and output at most 256 KiB, else `States.DataLimitExceeded`, which
no Catch handles (States.ALL does not match it): the execution fails. The ItemBatcher cuts batches by
MaxItemsPerBatch and MaxInputBytesPerBatch both. `peak` records the largest payload seen per state.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from job_auditor.auditor import wiring
from job_auditor.auditor.adapters.clients import ClientFactory
from job_auditor.contract import handlers
from job_auditor.contract.fanout_payload import STATE_PAYLOAD_LIMIT_BYTES
from simulator.world import FakeLambdaContext, World

# Not matched by States.ALL: the execution fails.
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"

# The Lambda tasks: which handler a Resource placeholder names.
HANDLERS = {
    "PlanFunction": handlers.PLAN,
    "BatchFunction": handlers.BATCH,
    "SummarizeFunction": handlers.SUMMARIZE,
}


def synthesized(context: Mapping[str, object], outdir: Path) -> tuple[Template, dict[str, Any]]:
    """The stack's template and its state machine definition, tokens replaced by `${LogicalId}`."""
    from app import build_app
    from job_auditor.infra.config import load_config

    app = cdk.App(outdir=str(outdir))
    stack = build_app(app, load_config({"auditMode": "stepfunctions", **context}))
    template = Template.from_stack(stack)
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    body = machine["Properties"]["DefinitionString"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(p if isinstance(p, str) else "${" + _token_name(p) + "}" for p in parts)
    return template, json.loads(text)


def _token_name(token: Mapping[str, Any]) -> str:
    if "Ref" in token:
        return str(token["Ref"])
    if "Fn::GetAtt" in token:
        return str(token["Fn::GetAtt"][0])
    return json.dumps(token)


class Killed(BaseException):
    """A child's Lambda stopped mid-batch (a timeout, a crash): raised past every `except Exception`."""


def _get(data: Any, path: str) -> Any:
    if path == "$":
        return data
    node = data
    parts = path.removeprefix("$.").split(".")
    for n, part in enumerate(parts):
        if part.endswith("[*]"):  # a wildcard: the rest of the path over each element
            rest = ".".join(parts[n + 1 :])
            return [_get(e, f"$.{rest}") if rest else e for e in node[part[:-3]]]
        node = node[part]
    return node


def _has(data: Any, path: str) -> bool:
    try:
        _get(data, path)
    except (KeyError, TypeError):
        return False
    return True


def payload_bytes(value: Any) -> int:
    """A payload's size as the quota counts it: UTF-8 bytes of its JSON."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _put(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    if path == "$":
        return dict(value) if isinstance(value, Mapping) else value
    out = dict(data)
    node = out
    parts = path.removeprefix("$.").split(".")
    for part in parts[:-1]:
        node[part] = dict(node.get(part) or {})
        node = node[part]
    node[parts[-1]] = value
    return out


class Driver:
    """One deployment's state machine, run against a World."""

    def __init__(self, world: World, definition: dict[str, Any], bucket: str) -> None:
        self.world = world
        self.definition = definition
        self.bucket = bucket
        self.running: list[str] = []  # other executions the Guard's listExecutions sees
        self.kill: Callable[[int, dict[str, Any]], None] | None = None
        self.trace: list[str] = []  # the states entered, in order
        self.children: list[dict[str, Any]] = []
        # The largest payload seen per state (its input, output or task result), in bytes.
        self.peak: dict[str, int] = {}
        self.machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:audit"
        # Each function's clients while its execution environment stays warm (`_warm_clients`).
        self.warm: dict[str, ClientFactory] = {}

    # -- the context object -------------------------------------------------------------------------
    def _context(self, path: str) -> str:
        return {
            "$$.Execution.Name": self.execution_name,
            "$$.Execution.Id": self.machine_arn.replace(":stateMachine:", ":execution:")
            + f":{self.execution_name}",
            "$$.StateMachine.Id": self.machine_arn,
        }[path]

    def _value(self, data: Any, ref: str) -> Any:
        if ref.startswith("$$."):
            return self._context(ref)
        call = re.fullmatch(r"States\.(\w+)\((.*)\)", ref)
        if call is None:
            return _get(data, ref)
        name, args = call.group(1), [a.strip() for a in call.group(2).split(",")]
        if name == "ArrayLength":
            return len(self._value(data, args[0]))
        if name == "ArrayContains":
            return self._value(data, args[1]) in self._value(data, args[0])
        raise AssertionError(f"intrinsic {name} not interpreted")

    def _fill(self, template: Mapping[str, Any], data: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = self._value(data, value)
            elif isinstance(value, Mapping):
                out[key] = self._fill(value, data)
            else:
                out[key] = value
        return out

    # -- the payload quota ---------------------------------------------------------------------------
    def _bounded(self, state: str, what: str, value: Any) -> Any:
        size = payload_bytes(value)
        self.peak[state] = max(self.peak.get(state, 0), size)
        if size > STATE_PAYLOAD_LIMIT_BYTES:
            raise StatesError(
                DATA_LIMIT_EXCEEDED,
                f"The state/task '{state}' {what} has a size of {size} bytes that exceeds the maximum "
                f"number of bytes service limit ({STATE_PAYLOAD_LIMIT_BYTES}).",
            )
        return value

    # -- tasks ---------------------------------------------------------------------------------------
    def _lambda(self, resource: str, payload: Any) -> Any:
        handler = next((h for key, h in HANDLERS.items() if key in resource), None)
        assert handler is not None, f"unknown Lambda task {resource}"
        context = FakeLambdaContext(remaining_ms=120_000)
        try:
            return self.world.invoke(handler, payload, context, self._warm_clients(handler, context))
        except Killed:
            self.warm.pop(handler, None)  # a timed-out environment is discarded: the next one is cold
            raise

    def _warm_clients(self, handler: str, context: FakeLambdaContext) -> ClientFactory:
        """The function's clients, kept from its first invocation on, as Lambda keeps a function's
        execution environment warm between invocations (each function its own)."""
        clients = self.warm.get(handler)
        if clients is None:
            settings = wiring.load_settings()
            clients = self.warm[handler] = wiring.member_clients(
                settings, wiring.home_account(settings, context)
            )
        return clients

    def _task(self, name: str, state: Mapping[str, Any], data: Any) -> Any:
        resource = state["Resource"]
        payload = self._fill(state["Parameters"], data) if "Parameters" in state else data
        self._bounded(name, "input (after Parameters)", payload)
        if resource.endswith(":aws-sdk:sfn:listExecutions"):
            assert payload["StateMachineArn"] == self.machine_arn and payload["StatusFilter"] == "RUNNING"
            this = self._context("$$.Execution.Id")
            result: Any = {
                "Executions": [{"ExecutionArn": a} for a in [*self.running, this]][: payload["MaxResults"]]
            }
        else:
            result = self._bounded(name, "result", self._lambda(resource, payload))
        if "ResultSelector" in state:
            result = self._fill(state["ResultSelector"], result)
        return _put(data, state.get("ResultPath", "$"), result)

    # -- choice --------------------------------------------------------------------------------------
    def _holds(self, rule: Mapping[str, Any], data: Any) -> bool:
        if "Or" in rule:
            return any(self._holds(r, data) for r in rule["Or"])
        if "And" in rule:
            return all(self._holds(r, data) for r in rule["And"])
        if "Not" in rule:
            return not self._holds(rule["Not"], data)
        variable = rule["Variable"]
        if "IsPresent" in rule:
            return _has(data, variable) is bool(rule["IsPresent"])
        value = _get(data, variable)
        tests: dict[str, Callable[[Any, Any], bool]] = {
            "NumericGreaterThan": lambda a, b: a > b,
            "NumericEquals": lambda a, b: a == b,
            "BooleanEquals": lambda a, b: a is b,
            "StringEquals": lambda a, b: a == b,
        }
        for op, test in tests.items():
            if op in rule:
                return bool(test(value, rule[op]))
        raise AssertionError(f"choice rule not interpreted: {rule}")

    # -- distributed map -----------------------------------------------------------------------------
    def _items(self, state: Mapping[str, Any], data: Any) -> list[Any]:
        if "ItemReader" in state:
            reader = state["ItemReader"]
            assert (
                reader["Resource"].endswith(":s3:getObject") and reader["ReaderConfig"]["InputType"] == "JSON"
            )
            params = self._fill(reader["Parameters"], data)
            body = self.world_s3().get_object(Bucket=self.bucket, Key=params["Key"])["Body"].read()
            return list(json.loads(body))
        return list(_get(data, state["ItemsPath"]))

    def world_s3(self) -> Any:
        import boto3

        return boto3.client("s3", region_name=self.world.region)

    def _batches(self, name: str, batcher: Mapping[str, Any], items: list[Any]) -> list[list[Any]]:
        """The ItemBatcher's cut: a batch ends at MaxItemsPerBatch items or before its input
        ({"Items": [...]}) would pass MaxInputBytesPerBatch."""
        per_batch, max_bytes = batcher["MaxItemsPerBatch"], batcher.get("MaxInputBytesPerBatch")
        batches: list[list[Any]] = []
        size = 0
        for item in items:
            item_size = payload_bytes(item) + 1
            full = batches and (len(batches[-1]) >= per_batch or (max_bytes and size + item_size > max_bytes))
            if not batches or full:
                batches.append([])
                size = payload_bytes({"Items": []})
                if max_bytes and size + item_size > max_bytes:
                    raise StatesError(DATA_LIMIT_EXCEEDED, f"'{name}': an item of {item_size} bytes")
            batches[-1].append(item)
            size += item_size
        return batches

    def _map(self, name: str, state: Mapping[str, Any], data: Any) -> Any:
        processor = state["ItemProcessor"]
        assert processor["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        items = self._items(state, data)
        batches = self._batches(name, state["ItemBatcher"], items)
        results: dict[str, list[dict[str, Any]]] = {"SUCCEEDED": [], "FAILED": []}
        for number, batch in enumerate(batches):
            child_input = {"Items": batch}
            record: dict[str, Any] = {"Input": json.dumps(child_input), "Name": str(number)}
            try:
                self._bounded(f"{name} child", "input", child_input)
                if self.kill is not None:
                    self.kill(number, child_input)
                output = self._bounded(f"{name} child", "output", self._run(processor, child_input))
                results["SUCCEEDED"].append({**record, "Status": "SUCCEEDED", "Output": json.dumps(output)})
            except Killed as exc:
                results["FAILED"].append(
                    {**record, "Status": "FAILED", "Error": "Sandbox.Timedout", "Cause": str(exc)}
                )
            except StatesError as error:  # the child execution failed (its data limit included)
                results["FAILED"].append(
                    {**record, "Status": "FAILED", "Error": error.error, "Cause": error.cause}
                )
        self.children = [*results["SUCCEEDED"], *results["FAILED"]]
        tolerated = state.get("ToleratedFailurePercentage", 0)
        if batches and 100 * len(results["FAILED"]) / len(batches) > tolerated:
            raise StatesError("States.ExceedToleratedFailureThreshold", "too many children failed")
        writer = state["ResultWriter"]["Parameters"]
        prefix = f"{writer['Prefix']}/{uuid.uuid4()}"
        s3 = self.world_s3()
        files: dict[str, list[dict[str, Any]]] = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
        for status, entries in results.items():
            if entries:
                key = f"{prefix}/{status}_0.json"
                s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(entries).encode())
                files[status].append({"Key": key, "Size": 0})
        manifest = f"{prefix}/manifest.json"
        s3.put_object(Bucket=self.bucket, Key=manifest, Body=json.dumps({"ResultFiles": files}).encode())
        return {
            "MapRunArn": "arn:aws:states:::mapRun/test",
            "ResultWriterDetails": {"Bucket": self.bucket, "Key": manifest},
        }

    # -- the machine ---------------------------------------------------------------------------------
    def _run(self, machine: Mapping[str, Any], data: Any) -> Any:
        name = machine["StartAt"]
        while True:
            state = machine["States"][name]
            self.trace.append(name)
            self._bounded(name, "input", data)
            kind = state["Type"]
            if kind == "Succeed":
                return data
            if kind == "Fail":
                raise StatesError(state["Error"], state.get("Cause", ""))
            if kind == "Choice":
                name = next((c["Next"] for c in state["Choices"] if self._holds(c, data)), state["Default"])
                continue
            try:
                if kind == "Task":
                    data = self._task(name, state, data)
                elif kind == "Map":
                    data = _put(data, state.get("ResultPath", "$"), self._map(name, state, data))
                else:
                    raise AssertionError(f"state type {kind} not interpreted")
                self._bounded(name, "output", data)
            except StatesError as error:
                catch = next((c for c in state.get("Catch", []) if "States.ALL" in c["ErrorEquals"]), None)
                if catch is None or error.error == DATA_LIMIT_EXCEEDED:
                    raise
                data = _put(data, catch["ResultPath"], {"Error": error.error, "Cause": error.cause})
                self._bounded(name, "output (caught)", data)
                name = catch["Next"]
                continue
            if state.get("End"):
                return data
            name = state["Next"]

    def execute(self) -> dict[str, Any]:
        """One execution (as the schedule starts it); its final state's data."""
        self.execution_name = str(uuid.uuid4())
        self.trace = []
        result: dict[str, Any] = self._run(self.definition, {})
        return result


class StatesError(Exception):
    """An error the execution reports (`error` is its name, as `States.DataLimitExceeded`)."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause
