"""Bounded work per upload, on moto: size before reading, bounded reads, chunks per document, the clock."""

from __future__ import annotations

import dataclasses

from ragline.local.lambda_runtime import LambdaContext
from ragline.local.worker import sqs_lambda_event
from tests.store_inspection import count_chunks


class RecordingFakeObjectStore:
    """Wraps the real object store; records the byte limit of every read."""

    def __init__(self, real) -> None:
        self.real = real
        self.reads: list[tuple[str, int | None]] = []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def get(self, bucket, key, max_bytes=None):
        self.reads.append((key, max_bytes))
        return self.real.get(bucket, key, max_bytes)


def test_an_object_over_the_limit_is_failed_without_reading_it(stack):
    stack.drain()
    ingestor = stack.ingestor()
    ingestor.config = dataclasses.replace(ingestor.config, max_object_bytes=1024)
    spy = RecordingFakeObjectStore(ingestor.objects)
    ingestor.objects = spy
    stack.put("big.txt", b"word " * 8000, roles=["staff"])  # 40 KB
    stack.put("small.txt", b"A small file about zeppelins.", roles=["staff"])

    assert stack.drain() == {"batchItemFailures": []}

    big = stack.record("big.txt")
    assert (big.status, big.error) == ("failed", "file is 39.1 KB, over the limit of 1.0 KB")
    assert not any(key == "big.txt" for key, _ in spy.reads)  # refused on its HEAD
    assert all(limit is not None for _, limit in spy.reads)  # every read is bounded
    assert stack.record("small.txt").status == "indexed"


def test_an_empty_object_fails_as_empty_not_as_an_error(stack):
    stack.drain()
    stack.put("empty.md", b"", roles=["staff"])
    stack.put("empty.md.metadata.json", b"")  # an empty sidecar too: ranged GETs of 0-byte objects

    assert stack.drain() == {"batchItemFailures": []}

    record = stack.record("empty.md")
    assert record.status == "failed" and record.error


def test_a_document_with_too_many_chunks_is_failed_with_the_reason(stack):
    stack.drain()
    ingestor = stack.ingestor()
    ingestor.config = dataclasses.replace(ingestor.config, max_chunks=3, chunk_tokens=20, chunk_overlap=0)
    text = "\n\n".join(f"Paragraph {n} says something about topic {n} in a few more words." for n in range(40))
    stack.put("long.md", text, roles=["staff"])
    stack.put("short.md", "A short note.", roles=["staff"])

    assert stack.drain() == {"batchItemFailures": []}

    record = stack.record("long.md")
    assert record.status == "failed" and "over the limit of 3 (RAGLINE_MAX_CHUNKS)" in record.error
    assert count_chunks(ingestor.store, record.doc_id) == 0
    assert stack.record("short.md").status == "indexed"


def test_records_are_left_for_redelivery_when_the_invocation_runs_out_of_time(stack):
    stack.drain()
    stack.put("a.md", "# A\n\nAbout apples.", roles=["staff"])
    stack.put("b.md", "# B\n\nAbout bananas.", roles=["staff"])
    messages = stack.receive()
    event = sqs_lambda_event(messages, stack.resources.queue_arn, stack.settings.region)
    reserve = stack.ingestor().config.ingest_reserve_seconds

    almost_over = LambdaContext(function_name="ragline-ingest", timeout_seconds=reserve - 1)
    response = stack.ingest.module.lambda_handler(event, almost_over)

    assert {item["itemIdentifier"] for item in response["batchItemFailures"]} == {m["MessageId"] for m in messages}
    assert stack.record("a.md") is None and stack.record("b.md") is None
    assert stack.deliver(messages) == {"batchItemFailures": []}  # with time, the redelivery does them
    assert stack.record("a.md").status == stack.record("b.md").status == "indexed"
