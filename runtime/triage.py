"""The triage rule: from the seven scores, how urgently a clinician should look, and why.

One rule for the app, the CLI and ``dermascan evaluate``, applied when a result is shown (the
record keeps only the scores), so a clinic that changes a threshold sees its whole history
re-triaged. The levels, most urgent first:

- **refer**: the malignant classes (akiec + bcc + mel) total at least 25 %, and the signal
  is readable: the top class is clear (60 % or more, leading the runner-up by 20 points or
  more), or one malignant class reaches 25 % on its own, or the malignant classes outweigh
  the benign ones.
- **uncertain**: otherwise, when the top class is not clear: the model cannot tell. A flat
  answer (every class near 14 %) is uncertain, not a referral: its malignant total of 43 %
  only says that three of the seven classes are malignant.
- **no malignant signal**: a clear top class and a malignant total under 25 %. The only level
  shown without a warning, and even then not a diagnosis.

Why a malignant total of 25 % by default: the model's top class misses about one melanoma in
four (see the README), and a melanoma it misses usually still draws a sizeable share of the
scores. Referring on the malignant total rather than on the top class trades specificity for
sensitivity, which is what triage is for. 25 % is a starting point, not a validated operating
point: ``dermascan evaluate`` prints sensitivity and specificity over thresholds from 5 % to
50 % so a clinic can choose its own on its own confirmed cases (``DERMASCAN_REFER_THRESHOLD``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final

from runtime.labels import CLASSES, MALIGNANT, NAMES

DEFAULT_REFER_THRESHOLD: Final = 0.25
DEFAULT_UNCERTAIN_TOP: Final = 0.60
DEFAULT_UNCERTAIN_MARGIN: Final = 0.20


class Level(Enum):
    """A triage level, with the words every page and the CLI show for it."""

    UNCERTAIN = "uncertain"
    REFER = "refer"
    NO_MALIGNANT_SIGNAL = "no_malignant_signal"

    @property
    def title(self) -> str:
        """The level as a short heading."""
        return _TITLES[self]

    @property
    def advice(self) -> str:
        """What to do, in one sentence."""
        return _ADVICE[self]

    @property
    def needs_clinician(self) -> bool:
        """Whether this level sends the lesion to a clinician (every level but the lowest)."""
        return self is not Level.NO_MALIGNANT_SIGNAL


_TITLES: Final = {
    Level.UNCERTAIN: "Uncertain",
    Level.REFER: "Refer",
    Level.NO_MALIGNANT_SIGNAL: "No malignant signal",
}
_ADVICE: Final = {
    Level.UNCERTAIN: "Treat this result as inconclusive and have a clinician examine the lesion.",
    Level.REFER: "Have a dermatologist examine this lesion soon.",
    Level.NO_MALIGNANT_SIGNAL: "This does not rule out cancer: a lesion that worries you, "
    "changes, bleeds or itches needs a clinician.",
}

UNCERTAIN_DEFINITION: Final = (
    "Uncertain means the model cannot tell: its top class scores under {top:.0%} or leads the "
    "runner-up by under {margin:.0f} points, and no malignant class stands out."
)
"""What "uncertain" means, for every place that shows the word (format with the rule)."""


@dataclass(frozen=True)
class TriageRule:
    """The thresholds of the rule, as fractions of 1."""

    refer_threshold: float = DEFAULT_REFER_THRESHOLD
    """Refer when the malignant classes total at least this."""
    uncertain_top: float = DEFAULT_UNCERTAIN_TOP
    """The top class is not clear when it scores under this."""
    uncertain_margin: float = DEFAULT_UNCERTAIN_MARGIN
    """The top class is not clear when it leads the runner-up by less than this. (With the
    default top score of 60 % a smaller lead cannot happen; it matters when that is lowered.)"""

    def __post_init__(self) -> None:
        for name in ("refer_threshold", "uncertain_top", "uncertain_margin"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and 0 < value < 1):
                raise ValueError(f"TriageRule.{name} must be between 0 and 1, got {value!r}")

    def definition(self) -> str:
        """``UNCERTAIN_DEFINITION`` with this rule's numbers."""
        return UNCERTAIN_DEFINITION.format(
            top=self.uncertain_top, margin=self.uncertain_margin * 100
        )


DEFAULT_RULE: Final = TriageRule()

# Scores are floats: 0.6 - 0.4 is 0.19999999999999996. A value this close to a threshold counts
# as on it, so a margin of exactly 20 points is not "under 20 points".
_TOLERANCE: Final = 1e-9


def _under(value: float, threshold: float) -> bool:
    return value < threshold - _TOLERANCE


@dataclass(frozen=True)
class Triage:
    """The rule's verdict on one set of scores."""

    level: Level
    malignant_total: float
    """akiec + bcc + mel."""
    driver: str
    """The malignant class with the highest score: the one that drives a referral."""
    top: str
    """The highest-scoring class overall."""
    reasons: tuple[str, ...]
    """Why this level, in sentences, most important first."""

    @property
    def malignant_runner_up(self) -> str | None:
        """The strongest malignant class when a benign class is on top (to be named), else None."""
        return self.driver if self.top not in MALIGNANT else None


def triage(scores: Mapping[str, float], rule: TriageRule = DEFAULT_RULE) -> Triage:
    """Apply the triage rule to the seven scores of an ``ok`` record.

    Args:
        scores: a score for each of the seven class codes, summing to 1.
        rule: the thresholds.

    Raises:
        ValueError: the scores do not cover exactly the seven classes.
    """
    if set(scores) != set(CLASSES):
        raise ValueError(f"triage needs a score for each of {CLASSES}, got {sorted(scores)}")
    ranked = sorted(CLASSES, key=lambda code: scores[code], reverse=True)
    top, runner_up = ranked[0], ranked[1]
    margin = scores[top] - scores[runner_up]
    malignant_total = math.fsum(scores[code] for code in MALIGNANT)
    benign_total = math.fsum(scores[code] for code in CLASSES if code not in MALIGNANT)
    driver = max(sorted(MALIGNANT), key=lambda code: scores[code])

    class_clear = not _under(scores[top], rule.uncertain_top) and not _under(
        margin, rule.uncertain_margin
    )
    total = f"The malignant classes total {malignant_total:.0%}"
    strongest = f"{NAMES[driver]} is the strongest malignant class at {scores[driver]:.0%}"
    top_class = (
        f"The top class, {NAMES[top]}, has {scores[top]:.0%} and leads {NAMES[runner_up]} by "
        f"{margin * 100:.0f} points"
    )
    over = not _under(malignant_total, rule.refer_threshold)
    stands_out = not _under(scores[driver], rule.refer_threshold) or malignant_total > benign_total
    if over and (class_clear or stands_out):
        reasons = (
            f"{total}, at or over the referral threshold of {rule.refer_threshold:.0%}.",
            f"{strongest}.",
        )
        return Triage(Level.REFER, malignant_total, driver, top, reasons)
    if not class_clear:
        reasons = (
            f"{top_class}: the model cannot tell.",
            f"{total} and none stands out; {strongest}.",
        )
        return Triage(Level.UNCERTAIN, malignant_total, driver, top, reasons)
    reasons = (
        f"{total}, under the referral threshold of {rule.refer_threshold:.0%}.",
        f"{strongest}.",
    )
    return Triage(Level.NO_MALIGNANT_SIGNAL, malignant_total, driver, top, reasons)
