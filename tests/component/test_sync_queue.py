"""The SQS adapter of the EventQueue port on moto: every body arrives, ten to a request, and a refusal
that outlives the retries is raised, never dropped."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from ragline.queues.sqs import BATCH, QueueRefused, SqsEventQueue


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _received(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        bodies += [message["Body"] for message in messages]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in messages]
        )


def test_every_body_arrives_once(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="ingest")["QueueUrl"]
    bodies = [f'{{"n": {number}}}' for number in range(57)]

    SqsEventQueue(sqs, url).send(bodies)

    assert sorted(_received(sqs, url)) == sorted(bodies)


class FakeSqsRefusingSome:
    """A fake SQS client (tests only) whose batches fail entry ``refused`` with a server fault ``times`` times."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.sent: list[str] = []
        self.requests = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        assert len(Entries) <= BATCH
        self.requests += 1
        failed = []
        for entry in Entries:
            if entry["MessageBody"] == "flaky" and self.times > 0:
                self.times -= 1
                failed.append({"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"})
            else:
                self.sent.append(entry["MessageBody"])
        return {"Successful": [], "Failed": failed}


def test_entries_sqs_refuses_are_sent_again() -> None:
    client = FakeSqsRefusingSome(times=2)

    SqsEventQueue(client, "url", sleep=lambda seconds: None).send(["a", "flaky", "b"])

    assert sorted(client.sent) == ["a", "b", "flaky"] and client.requests == 3


def test_a_refusal_that_outlives_the_retries_is_raised() -> None:
    client = FakeSqsRefusingSome(times=100)

    with pytest.raises(QueueRefused, match="refused 1 of 2"):
        SqsEventQueue(client, "url", sleep=lambda seconds: None).send(["a", "flaky"])
