"""The house rules a reader relies on, checked on the source: imports between regstudy's
subpackages run one way (no cycles), and no function is longer than one screen."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "regstudy"
MAX_FUNCTION_LINES = 60


def _unit(path: Path) -> str:
    """The subpackage (or top-level module) a file belongs to: 'training', 'observer', ..."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_units(path: Path) -> Set[str]:
    """Units of regstudy a file imports, at module level or inside functions."""
    base = ["regstudy", *path.relative_to(PACKAGE).parts[:-1]]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = (base[:len(base) - node.level + 1] if node.level else []) + \
                (node.module.split(".") if node.module else [])
            if len(parts) == 1 and parts[0] == "regstudy":  # from . import x / from regstudy import x
                found |= {a.name for a in node.names}
            elif parts[:1] == ["regstudy"]:
                found.add(parts[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names
                      if a.name.startswith("regstudy.")}
    return found


def import_graph() -> Dict[str, Set[str]]:
    """unit -> the other units it imports (names like `__version__` from the package are not
    units and are left out)."""
    paths = list(PACKAGE.rglob("*.py"))
    units = {_unit(p) for p in paths} - {"__init__"}
    graph: Dict[str, Set[str]] = {u: set() for u in units}
    for path in paths:
        unit = _unit(path)
        if unit in units:
            graph[unit] |= (_imported_units(path) & units) - {unit}
    return graph


def _cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import cycle between units, or [] (depth-first search)."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(unit: str) -> List[str]:
        state[unit] = 1
        stack.append(unit)
        for nxt in sorted(graph.get(unit, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[unit] = 2
        stack.pop()
        return []

    for unit in sorted(graph):
        if unit not in state and (found := visit(unit)):
            return found
    return []


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_subpackages_import_one_way():
    graph = import_graph()
    assert {"training", "diagnostics", "sweep", "report", "observer", "record", "cli", "api"} <= set(graph)
    assert graph["observer"] == set(), "observer.py is a leaf"
    assert graph["record"] == set(), "record/ (the run and sweep files) imports no other unit"
    assert [u for u, deps in graph.items() if deps & {"cli", "api"}] == [], \
        "cli/ and api.py are the top: no unit imports the command line or the Python API"
    assert _cycle(graph) == [], " -> ".join(_cycle(graph))


def test_no_function_longer_than_a_screen():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines})")
    assert long == []
