"""runtime.intervals: Wilson intervals against published values, a bootstrap that is repeatable."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from runtime.intervals import bootstrap, bootstrap_together, wilson


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Worked by hand from the Wilson formula with z = 1.96 (also Newcombe 1998, Table I:
        # 81/263 -> 0.2553 to 0.3662; 0/10 -> 0 to 0.2775; 10/10 -> 0.7225 to 1).
        (81, 263, 0.2553, 0.3662),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (15, 148, 0.0624, 0.1605),
    ],
)
def test_wilson_matches_published_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    interval = wilson(successes, trials)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-4)


def test_no_trials_is_an_undefined_interval_not_an_error() -> None:
    interval = wilson(0, 0)
    assert math.isnan(interval.low)
    assert interval.to_list() == [None, None]
    with pytest.raises(ValueError, match="successes"):
        wilson(5, 3)


def test_the_bootstrap_is_repeatable_and_covers_the_estimate() -> None:
    cases = [1.0] * 30 + [0.0] * 10

    def mean(sample: Sequence[float]) -> float:
        return sum(sample) / len(sample)

    first = bootstrap(cases, mean)
    assert first == bootstrap(cases, mean)  # seeded: the same cases, the same interval
    assert first.low < 0.75 < first.high
    # A mean of 40 Bernoulli(0.75) cases: the interval is about +-0.13 wide.
    assert first.high - first.low == pytest.approx(2 * 1.96 * math.sqrt(0.75 * 0.25 / 40), abs=0.04)


def test_a_metric_undefined_on_most_resamples_has_no_interval() -> None:
    assert math.isnan(bootstrap([1.0], lambda sample: math.nan).low)
    assert math.isnan(bootstrap([], lambda sample: 1.0).high)


def test_bootstrap_together_gives_each_metric_its_interval_over_the_same_resamples() -> None:
    items = [0.0] * 10 + [1.0] * 10

    def metrics(sample: Sequence[float]) -> list[float]:
        mean = sum(sample) / len(sample)
        return [mean, 1 - mean, math.nan]

    mean, complement, undefined = bootstrap_together(items, metrics)
    assert mean == bootstrap_together(items, metrics)[0]  # seeded: reproducible
    assert 0.2 < mean.low < 0.5 < mean.high < 0.8
    # The same resamples: the complement's interval mirrors the mean's exactly.
    assert (complement.low, complement.high) == pytest.approx((1 - mean.high, 1 - mean.low))
    assert math.isnan(undefined.low)
    assert all(math.isnan(i.low) for i in bootstrap_together([], lambda s: [math.nan, 0.0]))
