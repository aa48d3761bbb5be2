"""runtime.triage: the referral rule, at and around every threshold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.labels import CLASSES, MALIGNANT
from runtime.triage import DEFAULT_RULE, Level, TriageRule, triage


def scores(**given: float) -> dict[str, float]:
    """The named scores; what is left of 1 spread evenly over the other classes."""
    rest = [code for code in CLASSES if code not in given]
    share = (1.0 - sum(given.values())) / len(rest) if rest else 0.0
    assert share >= 0, given
    return {code: given.get(code, share) for code in CLASSES}


# --- the cases that were reproduced ------------------------------------------------------------


def test_a_confident_nevus_with_a_melanoma_runner_up_is_referred_and_melanoma_named() -> None:
    result = triage(scores(nv=0.605, mel=0.385))
    assert result.level is Level.REFER
    assert (result.top, result.driver, result.malignant_runner_up) == ("nv", "mel", "mel")
    assert result.malignant_total == pytest.approx(0.385 + 2 * 0.002)
    assert "Melanoma is the strongest malignant class at 38%." in result.reasons


def test_a_benign_keratosis_with_actinic_keratosis_behind_it_is_referred() -> None:
    result = triage(scores(bkl=0.66, akiec=0.32))
    assert result.level is Level.REFER
    assert result.driver == "akiec"
    assert result.reasons[0].endswith("at or over the referral threshold of 25%.")


def test_a_flat_answer_is_uncertain_not_a_referral() -> None:
    result = triage(scores())
    assert result.malignant_total == pytest.approx(3 / 7)  # over 25 %, yet no signal at all
    assert result.level is Level.UNCERTAIN
    assert result.reasons[0].endswith("the model cannot tell.")


def test_a_clear_benign_answer_has_no_malignant_signal() -> None:
    result = triage(scores(nv=0.9))
    assert result.level is Level.NO_MALIGNANT_SIGNAL
    assert result.malignant_runner_up in MALIGNANT
    assert not result.level.needs_clinician


# --- each threshold, at and around it ------------------------------------------------------------


@pytest.mark.parametrize(
    ("mel", "level"),
    [(0.2399, Level.NO_MALIGNANT_SIGNAL), (0.24, Level.REFER), (0.2401, Level.REFER)],
)
def test_the_referral_threshold_is_inclusive(mel: float, level: Level) -> None:
    # A clear nevus; akiec and bcc 0.005 each, so the malignant total is mel + 0.01.
    result = triage(scores(nv=1 - mel - 0.01 - 0.008, mel=mel, akiec=0.005, bcc=0.005))
    assert result.malignant_total == pytest.approx(mel + 0.01)
    assert result.level is level


@pytest.mark.parametrize(
    ("top", "level"),
    [
        (0.5999, Level.UNCERTAIN),
        (0.60, Level.NO_MALIGNANT_SIGNAL),
        (0.6001, Level.NO_MALIGNANT_SIGNAL),
    ],
)
def test_the_top_score_threshold(top: float, level: Level) -> None:
    result = triage(scores(nv=top, bkl=0.3, akiec=0.01, bcc=0.01, mel=0.01))
    assert result.level is level


@pytest.mark.parametrize(
    ("margin", "level"),
    [
        (0.1999, Level.UNCERTAIN),
        (0.20, Level.NO_MALIGNANT_SIGNAL),
        (0.2001, Level.NO_MALIGNANT_SIGNAL),
    ],
)
def test_the_margin_threshold(margin: float, level: Level) -> None:
    # With the default 60 % top score a margin under 20 points cannot happen (the runner-up
    # would need over 40 %); it matters once a clinic lowers the top score, here to 50 %.
    rule = TriageRule(uncertain_top=0.5)
    result = triage(scores(nv=0.55, bkl=0.55 - margin, akiec=0.01, bcc=0.01, mel=0.01), rule)
    assert result.level is level


@pytest.mark.parametrize(
    ("mel", "level"), [(0.2499, Level.UNCERTAIN), (0.25, Level.REFER), (0.2501, Level.REFER)]
)
def test_when_the_top_class_is_unclear_a_malignant_class_must_stand_out(
    mel: float, level: Level
) -> None:
    # nv leads with 55 %: not clear. The malignant total (mel + 0.02) is over 25 % either way,
    # but only a melanoma score of 25 % on its own makes the signal readable.
    result = triage(scores(nv=0.55, mel=mel, akiec=0.01, bcc=0.01))
    assert result.malignant_total > DEFAULT_RULE.refer_threshold
    assert result.level is level


# --- what the rule is for -------------------------------------------------------------------------


def test_doubt_between_two_malignant_classes_is_still_a_referral() -> None:
    assert triage(scores(mel=0.55, bcc=0.40)).level is Level.REFER  # which cancer, not whether


def test_malignant_classes_that_outweigh_the_benign_ones_are_referred() -> None:
    result = triage(scores(nv=0.4, akiec=0.2, bcc=0.2, mel=0.2))
    assert result.level is Level.REFER  # no malignant class reaches 25 % alone


def test_a_torn_benign_answer_is_uncertain_never_the_reassuring_level() -> None:
    assert triage(scores(nv=0.47, bkl=0.47)).level is Level.UNCERTAIN


def test_thresholds_are_settings() -> None:
    strict = TriageRule(refer_threshold=0.05)
    assert triage(scores(nv=0.9), strict).level is Level.REFER
    with pytest.raises(ValueError, match="refer_threshold"):
        TriageRule(refer_threshold=1.5)


def test_the_words_for_each_level_live_in_one_place() -> None:
    assert [level.title for level in Level] == ["Uncertain", "Refer", "No malignant signal"]
    assert all(level.advice.endswith(".") for level in Level)
    assert "under 60%" in DEFAULT_RULE.definition()
    assert "under 20 points" in DEFAULT_RULE.definition()


@given(st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7).filter(lambda v: sum(v) > 0.01))
def test_the_lowest_level_needs_a_clear_top_class_and_a_low_malignant_total(
    values: list[float],
) -> None:
    total = sum(values)
    given = {code: v / total for code, v in zip(CLASSES, values, strict=True)}
    result = triage(given)
    if result.level is Level.NO_MALIGNANT_SIGNAL:
        ranked = sorted(given.values(), reverse=True)
        assert result.malignant_total < DEFAULT_RULE.refer_threshold
        assert ranked[0] >= 0.6 - 1e-9
        assert ranked[0] - ranked[1] >= 0.2 - 1e-9
