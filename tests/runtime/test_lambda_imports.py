"""The function's code imports in an environment holding only what the Lambda function gets."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from components.packaging import function_zip
from tests.conftest import REPO
from tests.venvs import HEAVY, fresh_venv, importable, run_isolated

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
    return fresh_venv(tmp_path_factory.mktemp("lambda-venv"), REPO / "requirements-lambda.txt")


def test_the_lambda_dependencies_hold_no_ml_or_app_packages(
    lambda_python: Path, tmp_path: Path
) -> None:
    for package in HEAVY:
        assert not importable(lambda_python, package, cwd=tmp_path), f"{package} is installed"


def test_runtime_imports_with_only_the_lambda_dependencies(
    lambda_python: Path, tmp_path: Path
) -> None:
    env = {
        "BUCKET_NAME": "bucket",
        "ENDPOINT_NAME": "endpoint",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    done = run_isolated(lambda_python, PROBE, cwd=tmp_path, env=env)
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
        "BUCKET_NAME": "bucket",
        "ENDPOINT_NAME": "endpoint",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    probe = "import runtime.handler\nprint(runtime.handler.__file__)\n"
    done = run_isolated(lambda_python, probe, cwd=tmp_path, env=env, paths=(code,))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(code / "runtime" / "handler.py")
