"""The contract the CDK app and the Lambda share: standard library only, and the only thing the CDK app
imports from the Lambda's code; the Lambda's code imports nothing of the CDK side."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "job_auditor"
CONTRACT = PACKAGE / "contract"
# The package's subpackages the Lambda functions run (and ship in their asset), and the CDK side's.
LAMBDA_CODE = ("auditor", "contract", "slack_forwarder")
# Shared by both sides like the contract, but reading botocore (which both have): where kinds are offered.
SHARED_MODULES = ("availability.py",)
CDK_SIDE = ("infra",)
# Outside the asset too, but an operator's view of the function's own state and protocol: the CLI reads
# the table through the auditor's codec and reader, runs the auditor's wiring and replays through its
# publishers, so that no key format or event shape exists twice. The functions never import it.
OPERATOR_SIDE = ("cli",)


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


def _type_stub_imports(path: Path) -> set[str]:
    """Modules of the boto3 type stubs imported only under a module-level `if TYPE_CHECKING:` (for mypy:
    the stubs are development dependencies, never imported at run time)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    guarded: list[ast.stmt] = []
    run_time: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            guarded += node.body
            run_time += node.orelse
        else:
            run_time.append(node)

    def stubs(nodes: list[ast.stmt]) -> set[str]:
        return {
            n.module
            for node in nodes
            for n in ast.walk(node)
            if isinstance(n, ast.ImportFrom) and n.module and _top(n.module).startswith("mypy_boto3_")
        }

    return stubs(guarded) - stubs(run_time)


def test_the_contract_imports_only_the_standard_library_and_itself() -> None:
    # Given every module of the contract package
    modules = sorted(CONTRACT.glob("*.py"))
    assert {m.name for m in modules} >= {"__init__.py", "kinds.py", "environment.py", "state_schema.py"}
    # When their imports are read / Then each is the standard library's or the contract's own (or, for
    # mypy only, a type stub of boto3's)
    foreign = {
        f"{path.name}: {name}"
        for path in modules
        for name in _imported_modules(path) - _type_stub_imports(path)
        if _top(name) not in sys.stdlib_module_names
        and name != "__future__"
        and not name.startswith("job_auditor.contract")
    }
    assert foreign == set()


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "job_auditor" and len(parts) > 1 else None


def test_the_cdk_app_imports_nothing_of_the_lambdas_but_the_contract() -> None:
    # Given the CDK app and the package's CDK side (the constructs)
    sources = [ROOT / "app.py", *(p for side in CDK_SIDE for p in sorted((PACKAGE / side).rglob("*.py")))]
    assert len(sources) > 10
    # When their imports are read / Then none reaches into a function's own code
    reaching = {
        f"{path.name}: {name}"
        for path in sources
        for name in _imported_modules(path)
        if _subpackage(name) in set(LAMBDA_CODE) - {"contract"}
    }
    assert reaching == set()


def test_the_lambda_code_imports_nothing_of_the_cdk_side() -> None:
    # Given every module the functions run
    sources = [p for name in LAMBDA_CODE for p in sorted((PACKAGE / name).rglob("*.py"))]
    sources += [PACKAGE / name for name in SHARED_MODULES]
    # When their imports are read / Then none is the CDK side's, the CDK's or pydantic (not in the asset)
    reaching = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources
        for name in _imported_modules(path)
        if _subpackage(name) in CDK_SIDE + OPERATOR_SIDE
        or _top(name) in {"aws_cdk", "constructs", "cdk_nag", "pydantic"}
    }
    assert reaching == set()


def test_importing_the_contract_loads_no_third_party_module() -> None:
    # Given a fresh interpreter with only the Lambda's asset (as synth stages it) on its path
    import subprocess

    from job_auditor.infra.auditor_function import lambda_asset_dir

    asset = lambda_asset_dir()
    code = (
        "import sys; before = set(sys.modules); "
        "import job_auditor.contract.kinds, job_auditor.contract.environment; "
        "import job_auditor.contract.state_schema; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(m for m in new if m not in sys.stdlib_module_names and m != 'job_auditor'))"
    )
    # When the contract is imported / Then nothing outside the standard library came with it
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=asset,
        env={"PYTHONPATH": str(asset), "PYTHONDONTWRITEBYTECODE": "1"},  # the asset stays as synth made it
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_the_lambda_asset_holds_the_functions_code_and_nothing_of_the_cdk_side() -> None:
    # Given the directory synth hands to the functions' Code.from_asset
    from job_auditor.infra.auditor_function import lambda_asset_dir

    asset = lambda_asset_dir()
    # When its top level is listed / Then it is the package with the Lambda's subpackages only
    assert [p.name for p in asset.iterdir()] == ["job_auditor"]
    inside = {p.name for p in (asset / "job_auditor").iterdir()}
    assert inside == {"__init__.py", *SHARED_MODULES, *LAMBDA_CODE}
    assert (asset / "job_auditor" / "auditor" / "handler.py").is_file()
    assert not list(asset.rglob("__pycache__"))


def _string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_module_outside_the_registry_names_a_kind_id() -> None:
    # Given every module of the system (the Lambdas, the CDK app, the simulator, the benchmarks)
    from job_auditor.contract.kinds import kind_ids

    modules = [
        path
        for folder in ("job_auditor", "simulator", "benchmarks")
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
