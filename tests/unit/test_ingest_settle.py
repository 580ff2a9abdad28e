"""Ingest on a simulated OpenSearch Serverless collection: each change queues a settle of its document,
delivered once the change is searchable, and a search checked against the registry never shows what the
bucket no longer allows (docs/architecture.md, "OpenSearch Serverless consistency").

The collection is ``FakeServerlessOpenSearch``: searches see a write a refresh interval late, by a fake
clock that the ingestor, the registry's leases and the queue's delays share. The queue is
:class:`FakeEventQueue`; :class:`Deployment` delivers each message it holds once its delay has passed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragline.access import read_sidecar_roles, resolve_document_roles, sidecar_key
from ragline.ids import document_id
from ragline.ingest import SETTLE_MARGIN_SECONDS, SYNC_SETTLE, IngestConfig, Ingestor, ObjectEvent
from ragline.stores.opensearch import OpenSearchStore
from ragline.stores.registry_checked import RegistryCheckedStore
from tests.fake_serverless_opensearch import FakeClock, FakeServerlessOpenSearch
from tests.fakes import FakeEmbedder, FakeEventQueue, FakeObjectStore, FakeRegistry

BUCKET = "docs"
REFRESH = 60.0
ROLES = ("finance", "hr", "staff")
EMBEDDER = FakeEmbedder()


class FakeEventQueueOnAClock(FakeEventQueue):
    """FakeEventQueue that also notes when, by ``clock``, each body was sent."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.sent_at: list[float] = []

    def send(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        super().send(bodies, delay_seconds)
        self.sent_at.extend(self.clock() for _ in bodies)


@dataclass
class Deployment:
    """One bucket, registry, collection and ingest queue; S3's events are handled as they happen, the
    queue's settles once their delay is up."""

    clock: FakeClock = field(default_factory=FakeClock)
    objects: FakeObjectStore = field(default_factory=FakeObjectStore)
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    due: list[tuple[float, ObjectEvent]] = field(default_factory=list)  # (when, settle) not yet delivered
    sent: int = 0  # of the queue's bodies, how many are in ``due`` already
    sequencer: int = 100

    def __post_init__(self) -> None:
        self.queue = FakeEventQueueOnAClock(self.clock)
        self.client = FakeServerlessOpenSearch(self.clock, refresh_interval=REFRESH)
        self.store = OpenSearchStore(self.client, "chunks", EMBEDDER.dimension, serverless=True)
        self.checked = RegistryCheckedStore(self.store, self.registry)
        self.ingestor = Ingestor(
            self.objects, self.registry, self.store, EMBEDDER, IngestConfig(), clock=self.clock, settles=self.queue
        )

    def put(self, key: str, text: str, roles: tuple[str, ...]) -> str:
        self.objects.put(BUCKET, key, f"# {key}\n\n{text}", {"roles": ",".join(roles)})
        return self._apply(ObjectEvent("created", BUCKET, key, self._next()))

    def delete(self, key: str) -> str:
        self.objects.delete(BUCKET, key)
        return self._apply(ObjectEvent("removed", BUCKET, key, self._next()))

    def put_sidecar(self, key: str, roles: tuple[str, ...]) -> str:
        self.objects.put(BUCKET, sidecar_key(key), json.dumps({"metadataAttributes": {"roles": list(roles)}}))
        return self._apply(ObjectEvent("created", BUCKET, sidecar_key(key), self._next()))

    def wait(self, seconds: float) -> list[str]:
        """Let ``seconds`` pass, delivering each settle as it falls due; their outcomes."""
        until = self.clock() + seconds
        outcomes = []
        while True:
            self._collect()
            ready = sorted((when, n) for n, (when, _) in enumerate(self.due) if when <= until)
            if not ready:
                break
            when, n = ready[0]
            self.clock.now = max(self.clock(), when)
            _, event = self.due.pop(n)
            outcomes.append(self.ingestor.handle(event))
        self.clock.now = until
        return outcomes

    def _apply(self, event: ObjectEvent) -> str:
        outcome = self.ingestor.handle(event)
        self._collect()
        return outcome

    def _collect(self) -> None:
        sent = zip(self.queue.bodies, self.queue.delays, self.queue.sent_at, strict=True)
        for body, delay, sent_at in list(sent)[self.sent :]:
            (record,) = json.loads(body)["Records"]
            self.due.append((sent_at + delay, ObjectEvent.from_s3_record(record)))
        self.sent = len(self.queue.bodies)

    def _next(self) -> str:
        self.sequencer += 1
        return f"{self.sequencer:X}"

    # -- what is true -----------------------------------------------------------------------------

    def roles_now(self, key: str) -> tuple[str, ...] | None:
        """The roles the bucket gives the document now, None when it is not there."""
        stored = self.objects.head(BUCKET, key)
        if stored is None:
            return None
        return resolve_document_roles(key, stored.metadata, read_sidecar_roles(self.objects, BUCKET, key), {}, ())

    def stored_copies(self, key: str) -> list[dict]:
        """Every copy the collection holds of the document's chunks (what a get by _id would read)."""
        doc_id = document_id(BUCKET, key)
        return [source for source in self.client.live.values() if source["doc_id"] == doc_id]


def test_a_quick_overwrite_is_settled_once_the_first_version_is_searchable() -> None:
    world = Deployment()
    assert world.put("q3.md", "Revenue grew in Europe.", ("finance",)) == "indexed"
    world.wait(5)  # within the refresh interval: the replace cannot see the first version's chunks
    assert world.put("q3.md", "Revenue fell in Asia.", ("finance",)) == "indexed"
    assert world.queue.delays == [int(REFRESH) + SETTLE_MARGIN_SECONDS] * 2
    assert {record["eventName"] for record in world.queue.records()} == {SYNC_SETTLE}
    world.wait(REFRESH)  # both versions searchable, and no settle due yet
    assert len({copy["version"] for copy in world.stored_copies("q3.md")}) == 2

    assert world.wait(SETTLE_MARGIN_SECONDS + 5) == ["settled", "settled"]
    record = world.registry.get(document_id(BUCKET, "q3.md"))
    assert record is not None
    assert {copy["version"] for copy in world.stored_copies("q3.md")} == {record.version}
    assert len(world.stored_copies("q3.md")) == record.chunk_count


def test_a_settle_delivered_before_the_last_change_is_searchable_waits_for_the_rest_of_it() -> None:
    world = Deployment()
    world.put("q3.md", "Revenue grew in Europe.", ("finance",))
    (first,) = world.due
    world.wait(30)
    world.put_sidecar("q3.md", ("hr",))  # the record is written again 30 s later
    # The first settle, delivered 75 s after the first change, is 45 s after the record was last written.
    world.clock.now = first[0]
    world.due.remove(first)
    assert world.ingestor.handle(first[1]) == "settle-deferred"
    # Queued again for what is left of the refresh interval since then, and the margin.
    assert world.queue.delays[-1] == (REFRESH - 45) + SETTLE_MARGIN_SECONDS
    assert world.wait(REFRESH) == ["settled", "settled"]


class SlowEmbedderOnAClock(FakeEmbedder):
    """Embedding that takes ``seconds`` of the fake clock (a large document, Bedrock throttling)."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.clock.advance(self.seconds)
        return super().embed_documents(texts)


def test_a_slow_round_is_settled_after_its_last_write_and_a_retried_bulk_request_leaves_one_copy() -> None:
    world = Deployment()
    world.ingestor.embedder = SlowEmbedderOnAClock(world.clock, seconds=40)
    original = world.client.bulk

    def applied_twice(*, body: list[dict], index: str, **params: object) -> dict:
        # A retried request whose first attempt was applied after all: a collection assigns new ids.
        original(body=body, index=index, **params)
        return original(body=body, index=index, **params)

    world.client.bulk = applied_twice  # type: ignore[method-assign]
    assert world.put("q3.md", "Revenue grew in Europe.", ("finance",)) == "indexed"
    world.client.bulk = original  # type: ignore[method-assign]
    record = world.registry.get(document_id(BUCKET, "q3.md"))
    assert record is not None and len(world.stored_copies("q3.md")) == 2 * record.chunk_count

    assert world.wait(REFRESH + SETTLE_MARGIN_SECONDS) == ["settled"]  # queued once the round had written
    assert len(world.stored_copies("q3.md")) == record.chunk_count
    assert world.wait(REFRESH * 5) == []


def test_a_store_whose_writes_are_searchable_later_needs_a_queue_for_its_settles() -> None:
    world = Deployment()
    with pytest.raises(ValueError, match="queue"):
        Ingestor(world.objects, world.registry, world.store, EMBEDDER, IngestConfig())


KEYS = ("a.md", "b.md")
TEXTS = ("Revenue grew in Europe.", "Revenue fell in Asia.", "Revenue stayed flat.")

operation = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(KEYS), st.sampled_from(TEXTS), st.sets(st.sampled_from(ROLES))),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none(), st.none()),
    st.tuples(st.just("sidecar"), st.sampled_from(KEYS), st.none(), st.sets(st.sampled_from(ROLES))),
)
gap = st.sampled_from([0.0, 1.0, 5.0, 30.0, 59.0, 61.0, 80.0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(operation, gap), min_size=1, max_size=8))
def test_searches_never_show_what_the_bucket_disallows_and_settles_leave_exactly_the_current_chunks(steps) -> None:
    """Any uploads, re-uploads with other roles, sidecars and deletions, at any pace against the refresh
    interval: after each, a checked search for any role finds only documents the bucket gives that role,
    at their current version; once every settle is delivered, each document's copies are exactly one per
    chunk of its current version, with its current roles, and a deleted document has none."""
    world = Deployment()
    for (kind, key, text, roles), pause in steps:
        if kind == "put":
            world.put(key, text, tuple(sorted(roles)))
        elif kind == "delete":
            world.delete(key)
        elif world.objects.head(BUCKET, key) is not None:
            world.put_sidecar(key, tuple(sorted(roles)))
        for moment in (0.0, pause):
            world.wait(moment)
            for role in ROLES:
                for hit in world.checked.bm25_search("revenue", frozenset({role}), k=50):
                    key_of_hit = hit.chunk.source.removeprefix(f"s3://{BUCKET}/")
                    allowed = world.roles_now(key_of_hit)
                    assert allowed is not None and role in allowed, (role, key_of_hit, allowed)
                    head = world.objects.head(BUCKET, key_of_hit)
                    assert head is not None and hit.chunk.version == head.version

    # Every settle delivered, each change searchable: a settle that copied chunks queues one more, and
    # those end (a settle after every copy is searchable copies nothing).
    for _ in range(4):
        world.wait(REFRESH + SETTLE_MARGIN_SECONDS + 1)
    assert not world.due
    for key in KEYS:
        copies = world.stored_copies(key)
        head = world.objects.head(BUCKET, key)
        if head is None:
            assert copies == []
            continue
        record = world.registry.get(document_id(BUCKET, key))
        assert record is not None and record.status == "indexed"
        assert {copy["version"] for copy in copies} == {head.version}
        assert sorted(copy["chunk_id"] for copy in copies) == sorted({copy["chunk_id"] for copy in copies})
        assert len(copies) == record.chunk_count
        assert {tuple(sorted(copy["roles"])) for copy in copies} == {world.roles_now(key)}
