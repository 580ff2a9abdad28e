"""The ingest worker: long-polls the ingest queue and calls the ingest function with the SQS event it got,
as Lambda's SQS event source mapping does, then deletes what succeeded and leaves failures to redelivery."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ragline.local.lambda_runtime import LocalFunction

logger = logging.getLogger(__name__)

BATCH_SIZE = 10


def sqs_lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping builds from received messages."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class IngestWorker:
    """Polls in a background thread until stopped."""

    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, region: str, function: LocalFunction) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._function = function
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Receive one batch and hand it to the function; returns how many messages it got."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        response = self._function.invoke(sqs_lambda_event(messages, self._queue_arn, self._region))
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if failed:
            logger.warning("%d message(s) failed and will be redelivered", len(failed))
        return len(messages)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # keep polling: one bad batch must not stop ingestion
                logger.exception("ingest worker poll failed")
                self._stopping.wait(1)
