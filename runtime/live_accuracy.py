"""Live accuracy: every metric of ``evaluate`` over an owner's confirmed results, each with its
95 % confidence interval, because a clinic has few confirmed cases.

Proportions (accuracy, per-class precision, recall and specificity, melanoma and malignant
sensitivity and specificity, the triage referral's sensitivity, specificity and flagged
share) get Wilson intervals; the rest (balanced accuracy, macro F1, per-class F1, expected
calibration error) a seeded percentile bootstrap over the cases, so the same cases always
give the same interval.

A confirmed diagnosis of ``other`` lies outside the seven classes the model knows, and
whether it is malignant is not recorded, so no metric here is defined for it: such cases are
left out of every metric, counted, and reported as left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from runtime.evaluation import Outcome, Referral, Report, evaluate
from runtime.intervals import UNDEFINED, Interval, bootstrap_together, wilson
from runtime.labels import CLASSES, MALIGNANT
from runtime.outcomes import OTHER, ConfirmedOutcome
from runtime.records import Prediction
from runtime.triage import DEFAULT_RULE, TriageRule

MIN_CONFIRMED: Final = 30
"""Below this many confirmed cases the figures are shown with a warning: an interval over a
handful of cases spans most of the range."""

_INDEX: Final = {code: i for i, code in enumerate(CLASSES)}


@dataclass(frozen=True)
class Estimate:
    """A metric, its 95 % interval, and for a proportion the counts it rests on."""

    value: float
    interval: Interval
    successes: int | None = None
    trials: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": None if math.isnan(self.value) else self.value,
            "interval": self.interval.to_list(),
            "successes": self.successes,
            "trials": self.trials,
        }


def proportion(successes: int, trials: int) -> Estimate:
    """``successes`` of ``trials`` with its Wilson interval (undefined without trials)."""
    value = successes / trials if trials else math.nan
    return Estimate(value, wilson(successes, trials), successes, trials)


@dataclass(frozen=True)
class ClassEstimates:
    precision: Estimate
    recall: Estimate
    specificity: Estimate
    f1: Estimate
    support: int


@dataclass(frozen=True)
class ReferralEstimates:
    """One row of the triage referral table, its proportions with intervals."""

    counts: Referral
    sensitivity: Estimate
    specificity: Estimate
    flagged: Estimate


@dataclass(frozen=True)
class ConfirmedReport:
    """What ``dermascan evaluate --confirmed`` prints and the Performance page shows."""

    confirmed: int
    """Results with a confirmed outcome, ``other`` included."""
    excluded_other: int
    """Of those, confirmed as ``other``: left out of every metric."""
    report: Report
    """``evaluate`` over the cases the metrics rest on (point values, confusion matrix)."""
    accuracy: Estimate
    balanced_accuracy: Estimate
    macro_f1: Estimate
    expected_calibration_error: Estimate
    per_class: Mapping[str, ClassEstimates]
    melanoma_sensitivity: Estimate
    melanoma_specificity: Estimate
    malignant_sensitivity: Estimate
    malignant_specificity: Estimate
    referral: ReferralEstimates
    referral_table: Sequence[ReferralEstimates]
    minimum: int = MIN_CONFIRMED

    @property
    def n(self) -> int:
        """The cases every metric rests on."""
        return self.report.n

    @property
    def too_few(self) -> bool:
        return self.n < self.minimum

    def warning(self) -> str | None:
        """The sentence to show above the figures when they rest on too few cases."""
        if not self.too_few:
            return None
        return (
            f"Too few confirmed cases for reliable figures: these rest on {self.n} confirmed "
            f"case{'s' if self.n != 1 else ''}, under the minimum of {self.minimum}. The "
            "intervals are wide and any single figure may be far from the model's true "
            "performance in this clinic."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; undefined values are null."""
        return {
            "confirmed": self.confirmed,
            "excluded_other": self.excluded_other,
            "n": self.n,
            "minimum": self.minimum,
            "too_few": self.too_few,
            "warning": self.warning(),
            "accuracy": self.accuracy.to_dict(),
            "balanced_accuracy": self.balanced_accuracy.to_dict(),
            "macro_f1": self.macro_f1.to_dict(),
            "expected_calibration_error": self.expected_calibration_error.to_dict(),
            "per_class": {
                code: {
                    "precision": m.precision.to_dict(),
                    "recall": m.recall.to_dict(),
                    "specificity": m.specificity.to_dict(),
                    "f1": m.f1.to_dict(),
                    "support": m.support,
                }
                for code, m in self.per_class.items()
            },
            "melanoma": {
                "sensitivity": self.melanoma_sensitivity.to_dict(),
                "specificity": self.melanoma_specificity.to_dict(),
            },
            "malignant_vs_benign": {
                "sensitivity": self.malignant_sensitivity.to_dict(),
                "specificity": self.malignant_specificity.to_dict(),
            },
            "triage_referral": _referral_dict(self.referral),
            "triage_referral_by_threshold": [_referral_dict(r) for r in self.referral_table],
            "confusion": {
                "classes": list(CLASSES),
                "rows_true_columns_predicted": self.report.confusion,
            },
        }


def _referral_dict(row: ReferralEstimates) -> dict[str, Any]:
    return {
        "threshold": row.counts.threshold,
        "sensitivity": row.sensitivity.to_dict(),
        "specificity": row.specificity.to_dict(),
        "flagged": row.flagged.to_dict(),
        "true_positives": row.counts.true_positives,
        "false_negatives": row.counts.false_negatives,
        "true_negatives": row.counts.true_negatives,
        "false_positives": row.counts.false_positives,
    }


# --- the bootstrap's metrics, over (true index, predicted index, ECE bin, confidence) -------

_Case = tuple[int, int, int, float]


def _confusion(cases: Sequence[_Case]) -> list[list[int]]:
    confusion = [[0] * len(CLASSES) for _ in CLASSES]
    for truth, predicted, _, _ in cases:
        confusion[truth][predicted] += 1
    return confusion


def _f1(confusion: Sequence[Sequence[int]], i: int) -> float:
    """F1 of class ``i``; undefined without support, 0 when it is never predicted (its recall
    is 0 then, and so is any harmonic mean with it)."""
    support = sum(confusion[i])
    predicted = sum(row[i] for row in confusion)
    tp = confusion[i][i]
    if not support:
        return math.nan
    return 2 * tp / (support + predicted)  # = 2PR/(P+R), and 0 when tp is 0


def _balanced_accuracy(confusion: Sequence[Sequence[int]]) -> float:
    recalls = [row[i] / sum(row) for i, row in enumerate(confusion) if sum(row)]
    return sum(recalls) / len(recalls) if recalls else math.nan


def _macro_f1(confusion: Sequence[Sequence[int]]) -> float:
    """Mean F1 over the classes that occur among the confirmed diagnoses."""
    scores = [f for i in range(len(CLASSES)) if not math.isnan(f := _f1(confusion, i))]
    return sum(scores) / len(scores) if scores else math.nan


def _resampled(bins: int) -> Callable[[Sequence[_Case]], list[float]]:
    """The bootstrap's metrics of a resample, in one pass: balanced accuracy, macro F1, the
    expected calibration error, then each class's F1 in ``CLASSES`` order."""

    def metrics(cases: Sequence[_Case]) -> list[float]:
        confusion = _confusion(cases)
        return [
            _balanced_accuracy(confusion),
            _macro_f1(confusion),
            _ece(cases, bins),
            *(_f1(confusion, i) for i in range(len(CLASSES))),
        ]

    return metrics


def _ece(cases: Sequence[_Case], bins: int) -> float:
    if not cases:
        return math.nan
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for truth, predicted, b, confidence in cases:
        members[b].append((confidence, truth == predicted))
    total = 0.0
    for group in members:
        if group:
            confidence = sum(c for c, _ in group) / len(group)
            accuracy = sum(1 for _, right in group if right) / len(group)
            total += len(group) / len(cases) * abs(confidence - accuracy)
    return total


def _bin(confidence: float, bins: int) -> int:
    """The bin ``evaluation.expected_calibration_error`` puts a confidence in (same edges)."""
    for b in range(bins):
        if b / bins < confidence <= (b + 1) / bins or (b == 0 and confidence == 0):
            return b
    return bins - 1


def _referral_estimates(row: Referral) -> ReferralEstimates:
    malignant = row.true_positives + row.false_negatives
    benign = row.true_negatives + row.false_positives
    return ReferralEstimates(
        counts=row,
        sensitivity=proportion(row.true_positives, malignant),
        specificity=proportion(row.true_negatives, benign),
        flagged=proportion(row.true_positives + row.false_positives, malignant + benign),
    )


def _binary(outcomes: Sequence[Outcome], positive: frozenset[str]) -> tuple[Estimate, Estimate]:
    tp = sum(1 for o in outcomes if o.truth in positive and o.predicted in positive)
    fn = sum(1 for o in outcomes if o.truth in positive and o.predicted not in positive)
    tn = sum(1 for o in outcomes if o.truth not in positive and o.predicted not in positive)
    fp = sum(1 for o in outcomes if o.truth not in positive and o.predicted in positive)
    return proportion(tp, tp + fn), proportion(tn, tn + fp)


def evaluate_confirmed(
    pairs: Sequence[tuple[Prediction, ConfirmedOutcome]],
    rule: TriageRule = DEFAULT_RULE,
    minimum: int = MIN_CONFIRMED,
    bins: int = 10,
) -> ConfirmedReport:
    """Every metric of ``evaluate`` over confirmed results (``runtime.confirmed``), with
    intervals; outcomes of ``other`` are counted and left out.

    Args:
        pairs: each classified result with the confirmed outcome that counts for it.
        rule: the triage rule whose referrals are tabulated.
        minimum: below this many cases ``ConfirmedReport.warning`` says so.
        bins: of the expected calibration error (``evaluation.ECE_BINS``).
    """
    outcomes = [
        Outcome(path=prediction.id, truth=outcome.diagnosis, scores=dict(prediction.scores))
        for prediction, outcome in pairs
        if outcome.diagnosis != OTHER
    ]
    report = evaluate(outcomes, rule=rule)
    cases: list[_Case] = []
    for o in outcomes:
        confidence = o.scores[o.predicted]
        cases.append((_INDEX[o.truth], _INDEX[o.predicted], _bin(confidence, bins), confidence))
    confusion = report.confusion
    n = report.n
    balanced, macro, calibration, *class_f1 = bootstrap_together(cases, _resampled(bins))
    per_class = {}
    for code, i in _INDEX.items():
        tp = confusion[i][i]
        support = sum(confusion[i])
        predicted = sum(row[i] for row in confusion)
        negatives = n - support
        true_negatives = negatives - (predicted - tp)
        per_class[code] = ClassEstimates(
            precision=proportion(tp, predicted),
            recall=proportion(tp, support),
            specificity=proportion(true_negatives, negatives),
            # A class no confirmed case has gets no interval, whatever a resample holds.
            f1=Estimate(_f1(confusion, i), class_f1[i] if support else UNDEFINED),
            support=support,
        )
    mel_sens, mel_spec = _binary(outcomes, frozenset({"mel"}))
    mal_sens, mal_spec = _binary(outcomes, MALIGNANT)
    return ConfirmedReport(
        confirmed=len(pairs),
        excluded_other=len(pairs) - n,
        report=report,
        accuracy=proportion(sum(confusion[i][i] for i in range(len(CLASSES))), n),
        balanced_accuracy=Estimate(report.balanced_accuracy, balanced),
        macro_f1=Estimate(_macro_f1(confusion), macro),
        expected_calibration_error=Estimate(report.expected_calibration_error, calibration),
        per_class=per_class,
        melanoma_sensitivity=mel_sens,
        melanoma_specificity=mel_spec,
        malignant_sensitivity=mal_sens,
        malignant_specificity=mal_spec,
        referral=_referral_estimates(report.referral),
        referral_table=[_referral_estimates(row) for row in report.referral_table],
        minimum=minimum,
    )


def _show(estimate: Estimate) -> str:
    if math.isnan(estimate.value):
        return "undefined (no cases)"
    low, high = estimate.interval.low, estimate.interval.high
    interval = "interval undefined" if math.isnan(low) else f"95% CI {low:.3f}-{high:.3f}"
    counts = f"; {estimate.successes} of {estimate.trials}" if estimate.trials is not None else ""
    return f"{estimate.value:.3f} ({interval}{counts})"


def format_confirmed(report: ConfirmedReport) -> str:
    """The report as text for a terminal, the warning first when the cases are too few."""
    lines = []
    if report.warning():
        lines += [f"WARNING: {report.warning()}", ""]
    lines += [
        f"confirmed results: {report.confirmed}   metrics rest on: {report.n}   "
        f"left out (confirmed as other, outside the seven classes): {report.excluded_other}",
        f"accuracy                    {_show(report.accuracy)}",
        f"balanced accuracy           {_show(report.balanced_accuracy)}",
        f"macro F1                    {_show(report.macro_f1)}",
        f"expected calibration error  {_show(report.expected_calibration_error)}",
        f"melanoma sensitivity        {_show(report.melanoma_sensitivity)}",
        f"melanoma specificity        {_show(report.melanoma_specificity)}",
        f"malignant sensitivity       {_show(report.malignant_sensitivity)}",
        f"malignant specificity       {_show(report.malignant_specificity)}",
        "",
        "per class (support = confirmed cases of that class)",
    ]
    for code, m in report.per_class.items():
        lines += [
            f"  {code} (support {m.support})",
            f"    precision    {_show(m.precision)}",
            f"    recall       {_show(m.recall)}",
            f"    specificity  {_show(m.specificity)}",
            f"    F1           {_show(m.f1)}",
        ]
    chosen = report.referral
    lines += [
        "",
        f"triage at the referral threshold of {chosen.counts.threshold:.0%} (malignant lesions "
        "flagged as refer or uncertain):",
        f"  sensitivity  {_show(chosen.sensitivity)}",
        f"  specificity  {_show(chosen.specificity)}",
        "",
        "referral threshold   sensitivity (95% CI)       specificity (95% CI)       flagged",
    ]
    for row in report.referral_table:
        mark = (
            " <- configured" if math.isclose(row.counts.threshold, chosen.counts.threshold) else ""
        )
        lines.append(
            f"{row.counts.threshold:>18.0%}   {_short(row.sensitivity):<25}  "
            f"{_short(row.specificity):<25}  {_short(row.flagged)}{mark}"
        )
    return "\n".join(lines)


def _short(estimate: Estimate) -> str:
    if math.isnan(estimate.value):
        return "undefined"
    low, high = estimate.interval.low, estimate.interval.high
    return f"{estimate.value:.3f} ({low:.3f}-{high:.3f})"
