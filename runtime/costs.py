"""What dermascan costs on AWS each month, from list prices kept here, dated and cited.

Prices: AWS list prices for us-east-1, on-demand, without free tiers, as published on the
pages below in 2025 and recorded here in 2026-11 without network access to the pages. The
SageMaker rates (instance hours, serverless $0.00012/s at 6 GB, $0.016/GB processed) were
cross-checked in 2026-11 against public cost scripts that quote the same figures, not against
the pages themselves; one 2025 blog quotes ml.m5.xlarge at $0.269/h where we have $0.23.
Other regions cost up to ~25 % more. Check the pages before budgeting; update PRICES (and
PRICES_AS_OF) when they change.
- SageMaker: https://aws.amazon.com/sagemaker/pricing/ (Serverless Inference; Real-Time)
- Lambda: https://aws.amazon.com/lambda/pricing/ (Arm)
- S3: https://aws.amazon.com/s3/pricing/ (Standard)
- SQS: https://aws.amazon.com/sqs/pricing/ (Standard queue)
- KMS: https://aws.amazon.com/kms/pricing/
- CloudWatch: https://aws.amazon.com/cloudwatch/pricing/ (alarms, logs)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PRICES_AS_OF: Final = "2025 list prices, recorded 2026-11"
HOURS_PER_MONTH: Final = 730


@dataclass(frozen=True)
class Prices:
    serverless_per_gb_second: float = 0.0000200  # $0.00012/s at 6 GB
    serverless_data_per_gb: float = 0.016
    realtime_per_hour: tuple[tuple[str, float], ...] = (
        ("ml.t2.medium", 0.056),
        ("ml.m5.large", 0.115),
        ("ml.m5.xlarge", 0.23),
        ("ml.c5.xlarge", 0.204),
    )
    lambda_arm_per_gb_second: float = 0.0000133334
    lambda_per_million_requests: float = 0.20
    s3_per_gb_month: float = 0.023
    s3_per_thousand_puts: float = 0.005
    s3_per_thousand_gets: float = 0.0004
    sqs_per_million_requests: float = 0.40
    kms_per_key_month: float = 1.0
    kms_per_10k_requests: float = 0.03
    cloudwatch_per_alarm_month: float = 0.10
    cloudwatch_logs_per_gb: float = 0.50

    def hourly(self, instance_type: str) -> float:
        for name, price in self.realtime_per_hour:
            if name == instance_type:
                return price
        known = ", ".join(name for name, _ in self.realtime_per_hour)
        raise KeyError(f"no price for {instance_type}; known: {known}")


PRICES: Final = Prices()


@dataclass(frozen=True)
class Workload:
    """What one image costs in resources. The defaults are measured or conservative guesses."""

    images_per_month: int
    seconds_per_inference: float = 1.0  # ViT-Base on the serverless CPU container
    serverless_memory_gb: float = 6.0
    lambda_memory_gb: float = 1.0
    lambda_seconds: float = 1.5  # preparing the image and waiting for the endpoint
    image_mb: float = 0.4  # upload + thumbnail + record
    retention_days: int = 30
    log_kb: float = 2.0
    alarms: int = 8


@dataclass(frozen=True)
class Estimate:
    hosting: str
    endpoint: float
    pipeline: float
    fixed: float

    @property
    def total(self) -> float:
        return self.endpoint + self.pipeline + self.fixed


def pipeline_cost(work: Workload, prices: Prices = PRICES) -> float:
    """Lambda, S3, SQS, KMS requests and logs for a month of images."""
    n = work.images_per_month
    gb_seconds = n * work.lambda_memory_gb * work.lambda_seconds
    stored_gb = n * work.image_mb / 1024 * min(1.0, work.retention_days / 30)
    return (
        gb_seconds * prices.lambda_arm_per_gb_second
        + n / 1e6 * prices.lambda_per_million_requests
        + stored_gb * prices.s3_per_gb_month
        + n * 3 / 1000 * prices.s3_per_thousand_puts  # upload, thumbnail, record
        + n * 3 / 1000 * prices.s3_per_thousand_gets  # upload, record check, app read
        + n * 3 / 1e6 * prices.sqs_per_million_requests  # send, receive, delete
        + n * 4 / 1e4 * prices.kms_per_10k_requests
        + n * work.log_kb / 1024 / 1024 * prices.cloudwatch_logs_per_gb
    )


def fixed_cost(work: Workload, prices: Prices = PRICES) -> float:
    """What the stack costs with no traffic besides the endpoint: the key and the alarms."""
    return prices.kms_per_key_month + work.alarms * prices.cloudwatch_per_alarm_month


def estimate(work: Workload, hosting: str, prices: Prices = PRICES) -> Estimate:
    """Monthly cost with ``hosting`` = ``serverless`` or a real-time instance type."""
    if hosting == "serverless":
        compute = (
            work.images_per_month
            * work.seconds_per_inference
            * work.serverless_memory_gb
            * prices.serverless_per_gb_second
        )
        data = work.images_per_month * 0.05 / 1024 * prices.serverless_data_per_gb
        endpoint = compute + data
    else:
        endpoint = prices.hourly(hosting) * HOURS_PER_MONTH  # billed every hour, used or not
    return Estimate(hosting, endpoint, pipeline_cost(work, prices), fixed_cost(work, prices))


def cost_table(volumes: tuple[int, ...] = (1_000, 10_000, 100_000)) -> str:
    """The README's table: serverless vs real-time, with the original system as reference."""
    rows = [
        ("serverless, 6 GB (dermascan default)", "serverless"),
        ("real-time, 1 x ml.m5.large", "ml.m5.large"),
        ("original: always-on ml.t2.medium", "ml.t2.medium"),
    ]
    header = "| hosting | " + " | ".join(f"{v:,} images/month" for v in volumes) + " |"
    lines = [header, "|---|" + "---|" * len(volumes)]
    for label, hosting in rows:
        cells = [f"${estimate(Workload(v), hosting).total:,.2f}" for v in volumes]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"AWS list prices, us-east-1 ({PRICES_AS_OF}; sources in runtime/costs.py); "
        "endpoint + Lambda/S3/SQS/KMS/logs + the KMS key and 8 alarms. The original row is the "
        "endpoint alone with the same pipeline costs added."
    )
    return "\n".join(lines)
