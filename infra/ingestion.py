"""The ingest path: S3 notifications into an SQS queue (dead-letter queue behind it) and the ingest function.

The function takes batches from the queue and reports failures item by item (``ReportBatchItemFailures``),
so one bad message is retried alone and, after three receives, parked in the dead-letter queue. Its
concurrency is capped (reserved concurrency, and the same cap on the SQS poller so that it never throttles
the function and burns receives) to protect Bedrock's and OpenSearch's throughput.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import Config
from infra.functions import RaglineFunction
from infra.nag import acknowledge, finding_detail
from infra.search import Search

MAX_RECEIVES = 3
INGEST_FUNCTION_TIMEOUT = Duration.minutes(2)
INGEST_MEMORY_MB = 1024
BATCH_SIZE = 10
# Short: a document should be searchable about a second after its upload.
MAX_BATCHING_WINDOW = Duration.seconds(1)


class Ingestion(Construct):
    """ObjectCreated and ObjectRemoved of ``bucket`` go to ``queue``; after three receives, to ``dead_letters``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        bucket: s3.IBucket,
        *,
        registry: dynamodb.ITable,
        layer: lambda_.ILayerVersion,
        search: Search,
        environment: Mapping[str, str],
        config: Config,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Events",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # AWS's guidance for Lambda event sources: at least six times the function's timeout.
            visibility_timeout=Duration.seconds(INGEST_FUNCTION_TIMEOUT.to_seconds() * 6),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVES),
        )
        # On an adopted (imported) bucket CDK's Custom::S3BucketNotifications has Managed: false (aws-s3's
        # BucketNotifications: managed only for a Bucket of the stack): its handler reads the bucket's
        # configuration and puts back what this stack did not write, with ours added; on delete it removes
        # only its own. S3 still refuses two configurations for overlapping events and keys, so a bucket that
        # already sends ObjectCreated of all keys elsewhere cannot be adopted as it is (docs/deploy.md).
        for event in (s3.EventType.OBJECT_CREATED, s3.EventType.OBJECT_REMOVED):
            bucket.add_event_notification(event, s3n.SqsDestination(self.queue))
        # CDK configures bucket notifications through its own singleton custom resource.
        stack = Stack.of(self)
        for child in stack.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(
                    child,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                    "CDK's own custom resource that writes the bucket's notification configuration at deploy "
                    "time (not configurable); it runs only during deployments.",
                )

        concurrency = config.ingest_concurrency or None
        self.function = RaglineFunction(
            self,
            "Ingest",
            name="ingest",
            description="ragline ingest: S3 events from SQS -> parse, chunk, embed, index",
            layer=layer,
            environment={**environment, **search.environment},
            timeout=INGEST_FUNCTION_TIMEOUT,
            memory_mb=INGEST_MEMORY_MB,
            log_retention_days=config.log_retention_days,
            reserved_concurrency=concurrency,
        )
        self.function.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                max_batching_window=MAX_BATCHING_WINDOW,
                report_batch_item_failures=True,
                max_concurrency=concurrency,
            )
        )
        role = self.function.role
        # Read documents and their sidecars; ListBucket makes a missing key a 404 (skipped), not a 403.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadDocuments",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[bucket.arn_for_objects("*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="ListDocuments", actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{finding_detail(stack, bucket.arn_for_objects('*'))}]",
            "Ingest reads any document of the documents bucket (keys are not known in advance); no other bucket.",
        )
        registry.grant_read_write_data(role)
        self.function.allow_invoke_models([config.embed_model, *config.reindex_models])
        search.grant_read_write(self.function)
        if search.serverless:
            # A Serverless collection makes writes searchable only after its refresh interval: each change
            # queues a settle of its document, delayed past it, on this same queue (docs/architecture.md,
            # "OpenSearch Serverless consistency").
            self.function.function.add_environment("RAGLINE_INGEST_QUEUE_URL", self.queue.queue_url)
            self.queue.grant_send_messages(role)
