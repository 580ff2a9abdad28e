"""Property: whatever the order, duplication and timing of S3's events, the index ends equal to the bucket.

Random interleavings of creates, overwrites and deletes of a few keys, with each notification delivered
zero or more extra times and in shuffled order, some before later writes happen. Run twice: with S3's
per-key sequencers on the events (as AWS sends them) and without (as LocalStack may send them).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragline.ids import document_id
from ragline.ingest import ObjectEvent
from ragline.local.worker import sqs_lambda_event
from tests.conftest import examples

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


@dataclass
class Run:
    """One example: writes to the bucket, and their notifications held back, shuffled and repeated."""

    stack: Any
    data: Any  # Hypothesis' st.data(): the draws made as the run goes
    example: int
    sequencers: bool
    pending: list[dict] = field(default_factory=list)
    delivered: list[dict] = field(default_factory=list)
    versions: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    sequence: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def prefix(self) -> str:
        return f"ex{self.example}/"  # each example its own keys and words, in the one moto account of the test

    def apply(self, op: str, argument: Any) -> None:
        stack, prefix, pending = self.stack, self.prefix, self.pending
        if op == "put":
            version = next(self.versions)
            stack.put(
                prefix + argument,
                f"# {argument}\n\nVersion marker{self.example}v{version}x of {argument}.",
                roles=["staff"],
            )
            self.notifications()
        elif op == "delete":
            stack.delete(prefix + argument)
            self.notifications()
        elif op == "deliver" and pending:
            order = self.data.draw(st.permutations(range(len(pending))))[:argument]
            self.deliver([pending[i] for i in order])
            pending[:] = [m for i, m in enumerate(pending) if i not in set(order)]
        elif op == "repeat" and self.delivered:
            self.deliver([self.delivered[argument % len(self.delivered)]])  # S3 and SQS deliver at least once

    def deliver(self, messages: list[dict]) -> None:
        stack = self.stack
        response = stack.ingest.invoke(sqs_lambda_event(messages, stack.resources.queue_arn, stack.settings.region))
        assert response == {"batchItemFailures": []}
        self.delivered.extend(messages)

    def notifications(self) -> None:
        for message in self.stack.receive():
            if json.loads(message["Body"]).get("Event") == "s3:TestEvent":
                continue
            self.pending.append(with_sequencer(message, next(self.sequence) if self.sequencers else None))


@pytest.mark.parametrize("sequencers", [True, False], ids=["with-sequencers", "without-sequencers"])
@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, data=st.data())
def test_the_index_ends_equal_to_the_bucket(stack, sequencers, ops, data):
    run = Run(stack, data, next(_example), sequencers)
    ingestor = stack.ingest.module.ingestor()
    for op, argument in ops:
        run.apply(op, argument)
    if run.pending:
        run.deliver([run.pending[i] for i in data.draw(st.permutations(range(len(run.pending))))])

    for key in KEYS:
        assert_index_equals_bucket(stack, ingestor, run.prefix + key)


def assert_index_equals_bucket(stack, ingestor, full_key: str) -> None:
    """The key's chunks and registry record are the bucket's current version, or gone with the object."""
    bucket = stack.settings.bucket
    doc_id = document_id(bucket, full_key)
    listing = stack.s3.list_objects_v2(Bucket=bucket, Prefix=full_key).get("Contents", [])
    record = ingestor.registry.get(doc_id)
    if listing:
        current = stack.s3.get_object(Bucket=bucket, Key=full_key)
        etag = current["ETag"].strip('"')
        marker = current["Body"].read().decode().split("Version ")[1].split(" ")[0]
        assert record is not None and (record.status, record.version) == ("indexed", etag)
        assert ingestor.store.count(doc_id) == record.chunk_count >= 1
        hits = ingestor.store.bm25_search(marker, frozenset({"staff"}), 10)
        assert {hit.chunk.doc_id for hit in hits} == {doc_id}
        assert {hit.chunk.version for hit in hits} == {etag}
    else:
        assert ingestor.store.count(doc_id) == 0
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
