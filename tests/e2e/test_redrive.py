"""End to end: `ragline redrive` replays the dead-letter queue of a running `ragline up` into its ingest queue.

A message is put into the dead-letter queue as SQS would leave it there: the S3 notification of an object
that exists in the bucket but was never ingested. After the redrive the stack's worker ingests it.
"""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest

from ragline.ids import document_id
from ragline.local.client import StackClient
from tests.e2e.test_local_stack import aws_client, backend, cli, home  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e

KEY = "ops/runbook.md"
RUNBOOK = "# Runbook\n\nRestart the Kestrel ingest relay with `kestrel restart --drain` after a failover.\n"


def _notification(bucket: str, region: str, key: str, head: dict) -> str:
    """The body S3 sends to SQS for an ObjectCreated:Put (keys URL-encoded, as S3 does)."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": region,
                    "eventTime": "2026-01-01T00:00:00.000Z",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                        "object": {
                            "key": urllib.parse.quote_plus(key, safe="/"),
                            "size": head["ContentLength"],
                            "eTag": head["ETag"].strip('"'),
                        },
                    },
                }
            ]
        }
    )


def _queue_depth(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_redrive_replays_the_dead_letter_queue_and_the_document_is_indexed(home):  # noqa: F811
    client = StackClient(home)
    endpoints = client.endpoints
    sqs = aws_client("sqs", endpoints.s3_endpoint, endpoints.region)
    bucket = endpoints.bucket

    # An object that is in the bucket but whose notification never reached ingest: upload it while the
    # bucket sends no notifications.
    wiring = client.s3.get_bucket_notification_configuration(Bucket=bucket)
    wiring.pop("ResponseMetadata", None)
    client.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        client.s3.put_object(Bucket=bucket, Key=KEY, Body=RUNBOOK.encode(), Metadata={"roles": "ops"})
    finally:
        client.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=wiring)
    head = client.s3.head_object(Bucket=bucket, Key=KEY)
    version = head.get("VersionId") or head["ETag"].strip('"')
    doc_id = document_id(bucket, KEY)

    sqs.send_message(
        QueueUrl=endpoints.dead_letter_queue_url,
        MessageBody=_notification(bucket, endpoints.region, KEY, head),
        MessageAttributes={"replayed-by": {"DataType": "String", "StringValue": "test_redrive"}},
    )
    time.sleep(1)
    assert client.registry.get(doc_id) is None  # nothing ingests from the dead-letter queue

    dry = cli(home, "redrive", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would move 1 message(s)" in dry.stdout and f"ObjectCreated:Put {KEY}" in dry.stdout
    assert _queue_depth(sqs, endpoints.dead_letter_queue_url) == 1
    # ...and the dry run left it visible: it can be received at once.
    assert sqs.receive_message(
        QueueUrl=endpoints.dead_letter_queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0, WaitTimeSeconds=1
    ).get("Messages")

    result = cli(home, "redrive")
    assert result.returncode == 0, result.stderr
    assert "moved 1 message(s)" in result.stdout

    deadline = time.monotonic() + 60
    record = client.registry.get(doc_id)
    while (record is None or record.status != "indexed") and time.monotonic() < deadline:
        time.sleep(0.2)
        record = client.registry.get(doc_id)
    assert record is not None and record.status == "indexed" and record.version == version
    assert record.roles == ("ops",) and record.chunk_count >= 1
    assert _queue_depth(sqs, endpoints.dead_letter_queue_url) == 0

    again = cli(home, "redrive")
    assert again.returncode == 0 and "moved 0 message(s)" in again.stdout


def test_redrive_without_a_stack_says_so(tmp_path):
    result = cli(tmp_path, "redrive")
    assert result.returncode == 2 and "no local stack" in result.stderr
