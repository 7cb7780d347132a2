"""The distribution: `python -m build` makes an sdist and a wheel that `twine check` passes; the wheel
carries the construct, the Lambda code and the schema as package data, asks a CDK app for what synth
needs only (the CLI's dependencies are the `cli` extra), and once installed outside the repo a
three-line CDK app synthesizes with it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
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
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` of a copy of the tracked files, as a clean clone has them (the build leaves
    build/ and *.egg-info behind): the folder holding the sdist and the wheel."""
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
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (built,) = dist.glob("job_auditor-*.whl")
    return built


def test_build_makes_an_sdist_and_a_wheel_that_twine_check_passes(dist: Path) -> None:
    # Given what `python -m build` made
    import job_auditor

    (sdist,) = dist.glob("job_auditor-*.tar.gz")
    (built,) = dist.glob("job_auditor-*.whl")
    assert sdist.name == f"job_auditor-{job_auditor.__version__}.tar.gz"
    assert built.name == f"job_auditor-{job_auditor.__version__}-py3-none-any.whl"
    # When twine checks them as PyPI would render them / Then both pass
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(built)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2
    # and the sdist is the package and its metadata, nothing of the simulator, tests or benchmarks
    with tarfile.open(sdist) as archive:
        tops = {name.split("/")[1] for name in archive.getnames() if "/" in name}
    assert tops == {
        "job_auditor",
        "job_auditor.egg-info",
        "LICENSE",
        "PKG-INFO",
        "README.md",
        "pyproject.toml",
        "setup.cfg",
    }


def _install(wheel: Path, target: Path) -> Path:
    """`wheel` installed with pip into `target` alone (no dependencies: this venv's serve)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return target


def test_the_readmes_install_commands_name_the_wheel_build_makes(wheel: Path) -> None:
    # The README's "Use the construct in your own app" installs the wheel by its file name
    section = (ROOT / "README.md").read_text().split("### Use the construct in your own app", 1)[1]
    install = section.split("```sh\n", 1)[1].split("```", 1)[0]
    assert f"pip install dist/{wheel.name} " in install
    assert f'pip install "dist/{wheel.name}[cli]"' in install


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
    # A CDK app gets what synth needs; the CLI (and the functions' runtime its run --once uses) is an extra
    requires = metadata.get_all("Requires-Dist") or []

    def names(extra: str | None) -> set[str]:
        marker = f'extra == "{extra}"'
        chosen = [r for r in requires if (marker in r if extra else "extra ==" not in r)]
        return {re.split(r"[<>=\[;, ]", r, maxsplit=1)[0] for r in chosen}

    assert names(None) == {"aws-cdk-lib", "constructs", "cdk-nag"}
    assert names("cli") == {"click", "rich", "python-dotenv", "boto3", "aws-lambda-powertools"}
    assert metadata.get_all("Provides-Extra") == ["cli"]


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
        assert "job-auditor = job_auditor.console:main" in archive.read(entry_points).decode()
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


def test_the_console_script_without_the_cli_extra_says_which_extra_to_install(
    wheel: Path, tmp_path: Path
) -> None:
    # Given the wheel alone, without the cli extra's dependencies (no site-packages: -S)
    target = _install(wheel, tmp_path / "site")
    result = subprocess.run(
        [sys.executable, "-S", "-c", "from job_auditor.console import main; main()", "--help"],
        env={"PYTHONPATH": str(target), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then the script exits 1 naming the extra, not with a traceback
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "job-auditor: the CLI needs the cli extra (pip install 'job-auditor[cli]'): click is not installed"
    )
