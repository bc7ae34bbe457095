"""The code's shape (issue 11): small modules, pages and functions; one-way imports.

A newcomer reads a module in one sitting and a page top to bottom; these limits keep it so. The
import rule keeps the backend usable from the CLI, tests and notebooks: `cnnlab` never imports
streamlit or `pages`, and no two backend modules import each other (directly or in a ring).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BACKEND = sorted((REPO / "cnnlab").rglob("*.py"))
PAGES = sorted((REPO / "pages").glob("*.py"))
UI = sorted((REPO / "pages").rglob("*.py"))
MAX_MODULE, MAX_PAGE, MAX_FUNCTION = 400, 200, 80


def lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_modules_and_pages_are_small() -> None:
    too_big = [f"{rel(p)}: {lines(p)}" for p in BACKEND + UI if lines(p) > MAX_MODULE]
    too_big += [f"{rel(p)}: {lines(p)}" for p in PAGES if lines(p) > MAX_PAGE]
    assert not too_big, f"over {MAX_MODULE} lines (modules) or {MAX_PAGE} (pages): {too_big}"


def test_functions_are_small() -> None:
    long = []
    for path in BACKEND + UI + [REPO / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION:
                    long.append(f"{rel(path)}:{node.lineno} {node.name} ({size} lines)")
    assert not long, f"functions over {MAX_FUNCTION} lines: {long}"


def imports(path: Path) -> set[str]:
    """Modules `path` imports (absolute names), at any depth (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", BACKEND, ids=rel)
def test_backend_never_imports_streamlit_or_pages(path: Path) -> None:
    bad = {m for m in imports(path) if m.split(".")[0] in ("streamlit", "pages")}
    assert not bad, f"{rel(path)} imports {bad}"


def test_no_import_cycles_in_the_backend() -> None:
    """Top-level imports only (a function-level import is a deliberate lazy edge)."""
    known = {module_name(p): p for p in BACKEND}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in known and t != name}
        # a package's __init__ re-exports its modules: importing the package is not a cycle
        graph[name] = {t for t in edges if not name.startswith(t + ".")}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                ring = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(ring))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
