"""Ingest on the fakes: reconciling a document with the bucket, in S3's order, under the document's lease.

Every port is an in-memory fake (tests/fakes) and time is a fake clock, so each test runs in milliseconds;
the same rules run on moto in tests/component (docs/architecture.md, "Ingest").
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pytest

from ragline.access import sidecar_key
from ragline.errors import TransientError
from ragline.ids import document_id
from ragline.indexing import PROGRESS_SLICE
from ragline.ingest import LEASE_MARGIN_MS, IngestConfig, Ingestor, ObjectEvent
from ragline.models import Chunk, DocumentRecord, IndexingProgress
from tests.fakes import FakeClock, FakeEmbedder, FakeObjectStore, FakeRegistry, FakeVectorStore

BUCKET = "docs"
FINANCE = frozenset({"finance"})
REPORT = "# Q3 report\n\nRevenue grew 18% in Europe, led by the zeppelin business."


class FunctionKilled(BaseException):
    """Lambda stopping the function mid-way (a timeout): no ``except Exception`` of the function sees it."""


def killed() -> None:
    raise FunctionKilled()


class FakeEmbedderWithInterruption(FakeEmbedder):
    """A fake embedder (tests only) that runs ``interruption`` once, as its next embedding of documents
    begins: whatever happens while an ingest holds a document's lease (another event, a failure, a kill)."""

    def __init__(self) -> None:
        super().__init__()
        self.interruption: Callable[[], object] | None = None

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        interruption, self.interruption = self.interruption, None
        if interruption is not None:
            interruption()
        return super().embed_documents(texts)


@dataclass
class World:
    """The ports one deployment shares (every ingest invocation sees the same bucket, registry and index)
    and S3's notifications of what was done to the bucket, each with the next sequencer."""

    config: IngestConfig = field(default_factory=IngestConfig)
    objects: FakeObjectStore = field(default_factory=FakeObjectStore)
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    store: FakeVectorStore = field(default_factory=lambda: FakeVectorStore(FakeEmbedder().dimension))
    embedder: FakeEmbedderWithInterruption = field(default_factory=FakeEmbedderWithInterruption)
    clock: FakeClock = field(default_factory=FakeClock)
    sequencers: Iterator[int] = field(default_factory=lambda: itertools.count(9))

    def ingest(self, event: ObjectEvent, owner: str | None = None, remaining_ms: int | None = None) -> str:
        """One ingest invocation's handling of one event."""
        ingestor = Ingestor(self.objects, self.registry, self.store, self.embedder, self.config, clock=self.clock)
        return ingestor.handle(event, owner=owner, remaining_ms=remaining_ms)

    def put(self, key: str, data: str | bytes, **metadata: str) -> ObjectEvent:
        self.objects.put(BUCKET, key, data, metadata)
        return self._event("created", key)

    def put_sidecar(self, key: str, roles: object) -> ObjectEvent:
        return self.put(sidecar_key(key), json.dumps({"metadataAttributes": {"roles": roles}}))

    def delete(self, key: str) -> ObjectEvent:
        self.objects.delete(BUCKET, key)
        return self._event("removed", key)

    def record(self, key: str) -> DocumentRecord | None:
        return self.registry.get(document_id(BUCKET, key))

    def chunks(self, key: str) -> list[Chunk]:
        return self.store.chunks(document_id(BUCKET, key))

    def found(self, text: str, roles: frozenset[str]) -> list[str]:
        """The keys of the documents a caller with ``roles`` finds by ``text``."""
        hits = self.store.bm25_search(text, roles, k=50)
        return sorted({hit.chunk.source.removeprefix(f"s3://{BUCKET}/") for hit in hits})

    def _event(self, kind: Literal["created", "removed"], key: str) -> ObjectEvent:
        # Hexadecimal of growing width ("9", "A", ..., "10"), as S3's sequencers are.
        return ObjectEvent(kind, BUCKET, key, f"{next(self.sequencers):X}")


@pytest.fixture
def world() -> World:
    return World()


# -- reconcile -----------------------------------------------------------------------------------


def test_a_created_object_is_indexed_with_the_roles_of_its_metadata(world: World) -> None:
    event = world.put("q3.md", REPORT, roles="finance,board")

    assert world.ingest(event) == "indexed"

    record = world.record("q3.md")
    head = world.objects.head(BUCKET, "q3.md")
    assert record is not None and head is not None
    assert (record.status, record.version, record.roles, record.title) == (
        "indexed",
        head.version,
        ("board", "finance"),
        "Q3 report",
    )
    assert record.chunk_count == len(world.chunks("q3.md")) >= 1
    assert {chunk.roles for chunk in world.chunks("q3.md")} == {("board", "finance")}
    assert world.found("zeppelin revenue", FINANCE) == ["q3.md"]
    assert world.found("zeppelin revenue", frozenset({"staff"})) == []


@pytest.mark.parametrize(
    ("key", "metadata", "expected"),
    [
        ("public/handbook.md", {}, ("everyone",)),  # the prefix policy
        ("public/budget.md", {"roles": "finance"}, ("finance",)),  # the object's metadata comes first
        ("notes.md", {}, ("staff",)),  # else the default
    ],
)
def test_roles_come_from_the_metadata_else_the_prefix_else_the_default(
    key: str, metadata: dict[str, str], expected: tuple[str, ...]
) -> None:
    world = World(IngestConfig(prefix_roles={"public/": ("everyone",)}, default_roles=("staff",)))

    assert world.ingest(world.put(key, REPORT, **metadata)) == "indexed"

    record = world.record(key)
    assert record is not None and record.roles == expected
    assert {chunk.roles for chunk in world.chunks(key)} == {expected}


def test_a_document_that_names_no_roles_and_has_no_default_is_seen_by_nobody(world: World) -> None:
    assert world.ingest(world.put("notes.md", REPORT)) == "indexed"

    assert {chunk.roles for chunk in world.chunks("notes.md")} == {()}
    assert world.found("zeppelin", frozenset({"finance", "staff", "admin"})) == []


def test_an_overwrite_replaces_every_chunk_of_the_old_version(world: World) -> None:
    world.config = IngestConfig(chunk_tokens=20, chunk_overlap=0)
    long_text = "# Notes\n\n" + "\n\n".join(f"Paragraph {n} is about zeppelins, topic {n}." for n in range(12))
    assert world.ingest(world.put("notes.md", long_text, roles="finance")) == "indexed"
    assert len(world.chunks("notes.md")) > 1

    assert world.ingest(world.put("notes.md", "# Notes\n\nNow only airships.", roles="finance")) == "indexed"

    record = world.record("notes.md")
    head = world.objects.head(BUCKET, "notes.md")
    assert record is not None and head is not None and record.version == head.version
    assert {chunk.version for chunk in world.chunks("notes.md")} == {head.version}
    assert record.chunk_count == len(world.chunks("notes.md"))
    assert world.found("zeppelins", FINANCE) == [] and world.found("airships", FINANCE) == ["notes.md"]


def test_a_large_document_reports_its_progress_while_embedded_and_clears_it_once_indexed(world: World) -> None:
    world.config = IngestConfig(chunk_tokens=20, chunk_overlap=0)
    sentences = " ".join(f"Sentence {n} of the long report about zeppelins and revenue." for n in range(400))
    event = world.put("long.md", "# Long report\n\n" + sentences, roles="finance")
    doc_id = document_id(BUCKET, "long.md")
    seen: list[IndexingProgress | None] = []

    def observe() -> None:  # the registry as ragline ingest polls it, before each slice is embedded
        seen.append(world.registry.progress(doc_id))
        world.embedder.interruption = observe

    world.embedder.interruption = observe
    assert world.ingest(event) == "indexed"

    total = len(world.chunks("long.md"))
    assert total > 2 * PROGRESS_SLICE
    reported = [progress for progress in seen if progress is not None]
    assert reported[0] == IndexingProgress(PROGRESS_SLICE, total) and seen[0] is None
    assert [p.done for p in reported] == sorted({p.done for p in reported})  # it only goes up
    assert all(p.total == total for p in reported)
    assert world.registry.progress(doc_id) is None  # indexed: no progress left behind


def test_a_small_document_is_embedded_in_one_call_without_progress(world: World) -> None:
    calls: list[IndexingProgress | None] = []
    world.embedder.interruption = lambda: calls.append(world.registry.progress(document_id(BUCKET, "q3.md")))

    assert world.ingest(world.put("q3.md", REPORT, roles="finance")) == "indexed"

    assert calls == [None] and len(world.embedder.documents) == len(world.chunks("q3.md"))


def test_a_removal_deletes_the_chunks_and_marks_the_record(world: World) -> None:
    world.ingest(world.put("q3.md", REPORT, roles="finance"))
    world.ingest(world.put("other.md", "# Other\n\nZeppelin notes.", roles="finance"))

    assert world.ingest(world.delete("q3.md")) == "deleted"

    record = world.record("q3.md")
    assert record is not None and (record.status, record.chunk_count) == ("deleted", 0)
    assert world.chunks("q3.md") == []
    assert world.found("zeppelin", FINANCE) == ["other.md"]


def test_the_removal_of_a_document_never_seen_leaves_nothing_behind(world: World) -> None:
    world.objects.put(BUCKET, "ghost.md", REPORT)

    assert world.ingest(world.delete("ghost.md")) == "skipped"
    assert world.record("ghost.md") is None


def test_a_sidecar_changes_the_roles_without_re_embedding(world: World) -> None:
    world.ingest(world.put("q3.md", REPORT, roles="finance"))
    embedded = len(world.embedder.documents)

    assert world.ingest(world.put_sidecar("q3.md", ["board"])) == "roles-updated"

    record = world.record("q3.md")
    assert record is not None and record.roles == ("board",)
    assert {chunk.roles for chunk in world.chunks("q3.md")} == {("board",)}
    assert world.found("zeppelin", FINANCE) == [] and world.found("zeppelin", frozenset({"board"})) == ["q3.md"]
    assert len(world.embedder.documents) == embedded  # nothing embedded again

    assert world.ingest(world.delete(sidecar_key("q3.md"))) == "roles-updated"  # back to the metadata's
    assert {chunk.roles for chunk in world.chunks("q3.md")} == {("finance",)}
    assert len(world.embedder.documents) == embedded


def test_a_broken_sidecar_hides_the_document(world: World) -> None:
    world.ingest(world.put("q3.md", REPORT, roles="finance"))

    assert world.ingest(world.put(sidecar_key("q3.md"), "{not json")) == "failed"

    record = world.record("q3.md")
    assert record is not None and (record.status, record.roles) == ("failed", ())
    assert "sidecar" in record.error
    assert world.found("zeppelin", FINANCE) == []


@pytest.mark.parametrize(
    ("key", "data", "reason"),
    [
        ("empty.md", b"", "empty document"),
        ("blank.md", b"  \n\n  ", "no text found"),
        ("blob.bin", b"\x00\x01", "unsupported file type '.bin'"),
        ("broken.pdf", b"%PDF-1.4 garbage", "corrupt or unreadable PDF"),
        ("bytes.txt", bytes(range(256)) * 4, "binary content in a text file"),
    ],
)
def test_an_unparseable_object_is_failed_with_its_reason(world: World, key: str, data: bytes, reason: str) -> None:
    assert world.ingest(world.put(key, data, roles="finance")) == "failed"

    record = world.record(key)
    assert record is not None and record.status == "failed" and reason in record.error
    assert record.roles == ("finance",)  # so that its status shows to those who could have read it
    assert world.chunks(key) == [] and world.embedder.documents == []


def test_an_unparseable_overwrite_takes_the_old_version_out_of_the_index(world: World) -> None:
    world.ingest(world.put("q3.md", REPORT, roles="finance"))

    assert world.ingest(world.put("q3.md", b"\x00" * 64, roles="finance")) == "failed"

    record = world.record("q3.md")
    assert record is not None and record.error == "binary content in a text file"
    assert world.chunks("q3.md") == []
    assert world.found("zeppelin", FINANCE) == []


def test_an_object_over_the_size_limit_is_failed_with_its_size(world: World) -> None:
    world.config = IngestConfig(max_object_bytes=1024)

    assert world.ingest(world.put("big.txt", "word " * 400, roles="finance")) == "failed"

    record = world.record("big.txt")
    assert record is not None and record.error == "file is 2.0 KB, over the limit of 1.0 KB"


# -- S3's order ----------------------------------------------------------------------------------


def test_an_older_event_after_a_newer_one_changes_nothing(world: World) -> None:
    first = world.put("q3.md", "# Q3\n\nFirst draft about airships.", roles="finance")
    second = world.put("q3.md", REPORT, roles="finance")
    assert world.ingest(second) == "indexed"
    embedded = len(world.embedder.documents)

    assert world.ingest(first) == "skipped"
    assert world.ingest(second) == "skipped"  # delivered again

    record = world.record("q3.md")
    head = world.objects.head(BUCKET, "q3.md")
    assert record is not None and head is not None and record.version == head.version
    assert len(world.embedder.documents) == embedded
    assert world.found("zeppelin", FINANCE) == ["q3.md"]


def test_an_older_removal_after_a_newer_creation_keeps_the_document(world: World) -> None:
    world.put("q3.md", "# Q3\n\nFirst draft.", roles="finance")
    removal = world.delete("q3.md")
    creation = world.put("q3.md", REPORT, roles="finance")

    assert world.ingest(creation) == "indexed"
    assert world.ingest(removal) == "skipped"

    record = world.record("q3.md")
    assert record is not None and record.status == "indexed"
    assert world.found("zeppelin", FINANCE) == ["q3.md"]


def test_an_event_without_a_sequencer_indexes_what_the_bucket_holds_now(world: World) -> None:
    world.put("q3.md", "# Q3\n\nFirst draft about airships.", roles="finance")
    world.put("q3.md", REPORT, roles="finance")
    late = ObjectEvent("created", BUCKET, "q3.md")  # LocalStack's events may come without one

    assert world.ingest(late) == "indexed"

    assert world.found("airships", FINANCE) == [] and world.found("zeppelin", FINANCE) == ["q3.md"]


# -- the lease -----------------------------------------------------------------------------------


def test_a_held_lease_hands_the_work_over_and_the_holder_does_it_before_releasing(world: World) -> None:
    created = world.put("q3.md", REPORT, roles="finance")
    outcomes: list[str] = []

    def sidecar_written_meanwhile() -> None:
        outcomes.append(world.ingest(world.put_sidecar("q3.md", ["board"]), owner="message-2"))

    world.embedder.interruption = sidecar_written_meanwhile

    assert world.ingest(created, owner="message-1") == "roles-updated"

    assert outcomes == ["handed-over"]  # acknowledged: the holder does it
    assert {chunk.roles for chunk in world.chunks("q3.md")} == {("board",)}
    assert len(world.embedder.documents) == len(world.chunks("q3.md"))  # embedded once
    # And the lease was let go: the next event is applied at once.
    assert world.ingest(world.put_sidecar("q3.md", ["finance"]), owner="message-3") == "roles-updated"


def test_a_killed_holders_lease_expires_and_the_next_event_takes_it(world: World) -> None:
    created = world.put("q3.md", REPORT, roles="finance")
    world.embedder.interruption = killed
    with pytest.raises(FunctionKilled):
        world.ingest(created, owner="message-1", remaining_ms=60_000)
    lease_ms = 60_000 + LEASE_MARGIN_MS  # the function's remaining time, and a margin

    sidecar = world.put_sidecar("q3.md", ["board"])
    assert world.ingest(sidecar, owner="message-2") == "handed-over"  # to the dead holder, for now
    world.clock.advance(lease_ms / 1000)
    assert world.ingest(sidecar, owner="message-2") == "handed-over"  # live to its last millisecond

    world.clock.advance(0.01)  # and expired just after
    assert world.ingest(created, owner="redrive-1") == "indexed"  # the message dead-lettered and redriven

    record = world.record("q3.md")
    assert record is not None and record.roles == ("board",)  # the handed-over sidecar applied too
    assert {chunk.roles for chunk in world.chunks("q3.md")} == {("board",)}


def test_the_redelivery_of_a_killed_attempt_takes_its_lease_back_at_once(world: World) -> None:
    created = world.put("q3.md", REPORT, roles="finance")
    world.embedder.interruption = killed
    with pytest.raises(FunctionKilled):
        world.ingest(created, owner="message-1", remaining_ms=60_000)

    assert world.ingest(created, owner="message-1", remaining_ms=60_000) == "indexed"


def test_a_failure_gives_the_lease_up_at_once_and_the_work_handed_over_waits(world: World) -> None:
    created = world.put("q3.md", REPORT, roles="finance")
    outcomes: list[str] = []

    def sidecar_then_throttled() -> None:
        outcomes.append(world.ingest(world.put_sidecar("q3.md", ["board"]), owner="message-2"))
        raise TransientError("Bedrock throttled past its retries")

    world.embedder.interruption = sidecar_then_throttled
    with pytest.raises(TransientError):
        world.ingest(created, owner="message-1", remaining_ms=60_000)
    assert outcomes == ["handed-over"]
    assert world.chunks("q3.md") == []

    # Long before the lease would have expired, the next event (of another message) takes it, and the work.
    assert world.ingest(world.put("q3.md", REPORT + "\n\nRevised.", roles="finance"), owner="message-3") == "indexed"
    assert {chunk.roles for chunk in world.chunks("q3.md")} == {("board",)}


# -- sync events (ragline.sync puts them on the queue; they carry no sequencer) -------------------------


def test_a_sync_refresh_indexes_an_object_no_event_announced(world: World) -> None:
    world.objects.put(BUCKET, "old/q3.md", REPORT, {"roles": "finance"})  # there before the notifications

    assert world.ingest(ObjectEvent("refresh", BUCKET, "old/q3.md")) == "indexed"
    assert world.found("zeppelin", FINANCE) == ["old/q3.md"]


def test_a_sync_refresh_of_an_indexed_version_does_not_embed_it_again(world: World) -> None:
    world.ingest(world.put("q3.md", REPORT, roles="finance"))
    embedded = len(world.embedder.documents)

    assert world.ingest(ObjectEvent("refresh", BUCKET, "q3.md")) == "unchanged"
    assert len(world.embedder.documents) == embedded


def test_a_sync_refresh_never_undoes_an_applied_event(world: World) -> None:
    """A sync event is queued from a listing that may be older than the newest event: it reconciles
    with the bucket as it is now, so a deletion that came after the listing stays a deletion."""
    world.ingest(world.put("q3.md", REPORT, roles="finance"))
    world.ingest(world.delete("q3.md"))

    assert world.ingest(ObjectEvent("refresh", BUCKET, "q3.md")) == "deleted"
    assert world.chunks("q3.md") == [] and world.found("zeppelin", FINANCE) == []


def test_a_sync_reindex_embeds_the_indexed_version_again(world: World) -> None:
    world.ingest(world.put("q3.md", REPORT, roles="finance"))
    world.store.delete_document(document_id(BUCKET, "q3.md"))  # the index lost it; the registry did not

    assert world.ingest(ObjectEvent("reindex", BUCKET, "q3.md")) == "indexed"
    assert world.found("zeppelin", FINANCE) == ["q3.md"]


def test_a_removal_clears_chunks_the_registry_has_no_record_of(world: World) -> None:
    world.ingest(world.put("q3.md", REPORT, roles="finance"))
    world.objects.delete(BUCKET, "q3.md")
    world.registry = FakeRegistry()  # a registry lost, or an index restored from an older backup

    assert world.ingest(ObjectEvent("refresh", BUCKET, "q3.md")) == "deleted"
    assert world.chunks("q3.md") == []
