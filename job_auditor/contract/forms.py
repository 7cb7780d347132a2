"""How a setting is written as text (an environment variable, `-c key=value`) and read back: the forms
the settings table (`contract.environment`) gives each setting. Standard library only.

A `Form` reads non-empty text into the setting's value or raises `ValueError`; a bad value raises
`Invalid`, which carries the form in words and the bad part, so each side quotes its own words: the
Lambda "expected a whole number from 0 to 10080, got '10081'", the CDK context the same with its unit
and an example.
"""

# No `from __future__ import annotations` here: field annotations given as strings cost at every cold
# start (a NamedTuple compiles each into a ForwardRef, a dataclass parses each); these are evaluated as
# written (docs/architecture.md).

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple

# What int() takes, less other scripts' digits.
_INTEGER = r"\s*[+-]?[0-9]+(_[0-9]+)*\s*"
# The forms pydantic accepted before, so existing environments keep working (case-insensitive).
_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


def shown(value: object) -> str:
    """A bad value for an error message: quoted, and cut short if long."""
    text = repr(value)
    return text if len(text) <= 100 else f"{text[:97]}... ({len(str(value))} characters)"


class Invalid(ValueError):
    """A value not in its form: `expected` in words, `got` the bad part as shown in messages."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"expected {expected}, got {got}")
        self.expected = expected
        self.got = got


def invalid(expected: str, got: object) -> Invalid:
    return Invalid(expected, shown(got))


def split_csv(value: object) -> object:
    """A comma list as a tuple of its non-empty, stripped parts; other values pass through."""
    if not isinstance(value, str):
        return value
    return tuple(part.strip() for part in value.split(",") if part.strip())


# NamedTuples rather than dataclasses, like the Lambda's other read-only records: a dataclass
# compiles its generated methods as its module is imported, at every cold start (docs/architecture.md).
class Bounds(NamedTuple):
    """The inclusive range of a whole-number setting, the same for the CDK context key and the
    Lambda's variable, so a value synth accepts never fails the run."""

    low: int
    high: int

    def form(self, unit: str = "") -> str:
        return f"a whole number{f' of {unit}' if unit else ''} from {self.low} to {self.high}"


class Form(NamedTuple):
    """How a setting's value is written as text and read back.

    `read` takes non-empty text and returns the value, or raises ValueError (Invalid for a value not in
    the form); `empty` is what unset or empty text means; `strict` is the CDK context's reading where it
    is narrower than the Lambda's (true/false only, say), so synth refuses what the README does not
    promise while the Lambda keeps reading the environments it always read."""

    words: str | Callable[[], str]
    read: Callable[[str], Any]
    write: Callable[[Any], str] = str
    empty: Any = None
    strict: Callable[[str], Any] | None = None
    bounds: Bounds | None = None

    @property
    def text(self) -> str:
        """The form in words (some name the registered job kinds, so they are built when asked)."""
        return self.words() if callable(self.words) else self.words

    def parse(self, text: str) -> Any:
        """The value of `text` as the Lambda reads it: empty text is `empty`."""
        return self.read(text) if text.strip() else self.empty


def whole(bounds: Bounds) -> Form:
    """A whole number within `bounds`."""
    expected = bounds.form()

    def read(text: str) -> int:
        if not re.fullmatch(_INTEGER, text) or not bounds.low <= int(text) <= bounds.high:
            raise invalid(expected, text)
        return int(text)

    return Form(expected, read, bounds=bounds)


def _lenient_flag(text: str) -> bool:
    word = text.strip().lower()
    if word not in _TRUE | _FALSE:
        raise invalid("true or false", text)
    return word in _TRUE


def _strict_flag(text: str) -> bool:
    word = text.strip().lower()
    if word not in {"true", "false"}:
        raise invalid("true or false", text)
    return word == "true"


def flag() -> Form:
    """true or false; the Lambda also takes 1/0, yes/no, on/off, t/f, y/n, in any case."""
    return Form(
        "true or false", _lenient_flag, lambda value: "true" if value else "false", strict=_strict_flag
    )


# Patterns are strings matched with re.fullmatch, which compiles each when a value is first read against
# it and caches it: the table's forms are built at every cold start, and a run reads only a few of them
# (compiling them all cost about 4 ms).
def text(
    expected: str, pattern: str | re.Pattern[str] | None = None, min_len: int = 1, max_len: int = 256
) -> Form:
    """A string of `min_len` to `max_len` characters matching `pattern` (whole); unset: None."""

    def read(value: str) -> str:
        # fullmatch: a pattern ending in $ would also let a trailing newline through with match.
        if not min_len <= len(value) <= max_len or (pattern and not re.fullmatch(pattern, value)):
            raise invalid(expected, value)
        return value

    return Form(expected, read)


def choice(*words: str, upper: bool = False) -> Form:
    """One of `words`, in any case (kept in the case of `words`)."""
    expected = f"{words[0]} or {words[1]}" if len(words) == 2 else f"one of {', '.join(words)}"

    def read(value: str) -> str:
        word = value.strip().upper() if upper else value.strip().lower()
        if word not in words:
            raise invalid(expected, value)
        return word

    return Form(expected, read)


def one_of(values: Sequence[int], expected: str) -> Form:
    """A whole number among `values`."""

    def read(value: str) -> int:
        if not re.fullmatch(_INTEGER, value) or int(value) not in values:
            raise invalid(expected, value)
        return int(value)

    return Form(expected, read)


def listing(
    ok: Callable[[str], bool],
    expected: str | Callable[[], str],
    *,
    empty_words: Collection[str] = (),
    non_empty: bool = False,
) -> Form:
    """A comma list whose every item passes `ok`, each item once, in order (a repeated kind or knowledge
    base would be audited twice at once); the error quotes only the bad items. Unset: ()."""

    def words() -> str:
        return expected() if callable(expected) else expected

    def read(value: str) -> tuple[str, ...]:
        if value.strip().lower() in empty_words:
            return ()
        items = tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
        if non_empty and not items:
            raise invalid(words(), value)
        bad = [item for item in items if not ok(item)]
        if bad:
            raise Invalid(words(), ", ".join(shown(b) for b in bad))
        return items

    return Form(words, read, ",".join, empty=())


def matches(pattern: str | re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: re.fullmatch(pattern, value) is not None


# -- the SNS filter policy (NOTIFY_FILTER) ---------------------------------------------------------


def filter_policy(attributes: Collection[str], or_key: str) -> Form:
    """An SNS filter policy over `attributes`: each to a non-empty list of exact strings or
    {"prefix": "..."} objects, and `or_key` to a list of at least two such policies (SNS reads "$or" as
    an operator only then). JSON null and {} mean no filter, as unset does: a policy that names no
    attribute asks nothing of a message."""

    def read(value: str) -> dict[str, list[Any]] | None:
        try:
            policy: object = json.loads(value)
        except json.JSONDecodeError:
            raise invalid("a JSON SNS filter policy", value) from None
        if policy is None or policy == {}:
            return None
        if not isinstance(policy, dict):
            raise invalid("a JSON object (an SNS filter policy)", value)
        _check_policy(policy, attributes, or_key)
        return policy

    return Form("a JSON SNS filter policy", read, lambda policy: json.dumps(policy) if policy else "")


def _check_policy(policy: Mapping[str, object], attributes: Collection[str], or_key: str) -> None:
    for name, rules in policy.items():
        if name == or_key:
            if not (
                isinstance(rules, list) and len(rules) >= 2 and all(isinstance(p, dict) and p for p in rules)
            ):
                raise ValueError(
                    f"expected $or: a list of at least two filter policies, got {shown(json.dumps(rules))}"
                )
            for alternative in rules:
                _check_policy(alternative, attributes, or_key)
            continue
        if name not in attributes:
            raise invalid(f"message attributes from {', '.join(sorted(attributes))}", name)
        if not (isinstance(rules, list) and rules and all(map(_is_rule, rules))):
            raise ValueError(
                f'expected {name}: a non-empty list of strings or {{"prefix": "..."}} objects, '
                f"got {shown(json.dumps(rules))}"
            )


def _is_rule(rule: object) -> bool:
    if isinstance(rule, dict):
        return set(rule) == {"prefix"} and isinstance(rule["prefix"], str)
    return isinstance(rule, str)
