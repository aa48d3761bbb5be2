"""Imports every module some source files import, lazy imports included, to prove a venv suffices.

It runs inside venvs that hold only a deployable part's dependencies (no pytest), so it imports
nothing but the standard library. Imports under ``if TYPE_CHECKING:`` are skipped: they never
run. Relative imports are skipped: importing the files' own package covers them.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterable
from pathlib import Path


def _runs(node: ast.AST) -> bool:
    """False for ``if TYPE_CHECKING:`` blocks (plain or as ``typing.TYPE_CHECKING``)."""
    if not isinstance(node, ast.If):
        return True
    test = node.test
    name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
    return name != "TYPE_CHECKING"


def imports_of(source: Path) -> set[tuple[str, str | None]]:
    """``(module, name)`` per ``from module import name``, ``(module, None)`` per ``import``."""
    found: set[tuple[str, str | None]] = set()
    pending: list[ast.AST] = [ast.parse(source.read_text(), filename=str(source))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found |= {(alias.name, None) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found |= {(node.module, alias.name) for alias in node.names}
        pending.extend(child for child in ast.iter_child_nodes(node) if _runs(child))
    return found


def import_all(sources: Iterable[Path]) -> list[str]:
    """Import what ``sources`` import; returns the modules imported. Raises ImportError."""
    modules: set[str] = set()
    for module, name in sorted(
        {found for source in sources for found in imports_of(source)}, key=str
    ):
        imported = importlib.import_module(module)
        modules.add(module)
        if name is not None and name != "*" and not hasattr(imported, name):
            importlib.import_module(f"{module}.{name}")  # a submodule, not an attribute
            modules.add(f"{module}.{name}")
    return sorted(modules)


def report(sources: Iterable[str], heavy: Iterable[str]) -> None:
    """Print how many modules ``sources`` import and which ``heavy`` packages got loaded."""
    modules = import_all(Path(source) for source in sources)
    print("imported:", len(modules))
    print("heavy:", sorted(set(heavy) & set(sys.modules)))
