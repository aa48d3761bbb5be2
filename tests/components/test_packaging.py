"""components/packaging.py: runtime/ only in the function; a reproducible layer for Lambda."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from components.packaging import function_zip, imported_modules, layer_zip, sha256_of
from tests.conftest import REPO

NEVER_IN_LAMBDA = {"cli", "evaluation", "costs", "local", "remote", "results", "__main__"}


def test_the_function_zip_holds_what_the_handler_imports_and_nothing_else(
    tmp_path: Path,
) -> None:
    names = zipfile.ZipFile(function_zip(REPO / "runtime", tmp_path / "f.zip")).namelist()
    assert names == [f"runtime/{m}.py" for m in imported_modules(REPO / "runtime")]
    assert {"runtime/__init__.py", "runtime/handler.py", "runtime/pipeline.py"} <= set(names)
    assert not {f"runtime/{m}.py" for m in NEVER_IN_LAMBDA} & set(names)


def test_imports_are_followed_through_every_form_and_type_checking_is_left_out(
    tmp_path: Path,
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    files = {
        "__init__": "",
        "entry": "import pkg.a\nfrom pkg import b\nfrom pkg.c import thing\n",
        "a": "def later():\n    from pkg.d import x\n",
        "b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.unused import y\n",
        "c": "thing = 1\n",
        "d": "x = 1\n",
        "unused": "y = 1\n",
        "unrelated": "",
    }
    for name, text in files.items():
        (package / f"{name}.py").write_text(text)
    assert imported_modules(package, "entry") == ["__init__", "a", "b", "c", "d", "entry"]


def test_the_function_zip_is_reproducible(tmp_path: Path) -> None:
    first = function_zip(REPO / "runtime", tmp_path / "a.zip")
    second = function_zip(REPO / "runtime", tmp_path / "b.zip")
    assert sha256_of(first) == sha256_of(second)


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The layer built twice, from scratch, into two caches (pip may download wheels)."""
    requirements = REPO / "requirements-lambda.txt"
    return (
        layer_zip(requirements, tmp_path_factory.mktemp("cache-a")),
        layer_zip(requirements, tmp_path_factory.mktemp("cache-b")),
    )


def test_the_layer_holds_pillow_built_for_aarch64_and_python_3_12(
    layers: tuple[Path, Path],
) -> None:
    names = zipfile.ZipFile(layers[0]).namelist()
    pillow = [n for n in names if n.startswith("python/PIL/_imaging.") and n.endswith(".so")]
    assert pillow == ["python/PIL/_imaging.cpython-312-aarch64-linux-gnu.so"]
    assert any(n.startswith("python/aws_lambda_powertools/") for n in names)
    assert not [n for n in names if n.endswith(".pyc")]


def test_the_same_inputs_give_the_same_layer(layers: tuple[Path, Path]) -> None:
    assert sha256_of(layers[0]) == sha256_of(layers[1])


def test_a_cached_layer_is_not_rebuilt(layers: tuple[Path, Path]) -> None:
    before = layers[0].stat().st_mtime_ns
    again = layer_zip(REPO / "requirements-lambda.txt", layers[0].parent)
    assert again == layers[0]
    assert again.stat().st_mtime_ns == before
