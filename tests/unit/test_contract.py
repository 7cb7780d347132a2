"""The contract the CDK app and the Lambda share: standard library only, and the only thing the CDK app
imports from the Lambda's asset."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "lambdas" / "contract"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def test_the_contract_imports_only_the_standard_library_and_itself() -> None:
    # Given every module of the contract package
    modules = sorted(CONTRACT.glob("*.py"))
    assert {m.name for m in modules} >= {"__init__.py", "kinds.py", "environment.py", "state_schema.py"}
    # When their imports are read / Then each is the standard library's or the contract's own
    foreign = {
        f"{path.name}: {name}"
        for path in modules
        for name in _imported_modules(path)
        if _top(name) not in sys.stdlib_module_names and _top(name) not in {"contract", "__future__"}
    }
    assert foreign == set()


def test_the_cdk_app_imports_nothing_of_the_lambdas_but_the_contract() -> None:
    # Given the CDK app and its constructs
    sources = [ROOT / "app.py", *sorted((ROOT / "infra").glob("*.py"))]
    lambda_packages = {p.name for p in (ROOT / "lambdas").iterdir() if (p / "__init__.py").exists()}
    assert {"auditor", "slack_forwarder", "contract"} <= lambda_packages
    # When their imports are read / Then none reaches into a function's own code
    reaching = {
        f"{path.name}: {name}"
        for path in sources
        for name in _imported_modules(path)
        if _top(name) in lambda_packages - {"contract"}
    }
    assert reaching == set()


def test_importing_the_contract_loads_no_third_party_module() -> None:
    # Given a fresh interpreter with only the Lambda asset on its path
    import subprocess

    code = (
        "import sys; sys.path.insert(0, 'lambdas'); before = set(sys.modules); "
        "import contract.kinds, contract.environment, contract.state_schema; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(m for m in new if m not in sys.stdlib_module_names and m != 'contract'))"
    )
    # When the contract is imported / Then nothing outside the standard library came with it
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def _string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_module_outside_the_registry_names_a_kind_id() -> None:
    # Given every module of the system (the Lambdas, the CDK app, the simulator, the benchmarks)
    from contract.kinds import kind_ids

    modules = [
        path
        for folder in ("lambdas", "infra", "simulator", "benchmarks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != CONTRACT / "kinds.py"
    ] + [ROOT / "app.py"]
    ids = kind_ids()
    # When their string literals are read / Then none of them names a kind: the registry is the one
    # place a kind is described
    naming = sorted(
        f"{path.relative_to(ROOT)}: {text[:60]!r}"
        for path in modules
        for text in _string_constants(path)
        if any(kind in text for kind in ids)
    )
    assert naming == []
