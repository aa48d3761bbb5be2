"""runtime.costs and `dermascan cost`: the arithmetic of the monthly estimate."""

from __future__ import annotations

import pytest

from runtime.cli import EXIT_OK, EXIT_USAGE, main
from runtime.costs import HOURS_PER_MONTH, PRICES, Workload, estimate, fixed_cost


def test_serverless_costs_per_second_used_and_nothing_idle() -> None:
    idle = estimate(Workload(0), "serverless")
    assert idle.endpoint == 0
    assert idle.total == pytest.approx(fixed_cost(Workload(0)))  # the key and the alarms
    busy = estimate(Workload(10_000), "serverless")
    # 10,000 images x 1 s x 6 GB at $0.00002 per GB-second, plus data processing.
    assert busy.endpoint == pytest.approx(1.2 + 10_000 * 0.05 / 1024 * 0.016)


def test_realtime_costs_every_hour_whatever_the_traffic() -> None:
    hourly = PRICES.hourly("ml.m5.large")
    for images in (0, 1_000, 100_000):
        assert estimate(Workload(images), "ml.m5.large").endpoint == hourly * HOURS_PER_MONTH


def test_pipeline_costs_grow_with_images() -> None:
    small = estimate(Workload(1_000), "serverless").pipeline
    large = estimate(Workload(100_000), "serverless").pipeline
    assert large == pytest.approx(100 * small)


def test_an_unknown_instance_type_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"ml\.m5\.large"):
        PRICES.hourly("ml.p5.48xlarge")


def test_the_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--images-per-month", "500", "5000"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "| hosting | 500 images/month | 5,000 images/month |" in out
    assert "original: always-on ml.t2.medium" in out
    assert main(["cost", "--images-per-month", "-1"]) == EXIT_USAGE
