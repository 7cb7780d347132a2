"""docs/events.md is what docs/gallery.py writes: every kind's event for every transition type, valid
against the schema, and the golden notifications of each type."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

from job_auditor.auditor.domain.jobs import JOB_KINDS

ROOT = Path(__file__).resolve().parents[2]


def _gallery() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gallery", ROOT / "docs" / "gallery.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gallery_is_what_the_script_writes() -> None:
    # When the gallery is written again from the schema, the code and the golden files
    text = _gallery().gallery()
    # Then docs/events.md is that text (regenerate: .venv/bin/python docs/gallery.py)
    assert text == (ROOT / "docs" / "events.md").read_text(), "docs/events.md is stale: run docs/gallery.py"


def test_the_gallery_shows_every_kind_for_every_transition_and_every_golden_notification() -> None:
    gallery = _gallery()
    text = gallery.gallery()
    events = [
        json.loads(block) for block in re.findall(r"```json\n(\{\n  \"version\": \"0\".*?)\n```", text, re.S)
    ]
    # Then each kind has one event of each transition type
    pairs = sorted((e["detail"]["jobKind"], e["detail"]["transition"]) for e in events)
    assert pairs == sorted((kind, t) for kind in JOB_KINDS for t in gallery.TRANSITIONS)
    # And every golden notification is shown, under its transition type
    for chat in (ROOT / "tests" / "unit" / "golden").glob("chat_*.json"):
        case = chat.stem.removeprefix("chat_")
        assert (ROOT / "tests" / "unit" / "golden" / f"email_{case}.txt").read_text().rstrip() in text
        assert chat.read_text().rstrip() in text
    assert set(gallery._golden_cases()) == set(gallery.TRANSITIONS)
