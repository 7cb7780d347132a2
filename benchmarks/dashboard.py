"""A picture of the CloudWatch dashboard the stack deploys, drawn from its synthesized definition.

    .venv/bin/python -m benchmarks.dashboard   # needs matplotlib (requirements-bench.txt)

Synthesizes the default stack as app.py does, reads the dashboard's DashboardBody from the template,
and writes docs/img/dashboard-widgets.json (the widgets: grid place, title, what each graphs) and
docs/img/dashboard.png (that grid drawn). tests/infra/test_dashboard_picture.py fails when the widget
list no longer matches the synthesized dashboard: then run this again.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WIDGETS = ROOT / "docs" / "img" / "dashboard-widgets.json"
PICTURE = ROOT / "docs" / "img" / "dashboard.png"
_TOKEN = "<token>"


def synthesized_template() -> dict[str, Any]:
    """The default stack's template, synthesized as app.py synthesizes it (no AWS account needed)."""
    import aws_cdk as cdk  # noqa: PLC0415 (jsii starts slowly: only when drawing)

    from app import build_app  # noqa: PLC0415
    from job_auditor.infra.config import load_config  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(outdir=outdir)
        stack = build_app(app, load_config({}))
        assembly = app.synth()
        template: dict[str, Any] = assembly.get_stack_by_name(stack.stack_name).template
        return template


def _body(template: dict[str, Any]) -> dict[str, Any]:
    (dashboard,) = (r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard")
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, dict):  # {"Fn::Join": ["", [text, {"Ref": ...}, text, ...]]}: tokens sit in strings
        body = "".join(part if isinstance(part, str) else _TOKEN for part in body["Fn::Join"][1])
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def _series(properties: dict[str, Any]) -> list[str]:
    """What a graph draws: each metric's name, each expression's label (or the expression)."""
    names: list[str] = []
    for metric in properties.get("metrics", []):
        options = metric[-1] if metric and isinstance(metric[-1], dict) else {}
        plain = [part for part in metric if isinstance(part, str)]
        name = options.get("label") or options.get("expression") or (plain[1] if len(plain) > 1 else "?")
        stat = options.get("stat") or properties.get("stat") or "Average"  # CloudWatch's default
        names.append(f"{name} ({stat})" if stat and not options.get("expression") else str(name))
    return names


def widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's widgets as the picture draws them, in the body's order."""
    found = []
    for widget in _body(template)["widgets"]:
        properties = widget.get("properties", {})
        found.append(
            {
                "title": properties.get("title", ""),
                "type": widget["type"],
                "x": widget["x"],
                "y": widget["y"],
                "width": widget["width"],
                "height": widget["height"],
                "series": _series(properties) if widget["type"] == "metric" else [],
                "alarms": len(properties.get("alarms", [])),
            }
        )
    return found


def draw(found: list[dict[str, Any]], path: Path) -> None:
    """The widgets on CloudWatch's 24-column grid: a box, its title, and what it graphs."""
    import matplotlib  # noqa: PLC0415 (optional dependency)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.patches import FancyBboxPatch  # noqa: PLC0415

    rows = max(w["y"] + w["height"] for w in found)
    figure, axes = plt.subplots(figsize=(12, rows * 0.42 + 0.6), dpi=110)
    axes.set_xlim(0, 24)
    axes.set_ylim(rows, -0.8)
    axes.axis("off")
    axes.text(0, -0.4, "CloudWatch dashboard (synthesized definition)", fontsize=12, weight="bold")
    for w in found:
        box = FancyBboxPatch(
            (w["x"] + 0.15, w["y"] + 0.15),
            w["width"] - 0.3,
            w["height"] - 0.3,
            boxstyle="round,pad=0.02,rounding_size=0.2",
            facecolor="#f4f6f8" if w["type"] == "metric" else "#fdf3e7",
            edgecolor="#8a96a3",
        )
        axes.add_patch(box)
        axes.text(w["x"] + 0.5, w["y"] + 0.9, w["title"], fontsize=10, weight="bold", va="center")
        lines = w["series"] or [f"{w['alarms']} alarms, their states"]
        for number, line in enumerate(lines[:6]):
            short = line if len(line) <= 70 else line[:67] + "..."
            axes.text(
                w["x"] + 0.6, w["y"] + 1.8 + number * 0.75, short, fontsize=8, color="#3b4650", va="center"
            )
    figure.savefig(path, bbox_inches="tight")
    plt.close(figure)


def main() -> None:
    found = widgets(synthesized_template())
    WIDGETS.write_text(json.dumps(found, indent=2) + "\n")
    draw(found, PICTURE)
    print(f"wrote {WIDGETS.relative_to(ROOT)} and {PICTURE.relative_to(ROOT)} ({len(found)} widgets)")


if __name__ == "__main__":
    main()
