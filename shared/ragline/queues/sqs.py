"""The SQS adapter of the EventQueue port: messages on the ingest queue, ten to a request.

Example:
    >>> url = "https://sqs.us-east-1.amazonaws.com/123456789012/ragline-ingest"
    >>> queue = SqsEventQueue(boto3.client("sqs"), url)  # doctest: +SKIP
    >>> queue.send(['{"Records": []}'])  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ragline.errors import TransientError
from ragline.ports import MAX_QUEUE_DELAY_SECONDS

BATCH = 10  # SendMessageBatch takes at most ten entries
ATTEMPTS = 5  # of the entries SQS refused as its own fault (SenderFault false), with backoff between them
CONCURRENCY = 8  # requests in flight: a backfill of a million keys is 100,000 requests


class QueueRefused(TransientError):
    """SQS kept refusing some messages; the sync can be run again (it is idempotent)."""


class SqsEventQueue:
    """:class:`ragline.ports.EventQueue` on one SQS queue (``url``), through a boto3 SQS ``client``."""

    def __init__(self, client: Any, url: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sqs = client
        self.url = url
        self._sleep = sleep

    def send(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        """Every body as one message, delivered no sooner than ``delay_seconds``; raises
        :class:`QueueRefused` naming how many SQS would not take."""
        if not 0 <= delay_seconds <= MAX_QUEUE_DELAY_SECONDS:
            raise ValueError(f"SQS delays a message 0 to {MAX_QUEUE_DELAY_SECONDS} s, not {delay_seconds}")
        batches = [list(bodies[start : start + BATCH]) for start in range(0, len(bodies), BATCH)]
        if not batches:
            return
        with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(batches))) as pool:
            refused = sum(pool.map(lambda batch: self._send_batch(batch, delay_seconds), batches))
        if refused:
            raise QueueRefused(f"SQS refused {refused} of {len(bodies)} messages; run the sync again")

    def _send_batch(self, batch: list[str], delay_seconds: int) -> int:
        """Sends one batch; returns how many of its messages SQS refused for good."""
        pending = {str(i): body for i, body in enumerate(batch)}
        for attempt in range(ATTEMPTS):
            entries = [
                {"Id": entry_id, "MessageBody": body, "DelaySeconds": delay_seconds}
                for entry_id, body in pending.items()
            ]
            response = self._sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            failed = response.get("Failed", [])
            if any(failure.get("SenderFault") for failure in failed):
                reasons = sorted({str(failure.get("Code")) for failure in failed if failure.get("SenderFault")})
                raise ValueError(f"SQS refused the messages as malformed: {', '.join(reasons)}")
            pending = {failure["Id"]: pending[failure["Id"]] for failure in failed}
            if not pending:
                return 0
            self._sleep(min(0.1 * 2**attempt, 2.0))
        return len(pending)
