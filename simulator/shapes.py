"""botocore shapes as the simulator uses them: reading and validating a request's input members,
generating plausible values for members nobody set, and rendering records to exactly an output shape.

Everything here is driven by the service model (`botocore.model.Shape`): types, `required`, `min` /
`max`, `enum`, `pattern`, `union`, `timestampFormat` and each input member's `location`. Nothing names
a service, an operation or a member, except the ARN conventions (`arn:aws:<service>:<region>:<account>:`)
a generated string is nudged towards when its pattern allows them.
"""

from __future__ import annotations

import importlib
import random
import re
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from simulator.clock import epoch, iso, truncate_ms
from simulator.errors import constraint, validation

# botocore.model.Shape. Left as Any: the code reads a shape by its type_name, and botocore-stubs types
# the members of each kind on its subclass (StructureShape.members, ListShape.member, MapShape.key),
# which would take an isinstance narrowing at every member access.
Shape = Any

_parser: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")

_LOWER_DIGITS = string.ascii_lowercase + string.digits
_UPPER_DIGITS = string.ascii_uppercase + string.digits
_PRINTABLE = string.ascii_letters + string.digits + "-._:/+=@,"
# A repeated character class draws this many characters when its bounds allow (a word, not one letter).
_WORD = 8
_MAX_DEPTH = 12
# The model named in generated model ARNs (a real Bedrock foundation model id).
_SAMPLE_MODEL = "amazon.titan-text-express-v1"
_ACCOUNT_ID = "[0-9]{12}"


# -- reading and validating input ------------------------------------------------------------------


def _timestamp_of(raw: Any, where: str) -> datetime:
    if isinstance(raw, datetime):
        parsed = raw
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        parsed = datetime.fromtimestamp(raw, UTC)
    else:
        try:
            parsed = datetime.fromisoformat(str(raw))
        except ValueError:
            raise validation(f"Value '{raw}' at '{where}' is not a valid timestamp") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def from_text(shape: Shape, raw: str, where: str) -> Any:
    """A querystring or URI value as the member's type."""
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise validation(f"Value '{raw}' at '{where}' is not a valid integer") from None
    if kind in ("float", "double"):
        try:
            return float(raw)
        except ValueError:
            raise validation(f"Value '{raw}' at '{where}' is not a valid number") from None
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise validation(f"Value '{raw}' at '{where}' is not a valid boolean")
        return raw == "true"
    if kind == "timestamp":
        return _timestamp_of(raw, where)
    return raw


def from_json(shape: Shape, raw: Any, where: str) -> Any:
    """A JSON body value with its timestamps (epoch seconds or ISO 8601) as datetimes."""
    if raw is None:
        return None
    kind = shape.type_name
    if kind == "timestamp":
        return _timestamp_of(raw, where)
    if kind == "structure" and isinstance(raw, dict):
        return {
            k: from_json(shape.members[k], v, f"{where}.{k}" if where else k) if k in shape.members else v
            for k, v in raw.items()
        }
    if kind == "list" and isinstance(raw, list):
        return [from_json(shape.member, v, f"{where}.{i + 1}.member") for i, v in enumerate(raw)]
    if kind == "map" and isinstance(raw, dict):
        return {k: from_json(shape.value, v, f"{where}.{k}") for k, v in raw.items()}
    return raw


def _member_input(member: Shape, wire_name: str, request: InputSource) -> Any:
    location = member.serialization.get("location")
    if location == "uri":
        raw = request.path.get(wire_name)
        return None if raw is None else from_text(member, raw, wire_name)
    if location == "querystring":
        values = request.query.get(wire_name)
        if not values:
            return None
        if member.type_name == "list":
            return [from_text(member.member, v, wire_name) for v in values]
        return from_text(member, values[0], wire_name)
    if location is not None:
        # Headers and the like: nothing these operations need.
        return None
    body = request.body if isinstance(request.body, dict) else {}
    return from_json(member, body.get(wire_name), wire_name)


class InputSource:
    """The parts of one HTTP request an operation's input members are read from."""

    def __init__(self, path: Mapping[str, str], query: Mapping[str, list[str]], body: Any) -> None:
        self.path = path
        self.query = query
        self.body = body


def read_input(input_shape: Shape | None, request: InputSource) -> dict[str, Any]:
    """The operation's input members from uri, querystring and JSON body, validated against the shape."""
    if input_shape is None:
        return {}
    params: dict[str, Any] = {}
    for name, member in input_shape.members.items():
        value = _member_input(member, member.serialization.get("name", name), request)
        if value is not None:
            params[name] = value
    validate(input_shape, params, "")
    return params


_PY_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "structure": (dict,),
    "map": (dict,),
    "list": (list,),
    "timestamp": (datetime,),
    "blob": (str, bytes),
}


def _check_type(shape: Shape, value: Any, where: str) -> None:
    allowed = _PY_TYPES.get(shape.type_name, (object,))
    wrong_bool = isinstance(value, bool) and bool not in allowed
    if wrong_bool or not isinstance(value, allowed):
        raise validation(f"Value '{value}' at '{where}' is not a valid {shape.type_name}")


def _check_bounds(shape: Shape, value: Any, where: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if shape.type_name in ("integer", "long", "float", "double"):
        measure, noun = value, "value"
    elif shape.type_name in ("string", "list", "map", "blob"):
        measure, noun = len(value), "length"
    else:
        return
    if low is not None and measure < low:
        raise constraint(value, where, f"have {noun} greater than or equal to {low}")
    if high is not None and measure > high:
        raise constraint(value, where, f"have {noun} less than or equal to {high}")


def _check_string(shape: Shape, value: str, where: str) -> None:
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        raise constraint(value, where, f"satisfy enum value set: [{', '.join(enum)}]")
    pattern = shape.metadata.get("pattern")
    if pattern and not compiled(pattern).fullmatch(value):
        raise constraint(value, where, f"satisfy regular expression pattern: {pattern}")


def _check_structure(shape: Shape, value: Mapping[str, Any], where: str) -> None:
    for name in shape.required_members:
        if value.get(name) is None:
            raise constraint("null", _join(where, name), "not be null")
    for name, item in value.items():
        if name in shape.members and item is not None:
            validate(shape.members[name], item, _join(where, name))


def validate(shape: Shape, value: Any, where: str) -> None:
    """ValidationException unless value fits shape (types, required, min/max, enum, pattern)."""
    _check_type(shape, value, where or shape.name)
    _check_bounds(shape, value, where)
    kind = shape.type_name
    if kind == "string":
        _check_string(shape, value, where)
    elif kind == "structure":
        _check_structure(shape, value, where)
    elif kind == "list":
        for i, item in enumerate(value):
            validate(shape.member, item, f"{where}.{i + 1}.member")
    elif kind == "map":
        for key, item in value.items():
            validate(shape.value, item, f"{where}.{key}")


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


@lru_cache(maxsize=512)
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# -- coercing control API values and rendering output ------------------------------------------------


def coerce(shape: Shape, value: Any, where: str) -> Any:
    """A control API value for a member (timestamps as ISO strings) as a record value; ValueError when
    a structure member is not in the shape."""
    if shape.type_name == "structure" and isinstance(value, dict):
        unknown = sorted(set(value) - set(shape.members))
        if unknown:
            raise ValueError(f"{where or shape.name} has no member {', '.join(unknown)} in the model")
        return {k: coerce(shape.members[k], v, _join(where, k)) for k, v in value.items()}
    return from_json(shape, value, where)


def timestamp_format(shape: Shape, protocol: str) -> str:
    """The wire format of a timestamp member: its own, else the protocol's default for bodies."""
    explicit = shape.serialization.get("timestampFormat") or shape.metadata.get("timestampFormat")
    if explicit:
        return str(explicit)
    return "unixTimestamp" if protocol in ("rest-json", "json") else "iso8601"


def render(shape: Shape, value: Any, protocol: str) -> Any:
    """A record value as the JSON of exactly `shape`: members the shape lacks are left out."""
    kind = shape.type_name
    if kind == "structure":
        return {
            name: render(shape.members[name], item, protocol)
            for name, item in value.items()
            if name in shape.members and item is not None
        }
    if kind == "list":
        return [render(shape.member, item, protocol) for item in value]
    if kind == "map":
        return {key: render(shape.value, item, protocol) for key, item in value.items()}
    if kind == "timestamp":
        return iso(value) if timestamp_format(shape, protocol) == "iso8601" else epoch(value)
    return value


# -- generating values -------------------------------------------------------------------------------


class ValueMaker:
    """Plausible values for shapes: strings matching their pattern (ARNs with the right region and
    account), the first enum value, minimal numbers, required members of structures (one member of
    a union), lists and maps of their minimum size; timestamps are `now`."""

    def __init__(self, rng: random.Random, region: str, account_id: str, now: datetime) -> None:
        self.rng = rng
        self.region = region
        self.account_id = account_id
        self.now = truncate_ms(now)

    def value(self, shape: Shape, depth: int = 0) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, depth)
        if kind == "list":
            count = max(int(shape.metadata.get("min", 0)), 0)
            return [self.value(shape.member, depth + 1) for _ in range(count)]
        if kind == "map":
            count = max(int(shape.metadata.get("min", 0)), 0)
            return {self.string(shape.key) + str(i): self.value(shape.value, depth + 1) for i in range(count)}
        if kind == "timestamp":
            return self.now
        return self.scalar(shape)

    def scalar(self, shape: Shape) -> Any:
        kind = shape.type_name
        if kind in ("integer", "long"):
            return max(int(shape.metadata.get("min", 0)), 0)
        if kind in ("float", "double"):
            return float(max(shape.metadata.get("min", 0), 0))
        if kind == "boolean":
            return False
        return self.string(shape)

    def structure(self, shape: Shape, depth: int) -> dict[str, Any]:
        if depth > _MAX_DEPTH:
            return {}
        if shape.metadata.get("union"):
            first = next(iter(shape.members))
            return {first: self.value(shape.members[first], depth + 1)}
        return {name: self.value(shape.members[name], depth + 1) for name in shape.required_members}

    def string(self, shape: Shape, hints: Mapping[str, Any] | None = None) -> str:
        enum = shape.metadata.get("enum")
        if enum:
            return str(enum[0])
        pattern = shape.metadata.get("pattern")
        low, high = int(shape.metadata.get("min", 1) or 1), int(shape.metadata.get("max", 2048))
        if not pattern:
            return "sim"[: max(high, 1)] if low <= 3 else "s" * low

        def fits(candidate: str) -> bool:
            return low <= len(candidate) <= high and bool(compiled(pattern).fullmatch(candidate))

        for candidate in self._arn_candidates(pattern, hints or {}):
            if fits(candidate):
                return candidate
        attempt = ""
        for mode in ("first", "short", "random", "random", "random", "random", "random", "random"):
            attempt = self._localise(PatternFill(self.rng, mode).fill(pattern), fits)
            if fits(attempt):
                return attempt
        return attempt

    def suffix(self, length: int = 12) -> str:
        return "".join(self.rng.choice(_LOWER_DIGITS) for _ in range(length))

    def _arn_candidates(self, pattern: str, hints: Mapping[str, Any]) -> list[str]:
        """`arn:aws:<service>:<region>:<account>:<type>/<id>` (and `<type>/<model>/<id>`) when the
        pattern names a resource type after an account; this account where the pattern is an account
        id's (Bedrock's sourceAccountId)."""
        model = _foundation_model_of(hints) or _SAMPLE_MODEL
        candidates = [self.account_id] if pattern == _ACCOUNT_ID else []
        # The partition group ("(-[^:]+)?", "(|-us-gov|...)") stands for the "aws" partition here.
        pattern = re.sub(r"arn:aws\([^)]*\)\??", "arn:aws", pattern)
        # An account-less resource (a foundation model): arn:aws:<service>:<region>::<type>/<model>.
        shared = re.search(r"arn:aws[^:]*:\(?([a-z0-9|-]+)\)?:[^:]*::\(?([a-z][a-z-]*)/", pattern)
        if shared is not None:
            service = shared.group(1).split("|")[0]
            candidates.append(f"arn:aws:{service}:{self.region}::{shared.group(2)}/{model}")
        owned = re.search(r"arn:aws[^:]*:\(?([a-z0-9|-]+)\)?:.*?\{12\}\)?:\(?([a-z][a-z-]*)/", pattern)
        if owned is not None:
            service = owned.group(1).split("|")[0]
            head = f"arn:aws:{service}:{self.region}:{self.account_id}:{owned.group(2)}"
            candidates += [f"{head}/{self.suffix()}", f"{head}/{model}/{self.suffix()}"]
        return candidates

    def _localise(self, generated: str, fits: Any) -> str:
        """A generated ARN with this region and account in place, where the pattern still matches."""
        if not generated.startswith("arn:"):
            return generated
        for position, value in ((3, self.region), (4, self.account_id)):
            parts = generated.split(":", 5)
            if len(parts) > position:
                parts[position] = value
                candidate = ":".join(parts)
                if fits(candidate):
                    generated = candidate
        return generated


def _foundation_model_of(hints: Mapping[str, Any]) -> str | None:
    for value in hints.values():
        if isinstance(value, str) and ":foundation-model/" in value:
            return value.split(":foundation-model/", 1)[1]
    return None


_REPEATS = tuple(op for op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)) if op)


class PatternFill:
    """A string matching a regular expression, built from its parse tree.

    `mode` "first" takes every alternation's first branch and gives repeated character classes a
    word's length; "short" keeps repeats at their minimum; "random" picks branches at random.
    """

    def __init__(self, rng: random.Random, mode: str) -> None:
        self.rng = rng
        self.mode = mode
        self.groups: dict[int, str] = {}

    def fill(self, pattern: str) -> str:
        try:
            parsed = _parser.parse(pattern)
        except re.error:
            return ""
        return self._sequence(parsed)

    def _sequence(self, items: Any) -> str:
        return "".join(self._item(op, av) for op, av in items)

    def _item(self, op: Any, av: Any) -> str:
        if op is _c.LITERAL:
            return chr(av)
        if op in _REPEATS:
            return self._repeat(*av)
        if op is _c.SUBPATTERN:
            return self._group(av)
        if op is _c.BRANCH:
            branches = av[1]
            chosen = self.rng.choice(branches) if self.mode == "random" else branches[0]
            return self._sequence(chosen)
        if op is _c.GROUPREF:
            return self.groups.get(av, "")
        # AT (anchors), ASSERT, ASSERT_NOT emit nothing.
        return self._char(op, av) if op in (_c.IN, _c.ANY, _c.NOT_LITERAL) else ""

    def _group(self, av: Any) -> str:
        text = self._sequence(av[-1])
        if av[0] is not None:
            self.groups[av[0]] = text
        return text

    def _repeat(self, low: int, high: Any, body: Any) -> str:
        single_char = len(body) == 1 and body[0][0] in (_c.IN, _c.ANY, _c.NOT_LITERAL, _c.LITERAL)
        top = int(high) if high is not _c.MAXREPEAT else 1 << 16
        if self.mode == "short" or not single_char:
            count = low if low > 0 or not single_char else min(1, top)
        else:
            count = min(top, max(low, _WORD))
        return "".join(self._sequence(body) for _ in range(count))

    def _char(self, op: Any, av: Any) -> str:
        def allowed(ch: str) -> bool:
            if op is _c.ANY:
                return ch != "\n"
            if op is _c.NOT_LITERAL:
                return ch != chr(av)
            return _in_class(av, ch)

        pool = _pool(allowed)
        return self.rng.choice(pool) if pool else ""


def _pool(allowed: Any) -> str:
    """The characters to draw from: lower-case and digits, or upper-case and digits when the class
    takes both cases (ids like `[0-9a-zA-Z]{10}` look like AWS's), else whatever the class takes."""
    has = {ch for ch in _PRINTABLE if allowed(ch)}
    if set(_UPPER_DIGITS) <= has:
        return _UPPER_DIGITS
    for tier in (_LOWER_DIGITS, string.ascii_letters + string.digits, _PRINTABLE):
        pool = "".join(ch for ch in tier if ch in has)
        if pool:
            return pool
    return ""


def _in_class(items: Any, ch: str) -> bool:
    negate = bool(items) and items[0][0] is _c.NEGATE
    hit = any(_class_item(op, av, ch) for op, av in items if op is not _c.NEGATE)
    return hit != negate


_CATEGORIES: Mapping[str, Any] = {
    "CATEGORY_DIGIT": str.isdigit,
    "CATEGORY_NOT_DIGIT": lambda ch: not ch.isdigit(),
    "CATEGORY_WORD": lambda ch: ch.isalnum() or ch == "_",
    "CATEGORY_NOT_WORD": lambda ch: not (ch.isalnum() or ch == "_"),
    "CATEGORY_SPACE": str.isspace,
    "CATEGORY_NOT_SPACE": lambda ch: not ch.isspace(),
}


def _class_item(op: Any, av: Any, ch: str) -> bool:
    if op is _c.LITERAL:
        return ch == chr(av)
    if op is _c.RANGE:
        return bool(av[0] <= ord(ch) <= av[1])
    if op is _c.CATEGORY:
        test = _CATEGORIES.get(str(av))
        return bool(test(ch)) if test is not None else False
    return False
