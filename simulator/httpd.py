"""The HTTP face of the simulator: every operation of every registered job kind over REST-JSON (routed
by `simulator.modeled.operations()`), and a control API.

Point real boto3 clients at it with standard endpoint resolution::

    AWS_ENDPOINT_URL_BEDROCK=http://127.0.0.1:4010 AWS_ENDPOINT_URL_QCONNECT=http://127.0.0.1:4010

or `boto3.client("bedrock", endpoint_url=server.endpoint_url)`. One server serves both services. The
region of a call is read from the SigV4 credential scope of its `Authorization` header
(`Credential=AKID/DATE/REGION/SERVICE/aws4_request`); an unsigned call is served as `default_region`.
Operations are told apart by HTTP method and path template; where two services' templates both fit,
the scope's SERVICE (the signing name: bedrock-agent signs as `bedrock`) picks one.
Errors are the REST-JSON shape botocore parses: HTTP status, header `x-amzn-ErrorType: <Code>` and a
body `{"message": "..."}`.

Many accounts: the account of a call is the one its access key (the credential scope's AKID) belongs
to, as `account_of` says (the World passes `simulator.moto_accounts.moto_account_of`: the keys moto's
STS issued on AssumeRole); a key it does not know, or an unsigned call, is the plane's own account.
Each account has its own plane (`ControlPlane.for_account`); the fault plan, the mutator and the call
log are the server's. Where `/_sim/regions/disable` declared an (account, region) not enabled, calls
are answered 403 `UnrecognizedClientException`, as AWS answers in an opt-in region the account has
not enabled.

Run standalone with `python -m simulator.server --port 4010` (see `simulator.server`).

Control API (JSON in and out, unsigned, under `/_sim/`; times are ISO 8601 strings with an offset)
--------------------------------------------------------------------------------------------------
Every endpoint that creates or changes jobs and resources, and `state`, takes an optional `account`
(in the body, or `?account=` on a GET): the account whose plane it acts on (default: the plane's).
=======  ==============================  ===========================================================
GET      /_sim/health                    `{"ok": true, "accountId", "accounts", "now"}`
GET      /_sim/state                     per region: `jobs` by kind, `resources` by discovery list
POST     /_sim/reset                     forget all state, recorded calls and faults
GET      /_sim/clock                     `{"now"}`
POST     /_sim/clock                     `{"set": time}` or `{"advanceSeconds": n}` -> `{"now"}`
POST     /_sim/model-import-jobs         `{region, name, status?, creationTime?}` -> `{"jobArn"}`
POST     /_sim/model-copy-jobs           `{region, targetModelName, sourceModelArn?, sourceAccountId?,
                                         status?, creationTime?, sourceModelName?}` -> `{"jobArn"}`
POST     /_sim/knowledge-bases           `{region, name, knowledgeBaseType?, status?}`
                                         -> `{"knowledgeBaseId", "knowledgeBaseArn"}`
POST     /_sim/knowledge-bases/status    `{region, knowledgeBaseId, status}`
POST     /_sim/knowledge-bases/delete    `{region, knowledgeBaseId}`
POST     /_sim/import-jobs               `{region, knowledgeBaseId, status?, createdTime?, metadata?}`
                                         -> `{"importJobId"}`
POST     /_sim/status                    `{jobRef, status, failureMessage?, region?}` (any status string;
                                         jobRef may be a job of any kind, by id or ARN)
POST     /_sim/jobs                      a job of any registered kind: `{kind, region, scopeIds?, status?,
                                         name?, creationTime?, fields?}` -> `{"jobId", "jobArn"?}`
POST     /_sim/jobs/bulk                 `{kind, region, count, scopeIds?, start?, intervalSeconds?,
                                         status?, namePrefix?, fields?}` -> `{"jobIds"}`
POST     /_sim/jobs/status               `{kind, region, jobId, status, scopeIds?, fields?}` (fields:
                                         failureReasons, statistics, message, failureMessages, ...)
POST     /_sim/jobs/delete               `{kind, region, jobId, scopeIds?}`
POST     /_sim/scope-resources           `{client, listMethod, region, parentIds?, name?, status?,
                                         fields?}` -> `{"id"}` (what a kind's discovery lists)
POST     /_sim/scope-resources/status    `{client, listMethod, region, id, status, parentIds?}`
POST     /_sim/scope-resources/delete    `{client, listMethod, region, id, parentIds?}`
POST     /_sim/agent-knowledge-bases     bedrock-agent: `{region, name?, status?}` -> `{"knowledgeBaseId"}`
POST     /_sim/data-sources              bedrock-agent: `{region, knowledgeBaseId, name?, status?}`
                                         -> `{"dataSourceId"}`
GET      /_sim/calls                     `{"calls": [{operation, region, account, params, status,
                                         errorCode, at}]}`; optional `?operation=`, `?account=` filters
DELETE   /_sim/calls                     forget recorded calls
POST     /_sim/regions/disable           `{account?, region, service?}`: that account's calls in that
                                         region (to that signing name only, if given) answer 403
                                         UnrecognizedClientException
POST     /_sim/regions/enable            the same fields: undo
GET      /_sim/faults                    the fault plan and its counts (see `FaultPlan.to_dict`)
PUT      /_sim/faults                    replace the plan: `{seed, rates: {op: {throttle, internalError,
                                         delaySeconds}}, rules: [{code, operation?, region?,
                                         knowledgeBaseId?, times?, message?, status?}]}`
DELETE   /_sim/faults                    replace the plan with an empty one
=======  ==============================  ===========================================================

Control API errors use the same error shape (ValidationException 400, ResourceNotFoundException 404).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from simulator import modeled
from simulator.call_log import CallRecord
from simulator.clock import iso
from simulator.errors import ApiError, not_found, validation
from simulator.faults import FaultPlan
from simulator.modeled_store import spec_of
from simulator.state import QCONNECT_KNOWLEDGE_BASES, ControlPlane

logger = logging.getLogger(__name__)

_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_ACCOUNT = re.compile(r"[0-9]{12}")
# What AWS answers, on every protocol's error shape, where the caller's credentials are not valid in a
# region: an opt-in region the account has not enabled.
REGION_NOT_ENABLED = ApiError(
    "UnrecognizedClientException", "The security token included in the request is invalid.", 403
)
# The account an access key belongs to (None: unknown, served as the plane's own account).
AccountOf = Callable[[str], str | None]
CONTROL_PREFIX = "_sim"


def region_from_authorization(header: str | None) -> str | None:
    """The region in a SigV4 Authorization header's credential scope, if there is one."""
    if not header:
        return None
    match = _CREDENTIAL_SCOPE.search(header)
    return match.group(2) if match else None


def service_from_authorization(header: str | None) -> str | None:
    """The service (signing name) in a SigV4 Authorization header's credential scope, if any."""
    match = _CREDENTIAL_SCOPE.search(header) if header else None
    return match.group(3) if match else None


def access_key_from_authorization(header: str | None) -> str | None:
    """The access key id in a SigV4 Authorization header's credential scope, if any."""
    match = _CREDENTIAL_SCOPE.search(header) if header else None
    return match.group(1) if match else None


# -- control API -----------------------------------------------------------------------------------


def _time(body: Mapping[str, Any], name: str) -> datetime | None:
    raw = body.get(name)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(raw))
    except ValueError:
        raise validation(f"{name} must be an ISO 8601 timestamp, got {raw!r}") from None
    if parsed.tzinfo is None:
        raise validation(f"{name} must carry a UTC offset, got {raw!r}")
    return parsed


def _required(body: Mapping[str, Any], name: str) -> Any:
    if body.get(name) is None:
        raise validation(f"missing required field {name!r}")
    return body[name]


def _interval(body: Mapping[str, Any]) -> timedelta:
    return timedelta(seconds=float(body.get("intervalSeconds", 1.0)))


def _call_json(record: CallRecord) -> dict[str, Any]:
    return {
        "operation": record.operation,
        "region": record.region,
        "account": record.account,
        "params": dict(record.params),
        "status": record.status,
        "errorCode": record.error_code,
        "at": record.at.isoformat(),
    }


def _account_of_request(body: Mapping[str, Any], query: Mapping[str, str]) -> str | None:
    account = body.get("account") or query.get("account")
    if account is not None and not (isinstance(account, str) and _ACCOUNT.fullmatch(account)):
        raise validation(f"account must be a 12-digit account id, got {account!r}")
    return account


def control(root: ControlPlane, method: str, parts: list[str], query: Mapping[str, str], body: Any) -> Any:
    """Serve one control API request (parts exclude the `_sim` prefix); returns the JSON reply."""
    if not isinstance(body, dict):
        raise validation("the request body must be a JSON object")
    route = (method, "/".join(parts))
    account = _account_of_request(body, query)
    # The account's plane for what holds state; the server-wide things (clock, calls, faults) are root's.
    plane = root.for_account(account)
    now = iso(root.clock.now())
    actions: dict[tuple[str, str], Callable[[], Any]] = {
        ("GET", "health"): lambda: {
            "ok": True,
            "accountId": root.account_id,
            "accounts": root.accounts(),
            "now": now,
        },
        ("GET", "state"): plane.stats,
        ("POST", "reset"): _empty(root.reset),
        ("POST", "regions/disable"): _empty(
            lambda: root.disable_region(
                account or root.account_id, _required(body, "region"), body.get("service")
            )
        ),
        ("POST", "regions/enable"): _empty(
            lambda: root.enable_region(
                account or root.account_id, _required(body, "region"), body.get("service")
            )
        ),
        ("GET", "clock"): lambda: {"now": now},
        ("POST", "clock"): lambda: _clock(plane, body),
        ("POST", "model-import-jobs"): lambda: {
            "jobArn": plane.create_model_import_job(
                region=_required(body, "region"),
                name=_required(body, "name"),
                status=body.get("status", "InProgress"),
                creation_time=_time(body, "creationTime"),
            )
        },
        ("POST", "model-copy-jobs"): lambda: {
            "jobArn": plane.create_model_copy_job(
                region=_required(body, "region"),
                target_model_name=_required(body, "targetModelName"),
                source_model_arn=body.get("sourceModelArn"),
                source_account_id=body.get("sourceAccountId"),
                status=body.get("status", "InProgress"),
                creation_time=_time(body, "creationTime"),
                source_model_name=body.get("sourceModelName"),
            )
        },
        ("POST", "knowledge-bases"): lambda: _create_kb(plane, body),
        ("POST", "knowledge-bases/status"): _empty(
            lambda: plane.set_knowledge_base_status(
                _required(body, "region"), _required(body, "knowledgeBaseId"), _required(body, "status")
            )
        ),
        ("POST", "knowledge-bases/delete"): _empty(
            lambda: plane.delete_knowledge_base(_required(body, "region"), _required(body, "knowledgeBaseId"))
        ),
        ("POST", "import-jobs"): lambda: {
            "importJobId": plane.create_import_job(
                region=_required(body, "region"),
                knowledge_base_id=_required(body, "knowledgeBaseId"),
                status=body.get("status", "START_IN_PROGRESS"),
                created_time=_time(body, "createdTime"),
                metadata=body.get("metadata"),
            )
        },
        ("POST", "status"): _empty(
            lambda: plane.set_status(
                _required(body, "jobRef"),
                _required(body, "status"),
                body.get("failureMessage"),
                region=body.get("region"),
            )
        ),
        **_kind_actions(plane, body),
        ("GET", "calls"): lambda: {
            "calls": [
                _call_json(r)
                for r in root.calls
                if ("operation" not in query or r.operation == query["operation"])
                and (account is None or r.account == account)
            ]
        },
        ("DELETE", "calls"): _empty(root.reset_calls),
        ("GET", "faults"): root.faults.to_dict,
        ("PUT", "faults"): lambda: _set_faults(root, FaultPlan.from_dict(body)),
        ("POST", "faults"): lambda: _set_faults(root, FaultPlan.from_dict(body)),
        ("DELETE", "faults"): lambda: _set_faults(root, FaultPlan()),
    }
    action = actions.get(route)
    if action is None:
        raise ApiError("UnknownOperationException", f"no control endpoint {method} /_sim/{route[1]}", 404)
    try:
        return action()
    except KeyError as exc:
        raise not_found(str(exc.args[0]) if exc.args else "not found") from None
    except (ValueError, TypeError) as exc:
        raise validation(str(exc)) from None


def _empty(action: Callable[[], object]) -> Callable[[], dict[str, Any]]:
    """An action whose reply is `{}`."""

    def run() -> dict[str, Any]:
        action()
        return {}

    return run


def _clock(plane: ControlPlane, body: Mapping[str, Any]) -> dict[str, str]:
    when = _time(body, "set")
    if when is not None:
        plane.clock.set(when)
    if body.get("advanceSeconds") is not None:
        plane.clock.advance(timedelta(seconds=float(body["advanceSeconds"])))
    return {"now": iso(plane.clock.now())}


def _create_kb(plane: ControlPlane, body: Mapping[str, Any]) -> dict[str, str]:
    region = _required(body, "region")
    kb_id = plane.create_knowledge_base(
        region=region,
        name=_required(body, "name"),
        knowledge_base_type=body.get("knowledgeBaseType", "QUICK_RESPONSES"),
        status=body.get("status", "ACTIVE"),
    )
    kb = plane.scope_resource(*QCONNECT_KNOWLEDGE_BASES, region, kb_id)
    return {"knowledgeBaseId": kb_id, "knowledgeBaseArn": kb["knowledgeBaseArn"]}


def _kind_actions(plane: ControlPlane, body: Mapping[str, Any]) -> dict[tuple[str, str], Callable[[], Any]]:
    """The control endpoints of jobs of any kind and of scope resources (see the module docstring)."""

    def scope() -> tuple[str, ...]:
        return tuple(body.get("scopeIds") or ())

    def parents() -> tuple[str, ...]:
        return tuple(body.get("parentIds") or ())

    def resource() -> tuple[str, str, str]:
        return (_required(body, "client"), _required(body, "listMethod"), _required(body, "region"))

    return {
        ("POST", "jobs"): lambda: _create_job(plane, body),
        ("POST", "jobs/bulk"): lambda: {
            "jobIds": plane.bulk_create_jobs(
                _required(body, "kind"),
                _required(body, "region"),
                int(_required(body, "count")),
                scope_ids=scope(),
                start=_time(body, "start"),
                interval=_interval(body),
                status=body.get("status"),
                name_prefix=body.get("namePrefix"),
                fields=body.get("fields"),
            )
        },
        ("POST", "jobs/status"): _empty(
            lambda: plane.set_job_status(
                _required(body, "kind"),
                _required(body, "region"),
                _required(body, "jobId"),
                _required(body, "status"),
                scope_ids=scope(),
                fields=body.get("fields"),
            )
        ),
        ("POST", "jobs/delete"): _empty(
            lambda: plane.delete_kind_job(
                _required(body, "kind"),
                _required(body, "region"),
                _required(body, "jobId"),
                scope_ids=scope(),
            )
        ),
        ("POST", "scope-resources"): lambda: {
            "id": plane.create_scope_resource(
                *resource(),
                parent_ids=parents(),
                name=body.get("name"),
                status=body.get("status"),
                fields=body.get("fields"),
            )
        },
        ("POST", "scope-resources/status"): _empty(
            lambda: plane.set_scope_resource_status(
                *resource(), _required(body, "id"), _required(body, "status"), parent_ids=parents()
            )
        ),
        ("POST", "scope-resources/delete"): _empty(
            lambda: plane.delete_scope_resource(*resource(), _required(body, "id"), parent_ids=parents())
        ),
        ("POST", "agent-knowledge-bases"): lambda: {
            "knowledgeBaseId": plane.create_agent_knowledge_base(
                _required(body, "region"), body.get("name", "sim-kb"), status=body.get("status", "ACTIVE")
            )
        },
        ("POST", "data-sources"): lambda: {
            "dataSourceId": plane.create_data_source(
                _required(body, "region"),
                _required(body, "knowledgeBaseId"),
                body.get("name", "sim-data-source"),
                status=body.get("status", "AVAILABLE"),
            )
        },
    }


def _create_job(plane: ControlPlane, body: Mapping[str, Any]) -> dict[str, str]:
    spec = spec_of(_required(body, "kind"))
    region = _required(body, "region")
    scope = tuple(body.get("scopeIds") or ())
    job_id = plane.create_job(
        spec,
        region,
        scope_ids=scope,
        status=body.get("status"),
        name=body.get("name"),
        creation_time=_time(body, "creationTime"),
        fields=body.get("fields"),
    )
    reply = {"jobId": job_id}
    if spec.arn_field:
        reply["jobArn"] = str(plane.find_job(spec, region, job_id, scope_ids=scope).fields[spec.arn_field])
    return reply


def _set_faults(plane: ControlPlane, plan: FaultPlan) -> dict[str, Any]:
    plane.faults = plan
    return plan.to_dict()


# -- HTTP ------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Routes one request to the control API or an AWS operation."""

    # Keep-alive: botocore pools connections; every reply sets Content-Length.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs add ~40 ms per call.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _reply(self, status: int, body: Any, error_code: str | None = None) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_code is not None:
            self.send_header("x-amzn-ErrorType", error_code)
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self, method: str) -> None:
        plane = self.server.plane
        raw_body = self._read_body()
        url = urlsplit(self.path)
        # Split before decoding: an ARN in a path segment arrives percent-encoded, '/' included.
        parts = [unquote(p) for p in url.path.strip("/").split("/")] if url.path.strip("/") else []
        query_lists = parse_qs(url.query, keep_blank_values=True)
        query = {k: v[0] for k, v in query_lists.items()}
        if parts and parts[0] == CONTROL_PREFIX:
            try:
                body = json.loads(raw_body) if raw_body.strip() else {}
                self._reply(200, control(plane, method, parts[1:], query, body))
            except ApiError as exc:
                self._reply(exc.status, {"message": exc.message}, exc.code)
            except json.JSONDecodeError as exc:
                self._reply(400, {"message": f"invalid JSON: {exc}"}, "ValidationException")
            return
        self._serve_aws(plane, method, parts, query, query_lists, raw_body)

    def _serve_aws(
        self,
        plane: ControlPlane,
        method: str,
        parts: list[str],
        query: dict[str, str],
        query_lists: dict[str, list[str]],
        raw_body: bytes,
    ) -> None:
        authorization = self.headers.get("Authorization")
        resolved = modeled.resolve(method, parts, service_from_authorization(authorization))
        if resolved is None:
            message = f"No operation matches {method} {urlsplit(self.path).path}"
            self._reply(404, {"message": message}, "UnknownOperationException")
            return
        route, path_params = resolved
        region = region_from_authorization(authorization) or self.server.default_region
        access_key = access_key_from_authorization(authorization) or ""
        account = (self.server.account_of(access_key) if access_key else None) or plane.account_id
        status, error_code = 200, None
        request = modeled.Request(path_params, query, query_lists, None)
        try:
            if not plane.region_enabled(account, region, service_from_authorization(authorization)):
                raise REGION_NOT_ENABLED
            request = modeled.Request(path_params, query, query_lists, _json_body(raw_body))
            decision = plane.faults.decide(route.name, region, route.scope_of(request))
            if decision.delay_seconds > 0:
                time.sleep(decision.delay_seconds)
            if decision.error is not None:
                raise ApiError(decision.error.code, decision.error.message, decision.error.status)
            mutator = plane.mutator
            if mutator is not None:
                query = dict(mutator.before(route.name, query))
                request = modeled.Request(
                    path_params, query, {k: [v] for k, v in query.items()}, request.body
                )
            body = route.handler(plane.for_account(account), region, request)
            if mutator is not None:
                body = mutator.after(route.name, query, body)
        except ApiError as exc:
            status, error_code = exc.status, exc.code
            body = {"message": exc.message}
        except Exception:
            logger.exception("simulator failed to serve %s", route.name)
            status, error_code = 500, "InternalServerException"
            body = {"message": "The simulator failed unexpectedly"}
        # Record before replying so a client that has its answer always finds the call recorded.
        plane.calls.append(
            CallRecord(
                operation=route.name,
                region=region,
                params={**_flat(request.body), **path_params, **query},
                status=status,
                error_code=error_code,
                at=plane.clock.now(),
                account=account,
                access_key=access_key,
            )
        )
        self._reply(status, body, error_code)


def _json_body(raw: bytes) -> Any:
    """A request's JSON body (None when empty); SerializationException when it is not JSON."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError("SerializationException", f"the request body is not JSON: {exc}", 400) from None


def _flat(body: Any) -> dict[str, str]:
    """A JSON body's top-level members as call log params (non-strings as JSON)."""
    if not isinstance(body, dict):
        return {}
    return {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in body.items()}


def _no_account(access_key: str) -> None:
    del access_key


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], plane: ControlPlane, default_region: str, account_of: AccountOf
    ) -> None:
        super().__init__(address, _Handler)
        self.plane = plane
        self.default_region = default_region
        self.account_of = account_of


class SimulatorServer:
    """A threading HTTP server for a `ControlPlane`; `port=0` picks a free port.

    Use `start()` / `stop()` or a `with` block; `endpoint_url` is what boto3 clients need.
    `account_of` maps a caller's access key to its account (default: every caller is the plane's).
    """

    def __init__(
        self,
        plane: ControlPlane,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        default_region: str = "us-east-1",
        account_of: AccountOf | None = None,
    ) -> None:
        self.plane = plane
        self._httpd = _HTTPServer((host, port), plane, default_region, account_of or _no_account)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The address the server is bound to."""
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        return int(self._httpd.server_address[1])

    @property
    def endpoint_url(self) -> str:
        """`http://host:port`, for `endpoint_url=` or `AWS_ENDPOINT_URL_*`."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatorServer:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
