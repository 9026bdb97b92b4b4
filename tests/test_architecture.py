"""The package's shape (docs/design.md "Architecture"): wings, sizes and import rules.

Read from the source with ``ast``, so it checks what any ``python -c`` over the tree would.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "smcheck"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
MAX_TOP_LEVEL_MODULES = 12
WINGS = {
    "cli",
    "sources",
    "reference",
    "methods",
    "analysis",
    "findings",
    "check",
    "report",
    "experiments",
    "capture",
    "kernels",
}
CLI_MAY_NOT_IMPORT = ("smcheck.analysis", "smcheck.sources", "smcheck.reference")
LAYERS = {  # docs/design.md "Import rules": a module imports its own layer and those below
    "errors": 1,
    "dtypes": 1,
    "smcheck": 1,
    "kernels": 1.5,
    "reference": 2.0,
    "methods": 2.5,
    "report": 3,
    "sources": 4,
    "config": 4,
    "configchecks": 4,
    "progress": 4,
    "output": 4,
    "threads": 4,
    "environment": 4,
    "findings": 5,
    "analysis": 6,
    "api": 7.0,
    "check": 7.5,
    "experiments": 7.5,
    "capture": 7.75,
    "cli": 8,
    "__main__": 9,
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The smcheck modules ``path`` imports at run time (TYPE_CHECKING blocks aside)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for n in child.orelse:
                    visit(n)
                continue
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    full = f"{child.module}.{alias.name}"
                    found.add(full if full in modules else child.module)
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    # importing smcheck.a.b also runs smcheck/a/__init__.py (its own packages aside: they are
    # already being imported when it runs)
    own = path.relative_to(PACKAGE.parent).with_suffix("").parts
    parents = {
        ".".join(m.split(".")[:k])
        for m in found
        for k in range(2, m.count(".") + 1)
        if m.split(".")[:k] != list(own[:k])
    }
    return {m for m in found | parents if m in modules}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles_at_run_time() -> None:
    assert _cycles(import_graph()) == []


def test_no_module_is_longer_than_the_limit() -> None:
    long = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert {n: k for n, k in long.items() if k > MAX_MODULE_LINES} == {}


def test_no_function_is_longer_than_the_limit() -> None:
    long = {}
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if n > MAX_FUNCTION_LINES:
                    long[f"{name}.{node.name}"] = n
    assert long == {}


def test_top_level_holds_few_modules_and_the_wings() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == WINGS


def test_the_cli_imports_no_analysis_sources_or_reference_module() -> None:
    graph = import_graph()
    bad = {
        (m, dep)
        for m, deps in graph.items()
        if m == "smcheck.cli" or m.startswith("smcheck.cli.")
        for dep in deps
        if dep.startswith(CLI_MAY_NOT_IMPORT)
    }
    assert bad == set()


def _layer(module: str) -> float:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else parts[0]]


def test_wings_import_only_their_own_layer_and_below() -> None:
    upward = {
        (m, dep) for m, deps in import_graph().items() for dep in deps if _layer(dep) > _layer(m)
    }
    assert upward == set()


def test_the_checker_finds_a_cycle() -> None:
    # the checker itself: a two-module loop and a self-contained chain
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
