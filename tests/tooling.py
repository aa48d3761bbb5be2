"""The Makefile's own command lines and pip runs free of this machine's pip configuration.

Tests of the install and of the linters run what the Makefile runs, read from the Makefile with
``make``'s own expansion, so a change to the Makefile is a change to what the tests check.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.conftest import REPO


def make_variable(name: str, **overrides: str) -> str:
    """The value of a Makefile variable as ``make`` expands it, with ``NAME=value`` overrides."""
    done = subprocess.run(
        [
            "make",
            "--silent",
            "--no-print-directory",
            # A rule of our own, added from the command line so the Makefile needs no print target.
            "--eval=print-%: ; @:$(info $($*))",
            f"print-{name}",
            *(f"{key}={value}" for key, value in overrides.items()),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    value = done.stdout.strip()
    assert value, f"the Makefile defines no {name}"
    return value


def make_command(name: str, **overrides: str) -> list[str]:
    """A Makefile variable holding a command line, split as the shell would."""
    return shlex.split(make_variable(name, **overrides))


def clean_pip_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any pip configuration: no config file, no PIP_*.

    On this machine pip's configuration adds a local wheel folder holding torch's CPU build,
    local indexes and a constraints file; a fresh machine has none of them.
    """
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    # pip reads no configuration file at all when this names os.devnull.
    environment["PIP_CONFIG_FILE"] = os.devnull
    return environment | extra


def pip_configuration(python: Path, environment: Mapping[str, str]) -> list[str]:
    """What ``pip config list`` reports under ``environment``: every setting pip would apply."""
    done = subprocess.run(
        [str(python), "-m", "pip", "config", "list"],
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def pip_dry_run(
    command: list[str], environment: Mapping[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """Run a ``pip install`` command line as a dry run and return pip's installation report.

    ``--ignore-installed`` makes the resolution that of an empty environment, as on a fresh
    machine. The report is None when pip fails (its reasons are on the result's stderr).
    """
    assert command[1:4] == ["-m", "pip", "install"], f"not a pip install: {command}"
    done = subprocess.run(
        [*command, "--dry-run", "--ignore-installed", "--quiet", "--report", "-"],
        cwd=REPO,
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report: dict[str, Any] | None = json.loads(done.stdout) if done.returncode == 0 else None
    return done, report


def resolved(report: Mapping[str, Any]) -> dict[str, str]:
    """Each package pip chose to install, by normalised name, with its version."""
    return {
        item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
        for item in report["install"]
    }
