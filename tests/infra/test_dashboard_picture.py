"""docs/img/dashboard.png is drawn from docs/img/dashboard-widgets.json (benchmarks/dashboard.py):
that widget list is the synthesized dashboard's."""

from __future__ import annotations

import json

from benchmarks.dashboard import PICTURE, WIDGETS, widgets
from tests.infra.conftest import Synth


def test_the_dashboard_picture_shows_the_synthesized_dashboard(default: Synth) -> None:
    # Given the widgets of the default stack's dashboard, read from its DashboardBody
    synthesized = widgets(default.json)
    # Then the picture's source lists the same widgets, in the same places, graphing the same series
    assert json.loads(WIDGETS.read_text()) == synthesized, "run .venv/bin/python -m benchmarks.dashboard"
    assert PICTURE.exists()
    # and it is the dashboard the monitoring construct builds: runs first, the alarms last across the grid
    assert [w["title"] for w in synthesized][:2] == ["Runs", "Duration"]
    assert synthesized[-1]["type"] == "alarm" and synthesized[-1]["width"] == 24
    assert "RunSucceeded (Sum)" in synthesized[0]["series"]
