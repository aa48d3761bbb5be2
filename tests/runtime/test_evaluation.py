"""runtime.evaluation and `dermascan evaluate`: metrics checked by hand, failures reported."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from PIL import Image

from runtime.cli import EXIT_OK, EXIT_USAGE, main
from runtime.evaluation import LabelsError, Outcome, evaluate, format_report, read_labels
from runtime.labels import CLASSES
from runtime.triage import TriageRule, triage
from tests.conftest import SAMPLES


def outcome(truth: str, predicted: str, confidence: float) -> Outcome:
    rest = (1 - confidence) / (len(CLASSES) - 1)
    scores = {code: confidence if code == predicted else rest for code in CLASSES}
    return Outcome(path=f"{truth}.jpg", truth=truth, scores=scores)


# Six images: truth -> predicted (confidence). The expected values below are worked by hand.
FIXED = [
    outcome("mel", "mel", 0.9),
    outcome("mel", "nv", 0.6),
    outcome("nv", "nv", 0.8),
    outcome("nv", "nv", 0.7),
    outcome("bcc", "mel", 0.5),
    outcome("bkl", "bkl", 0.95),
]


def test_metrics_equal_the_hand_computed_values() -> None:
    report = evaluate(FIXED)
    assert report.n == 6
    assert report.accuracy == pytest.approx(4 / 6)
    mel, nv, bcc, bkl = (report.per_class[c] for c in ("mel", "nv", "bcc", "bkl"))
    assert (mel.precision, mel.recall, mel.f1, mel.support) == pytest.approx((0.5, 0.5, 0.5, 2))
    assert (nv.precision, nv.recall, nv.f1, nv.support) == pytest.approx((2 / 3, 1.0, 0.8, 2))
    assert (bkl.precision, bkl.recall, bkl.f1) == (1.0, 1.0, 1.0)
    assert bcc.recall == 0.0
    assert math.isnan(bcc.precision)  # never predicted: undefined, not zero
    assert report.per_class["vasc"].support == 0
    # Mean recall over the classes present: (0.5 + 1 + 0 + 1) / 4.
    assert report.balanced_accuracy == pytest.approx(0.625)
    # Melanoma: 1 of 2 found; of 4 others, 1 (the bcc) called melanoma.
    assert (report.melanoma_sensitivity, report.melanoma_specificity) == pytest.approx((0.5, 0.75))
    # Malignant (mel, bcc, akiec): 2 of 3 called malignant; all 3 benign called benign.
    assert (report.malignant_sensitivity, report.malignant_specificity) == pytest.approx(
        (2 / 3, 1.0)
    )
    # One image per bin: |0.5-0| + |0.6-0| + |0.7-1| + |0.8-1| + |0.9-1| + |0.95-1|, over 6.
    assert report.expected_calibration_error == pytest.approx(1.75 / 6)
    assert report.confusion[CLASSES.index("bcc")][CLASSES.index("mel")] == 1
    assert sum(map(sum, report.confusion)) == 6


def test_the_triage_referral_table_equals_the_hand_computed_values() -> None:
    # Malignant total (akiec + bcc + mel) of each image, with the rule's level at 25 %:
    #   mel/mel 0.9   -> 0.933 refer (TP)      mel/nv 0.6  -> 0.200 no signal (FN)
    #   nv/nv 0.8     -> 0.100 (TN)            nv/nv 0.7   -> 0.150 (TN)
    #   bcc/mel 0.5   -> 0.667 refer: top unclear, but melanoma stands out at 50 % (TP)
    #   bkl/bkl 0.95  -> 0.025 (TN)
    report = evaluate(FIXED)
    chosen = report.referral
    counts = (
        chosen.true_positives,
        chosen.false_negatives,
        chosen.true_negatives,
        chosen.false_positives,
    )
    assert (chosen.threshold, counts) == (0.25, (2, 1, 3, 0))
    assert (chosen.sensitivity, chosen.specificity) == pytest.approx((2 / 3, 1.0))
    table = [(row.threshold, row.sensitivity, row.specificity) for row in report.referral_table]
    expected = [
        (0.05, 1.0, 1 / 3),  # the nevi at 0.10 and 0.15 are referred too
        (0.10, 1.0, 1 / 3),
        (0.15, 1.0, 2 / 3),  # the nevus at 0.10 is not
        (0.20, 1.0, 1.0),  # the missed melanoma (0.200) is caught, no benign referred
        *[(t, 2 / 3, 1.0) for t in (0.25, 0.30, 0.35, 0.40, 0.45, 0.50)],
    ]
    assert len(table) == len(expected)
    for row, want in zip(table, expected, strict=True):
        assert row == pytest.approx(want), row
    assert report.referral_table[4].flagged == pytest.approx(2 / 6)


def test_the_configured_threshold_is_the_one_reported() -> None:
    report = evaluate(FIXED, rule=TriageRule(refer_threshold=0.15))
    assert report.referral.threshold == 0.15
    assert (report.referral.sensitivity, report.referral.specificity) == pytest.approx((1.0, 2 / 3))
    (marked,) = [line for line in format_report(report).splitlines() if "<- configured" in line]
    assert marked.strip().startswith("15%")


def test_undefined_metrics_are_null_in_json() -> None:
    document = json.loads(json.dumps(evaluate(FIXED).to_dict(), allow_nan=False))
    assert document["per_class"]["bcc"]["precision"] is None


def test_labels_may_be_codes_or_the_models_names(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\na.jpg,mel\nb.jpg,melanocytic_Nevi\nc.jpg,Basal_Cell_Carcinoma\n")
    assert [r.truth for r in read_labels(labels, tmp_path)] == ["mel", "nv", "bcc"]
    labels.write_text("file,label\na.jpg,mole\n")
    with pytest.raises(LabelsError, match="line 2"):
        read_labels(labels, tmp_path)
    labels.write_text("name,kind\na.jpg,mel\n")
    with pytest.raises(LabelsError, match="'file' and a 'label' column"):
        read_labels(labels, tmp_path)


def test_evaluate_on_the_samples_reports_failures_and_writes_its_files(
    tmp_path: Path,
    tiny_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    images = tmp_path / "images"
    shutil.copytree(SAMPLES, images)
    (images / "notes.jpg").write_text("not an image")
    labels = images / "labels.csv"
    with labels.open("a") as handle:
        handle.write("notes.jpg,nv,,,,,,,\nmissing.jpg,mel,,,,,,,\n")
    monkeypatch.setenv("DERMASCAN_MODEL", str(tiny_model_dir))
    out = tmp_path / "out"

    code = main(["evaluate", "--images", str(images), "--labels", str(labels), "--out", str(out)])

    assert code == EXIT_OK
    printed = capsys.readouterr().out
    assert "images classified: 7   failed: 2" in printed
    # The referral table, checked against the predictions it came from.
    document = json.loads((out / "evaluation.json").read_text())
    malignant = {"akiec", "bcc", "mel"}
    for row in document["triage_referral_by_threshold"]:
        rule = TriageRule(refer_threshold=row["threshold"])
        flagged = [
            (p["truth"] in malignant, triage(p["scores"], rule).level.needs_clinician)
            for p in document["predictions"]
        ]
        assert row["true_positives"] == sum(1 for m, f in flagged if m and f)
        assert row["false_negatives"] == sum(1 for m, f in flagged if m and not f)
        assert row["false_positives"] == sum(1 for m, f in flagged if not m and f)
        assert row["true_negatives"] == sum(1 for m, f in flagged if not m and not f)
        line = (
            f"{row['threshold']:>36.0%}   {row['sensitivity']:>11.3f}  {row['specificity']:>11.3f}"
        )
        assert line in printed
    document = json.loads((out / "evaluation.json").read_text())
    assert document["n"] == 7
    assert sorted(Path(p).name for p in document["failures"]) == ["missing.jpg", "notes.jpg"]
    assert "not an image" in document["failures"][str(images / "notes.jpg")]
    assert len(document["predictions"]) == 7
    assert sum(map(sum, document["confusion"]["rows_true_columns_predicted"])) == 7
    with Image.open(out / "confusion.png") as png:
        assert png.format == "PNG"


def test_evaluate_without_a_labels_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["evaluate", "--images", str(tmp_path), "--labels", str(tmp_path / "none.csv")])
    assert code == EXIT_USAGE
    assert "none.csv" in capsys.readouterr().err
