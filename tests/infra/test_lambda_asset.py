"""The functions' code asset carries its bytecode for the runtime's Python where synth has that Python.

/var/task is read-only, so a function whose asset has no bytecode compiles every module it imports
from source at every cold start. These tests stage the asset with this interpreter standing in for the
runtime's (the CI machine's Python is not the Lambda's), and import it as the runtime does.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from job_auditor.contract import handlers
from job_auditor.infra.auditor_function import (
    LAMBDA_TASK_ROOT,
    RUNTIME_PYTHON,
    bytecode_interpreter,
    stage_lambda_asset,
)

THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
CACHE_TAG = sys.implementation.cache_tag
HANDLER_MODULE = handlers.AUDITOR.rsplit(".", 1)[0]


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _import_verbosely(asset: Path, code: str) -> subprocess.CompletedProcess[str]:
    """`code` run as the runtime runs the handler: from the task root, which it cannot write to."""
    env = {
        **os.environ,
        "PYTHONPATH": str(asset),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": str(asset),
    }
    return subprocess.run(
        [sys.executable, "-v", "-c", code],
        cwd=asset,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


def _loaded_from(verbose: str, asset: Path) -> tuple[set[str], set[str]]:
    """The asset's modules the import read as bytecode, and those it compiled from source."""
    bytecode: set[str] = set()
    source: set[str] = set()
    for line in verbose.splitlines():
        if not line.startswith("# code object from") or str(asset) not in line:
            continue
        path = line.split("from", 1)[1].strip().strip("'")
        (bytecode if path.endswith(".pyc") else source).add(path)
    return bytecode, source


@pytest.fixture(scope="module")
def compiled() -> Path:
    return stage_lambda_asset(sys.executable)


def test_each_module_has_checked_hash_bytecode_naming_the_task_root(compiled: Path) -> None:
    sources = sorted((compiled / "job_auditor").rglob("*.py"))
    assert sources
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc"
        header = pyc.read_bytes()[:16]
        # PEP 552: flags 0b11 = hash-based and checked against the source
        assert int.from_bytes(header[4:8], "little") == 0b11, pyc
    # Tracebacks and co_filename name the function's own paths, not synth's temporary directory.
    handler_pyc = (compiled / "job_auditor/auditor/__pycache__" / f"handler.{CACHE_TAG}.pyc").read_bytes()
    assert f"{LAMBDA_TASK_ROOT}/job_auditor/auditor/handler.py".encode() in handler_pyc
    assert str(compiled).encode() not in handler_pyc


def test_the_handler_imports_every_module_of_the_asset_from_bytecode(compiled: Path) -> None:
    verbose = _import_verbosely(compiled, f"import {HANDLER_MODULE}").stderr
    bytecode, source = _loaded_from(verbose, compiled)
    assert source == set()
    assert f"{compiled}/job_auditor/auditor/__pycache__/handler.{CACHE_TAG}.pyc" in bytecode
    assert len(bytecode) > 30  # the handler's whole import, not just its own module


def test_without_an_interpreter_the_asset_ships_source_only_and_compiles_it_at_import() -> None:
    asset = stage_lambda_asset(None)
    assert not [p for p in asset.rglob("*") if p.suffix == ".pyc" or p.name == "__pycache__"]
    verbose = _import_verbosely(asset, f"import {HANDLER_MODULE}").stderr
    bytecode, source = _loaded_from(verbose, asset)
    assert bytecode == set()
    assert f"{asset}/job_auditor/auditor/handler.py" in source


def test_an_edited_source_is_compiled_again_not_read_from_stale_bytecode() -> None:
    asset = stage_lambda_asset(sys.executable)
    module = asset / "job_auditor/contract/handlers.py"
    module.write_text(module.read_text() + "\nEDITED_AFTER_SYNTH = True\n")
    out = _import_verbosely(
        asset, "import job_auditor.contract.handlers as h; print(h.EDITED_AFTER_SYNTH)"
    ).stdout
    assert out.strip() == "True"


def test_the_same_interpreter_stages_the_same_bytes() -> None:
    # The asset's hash is its content's: a second synth with the same Python uploads nothing new.
    assert _tree_digest(stage_lambda_asset(sys.executable)) == _tree_digest(
        stage_lambda_asset(sys.executable)
    )


def _fake_python(directory: Path, name: str, prints: str, exit_code: int = 0) -> Path:
    script = directory / name
    script.write_text(f"#!/bin/sh\necho '{prints}'\nexit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_the_interpreter_is_this_one_or_one_on_path_that_says_it_is_that_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert bytecode_interpreter(THIS_PYTHON) == sys.executable
    assert bytecode_interpreter("3.99") is None  # none on PATH
    # A name that lies (python3.99 that is this Python) is not taken
    (tmp_path / "python3.99").symlink_to(sys.executable)
    assert bytecode_interpreter("3.99") is None
    (tmp_path / "python3.99").unlink()
    real = _fake_python(tmp_path, "python3.99", "3.99")
    assert bytecode_interpreter("3.99") == str(real)


def test_the_runtime_python_is_the_functions_runtime() -> None:
    assert RUNTIME_PYTHON == "3.14"


def test_an_interpreter_that_cannot_compile_leaves_the_sources_alone_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _fake_python(tmp_path, "python3.99", "SyntaxError: bad input", exit_code=1)
    asset = stage_lambda_asset(str(broken))
    assert not [p for p in asset.rglob("*") if p.suffix == ".pyc" or p.name == "__pycache__"]
    assert (asset / "job_auditor/auditor/handler.py").is_file()
    assert f"ships without bytecode: {broken} did not compile it" in capsys.readouterr().err


def test_the_callers_python_settings_do_not_move_or_rename_the_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a shell that puts bytecode elsewhere, optimizes, or writes none
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PYTHONOPTIMIZE", "1")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    asset = stage_lambda_asset(sys.executable)
    # Then the asset still holds the bytecode the runtime reads, by its plain name
    assert (asset / "job_auditor/auditor/__pycache__" / f"handler.{CACHE_TAG}.pyc").is_file()
    assert not list(asset.rglob("*.opt-1.pyc")) and not (tmp_path / "elsewhere").exists()
