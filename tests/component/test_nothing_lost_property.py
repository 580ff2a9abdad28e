"""Property: whatever fails, whenever, the index and the registry end equal to the bucket.

Random interleavings of document writes, overwrites and deletes, sidecar writes and deletes, on a few keys,
with S3's sequencers on every event (as on AWS). Each delivery hands a random batch of the visible messages
to the real ingest function, as Lambda's SQS event source does, with a fault injected at a random step:

- a transient error (S3 5xx, Bedrock throttling past its retries, an OpenSearch 503, DynamoDB throttling),
  raised by the fakes named ``Faulty*`` around the real adapters: the batch item fails;
- a kill (a Lambda timeout or out-of-memory, modelled by ``FunctionKilled``, a BaseException that nothing
  in the function catches): no response, so every message of the batch comes back, and whatever the
  function held (a document's lease) stays held.

Failed messages come back one visibility timeout later (a fake clock, 6x the function's timeout, as the
stack configures it), move to the dead-letter queue after three receives, and are redriven from there as
`ragline redrive` does (a new message id); acknowledged messages are sometimes delivered again (S3 and SQS
deliver at least once). Once the faults stop and every message is acknowledged, every document's
chunks, text, version and roles, and its registry record, must be the bucket's.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import ragline.indexing
from ragline.access import sidecar_key
from ragline.errors import TransientError
from ragline.ids import document_id
from ragline.local.provision import MAX_RECEIVES
from ragline.local.worker import sqs_lambda_event
from tests.conftest import examples
from tests.store_inspection import count_chunks

KEYS = ["a.md", "b.md"]
ROLES = ["r1", "r2", "r3"]
FUNCTION_TIMEOUT_S = 300  # LocalFunction's; the CDK stack sets the queue's visibility to 6x the timeout
VISIBILITY_S = 6 * FUNCTION_TIMEOUT_S
STEPS = ["s3", "parse", "embed", "store", "registry"]
_examples = itertools.count()


class FunctionKilled(BaseException):
    """Lambda stopping the function mid-way (timeout, out of memory): no ``except Exception`` sees it."""


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class Fault:
    """Raise ``kind`` on the ``at``-th call of ``step`` during one delivery (never when ``step`` is None)."""

    step: str | None = None
    at: int = 0
    kill: bool = False
    calls: dict[str, int] = field(default_factory=dict)

    def check(self, step: str) -> None:
        self.calls[step] = self.calls.get(step, 0) + 1
        if step == self.step and self.calls[step] == self.at:
            self.step = None  # once per delivery
            event(f"fault injected: {'kill' if self.kill else 'error'} at {step}")
            if self.kill:
                raise FunctionKilled(step)
            raise TransientError(f"injected failure at {step}")


class Faulty:
    """Wraps a real adapter and checks the fault before the named methods (a fake, named as one)."""

    def __init__(self, real: Any, step: str, methods: set[str], fault: Fault) -> None:
        self._real, self._step, self._methods, self._fault = real, step, methods, fault

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if name not in self._methods:
            return attribute

        def checked(*args: Any, **kwargs: Any) -> Any:
            self._fault.check(self._step)
            return attribute(*args, **kwargs)

        return checked


@dataclass
class Message:
    body: str
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    receives: int = 0
    visible_at: float = 0.0


operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(KEYS), st.sets(st.sampled_from(ROLES), min_size=1)),
        st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just(frozenset())),
        st.tuples(st.just("sidecar"), st.sampled_from(KEYS), st.sets(st.sampled_from(ROLES))),
        st.tuples(st.just("unsidecar"), st.sampled_from(KEYS), st.just(frozenset())),
        st.tuples(st.just("deliver"), st.just(""), st.just(frozenset())),
        st.tuples(st.just("deliver"), st.just(""), st.just(frozenset())),
        st.tuples(st.just("deliver"), st.just(""), st.just(frozenset())),
        st.tuples(st.just("repeat"), st.just(""), st.just(frozenset())),
    ),
    min_size=2,
    max_size=20,
)
faults = st.tuples(st.sampled_from([*STEPS, *STEPS, None]), st.integers(1, 2), st.booleans())


@settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=operations, data=st.data())
def test_nothing_is_lost_whatever_fails(stack, ops, data):
    example = next(_examples)
    prefix = f"ex{example}/"
    ingestor = stack.ingest.module.ingestor()
    real = (ingestor.objects, ingestor.store, ingestor.embedder, ingestor.registry, getattr(ingestor, "clock", None))
    fault = Fault()
    clock = FakeClock(start=1_800_000_000.0 + example * 1e6)
    ingestor.objects = Faulty(real[0], "s3", {"get", "head"}, fault)
    ingestor.store = Faulty(real[1], "store", {"replace_document", "delete_document", "update_roles"}, fault)
    ingestor.embedder = Faulty(real[2], "embed", {"embed_documents"}, fault)
    ingestor.registry = Faulty(
        real[3], "registry", {"get", "put", "acquire", "hand_over", "take_pending", "release"}, fault
    )
    ingestor.clock = clock
    real_parse = ragline.indexing.parse_document

    def parse(key: str, body: bytes) -> Any:
        fault.check("parse")  # an Exception here would be the document's own failure: only a kill is a fault
        return real_parse(key, body)

    ragline.indexing.parse_document = parse
    sqs = FakeQueue(stack, fault, clock, data)
    versions = itertools.count(1)

    try:
        for op, key, roles in ops:
            full_key = prefix + key
            if op == "put":
                body = f"# {key}\n\nMarker{example}v{next(versions)}x of the document {key}."
                stack.put(full_key, body, roles=sorted(roles))
            elif op == "delete":
                stack.delete(full_key)
            elif op == "sidecar":
                stack.put(sidecar_key(full_key), json.dumps({"metadataAttributes": {"roles": sorted(roles)}}))
            elif op == "unsidecar":
                stack.delete(sidecar_key(full_key))
            elif op == "deliver" and sqs.queue:
                sqs.deliver_some(data.draw(faults))
            elif op == "repeat" and sqs.acknowledged:
                sqs.repeat()
            sqs.collect()
            clock.now += data.draw(st.sampled_from([0, 1, 30]))
        # The faults are over. What is left is delivered; what is dead is redriven (new messages).
        sqs.settle()
    finally:
        ingestor.objects, ingestor.store, ingestor.embedder, ingestor.registry, ingestor.clock = real
        ragline.indexing.parse_document = real_parse

    store, registry = real[1], real[3]
    for key in KEYS:
        _assert_as_in_the_bucket(stack, store, registry, prefix + key)


class FakeQueue:
    """The ingest queue as SQS runs it for the function, on a fake clock: each delivery hands a batch of
    the visible messages to the real ingest function with a fault injected; a failed message is visible
    again a visibility timeout later and goes to the dead-letter queue after its last receive;
    acknowledged messages are kept, to be delivered again."""

    def __init__(self, stack, fault: Fault, clock: FakeClock, data: st.DataObject) -> None:
        self.stack, self.fault, self.clock, self.data = stack, fault, clock, data
        self.queue: list[Message] = []
        self.dead: list[Message] = []
        self.acknowledged: list[Message] = []

    def collect(self) -> None:
        """Move the bucket's new notifications from the stack's queue into this one."""
        stack = self.stack
        for message in stack.receive():
            if json.loads(message["Body"]).get("Event") != "s3:TestEvent":
                self.queue.append(Message(message["Body"], visible_at=self.clock.now))
            stack.sqs.delete_message(QueueUrl=stack.resources.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def deliver(self, batch: list[Message], inject: tuple[str | None, int, bool]) -> None:
        fault, stack = self.fault, self.stack
        fault.step, fault.at, fault.kill = inject
        fault.calls.clear()
        if inject[0] == "parse":
            fault.kill = True
        records = [
            {
                "MessageId": m.message_id,
                "ReceiptHandle": m.message_id,
                "Body": m.body,
                "MD5OfBody": "-",
                "Attributes": {"ApproximateReceiveCount": str(m.receives + 1)},
            }
            for m in batch
        ]
        for message in batch:
            message.receives += 1
        try:
            response = stack.ingest.invoke(sqs_lambda_event(records, stack.resources.queue_arn, stack.settings.region))
            failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        except FunctionKilled:
            failed = {m.message_id for m in batch}
        for message in batch:
            self.queue.remove(message)
            if message.message_id not in failed:
                self.acknowledged.append(message)
                continue
            # SQS moves it to the dead-letter queue at the receive after the last, a timeout later.
            message.visible_at = self.clock.now + VISIBILITY_S
            (self.dead if message.receives >= MAX_RECEIVES else self.queue).append(message)

    def deliver_some(self, inject: tuple[str | None, int, bool]) -> None:
        """Deliver a random batch of the visible messages (waiting for the first to be visible if none is)."""
        clock, queue = self.clock, self.queue
        visible = [m for m in queue if m.visible_at <= clock.now]
        if not visible:
            clock.now = max(clock.now, min(m.visible_at for m in queue))
            visible = [m for m in queue if m.visible_at <= clock.now]
        order = self.data.draw(st.permutations(visible))
        self.deliver(order[: self.data.draw(st.integers(1, len(order)))], inject)

    def repeat(self) -> None:
        """Queue an acknowledged message again (S3 and SQS deliver at least once)."""
        again = Message(self.data.draw(st.sampled_from(self.acknowledged)).body, visible_at=self.clock.now)
        self.queue.append(again)

    def settle(self) -> None:
        """Deliver, without faults, until every message is acknowledged; the dead are redriven first."""
        for _ in range(200):
            if not self.queue and not self.dead:
                break
            if self.dead:
                self.queue.extend(Message(m.body, visible_at=m.visible_at) for m in self.dead)  # ragline redrive
                self.dead.clear()
            self.deliver_some((None, 0, False))
        assert not self.queue and not self.dead


def _assert_as_in_the_bucket(stack, store, registry, full_key: str) -> None:
    """The object at ``full_key`` is indexed and registered as the bucket has it, visible to its roles only;
    deleted, it has no chunks and no live record."""
    bucket = stack.settings.bucket
    doc_id = document_id(bucket, full_key)
    record = registry.get(doc_id)
    listing = stack.s3.list_objects_v2(Bucket=bucket, Prefix=full_key).get("Contents", [])
    if not any(item["Key"] == full_key for item in listing):
        assert count_chunks(store, doc_id) == 0, f"{full_key}: chunks outlive the object"
        assert record is None or record.status == "deleted"
        return
    current = stack.s3.get_object(Bucket=bucket, Key=full_key)
    etag = current["ETag"].strip('"')
    marker = current["Body"].read().decode().split("\n\n")[1].split(" ")[0]
    expected = expected_roles(stack, full_key, current["Metadata"])
    assert record is not None, f"{full_key}: never registered"
    assert (record.status, record.version, record.roles) == ("indexed", etag, expected), full_key
    assert count_chunks(store, doc_id) == record.chunk_count >= 1
    others = frozenset(ROLES) - set(expected)
    assert not store.bm25_search(marker, others, 10), f"{full_key}: a revoked role still retrieves it"
    if not expected:
        return  # visible to nobody
    seen = store.bm25_search(marker, frozenset(expected), 10)
    assert {hit.chunk.doc_id for hit in seen} == {doc_id}
    assert {hit.chunk.version for hit in seen} == {etag}
    assert {hit.chunk.roles for hit in seen} == {expected}


def expected_roles(stack, key: str, metadata: dict[str, str]) -> tuple[str, ...]:
    try:
        sidecar = json.loads(stack.s3.get_object(Bucket=stack.settings.bucket, Key=sidecar_key(key))["Body"].read())
        return tuple(sorted(sidecar["metadataAttributes"]["roles"]))
    except stack.s3.exceptions.NoSuchKey:
        return tuple(sorted(metadata["roles"].split(",")))


@pytest.fixture
def stack(stack):
    stack.drain()  # S3's test event from configuring the notification
    return stack
