"""runtime.costs and `dermascan cost`: prices pinned by hand, the estimate, the capacity table."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from runtime.cli import EXIT_OK, EXIT_USAGE, main
from runtime.costs import (
    DEFAULTS,
    PRICES,
    Hosting,
    StackSettings,
    Workload,
    capacity,
    estimate,
    explanation_cost,
    fixed_cost,
    instances_for_peak,
    pipeline_cost,
)
from tests.conftest import REPO, STACK_CONFIG, run_stack

# Hand-entered from the pricing pages (us-east-1, on-demand), as recorded in runtime/costs.py:
# "2025 list prices, recorded 2026-11". A price changed in the module without changing it here
# (and checking the page) fails.
PINNED = {
    # https://aws.amazon.com/sagemaker/pricing/, Real-Time Inference, ml.m5.large, per hour
    "ml.m5.large": 0.115,
    # https://aws.amazon.com/sagemaker/pricing/, Real-Time Inference, ml.t2.medium, per hour
    "ml.t2.medium": 0.056,
    # https://aws.amazon.com/sagemaker/pricing/, Serverless Inference, 6144 MB: $0.00012/s
    "serverless_per_gb_second": 0.00012 / 6,
    # https://aws.amazon.com/lambda/pricing/, Arm, first 7.5 billion GB-s, per GB-second
    "lambda_arm_per_gb_second": 0.0000133334,
    # https://aws.amazon.com/s3/pricing/, S3 Standard, first 50 TB, per GB-month
    "s3_per_gb_month": 0.023,
    # https://aws.amazon.com/kms/pricing/, per customer managed key per month; per 10,000 requests
    "kms_per_key_month": 1.00,
    "kms_per_10k_requests": 0.03,
}
MONTH_HOURS = 730


def test_list_prices_are_the_hand_entered_ones() -> None:
    assert PRICES.hourly("ml.m5.large") == PINNED["ml.m5.large"]
    assert PRICES.hourly("ml.t2.medium") == PINNED["ml.t2.medium"]
    for name in (
        "serverless_per_gb_second",
        "lambda_arm_per_gb_second",
        "s3_per_gb_month",
        "kms_per_key_month",
        "kms_per_10k_requests",
    ):
        assert getattr(PRICES, name) == pytest.approx(PINNED[name], rel=1e-9), name


def test_serverless_costs_per_second_used_and_nothing_idle() -> None:
    idle = estimate(Workload(0), "serverless")
    assert idle.endpoint == 0
    assert idle.total == pytest.approx(PINNED["kms_per_key_month"] + 8 * 0.10)  # key, alarms
    busy = estimate(Workload(10_000), "serverless")
    # 10,000 images x 1 s at $0.00012 per second (6 GB), plus 50 KB each processed at $0.016/GB.
    assert busy.endpoint == pytest.approx(10_000 * 0.00012 + 10_000 * 0.05 / 1024 * 0.016)


def test_realtime_costs_every_hour_of_the_instances_the_peak_needs() -> None:
    for images in (0, 1_000, 100_000):
        assert estimate(Workload(images), "ml.m5.large").endpoint == pytest.approx(
            PINNED["ml.m5.large"] * MONTH_HOURS
        )
    # 10M a month: 3.8 images/s on average, 19/s at the peak; an ml.m5.large serves 2 at once.
    busy = estimate(Workload(10_000_000), "ml.m5.large")
    assert busy.instances == 10
    assert busy.endpoint == pytest.approx(10 * PINNED["ml.m5.large"] * MONTH_HOURS)


def test_kms_requests_are_cut_by_bucket_keys() -> None:
    """S3 Bucket Keys cut KMS requests by up to 99 %: 4 SSE-KMS operations per image cost 0.04
    requests, not 4 (a million images: $0.12, not $12)."""
    work = Workload(1_000_000)
    without_kms = pipeline_cost(dataclasses.replace(work, kms_requests_per_image=0))
    kms = pipeline_cost(work) - without_kms
    assert kms == pytest.approx(1_000_000 * 0.04 / 10_000 * PINNED["kms_per_10k_requests"])


def test_pipeline_costs_grow_with_images() -> None:
    small = estimate(Workload(1_000), "serverless").pipeline
    large = estimate(Workload(100_000), "serverless").pipeline
    assert large == pytest.approx(100 * small)
    assert fixed_cost(Workload(0)) == pytest.approx(1.8)


def test_an_unknown_instance_type_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"ml\.m5\.large"):
        PRICES.hourly("ml.p5.48xlarge")


def test_the_peak_of_ten_million_images_a_month_is_carried() -> None:
    work = Workload(10_000_000)
    peak = 10_000_000 / (MONTH_HOURS * 3600) * 5
    assert work.peak_rate == pytest.approx(peak)  # ~19 images/s
    modes: tuple[Hosting, ...] = ("serverless", "realtime")
    for hosting in modes:
        with_defaults = capacity(work, hosting)
        assert not with_defaults.carries_the_peak, hosting
        assert with_defaults.limit.name == "the function"  # 1.5 s of it per image
        values = dict(with_defaults.changes)
        changed = dataclasses.replace(
            DEFAULTS,
            serverless_max_concurrency=values.get(
                "serverlessMaxConcurrency", DEFAULTS.serverless_max_concurrency
            ),
            realtime_max_count=values.get("realtimeMaxCount", DEFAULTS.realtime_max_count),
            lambda_max_concurrency=values.get(
                "lambdaMaxConcurrency", DEFAULTS.lambda_max_concurrency
            ),
        )
        fixed = capacity(work, hosting, changed)
        assert fixed.carries_the_peak, hosting
        assert min(stage.rate for stage in fixed.stages) >= peak
    realtime = capacity(work, "realtime")
    assert dict(realtime.changes) == {"realtimeMaxCount": 10, "lambdaMaxConcurrency": 29}
    # The instances priced carry the peak: 10 x 2 workers / 1 s each = 20 images/s >= 19.
    assert realtime.estimate.instances * 2 / 1.0 >= peak
    assert instances_for_peak(work, "ml.m5.large") == 10
    assert dict(capacity(work, "serverless").changes) == {
        "serverlessMaxConcurrency": 20,
        "lambdaMaxConcurrency": 29,
    }


FIELDS = {
    "serverlessMaxConcurrency": "serverless_max_concurrency",
    "realtimeMaxCount": "realtime_max_count",
    "lambdaMaxConcurrency": "lambda_max_concurrency",
    "realtimeInstanceType": "realtime_instance_type",
}


def test_the_models_settings_are_pulumi_yamls_defaults() -> None:
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    for key, field in FIELDS.items():
        assert getattr(StackSettings(), field) == declared[key]["default"], key


@pytest.mark.parametrize("hosting", ["serverless", "realtime"])
def test_the_models_function_concurrency_is_the_stacks(hosting: Hosting) -> None:
    mocks = run_stack({**STACK_CONFIG, "dermascan:hosting": hosting})
    mapping = mocks.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs
    expected = DEFAULTS.function_concurrency(hosting)
    assert mapping["scalingConfig"]["maximumConcurrency"] == expected


def test_the_command_prints_the_capacity_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--images-per-month", "500", "10000000"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("Assumptions: 1 s of model time per image")
    assert "the peak is 5 x the month's average rate" in out
    rows = [line for line in out.splitlines() if line.startswith("| 10,000,000 |")]
    assert len(rows) == 2
    assert "10 x ml.m5.large" in rows[1]
    assert main(["cost", "--images-per-month", "-1"]) == EXIT_USAGE


def test_the_readmes_capacity_section_is_the_commands_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- dermascan cost -->\n(.*?)\n<!-- /dermascan cost -->", readme, re.S)
    assert match, "README.md has no <!-- dermascan cost --> section"
    assert main(["cost"]) == EXIT_OK
    assert match.group(1) == capsys.readouterr().out.rstrip("\n"), (
        "README's capacity section is stale: paste the output of `.venv/bin/dermascan cost`"
    )


def test_an_explanation_costs_fifty_inferences_in_two_requests() -> None:
    cost = explanation_cost()
    assert (cost.images, cost.requests) == (50, 2)
    # 50 s of a 6 GB serverless slot at $0.00012/s ($0.006), and the 1 GB function waiting
    # for it at $0.0000133334/GB-s; data, requests and S3 are hundredths of a cent.
    endpoint_and_function = 50 * 6 * 0.0000200 + 50.4 * 0.0000133334
    assert cost.dollars == pytest.approx(endpoint_and_function, rel=0.01)
    assert cost.dollars > endpoint_and_function
    assert cost.seconds == pytest.approx(50 * 1.0 + 2 * 0.2)
    faster = explanation_cost(Workload(images_per_month=1, seconds_per_inference=0.4))
    assert faster.seconds < cost.seconds
    assert faster.dollars < cost.dollars
    assert explanation_cost(images=17, requests=1).dollars < cost.dollars
