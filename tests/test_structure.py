"""The shape of the code: no import cycles among recruiter's modules, no module past ~350 lines.

Both read the source with ``ast`` and the file system only; nothing is imported or run.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "recruiter"
MAX_LINES = 350
# Modules allowed past MAX_LINES, each with the reason a reader would accept.
LONGER: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every recruiter module ``name`` imports, at the top or inside a function."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:  # `from . import audit`
                    found.add(f"{target}.{alias.name}")
                elif target in modules:  # `from .audit import record`
                    found.add(target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
    found.discard(name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["recruiter.services.sending.worker"] >= {  # the walk sees relative imports
        "recruiter.services.sending.delivery", "recruiter.services.sending.freeze"}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module and a three-module loop are both reported."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert _cycles(graph) == [["a", "b"], ["c", "d", "e"]]


def test_no_module_is_longer_than_the_house_style_allows() -> None:
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines())
               for name, path in _modules().items()}
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES and name not in LONGER}
    assert too_long == {}, f"split these modules by job (or say why in LONGER): {too_long}"


def test_one_place_writes_sent() -> None:
    """A letter and its delivery become "sent" in ``sending/delivery.py::record_sent`` alone."""
    writes = re.compile(r"""\b(state|status)["']?\s*(=|:)\s*["']sent["']""")
    found = {name: len(writes.findall(path.read_text(encoding="utf-8")))
             for name, path in _modules().items()}
    assert {name: n for name, n in found.items() if n} == {
        "recruiter.services.sending.delivery": 3}  # record's outcome, and record_sent's two
