"""Fresh virtual environments for the tests that check what a deployable part needs installed."""

from __future__ import annotations

import os
import subprocess
import venv
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.conftest import REPO

# What only local inference and the app need: neither the Lambda nor `pulumi preview` may.
HEAVY = ("torch", "transformers", "streamlit")


def fresh_venv(root: Path, requirements: Path) -> Path:
    """A new venv in ``root`` with one requirements file installed; returns its python."""
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
            str(requirements),
        ],
        check=True,
        timeout=600,
    )
    return python


def run_isolated(
    python: Path,
    code: str,
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    paths: Sequence[Path] = (REPO,),
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in ``python`` with nothing from this process but ``paths`` importable.

    ``-I`` drops the user's site-packages and every PYTHON* variable, so only what the venv
    installed and the given source folders can be imported.
    """
    prelude = "".join(f"import sys; sys.path.insert(0, {str(path)!r})\n" for path in paths)
    return subprocess.run(
        [str(python), "-I", "-c", prelude + code],
        env={"PATH": os.environ.get("PATH", ""), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def importable(python: Path, module: str, *, cwd: Path) -> bool:
    """Whether ``module`` imports in ``python``'s venv alone."""
    return run_isolated(python, f"import {module}", cwd=cwd, paths=()).returncode == 0
