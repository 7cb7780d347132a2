"""Malformed responses on purpose: a small, seeded hook the HTTP server applies around each AWS
operation, so tests can show what the auditor does with answers the real APIs should not give but
might (a job without creationTime, the same job on two pages, a job older than creationTimeAfter, a
nextToken that repeats or cycles for ever, an empty page that still carries a token, odd names).

    plane.mutator = ResponseMutator(seed=1).drop_field("ListModelImportJobs", "creationTime")

A rule sees the request's query (and may rewrite it before the operation is served, which is how a
token the simulator did not issue is accepted) and the response body (and may rewrite it).
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Body = dict[str, Any]
Query = MutableMapping[str, str]

# The list operations and where their items are.
RESULT_KEYS = {
    "ListModelImportJobs": "modelImportJobSummaries",
    "ListModelCopyJobs": "modelCopyJobSummaries",
    "ListImportJobs": "importJobSummaries",
    "ListKnowledgeBases": "knowledgeBaseSummaries",
}
GET_KEYS = {"GetImportJob": "importJob"}


def items_of(operation: str, body: Body) -> list[Body]:
    """The job items of a list response, or the one job of a get response."""
    if operation in RESULT_KEYS:
        items = body.get(RESULT_KEYS[operation])
        return items if isinstance(items, list) else []
    inner = body.get(GET_KEYS[operation]) if operation in GET_KEYS else body
    return [inner] if isinstance(inner, dict) else []


@dataclass
class Rule:
    operation: str
    response: Callable[[Query, Body, random.Random], Body]
    request: Callable[[Query], Query] | None = None
    remaining: int | None = None
    applied: int = 0


@dataclass
class ResponseMutator:
    """Seeded rules applied around the simulator's AWS operations; see the module docstring."""

    seed: int = 0
    rules: list[Rule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible test input
        self._lock = threading.Lock()

    # -- applied by the server ----------------------------------------------------------------------
    def before(self, operation: str, query: Query) -> Query:
        with self._lock:
            for rule in self._live(operation):
                if rule.request is not None:
                    query = rule.request(query)
            return query

    def after(self, operation: str, query: Query, body: Body) -> Body:
        with self._lock:
            for rule in self._live(operation):
                body = rule.response(query, body, self._rng)
                rule.applied += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
            return body

    def _live(self, operation: str) -> list[Rule]:
        return [
            r for r in self.rules if r.operation == operation and (r.remaining is None or r.remaining > 0)
        ]

    def add(self, rule: Rule) -> ResponseMutator:
        self.rules.append(rule)
        return self

    # -- the catalogue of malformed answers ---------------------------------------------------------
    def set_field(
        self, operation: str, name: str, value: Any, *, times: int | None = None, every: bool = False
    ) -> ResponseMutator:
        """Set (or, with value None, drop) a field on one random item of each response (all with
        `every`)."""

        def response(query: Query, body: Body, rng: random.Random) -> Body:
            items = items_of(operation, body)
            chosen = items if every else ([rng.choice(items)] if items else [])
            for item in chosen:
                if value is None:
                    item.pop(name, None)
                else:
                    item[name] = value
            return body

        return self.add(Rule(operation, response, remaining=times))

    def drop_field(self, operation: str, name: str, *, every: bool = False) -> ResponseMutator:
        return self.set_field(operation, name, None, every=every)

    def repeat_last_item_on_next_page(self, operation: str) -> ResponseMutator:
        """The last item of a page comes back again first on the next page."""
        carried: list[Body] = []

        def response(query: Query, body: Body, rng: random.Random) -> Body:
            items = items_of(operation, body)
            if carried and "nextToken" in query:
                items.insert(0, carried.pop())
            if items and body.get("nextToken"):
                carried[:] = [copy.deepcopy(items[-1])]
            return body

        return self.add(Rule(operation, response))

    def add_old_job(self, operation: str, created: Any, *, times: int | None = 1) -> ResponseMutator:
        """A copy of the first item, with another id and a creation time long before the filter."""
        id_field = {"ListImportJobs": "importJobId"}.get(operation, "jobArn")
        time_field = "createdTime" if operation == "ListImportJobs" else "creationTime"

        def response(query: Query, body: Body, rng: random.Random) -> Body:
            items = items_of(operation, body)
            if items:
                old = copy.deepcopy(items[0])
                old[id_field] = str(old[id_field])[:-6] + "0ld0ld"
                old[time_field] = created
                items.insert(0, old)
            return body

        return self.add(Rule(operation, response, remaining=times))

    def loop_tokens(self, operation: str, tokens: tuple[str, ...]) -> ResponseMutator:
        """nextToken never ends: the response carries tokens[0], then tokens[1], ... round and
        round; a request with one of them is served as the first page again."""
        state = {"next": 0}

        def request(query: Query) -> Query:
            if query.get("nextToken") in tokens:
                query = dict(query)
                del query["nextToken"]
            return query

        def response(query: Query, body: Body, rng: random.Random) -> Body:
            body["nextToken"] = tokens[state["next"] % len(tokens)]
            state["next"] += 1
            return body

        return self.add(Rule(operation, response, request=request))

    def empty_first_page(self, operation: str, token: str = "sim-empty-page") -> ResponseMutator:  # noqa: S107
        """The first page is empty but carries a token; following it gives the real first page."""

        def request(query: Query) -> Query:
            if query.get("nextToken") == token:
                query = dict(query)
                del query["nextToken"]
            return query

        served = {"empty": False}

        def response(query: Query, body: Body, rng: random.Random) -> Body:
            if served["empty"] or "nextToken" in query:
                return body
            served["empty"] = True
            return {RESULT_KEYS[operation]: [], "nextToken": token}

        return self.add(Rule(operation, response, request=request))
