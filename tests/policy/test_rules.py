"""policy/rules.py: each rule rejects a deliberately bad resource and accepts the stack's own.

Rules the stack does not satisfy yet (queue TLS deny, budget filter, serverless with network
isolation) are checked on hand-built good and bad resources only: the components are being fixed
separately, and ``test_pack.py`` runs the whole pack on the stack.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from policy import rules
from policy.rules import UNKNOWN, Resource
from tests.conftest import STACK_CONFIG, RecordingMocks, run_stack


@pytest.fixture(scope="module")
def stack() -> RecordingMocks:
    return run_stack(STACK_CONFIG)


@pytest.fixture(scope="module")
def realtime() -> RecordingMocks:
    return run_stack({**STACK_CONFIG, "dermascan:hosting": "realtime"})


@pytest.fixture(scope="module")
def realtime_local_storage() -> RecordingMocks:
    return run_stack(
        {
            **STACK_CONFIG,
            "dermascan:hosting": "realtime",
            "dermascan:realtimeInstanceType": "ml.g5.xlarge",
        }
    )


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def resource(
    type_token: str, name: str, props: dict[str, Any], **depends_on: list[Resource]
) -> Resource:
    return Resource(
        type_token,
        name,
        f"urn:{name}",
        props,
        {prop: [r.urn for r in deps] for prop, deps in depends_on.items()},
    )


EVERYTHING = {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}
READ = {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}


# --- IAM ----------------------------------------------------------------------------------------


def test_wildcard_iam_is_rejected_and_ours_accepted(stack: RecordingMocks) -> None:
    bad = {
        "Statement": [
            EVERYTHING,
            {"Sid": "S3", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"},
            {"Sid": "Any", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Sid": "Not", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        ]
    }
    found = rules.iam_wildcards(json.dumps(bad))
    assert len(found) == 5
    assert any("'*'" in f and f.startswith("All") for f in found)
    assert any("s3:*" in f for f in found)
    assert any(f.startswith("Any") for f in found)
    assert any(f.startswith("Not") for f in found)
    # A deny may use wildcards: it only takes permissions away.
    assert rules.iam_wildcards(document({"Effect": "Deny", "Action": "*", "Resource": "*"})) == []
    policies = stack.of_type("aws:iam/rolePolicy:RolePolicy")
    assert len(policies) == 2
    for policy in policies:
        assert rules.policy_document(policy.inputs) == [], policy.name


@pytest.mark.parametrize("owner", ["role", "user", "group", "managed"])
def test_every_policy_document_is_checked_for_wildcards(owner: str) -> None:
    """RolePolicy, UserPolicy, GroupPolicy and Policy share one rule on their ``policy``."""
    found = rules.policy_document({owner: f"{owner}-1", "policy": document(READ, EVERYTHING)})
    assert found == [
        "All allows the wildcard action '*'",
        "All allows ['*'] on Resource '*'",
    ]
    assert rules.policy_document({"policy": document(READ)}) == []
    assert rules.policy_document({"policy": "{not json"}) == [
        ".policy is not a JSON policy document"
    ]


def test_a_roles_inline_policies_and_managed_policies_are_checked(stack: RecordingMocks) -> None:
    role = {
        "inlinePolicies": [
            {"name": "read", "policy": document(READ)},
            {"name": "all", "policy": document(EVERYTHING)},
        ],
        "managedPolicyArns": ["arn:aws:iam::aws:policy/AmazonS3FullAccess"],
    }
    assert rules.role_policies(role) == [
        ".inlinePolicies[1].policy: All allows the wildcard action '*'",
        ".inlinePolicies[1].policy: All allows ['*'] on Resource '*'",
        "arn:aws:iam::aws:policy/AmazonS3FullAccess is a FullAccess policy",
    ]
    roles = stack.of_type("aws:iam/role:Role")
    assert len(roles) == 2
    for r in roles:
        assert rules.role_policies(r.inputs) == [], r.name


def test_full_access_and_administrator_policies_are_rejected_in_attachments() -> None:
    assert rules.full_access_policies(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]) == []
    for arn in (
        "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess",
        "arn:aws:iam::aws:policy/AdministratorAccess",
    ):
        # One rule for role, user, group and generic attachments: they share ``policyArn``.
        assert len(rules.policy_attachment({"user": "u", "policyArn": arn})) == 1
    assert rules.policy_attachment({"policyArn": "arn:aws:iam::1:policy/ours"}) == []


def test_unknown_documents_are_listed_not_judged() -> None:
    found = rules.policy_document({"policy": UNKNOWN})
    assert (found, found.unknown) == ([], [".policy"])
    role = rules.role_policies(
        {"inlinePolicies": [{"policy": UNKNOWN}, {"policy": document(EVERYTHING)}]}
    )
    assert role.unknown == [".inlinePolicies[0].policy"]
    assert len(role) == 2  # the known document is still checked
    attachment = rules.policy_attachment({"policyArn": UNKNOWN})
    assert (attachment, attachment.unknown) == ([], [".policyArn"])


# --- S3 -----------------------------------------------------------------------------------------


def test_public_access_blocks_need_all_four_flags(stack: RecordingMocks) -> None:
    assert rules.public_access_block({"blockPublicAcls": True}) == [
        "blockPublicPolicy is not true",
        "ignorePublicAcls is not true",
        "restrictPublicBuckets is not true",
    ]
    flags = dict.fromkeys(rules.PUBLIC_ACCESS_FLAGS, True)
    unknown = rules.public_access_block({**flags, "ignorePublicAcls": UNKNOWN})
    assert (unknown, unknown.unknown) == ([], [".ignorePublicAcls"])
    blocks = stack.of_type(rules.PUBLIC_ACCESS_BLOCK)
    assert len(blocks) == 2
    for block in blocks:
        assert rules.public_access_block(block.inputs) == []


def test_buckets_must_encrypt(stack: RecordingMocks) -> None:
    assert rules.bucket_encryption({"rules": []}) == ["the bucket has no default encryption"]
    assert rules.bucket_encryption({"rules": UNKNOWN}).unknown == [".rules"]
    configs = stack.of_type(rules.BUCKET_ENCRYPTION)
    assert len(configs) == 2
    for config in configs:
        assert rules.bucket_encryption(config.inputs) == []


def test_a_bucket_without_its_companions_is_rejected() -> None:
    """The public access block and the encryption are separate resources, found through the
    property dependency of their ``bucket`` (the bucket's id is unknown during preview)."""
    bucket = resource(rules.BUCKET, "images", {"bucket": UNKNOWN})
    assert rules.bucket_companions([bucket]) == [
        "bucket images has no public access block with all four flags",
        "bucket images has no default encryption",
    ]
    flags = dict.fromkeys(rules.PUBLIC_ACCESS_FLAGS, True)
    block = resource(
        rules.PUBLIC_ACCESS_BLOCK, "pab", {"bucket": UNKNOWN, **flags}, bucket=[bucket]
    )
    sse = {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}
    encryption = resource(rules.BUCKET_ENCRYPTION, "sse", sse, bucket=[bucket])
    assert rules.bucket_companions([bucket, block, encryption]) == []
    # A companion of another bucket does not count, nor does one that fails its own rule.
    other = resource(rules.BUCKET, "logs", {})
    weak = resource(
        rules.PUBLIC_ACCESS_BLOCK, "weak", {**flags, "blockPublicPolicy": False}, bucket=[bucket]
    )
    assert rules.bucket_companions([bucket, other, weak, encryption]) == [
        "bucket images has no public access block with all four flags",
        "bucket logs has no public access block with all four flags",
        "bucket logs has no default encryption",
    ]
    pending = resource(
        rules.PUBLIC_ACCESS_BLOCK, "pending", {**flags, "blockPublicAcls": UNKNOWN}, bucket=[bucket]
    )
    found = rules.bucket_companions([bucket, pending, encryption])
    assert (found, found.unknown) == ([], ["the public access block of bucket images"])


# --- TLS-only resource policies -----------------------------------------------------------------

BUCKET_ARN = "arn:aws:s3:::images"
TLS_DENY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def test_a_tls_deny_must_cover_every_principal_action_and_object(stack: RecordingMocks) -> None:
    assert rules.denies_insecure_transport(document(TLS_DENY))
    assert rules.denies_insecure_transport(document(TLS_DENY), [BUCKET_ARN, f"{BUCKET_ARN}/*"])
    assert rules.denies_insecure_transport(
        document({**TLS_DENY, "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*"})
    )
    narrowed = {
        "one account and one action": {
            **TLS_DENY,
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "s3:GetObject",
        },
        "one account": {**TLS_DENY, "Principal": {"AWS": "123456789012"}},
        "one action": {**TLS_DENY, "Action": ["s3:GetObject", "s3:PutObject"]},
        "one prefix": {**TLS_DENY, "Resource": f"{BUCKET_ARN}/uploads/*"},
        "the bucket, not its objects": {**TLS_DENY, "Resource": BUCKET_ARN},
        "another condition": {
            **TLS_DENY,
            "Condition": {
                "Bool": {"aws:SecureTransport": "false"},
                "StringEquals": {"aws:PrincipalAccount": "123456789012"},
            },
        },
        "NotPrincipal": {
            **{k: v for k, v in TLS_DENY.items() if k != "Principal"},
            "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"},
        },
        "an Allow": {**TLS_DENY, "Effect": "Allow"},
        "TLS requests": {**TLS_DENY, "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
    }
    for how, statement in narrowed.items():
        assert not rules.denies_insecure_transport(document(statement)), how
    other_bucket = {**TLS_DENY, "Resource": ["arn:aws:s3:::other", "arn:aws:s3:::other/*"]}
    assert not rules.denies_insecure_transport(
        document(other_bucket), [BUCKET_ARN, f"{BUCKET_ARN}/*"]
    )
    policies = stack.of_type(rules.BUCKET_POLICY)
    assert len(policies) == 2
    for policy in policies:
        assert rules.denies_insecure_transport(policy.inputs["policy"]), policy.name


QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:uploads"
SQS_TLS_DENY = {
    **TLS_DENY,
    "Principal": {"AWS": "*"},
    "Action": "sqs:*",
    "Resource": QUEUE_ARN,
}


def test_queues_need_a_policy_denying_insecure_transport() -> None:
    """Both queues, the DLQ too [SQS Developer Guide, "Amazon SQS security best practices",
    "Enforce encryption of data in transit"]."""
    queue = resource(rules.QUEUE, "uploads", {"arn": QUEUE_ARN})
    assert rules.queues_deny_insecure_transport([queue]) == [
        "queue uploads has no policy denying requests without TLS"
    ]
    s3_may_send = {
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE_ARN,
    }
    only_sends = resource(
        rules.QUEUE_POLICY, "p", {"policy": document(s3_may_send)}, queueUrl=[queue]
    )
    assert rules.queues_deny_insecure_transport([queue, only_sends]) != []
    narrowed = {**SQS_TLS_DENY, "Action": "sqs:ReceiveMessage"}
    for statement in (narrowed, {**SQS_TLS_DENY, "Principal": {"AWS": "123456789012"}}):
        weak = resource(rules.QUEUE_POLICY, "p", {"policy": document(statement)}, queueUrl=[queue])
        assert rules.queues_deny_insecure_transport([queue, weak]) != [], statement
    good = resource(
        rules.QUEUE_POLICY,
        "p",
        {"policy": document(s3_may_send, SQS_TLS_DENY)},
        queueUrl=[queue],
    )
    assert rules.queues_deny_insecure_transport([queue, good]) == []
    everything = {**SQS_TLS_DENY, "Action": "*", "Resource": "*"}
    inline = resource(rules.QUEUE, "dlq", {"arn": QUEUE_ARN, "policy": document(everything)})
    assert rules.queues_deny_insecure_transport([inline]) == []
    pending = resource(rules.QUEUE_POLICY, "p", {"policy": UNKNOWN}, queueUrl=[queue])
    found = rules.queues_deny_insecure_transport([queue, pending])
    assert (found, found.unknown) == ([], ["the policy of queue uploads"])


def test_buckets_need_a_policy_denying_insecure_transport() -> None:
    bucket = resource(rules.BUCKET, "images", {"arn": BUCKET_ARN})
    narrowed = {**TLS_DENY, "Principal": {"AWS": "123456789012"}, "Action": "s3:GetObject"}
    weak = resource(rules.BUCKET_POLICY, "p", {"policy": document(narrowed)}, bucket=[bucket])
    assert rules.buckets_deny_insecure_transport([bucket, weak]) == [
        "bucket images has no policy denying requests without TLS"
    ]
    good = resource(rules.BUCKET_POLICY, "p", {"policy": document(TLS_DENY)}, bucket=[bucket])
    assert rules.buckets_deny_insecure_transport([bucket, good]) == []


# --- Logs and queues ----------------------------------------------------------------------------


def test_log_groups_need_retention_and_a_key(stack: RecordingMocks) -> None:
    assert len(rules.log_group_retention({})) == 2
    assert rules.log_group_retention({"retentionInDays": 30, "kmsKeyId": UNKNOWN}) == []
    groups = stack.of_type(rules.LOG_GROUP)
    assert groups
    for group in groups:
        assert rules.log_group_retention(group.inputs) == []


def test_queues_need_encryption_s3_can_use(stack: RecordingMocks) -> None:
    assert rules.queue_encryption({}) == ["the queue is not encrypted"]
    assert "alias/aws/sqs" in rules.queue_encryption({"kmsMasterKeyId": "alias/aws/sqs"})[0]
    queues = stack.of_type(rules.QUEUE)
    assert len(queues) == 2
    for queue in queues:
        assert rules.queue_encryption(queue.inputs) == []


def test_queues_need_dead_letters_that_outlive_them() -> None:
    assert rules.queues_have_dead_letters({"lonely": {}}, {}) == [
        "lonely has no dead-letter queue and is none"
    ]
    short: dict[str, dict[str, Any]] = {
        "q": {"redrivePolicy": json.dumps({"maxReceiveCount": 2}), "messageRetentionSeconds": 600},
        "dlq": {"messageRetentionSeconds": 60},
    }
    assert rules.queues_have_dead_letters(short, {"q": "dlq"}) == [
        "q: maxReceiveCount must be at least 5",
        "q: its DLQ must keep messages longer than it does",
    ]
    # As long is enough only at SQS's maximum, where the DLQ cannot keep them longer.
    same: dict[str, dict[str, Any]] = {
        "q": {"redrivePolicy": json.dumps({"maxReceiveCount": 5})},
        "dlq": {},
    }
    for seconds, found in (
        (345_600, ["q: its DLQ must keep messages longer than it does"]),
        (1_209_600, []),
    ):
        for props in same.values():
            props["messageRetentionSeconds"] = seconds
        assert rules.queues_have_dead_letters(same, {"q": "dlq"}) == found
    dlq = resource(rules.QUEUE, "dlq", {"messageRetentionSeconds": 1209600})
    queue = resource(
        rules.QUEUE,
        "uploads",
        {"redrivePolicy": UNKNOWN, "messageRetentionSeconds": 345600},
        redrivePolicy=[dlq],
    )
    found = rules.dead_letter_queues([queue, dlq])
    assert (found, found.unknown) == ([], ["the redrive policy of queue uploads"])


# --- Lambda -------------------------------------------------------------------------------------

FUNCTION = {"runtime": "python3.12", "tracingConfig": {"mode": "Active"}}


def test_functions_run_a_supported_python_with_active_tracing(stack: RecordingMocks) -> None:
    assert rules.lambda_function(FUNCTION) == []
    assert rules.lambda_function({**FUNCTION, "runtime": "python3.13"}) == []
    assert rules.lambda_function({**FUNCTION, "runtime": "python3.11"}) == [
        "runtime 'python3.11' is not python3.12 or newer"
    ]
    assert rules.lambda_function({**FUNCTION, "runtime": "nodejs22.x"}) != []
    assert rules.lambda_function({"runtime": "python3.12"}) == [
        "X-Ray tracing is not Active (tracingConfig.mode)"
    ]
    assert rules.lambda_function({**FUNCTION, "tracingConfig": {"mode": "PassThrough"}}) != []
    assert (
        rules.lambda_function({"packageType": "Image", "tracingConfig": {"mode": "Active"}}) == []
    )
    (function,) = stack.of_type(rules.FUNCTION)
    assert rules.lambda_function(function.inputs) == []


def test_functions_log_to_a_group_of_the_stack() -> None:
    group = resource(rules.LOG_GROUP, "logs", {"name": "/aws/lambda/dermascan-logs"})
    bare = resource(rules.FUNCTION, "classify", FUNCTION)
    assert rules.lambda_log_groups([group, bare]) == [
        "function classify logs to a group Lambda creates (no retention, no key): "
        "set logging_config.log_group to a log group of the stack"
    ]
    elsewhere = resource(
        rules.FUNCTION, "classify", {**FUNCTION, "loggingConfig": {"logGroup": "/shared/logs"}}
    )
    assert rules.lambda_log_groups([group, elsewhere]) == [
        "function classify logs to /shared/logs, a log group this stack does not create"
    ]
    built_from_group = resource(
        rules.FUNCTION,
        "classify",
        {**FUNCTION, "loggingConfig": {"logFormat": "JSON", "logGroup": UNKNOWN}},
        loggingConfig=[group],
    )
    by_name = resource(
        rules.FUNCTION,
        "classify",
        {**FUNCTION, "loggingConfig": {"logGroup": "/aws/lambda/dermascan-logs"}},
    )
    assert rules.lambda_log_groups([group, built_from_group]) == []
    assert rules.lambda_log_groups([group, by_name]) == []


# --- SNS ----------------------------------------------------------------------------------------


def test_topics_are_encrypted_with_a_customer_managed_key(stack: RecordingMocks) -> None:
    assert rules.topic_encryption({}) == [
        "the topic is not encrypted with a KMS key (kmsMasterKeyId)"
    ]
    assert rules.topic_encryption({"kmsMasterKeyId": "alias/aws/sns"}) != []
    assert rules.topic_encryption({"kmsMasterKeyId": "arn:aws:kms:eu-west-1:1:key/k"}) == []
    assert rules.topic_encryption({"kmsMasterKeyId": UNKNOWN}) == []  # a key being created
    topics = stack.of_type("aws:sns/topic:Topic")
    assert topics
    for topic in topics:
        assert rules.topic_encryption(topic.inputs) == [], topic.name


# --- SageMaker ----------------------------------------------------------------------------------

SERVERLESS = {"variantName": "AllTraffic", "serverlessConfig": {"memorySizeInMb": 6144}}
ON_M5 = {"variantName": "AllTraffic", "instanceType": "ml.m5.large", "initialInstanceCount": 1}
ON_G5 = {**ON_M5, "instanceType": "ml.g5.xlarge"}
KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"


def test_endpoint_configs_encrypt_unless_serverless_or_local_storage(
    stack: RecordingMocks,
    realtime: RecordingMocks,
    realtime_local_storage: RecordingMocks,
) -> None:
    """CreateEndpointConfig, ``KmsKeyId``: instances with local NVMe storage refuse a key."""
    assert rules.endpoint_config_encryption({"productionVariants": [ON_M5]}) == [
        "the volumes of ml.m5.large are not encrypted with a KMS key"
    ]
    assert rules.endpoint_config_encryption({"productionVariants": [ON_G5], "kmsKeyArn": KEY}) == [
        "ml.g5.xlarge have local storage: a kmsKeyArn makes CreateEndpointConfig fail"
    ]
    assert rules.endpoint_config_encryption({"productionVariants": [ON_M5], "kmsKeyArn": KEY}) == []
    assert rules.endpoint_config_encryption({"productionVariants": [ON_G5]}) == []
    assert rules.endpoint_config_encryption({"productionVariants": [SERVERLESS]}) == []
    pending = {"productionVariants": [{**ON_M5, "instanceType": UNKNOWN}]}
    assert rules.endpoint_config_encryption(pending).unknown == [
        ".productionVariants[*].instanceType"
    ]
    for mocks in (stack, realtime, realtime_local_storage):
        (config,) = mocks.of_type(rules.ENDPOINT_CONFIG)
        assert rules.endpoint_config_encryption(config.inputs) == []


def test_a_network_isolated_model_cannot_be_served_serverless() -> None:
    """SageMaker Developer Guide, "Deploy models with Amazon SageMaker Serverless Inference",
    section "Feature exclusions"
    (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html): "Some of the
    features currently available for SageMaker AI Real-time Inference are not supported for
    Serverless Inference, including ... VPC configuration, network isolation, ..."."""
    isolated = resource(rules.MODEL, "model", {"enableNetworkIsolation": True, "name": UNKNOWN})
    serverless = resource(
        rules.ENDPOINT_CONFIG,
        "config",
        {"productionVariants": [{**SERVERLESS, "modelName": UNKNOWN}]},
        productionVariants=[isolated],
    )
    assert rules.serverless_without_isolation([isolated, serverless]) == [
        "model model is network-isolated but served serverless by config: serverless inference "
        "does not support network isolation"
    ]
    on_instances = resource(
        rules.ENDPOINT_CONFIG,
        "config",
        {"productionVariants": [{**ON_M5, "modelName": UNKNOWN}]},
        productionVariants=[isolated],
    )
    assert rules.serverless_without_isolation([isolated, on_instances]) == []
    open_model = resource(rules.MODEL, "model", {"enableNetworkIsolation": False})
    with_open = resource(
        rules.ENDPOINT_CONFIG,
        "config",
        {"productionVariants": [SERVERLESS]},
        productionVariants=[open_model],
    )
    assert rules.serverless_without_isolation([open_model, with_open]) == []
    # A model named literally by the variant is found without a dependency.
    named = resource(rules.MODEL, "named", {"enableNetworkIsolation": True, "name": "vit"})
    by_name = resource(
        rules.ENDPOINT_CONFIG,
        "config",
        {"productionVariants": [{**SERVERLESS, "modelName": "vit"}]},
    )
    assert len(rules.serverless_without_isolation([named, by_name])) == 1
    pending = resource(rules.MODEL, "model", {"enableNetworkIsolation": UNKNOWN})
    found = rules.serverless_without_isolation([pending, serverless])
    assert (found, found.unknown) == ([], ["whether model model is network-isolated"])


# --- Budgets ------------------------------------------------------------------------------------


def test_a_budget_tracks_the_projects_tag() -> None:
    unfiltered = {"budgetType": "COST", "limitAmount": "50.00", "timeUnit": "MONTHLY"}
    assert rules.budget_cost_filter(unfiltered) == [
        "the budget has no cost filter by tag (TagKeyValue user:<key>$<value>): it tracks the "
        "whole account's spend, not this project's"
    ]
    by_service = {"costFilters": [{"name": "Service", "values": ["Amazon SageMaker"]}]}
    assert rules.budget_cost_filter({**unfiltered, **by_service}) != []
    by_tag = {"costFilters": [{"name": "TagKeyValue", "values": ["user:project$dermascan"]}]}
    assert rules.budget_cost_filter({**unfiltered, **by_tag}) == []
    malformed = {"costFilters": [{"name": "TagKeyValue", "values": ["project=dermascan"]}]}
    assert rules.budget_cost_filter({**unfiltered, **malformed}) != []
    expression = {"tags": {"key": "project", "values": ["dermascan"], "matchOptions": ["EQUALS"]}}
    assert rules.budget_cost_filter({**unfiltered, "filterExpression": expression}) == []
    within_and = {"ands": [expression, {"dimensions": {"key": "SERVICE", "values": ["S3"]}}]}
    assert rules.budget_cost_filter({**unfiltered, "filterExpression": within_and}) == []
    untagged = {"tags": {"key": "project", "values": ["dermascan"], "matchOptions": ["ABSENT"]}}
    assert rules.budget_cost_filter({**unfiltered, "filterExpression": untagged}) != []
    pending = rules.budget_cost_filter({**unfiltered, "costFilters": UNKNOWN})
    assert (pending, pending.unknown) == ([], [".costFilters/.filterExpression"])


# --- S3 notifications ---------------------------------------------------------------------------


def stack_resources(mocks: RecordingMocks) -> list[Resource]:
    return [Resource(r.type, r.name, r.urn, r.inputs) for r in mocks.resources]


def test_the_stack_notifies_its_three_prefixes_and_its_function_writes_none(
    stack: RecordingMocks,
) -> None:
    assert rules.notifications_never_recurse(stack_resources(stack)) == []
    (notification,) = stack.of_type(rules.NOTIFICATION)
    prefixes = [q["filterPrefix"] for q in notification.inputs["queues"]]
    assert prefixes == ["uploads/", "explain-requests/", "outcomes/"]


@pytest.mark.parametrize("prefix", ["uploads/", "explain-requests/", "outcomes/"])
def test_a_consumer_that_may_write_where_it_is_notified_is_rejected(prefix: str) -> None:
    receive = {"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "arn:aws:sqs:q"}
    writes = {"Effect": "Allow", "Action": "s3:Put*", "Resource": f"arn:aws:s3:::b/{prefix}*"}
    notified = ["uploads/", "explain-requests/", "outcomes/"]
    found = rules.notified_writes(notified, {"function": document(receive, writes)})
    assert found == [
        f"function consumes S3 notifications and may write under the notified prefix "
        f"{prefix!r}: its own writes would trigger it again"
    ]
    # The app writes there by design: it consumes no queue, so it is no consumer.
    assert rules.notified_writes(notified, {}) == []
    results = {**writes, "Resource": "arn:aws:s3:::b/explanations/*"}
    assert rules.notified_writes(notified, {"function": document(receive, results)}) == []


def test_an_unknown_consumer_policy_is_listed_not_judged() -> None:
    found = rules.notifications_never_recurse(
        [
            resource(rules.NOTIFICATION, "n", {"queues": [{"filterPrefix": "uploads/"}]}),
            resource(rules.ROLE_POLICY, "p", {"policy": UNKNOWN}),
        ]
    )
    assert found == []
    assert found.unknown == ["the policy of p"]
