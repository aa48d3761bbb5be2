"""``dermascan evaluate --confirmed``: live accuracy over the results clinicians confirmed, read
from the local data directory or the stack's bucket."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from runtime.confirmed import confirmed_results
from runtime.evaluation import confusion_png
from runtime.keys import LOCAL_OWNER, SHARED_OWNER, InvalidKey, KeyLayout, check_owner
from runtime.live_accuracy import ConfirmedReport, evaluate_confirmed, format_confirmed
from runtime.outcomes import ConfirmedOutcome
from runtime.records import Prediction, UnreadableRecord
from runtime.results import DEFAULT_READERS
from runtime.settings import LocalSettings, RemoteSettings
from runtime.stores import LocalStore, S3Store, Store
from runtime.triage import TriageRule


def evaluate_confirmed_command(
    args: argparse.Namespace, rule: TriageRule
) -> ConfirmedReport | None:
    """Print the live-accuracy report and write ``evaluation.json`` and ``confusion.png`` in
    ``args.out``; returns the report, or None after printing why the arguments are unusable
    (``runtime.cli`` turns that into its exit codes).

    Raises:
        ConfigError: a setting (``DERMASCAN_BUCKET``, ``DERMASCAN_DATA_DIR``) is unusable.
    """
    if args.images is not None or args.labels is not None:
        print(
            "dermascan: --confirmed reads stored results: give no --images or --labels",
            file=sys.stderr,
        )
        return None
    env = dict(os.environ)
    if args.bucket:
        env["DERMASCAN_BUCKET"] = args.bucket
    store: Store
    if args.backend == "aws":
        store, default_owner = _bucket(RemoteSettings.from_env(env).bucket), SHARED_OWNER
    else:
        data_dir = LocalSettings.from_env(env).data_dir
        if not data_dir.is_dir():
            print(
                f"dermascan: no data directory at {data_dir} (DERMASCAN_DATA_DIR)", file=sys.stderr
            )
            return None
        store, default_owner = LocalStore(data_dir), LOCAL_OWNER
    try:
        owner = check_owner(args.owner or default_owner)
    except InvalidKey as exc:
        print(f"dermascan: --owner: {exc}", file=sys.stderr)
        return None
    problems: list[UnreadableRecord] = []
    pairs = confirmed_results(store, KeyLayout(), owner, on_unreadable=problems.append)
    report = evaluate_confirmed(pairs, rule)
    print(format_confirmed(report))
    for problem in problems:
        print(f"dermascan: left out {problem.key}: {problem.reason}", file=sys.stderr)
    _write(args.out, report, pairs, problems, args.backend, owner)
    return report


def _bucket(bucket: str) -> S3Store:
    import boto3
    from botocore.config import Config

    # As many connections as reads in flight (runtime.confirmed reads in a pool of this size).
    return S3Store(boto3.client("s3", config=Config(max_pool_connections=DEFAULT_READERS)), bucket)


def _write(
    out: Path,
    report: ConfirmedReport,
    pairs: list[tuple[Prediction, ConfirmedOutcome]],
    problems: list[UnreadableRecord],
    backend: str,
    owner: str,
) -> None:
    document: dict[str, Any] = report.to_dict() | {
        "backend": backend,
        "owner": owner,
        "left_out": [{"key": p.key, "reason": p.reason} for p in problems],
        "cases": [
            {
                "id": prediction.id,
                "diagnosis": outcome.diagnosis,
                "method": outcome.method,
                "confirmed_on": outcome.confirmed_on.isoformat(),
                "predicted": prediction.top,
                "scores": dict(prediction.scores),
            }
            for prediction, outcome in pairs
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    (out / "confusion.png").write_bytes(confusion_png(report.report))
    print(f"dermascan: wrote {out / 'evaluation.json'} and confusion.png", file=sys.stderr)
