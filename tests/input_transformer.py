"""EventBridge's input transformer, as its documentation describes it, for the tests of the paging rules.

moto applies a target's InputTransformer too, but inserts every value as raw text; EventBridge writes a
placeholder that stands alone as a JSON value (`"a": <x>`) as that value in JSON, and one inside a
string (`"a": "job <x>"`) as the value's text, unescaped. So this helper:
- resolves each InputPathsMap path (`$.a.b`, the dotted form job-auditor uses) in the event; a path the
  event lacks fails the test (EventBridge would drop the variable: a template that relies on that is a bug);
- writes a standalone placeholder as JSON, and a placeholder inside a string as the value's text (an
  object with its quotes removed, as EventBridge does), without escaping;
- parses the result: a value that breaks the JSON (a quote inserted into a string) fails the test, as it
  would make EventBridge send a body the endpoint refuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")
_MISSING = object()


def _resolve(path: str, event: Mapping[str, Any]) -> Any:
    if not path.startswith("$"):
        raise AssertionError(f"not a JSON path: {path!r}")
    value: Any = event
    for part in filter(None, path[1:].split(".")):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _inside_string(template: str, position: int) -> bool:
    """Whether `position` of a JSON template lies inside a string literal."""
    inside = escaped = False
    for char in template[:position]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            inside = not inside
    return inside


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":")).replace('"', "")


def transform(input_transformer: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    """The body EventBridge sends for `event` through a target's `InputTransformer`."""
    values = {name: _resolve(path, event) for name, path in input_transformer["InputPathsMap"].items()}
    for name, value in values.items():
        if value is _MISSING:
            raise AssertionError(f"the event has no {input_transformer['InputPathsMap'][name]}")
    template: str = input_transformer["InputTemplate"]

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise AssertionError(f"<{name}> is not in the InputPathsMap")
        if _inside_string(template, match.start()):
            return _as_text(values[name])
        return json.dumps(values[name])

    text = _PLACEHOLDER.sub(substitute, template)
    return json.loads(text)
