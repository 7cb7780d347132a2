"""Seeded, reproducible fault injection applied by the server before it serves an AWS operation.

Two kinds of faults:

* rates, per operation name or "*" (an operation's own entry replaces "*", it is not merged): the
  probability of a ThrottlingException (429) and of an InternalServerException (500), plus a fixed
  added delay in seconds. Exactly one random number is drawn per decision whenever a non-zero
  probability applies, so the same seed and the same request sequence give the same faults.
* rules, checked first and deterministic: "answer <code> for operation X in region Y / knowledge base Z",
  optionally only for the next N matching calls.

`FaultPlan.counts` says how many faults of each kind (error code, or "Delay") were injected.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Error code -> HTTP status, as the botocore models declare them for these APIs.
ERROR_STATUS: Mapping[str, int] = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ThrottlingException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}

_DEFAULT_MESSAGES: Mapping[str, str] = {
    "ThrottlingException": "Rate exceeded",
    "InternalServerException": "Internal server error (injected by the simulator)",
    "AccessDeniedException": "User is not authorized to perform this action (injected by the simulator)",
}

ANY = "*"


@dataclass(frozen=True)
class FaultRates:
    """Random faults for one operation (or for every operation, under "*")."""

    throttle: float = 0.0
    internal_error: float = 0.0
    delay_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.throttle <= 1.0 or not 0.0 <= self.internal_error <= 1.0:
            raise ValueError("probabilities must be within [0, 1]")
        if self.throttle + self.internal_error > 1.0:
            raise ValueError("throttle + internal_error must not exceed 1")
        if self.delay_seconds < 0:
            raise ValueError("delay_seconds must not be negative")


@dataclass
class FaultRule:
    """A deterministic fault: every matching call (or the next `remaining` ones) fails with `code`."""

    code: str
    operation: str = ANY
    region: str | None = None
    knowledge_base_id: str | None = None
    remaining: int | None = None
    message: str | None = None
    status: int | None = None

    def matches(self, operation: str, region: str, knowledge_base_id: str | None) -> bool:
        """Whether this rule applies to a call; exhausted rules never match."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.operation not in (ANY, operation):
            return False
        if self.region is not None and self.region != region:
            return False
        return self.knowledge_base_id is None or self.knowledge_base_id == knowledge_base_id


@dataclass(frozen=True)
class InjectedError:
    """An error response the server must send instead of serving the call."""

    code: str
    status: int
    message: str


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one call: sleep this long, then fail with `error` if it is set."""

    delay_seconds: float = 0.0
    error: InjectedError | None = None


NO_FAULT = FaultDecision()


@dataclass
class FaultPlan:
    """A reproducible plan of injected faults; see the module docstring."""

    seed: int = 0
    rates: dict[str, FaultRates] = field(default_factory=dict)
    rules: list[FaultRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible faults, not cryptography
        self._counts: Counter[str] = Counter()

    # -- building the plan -------------------------------------------------------------------------

    def set_rates(
        self,
        operation: str = ANY,
        *,
        throttle: float = 0.0,
        internal_error: float = 0.0,
        delay_seconds: float = 0.0,
    ) -> FaultPlan:
        """Set random fault rates for an operation name or "*"; returns the plan for chaining."""
        rates = FaultRates(throttle=throttle, internal_error=internal_error, delay_seconds=delay_seconds)
        with self._lock:
            self.rates[operation] = rates
        return self

    def add_rule(
        self,
        code: str,
        *,
        operation: str = ANY,
        region: str | None = None,
        knowledge_base_id: str | None = None,
        times: int | None = None,
        message: str | None = None,
        status: int | None = None,
    ) -> FaultRule:
        """Add a deterministic rule; `times=None` means for ever. Unknown codes need a `status`."""
        if status is None and code not in ERROR_STATUS:
            raise ValueError(f"unknown error code {code!r}; pass status= explicitly")
        rule = FaultRule(
            code=code,
            operation=operation,
            region=region,
            knowledge_base_id=knowledge_base_id,
            remaining=times,
            message=message,
            status=status,
        )
        with self._lock:
            self.rules.append(rule)
        return rule

    def deny(
        self,
        *,
        operation: str = ANY,
        region: str | None = None,
        knowledge_base_id: str | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Shortcut: AccessDeniedException for the matching calls."""
        return self.add_rule(
            "AccessDeniedException",
            operation=operation,
            region=region,
            knowledge_base_id=knowledge_base_id,
            times=times,
        )

    def clear(self) -> None:
        """Remove all rates and rules (counts and the random sequence are kept)."""
        with self._lock:
            self.rates.clear()
            self.rules.clear()

    # -- applying it -------------------------------------------------------------------------------

    def decide(self, operation: str, region: str, knowledge_base_id: str | None = None) -> FaultDecision:
        """Decide the fault for one call and count it; thread-safe."""
        with self._lock:
            rates = self.rates.get(operation) or self.rates.get(ANY) or FaultRates()
            delay = rates.delay_seconds
            if delay > 0:
                self._counts["Delay"] += 1
            for rule in self.rules:
                if rule.matches(operation, region, knowledge_base_id):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return FaultDecision(delay, self._error(rule.code, rule.message, rule.status))
            if rates.throttle > 0 or rates.internal_error > 0:
                draw = self._rng.random()
                if draw < rates.throttle:
                    return FaultDecision(delay, self._error("ThrottlingException"))
                if draw < rates.throttle + rates.internal_error:
                    return FaultDecision(delay, self._error("InternalServerException"))
            return FaultDecision(delay) if delay > 0 else NO_FAULT

    def _error(self, code: str, message: str | None = None, status: int | None = None) -> InjectedError:
        self._counts[code] += 1
        return InjectedError(
            code=code,
            status=status if status is not None else ERROR_STATUS[code],
            message=message or _DEFAULT_MESSAGES.get(code, f"{code} (injected by the simulator)"),
        )

    @property
    def counts(self) -> dict[str, int]:
        """Faults injected so far, by error code (and "Delay" for delayed calls)."""
        with self._lock:
            return dict(self._counts)

    @property
    def total_errors(self) -> int:
        """Number of calls answered with an injected error."""
        with self._lock:
            return sum(n for kind, n in self._counts.items() if kind != "Delay")

    def reset_counts(self) -> None:
        """Zero the counters."""
        with self._lock:
            self._counts.clear()

    # -- JSON form, for the control HTTP API --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The plan and its counts as JSON-friendly data."""
        with self._lock:
            return {
                "seed": self.seed,
                "rates": {
                    op: {
                        "throttle": r.throttle,
                        "internalError": r.internal_error,
                        "delaySeconds": r.delay_seconds,
                    }
                    for op, r in self.rates.items()
                },
                "rules": [
                    {
                        "code": rule.code,
                        "operation": rule.operation,
                        "region": rule.region,
                        "knowledgeBaseId": rule.knowledge_base_id,
                        "remaining": rule.remaining,
                        "message": rule.message,
                        "status": rule.status,
                    }
                    for rule in self.rules
                ],
                "counts": dict(self._counts),
            }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultPlan:
        """Build a plan from the JSON form `to_dict` produces (counts are ignored)."""
        plan = cls(seed=int(data.get("seed", 0)))
        for op, r in (data.get("rates") or {}).items():
            plan.set_rates(
                op,
                throttle=float(r.get("throttle", 0.0)),
                internal_error=float(r.get("internalError", 0.0)),
                delay_seconds=float(r.get("delaySeconds", 0.0)),
            )
        for rule in data.get("rules") or []:
            plan.add_rule(
                str(rule["code"]),
                operation=str(rule.get("operation") or ANY),
                region=rule.get("region"),
                knowledge_base_id=rule.get("knowledgeBaseId"),
                times=rule.get("remaining", rule.get("times")),
                message=rule.get("message"),
                status=rule.get("status"),
            )
        return plan
