"""dermascan's infrastructure rules as pure functions over resource properties.

The policy pack (``pack.py``) applies them during ``pulumi preview`` and ``pulumi up``; the tests
apply them to the stack's captured inputs. Properties are plain dicts and lists with camelCase
keys (Pulumi's wire names). A value Pulumi cannot know yet is ``UNKNOWN``: a rule never calls an
unknown value a violation; it lists what it could not check in ``Findings.unknown`` instead, and
the pack reports that as one advisory line (see ``pack.py`` for what preview can and cannot see).

Resource rules take one resource's properties; stack rules take every resource (``Resource``),
because what they check lives in companion resources (a bucket's public access block) that are
matched through property dependencies: during a preview a new bucket's id is unknown.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final


class Unknown(enum.Enum):
    """A value Pulumi computes only once the resource it comes from exists (unknown at preview)."""

    VALUE = "unknown during preview"


UNKNOWN: Final = Unknown.VALUE

# Actions that have no resource-level permissions: "*" is the only resource they accept.
UNSCOPABLE_ACTIONS = frozenset(
    {"ecr:GetAuthorizationToken", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
# Nitro instances with local NVMe storage encrypt it with a hardware key and refuse a KMS key:
# "If you specify a value for KmsKeyId when using any nitro-based instances with local storage,
# the call to CreateEndpointConfig fails" (SageMaker API Reference, CreateEndpointConfig,
# KmsKeyId). The same families as components/model_hosting.py (a test keeps them equal).
LOCAL_STORAGE_INSTANCE = re.compile(
    r"^ml\.([a-z]+\d+[a-z]*d[a-z]*|g4dn|g5|g6|p3dn|p4d|p4de|p5|inf2|trn1)\."
)
# The team's security bar: "a supported runtime (python3.12 or newer)". Older Pythons are the
# first to leave Lambda's supported runtimes, after which functions can no longer be updated.
MIN_PYTHON_MINOR = 12
MAX_QUEUE_RETENTION_SECONDS = 1_209_600  # 14 days (SQS API Reference, MessageRetentionPeriod)
# A cost-allocation tag filter of AWS Budgets: "user:<tag key>$<tag value>".
TAG_KEY_VALUE = re.compile(r"user:[^$]+\$.+")

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
QUEUE = "aws:sqs/queue:Queue"
NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
MODEL = "aws:sagemaker/model:Model"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"


class Findings(list[str]):
    """What a rule found: the violations (this list, as sentences), and in ``unknown`` what it
    could not check because the value is unknown during preview (phrases naming the value)."""

    def __init__(self, violations: Iterable[str] = (), unknown: Iterable[str] = ()) -> None:
        super().__init__(violations)
        self.unknown: list[str] = list(unknown)

    def add(self, other: Findings) -> None:
        """Adds another rule's findings to these."""
        self.extend(other)
        self.unknown.extend(other.unknown)


@dataclass(frozen=True)
class Resource:
    """What a stack rule sees of one resource of the stack."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    depends_on: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Property name -> the URNs of the resources its value was built from."""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _at(value: Any, *path: str) -> Any:
    """The value at ``path`` in nested mappings: None where absent, UNKNOWN where unknown."""
    for key in path:
        if not isinstance(value, Mapping):
            return value if value is UNKNOWN else None
        value = value.get(key)
    return value


def _contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(_contains_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_contains_unknown(v) for v in value)
    return False


def _statements(policy: str | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    document = json.loads(policy) if isinstance(policy, str) else policy
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Whether an IAM pattern (``*`` any run of characters, ``?`` one) matches ``value``."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in str(pattern))
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


# --- IAM ----------------------------------------------------------------------------------------


def iam_wildcards(policy: str | Mapping[str, Any]) -> list[str]:
    """Allow statements with ``*`` or ``service:*`` actions, NotAction, or ``Resource: "*"``
    for actions that can be scoped [CKV_AWS_62/63/355, IAM.1, IAM.21].

    Deny statements may use wildcards: they only take permissions away.
    """
    found = []
    for statement in _statements(policy):
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", "a statement")
        if "NotAction" in statement or "NotResource" in statement:
            found.append(f"{sid} uses NotAction/NotResource")
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        for action in actions:
            if action == "*" or action.endswith(":*"):
                found.append(f"{sid} allows the wildcard action {action!r}")
        if "*" in _as_list(statement.get("Resource")):
            scopable = [a for a in actions if a not in UNSCOPABLE_ACTIONS]
            if scopable:
                found.append(f"{sid} allows {scopable} on Resource '*'")
    return found


def full_access_policies(policy_arns: Iterable[str]) -> list[str]:
    """AWS-managed *FullAccess policies and AdministratorAccess (``Action: "*"``): never attached
    here [CKV_AWS_274, IAM.1]."""
    found = []
    for arn in policy_arns:
        name = str(arn).rsplit("/", 1)[-1]
        if name.endswith("FullAccess"):
            found.append(f"{arn} is a FullAccess policy")
        elif name == "AdministratorAccess":
            found.append(f"{arn} allows every action")
    return found


def _document(path: str, document: Any) -> Findings:
    if _contains_unknown(document):
        return Findings(unknown=[path])
    if document is None or document == "":
        return Findings()
    try:
        problems = iam_wildcards(document)
    except (ValueError, AttributeError):
        return Findings([f"{path} is not a JSON policy document"])
    return Findings(problems)


def _managed(path: str, arns: Any) -> Findings:
    if arns is UNKNOWN:
        return Findings(unknown=[path])
    findings = Findings(full_access_policies(a for a in _as_list(arns) if isinstance(a, str)))
    if any(a is UNKNOWN for a in _as_list(arns)):
        findings.unknown.append(f"an element of {path}")
    return findings


def policy_document(props: Mapping[str, Any]) -> Findings:
    """An IAM policy, or a role's, user's or group's inline policy (``policy``): no wildcard
    actions, no ``Resource: "*"`` for scopable actions [CKV_AWS_62/63/355, IAM.1, IAM.21]."""
    return _document(".policy", props.get("policy"))


def role_policies(props: Mapping[str, Any]) -> Findings:
    """A role's inline policies (``inlinePolicies[*].policy``) pass ``iam_wildcards`` and its
    ``managedPolicyArns`` hold no FullAccess policy [CKV_AWS_62/274, IAM.1]."""
    findings = Findings()
    inline = props.get("inlinePolicies")
    if inline is UNKNOWN:
        findings.unknown.append(".inlinePolicies")
    else:
        for index, item in enumerate(_as_list(inline)):
            path = f".inlinePolicies[{index}].policy"
            found = _document(path, _at(item, "policy"))
            findings.add(Findings([f"{path}: {p}" for p in found], found.unknown))
    findings.add(_managed(".managedPolicyArns", props.get("managedPolicyArns")))
    return findings


def policy_attachment(props: Mapping[str, Any]) -> Findings:
    """A role, user, group or generic policy attachment attaches no FullAccess policy
    [CKV_AWS_274, IAM.1]."""
    arn = props.get("policyArn")
    return _managed(".policyArn", arn if arn is UNKNOWN else [arn] if arn else [])


# --- S3 -----------------------------------------------------------------------------------------


def public_access_block(props: Mapping[str, Any]) -> Findings:
    """All four public-access-block flags must be true [CKV_AWS_53-56, S3.8]."""
    findings = Findings()
    for flag in PUBLIC_ACCESS_FLAGS:
        if props.get(flag) is UNKNOWN:
            findings.unknown.append(f".{flag}")
        elif props.get(flag) is not True:
            findings.append(f"{flag} is not true")
    return findings


def bucket_encryption(props: Mapping[str, Any]) -> Findings:
    """Default encryption must be set (SSE-KMS, or SSE-S3 where KMS is impossible)
    [CKV_AWS_19/145, S3.17]."""
    algorithms = [
        _at(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
        for rule in _as_list(props.get("rules"))
    ]
    if any(a in ("aws:kms", "aws:kms:dsse", "AES256") for a in algorithms):
        return Findings()
    if props.get("rules") is UNKNOWN or UNKNOWN in algorithms:
        return Findings(unknown=[".rules"])
    return Findings(["the bucket has no default encryption"])


def _companions(
    resources: Sequence[Resource], target: Resource, companion_type: str, link: str
) -> list[Resource]:
    return [
        r
        for r in resources
        if r.type == companion_type and target.urn in r.depends_on.get(link, ())
    ]


def bucket_companions(resources: Sequence[Resource]) -> Findings:
    """Every bucket has a public access block with all four flags [CKV_AWS_53-56, S3.8] and a
    default encryption configuration [CKV_AWS_19/145, S3.17]: separate resources in pulumi-aws 7,
    so a bucket without them is a bucket without them, whatever the per-resource rules say.

    A companion belongs to the bucket whose resource its ``bucket`` property was built from; one
    that names a bucket by a literal string is not matched (reference the bucket resource).
    """
    findings = Findings()
    companions: tuple[tuple[str, str, str, Callable[[Mapping[str, Any]], Findings]], ...] = (
        (
            PUBLIC_ACCESS_BLOCK,
            "public access block with all four flags",
            "public access block",
            public_access_block,
        ),
        (BUCKET_ENCRYPTION, "default encryption", "encryption configuration", bucket_encryption),
    )
    for bucket in (r for r in resources if r.type == BUCKET):
        for companion_type, missing, companion, check in companions:
            linked = _companions(resources, bucket, companion_type, "bucket")
            results = [check(c.props) for c in linked]
            if any(not r and not r.unknown for r in results):
                continue
            if any(not r for r in results):  # none fails; some could not be checked
                findings.unknown.append(f"the {companion} of bucket {bucket.name}")
            else:
                findings.append(f"bucket {bucket.name} has no {missing}")
    return findings


# --- TLS-only resource policies (S3 and SQS) ----------------------------------------------------


def _everyone(statement: Mapping[str, Any]) -> bool:
    principal = statement.get("Principal")
    if "NotPrincipal" in statement:
        return False
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in _as_list(principal.get("AWS"))


def _every_action(statement: Mapping[str, Any], service: str) -> bool:
    if "NotAction" in statement:
        return False
    # An action pattern covers the whole service when it matches the literal "service:*".
    return any(
        _matches(str(a), f"{service}:*", ignore_case=True)
        for a in _as_list(statement.get("Action"))
    )


def _whole_buckets(patterns: Sequence[str]) -> list[str]:
    """The bucket and object ARNs of every bucket the patterns name (``arn``, ``arn/*``)."""
    buckets = {m.group(1) for p in patterns if (m := re.match(r"(arn:[^:]+:s3:::[^/]+)", p))}
    return [arn for bucket in sorted(buckets) for arn in (bucket, f"{bucket}/*")]


def _every_resource(
    statement: Mapping[str, Any], service: str, resources: Sequence[str] | None
) -> bool:
    if "NotResource" in statement:
        return False
    patterns = [str(p) for p in _as_list(statement.get("Resource"))]
    if not patterns:
        return False
    if resources is None:
        # A bucket policy protects its bucket only if the deny covers the bucket and every
        # object in it; a queue has no sub-resources a deny could leave out.
        resources = _whole_buckets(patterns) if service == "s3" else []
    return all(any(_matches(p, arn) for p in patterns) for arn in resources)


def _only_insecure_transport(condition: Any) -> bool:
    """Whether the condition is ``aws:SecureTransport`` false and nothing else: any other key
    narrows the deny (to an account, a source, a prefix...)."""
    if not isinstance(condition, Mapping) or len(condition) != 1:
        return False
    ((operator, keys),) = condition.items()
    if operator not in ("Bool", "BoolIfExists") or not isinstance(keys, Mapping) or len(keys) != 1:
        return False
    ((key, values),) = keys.items()
    return str(key).lower() == "aws:securetransport" and all(
        str(v).lower() == "false" for v in _as_list(values) or [None]
    )


def denies_insecure_transport(
    policy: str | Mapping[str, Any], resources: Sequence[str] | None = None, service: str = "s3"
) -> bool:
    """Whether a resource policy denies every request without TLS [S3.5; SQS Developer Guide,
    "Amazon SQS security best practices", "Enforce encryption of data in transit"].

    One statement must do it all: ``Effect: Deny``; ``Principal: "*"`` (or ``{"AWS": "*"}``);
    an ``Action`` covering every action of the service (``s3:*``, ``sqs:*`` or ``*``); a
    ``Resource`` covering the whole resource; and ``aws:SecureTransport`` false as its only
    condition. A deny narrowed to one account, one action, one prefix or by another condition
    leaves the rest reachable over plain HTTP.

    Args:
        policy: The policy document (JSON text or parsed).
        resources: The ARNs the deny must cover (a bucket: its ARN and ``<ARN>/*``). When None:
            for S3, the whole of every bucket the statement names; for other services, any
            resource (a queue policy can only name its queue).
        service: The IAM service prefix of the resource (``s3``, ``sqs``).

    Returns:
        True if one statement denies every principal every action without TLS.
    """
    try:
        statements = _statements(policy)
    except ValueError:  # not JSON: AWS refuses it, and it denies nothing
        return False
    return any(
        statement.get("Effect") == "Deny"
        and _everyone(statement)
        and _every_action(statement, service)
        and _every_resource(statement, service, resources)
        and _only_insecure_transport(statement.get("Condition"))
        for statement in statements
    )


def _tls_only(
    resources: Sequence[Resource],
    kind: str,
    target_type: str,
    policy_type: str,
    link: str,
    service: str,
    arns: Callable[[str], list[str]],
) -> Findings:
    findings = Findings()
    for target in (r for r in resources if r.type == target_type):
        documents = [
            p.props.get("policy") for p in _companions(resources, target, policy_type, link)
        ]
        if target.props.get("policy"):  # the resource's own (legacy) policy argument
            documents.append(target.props["policy"])
        arn = target.props.get("arn")
        required = arns(arn) if isinstance(arn, str) else None
        if any(
            d and not _contains_unknown(d) and denies_insecure_transport(d, required, service)
            for d in documents
        ):
            continue
        if any(_contains_unknown(d) for d in documents):
            findings.unknown.append(f"the policy of {kind} {target.name}")
        else:
            findings.append(f"{kind} {target.name} has no policy denying requests without TLS")
    return findings


def buckets_deny_insecure_transport(resources: Sequence[Resource]) -> Findings:
    """Every bucket has a policy denying every request without TLS [S3.5]; see
    ``denies_insecure_transport`` for what counts."""
    return _tls_only(
        resources, "bucket", BUCKET, BUCKET_POLICY, "bucket", "s3", lambda a: [a, f"{a}/*"]
    )


def queues_deny_insecure_transport(resources: Sequence[Resource]) -> Findings:
    """Every queue (dead-letter queues too) has a policy denying every request without TLS
    [SQS Developer Guide, "Amazon SQS security best practices", "Enforce encryption of data in
    transit"; AWS Solutions Constructs add the same ``HttpsOnly`` statement]."""
    return _tls_only(resources, "queue", QUEUE, QUEUE_POLICY, "queueUrl", "sqs", lambda a: [a])


# --- Logs, queues -------------------------------------------------------------------------------


def log_group_retention(props: Mapping[str, Any]) -> Findings:
    """Log groups keep logs for a set time, encrypted with a key of ours [CKV_AWS_66/158]."""
    findings = Findings()
    if props.get("retentionInDays") is UNKNOWN:
        findings.unknown.append(".retentionInDays")
    elif not props.get("retentionInDays"):
        findings.append("the log group keeps logs forever (no retentionInDays)")
    if not props.get("kmsKeyId"):  # an unknown key is a key: the ARN of a key being created
        findings.append("the log group is not encrypted with a KMS key")
    return findings


def queue_encryption(props: Mapping[str, Any]) -> Findings:
    """Queues are encrypted with SSE-SQS or a key S3 can use (not alias/aws/sqs) [CKV_AWS_27]."""
    key = props.get("kmsMasterKeyId")
    if key == "alias/aws/sqs":
        return Findings(["alias/aws/sqs cannot be used by S3 notifications; use SSE-SQS or a CMK"])
    if key or props.get("sqsManagedSseEnabled") is True:
        return Findings()
    if props.get("sqsManagedSseEnabled") is UNKNOWN:
        return Findings(unknown=[".sqsManagedSseEnabled"])
    return Findings(["the queue is not encrypted"])


def queues_have_dead_letters(
    queues: Mapping[str, Mapping[str, Any]], dead_letter_of: Mapping[str, str]
) -> Findings:
    """Every queue has a DLQ (``maxReceiveCount`` >= 5) or is one, and a DLQ outlives its source:
    it keeps messages longer, or (when it is at SQS's maximum) as long.

    Args:
        queues: queue name -> its properties.
        dead_letter_of: source queue name -> its DLQ's name (from the redrive dependency).

    Returns:
        The violations, and the redrive policies and retentions unknown during preview.
    """
    default_retention = 345_600  # SQS's default, 4 days
    findings = Findings()
    dead_letter_queues = set(dead_letter_of.values())
    for name, props in queues.items():
        if name in dead_letter_of:
            redrive = props.get("redrivePolicy")
            if redrive is UNKNOWN:
                findings.unknown.append(f"the redrive policy of queue {name}")
            elif (
                isinstance(redrive, str) and int(json.loads(redrive).get("maxReceiveCount", 0)) < 5
            ):
                findings.append(f"{name}: maxReceiveCount must be at least 5")
            retentions = (
                queues.get(dead_letter_of[name], {}).get(
                    "messageRetentionSeconds", default_retention
                ),
                props.get("messageRetentionSeconds", default_retention),
            )
            if UNKNOWN in retentions:
                findings.unknown.append(f"the retention of queue {name} or of its DLQ")
            elif int(retentions[0]) < int(retentions[1]) or (
                int(retentions[0]) == int(retentions[1]) < MAX_QUEUE_RETENTION_SECONDS
            ):
                findings.append(f"{name}: its DLQ must keep messages longer than it does")
        elif name not in dead_letter_queues:
            findings.append(f"{name} has no dead-letter queue and is none")
    return findings


def dead_letter_queues(resources: Sequence[Resource]) -> Findings:
    """``queues_have_dead_letters`` over the stack: a queue's DLQ is the queue its redrive policy
    was built from (known at preview, when the DLQ's ARN is not)."""
    queues = [r for r in resources if r.type == QUEUE]
    names = {q.urn: q.name for q in queues}
    dead_letter_of = {
        q.name: names[urn]
        for q in queues
        for urn in q.depends_on.get("redrivePolicy", ())
        if urn in names
    }
    return queues_have_dead_letters({q.name: q.props for q in queues}, dead_letter_of)


# --- S3 notifications ---------------------------------------------------------------------------


def _object_key_pattern(resource: str) -> str | None:
    """The key pattern of an S3 object ARN pattern (``*`` for ``*``); None for a bucket ARN or
    anything not S3."""
    if resource == "*":
        return "*"
    if not resource.startswith("arn:aws:s3:::") or "/" not in resource:
        return None
    return resource.partition("/")[2]


def notified_writes(prefixes: Sequence[str], consumer_policies: Mapping[str, Any]) -> Findings:
    """No consumer of the notifications may write where they fire: its writes would notify it
    again, and it would process its own results without end.

    Args:
        prefixes: the notified key prefixes (``filterPrefix`` of each configuration).
        consumer_policies: policy name -> document, of every role policy that receives from a
            queue (``sqs:ReceiveMessage``): the notifications' consumers.
    """
    findings = Findings()
    for name, policy in consumer_policies.items():
        for statement in _statements(policy):
            actions = _as_list(statement.get("Action"))
            if statement.get("Effect") != "Allow" or not any(
                _matches(a, "s3:PutObject", ignore_case=True) for a in actions
            ):
                continue
            for resource in _as_list(statement.get("Resource")):
                pattern = _object_key_pattern(str(resource))
                for prefix in prefixes:
                    if pattern is not None and _matches(pattern, f"{prefix}any/key.json"):
                        findings.append(
                            f"{name} consumes S3 notifications and may write under the notified "
                            f"prefix {prefix!r}: its own writes would trigger it again"
                        )
    return findings


def notifications_never_recurse(resources: Sequence[Resource]) -> Findings:
    """Every notification configuration filters on a prefix (a whole-bucket notification is told
    of the function's own results), and ``notified_writes`` holds for the stack's consumers."""
    findings = Findings()
    prefixes: list[str] = []
    for notification in (r for r in resources if r.type == NOTIFICATION):
        for kind in ("queues", "lambdaFunctions", "topics"):
            configurations = notification.props.get(kind)
            if configurations is UNKNOWN:
                findings.unknown.append(f"the {kind} of notification {notification.name}")
                continue
            for configuration in _as_list(configurations):
                prefix = _at(configuration, "filterPrefix")
                if prefix is UNKNOWN:
                    findings.unknown.append(f"a filter prefix of {notification.name}")
                elif not prefix:
                    findings.append(
                        f"{notification.name}: a {kind} configuration without a prefix filter "
                        "is told of everything, the function's own results too"
                    )
                else:
                    prefixes.append(str(prefix))
    if not prefixes:
        return findings  # nothing notified on a prefix: no consumer can loop through one
    consumers: dict[str, Any] = {}
    for policy in (r for r in resources if r.type == ROLE_POLICY):
        document = policy.props.get("policy")
        if _contains_unknown(document):
            findings.unknown.append(f"the policy of {policy.name}")
            continue
        if not isinstance(document, str | Mapping):
            continue
        receives = any(
            statement.get("Effect") == "Allow"
            and any(
                _matches(a, "sqs:ReceiveMessage", ignore_case=True)
                for a in _as_list(statement.get("Action"))
            )
            for statement in _statements(document)
        )
        if receives:
            consumers[policy.name] = document
    findings.add(notified_writes(prefixes, consumers))
    return findings


# --- Lambda -------------------------------------------------------------------------------------


def lambda_function(props: Mapping[str, Any]) -> Findings:
    """A function runs a supported Python (3.12 or newer) [CKV_AWS_363, Lambda.2] with X-Ray
    tracing active [CKV_AWS_50, Lambda.7]. Container-image functions have no runtime to check."""
    findings = Findings()
    runtime = props.get("runtime")
    if runtime is UNKNOWN:
        findings.unknown.append(".runtime")
    elif props.get("packageType") != "Image":
        match = re.fullmatch(r"python3\.(\d+)", str(runtime or ""))
        if match is None or int(match.group(1)) < MIN_PYTHON_MINOR:
            findings.append(f"runtime {runtime!r} is not python3.{MIN_PYTHON_MINOR} or newer")
    mode = _at(props, "tracingConfig", "mode")
    if mode is UNKNOWN:
        findings.unknown.append(".tracingConfig.mode")
    elif mode != "Active":
        findings.append("X-Ray tracing is not Active (tracingConfig.mode)")
    return findings


def lambda_log_groups(resources: Sequence[Resource]) -> Findings:
    """Every function logs to a log group this stack creates (``logging_config.log_group``), so
    retention and the key are ours [CKV_AWS_66/158 then apply to it]; without one Lambda creates
    ``/aws/lambda/<name>`` itself, kept forever and unencrypted by our key.

    The group counts as the stack's when ``loggingConfig`` was built from a LogGroup resource (known
    at preview) or names one of the stack's log groups literally.
    """
    findings = Findings()
    groups = [r for r in resources if r.type == LOG_GROUP]
    group_urns = {g.urn for g in groups}
    group_names = {g.props.get("name") for g in groups}
    for function in (r for r in resources if r.type == FUNCTION):
        group = _at(function.props, "loggingConfig", "logGroup")
        if any(u in group_urns for u in function.depends_on.get("loggingConfig", ())) or (
            isinstance(group, str) and group in group_names
        ):
            continue
        if group is UNKNOWN:
            findings.unknown.append(f"the log group of function {function.name}")
        elif not group:
            findings.append(
                f"function {function.name} logs to a group Lambda creates (no retention, no key): "
                "set logging_config.log_group to a log group of the stack"
            )
        else:
            findings.append(
                f"function {function.name} logs to {group}, a log group this stack does not create"
            )
    return findings


# --- SNS ----------------------------------------------------------------------------------------


def topic_encryption(props: Mapping[str, Any]) -> Findings:
    """Topics are encrypted with a customer managed KMS key [CKV_AWS_26, SNS.1]: CloudWatch alarms
    and Budgets cannot publish to a topic under the AWS managed ``alias/aws/sns``, whose key policy
    cannot grant them (SNS Developer Guide, "Enable compatibility between event sources from AWS
    services and encrypted topics")."""
    key = props.get("kmsMasterKeyId")
    if key is UNKNOWN:  # the ARN of a key being created: a customer managed key
        return Findings()
    if not key:
        return Findings(["the topic is not encrypted with a KMS key (kmsMasterKeyId)"])
    if str(key) == "alias/aws/sns" or str(key).endswith(":alias/aws/sns"):
        return Findings(["alias/aws/sns cannot be used by alarms or budgets; use the stack's key"])
    return Findings()


# --- SageMaker ----------------------------------------------------------------------------------


def has_local_storage(instance_type: str) -> bool:
    """Whether a SageMaker instance type has local NVMe storage (and so refuses a KMS key)."""
    return LOCAL_STORAGE_INSTANCE.match(instance_type) is not None


def endpoint_config_encryption(props: Mapping[str, Any]) -> Findings:
    """An endpoint configuration on instances encrypts their volumes with a KMS key
    [CKV_AWS_98; AWS Config sagemaker-endpoint-configuration-kms-key-configured], unless an
    instance type has local NVMe storage: then a key is refused (SageMaker API Reference,
    CreateEndpointConfig, ``KmsKeyId``). Serverless variants have no volume of ours to encrypt:
    no key is required for them.
    """
    variants = props.get("productionVariants")
    if variants is UNKNOWN:
        return Findings(unknown=[".productionVariants"])
    # An unknown serverlessConfig is still a serverless config; only the instance types matter.
    on_instances = [v for v in _as_list(variants) if not _at(v, "serverlessConfig")]
    if any(_at(v, "instanceType") is UNKNOWN for v in on_instances):
        return Findings(unknown=[".productionVariants[*].instanceType"])
    types = [str(_at(v, "instanceType")) for v in on_instances if _at(v, "instanceType")]
    key = props.get("kmsKeyArn")  # an unknown ARN is a key of the stack being created
    local = [t for t in types if has_local_storage(t)]
    if local and key:
        return Findings(
            [f"{', '.join(local)} have local storage: a kmsKeyArn makes CreateEndpointConfig fail"]
        )
    if types and not local and not key:
        return Findings([f"the volumes of {', '.join(types)} are not encrypted with a KMS key"])
    return Findings()


def serverless_without_isolation(resources: Sequence[Resource]) -> Findings:
    """A model served by a serverless endpoint configuration must not enable network isolation:
    serverless inference does not support it (SageMaker Developer Guide, "Deploy models with
    Amazon SageMaker Serverless Inference", "Feature exclusions"), and AWS refuses the endpoint.

    The models are those the configuration's ``productionVariants`` were built from (known at
    preview), or that a variant names literally.
    """
    findings = Findings()
    models = [r for r in resources if r.type == MODEL]
    for config in (r for r in resources if r.type == ENDPOINT_CONFIG):
        variants = config.props.get("productionVariants")
        if variants is UNKNOWN:
            findings.unknown.append(f"the variants of endpoint configuration {config.name}")
            continue
        serverless = [v for v in _as_list(variants) if _at(v, "serverlessConfig")]
        if not serverless:
            continue
        names = {_at(v, "modelName") for v in serverless} - {None, UNKNOWN}
        linked = config.depends_on.get("productionVariants", ())
        for model in (m for m in models if m.urn in linked or m.props.get("name") in names):
            isolation = model.props.get("enableNetworkIsolation")
            if isolation is UNKNOWN:
                findings.unknown.append(f"whether model {model.name} is network-isolated")
            elif isolation is True:
                findings.append(
                    f"model {model.name} is network-isolated but served serverless by "
                    f"{config.name}: serverless inference does not support network isolation"
                )
    return findings


# --- Budgets ------------------------------------------------------------------------------------


def _tag_expression(expression: Any) -> bool | Unknown:
    """Whether a filter expression (or one of its AND operands) keeps only one tag's spend."""
    candidates = [_at(expression, "tags")] + [
        _at(operand, "tags") for operand in _as_list(_at(expression, "ands"))
    ]
    if any(_contains_unknown(c) for c in candidates):
        return UNKNOWN
    return any(
        bool(_at(tags, "key"))
        and bool(_as_list(_at(tags, "values")))
        and "ABSENT" not in _as_list(_at(tags, "matchOptions"))
        for tags in candidates
        if tags
    )


def budget_cost_filter(props: Mapping[str, Any]) -> Findings:
    """A budget filters on a cost-allocation tag (``costFilters`` ``TagKeyValue``
    ``user:project$dermascan``, or a ``filterExpression`` on tags), so it tracks this project's
    spend, not the whole account's. No scanner has this rule; AWS Cost Management User Guide,
    "Creating a cost budget" (filters) and "Using user-defined cost allocation tags" (a tag must be
    activated in Billing before a budget can filter on it).
    """
    filters = props.get("costFilters")
    expression = props.get("filterExpression")
    values = [
        value
        for item in _as_list(filters)
        if _at(item, "name") == "TagKeyValue"
        for value in _as_list(_at(item, "values"))
    ]
    if any(isinstance(v, str) and TAG_KEY_VALUE.fullmatch(v) for v in values):
        return Findings()
    by_expression = _tag_expression(expression)
    if by_expression is True:
        return Findings()
    if by_expression is UNKNOWN or _contains_unknown(filters):
        return Findings(unknown=[".costFilters/.filterExpression"])
    return Findings(
        [
            "the budget has no cost filter by tag (TagKeyValue user:<key>$<value>): it tracks "
            "the whole account's spend, not this project's"
        ]
    )
