"""The local stack's S3 events carry sequencers that order a key's events as S3's do."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws

from ragline.ingest import sortable_sequencer
from ragline.local.s3_events import install_sequencers, next_sequencer


def test_sequencers_grow_and_change_width_like_s3s():
    values = [next_sequencer() for _ in range(40)]
    assert all(len(value) % 2 == 0 and value == value.upper() for value in values)
    assert [sortable_sequencer(v) for v in values] == sorted(sortable_sequencer(v) for v in values)
    assert len(set(values)) == len(values)


def test_moto_notifications_carry_increasing_sequencers(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    install_sequencers()
    with mock_aws():
        s3, sqs = boto3.client("s3", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.create_bucket(Bucket="seq-bucket")
        s3.put_bucket_notification_configuration(
            Bucket="seq-bucket",
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
            },
        )
        s3.put_object(Bucket="seq-bucket", Key="k", Body=b"1")
        s3.put_object(Bucket="seq-bucket", Key="k", Body=b"2")
        s3.delete_object(Bucket="seq-bucket", Key="k")
        sequencers = []
        while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                body = json.loads(message["Body"])
                sequencers += [r["s3"]["object"]["sequencer"] for r in body.get("Records", [])]
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert len(sequencers) == 3
    assert [sortable_sequencer(s) for s in sequencers] == sorted(sortable_sequencer(s) for s in sequencers)
