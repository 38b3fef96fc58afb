"""The packages' modules import in one direction: no cycle, counting imports made inside
functions too (a lazy import back is still a cycle in the design); imports for type checkers
only (``if TYPE_CHECKING:``) do not count."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import repo_root

PACKAGES = ("nature_callback", "spiking", "neuromorphic_sim")


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (repo_root() / package).rglob("*.py"):
            name = ".".join(path.relative_to(repo_root()).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                pending.extend(child.orelse)
            else:
                pending.append(child)
    return nodes


def _import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the project modules it imports (a package's own __init__ not counted: every
    submodule runs it)."""

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in map(known, targets):
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_back() -> None:
    graph = _import_graph(_modules())
    assert len(graph) > 50  # the packages were found
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nature_callback_does_not_import_the_other_packages_outside_its_demo() -> None:
    graph = _import_graph(_modules())
    for name, targets in graph.items():
        if name.startswith("nature_callback") and not name.startswith("nature_callback.demo"):
            assert not any(t.startswith(("spiking", "neuromorphic_sim")) for t in targets), name
