"""`make install-infra` is enough for `pulumi preview`: the program and the policy pack import."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.venvs import HEAVY, importable, run_isolated

# The program, its components and the policy pack, whose modules the CLI imports from the pack's
# own folder; a component's lazy imports run during `pulumi preview` too.
SOURCES = [REPO / "__main__.py", *sorted((REPO / "components").glob("*.py"))]
POLICY_PACK = sorted((REPO / "policy").glob("*.py"))


@pytest.fixture(scope="session")
def infra_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv made by `make install-infra`, exactly as the preview job makes its own."""
    root = tmp_path_factory.mktemp("infra-venv")
    subprocess.run(
        ["make", "--no-print-directory", "install-infra", f"VENV={root}"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=900,
    )
    return root / "bin" / "python"


def test_the_infra_environment_holds_no_ml_or_app_packages(
    infra_python: Path, tmp_path: Path
) -> None:
    for package in HEAVY:
        assert not importable(infra_python, package, cwd=tmp_path), f"{package} is installed"


def test_the_pulumi_program_and_policy_pack_import_with_only_the_infra_dependencies(
    infra_python: Path, tmp_path: Path
) -> None:
    sources = [str(path) for path in SOURCES + POLICY_PACK]
    probe = f"from tests.import_probe import report\nreport({sources!r}, {HEAVY!r})"

    done = run_isolated(infra_python, probe, cwd=tmp_path, paths=(REPO, REPO / "policy"))

    assert done.returncode == 0, done.stderr
    imported, heavy = done.stdout.splitlines()
    # pulumi, pulumi_aws, pulumi_policy, sagemaker.core's image_uris and our own components
    assert int(imported.removeprefix("imported: ")) >= 10, done.stdout
    assert heavy == "heavy: []"
