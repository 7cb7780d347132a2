"""The distribution: a wheel built from this repo carries the construct, the Lambda code and the schema
as package data, and once installed outside the repo a three-line CDK app synthesizes with it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.cdk_apps import synth_app

ROOT = Path(__file__).resolve().parents[2]


def _readme_app() -> str:
    """The three-line app of the README's "Use the construct in your own app"."""
    section = (ROOT / "README.md").read_text().split("### Use the construct in your own app", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # From a copy of the tracked files, as a clean clone has them (the build leaves build/ behind)
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("job_auditor-*.whl")
    return built


def _install(wheel: Path, target: Path) -> Path:
    """`wheel` installed with pip into `target` alone (no dependencies: this venv's serve)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return target


def test_the_wheel_holds_the_package_with_its_data_and_nothing_of_the_repo(wheel: Path) -> None:
    # Given the built wheel / When its files are listed
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    # Then it is the one package (and its metadata), nothing of the simulator, tests or benchmarks
    assert {t for t in tops if not t.endswith(".dist-info")} == {"job_auditor"}
    for data in (
        "job_auditor/auditor/handler.py",
        "job_auditor/contract/kinds.py",
        "job_auditor/slack_forwarder/handler.py",
        "job_auditor/infra/job_auditor.py",
        "job_auditor/cli/commands.py",
        "job_auditor/schemas/transition-event.v1.json",
        "job_auditor/py.typed",
    ):
        assert data in names, data
    assert not [n for n in names if "__pycache__" in n]


def test_the_metadata_is_complete_enough_to_publish(wheel: Path) -> None:
    # Given the wheel's METADATA
    with zipfile.ZipFile(wheel) as archive:
        (meta,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(meta).decode())
        licenses = [n for n in archive.namelist() if "/licenses/" in n]
    # Then name, version, license, README, Python range and classifiers are there
    import job_auditor

    assert metadata["Name"] == "job-auditor"
    assert metadata["Version"] == job_auditor.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert licenses
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "make demo" in metadata.get_payload()
    classifiers = metadata.get_all("Classifier") or []
    assert "Framework :: AWS CDK :: 2" in classifiers
    assert any(c.startswith("Programming Language :: Python :: 3.14") for c in classifiers)
    requires = metadata.get_all("Requires-Dist") or []
    names = {re.split(r"[<>=\[;, ]", r, maxsplit=1)[0] for r in requires}
    assert names >= {"aws-cdk-lib", "constructs", "cdk-nag", "pydantic", "boto3", "click", "rich"}


def test_a_three_line_app_outside_the_repo_synthesizes_with_the_installed_package(
    wheel: Path, tmp_path: Path
) -> None:
    # Given the wheel installed into a folder of its own (its dependencies are this venv's)
    target = _install(wheel, tmp_path / "site")
    app_dir = tmp_path / "my-app"
    app_dir.mkdir()
    app = _readme_app()
    assert len([line for line in app.splitlines() if line.strip()]) == 3
    (app_dir / "app.py").write_text(app + "print(job_auditor.__file__)\n")
    # When the README's three-line app is run outside the repo
    result = synth_app(app_dir, app_dir / "cdk.out", PYTHONPATH=str(target))
    # Then it synthesized with the installed copy, not this checkout
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(target))
    template = json.loads((app_dir / "cdk.out" / "Platform.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::EventSchemas::Schema", "AWS::DynamoDB::Table"} <= types
    # and the function's asset is the Lambda code of the installed package
    assets = json.loads((app_dir / "cdk.out" / "Platform.assets.json").read_text())["files"]
    zipped = [a for a in assets.values() if a["source"].get("packaging") == "zip"]
    (asset,) = zipped
    staged = app_dir / "cdk.out" / asset["source"]["path"]
    assert (staged / "job_auditor" / "auditor" / "handler.py").is_file()
    assert not (staged / "job_auditor" / "infra").exists()
    assert not (staged / "job_auditor" / "cli").exists()


def test_the_installed_console_script_lists_the_commands(wheel: Path, tmp_path: Path) -> None:
    # Given the wheel installed into a folder of its own (its dependencies are this venv's)
    target = _install(wheel, tmp_path / "site")
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        assert "job-auditor = job_auditor.cli:main" in archive.read(entry_points).decode()
    # When the console script pip wrote is run, outside the repo
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [str(target / "bin" / "job-auditor"), "--help"],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    # Then it is the installed copy's CLI, and its help lists every command
    assert result.returncode == 0, result.stderr
    commands = result.stdout.split("Commands:", 1)[1].split()
    assert {"history", "jobs", "replay", "run", "status"} <= set(commands)
    version = subprocess.run(
        [str(target / "bin" / "job-auditor"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    import job_auditor

    assert version.stdout.strip() == f"job-auditor, version {job_auditor.__version__}"
