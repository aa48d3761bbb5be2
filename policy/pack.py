"""The pack's policies: dermascan's rules (rules.py) bound to Pulumi resource types.

What a preview can check, and what only ``pulumi up`` can
-----------------------------------------------------------
On a first ``pulumi preview`` nothing exists yet, so every value built from another resource's
output (an ARN, an id, a generated name) is unknown, and so is every string built from one:
``Output.json_dumps`` and ``apply`` give one unknown string, not a document with holes, so a
policy document naming an ARN arrives whole as unknown. The policy SDK raises ``UnknownValueError``
on any access to such a value; ``plain`` turns the properties into plain data with
``rules.UNKNOWN`` in its place, so each rule checks everything else. Then:

- Checked at preview: every value the program writes literally (public-access-block flags,
  encryption algorithms, retention days, runtimes, tracing modes, instance types, serverless or
  not, network isolation, budget filters, managed policy ARNs, documents built from config only)
  and which resource is wired to which (property dependencies: a bucket's public access block,
  encryption and policy; a queue's policy and dead-letter queue; a function's log group; an
  endpoint configuration's model). "A key is set" is known too: an unknown key ARN is a key.
- Checked only at ``pulumi up``: values unknown at preview, typically IAM, bucket and queue policy
  documents that name ARNs of the stack, and redrive policies. Policies run again during
  ``pulumi up``: each resource policy before the resource is created (its inputs are known by
  then) and the stack policies on the final state, where nothing is unknown.

Each value a policy could not check at preview is one advisory line of ``preview-unknowns``,
naming the policy, the resource and the value; mandatory policies never fail on unknowns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

try:
    import rules  # type: ignore[import-not-found]  # the CLI runs it from here
except ImportError:  # as the tests import it, from the repository
    from policy import rules

PropsCheck = Callable[[Mapping[str, Any]], "rules.Findings"]
StackCheck = Callable[[Sequence["rules.Resource"]], "rules.Findings"]

IAM_DOCUMENTS = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
IAM_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
UNKNOWN_NOTE = "is unknown during preview; `pulumi up` checks it"


@dataclass(frozen=True)
class ResourceRule:
    """A resource policy: per resource type, the rule that checks its properties."""

    name: str
    description: str
    checks: Mapping[str, PropsCheck]


@dataclass(frozen=True)
class StackRule:
    """A stack policy: a rule over every resource of the stack."""

    name: str
    description: str
    check: StackCheck


RESOURCE_RULES = (
    ResourceRule(
        "iam-least-privilege",
        "No wildcard actions, no Resource '*' for scopable actions, no FullAccess: in roles' "
        "inline policies, role/user/group policies, managed policies and every attachment.",
        {
            "aws:iam/role:Role": rules.role_policies,
            **dict.fromkeys(IAM_DOCUMENTS, rules.policy_document),
            **dict.fromkeys(IAM_ATTACHMENTS, rules.policy_attachment),
        },
    ),
    ResourceRule(
        "s3-public-access-block",
        "A public access block sets all four flags.",
        {rules.PUBLIC_ACCESS_BLOCK: rules.public_access_block},
    ),
    ResourceRule(
        "s3-encryption",
        "A bucket encryption configuration encrypts by default.",
        {rules.BUCKET_ENCRYPTION: rules.bucket_encryption},
    ),
    ResourceRule(
        "log-retention",
        "Log groups have a retention and a KMS key.",
        {rules.LOG_GROUP: rules.log_group_retention},
    ),
    ResourceRule(
        "sqs-encryption",
        "Queues are encrypted in a way S3 can use.",
        {rules.QUEUE: rules.queue_encryption},
    ),
    ResourceRule(
        "lambda-runtime-tracing",
        "Functions run python3.12 or newer with X-Ray tracing active.",
        {rules.FUNCTION: rules.lambda_function},
    ),
    ResourceRule(
        "sns-encryption",
        "Topics are encrypted with a customer managed KMS key.",
        {"aws:sns/topic:Topic": rules.topic_encryption},
    ),
    ResourceRule(
        "sagemaker-endpoint-encryption",
        "Endpoint configurations on instances encrypt with a KMS key unless the instances have "
        "local storage.",
        {rules.ENDPOINT_CONFIG: rules.endpoint_config_encryption},
    ),
    ResourceRule(
        "budget-cost-filter",
        "Budgets filter on the project's cost-allocation tag.",
        {"aws:budgets/budget:Budget": rules.budget_cost_filter},
    ),
)

STACK_RULES = (
    StackRule(
        "s3-bucket-companions",
        "Every bucket has a public access block with all four flags and default encryption.",
        rules.bucket_companions,
    ),
    StackRule(
        "s3-tls-only",
        "Every bucket has a policy denying every principal every action without TLS.",
        rules.buckets_deny_insecure_transport,
    ),
    StackRule(
        "sqs-tls-only",
        "Every queue has a policy denying every principal every action without TLS.",
        rules.queues_deny_insecure_transport,
    ),
    StackRule(
        "sqs-dead-letters",
        "Every queue has a dead-letter queue, or is one that outlives its source (or keeps "
        "as long, at the SQS maximum).",
        rules.dead_letter_queues,
    ),
    StackRule(
        "s3-notifications-never-recurse",
        "Every notification filters on a prefix, and no consumer of the notifications may write "
        "under a notified prefix (uploads, explanation requests, outcomes).",
        rules.notifications_never_recurse,
    ),
    StackRule(
        "lambda-log-group",
        "Every function logs to a log group the stack creates.",
        rules.lambda_log_groups,
    ),
    StackRule(
        "sagemaker-serverless-isolation",
        "No network-isolated model behind a serverless endpoint (AWS does not support it).",
        rules.serverless_without_isolation,
    ),
)


def plain(value: Any) -> Any:
    """The policy SDK's properties as plain dicts and lists, unknown values as ``rules.UNKNOWN``.

    The SDK wraps properties in proxies that raise ``UnknownValueError`` when an unknown value is
    read; one such value would otherwise stop the whole policy ("can't run policy ... during
    preview") instead of the one check that needs it.

    Args:
        value: A property value as the policy SDK hands it over (proxied or plain).

    Returns:
        The same value as plain data.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {key: _item(value, key) for key in value}
    if isinstance(value, Sequence):
        return [_item(value, index) for index in range(len(value))]
    return value


def _item(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except UnknownValueError:
        return rules.UNKNOWN


def stack_resource(resource: PolicyResource) -> rules.Resource:
    """What the stack rules see of a resource the engine passes to a stack policy.

    Args:
        resource: One resource of ``StackValidationArgs.resources``.

    Returns:
        Its type, name, URN, plain properties and property dependencies (as URNs).
    """
    return rules.Resource(
        type=resource.resource_type,
        name=resource.name,
        urn=resource.urn,
        props=plain(resource.props),
        depends_on={
            prop: [dependency.urn for dependency in dependencies]
            for prop, dependencies in resource.property_dependencies.items()
        },
    )


def _resource_policy(rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        check = rule.checks.get(args.resource_type)
        if check is not None:
            for violation in check(plain(args.props)):
                report(violation, None)

    return ResourceValidationPolicy(name=rule.name, description=rule.description, validate=validate)


def _stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for violation in rule.check([stack_resource(r) for r in args.resources]):
            report(violation, None)

    return StackValidationPolicy(name=rule.name, description=rule.description, validate=validate)


def _report_unknowns(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = [stack_resource(r) for r in args.resources]
    for resource in resources:
        for rule in RESOURCE_RULES:
            check = rule.checks.get(resource.type)
            for value in check(resource.props).unknown if check else ():
                report(f"{rule.name}: {resource.name}'s {value} {UNKNOWN_NOTE}", resource.urn)
    for stack_rule in STACK_RULES:
        for value in stack_rule.check(resources).unknown:
            report(f"{stack_rule.name}: {value} {UNKNOWN_NOTE}", None)


POLICIES = [
    *(_resource_policy(rule) for rule in RESOURCE_RULES),
    *(_stack_policy(rule) for rule in STACK_RULES),
    StackValidationPolicy(
        name="preview-unknowns",
        description="Values the other policies need but a preview cannot know yet: one line each; "
        "`pulumi up` checks them.",
        enforcement_level=EnforcementLevel.ADVISORY,
        validate=_report_unknowns,
    ),
]
