"""components/observability.py: alarms that reach someone, on the right metrics; budget; billing."""

from __future__ import annotations

import json

import pytest

from components.observability import ObservabilityArgs
from tests.components.conftest import FUNCTION, KEY, QUEUE, arn, endpoint, physical_name
from tests.conftest import STACK_CONFIG, RecordingMocks, run_stack

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"


def alarms_by_metric(mocks: RecordingMocks) -> dict[str, dict[str, object]]:
    return {a.inputs["metricName"]: a.inputs for a in mocks.of_type(ALARM)}


def test_every_stage_has_an_alarm_with_the_right_dimensions(serverless: RecordingMocks) -> None:
    alarms = alarms_by_metric(serverless)
    function = {"FunctionName": physical_name(serverless, FUNCTION)}
    model = {"EndpointName": endpoint(serverless).outputs["name"], "VariantName": "AllTraffic"}
    assert {metric: a["dimensions"] for metric, a in alarms.items()} == {
        "Errors": function,
        "Throttles": function,
        "Duration": function,
        "ApproximateNumberOfMessagesVisible": {
            "QueueName": physical_name(serverless, QUEUE, "storage-uploads-dlq")
        },
        "ApproximateAgeOfOldestMessage": {
            "QueueName": physical_name(serverless, QUEUE, "storage-uploads")
        },
        "Invocation5XXErrors": model,
        "Invocation4XXErrors": model,
        "ModelLatency": model,
    }
    timeout = serverless.one(FUNCTION).inputs["timeout"]
    assert alarms["Duration"]["threshold"] == 0.8 * timeout * 1000  # near the timeout, in ms
    assert alarms["ModelLatency"]["extendedStatistic"] == "p90"
    assert alarms["ModelLatency"]["threshold"] == 20_000_000  # microseconds


def test_every_alarm_notifies_the_encrypted_alerts_topic(serverless: RecordingMocks) -> None:
    topic_arn = arn(serverless, TOPIC)
    for alarm in serverless.of_type(ALARM):
        assert alarm.inputs["alarmActions"] == [topic_arn], alarm.name
        assert alarm.inputs["okActions"] == [topic_arn], alarm.name
    topic = serverless.one(TOPIC).inputs
    assert topic["kmsMasterKeyId"] == arn(serverless, KEY)
    (publish,) = json.loads(serverless.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])[
        "Statement"
    ]
    assert publish["Principal"] == {
        "Service": ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]
    }


def test_the_budget_warns_on_actual_and_forecast_spend(serverless: RecordingMocks) -> None:
    budget = serverless.one("aws:budgets/budget:Budget").inputs
    assert (budget["limitAmount"], budget["timeUnit"]) == ("50.00", "MONTHLY")
    kinds = {(n["notificationType"], n["threshold"]) for n in budget["notifications"]}
    assert kinds == {("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100)}
    topic_arn = arn(serverless, TOPIC)
    assert all(n["subscriberSnsTopicArns"] == [topic_arn] for n in budget["notifications"])
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": ["user:project$dermascan"]}]


@pytest.mark.parametrize("tag", [("", "dermascan"), ("project", ""), ("a$b", "c")])
def test_the_budget_needs_a_tag_to_filter_on(tag: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="budget_tag"):
        ObservabilityArgs(
            account_id="1",
            region="eu-west-1",
            kms_key_arn="arn",
            function_name="f",
            function_timeout_seconds=60,
            queue_name="q",
            dead_letter_queue_name="d",
            endpoint_name="e",
            variant_name="AllTraffic",
            monthly_budget_usd=50,
            budget_tag=tag,
        )


def test_an_alert_address_is_subscribed_to_alarms_and_budget() -> None:
    mocks = run_stack({**STACK_CONFIG, "dermascan:alertEmail": "oncall@clinic.example"})
    subscription = mocks.one("aws:sns/topicSubscription:TopicSubscription").inputs
    assert (subscription["protocol"], subscription["endpoint"]) == (
        "email",
        "oncall@clinic.example",
    )
    budget = mocks.one("aws:budgets/budget:Budget").inputs
    assert all(
        n["subscriberEmailAddresses"] == ["oncall@clinic.example"] for n in budget["notifications"]
    )


def test_the_billing_alarm_is_made_in_us_east_1_only_when_asked(serverless: RecordingMocks) -> None:
    assert "EstimatedCharges" not in alarms_by_metric(serverless)

    mocks = run_stack({**STACK_CONFIG, "dermascan:billingAlarm": "true"})
    (billing,) = [a for a in mocks.of_type(ALARM) if a.inputs["metricName"] == "EstimatedCharges"]
    # A provider reference is "<urn>::<id>", and the URN ends with the provider's name.
    (provider,) = [
        p for p in mocks.of_type("pulumi:providers:aws") if f"::{p.name}::" in billing.provider
    ]
    assert provider.inputs["region"] == "us-east-1"
    assert billing.inputs["dimensions"] == {"Currency": "USD"}
    # A topic in us-east-1, as the alarm's region requires.
    assert billing.inputs["alarmActions"] == [arn(mocks, TOPIC, "observability-billing-alerts")]
    assert billing.inputs["alarmActions"][0].startswith("arn:aws:sns:us-east-1:")
    assert json.loads(provider.inputs["defaultTags"])["tags"]["cost-center"] == "dermatology"


def test_the_dashboard_shows_the_pipeline(serverless: RecordingMocks) -> None:
    body = json.loads(serverless.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    text = json.dumps(body)
    for name in (
        physical_name(serverless, FUNCTION),
        physical_name(serverless, QUEUE, "storage-uploads"),
        physical_name(serverless, QUEUE, "storage-uploads-dlq"),
        endpoint(serverless).outputs["name"],
    ):
        assert f'"{name}"' in text
    assert [w["properties"]["title"] for w in body["widgets"]] == [
        "Uploads waiting",
        "Function",
        "Predictions by class",
        "Confirmed outcomes: how many, and the share whose top class agreed",
        "Explanations: how many, and how long each took",
        "Endpoint",
    ]


def test_the_dashboard_plots_the_outcome_agreement_rate_and_explanations(
    serverless: RecordingMocks,
) -> None:
    body = json.loads(serverless.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    plotted = {
        tuple(m[:4]): (m[4] if len(m) > 4 else {})
        for widget in body["widgets"]
        for m in widget["properties"]["metrics"]
    }
    # The names and the one dimension Powertools gives the handler's metrics (service).
    service = ("service", "dermascan")
    assert plotted[("dermascan", "OutcomeConfirmed", *service)] == {}  # the widget's Sum
    assert plotted[("dermascan", "OutcomeAgreement", *service)]["stat"] == "Average"
    assert ("dermascan", "Explanations", *service) in plotted
    assert plotted[("dermascan", "ExplanationDuration", *service)]["stat"] == "p90"
