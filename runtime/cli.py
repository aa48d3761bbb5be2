"""The ``dermascan`` command line: classify image files with the local model."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from runtime.classifiers import ClassifierError, ModelUnavailable
from runtime.images import InvalidImage, too_large
from runtime.local import DEFAULT_DATA_DIR, LocalPipeline

EXIT_OK = 0
EXIT_REJECTED = 1  # at least one file was refused or could not be read
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_MODEL = 3  # the model could not be loaded or failed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    return int(args.run(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dermascan",
        description="Skin-lesion triage support. Decision support only: not a diagnosis.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    classify = commands.add_parser(
        "classify",
        help="classify dermatoscopic images and print each prediction record as JSON",
        description=(
            "Classify images with the local model (DERMASCAN_MODEL: a Hub id or a model "
            "directory) and print one JSON prediction record per line. Exit codes: 0 all "
            "classified, 1 a file was refused (reason on stderr), 3 the model failed."
        ),
    )
    classify.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    classify.add_argument(
        "--save",
        action="store_true",
        help=f"keep uploads and records in DERMASCAN_DATA_DIR (default ./{DEFAULT_DATA_DIR}) "
        "so the app's history shows them",
    )
    classify.add_argument("--indent", type=int, default=None, help="pretty-print the JSON")
    classify.set_defaults(run=_classify)
    return parser


def _classify(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="dermascan-") as scratch:
        env = dict(os.environ)
        if not args.save:
            env["DERMASCAN_DATA_DIR"] = scratch
        pipeline = LocalPipeline.from_env(env)
        try:
            return _classify_files(pipeline, args.images, args.indent)
        finally:
            pipeline.close()


def _classify_files(pipeline: LocalPipeline, paths: Sequence[Path], indent: int | None) -> int:
    exit_code = EXIT_OK
    for path in paths:
        try:
            data = _read(path, pipeline.limits.max_bytes)
            record = pipeline.wait(pipeline.submit(data))
        except (OSError, InvalidImage) as exc:
            _error(path, str(exc) if isinstance(exc, InvalidImage) else exc.strerror or str(exc))
            exit_code = EXIT_REJECTED
            continue
        except ModelUnavailable as exc:
            print(f"dermascan: {exc}", file=sys.stderr)
            return EXIT_MODEL
        except ClassifierError as exc:
            _error(path, f"the model failed: {exc}")
            return EXIT_MODEL
        if record.status == "error" and record.error is not None:
            _error(path, record.error.message)
            exit_code = EXIT_REJECTED
            continue
        print(record.to_json() if indent is None else _indented(record.to_dict(), indent))
    return exit_code


def _read(path: Path, max_bytes: int) -> bytes:
    """Read a file, refusing one over the limit before reading it."""
    size = path.stat().st_size
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory")
    if size > max_bytes:
        raise too_large(size, max_bytes)
    return path.read_bytes()


def _error(path: Path, message: str) -> None:
    # One line per file, whatever the message holds.
    print(f"dermascan: {path}: {' '.join(message.split())}", file=sys.stderr)


def _indented(data: dict[str, object], indent: int) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False)
