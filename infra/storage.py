"""Where documents and their state live: the documents bucket and the registry table; and the access audit
trail's table and the key its records hash questions with (docs/security.md, "The audit trail").

The documents bucket is ragline's own, or an existing one adopted with ``ragline:bucket`` (docs/deploy.md,
"Adopting an existing bucket"): CloudFormation never owns an adopted bucket, so deleting the stack leaves it,
and its policy and CORS configuration get ragline's statement and rule merged in (:mod:`infra.adoption`), not
replaced.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.adoption import BucketMerge, deny_insecure_transport
from infra.functions import log_group
from infra.nag import acknowledge, acknowledge_sdk_calls

# What a browser sends with a presigned PUT (docs/security.md, the write model): the signed metadata
# (x-amz-meta-roles, -owner, -writers) and write condition (If-Match or If-None-Match), and the file's
# Content-Type. Content-Length and Host are set by the browser itself and never asked for in a preflight.
BROWSER_UPLOAD_HEADERS = ("content-type", "if-match", "if-none-match", "x-amz-meta-*")
BROWSER_METHODS = ("PUT", "GET")  # presigned uploads and downloads
CORS_MAX_AGE_SECONDS = 3600
AUDIT_TTL_ATTRIBUTE = "expires_at"  # ragline.auditlogs.dynamodb writes it: the record's time plus the retention
# The web app's rule among an adopted bucket's CORS rules, found again by this ID to be removed.
BROWSER_CORS_RULE_ID = "RaglineWebApp"


def browser_cors_rule(origin: str) -> dict[str, Any]:
    """The documents bucket's one CORS rule, as S3's PutBucketCors takes it: ``origin`` and nothing else."""
    return {
        "AllowedOrigins": [origin],
        "AllowedMethods": list(BROWSER_METHODS),
        "AllowedHeaders": list(BROWSER_UPLOAD_HEADERS),
        "ExposeHeaders": ["ETag"],  # the app reads the uploaded version's ETag
        "MaxAgeSeconds": CORS_MAX_AGE_SECONDS,
    }


class Storage(Construct):
    """An encrypted, versioned, private, TLS-only bucket with access logs, and the documents registry; the
    audit trail's table and its HMAC key.

    All are retained when the stack is deleted: they hold the documents, their state and who read them.
    With ``adopt_bucket`` the documents bucket is that existing bucket instead (imported, never owned by the
    stack): its notifications, policy and CORS are added to, and it is left as it is on deletion.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, adopt_bucket: str = "", log_retention_days: int = 30
    ) -> None:
        super().__init__(scope, construct_id)
        # The web app's buckets log here too (infra/webapp.py), so it exists whichever documents bucket is used.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.adopted = bool(adopt_bucket)
        self.merge: BucketMerge | None = None
        if adopt_bucket:
            self.bucket: s3.IBucket = s3.Bucket.from_bucket_name(self, "Documents", adopt_bucket)
            # add_to_resource_policy does nothing on an imported bucket, and an AWS::S3::BucketPolicy
            # would replace the bucket's own policy: merge one statement instead.
            self.merge = BucketMerge(self, "AdoptedBucket", bucket=self.bucket, log_retention_days=log_retention_days)
            self.merge.add_policy_statement("TlsOnly", deny_insecure_transport(self.bucket))
        else:
            self.bucket = self._own_bucket()
        self.cors: Construct | None = None
        self.registry = dynamodb.Table(
            self,
            "Registry",
            partition_key=dynamodb.Attribute(name="doc_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self._audit_trail()

    def _own_bucket(self) -> s3.Bucket:
        return s3.Bucket(
            self,
            "Documents",
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,  # each upload is a version: ingest keys chunks by it
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="documents/",
            lifecycle_rules=[
                # Replaced and deleted documents stay recoverable for a month, then stop costing.
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _audit_trail(self) -> None:
        """Records keyed by user or document (``pk``) and time (``sk``); point-in-time recovery (any second of
        the last 35 days can be restored, whatever was written since), deletion protection, TTL for the
        retention. The query function may only put records and query them (infra/api.py)."""
        self.audit = dynamodb.Table(
            self,
            "Audit",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            time_to_live_attribute=AUDIT_TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # A random key, made by Secrets Manager at deploy time: no one types it, no template holds it.
        self.audit_key = secretsmanager.Secret(
            self,
            "AuditKey",
            description="ragline: the HMAC-SHA256 key audit records hash questions with",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.audit_key,
            "AwsSolutions-SMG4",
            "The audit key is not rotated automatically: a question's HMAC is compared with HMACs made under "
            "the same key, so a rotation is a deliberate change, made by hand, that starts a new series.",
        )

    def allow_browser_origin(self, origin: str, *, log_retention_days: int) -> Construct:
        """Lets pages of ``origin`` (the web app's ``https://host``) PUT and GET presigned URLs of the bucket.

        The rule is written after the bucket exists, by a call of S3's PutBucketCors at deploy time, rather
        than as the bucket's CorsConfiguration: the origin is the CloudFront distribution's domain, and the
        distribution's Content-Security-Policy names this bucket, so a rule inside the bucket resource would
        make the bucket and the distribution wait for each other (the cycle CDK's own bucket notifications
        avoid the same way). Deleting the stack deletes the rule; the bucket stays. An adopted bucket gets
        the rule merged into its own CORS rules instead (first, under :data:`BROWSER_CORS_RULE_ID`), and
        keeps them when the stack is deleted.
        """
        if self.cors is not None:
            raise ValueError("the documents bucket allows one browser origin")
        if self.merge is not None:
            self.cors = self.merge.add_cors_rule(
                "BrowserCors", {"ID": BROWSER_CORS_RULE_ID, **browser_cors_rule(origin)}
            )
            return self.cors
        bucket = self.bucket.bucket_name
        put_rule = cr.AwsSdkCall(
            service="S3",
            action="putBucketCors",
            parameters={"Bucket": bucket, "CORSConfiguration": {"CORSRules": [browser_cors_rule(origin)]}},
            physical_resource_id=cr.PhysicalResourceId.of(f"{bucket}-cors"),
        )
        self.cors = cr.AwsCustomResource(
            self,
            "BrowserCors",
            on_create=put_rule,
            on_update=put_rule,
            on_delete=cr.AwsSdkCall(service="S3", action="deleteBucketCors", parameters={"Bucket": bucket}),
            # S3 authorizes PutBucketCors and DeleteBucketCors both with s3:PutBucketCORS (there is no
            # s3:DeleteBucketCORS action), so the policy is written out rather than derived from the calls.
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["s3:PutBucketCORS"], resources=[self.bucket.bucket_arn])]
            ),
            install_latest_aws_sdk=False,  # the runtime's SDK knows PutBucketCors; no download at deploy time
            log_group=log_group(self, "BrowserCorsLogs", log_retention_days),
        )
        acknowledge_sdk_calls(Stack.of(self))
        return self.cors
