"""Creates the stack's AWS resources on moto (or LocalStack): the same shape the CDK app deploys.

Used by ``ragline up`` against moto server and by the component tests against in-process moto.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ragline.settings import Settings

MAX_RECEIVES = 3  # then the dead-letter queue keeps the message
LOCAL_VISIBILITY_TIMEOUT = 20


@dataclass(frozen=True)
class Resources:
    bucket: str
    table: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str


def provision(s3: Any, sqs: Any, dynamodb: Any, settings: Settings, queue_name: str = "ragline-ingest") -> Resources:
    """Bucket with S3 -> SQS notifications, the ingest queue with its dead-letter queue, the registry table."""
    dlq_url = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=queue_name,
        Attributes={
            "VisibilityTimeout": str(LOCAL_VISIBILITY_TIMEOUT),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    if settings.region == "us-east-1":
        s3.create_bucket(Bucket=settings.bucket)
    else:
        s3.create_bucket(Bucket=settings.bucket, CreateBucketConfiguration={"LocationConstraint": settings.region})
    s3.put_bucket_notification_configuration(
        Bucket=settings.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]},
            ]
        },
    )
    dynamodb.create_table(
        TableName=settings.registry_table,
        KeySchema=[{"AttributeName": "doc_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "doc_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return Resources(settings.bucket, settings.registry_table, queue_url, queue_arn, dlq_url)
