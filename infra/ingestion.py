"""The ingest event path: S3 notifications into an SQS queue, with a dead-letter queue behind it."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MAX_RECEIVES = 3
INGEST_FUNCTION_TIMEOUT = Duration.minutes(2)


class Ingestion(Construct):
    """ObjectCreated and ObjectRemoved of ``bucket`` go to ``queue``; after three receives, to ``dead_letters``."""

    def __init__(self, scope: Construct, construct_id: str, bucket: s3.IBucket) -> None:
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
        for event in (s3.EventType.OBJECT_CREATED, s3.EventType.OBJECT_REMOVED):
            bucket.add_event_notification(event, s3n.SqsDestination(self.queue))
