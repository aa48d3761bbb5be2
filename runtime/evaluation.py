"""How well a model does on labelled images: the metrics a clinician asks for, in plain Python."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.labels import CLASSES, MALIGNANT, code_for
from runtime.triage import DEFAULT_RULE, TriageRule, triage

ECE_BINS = 10
REFERRAL_THRESHOLDS = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50)
"""The malignant-total thresholds ``evaluate`` tabulates, so a clinic can choose its own."""


@dataclass(frozen=True)
class LabelledImage:
    """One row of a labels file: an image path and its true class code."""

    path: Path
    truth: str


@dataclass(frozen=True)
class Outcome:
    """The model's scores for one labelled image."""

    path: str
    truth: str
    scores: Mapping[str, float]

    @property
    def predicted(self) -> str:
        return max(CLASSES, key=lambda code: self.scores[code])


@dataclass(frozen=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Referral:
    """How the triage rule at one referral threshold sorts the malignant lesions.

    A lesion counts as flagged when its level sends it to a clinician (refer or uncertain),
    and as malignant when its confirmed class is akiec, bcc or mel.
    """

    threshold: float
    true_positives: int
    false_negatives: int
    true_negatives: int
    false_positives: int

    @property
    def sensitivity(self) -> float:
        """Malignant lesions flagged, of all malignant lesions."""
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)

    @property
    def specificity(self) -> float:
        """Benign lesions not flagged, of all benign lesions."""
        return _ratio(self.true_negatives, self.true_negatives + self.false_positives)

    @property
    def flagged(self) -> float:
        """The share of all lesions flagged: a clinic's workload."""
        total = self.true_positives + self.false_negatives
        total += self.true_negatives + self.false_positives
        return _ratio(self.true_positives + self.false_positives, total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
            "flagged": self.flagged,
            "true_positives": self.true_positives,
            "false_negatives": self.false_negatives,
            "true_negatives": self.true_negatives,
            "false_positives": self.false_positives,
        }


def referral(outcomes: Sequence[Outcome], rule: TriageRule) -> Referral:
    """The triage rule's referrals of malignant lesions among ``outcomes``."""
    counts = {"tp": 0, "fn": 0, "tn": 0, "fp": 0}
    for outcome in outcomes:
        flagged = triage(outcome.scores, rule).level.needs_clinician
        malignant = outcome.truth in MALIGNANT
        key = ("tp" if flagged else "fn") if malignant else ("fp" if flagged else "tn")
        counts[key] += 1
    return Referral(rule.refer_threshold, counts["tp"], counts["fn"], counts["tn"], counts["fp"])


def referral_table(
    outcomes: Sequence[Outcome],
    rule: TriageRule = DEFAULT_RULE,
    thresholds: Sequence[float] = REFERRAL_THRESHOLDS,
) -> list[Referral]:
    """``referral`` at each threshold, the rule's other settings unchanged."""
    return [referral(outcomes, dataclasses.replace(rule, refer_threshold=t)) for t in thresholds]


@dataclass(frozen=True)
class Report:
    """Everything ``dermascan evaluate`` prints and writes."""

    n: int
    accuracy: float
    balanced_accuracy: float
    per_class: Mapping[str, ClassMetrics]
    melanoma_sensitivity: float
    melanoma_specificity: float
    malignant_sensitivity: float
    malignant_specificity: float
    expected_calibration_error: float
    confusion: Sequence[Sequence[int]]
    """Rows are the true classes, columns the predicted ones, both in CLASSES order."""
    referral: Referral
    """The triage rule at the configured threshold."""
    referral_table: Sequence[Referral]
    """The triage rule over ``REFERRAL_THRESHOLDS``."""
    failures: Mapping[str, str] = field(default_factory=dict)
    """Images that could not be classified, with why."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; undefined metrics (NaN, such as the precision of a class never
        predicted) become null, since JSON has no NaN."""
        document: dict[str, Any] = _nan_to_none(
            {
                "n": self.n,
                "accuracy": self.accuracy,
                "balanced_accuracy": self.balanced_accuracy,
                "per_class": {
                    code: {
                        "precision": m.precision,
                        "recall": m.recall,
                        "f1": m.f1,
                        "support": m.support,
                    }
                    for code, m in self.per_class.items()
                },
                "melanoma": {
                    "sensitivity": self.melanoma_sensitivity,
                    "specificity": self.melanoma_specificity,
                },
                "malignant_vs_benign": {
                    "sensitivity": self.malignant_sensitivity,
                    "specificity": self.malignant_specificity,
                },
                "expected_calibration_error": self.expected_calibration_error,
                "triage_referral": self.referral.to_dict(),
                "triage_referral_by_threshold": [row.to_dict() for row in self.referral_table],
                "confusion": {
                    "classes": list(CLASSES),
                    "rows_true_columns_predicted": self.confusion,
                },
                "failures": dict(self.failures),
            }
        )
        return document


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


class LabelsError(ValueError):
    """The labels file cannot be read; the message says what is wrong with it."""


def read_labels(labels_csv: Path, images_dir: Path) -> list[LabelledImage]:
    """Read ``file,label`` rows (other columns are ignored); labels are codes or model labels.

    Raises:
        LabelsError: no file/label columns, or a label that is no class.
    """
    with labels_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = {name.strip().lower(): name for name in reader.fieldnames or []}
        file_column = next((columns[c] for c in ("file", "image", "path") if c in columns), None)
        label_column = next(
            (columns[c] for c in ("label", "dx", "diagnosis") if c in columns), None
        )
        if file_column is None or label_column is None:
            raise LabelsError(
                f"{labels_csv} needs a 'file' and a 'label' column, got {reader.fieldnames}"
            )
        rows = []
        for number, row in enumerate(reader, start=2):
            try:
                truth = code_for(row[label_column])
            except ValueError as exc:
                raise LabelsError(f"{labels_csv}, line {number}: {exc}") from None
            rows.append(LabelledImage(images_dir / row[file_column], truth))
    return rows


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


def _binary(outcomes: Sequence[Outcome], positive: frozenset[str]) -> tuple[float, float]:
    """Sensitivity and specificity of "top class in ``positive``" for truth in ``positive``."""
    tp = sum(1 for o in outcomes if o.truth in positive and o.predicted in positive)
    fn = sum(1 for o in outcomes if o.truth in positive and o.predicted not in positive)
    tn = sum(1 for o in outcomes if o.truth not in positive and o.predicted not in positive)
    fp = sum(1 for o in outcomes if o.truth not in positive and o.predicted in positive)
    return _ratio(tp, tp + fn), _ratio(tn, tn + fp)


def expected_calibration_error(outcomes: Sequence[Outcome], bins: int = ECE_BINS) -> float:
    """Mean gap between confidence (top score) and accuracy, over equal-width bins, weighted."""
    if not outcomes:
        return float("nan")
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [
            o
            for o in outcomes
            if low < o.scores[o.predicted] <= high or (b == 0 and o.scores[o.predicted] == 0)
        ]
        if members:
            confidence = sum(o.scores[o.predicted] for o in members) / len(members)
            accuracy = sum(1 for o in members if o.predicted == o.truth) / len(members)
            total += len(members) / len(outcomes) * abs(confidence - accuracy)
    return total


def evaluate(
    outcomes: Sequence[Outcome],
    failures: Mapping[str, str] | None = None,
    rule: TriageRule = DEFAULT_RULE,
) -> Report:
    """All metrics for the classified images (failures are listed, not counted), and the
    triage ``rule``'s referral of malignant lesions."""
    index = {code: i for i, code in enumerate(CLASSES)}
    confusion = [[0] * len(CLASSES) for _ in CLASSES]
    for outcome in outcomes:
        confusion[index[outcome.truth]][index[outcome.predicted]] += 1
    per_class = {}
    for code, i in index.items():
        tp = confusion[i][i]
        predicted = sum(row[i] for row in confusion)
        support = sum(confusion[i])
        precision, recall = _ratio(tp, predicted), _ratio(tp, support)
        f1 = (
            2 * precision * recall / (precision + recall)
            if predicted and support and precision + recall > 0
            else (0.0 if predicted and support else float("nan"))
        )
        per_class[code] = ClassMetrics(precision, recall, f1, support)
    recalls = [m.recall for m in per_class.values() if m.support]
    mel_sens, mel_spec = _binary(outcomes, frozenset({"mel"}))
    mal_sens, mal_spec = _binary(outcomes, MALIGNANT)
    return Report(
        n=len(outcomes),
        accuracy=_ratio(sum(confusion[i][i] for i in range(len(CLASSES))), len(outcomes)),
        balanced_accuracy=sum(recalls) / len(recalls) if recalls else float("nan"),
        per_class=per_class,
        melanoma_sensitivity=mel_sens,
        melanoma_specificity=mel_spec,
        malignant_sensitivity=mal_sens,
        malignant_specificity=mal_spec,
        expected_calibration_error=expected_calibration_error(outcomes),
        confusion=confusion,
        referral=referral(outcomes, rule),
        referral_table=referral_table(outcomes, rule),
        failures=dict(failures or {}),
    )


def format_report(report: Report) -> str:
    """The report as text for a terminal."""
    lines = [
        f"images classified: {report.n}   failed: {len(report.failures)}",
        f"accuracy {report.accuracy:.3f}   balanced accuracy {report.balanced_accuracy:.3f}   "
        f"expected calibration error {report.expected_calibration_error:.3f}",
        f"melanoma: sensitivity {report.melanoma_sensitivity:.3f}, "
        f"specificity {report.melanoma_specificity:.3f}",
        f"malignant vs benign: sensitivity {report.malignant_sensitivity:.3f}, "
        f"specificity {report.malignant_specificity:.3f}",
        "",
        f"{'class':<7}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}",
    ]
    for code, m in report.per_class.items():
        lines.append(f"{code:<7}{m.precision:>10.3f}{m.recall:>8.3f}{m.f1:>8.3f}{m.support:>9}")
    chosen = report.referral
    lines += [
        "",
        f"triage at the referral threshold of {chosen.threshold:.0%}: malignant lesions flagged "
        f"(refer or uncertain) sensitivity {chosen.sensitivity:.3f}, "
        f"specificity {chosen.specificity:.3f}",
        "",
        "referral threshold (malignant total)   sensitivity  specificity  flagged   TP  FN  TN  FP",
    ]
    for row in report.referral_table:
        mark = " <- configured" if math.isclose(row.threshold, chosen.threshold) else ""
        lines.append(
            f"{row.threshold:>36.0%}   {row.sensitivity:>11.3f}  {row.specificity:>11.3f}  "
            f"{row.flagged:>7.0%}  {row.true_positives:>3} {row.false_negatives:>3} "
            f"{row.true_negatives:>3} {row.false_positives:>3}{mark}"
        )
    if report.failures:
        lines += ["", "failed:"] + [f"  {path}: {why}" for path, why in report.failures.items()]
    return "\n".join(lines)


def confusion_png(report: Report) -> bytes:
    """The confusion matrix as a PNG (rows true, columns predicted), drawn with Pillow."""
    from PIL import Image, ImageDraw

    cell, margin = 56, 70
    size = margin + cell * len(CLASSES) + 10
    image = Image.new("RGB", (size, size + 20), "white")
    draw = ImageDraw.Draw(image)
    largest = max((max(row) for row in report.confusion), default=0) or 1
    for i, row in enumerate(report.confusion):
        for j, count in enumerate(row):
            shade = int(235 - 200 * count / largest)
            x, y = margin + j * cell, margin + i * cell
            draw.rectangle((x, y, x + cell - 2, y + cell - 2), fill=(shade, shade, 255))
            draw.text((x + cell // 2 - 6, y + cell // 2 - 6), str(count), fill="black")
    for k, code in enumerate(CLASSES):
        draw.text((margin + k * cell + 10, margin - 20), code, fill="black")
        draw.text((10, margin + k * cell + cell // 2 - 6), code, fill="black")
    draw.text((margin, 8), "predicted ->", fill="black")
    draw.text((10, size), "rows: true class", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
