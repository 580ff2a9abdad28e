"""What the stack adds to an adopted documents bucket (``ragline:bucket``) without replacing what it has.

CloudFormation never owns an imported bucket. Its ``add_to_resource_policy`` adds nothing, an
``AWS::S3::BucketPolicy`` would replace the bucket's own policy, and PutBucketCors would replace its own
CORS rules. So :class:`BucketMerge` keeps one TLS-only statement in its policy and the web app's rule
among its CORS rules, through a custom resource of CDK's Provider framework around
:mod:`infra.bucket_merge`, and takes out only those when the stack is deleted.
"""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import CfnElement, CustomResource, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra import bundling
from infra.functions import ARCHITECTURE, RUNTIME, log_group
from infra.nag import BASIC_EXECUTION_ROLE, acknowledge

# The statement merged into an adopted bucket's policy, found again by this Sid to be removed.
TLS_ONLY_SID = "RaglineDenyInsecureTransport"
# The custom resources' handler: this one file of infra/ is its asset (boto3 is the runtime's).
HANDLER_MODULE = "bucket_merge"
# What the handler may do, on the one bucket: S3 authorizes GetBucketCors with s3:GetBucketCORS and both
# PutBucketCors and DeleteBucketCors with s3:PutBucketCORS.
MERGE_ACTIONS = (
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:GetBucketCORS",
    "s3:PutBucketCORS",
)


def deny_insecure_transport(bucket: s3.IBucket) -> iam.PolicyStatement:
    """What ``enforce_ssl=True`` puts in the policy of a bucket of the stack, under a fixed Sid."""
    return iam.PolicyStatement(
        sid=TLS_ONLY_SID,
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=["s3:*"],
        resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
        conditions={"Bool": {"aws:SecureTransport": "false"}},
    )


class BucketMerge(Construct):
    """Keeps statements in the policy of ``bucket`` and rules among its CORS rules, each found by its name
    (a statement's Sid, a rule's ID), and takes only those out again when the stack is deleted.

    One handler function, which may read, put and delete that one bucket's policy and CORS configuration,
    behind one Provider. Each read-merge-write is not atomic: a policy or CORS configuration changed by
    someone else in the same second of a deployment could lose that change.

    Example:
        >>> merge = BucketMerge(storage, "AdoptedBucket", bucket=bucket, log_retention_days=30)  # doctest: +SKIP
        >>> merge.add_policy_statement("TlsOnly", deny_insecure_transport(bucket))  # doctest: +SKIP
    """

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, log_retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.bucket = bucket
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="ragline: merges its statement and CORS rule into an adopted bucket's",
        )
        logs = log_group(self, "Logs", log_retention_days)
        logs.grant_write(self.role)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(sid="MergeIntoTheBucket", actions=list(MERGE_ACTIONS), resources=[bucket.bucket_arn])
        )
        self.function = lambda_.Function(
            self,
            "Handler",
            description="ragline: merges a statement or CORS rule into an adopted bucket's (deployments only)",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"{HANDLER_MODULE}.on_event",
            code=lambda_.Code.from_asset(str(bundling.REPO / "infra"), exclude=["*", f"!{HANDLER_MODULE}.py"]),
            role=self.role,
            log_group=logs,
            timeout=Duration.minutes(1),
            memory_size=128,
        )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            log_group=log_group(self, "ProviderLogs", log_retention_days),
        )
        self._acknowledge()

    def add_policy_statement(self, construct_id: str, statement: iam.PolicyStatement) -> CustomResource:
        if not statement.sid:
            raise ValueError("a merged policy statement needs a Sid, to be found and removed again")
        return self._resource(
            construct_id, "Custom::RaglineBucketPolicyStatement", "Statement", statement.to_statement_json()
        )

    def add_cors_rule(self, construct_id: str, rule: dict[str, Any]) -> CustomResource:
        """``rule`` as S3's PutBucketCors takes it, with an ``ID``; it goes before the bucket's own rules."""
        if not rule.get("ID"):
            raise ValueError("a merged CORS rule needs an ID, to be found and removed again")
        return self._resource(construct_id, "Custom::RaglineBucketCorsRule", "CorsRule", rule)

    def _resource(self, construct_id: str, resource_type: str, kind: str, item: Any) -> CustomResource:
        return CustomResource(
            self,
            construct_id,
            service_token=self.provider.service_token,
            resource_type=resource_type,
            properties={"BucketName": self.bucket.bucket_name, kind: item},
        )

    def _acknowledge(self) -> None:
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "python3.12 like the ragline functions (infra/functions.py RUNTIME): one runtime to test and "
            "move forward deliberately; this handler runs during deployments only.",
        )
        handler_id = Stack.of(self).get_logical_id(cast(CfnElement, self.function.node.default_child))
        for rule, reason in (
            (
                BASIC_EXECUTION_ROLE,
                "CDK's Provider framework function, which only relays CloudFormation's requests to the "
                "merging handler during deployments; its role is CDK's, with CloudWatch Logs access.",
            ),
            (
                f"AwsSolutions-IAM5[Resource::<{handler_id}.Arn>:*]",
                "The Provider framework may invoke any version of the one merging handler it fronts; "
                "no other function.",
            ),
            (
                "AwsSolutions-L1",
                "The Provider framework's Node.js runtime is chosen by CDK itself and moves with the "
                "aws-cdk-lib version; it runs during deployments only.",
            ),
        ):
            acknowledge(self.provider, rule, reason)
