"""Facts the pipeline, the app and the stack must agree on are written down once, in runtime/.

The key prefixes and the class codes are defined once (``runtime.keys``, ``runtime.labels``);
everything else derives from them. A second copy would let S3 notifications, IAM scopes and
the pipeline silently disagree when one copy changes.
"""

from __future__ import annotations

import ast
from collections import Counter

from runtime.keys import KeyLayout
from runtime.labels import CLASSES
from tests.conftest import REPO

# Code outside the tests: what ships, deploys or measures.
SOURCES = sorted(
    path
    for path in REPO.rglob("*.py")
    if not {".venv", "tests", "build", "node_modules", ".git"} & set(path.relative_to(REPO).parts)
)


def string_literals() -> Counter[tuple[str, str]]:
    """(file, text) of every string constant in the sources."""
    found: Counter[tuple[str, str]] = Counter()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found[(path.relative_to(REPO).as_posix(), node.value)] += 1
    return found


def class_code_collections() -> list[str]:
    """Where a tuple, list or set literal spells out the class codes."""
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts:
                values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if len(values) == len(node.elts) and set(values) >= {"mel", "nv", "bcc"}:
                    found.append(f"{path.relative_to(REPO).as_posix()}:{node.lineno}")
    return found


def test_the_sources_are_found() -> None:
    names = {path.relative_to(REPO).as_posix() for path in SOURCES}
    assert {"runtime/keys.py", "components/storage.py", "app/backend.py", "__main__.py"} <= names


def test_each_key_prefix_is_written_once_in_the_layout() -> None:
    literals = string_literals()
    for prefix in KeyLayout().prefixes().values():
        places = [file for (file, text), n in literals.items() if text == prefix for _ in range(n)]
        assert places == ["runtime/keys.py"], f"{prefix!r} is written in {places}"


def test_the_class_codes_are_listed_once() -> None:
    assert [p.partition(":")[0] for p in class_code_collections()] == ["runtime/labels.py"], (
        "the class codes are spelled out more than once; import CLASSES from runtime.labels"
    )
    assert CLASSES == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
