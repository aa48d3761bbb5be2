"""components/packaging.py: runtime/ only in the function; a reproducible layer for Lambda."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from components.packaging import function_zip, layer_zip, sha256_of
from tests.conftest import REPO


def test_the_function_zip_holds_the_runtime_package_and_nothing_else(tmp_path: Path) -> None:
    names = zipfile.ZipFile(function_zip(REPO / "runtime", tmp_path / "f.zip")).namelist()
    assert "runtime/handler.py" in names
    assert "runtime/__init__.py" in names
    assert all(name.startswith("runtime/") and name.endswith(".py") for name in names)
    assert not [n for n in names if "__pycache__" in n]


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
