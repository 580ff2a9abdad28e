"""Replaying the dead-letter queue: messages that failed ``maxReceiveCount`` times go back to the ingest queue.

A transient failure (Bedrock throttling, an OpenSearch 429 or 5xx) that outlasts the in-process retries is
reported as a batch item failure; SQS redelivers the message and, after the queue's limit, moves it to the
dead-letter queue, where it waits. Once the cause is gone, :func:`redrive` sends it back.

How: receive from the dead-letter queue (batches of 10), send each body with its message attributes to the
ingest queue, and delete a message from the dead-letter queue only after its send succeeded. A crash between
the send and the delete leaves the message in both queues, so it may be ingested twice: harmless, because
ingest is idempotent (deterministic chunk ids, the document's chunks replaced as a whole).

SQS has a native ``StartMessageMoveTask`` API doing the same server-side, but moto does not implement it and
LocalStack only partly, and it moves at a fixed rate without a count limit or a dry run. The receive / send /
delete loop below is portable across AWS, LocalStack and moto.

Example:
    >>> moved = redrive(sqs, endpoints.dead_letter_queue_url, endpoints.queue_url)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ragline.errors import RaglineError

BATCH = 10  # the most SQS receives, sends or deletes in one call
#: How long received dead-letter messages stay hidden while being moved (or listed, for a dry run).
HOLD_SECONDS = 60


class RedriveError(RaglineError):
    """Some messages could not be sent back; they are still in the dead-letter queue."""

    def __init__(self, message: str, moved: int) -> None:
        super().__init__(message)
        self.moved = moved


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    """The message attributes as SendMessage takes them (receive adds empty list fields SendMessage refuses)."""
    attributes: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        kept = {"DataType": value["DataType"]}
        for field in ("StringValue", "BinaryValue"):
            if field in value:
                kept[field] = value[field]
        attributes[name] = kept
    return attributes


def _receive(sqs: Any, dlq_url: str, count: int, wait_seconds: int) -> list[dict[str, Any]]:
    return list(
        sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=max(1, min(BATCH, count)),
            WaitTimeSeconds=wait_seconds,  # long polling asks every SQS server: empty then means empty
            VisibilityTimeout=HOLD_SECONDS,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
    )


def _release(sqs: Any, dlq_url: str, messages: list[dict[str, Any]]) -> None:
    """Make received messages visible again at once."""
    for start in range(0, len(messages), BATCH):
        sqs.change_message_visibility_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + BATCH])
            ],
        )


def redrive(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    max_messages: int | None = None,
    dry_run: bool = False,
    on_message: Callable[[dict[str, Any]], None] = lambda message: None,
    wait_seconds: int = 1,
) -> int:
    """Move messages from the dead-letter queue ``dlq_url`` back to ``queue_url``; returns how many moved.

    Stops when the dead-letter queue is empty or ``max_messages`` have moved. ``on_message`` is called with
    each received message that moves (or would). With ``dry_run`` nothing moves: the messages are received,
    counted, reported, and made visible again. Raises :class:`RedriveError` (after releasing them) when some
    sends fail; those messages stay in the dead-letter queue.
    """
    if max_messages is not None and max_messages < 1:
        raise ValueError("max_messages must be at least 1")
    limit = max_messages if max_messages is not None else float("inf")
    if dry_run:
        return _count(sqs, dlq_url, limit, on_message, wait_seconds)
    moved = 0
    while moved < limit:
        batch = _receive(sqs, dlq_url, int(min(BATCH, limit - moved)), wait_seconds)
        if not batch:
            break
        moved += _move(sqs, dlq_url, queue_url, batch, on_message, moved)
    return moved


def _count(
    sqs: Any, dlq_url: str, limit: float, on_message: Callable[[dict[str, Any]], None], wait_seconds: int
) -> int:
    """A dry run: receive and report each message once, then make them all visible again."""
    held: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        while len(seen) < limit:
            batch = _receive(sqs, dlq_url, int(min(BATCH, limit - len(seen))), wait_seconds)
            fresh = [m for m in batch if m["MessageId"] not in seen]
            held.extend(batch)
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                on_message(message)
    finally:
        _release(sqs, dlq_url, held)
    return len(seen)


def _move(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    batch: list[dict[str, Any]],
    on_message: Callable[[dict[str, Any]], None],
    moved_before: int,
) -> int:
    """Send one received batch to the queue and delete what was sent from the dead-letter queue; returns
    how many moved. Raises :class:`RedriveError` after releasing the messages that could not be sent."""
    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=[_entry(i, m) for i, m in enumerate(batch)])
    sent = {item["Id"] for item in response.get("Successful", [])}
    done = [m for i, m in enumerate(batch) if str(i) in sent]
    if done:
        sqs.delete_message_batch(
            QueueUrl=dlq_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
        )
        for message in done:
            on_message(message)
    failed = response.get("Failed", [])
    if failed:
        _release(sqs, dlq_url, [m for i, m in enumerate(batch) if str(i) not in sent])
        reasons = ", ".join(sorted({str(item.get("Code", "?")) for item in failed}))
        moved = moved_before + len(done)
        raise RedriveError(
            f"moved {moved} message(s); {len(failed)} could not be sent to the queue ({reasons}) "
            "and stay in the dead-letter queue",
            moved,
        )
    return len(done)


def _entry(position: int, message: dict[str, Any]) -> dict[str, Any]:
    """The send_message_batch entry that puts ``message`` back as it was, its attributes included."""
    entry: dict[str, Any] = {"Id": str(position), "MessageBody": message["Body"]}
    attributes = _attributes(message)
    if attributes:
        entry["MessageAttributes"] = attributes
    return entry
