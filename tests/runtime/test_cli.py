"""The ``dermascan`` command: records as JSON, one-line errors and clear exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.models import random_vit
from runtime.cli import EXIT_MODEL, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, _read, main
from runtime.images import InvalidImage
from runtime.labels import CLASSES
from runtime.records import Prediction
from runtime.triage import triage

DERMASCAN = Path(sys.executable).with_name("dermascan")  # the installed console script


def run_dermascan(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DERMASCAN), *map(str, args)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def model_env(tiny_model_dir: Path, tmp_path: Path) -> dict[str, str]:
    return {"DERMASCAN_MODEL": str(tiny_model_dir), "DERMASCAN_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    path = tmp_path / "notes.jpg"  # a text file with an image's name
    path.write_text("lesion on left forearm, 4 mm, irregular border\n")
    return path


def test_the_command_prints_a_valid_record(
    model_env: dict[str, str], sample_paths: dict[str, Path]
) -> None:
    done = run_dermascan("classify", sample_paths["mel"], env=model_env)
    assert done.returncode == EXIT_OK, done.stderr
    record = Prediction.from_json(done.stdout)
    assert record.status == "ok"
    assert list(record.scores) == list(CLASSES)
    assert record.model.id == model_env["DERMASCAN_MODEL"]
    assert record.image is not None
    assert record.image.format == "JPEG"


def test_a_text_file_gives_a_one_line_error_and_a_non_zero_exit(
    model_env: dict[str, str], notes: Path
) -> None:
    done = run_dermascan("classify", notes, env=model_env)
    assert done.returncode == EXIT_REJECTED
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"dermascan: {notes}: This file is not an image")


def test_a_model_that_cannot_be_downloaded_says_what_to_do(
    tmp_path: Path, sample_paths: dict[str, Path]
) -> None:
    env = {
        "DERMASCAN_MODEL": "dermascan/no-such-model",
        "HF_HUB_OFFLINE": "1",  # as on a machine without network
        "HF_HOME": str(tmp_path / "hf"),  # with nothing cached
    }
    done = run_dermascan("classify", sample_paths["nv"], env=env)
    assert done.returncode == EXIT_MODEL
    assert "DERMASCAN_MODEL" in done.stderr
    assert "network" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_model_whose_scores_do_not_sum_to_1_exits_3_without_a_traceback(
    tmp_path: Path, sample_paths: dict[str, Path]
) -> None:
    # The tiny ViT with a multi-label head: transformers applies a sigmoid, so the seven scores
    # are independent and do not sum to 1. They must never become a record.
    model = random_vit(tmp_path / "sigmoid-vit", "tiny")
    config = json.loads((model / "config.json").read_text())
    config["problem_type"] = "multi_label_classification"
    (model / "config.json").write_text(json.dumps(config))
    env = {"DERMASCAN_MODEL": str(model), "DERMASCAN_DATA_DIR": str(tmp_path / "data")}
    done = run_dermascan("classify", sample_paths["mel"], env=env)
    assert done.returncode == EXIT_MODEL, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("dermascan:")]
    assert "the model failed" in line
    assert "not 1" in line


def test_several_files_each_get_a_line_and_bad_ones_do_not_stop_the_rest(
    model_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sample_paths: dict[str, Path],
    notes: Path,
    tmp_path: Path,
) -> None:
    for name, value in model_env.items():
        monkeypatch.setenv(name, value)
    missing = tmp_path / "missing.png"
    code = main(["classify", str(sample_paths["nv"]), str(notes), str(missing), str(tmp_path)])
    assert code == EXIT_REJECTED
    out, err = capsys.readouterr()
    records = [Prediction.from_json(line) for line in out.splitlines()]
    assert [r.status for r in records] == ["ok"]
    # (transformers' own progress bars may share stderr; our lines start with "dermascan:")
    lines = [line for line in err.splitlines() if line.startswith("dermascan:")]
    assert len(lines) == 4
    result = triage(records[0].scores)
    assert lines[0].startswith(
        f"dermascan: {sample_paths['nv']}: {result.level.title.upper()}: malignant classes "
        f"{result.malignant_total:.0%} ("
    )
    assert lines[1].startswith(f"dermascan: {notes}: This file is not an image")
    assert lines[2] == f"dermascan: {missing}: No such file or directory"
    assert lines[3] == f"dermascan: {tmp_path}: is a directory"


def test_nothing_is_kept_unless_asked(
    model_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sample_paths: dict[str, Path],
) -> None:
    for name, value in model_env.items():
        monkeypatch.setenv(name, value)
    data_dir = Path(model_env["DERMASCAN_DATA_DIR"])
    assert main(["classify", str(sample_paths["df"])]) == EXIT_OK
    assert not data_dir.exists()
    capsys.readouterr()

    assert main(["classify", "--save", "--indent", "2", str(sample_paths["df"])]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith('{\n  "schema_version": 2,')
    record = Prediction.from_dict(json.loads(out))
    assert (data_dir / record.upload_key).is_file()
    assert (data_dir / f"predictions/local/{record.id}.json").is_file()


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["classify"])
    assert usage.value.code == 2
    assert "IMAGE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("DERMASCAN_WORKERS", "x"),
        ("DERMASCAN_WORKERS", "0"),
        ("DERMASCAN_RESULT_TIMEOUT", "soon"),
    ],
)
def test_a_bad_setting_exits_2_naming_the_variable(
    model_env: dict[str, str], sample_paths: dict[str, Path], setting: str, value: str
) -> None:
    done = run_dermascan("classify", sample_paths["mel"], env={**model_env, setting: value})
    assert done.returncode == EXIT_USAGE, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"dermascan: configuration error: {setting} must be")
    assert repr(value) in line


def test_evaluating_a_stack_without_its_bucket_exits_2_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("DERMASCAN_BUCKET", raising=False)
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\nmissing.jpg,mel\n")
    out = tmp_path / "out"
    arguments = ["--images", str(tmp_path), "--labels", str(labels), "--out", str(out)]
    code = main(["evaluate", *arguments, "--backend", "aws"])
    assert code == EXIT_USAGE
    assert "DERMASCAN_BUCKET must be" in capsys.readouterr().err
    assert not out.exists()


def test_the_triage_line_leads_with_the_level_and_the_malignant_total(
    model_env: dict[str, str], sample_paths: dict[str, Path]
) -> None:
    # A threshold of 1 % refers anything the tiny model is sure of; its flat answers stay
    # uncertain. Either way the line names a level a clinician must act on, never the lowest.
    env = {**model_env, "DERMASCAN_REFER_THRESHOLD": "0.01"}
    done = run_dermascan("classify", sample_paths["mel"], env=env)
    assert done.returncode == EXIT_OK, done.stderr
    record = Prediction.from_json(done.stdout)
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("dermascan:")]
    total = sum(record.scores[code] for code in ("akiec", "bcc", "mel"))
    assert f"malignant classes {total:.0%}" in line
    assert line.split(": ")[2] in {"REFER", "UNCERTAIN"}

    bad = run_dermascan(
        "classify", sample_paths["mel"], env={**env, "DERMASCAN_REFER_THRESHOLD": "25"}
    )
    assert bad.returncode == EXIT_USAGE
    assert "DERMASCAN_REFER_THRESHOLD must be a fraction between 0 and 1" in bad.stderr


def test_a_fifo_and_a_device_are_refused_at_once_not_read(
    model_env: dict[str, str], tmp_path: Path
) -> None:
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)  # nobody ever writes to it: reading it would wait forever
    done = subprocess.run(
        [str(DERMASCAN), "classify", str(fifo), "/dev/zero"],
        env={**os.environ, **model_env},
        capture_output=True,
        text=True,
        timeout=120,  # a hang fails here instead of stalling the suite
        check=False,
    )
    assert done.returncode == EXIT_REJECTED
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("dermascan:")]
    refusal = "is not a regular file (a pipe, a device or a socket)"
    assert lines == [
        f"dermascan: {fifo}: {refusal}; save the image as a file and give its path",
        f"dermascan: /dev/zero: {refusal}; save the image as a file and give its path",
    ]


def test_reading_stops_one_byte_past_the_limit_whatever_the_size_claims(tmp_path: Path) -> None:
    # /proc files say they are 0 bytes long; trusting that would read them whole.
    with pytest.raises(
        InvalidImage, match=r"^The file is 11 bytes; the limit is 10 bytes\.$"
    ) as refused:
        _read(Path("/proc/self/maps"), 10)
    assert refused.value.code == "too_large"
    exact = tmp_path / "exact.jpg"
    exact.write_bytes(b"x" * 10)
    assert _read(exact, 10) == b"x" * 10


def test_one_byte_over_10_mib_is_told_in_bytes(model_env: dict[str, str], tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + bytes(10 * 1024 * 1024 - 2))
    done = run_dermascan("classify", big, env=model_env)
    assert done.returncode == EXIT_REJECTED
    assert done.stderr.splitlines()[-1] == (
        f"dermascan: {big}: The file is 10,485,761 bytes; the limit is 10,485,760 bytes (10.0 MB)."
    )
