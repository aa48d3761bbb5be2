"""`make install` gets a CPU build of torch on any machine, never PyPI's CUDA build.

On Linux, PyPI's ``torch`` is the CUDA build and pulls several GB of ``nvidia-*`` wheels. The
Makefile installs torch in a step of its own that also asks PyTorch's CPU index, from
requirements-torch.txt, which pins the index's ``+cpu`` build on Linux. This machine's pip
configuration holds that build in a local wheel folder, which once hid the problem: every pip
run here that stands for a fresh machine runs without any pip configuration.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO
from tests.tooling import (
    clean_pip_environment,
    make_command,
    make_variable,
    pip_configuration,
    pip_dry_run,
    resolved,
)

TORCH_REQUIREMENTS = REPO / "requirements-torch.txt"
PYPI = "https://pypi.org/simple/"
BIN = str(Path(sys.executable).parent)  # this interpreter's pip runs the Makefile's commands
ON_LINUX = sys.platform == "linux"

# The environment markers (PEP 508) of the machines we install on.
PLATFORMS = {
    "Linux x86-64": ("linux", "x86_64"),
    "Linux aarch64": ("linux", "aarch64"),
    "macOS arm64": ("darwin", "arm64"),
    "Windows x86-64": ("win32", "AMD64"),
}


def requirement_lines(path: Path) -> Iterator[str]:
    """The requirement lines of a requirements file, following ``-r`` includes."""
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            yield from requirement_lines(path.parent / line.removeprefix("-r ").strip())
        else:
            yield line


def torch_pin(platform: str | None = None) -> Version:
    """The torch version requirements-torch.txt pins on ``platform`` (default: this machine)."""
    environment = {key: str(value) for key, value in default_environment().items()}
    if platform is not None:
        environment["sys_platform"], environment["platform_machine"] = PLATFORMS[platform]
    requirements = [Requirement(line) for line in requirement_lines(TORCH_REQUIREMENTS)]
    pins = [r for r in requirements if r.marker is None or r.marker.evaluate(environment)]
    assert len(pins) == 1, f"{len(pins)} torch pins apply on {platform}: {pins}"
    (specifier,) = pins[0].specifier
    assert pins[0].name == "torch", pins[0]
    assert specifier.operator == "==", pins[0]
    return Version(specifier.version)


def reachable(url: str) -> str | None:
    """None if ``url`` answers, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=10):
            return None
    except OSError as exc:
        return str(exc)


def assert_no_pip_configuration(environment: dict[str, str]) -> None:
    settings = pip_configuration(Path(sys.executable), environment)
    # pip lists the one variable that switches its configuration files off, and nothing else.
    assert settings == [f":env:.config-file='{os.devnull}'"], settings


# --- What the files say -------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["Linux x86-64", "Linux aarch64"])
def test_on_linux_the_pin_is_the_cpu_build_of_the_one_version(platform: str) -> None:
    pin = torch_pin(platform)
    assert pin.local == "cpu", f"{platform} gets torch {pin}: without +cpu PyPI's CUDA build fits"
    assert pin.public == str(torch_pin("macOS arm64")), "the pins name two versions"


@pytest.mark.parametrize("platform", ["macOS arm64", "Windows x86-64"])
def test_elsewhere_the_pin_is_the_public_version_which_is_cpu_only_there(platform: str) -> None:
    # PyPI's build is the CPU one there, and no "+cpu" version of it exists.
    assert torch_pin(platform).local is None


def test_only_the_torch_step_asks_pytorchs_index() -> None:
    torch_step = make_command("PIP_TORCH", BIN=BIN)
    index = make_variable("TORCH_INDEX")
    assert index == "https://download.pytorch.org/whl/cpu"
    assert ["--extra-index-url", index] == torch_step[-4:-2]
    assert ["-r", TORCH_REQUIREMENTS.name] == torch_step[-2:]
    for other in ("PIP_MAIN", "PIP_INFRA"):
        command = make_command(other, BIN=BIN)
        assert index not in command, f"{other} asks PyTorch's index for every package"
        assert TORCH_REQUIREMENTS.name not in command


@pytest.mark.parametrize("step", ["PIP_MAIN", "PIP_INFRA"])
def test_no_other_step_names_torch(step: str) -> None:
    # Without PyTorch's index, a torch requirement there could only be met by PyPI's CUDA build.
    command = make_command(step, BIN=BIN)
    files = [REPO / command[i + 1] for i, word in enumerate(command) if word == "-r"]
    names = {
        canonicalize_name(Requirement(line).name) for f in files for line in requirement_lines(f)
    }
    assert files, f"{step} installs no requirements file"
    assert not {"torch", "torchvision", "accelerate"} & names, names
    assert not [name for name in names if name.startswith("nvidia-")], names


# --- The Makefile's torch command against fake indexes (offline, always runs) --------------------


def fake_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel: enough for pip to read its name, version and dependencies."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {requirement}" for requirement in requires]
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name.replace('-', '_')}/__init__.py", "")
        archive.writestr(f"{info}/METADATA", "\n".join(metadata) + "\n")
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def simple_index(root: Path, wheels: list[Path]) -> str:
    """A PEP 503 index in ``root`` serving ``wheels``; returns its file:// URL."""
    root.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        project = root / str(canonicalize_name(wheel.name.split("-")[0]))
        project.mkdir(exist_ok=True)
        link = f'<a href="{wheel.as_uri()}">{wheel.name}</a>'
        with (project / "index.html").open("a") as page:
            page.write(link + "\n")
    return root.as_uri() + "/"


@pytest.fixture
def cuda_and_cpu_builds(tmp_path: Path) -> tuple[Path, Path, str]:
    """PyPI as on Linux: the pinned version is a CUDA build that depends on an nvidia package.

    Returns the CPU build's wheel, the CUDA build's wheel and the fake PyPI's URL.
    """
    version = torch_pin().public
    cpu = fake_wheel(tmp_path / "cpu-wheels", "torch", f"{version}+cpu")
    cuda = fake_wheel(tmp_path / "pypi-wheels", "torch", version, ("nvidia-foo==1.0",))
    nvidia = fake_wheel(tmp_path / "pypi-wheels", "nvidia-foo", "1.0")
    return cpu, cuda, simple_index(tmp_path / "pypi", [cuda, nvidia])


only_on_linux = pytest.mark.skipif(
    not ON_LINUX, reason="only on Linux is PyPI's torch the CUDA build these fakes stand for"
)


@only_on_linux
def test_the_torch_step_takes_the_cpu_build_although_pypi_has_the_cuda_one(
    cuda_and_cpu_builds: tuple[Path, Path, str], tmp_path: Path
) -> None:
    cpu, _, pypi = cuda_and_cpu_builds
    torch_index = simple_index(tmp_path / "pytorch-cpu", [cpu])
    environment = clean_pip_environment(PIP_INDEX_URL=pypi)

    done, report = pip_dry_run(
        make_command("PIP_TORCH", BIN=BIN, TORCH_INDEX=torch_index), environment
    )

    assert report is not None, done.stderr
    assert resolved(report) == {"torch": f"{torch_pin().public}+cpu"}


@only_on_linux
def test_the_torch_step_fails_rather_than_fall_back_to_the_cuda_build(
    cuda_and_cpu_builds: tuple[Path, Path, str], tmp_path: Path
) -> None:
    _, _, pypi = cuda_and_cpu_builds
    empty_index = simple_index(tmp_path / "pytorch-cpu", [])
    environment = clean_pip_environment(PIP_INDEX_URL=pypi)

    done, report = pip_dry_run(
        make_command("PIP_TORCH", BIN=BIN, TORCH_INDEX=empty_index), environment
    )

    assert report is None, f"installed {resolved(report)} without PyTorch's CPU index"
    assert f"No matching distribution found for torch=={torch_pin()}" in done.stderr


@only_on_linux
def test_where_pytorchs_index_is_unreachable_a_wheel_folder_serves_with_few_retries(
    cuda_and_cpu_builds: tuple[Path, Path, str],
) -> None:
    # This machine: PyTorch's index cannot be reached; pip's configuration adds a wheel folder.
    cpu, _, pypi = cuda_and_cpu_builds
    nothing_listens = "http://127.0.0.1:9/whl/cpu"  # the discard port: refused at once
    command = make_command("PIP_TORCH", BIN=BIN, TORCH_INDEX=nothing_listens)
    environment = clean_pip_environment(PIP_INDEX_URL=pypi, PIP_FIND_LINKS=str(cpu.parent))

    done, report = pip_dry_run(command, environment)

    assert report is not None, done.stderr
    assert resolved(report) == {"torch": f"{torch_pin().public}+cpu"}
    retries = int(command[command.index("--retries") + 1])
    attempts = done.stderr.count("Retrying (Retry(") + 1
    assert attempts == retries + 1 <= 3, done.stderr
    # Where the index's host drops packets instead, each page costs (retries + 1) x timeout:
    # bounded, unlike pip's 6 attempts of PIP_DEFAULT_TIMEOUT (180 s on this machine).
    assert (retries + 1) * float(command[command.index("--timeout") + 1]) <= 45


# --- The real indexes, without this machine's pip configuration ---------------------------------


def test_the_real_torch_step_resolves_a_cpu_build_and_no_nvidia_package() -> None:
    index = make_variable("TORCH_INDEX")
    why_not = reachable(index + "/") or reachable(PYPI + "pip/")
    if why_not is not None:
        pytest.skip(f"the torch step needs PyPI and PyTorch's index ({index}): {why_not}")
    environment = clean_pip_environment()
    assert_no_pip_configuration(environment)

    done, report = pip_dry_run(make_command("PIP_TORCH", BIN=BIN), environment)

    assert report is not None, done.stderr
    packages = resolved(report)
    assert Version(packages["torch"]) == torch_pin()
    assert not [name for name in packages if name.startswith("nvidia-")], packages


@pytest.mark.skipif(not ON_LINUX, reason="elsewhere PyPI's own torch is the CPU build")
def test_without_pytorchs_index_the_real_torch_step_refuses_pypis_cuda_build() -> None:
    index = make_variable("TORCH_INDEX")
    if reachable(index + "/") is None:
        pytest.skip(f"{index} is reachable: the test above resolves through it")
    if (why_not := reachable(PYPI + "pip/")) is not None:
        pytest.skip(f"no index is reachable: neither {index} nor PyPI ({why_not})")
    environment = clean_pip_environment()
    assert_no_pip_configuration(environment)

    done, report = pip_dry_run(make_command("PIP_TORCH", BIN=BIN), environment)

    assert report is None, f"installed {resolved(report)} without PyTorch's CPU index"
    assert f"No matching distribution found for torch=={torch_pin()}" in done.stderr


def test_the_real_main_step_resolves_no_torch_and_no_nvidia_package_from_pypi() -> None:
    """Everything but torch comes from PyPI alone, and none of it pulls torch in again."""
    if (why_not := reachable(PYPI + "pip/")) is not None:
        pytest.skip(f"PyPI is unreachable: {why_not}")
    environment = clean_pip_environment()
    assert_no_pip_configuration(environment)

    done, report = pip_dry_run(make_command("PIP_MAIN", BIN=BIN), environment)

    assert report is not None, done.stderr
    packages = resolved(report)
    assert {"transformers", "streamlit", "pulumi", "pytest"} <= packages.keys()
    assert "torch" not in packages
    assert not [name for name in packages if name.startswith("nvidia-")], packages


# --- When each step runs ------------------------------------------------------------------------


def planned(tmp_path: Path, *arguments: str) -> str:
    """What ``make -n`` would run for ``arguments`` in a venv at ``tmp_path`` that is up to date."""
    for stamp in ("STAMP", "TORCH_STAMP", "INFRA_STAMP"):
        Path(make_variable(stamp, VENV=str(tmp_path))).touch()
    done = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", f"VENV={tmp_path}", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_a_new_torch_pin_reruns_the_torch_step(tmp_path: Path) -> None:
    torch_step = make_variable("PIP_TORCH", VENV=str(tmp_path))
    assert torch_step in planned(tmp_path, "--what-if=requirements-torch.txt", "install")


def test_other_requirements_rerun_the_main_step_but_not_the_torch_step(tmp_path: Path) -> None:
    plan = planned(tmp_path, "--what-if=requirements-dev.txt", "install")
    assert make_variable("PIP_MAIN", VENV=str(tmp_path)) in plan
    assert make_variable("PIP_TORCH", VENV=str(tmp_path)) not in plan


def test_install_infra_installs_neither_torch_nor_the_rest(tmp_path: Path) -> None:
    plan = planned(tmp_path, "--what-if=requirements-infra.txt", "install-infra")
    assert make_variable("PIP_INFRA", VENV=str(tmp_path)) in plan
    assert make_variable("PIP_TORCH", VENV=str(tmp_path)) not in plan
    assert make_variable("PIP_MAIN", VENV=str(tmp_path)) not in plan
