"""Property: whatever the order, duplication and timing of S3's events, the index ends equal to the bucket.

Random interleavings of creates, overwrites and deletes of a few keys, with each notification delivered
zero or more extra times and in shuffled order, some before later writes happen. Run twice: with S3's
per-key sequencers on the events (as AWS sends them) and without (as LocalStack may send them).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragline.ids import document_id
from ragline.ingest import ObjectEvent
from ragline.local.worker import sqs_lambda_event
from tests.conftest import examples
from tests.store_inspection import count_chunks

KEYS = ["a.md", "b.md", "c.md"]
_example = itertools.count()

operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(KEYS)),
        st.tuples(st.just("delete"), st.sampled_from(KEYS)),
        st.tuples(st.just("deliver"), st.integers(1, 4)),
        st.tuples(st.just("repeat"), st.integers(0, 50)),
    ),
    min_size=1,
    max_size=14,
)


def with_sequencer(message: dict, sequencer: int | None) -> dict:
    """Stamp the S3 event in an SQS message with a sequencer of fixed width, or (None) take it out, as
    LocalStack's events may come without one."""
    body = json.loads(message["Body"])
    for record in body.get("Records", []):
        if sequencer is None:
            record["s3"]["object"].pop("sequencer", None)
        else:
            record["s3"]["object"]["sequencer"] = f"{sequencer:016X}"
    return {**message, "Body": json.dumps(body)}


@pytest.mark.parametrize("sequencers", [True, False], ids=["with-sequencers", "without-sequencers"])
@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, data=st.data())
def test_the_index_ends_equal_to_the_bucket(stack, sequencers, ops, data):
    example = next(_example)
    prefix = f"ex{example}/"  # each example its own keys and words, in the one moto account of the test
    ingestor = stack.ingest.module.ingestor()
    pending: list[dict] = []
    delivered: list[dict] = []
    versions = itertools.count(1)
    sequence = itertools.count(1)

    def deliver(messages: list[dict]) -> None:
        response = stack.ingest.invoke(sqs_lambda_event(messages, stack.resources.queue_arn, stack.settings.region))
        assert response == {"batchItemFailures": []}
        delivered.extend(messages)

    def notifications() -> None:
        pending.extend(_notifications(stack, sequence if sequencers else None))

    for op, argument in ops:
        if op == "put":
            version = next(versions)
            stack.put(
                prefix + argument, f"# {argument}\n\nVersion marker{example}v{version}x of {argument}.", roles=["staff"]
            )
            notifications()
        elif op == "delete":
            stack.delete(prefix + argument)
            notifications()
        elif op == "deliver" and pending:
            order = data.draw(st.permutations(range(len(pending))))[:argument]
            deliver([pending[i] for i in order])
            pending[:] = [m for i, m in enumerate(pending) if i not in set(order)]
        elif op == "repeat" and delivered:
            deliver([delivered[argument % len(delivered)]])  # S3 and SQS deliver at least once
    if pending:
        deliver([pending[i] for i in data.draw(st.permutations(range(len(pending))))])

    for key in KEYS:
        _assert_indexed_as_in_the_bucket(stack, ingestor, prefix + key)


def _notifications(stack, sequence: Iterator[int] | None) -> list[dict]:
    """The stack's new notifications but S3's test event, each with the next sequencer, or with none."""
    messages = [m for m in stack.receive() if json.loads(m["Body"]).get("Event") != "s3:TestEvent"]
    return [with_sequencer(message, None if sequence is None else next(sequence)) for message in messages]


def _assert_indexed_as_in_the_bucket(stack, ingestor, key: str) -> None:
    """The object at ``key`` is indexed at its current version, or, deleted, has no chunks left."""
    bucket = stack.settings.bucket
    doc_id = document_id(bucket, key)
    listing = stack.s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    record = ingestor.registry.get(doc_id)
    if listing:
        current = stack.s3.get_object(Bucket=bucket, Key=key)
        etag = current["ETag"].strip('"')
        marker = current["Body"].read().decode().split("Version ")[1].split(" ")[0]
        assert record is not None and (record.status, record.version) == ("indexed", etag)
        assert count_chunks(ingestor.store, doc_id) == record.chunk_count >= 1
        hits = ingestor.store.bm25_search(marker, frozenset({"staff"}), 10)
        assert {hit.chunk.doc_id for hit in hits} == {doc_id}
        assert {hit.chunk.version for hit in hits} == {etag}
    else:
        assert count_chunks(ingestor.store, doc_id) == 0
        assert record is None or record.status in ("deleted", "queued")


def test_an_event_that_arrives_while_its_document_is_ingested_is_handed_to_that_ingest(stack):
    """Two Lambdas at once for one key: the older reads v1; the newer event comes while the older holds the
    document's lease, hands its work over and returns; the older then ingests v2 before letting go."""
    bucket = stack.settings.bucket
    ingestor = stack.ingest.module.ingestor()
    stack.put("race.md", "# Race\n\nFirst version mentions apples.", roles=["staff"])
    stack.receive()
    real_objects = ingestor.objects
    outcomes = []

    class RacingFakeObjectStore:
        """Returns v1 to the older event, but meanwhile lets the newer event run."""

        def __init__(self) -> None:
            self.raced = False

        def __getattr__(self, name):
            return getattr(real_objects, name)

        def get(self, bucket_name, key, max_bytes=None):
            stored = real_objects.get(bucket_name, key, max_bytes)
            if key == "race.md" and not self.raced:
                self.raced = True
                stack.put("race.md", "# Race\n\nSecond version mentions pears.", roles=["staff"])
                stack.receive()
                outcomes.append(ingestor.handle(ObjectEvent("created", bucket, "race.md", "0000000000000002")))
            return stored

    ingestor.objects = RacingFakeObjectStore()
    try:
        assert ingestor.handle(ObjectEvent("created", bucket, "race.md", "0000000000000001")) == "indexed"
    finally:
        ingestor.objects = real_objects

    assert outcomes == ["handed-over"]
    doc_id = document_id(bucket, "race.md")
    assert ingestor.store.bm25_search("pears", frozenset({"staff"}), 5)
    assert not ingestor.store.bm25_search("apples", frozenset({"staff"}), 5)
    record = ingestor.registry.get(doc_id)
    assert record.status == "indexed" and record.sequencer.endswith("2")
