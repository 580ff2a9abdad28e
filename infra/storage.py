"""Where documents and their state live: the documents bucket and the registry table; and the access audit
trail's table and the key its records hash questions with (docs/security.md, "The audit trail").

The documents bucket is ragline's own, or an existing one adopted with ``ragline:bucket`` (docs/deploy.md,
"Adopting an existing bucket"): CloudFormation never owns an adopted bucket, so deleting the stack leaves it,
and its policy gets ragline's TLS-only statement merged in (:class:`BucketPolicyStatement`), not replaced.
"""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import CfnElement, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra import bundling
from infra.functions import ARCHITECTURE, RUNTIME, log_group
from infra.nag import BASIC_EXECUTION_ROLE, acknowledge, stack_singletons

# The id of the one function CDK puts behind every AwsCustomResource of a stack.
AWS_CUSTOM_RESOURCE_ID = "AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", "")

# What a browser sends with a presigned PUT (docs/security.md, the write model): the signed metadata
# (x-amz-meta-roles, -owner, -writers) and write condition (If-Match or If-None-Match), and the file's
# Content-Type. Content-Length and Host are set by the browser itself and never asked for in a preflight.
BROWSER_UPLOAD_HEADERS = ("content-type", "if-match", "if-none-match", "x-amz-meta-*")
BROWSER_METHODS = ("PUT", "GET")  # presigned uploads and downloads
CORS_MAX_AGE_SECONDS = 3600
AUDIT_TTL_ATTRIBUTE = "expires_at"  # ragline.auditlogs.dynamodb writes it: the record's time plus the retention
# The statement ragline merges into an adopted bucket's policy, found again by this Sid to be removed.
TLS_ONLY_SID = "RaglineDenyInsecureTransport"
# The custom resource's handler: this one file of infra/ is its asset (boto3 is the runtime's).
POLICY_STATEMENT_HANDLER = "bucket_policy_statement"


def browser_cors_rule(origin: str) -> dict[str, Any]:
    """The documents bucket's one CORS rule, as S3's PutBucketCors takes it: ``origin`` and nothing else."""
    return {
        "AllowedOrigins": [origin],
        "AllowedMethods": list(BROWSER_METHODS),
        "AllowedHeaders": list(BROWSER_UPLOAD_HEADERS),
        "ExposeHeaders": ["ETag"],  # the app reads the uploaded version's ETag
        "MaxAgeSeconds": CORS_MAX_AGE_SECONDS,
    }


def deny_insecure_transport(bucket: s3.IBucket) -> iam.PolicyStatement:
    """What ``enforce_ssl=True`` puts in a bucket policy of ragline's own, under a fixed Sid."""
    return iam.PolicyStatement(
        sid=TLS_ONLY_SID,
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=["s3:*"],
        resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
        conditions={"Bool": {"aws:SecureTransport": "false"}},
    )


class BucketPolicyStatement(Construct):
    """Keeps ``statement`` (it must have a Sid) in the policy of ``bucket``, which the stack does not own, and
    takes only it out again when the stack is deleted: the bucket's other statements stay as they are.

    A custom resource of CDK's Provider framework around :mod:`infra.bucket_policy_statement`; its function
    may read, put and delete that one bucket's policy, nothing else. The read-merge-write is not atomic: a
    policy changed by someone else during the same second of a deployment could lose that change.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        statement: iam.PolicyStatement,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        if not statement.sid:
            raise ValueError("a merged bucket policy statement needs a Sid, to be found and removed again")
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="ragline: merges one statement into an adopted bucket's policy",
        )
        logs = log_group(self, "Logs", log_retention_days)
        logs.grant_write(self.role)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="MergeOneStatement",
                actions=["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"],
                resources=[bucket.bucket_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Handler",
            description="ragline: merges one statement into an adopted bucket's policy (deployments only)",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"{POLICY_STATEMENT_HANDLER}.on_event",
            code=lambda_.Code.from_asset(
                str(bundling.REPO / "infra"), exclude=["*", f"!{POLICY_STATEMENT_HANDLER}.py"]
            ),
            role=self.role,
            log_group=logs,
            timeout=Duration.minutes(1),
            memory_size=128,
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            log_group=log_group(self, "ProviderLogs", log_retention_days),
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::RaglineBucketPolicyStatement",
            properties={"BucketName": bucket.bucket_name, "Statement": statement.to_statement_json()},
        )
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
                "AwsSolutions-IAM5[Resource::<{handler}.Arn>:*]",
                "The Provider framework may invoke any version of the one merging handler it fronts; "
                "no other function.",
            ),
            (
                "AwsSolutions-L1",
                "The Provider framework's Node.js runtime is chosen by CDK itself and moves with the "
                "aws-cdk-lib version; it runs during deployments only.",
            ),
        ):
            acknowledge(provider, rule.format(handler=handler_id), reason)


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
        self.tls_only: BucketPolicyStatement | None = None
        if adopt_bucket:
            self.bucket: s3.IBucket = s3.Bucket.from_bucket_name(self, "Documents", adopt_bucket)
            # add_to_resource_policy does nothing on an imported bucket, and an AWS::S3::BucketPolicy
            # would replace the bucket's own policy: merge one statement instead.
            self.tls_only = BucketPolicyStatement(
                self,
                "DocumentsTlsOnly",
                bucket=self.bucket,
                statement=deny_insecure_transport(self.bucket),
                log_retention_days=log_retention_days,
            )
        else:
            self.bucket = self._own_bucket()
        self.cors: cr.AwsCustomResource | None = None
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

    def allow_browser_origin(self, origin: str, *, log_retention_days: int) -> cr.AwsCustomResource:
        """Lets pages of ``origin`` (the web app's ``https://host``) PUT and GET presigned URLs of the bucket.

        The rule is written after the bucket exists, by a call of S3's PutBucketCors at deploy time, rather
        than as the bucket's CorsConfiguration: the origin is the CloudFront distribution's domain, and the
        distribution's Content-Security-Policy names this bucket, so a rule inside the bucket resource would
        make the bucket and the distribution wait for each other (the cycle CDK's own bucket notifications
        avoid the same way). Deleting the stack deletes the rule; the bucket stays.
        """
        if self.cors is not None:
            raise ValueError("the documents bucket allows one browser origin")
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
        for singleton in stack_singletons(Stack.of(self), AWS_CUSTOM_RESOURCE_ID):
            acknowledge(
                singleton,
                BASIC_EXECUTION_ROLE,
                "CDK's own AwsCustomResource function, which makes its calls during deployments only (the "
                "documents bucket's CORS rule, the deploy-time reconcile); its role is CDK's, and its other "
                "permissions are s3:PutBucketCORS on that bucket and lambda:InvokeFunction on the reconcile.",
            )
        return self.cors
