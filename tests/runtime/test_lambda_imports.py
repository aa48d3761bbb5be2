"""The function's code imports in an environment holding only what the Lambda function gets."""

from __future__ import annotations

import os
import subprocess
import venv
import zipfile
from pathlib import Path

import pytest

from components.packaging import function_zip
from tests.conftest import REPO

# Every module of runtime/, imported the way Lambda imports the handler.
PROBE = """
import importlib, pkgutil, sys
import runtime
for module in pkgutil.iter_modules(runtime.__path__):
    if module.name != "__main__":
        importlib.import_module(f"runtime.{module.name}")
import runtime.handler
heavy = sorted({"torch", "transformers", "streamlit", "numpy"} & set(sys.modules))
print("heavy:", heavy)
"""


@pytest.fixture(scope="session")
def lambda_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with requirements-lambda.txt installed, nothing else."""
    root = tmp_path_factory.mktemp("lambda-venv")
    venv.create(root, with_pip=True)
    python = root / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(REPO / "requirements-lambda.txt"),
        ],
        check=True,
        timeout=600,
    )
    return python


def test_the_lambda_dependencies_hold_no_ml_or_app_packages(lambda_python: Path) -> None:
    for package in ("torch", "transformers", "streamlit"):
        found = subprocess.run(
            [str(lambda_python), "-c", f"import {package}"], capture_output=True, check=False
        )
        assert found.returncode != 0, f"{package} is installed in the Lambda environment"


def test_runtime_imports_with_only_the_lambda_dependencies(
    lambda_python: Path, tmp_path: Path
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "BUCKET_NAME": "bucket",
        "ENDPOINT_NAME": "endpoint",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    done = subprocess.run(
        [str(lambda_python), "-I", "-c", f"import sys; sys.path.insert(0, {str(REPO)!r})\n{PROBE}"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "heavy: []"


def test_the_handler_imports_from_the_function_zip_alone(
    lambda_python: Path, tmp_path: Path
) -> None:
    """What Lambda runs: the unpacked zip on the path, the layer's packages, nothing else."""
    code = tmp_path / "task"
    with zipfile.ZipFile(function_zip(REPO / "runtime", tmp_path / "function.zip")) as archive:
        archive.extractall(code)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BUCKET_NAME": "bucket",
        "ENDPOINT_NAME": "endpoint",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    probe = (
        f"import sys; sys.path.insert(0, {str(code)!r})\n"
        "import runtime.handler\n"
        "print(runtime.handler.__file__)\n"
    )
    done = subprocess.run(
        [str(lambda_python), "-I", "-c", probe],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(code / "runtime" / "handler.py")
