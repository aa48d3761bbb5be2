"""Confidence intervals for the few cases a clinic has: Wilson for proportions, a seeded
percentile bootstrap for everything else. Standard library only."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

Z_95: Final = 1.959963984540054
"""The normal quantile of a two-sided 95 % interval."""
BOOTSTRAP_RESAMPLES: Final = 2000
BOOTSTRAP_SEED: Final = 20261129
"""Fixed, so the same cases always give the same interval."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class Interval:
    """A 95 % confidence interval; NaN bounds where the metric is undefined."""

    low: float
    high: float

    def to_list(self) -> list[float | None]:
        """``[low, high]`` for JSON, undefined bounds as null."""
        return [None if math.isnan(v) else v for v in (self.low, self.high)]


UNDEFINED: Final = Interval(math.nan, math.nan)


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval:
    """Wilson score interval of a proportion: sound at 0 %, 100 % and with few trials, where
    the normal approximation gives bounds outside [0, 1] or of zero width.

    Args:
        successes: how many of the trials succeeded.
        trials: how many there were (an interval of no trials is undefined).
    """
    if not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return UNDEFINED
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def bootstrap(
    items: Sequence[_T],
    metric: Callable[[Sequence[_T]], float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Interval:
    """Percentile bootstrap interval of ``metric`` over ``items`` (cases resampled with
    replacement). Resamples where the metric is undefined (NaN) are left out; if most are,
    the interval is undefined too."""
    if not items:
        return UNDEFINED
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        value = metric([items[rng.randrange(len(items))] for _ in items])
        if not math.isnan(value):
            values.append(value)
    if len(values) < resamples / 2:
        return UNDEFINED
    values.sort()
    return Interval(_quantile(values, 0.025), _quantile(values, 0.975))


def _quantile(ordered: Sequence[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def bootstrap_together(
    items: Sequence[_T],
    metrics: Callable[[Sequence[_T]], Sequence[float]],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> list[Interval]:
    """``bootstrap`` of several metrics over the same resamples: ``metrics`` returns one value
    per metric, and each gets its own interval (with the same rule for NaN values). One pass
    instead of one per metric, so a page of a dozen intervals costs one bootstrap."""
    count = len(metrics(items))
    if not items:
        return [UNDEFINED] * count
    rng = random.Random(seed)
    values: list[list[float]] = [[] for _ in range(count)]
    for _ in range(resamples):
        for column, value in zip(values, metrics(rng.choices(items, k=len(items))), strict=True):
            if not math.isnan(value):
                column.append(value)
    intervals = []
    for column in values:
        if len(column) < resamples / 2:
            intervals.append(UNDEFINED)
            continue
        column.sort()
        intervals.append(Interval(_quantile(column, 0.025), _quantile(column, 0.975)))
    return intervals
