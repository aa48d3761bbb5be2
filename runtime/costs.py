"""What dermascan costs on AWS each month, and what it can carry, from list prices kept here.

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

Capacity: each stage of the pipeline serves so many images per second at once (its
concurrency) divided by the seconds one image holds it. The stack's settings bound the
concurrency (``StackSettings``, whose defaults are Pulumi.yaml's); the peak rate is the month's
average times ``Workload.peak_factor``. Standard SQS queues and S3 (3,500 writes and 5,500
reads per second per prefix) are far from saturating at these volumes and are not modelled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from runtime.batching import explanation_images, explanation_requests

PRICES_AS_OF: Final = "2025 list prices, recorded 2026-11"
HOURS_PER_MONTH: Final = 730
SECONDS_PER_MONTH: Final = HOURS_PER_MONTH * 3600
VOLUMES: Final = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
"""Images per month the capacity table covers by default."""

# Limits of the settings, as the stack's Args validate them.
SERVERLESS_MAX_CONCURRENCY: Final = 200  # per serverless endpoint
FUNCTION_MAX_CONCURRENCY: Final = 1000  # an SQS event source's maximum_concurrency


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

# vCPUs of the priced instance types (SageMaker AI pricing, instance details). The Hugging Face
# CPU container runs one model worker per vCPU.
VCPUS: Final = {"ml.t2.medium": 2, "ml.m5.large": 2, "ml.m5.xlarge": 4, "ml.c5.xlarge": 4}


def workers(instance_type: str) -> int:
    """Model workers on one instance: one per vCPU."""
    try:
        return VCPUS[instance_type]
    except KeyError:
        raise KeyError(f"no vCPU count for {instance_type}; known: {', '.join(VCPUS)}") from None


@dataclass(frozen=True)
class Workload:
    """What one image costs in resources. The defaults are measured or conservative guesses."""

    images_per_month: int
    seconds_per_inference: float = 1.0
    """Model time per image on one worker (one vCPU) or one serverless slot: ViT-Base takes
    ~0.4 s on 2 cores locally; a worker has one."""
    peak_factor: float = 5.0
    """The busiest hour's rate over the month's average: clinics upload in office hours."""
    serverless_memory_gb: float = 6.0
    lambda_memory_gb: float = 1.0
    lambda_seconds: float = 1.5
    """Function time per image: preparing it and waiting for the endpoint."""
    image_mb: float = 0.4  # upload + thumbnail + record
    retention_days: int = 30
    log_kb: float = 2.0
    alarms: int = 8
    kms_requests_per_image: float = 4 * 0.01
    """4 SSE-KMS object operations per image (upload, its read, 2 result writes); S3 Bucket Keys
    cut the KMS requests behind them by up to 99 % (S3 User Guide, "Reducing the cost of SSE-KMS
    with Amazon S3 Bucket Keys"). The best case is assumed; at low volumes, where fewer
    operations share a bucket key, the difference is cents."""

    @property
    def average_rate(self) -> float:
        """Images per second over the month."""
        return self.images_per_month / SECONDS_PER_MONTH

    @property
    def peak_rate(self) -> float:
        """Images per second in the busiest hour."""
        return self.average_rate * self.peak_factor


@dataclass(frozen=True)
class StackSettings:
    """The stack settings that bound throughput; the defaults are Pulumi.yaml's."""

    serverless_max_concurrency: int = 5
    realtime_instance_type: str = "ml.m5.large"
    realtime_max_count: int = 2
    lambda_max_concurrency: int = 0
    """0 sizes the function's concurrency to the endpoint's, as the stack does."""

    def endpoint_concurrency(self, hosting: Hosting) -> int:
        """Requests the endpoint serves at once."""
        if hosting == "serverless":
            return self.serverless_max_concurrency
        return self.realtime_max_count * workers(self.realtime_instance_type)

    def function_concurrency(self, hosting: Hosting) -> int:
        """Invocations of the function at once (its event source's maximum concurrency)."""
        return self.lambda_max_concurrency or max(2, self.endpoint_concurrency(hosting))


Hosting = Literal["serverless", "realtime"]
DEFAULTS: Final = StackSettings()


@dataclass(frozen=True)
class Estimate:
    hosting: str
    endpoint: float
    pipeline: float
    fixed: float
    instances: int = 0
    """Real-time instances priced (enough for the peak); 0 for serverless."""

    @property
    def total(self) -> float:
        return self.endpoint + self.pipeline + self.fixed


def _at_least(rate: float, per_unit: float) -> int:
    """Units of ``per_unit`` images/s it takes to carry ``rate`` (float noise ignored)."""
    return math.ceil(rate / per_unit - 1e-9)


def instances_for_peak(work: Workload, instance_type: str) -> int:
    """Real-time instances that carry the peak rate (at least one)."""
    per_instance = workers(instance_type) / work.seconds_per_inference
    return max(1, _at_least(work.peak_rate, per_instance))


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
        + n * work.kms_requests_per_image / 1e4 * prices.kms_per_10k_requests
        + n * work.log_kb / 1024 / 1024 * prices.cloudwatch_logs_per_gb
    )


def fixed_cost(work: Workload, prices: Prices = PRICES) -> float:
    """What the stack costs with no traffic besides the endpoint: the key and the alarms."""
    return prices.kms_per_key_month + work.alarms * prices.cloudwatch_per_alarm_month


def estimate(work: Workload, hosting: str, prices: Prices = PRICES) -> Estimate:
    """Monthly cost with ``hosting`` = ``serverless`` or a real-time instance type.

    Real-time prices as many instances as carry the peak rate, running all month: autoscaling
    runs fewer off-peak, so this is the most it costs.
    """
    instances = 0
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
        instances = instances_for_peak(work, hosting)
        endpoint = instances * prices.hourly(hosting) * HOURS_PER_MONTH  # used or not
    return Estimate(
        hosting, endpoint, pipeline_cost(work, prices), fixed_cost(work, prices), instances
    )


@dataclass(frozen=True)
class ExplanationCost:
    """One explanation on the serverless endpoint: what it sends, how long, what it costs."""

    images: int
    requests: int
    seconds: float
    """Wall time: the function waits for the requests one after the other."""
    dollars: float


EXPLANATION_REQUEST_KB: Final = 0.85 * 25 * 4 / 3
"""Kilobytes per image sent and answered: a masked 224x224 JPEG is ~20-25 KB (15-20 KB of
JPEG, a third more in base64), its answer of seven labels ~0.4 KB; 0.85 x 25 x 4/3 ~ 28 KB."""
SECONDS_PER_REQUEST_OVERHEAD: Final = 0.2
"""An endpoint request's own round trip besides the model, and the function's S3 reads and
writes spread over it."""


def explanation_cost(
    work: Workload | None = None,
    *,
    images: int | None = None,
    requests: int | None = None,
    prices: Prices = PRICES,
) -> ExplanationCost:
    """What one explanation costs on the serverless endpoint (a warm one: a cold start adds
    tens of seconds once), from the same model of a second per image as ``estimate``.

    Args:
        work: per-image model time, memory of the endpoint and the function (defaults).
        images: images classified (default: the default grid's 50).
        requests: endpoint requests they take (default: ``batching.explanation_requests``).
    """
    work = work or Workload(images_per_month=1)
    images = explanation_images() if images is None else images
    requests = explanation_requests() if requests is None else requests
    model_seconds = images * work.seconds_per_inference
    seconds = model_seconds + requests * SECONDS_PER_REQUEST_OVERHEAD
    endpoint = model_seconds * work.serverless_memory_gb * prices.serverless_per_gb_second
    data = images * EXPLANATION_REQUEST_KB / 1024 / 1024 * prices.serverless_data_per_gb
    function = (
        seconds * work.lambda_memory_gb * prices.lambda_arm_per_gb_second
        + prices.lambda_per_million_requests / 1e6
    )
    # The app's request, the heat map and its parameters; the record and the model input read.
    s3 = 3 / 1000 * prices.s3_per_thousand_puts + 3 / 1000 * prices.s3_per_thousand_gets
    return ExplanationCost(images, requests, seconds, endpoint + data + function + s3)


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline: how many images per second it serves at once."""

    name: str
    setting: str
    """The stack setting that bounds it."""
    concurrency: int
    seconds_per_image: float

    @property
    def rate(self) -> float:
        return self.concurrency / self.seconds_per_image

    def needed(self, rate: float) -> int:
        """The concurrency that carries ``rate``."""
        return max(1, _at_least(rate * self.seconds_per_image, 1))


@dataclass(frozen=True)
class Capacity:
    """What one hosting mode carries at one volume, and what it takes to carry its peak."""

    work: Workload
    hosting: Hosting
    stages: tuple[Stage, ...]
    """With the given settings, slowest first: the first is what saturates first."""
    changes: tuple[tuple[str, int], ...]
    """Settings (and the value at least) the peak needs, where the given ones fall short."""
    estimate: Estimate

    @property
    def limit(self) -> Stage:
        return self.stages[0]

    @property
    def carries_the_peak(self) -> bool:
        return self.limit.rate >= self.work.peak_rate


def capacity(
    work: Workload, hosting: Hosting, settings: StackSettings = DEFAULTS, prices: Prices = PRICES
) -> Capacity:
    """The stages of the pipeline under ``settings``, and the settings that carry the peak.

    Raises:
        KeyError: the real-time instance type has no price or vCPU count here.
    """
    function = Stage(
        "the function",
        "lambdaMaxConcurrency",
        settings.function_concurrency(hosting),
        work.lambda_seconds,
    )
    if hosting == "serverless":
        endpoint = Stage(
            "the endpoint",
            "serverlessMaxConcurrency",
            settings.serverless_max_concurrency,
            work.seconds_per_inference,
        )
        cost = estimate(work, "serverless", prices)
    else:
        instance_type = settings.realtime_instance_type
        per_instance = workers(instance_type)
        endpoint = Stage(
            "the endpoint",
            "realtimeMaxCount",
            settings.realtime_max_count * per_instance,
            work.seconds_per_inference,
        )
        cost = estimate(work, instance_type, prices)
    stages = tuple(sorted((function, endpoint), key=lambda s: s.rate))
    changes = []
    for stage in (endpoint, function):
        if stage.rate >= work.peak_rate:
            continue
        needed = stage.needed(work.peak_rate)
        if stage is endpoint and hosting == "realtime":
            needed = math.ceil(needed / workers(settings.realtime_instance_type))
        changes.append((stage.setting, needed))
    return Capacity(work, hosting, stages, tuple(changes), cost)


def _rate(value: float) -> str:
    return f"{value:,.0f}/s" if value >= 10 else f"{value:.2g}/s"


def _row(result: Capacity, instance_type: str) -> str:
    work = result.work
    limit = result.limit
    if result.carries_the_peak:
        first = f"nothing: {limit.name} carries {_rate(limit.rate)}"
    else:
        first = f"{limit.name}, at {_rate(limit.rate)}"
    ceilings = {
        "serverlessMaxConcurrency": SERVERLESS_MAX_CONCURRENCY,
        "lambdaMaxConcurrency": FUNCTION_MAX_CONCURRENCY,
    }
    settings = ", ".join(
        f"`{name}` ≥ {value:,}" + (" (over its limit)" if value > ceilings.get(name, value) else "")
        for name, value in result.changes
    )
    if result.hosting == "serverless":
        hosting = "serverless"
        cost = f"${result.estimate.total:,.2f}"
    else:
        hosting = f"real-time, {instance_type}"
        cost = f"${result.estimate.total:,.2f} ({result.estimate.instances} x {instance_type})"
    return (
        f"| {work.images_per_month:,} | {_rate(work.peak_rate)} | {hosting} | {first} | "
        f"{settings or 'the defaults'} | {cost} |"
    )


def capacity_table(
    volumes: Sequence[int] = VOLUMES,
    settings: StackSettings = DEFAULTS,
    prices: Prices = PRICES,
) -> str:
    """The README's capacity section: assumptions, then per volume and hosting mode what
    saturates first under ``settings``, the settings that carry the peak and the monthly cost.

    Raises:
        KeyError: the real-time instance type has no price or vCPU count here.
    """
    sample = Workload(0)
    instance_type = settings.realtime_instance_type
    lines = [
        "Assumptions: "
        f"{sample.seconds_per_inference:g} s of model time per image on one worker (one vCPU; "
        f"{instance_type} runs {workers(instance_type)}) or one serverless slot; "
        f"{sample.lambda_seconds:g} s of function time per image; "
        f"the peak is {sample.peak_factor:g} x the month's average rate ({HOURS_PER_MONTH} h). "
        "Real-time prices the instances that carry the peak, all month (autoscaling runs fewer "
        "off-peak). Settings: Pulumi.yaml's defaults "
        f"(`serverlessMaxConcurrency` {settings.serverless_max_concurrency}, "
        f"`realtimeMaxCount` {settings.realtime_max_count}, `lambdaMaxConcurrency` sized to the "
        "endpoint's concurrency). "
        f"AWS list prices, us-east-1 ({PRICES_AS_OF}; sources in runtime/costs.py): the "
        "endpoint, Lambda, S3, SQS, KMS requests (S3 Bucket Keys), logs, the KMS key and "
        f"{sample.alarms} alarms.",
        "",
        "| images/month | peak | hosting | saturates first | settings that carry the peak "
        "| per month |",
        "|---:|---:|---|---|---|---:|",
    ]
    for volume in volumes:
        work = Workload(volume)
        for hosting in ("serverless", "realtime"):
            lines.append(_row(capacity(work, hosting, settings, prices), instance_type))
    return "\n".join(lines)
