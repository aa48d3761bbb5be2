"""The ``dermascan`` command line: classify image files with the local model."""

from __future__ import annotations

import argparse
import errno
import json
import os
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from runtime.classifiers import ClassifierError, ModelUnavailable, TransformersClassifier
from runtime.confirmed_cli import evaluate_confirmed_command
from runtime.costs import PRICES_AS_OF, VOLUMES, capacity_table
from runtime.evaluation import (
    LabelledImage,
    LabelsError,
    Outcome,
    confusion_png,
    evaluate,
    format_report,
    read_labels,
)
from runtime.images import ImageLimits, InvalidImage, prepare, too_large
from runtime.labels import NAMES
from runtime.local import LocalPipeline
from runtime.remote import RemotePipeline
from runtime.results import DEFAULT_READERS
from runtime.settings import (
    DEFAULT_DATA_DIR,
    ConfigError,
    LocalSettings,
    RemoteSettings,
    triage_rule_from_env,
)
from runtime.stores import S3Store
from runtime.submission import ResultTimeout
from runtime.triage import TriageRule, triage

_T = TypeVar("_T")

EXIT_OK = 0
EXIT_REJECTED = 1  # at least one file was refused or could not be read
EXIT_USAGE = 2  # argparse's own code for bad arguments; also a bad setting (ConfigError)
EXIT_MODEL = 3  # the model could not be loaded or failed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"dermascan: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE


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
            "directory) and print one JSON prediction record per line on stdout, and each "
            "file's triage level and malignant total on stderr. Exit codes: 0 all "
            "classified, 1 a file was refused (reason on stderr), 2 bad arguments or settings, "
            "3 the model failed."
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

    evaluate_cmd = commands.add_parser(
        "evaluate",
        help="measure the model on labelled images: per-class metrics, melanoma sensitivity, ...",
        description=(
            "Classify every image listed in a labels CSV (columns 'file' and 'label'; labels "
            "may be class codes or the model's names) and print and write the metrics: "
            "evaluation.json and confusion.png in --out. With --backend aws the images go "
            "through the deployed stack (DERMASCAN_BUCKET), an end-to-end test of it."
        ),
    )
    evaluate_cmd.add_argument("--images", type=Path, help="folder of the images")
    evaluate_cmd.add_argument("--labels", type=Path, help="CSV with file,label")
    evaluate_cmd.add_argument(
        "--confirmed",
        action="store_true",
        help="instead of labelled images: the stored results clinicians confirmed (live "
        "accuracy, with 95%% confidence intervals)",
    )
    evaluate_cmd.add_argument(
        "--owner",
        default=None,
        help="with --confirmed: whose results (default: local, or shared with --backend aws)",
    )
    evaluate_cmd.add_argument(
        "--bucket", default=None, help="with --backend aws: the stack's bucket (DERMASCAN_BUCKET)"
    )
    evaluate_cmd.add_argument("--backend", choices=("local", "aws"), default="local")
    evaluate_cmd.add_argument("--out", type=Path, default=Path("evaluation"))
    evaluate_cmd.add_argument("--batch-size", type=int, default=8)
    evaluate_cmd.set_defaults(run=_evaluate)

    cost = commands.add_parser(
        "cost",
        help="what the stack carries and costs per month, serverless and real-time",
        description=(
            "For each volume and hosting mode: the peak rate, what saturates first with "
            "Pulumi.yaml's defaults, the settings that carry the peak and the monthly cost at "
            f"AWS list prices as of {PRICES_AS_OF} (runtime/costs.py), as Markdown (the "
            "README's Capacity section is this output)."
        ),
    )
    cost.add_argument("--images-per-month", type=int, nargs="+", default=list(VOLUMES))
    cost.set_defaults(run=_cost)
    return parser


def _classify(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="dermascan-") as scratch:
        env = dict(os.environ)
        if not args.save:
            env["DERMASCAN_DATA_DIR"] = scratch
        rule = triage_rule_from_env(env)
        pipeline = LocalPipeline.from_settings(LocalSettings.from_env(env))
        try:
            return _classify_files(pipeline, args.images, args.indent, rule)
        finally:
            pipeline.close()


def _classify_files(
    pipeline: LocalPipeline, paths: Sequence[Path], indent: int | None, rule: TriageRule
) -> int:
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
        _summary(path, record.scores, rule)
    return exit_code


def _summary(path: Path, scores: Mapping[str, float], rule: TriageRule) -> None:
    """The file's triage, one line on stderr, risk first: stdout stays one record per line."""
    result = triage(scores, rule)
    print(
        f"dermascan: {path}: {result.level.title.upper()}: malignant classes "
        f"{result.malignant_total:.0%} ({NAMES[result.driver]} {scores[result.driver]:.0%}); "
        f"top class {NAMES[result.top]} {scores[result.top]:.0%}. {result.level.advice}",
        file=sys.stderr,
    )


def _read(path: Path, max_bytes: int) -> bytes:
    """Read a regular file of at most ``max_bytes``; refuse anything else, reading little.

    The path is opened without blocking (a FIFO would otherwise wait for a writer forever) and
    checked on the open descriptor, so the file checked is the file read. At most
    ``max_bytes + 1`` bytes are read, whatever its size claims (``/proc`` files claim 0).

    Raises:
        IsADirectoryError: ``path`` is a directory.
        OSError: it cannot be opened, or is no regular file (a FIFO, a device, a socket).
        InvalidImage: it is over ``max_bytes``.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise OSError(
                errno.EINVAL,
                "is not a regular file (a pipe, a device or a socket); save the image as a "
                "file and give its path",
            )
        if info.st_size > max_bytes:
            raise too_large(info.st_size, max_bytes)
        chunks: list[bytes] = []
        wanted = max_bytes + 1
        while wanted > 0 and (chunk := os.read(descriptor, min(wanted, 1 << 20))):
            chunks.append(chunk)
            wanted -= len(chunk)
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > max_bytes:  # it grew after the check, or its size was not its size
        raise too_large(max(len(data), info.st_size), max_bytes)
    return data


def _error(path: Path, message: str) -> None:
    # One line per file, whatever the message holds.
    print(f"dermascan: {path}: {' '.join(message.split())}", file=sys.stderr)


def _indented(data: dict[str, object], indent: int) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False)


def _cost(args: argparse.Namespace) -> int:
    if any(n < 0 for n in args.images_per_month):
        print("dermascan: --images-per-month must not be negative", file=sys.stderr)
        return EXIT_USAGE
    print(capacity_table(args.images_per_month))
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    rule = triage_rule_from_env(os.environ)
    if args.confirmed:
        live = evaluate_confirmed_command(args, rule)
        if live is None:
            return EXIT_USAGE
        return EXIT_OK if live.n else EXIT_REJECTED
    if args.images is None or args.labels is None:
        print("dermascan: evaluate needs --images and --labels, or --confirmed", file=sys.stderr)
        return EXIT_USAGE
    if args.owner is not None or args.bucket is not None:
        print(
            "dermascan: --owner and --bucket go with --confirmed (labelled images take the "
            "bucket from DERMASCAN_BUCKET)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        rows = read_labels(args.labels, args.images)
    except (OSError, LabelsError) as exc:
        print(f"dermascan: {exc}", file=sys.stderr)
        return EXIT_USAGE
    run = _outcomes_local if args.backend == "local" else _outcomes_aws
    try:
        outcomes, failures = run(rows, args.batch_size)
    except ModelUnavailable as exc:
        print(f"dermascan: {exc}", file=sys.stderr)
        return EXIT_MODEL
    report = evaluate(outcomes, failures, rule)
    print(format_report(report))
    args.out.mkdir(parents=True, exist_ok=True)
    document = report.to_dict() | {
        "backend": args.backend,
        "predictions": [
            {"file": o.path, "truth": o.truth, "predicted": o.predicted, "scores": dict(o.scores)}
            for o in outcomes
        ],
    }
    (args.out / "evaluation.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    (args.out / "confusion.png").write_bytes(confusion_png(report))
    print(f"dermascan: wrote {args.out / 'evaluation.json'} and confusion.png", file=sys.stderr)
    return EXIT_OK if outcomes else EXIT_REJECTED


def _progress(items: Sequence[_T], label: str) -> Iterator[_T]:
    """Yield items, drawing a progress line on a terminal (and nothing in logs)."""
    live = sys.stderr.isatty() and len(items) > 1
    for done, item in enumerate(items, start=1):
        yield item
        if live:
            bar = "#" * (30 * done // len(items))
            print(f"\r{label} [{bar:<30}] {done}/{len(items)}", end="", file=sys.stderr)
    if live:
        print(file=sys.stderr)


def _outcomes_local(
    rows: Sequence[LabelledImage], batch_size: int
) -> tuple[list[Outcome], dict[str, str]]:
    settings = LocalSettings.from_env(os.environ)  # a bad setting stops before any work
    limits = ImageLimits()
    failures: dict[str, str] = {}
    prepared: list[tuple[LabelledImage, bytes]] = []
    for row in _progress(rows, "preparing"):
        try:
            prepared.append((row, prepare(_read(row.path, limits.max_bytes), limits).jpeg))
        except InvalidImage as exc:
            failures[str(row.path)] = str(exc)
        except OSError as exc:
            failures[str(row.path)] = exc.strerror or str(exc)
    classifier = TransformersClassifier(settings.model, settings.model_revision)
    batches = [prepared[i : i + batch_size] for i in range(0, len(prepared), batch_size)]
    outcomes: list[Outcome] = []
    for batch in _progress(batches, "classifying"):
        scores = classifier.classify_many([jpeg for _, jpeg in batch], batch_size=batch_size)
        outcomes += [
            Outcome(str(row.path), row.truth, s) for (row, _), s in zip(batch, scores, strict=True)
        ]
    return outcomes, failures


def _outcomes_aws(
    rows: Sequence[LabelledImage], batch_size: int
) -> tuple[list[Outcome], dict[str, str]]:
    import boto3
    from botocore.config import Config

    settings = RemoteSettings.from_env(os.environ)
    client = boto3.client("s3", config=Config(max_pool_connections=DEFAULT_READERS))
    remote = RemotePipeline(S3Store(client, settings.bucket), timeout=settings.result_timeout)
    failures: dict[str, str] = {}
    submitted: list[tuple[LabelledImage, str]] = []
    for row in _progress(rows, "uploading"):  # all at once: the stack works in parallel
        try:
            submitted.append(
                (row, remote.submit(_read(row.path, remote.limits.max_bytes), "evaluation"))
            )
        except InvalidImage as exc:
            failures[str(row.path)] = str(exc)
        except OSError as exc:
            failures[str(row.path)] = exc.strerror or str(exc)
    outcomes: list[Outcome] = []
    for row, prediction_id in _progress(submitted, "waiting"):
        try:
            record = remote.wait(prediction_id, "evaluation")
        except ResultTimeout as exc:
            failures[str(row.path)] = str(exc)
            continue
        if record.status == "ok":
            outcomes.append(Outcome(str(row.path), row.truth, dict(record.scores)))
        else:
            failures[str(row.path)] = record.error.message if record.error else "error"
    return outcomes, failures
