"""The pack's policies: dermascan's rules (rules.py) bound to Pulumi resource types."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

try:
    import rules  # type: ignore[import-not-found]  # the CLI runs it from here
except ImportError:  # as the tests import it, from the repository
    from policy import rules


def _report(report: ReportViolation, problems: list[str]) -> None:
    for problem in problems:
        report(problem, None)


def _iam(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
        policy = args.props.get("policy")
        if isinstance(policy, str):
            _report(report, rules.iam_wildcards(policy))
    if args.resource_type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
        _report(report, rules.full_access_policies([str(args.props.get("policyArn", ""))]))
    if args.resource_type == "aws:iam/role:Role":
        _report(report, rules.full_access_policies(args.props.get("managedPolicyArns") or []))


def _by_type(type_token: str, check: Any) -> Any:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type == type_token:
            _report(report, check(args.props))

    return validate


def _tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    # Matched through dependencies: during preview a new bucket's id is not known yet.
    buckets = {r.urn: r.name for r in args.resources if r.resource_type == "aws:s3/bucket:Bucket"}
    protected = {
        dependency.urn
        for r in args.resources
        if r.resource_type == "aws:s3/bucketPolicy:BucketPolicy"
        and isinstance(r.props.get("policy"), str)
        and rules.denies_insecure_transport(r.props["policy"])
        for dependency in r.property_dependencies.get("bucket", [])
    }
    for urn, name in buckets.items():
        if urn not in protected:
            report(f"bucket {name} has no policy denying requests without TLS", None)


def _dead_letters(args: StackValidationArgs, report: ReportViolation) -> None:
    queues = [r for r in args.resources if r.resource_type == "aws:sqs/queue:Queue"]
    dead_letter_of = {
        r.name: dependency.name
        for r in queues
        for dependency in r.property_dependencies.get("redrivePolicy", [])
        if dependency.resource_type == "aws:sqs/queue:Queue"
    }
    _report(
        report, rules.queues_have_dead_letters({r.name: r.props for r in queues}, dead_letter_of)
    )


POLICIES = [
    ResourceValidationPolicy(
        name="iam-least-privilege",
        description="No wildcard actions, no Resource '*' for scopable actions, no FullAccess.",
        validate=_iam,
    ),
    ResourceValidationPolicy(
        name="s3-public-access-block",
        description="Every bucket blocks public access with all four flags.",
        validate=_by_type(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", rules.public_access_block
        ),
    ),
    ResourceValidationPolicy(
        name="s3-encryption",
        description="Every bucket encrypts by default.",
        validate=_by_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            rules.bucket_encryption,
        ),
    ),
    ResourceValidationPolicy(
        name="log-retention",
        description="Log groups have a retention and a KMS key.",
        validate=_by_type("aws:cloudwatch/logGroup:LogGroup", rules.log_group_retention),
    ),
    ResourceValidationPolicy(
        name="sqs-encryption",
        description="Queues are encrypted in a way S3 can use.",
        validate=_by_type("aws:sqs/queue:Queue", rules.queue_encryption),
    ),
    StackValidationPolicy(
        name="s3-tls-only",
        description="Every bucket has a policy denying requests without TLS.",
        validate=_tls_only,
    ),
    StackValidationPolicy(
        name="sqs-dead-letters",
        description="Every queue has a dead-letter queue, or is one that outlives its source.",
        validate=_dead_letters,
    ),
]
