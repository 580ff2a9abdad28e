"""The local stack's moto SQS: a receive that no longer costs the queue's depth squared still keeps SQS's
retention rule (a message older than the queue's retention period is never returned)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import sqs_backends

from ragline.local.moto_sqs import install_constant_time_retention


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    install_constant_time_retention()
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def test_messages_within_retention_are_received_and_expired_ones_are_not(sqs) -> None:
    url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    for body in ("new", "old"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    queue = sqs_backends["123456789012"]["us-east-1"].get_queue("q")
    old = next(message for message in queue._messages if message.body == "old")
    old.sent_timestamp -= 61_000  # sent 61 s ago: past the queue's 60 s

    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])

    assert [message["Body"] for message in received] == ["new"]  # (moto stops its pass at an expired one)


def test_the_counts_of_a_queue_are_still_exact_when_asked_for(sqs) -> None:
    url = sqs.create_queue(QueueName="counted", Attributes={"ContentBasedDeduplication": "false"})["QueueUrl"]
    for number in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=str(number))
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    asked = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]

    assert attributes["ApproximateNumberOfMessages"] == "3" and asked == {"ApproximateNumberOfMessages": "3"}
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "2"
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert attributes["VisibilityTimeout"] == "30"


def test_deleted_messages_are_gone_and_a_second_deletion_or_a_bad_handle_behave_as_before(sqs) -> None:
    from botocore.exceptions import ClientError

    url = sqs.create_queue(QueueName="deleting", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    for number in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=str(number))
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=30)["Messages"]

    for message in received:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])  # again: no error, as in SQS

    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in left) == sorted({"0", "1", "2", "3"} - {m["Body"] for m in received})
    with pytest.raises(ClientError, match="ReceiptHandleIsInvalid"):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
