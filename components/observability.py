"""Observability: alerts topic, alarms on every stage, a dashboard, a budget and a billing alarm."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import _policies
from runtime.labels import CLASSES


@dataclass(frozen=True)
class ObservabilityArgs:
    """What to watch and whom to tell."""

    account_id: str
    region: str
    kms_key_arn: pulumi.Input[str]
    function_name: pulumi.Input[str]
    function_timeout_seconds: int
    queue_name: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]
    endpoint_name: pulumi.Input[str]
    variant_name: str
    monthly_budget_usd: float
    budget_tag: tuple[str, str]
    """The cost-allocation tag (key, value) every resource of the project carries: the budget
    counts only spend tagged with it, not the whole account's. The key must be activated as a
    cost-allocation tag in the Billing console first."""
    alert_email: str | None = None
    oldest_message_alarm_seconds: int = 900
    model_latency_p90_alarm_seconds: float = 20.0
    billing_alarm: bool = False
    """Needs billing alerts enabled on the account first (Billing preferences)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default tags of the us-east-1 provider (the stack's provider carries its own)."""

    def __post_init__(self) -> None:
        if self.monthly_budget_usd <= 0:
            raise ValueError(
                "ObservabilityArgs.monthly_budget_usd must be positive, "
                f"got {self.monthly_budget_usd}"
            )
        key, value = self.budget_tag
        if not key or not value or "$" in key:
            raise ValueError(
                f"ObservabilityArgs.budget_tag must be a (key, value) tag, got {self.budget_tag!r}"
            )
        if self.alert_email is not None and "@" not in self.alert_email:
            raise ValueError(
                f"ObservabilityArgs.alert_email is not an address: {self.alert_email!r}"
            )


class Observability(pulumi.ComponentResource):
    """Alarms that page someone, and the numbers to look at when they do."""

    topic: aws.sns.Topic
    dashboard: aws.cloudwatch.Dashboard
    alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dermascan:index:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.topic = aws.sns.Topic(f"{name}-alerts", kms_master_key_id=args.kms_key_arn, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-alerts-policy",
            arn=self.topic.arn,
            policy=self.topic.arn.apply(
                lambda arn: json.dumps(_policies.topic_policy(arn, args.account_id))
            ),
            opts=child,
        )
        if args.alert_email:
            aws.sns.TopicSubscription(
                f"{name}-alerts-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.alert_email,
                opts=child,
            )

        function = {"FunctionName": args.function_name}
        endpoint = {"EndpointName": args.endpoint_name, "VariantName": args.variant_name}
        alarm = self._alarm_factory(name)
        self.alarms = [
            alarm(
                "function-errors",
                "AWS/Lambda",
                "Errors",
                function,
                "Sum",
                0,
                "The classify function raised errors (see its log group).",
            ),
            alarm(
                "function-throttles",
                "AWS/Lambda",
                "Throttles",
                function,
                "Sum",
                0,
                "The classify function was throttled: raise the account's concurrency.",
            ),
            alarm(
                "function-duration",
                "AWS/Lambda",
                "Duration",
                function,
                "Maximum",
                args.function_timeout_seconds * 1000 * 0.8,
                "The classify function ran close to its timeout.",
            ),
            alarm(
                "dead-letters",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": args.dead_letter_queue_name},
                "Maximum",
                0,
                "Uploads failed 5 times and wait in the dead-letter queue: fix, then redrive.",
            ),
            alarm(
                "queue-age",
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                {"QueueName": args.queue_name},
                "Maximum",
                args.oldest_message_alarm_seconds,
                "Uploads wait too long to be classified.",
            ),
            alarm(
                "endpoint-5xx",
                "AWS/SageMaker",
                "Invocation5XXErrors",
                endpoint,
                "Sum",
                0,
                "The model endpoint failed requests.",
            ),
            alarm(
                "endpoint-4xx",
                "AWS/SageMaker",
                "Invocation4XXErrors",
                endpoint,
                "Sum",
                5,
                "The model endpoint refused more than 5 requests in 5 minutes.",
            ),
            alarm(
                "model-latency-p90",
                "AWS/SageMaker",
                "ModelLatency",
                endpoint,
                "p90",
                args.model_latency_p90_alarm_seconds * 1_000_000,  # the metric is in µs
                "The model is slow (p90 latency).",
            ),
        ]

        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=f"{name}-{pulumi.get_stack()}",
            dashboard_body=pulumi.Output.json_dumps(
                _dashboard(
                    args.region, function, args.queue_name, args.dead_letter_queue_name, endpoint
                )
            ),
            opts=child,
        )

        notify = [self.topic.arn]
        aws.budgets.Budget(
            f"{name}-budget",
            budget_type="COST",
            limit_amount=f"{args.monthly_budget_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            # User-defined tags are "user:<key>" in Billing; "$" separates key and value.
            cost_filters=[
                aws.budgets.BudgetCostFilterArgs(
                    name="TagKeyValue", values=["user:{}${}".format(*args.budget_tag)]
                )
            ],
            notifications=[
                aws.budgets.BudgetNotificationArgs(
                    comparison_operator="GREATER_THAN",
                    threshold=threshold,
                    threshold_type="PERCENTAGE",
                    notification_type=kind,
                    subscriber_sns_topic_arns=notify,
                    subscriber_email_addresses=[args.alert_email] if args.alert_email else None,
                )
                for kind, threshold in (("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100))
            ],
            opts=child,
        )
        if args.billing_alarm:
            self._billing_alarm(name, args)

        self.register_outputs(
            {"topic_arn": self.topic.arn, "dashboard_name": self.dashboard.dashboard_name}
        )

    def _alarm_factory(self, name: str):  # type: ignore[no-untyped-def]
        def alarm(
            suffix: str,
            namespace: str,
            metric: str,
            dimensions: dict[str, pulumi.Input[str]],
            statistic: str,
            threshold: float,
            description: str,
        ) -> aws.cloudwatch.MetricAlarm:
            percentile = statistic.startswith("p")
            return aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                alarm_description=description,
                namespace=namespace,
                metric_name=metric,
                dimensions=dimensions,
                statistic=None if percentile else statistic,
                extended_statistic=statistic if percentile else None,
                period=300,
                evaluation_periods=1,
                threshold=threshold,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                opts=pulumi.ResourceOptions(parent=self),
            )

        return alarm

    def _billing_alarm(self, name: str, args: ObservabilityArgs) -> None:
        # Billing metrics exist only in us-east-1, and an alarm notifies topics of its own region.
        us_east_1 = aws.Provider(
            f"{name}-us-east-1",
            region="us-east-1",
            default_tags=aws.ProviderDefaultTagsArgs(tags=dict(args.tags)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_us_east_1 = pulumi.ResourceOptions(parent=self, provider=us_east_1)
        key = aws.kms.Key(
            f"{name}-billing-key",
            description="dermascan: billing alerts topic",
            enable_key_rotation=True,
            policy=json.dumps(_policies.kms_key_policy(args.account_id, "us-east-1")),
            opts=in_us_east_1,
        )
        topic = aws.sns.Topic(
            f"{name}-billing-alerts", kms_master_key_id=key.arn, opts=in_us_east_1
        )
        aws.sns.TopicPolicy(
            f"{name}-billing-alerts-policy",
            arn=topic.arn,
            policy=topic.arn.apply(
                lambda arn: json.dumps(_policies.topic_policy(arn, args.account_id))
            ),
            opts=in_us_east_1,
        )
        if args.alert_email:
            aws.sns.TopicSubscription(
                f"{name}-billing-alerts-email",
                topic=topic.arn,
                protocol="email",
                endpoint=args.alert_email,
                opts=in_us_east_1,
            )
        aws.cloudwatch.MetricAlarm(
            f"{name}-estimated-charges",
            alarm_description="The account's estimated charges passed this stack's monthly budget.",
            namespace="AWS/Billing",
            metric_name="EstimatedCharges",
            dimensions={"Currency": "USD"},
            statistic="Maximum",
            period=21600,
            evaluation_periods=1,
            threshold=args.monthly_budget_usd,
            comparison_operator="GreaterThanThreshold",
            alarm_actions=[topic.arn],
            opts=in_us_east_1,
        )


def _dashboard(
    region: str,
    function: dict[str, pulumi.Input[str]],
    queue: pulumi.Input[str],
    dead_letters: pulumi.Input[str],
    endpoint: dict[str, pulumi.Input[str]],
) -> dict[str, object]:
    def widget(title: str, metrics: list[list[object]], x: int, y: int) -> dict[str, object]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "metrics": metrics,
                "period": 300,
                "stat": "Sum",
            },
        }

    fn = function["FunctionName"]
    ep, variant = endpoint["EndpointName"], endpoint["VariantName"]
    return {
        "widgets": [
            widget(
                "Uploads waiting",
                [
                    ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue],
                    ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dead_letters],
                ],
                0,
                0,
            ),
            widget(
                "Function",
                [
                    ["AWS/Lambda", "Invocations", "FunctionName", fn],
                    ["AWS/Lambda", "Errors", "FunctionName", fn],
                    ["AWS/Lambda", "Throttles", "FunctionName", fn],
                ],
                12,
                0,
            ),
            widget(
                "Predictions by class",
                [["dermascan", "Predictions", "class", c, "service", "dermascan"] for c in CLASSES],
                0,
                6,
            ),
            widget(
                "Confirmed outcomes: how many, and the share whose top class agreed",
                [
                    ["dermascan", "OutcomeConfirmed", "service", "dermascan"],
                    # 1 or 0 per outcome with a defined agreement: its average is the rate.
                    [
                        "dermascan",
                        "OutcomeAgreement",
                        "service",
                        "dermascan",
                        {"stat": "Average", "yAxis": "right", "label": "agreement rate"},
                    ],
                ],
                0,
                12,
            ),
            widget(
                "Explanations: how many, and how long each took",
                [
                    ["dermascan", "Explanations", "service", "dermascan"],
                    [
                        "dermascan",
                        "ExplanationDuration",
                        "service",
                        "dermascan",
                        {"stat": "p90", "yAxis": "right"},
                    ],
                ],
                12,
                12,
            ),
            widget(
                "Endpoint",
                [
                    ["AWS/SageMaker", "Invocations", "EndpointName", ep, "VariantName", variant],
                    [
                        "AWS/SageMaker",
                        "Invocation5XXErrors",
                        "EndpointName",
                        ep,
                        "VariantName",
                        variant,
                    ],
                    [
                        "AWS/SageMaker",
                        "ModelLatency",
                        "EndpointName",
                        ep,
                        "VariantName",
                        variant,
                        {"stat": "p90"},
                    ],
                ],
                12,
                6,
            ),
        ]
    }
