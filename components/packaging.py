"""Builds the Lambda function's zips: the code (runtime/ only) and the dependency layer.

Both are deterministic (sorted entries, fixed timestamps and modes), so the same inputs give the
same bytes and Pulumi sees no change; the layer is cached by the hash of its inputs, so
``pulumi preview`` does not rebuild it.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
# Lambda on Amazon Linux 2023 takes manylinux2014 and manylinux_2_28 wheels.
_PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}


def deterministic_zip(files: Iterable[tuple[Path, str]], destination: Path) -> Path:
    """Zip ``(source file, name in the archive)`` pairs so equal inputs give equal bytes."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_suffix(".tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for source, name in sorted(files, key=lambda pair: pair[1]):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = (0o755 if source.stat().st_mode & 0o111 else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes(), compresslevel=9)
    temporary.replace(destination)
    return destination


def imported_modules(package: Path, entry: str = "handler") -> list[str]:
    """The modules of ``package`` that ``entry`` imports, directly or through one another.

    Read from the source (``import package.x``, ``from package.x import ...``, ``from package
    import x``), lazy imports inside functions included and ``if TYPE_CHECKING:`` blocks left
    out (they never run), so the function's zip holds exactly what its handler can reach.

    Returns:
        Module names within the package, sorted, ``entry`` and ``__init__`` included.
    """
    name = package.name
    queue, found = [entry], {"__init__"}
    while queue:
        module = queue.pop()
        if module in found:
            continue
        path = package / f"{module}.py"
        if not path.is_file():
            raise FileNotFoundError(f"{name}.{module} is imported but {path} does not exist")
        found.add(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for imported in names:
                head, _, rest = imported.partition(".")
                child = rest.partition(".")[0]
                if head == name and child and (package / f"{child}.py").is_file():
                    queue.append(child)
    return sorted(found)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except what sits under ``if TYPE_CHECKING:``."""
    nodes, stack = [], [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def function_zip(source: Path, destination: Path, entry: str = "handler") -> Path:
    """The function's code: the modules of the ``runtime`` package its handler imports.

    The CLI, evaluation, costs and the local and remote pipelines never run in Lambda, so they
    are not shipped there.
    """
    files = [
        (source / f"{module}.py", f"{source.name}/{module}.py")
        for module in imported_modules(source, entry)
    ]
    return deterministic_zip(files, destination)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def layer_zip(
    requirements: Path,
    cache_dir: Path,
    *,
    python_version: str = "3.12",
    architecture: str = "arm64",
) -> Path:
    """The dependency layer, built from PyPI wheels for Lambda's platform, or taken from cache.

    Only binary wheels are accepted (``--only-binary=:all:``), so nothing is compiled for this
    machine by mistake; the files go under ``python/`` as Lambda expects.

    Raises:
        subprocess.CalledProcessError: pip could not find wheels for the platform.
    """
    platforms = _PLATFORMS[architecture]
    key = hashlib.sha256(
        "\n".join([requirements.read_text(), python_version, *platforms]).encode()
    ).hexdigest()[:16]
    destination = cache_dir / f"layer-{architecture}-py{python_version}-{key}.zip"
    if destination.exists():
        return destination
    with tempfile.TemporaryDirectory(prefix="dermascan-layer-") as scratch:
        target = Path(scratch) / "python"
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",  # .pyc files carry timestamps; Lambda compiles on first import
            "--only-binary=:all:",
            "--implementation=cp",
            f"--python-version={python_version}",
            *(f"--platform={platform}" for platform in platforms),
            f"--target={target}",
            "-r",
            str(requirements),
        ]
        subprocess.run(command, check=True, timeout=900)  # noqa: S603 - fixed arguments
        shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts are of no use there
        files = [
            (path, path.relative_to(scratch).as_posix())
            for path in target.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        ]
        return deterministic_zip(files, destination)
