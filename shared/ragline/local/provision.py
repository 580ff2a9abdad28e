"""Creates the stack's AWS resources on moto or LocalStack: the same shape the CDK app deploys.

Used by ``ragline up`` (against moto server, or a long-lived LocalStack) and by the component tests against
in-process moto. Provisioning is idempotent: a resource that already exists (an earlier run against the same
LocalStack) is reused and brought to the configured shape; ``teardown`` removes them all, so that a stack can
start from nothing on an endpoint that outlives it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ragline.settings import Settings

logger = logging.getLogger(__name__)

MAX_RECEIVES = 3  # then the dead-letter queue keeps the message
LOCAL_VISIBILITY_TIMEOUT = 20
DEFAULT_QUEUE = "ragline-ingest"

_NO_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_NO_BUCKET = {"NoSuchBucket", "404", "NotFound"}


@dataclass(frozen=True)
class Resources:
    bucket: str
    table: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str
    audit_table: str


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    """Creates the queue, or gives an existing one these attributes (SQS refuses a create that differs)."""
    try:
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    except ClientError as error:
        if _code(error) != "QueueAlreadyExists":
            raise
    url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def _ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as error:
        if _code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        s3.head_bucket(Bucket=bucket)  # raises unless the existing bucket is ours to use


def _ensure_table(dynamodb: Any, table: str, keys: tuple[str, ...]) -> None:
    """A table of string ``keys``: the partition key, then the sort key if any."""
    try:
        dynamodb.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": key, "KeyType": kind}
                for key, kind in zip(keys, ("HASH", "RANGE")[: len(keys)], strict=True)
            ],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as error:
        if _code(error) != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def _ensure_audit_table(dynamodb: Any, table: str) -> None:
    """The audit trail's table as the stack's (infra/storage.py): records keyed by partition and position,
    removed by TTL on ``expires_at`` once their retention has passed."""
    _ensure_table(dynamodb, table, ("pk", "sk"))
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )


def provision(s3: Any, sqs: Any, dynamodb: Any, settings: Settings, queue_name: str = DEFAULT_QUEUE) -> Resources:
    """Bucket with S3 -> SQS notifications, the ingest queue with its dead-letter queue, the registry table
    and the audit trail's table."""
    dlq_url = _ensure_queue(sqs, f"{queue_name}-dlq", {})
    queue_url = _ensure_queue(
        sqs,
        queue_name,
        {
            "VisibilityTimeout": str(LOCAL_VISIBILITY_TIMEOUT),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": _queue_arn(sqs, dlq_url), "maxReceiveCount": MAX_RECEIVES}
            ),
        },
    )
    queue_arn = _queue_arn(sqs, queue_url)

    _ensure_bucket(s3, settings.bucket, settings.region)
    s3.put_bucket_notification_configuration(
        Bucket=settings.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]},
            ]
        },
    )
    _ensure_table(dynamodb, settings.registry_table, ("doc_id",))
    _ensure_audit_table(dynamodb, settings.audit_table)
    return Resources(settings.bucket, settings.registry_table, queue_url, queue_arn, dlq_url, settings.audit_table)


def _empty_bucket(s3: Any, bucket: str) -> None:
    """Deletes every object version, delete marker and object of the bucket."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        doomed = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})


def teardown(
    s3: Any,
    sqs: Any,
    dynamodb: Any,
    bucket: str,
    table: str,
    queue_name: str = DEFAULT_QUEUE,
    audit_table: str | None = None,
) -> None:
    """Removes what ``provision`` creates, whichever of it exists: the bucket (emptied first), both queues and
    the tables. Used to start from nothing, and to clean up, on an endpoint that outlives the stack."""
    try:
        # No notifications while the bucket is emptied: its queue is about to go too.
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
        _empty_bucket(s3, bucket)
        s3.delete_bucket(Bucket=bucket)
    except ClientError as error:
        if _code(error) not in _NO_BUCKET:
            raise
    for name in (queue_name, f"{queue_name}-dlq"):
        try:
            sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])
        except ClientError as error:
            if _code(error) not in _NO_QUEUE:
                raise
    for doomed in (table, audit_table):
        if doomed is not None:
            _delete_table(dynamodb, doomed)


def _delete_table(dynamodb: Any, table: str) -> None:
    try:
        dynamodb.delete_table(TableName=table)
    except ClientError as error:
        if _code(error) != "ResourceNotFoundException":
            raise
    else:
        dynamodb.get_waiter("table_not_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
