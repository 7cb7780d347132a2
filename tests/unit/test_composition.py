"""One composition root, thin entry points: the direct handler is the Lambda runtime's to import (by its
Handler name), never another module's, and only `auditor/wiring.py` builds the adapters the auditor's
functions run on."""

from __future__ import annotations

import ast
from pathlib import Path

from job_auditor.contract import handlers

ROOT = Path(__file__).resolve().parents[2]
AUDITOR = ROOT / "job_auditor" / "auditor"
HANDLER_MODULE = handlers.AUDITOR.rsplit(".", 1)[0]
# The adapters' classes (boto3 behind the ports) and the client factories they run on.
ADAPTERS = frozenset(
    {
        "AccountClients",
        "AccountSessions",
        "BotoJobApi",
        "ChatPublisher",
        "DynamoStateStore",
        "EventBridgePublisher",
        "ItemStore",
        "SnsPublisher",
    }
)


def _python_files() -> list[Path]:
    """Every module of the repository: the package, the simulator, the benchmarks, the tests, the apps."""
    folders = ("job_auditor", "simulator", "benchmarks", "tests", "examples")
    return [ROOT / "app.py", *(p for folder in folders for p in sorted((ROOT / folder).rglob("*.py")))]


def _package_of(path: Path, level: int) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[: len(parts) - level])


def _imported(path: Path) -> set[str]:
    """Every module `path` imports, with `from package import name` read as `package.name` too and
    relative imports resolved."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(filter(None, (_package_of(path, node.level), node.module)))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_no_module_imports_the_direct_handler() -> None:
    # Given every module of the repository
    modules = _python_files()
    assert len(modules) > 150 and (ROOT / Path(*HANDLER_MODULE.split("."))).with_suffix(".py").is_file()
    # When their imports are read / Then none imports the handler: the Lambda runtime finds it by its
    # Handler name (contract/handlers.py), and so do the harnesses that invoke it; everything else
    # goes through the wiring
    importing = sorted(str(path.relative_to(ROOT)) for path in modules if HANDLER_MODULE in _imported(path))
    assert importing == []


def _constructed(path: Path) -> set[str]:
    """Names of the classes `path` calls (`Name(...)` or `module.Name(...)`)."""
    called: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                called.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                called.add(node.func.attr)
    return called


def test_only_the_wiring_builds_the_auditors_adapters() -> None:
    # Given the auditor's modules outside its adapters
    modules = [p for p in sorted(AUDITOR.rglob("*.py")) if "adapters" not in p.relative_to(AUDITOR).parts]
    assert AUDITOR / "wiring.py" in modules and len(modules) > 10
    # When the classes they call are read / Then only the composition root builds an adapter
    building = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules
        for name in _constructed(path) & ADAPTERS
        if path.name != "wiring.py"
    )
    assert building == []
    assert _constructed(AUDITOR / "wiring.py") >= ADAPTERS
