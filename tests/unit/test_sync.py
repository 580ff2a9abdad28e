"""Sync on the fakes: each drift found, repaired through the queue by the real ingest code, and the
mass-deletion guard (docs/operations.md, "Drift").

The repairs are not applied by the sync: its records are drained through :class:`ragline.ingest.Ingestor`
exactly as the ingest function would take them from the queue, so these tests also show that the records
are ones ingest reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragline.access import sidecar_key
from ragline.ids import document_id
from ragline.ingest import SYNC_EVENT_SOURCE, IngestConfig, Ingestor, ObjectEvent
from ragline.local.sync import merge_reports
from ragline.models import Chunk, DocumentRecord
from ragline.sync import DRIFTS, Sync, SyncConfig
from tests.fakes import FakeEmbedder, FakeEventQueue, FakeObjectStore, FakeRegistry, FakeVectorStore

BUCKET = "docs"
FINANCE = frozenset({"finance"})


@dataclass
class World:
    """One deployment: its bucket, registry, index and ingest queue; S3's notifications are delivered by
    :meth:`notify` (or lost, by not calling it)."""

    objects: FakeObjectStore = field(default_factory=FakeObjectStore)
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    store: FakeVectorStore = field(default_factory=lambda: FakeVectorStore(FakeEmbedder().dimension))
    queue: FakeEventQueue = field(default_factory=FakeEventQueue)
    config: SyncConfig = field(default_factory=SyncConfig)

    def ingestor(self) -> Ingestor:
        return Ingestor(self.objects, self.registry, self.store, FakeEmbedder(), IngestConfig())

    def put(self, key: str, text: str, roles: str = "finance", notify: bool = True) -> None:
        self.objects.put(BUCKET, key, text, {"roles": roles})
        if notify:
            self.ingestor().handle(ObjectEvent("created", BUCKET, key))

    def delete(self, key: str, notify: bool = True) -> None:
        self.objects.delete(BUCKET, key)
        if notify:
            self.ingestor().handle(ObjectEvent("removed", BUCKET, key))

    def replay(self, steps: list[tuple[str, str, bool, int]], damage_index: bool = True) -> None:
        """:data:`STEPS`: uploads and deletions, each notified or lost; with ``damage_index``, also the index
        losing a document's chunks or holding a stale version's (else those steps do nothing)."""
        for action, key, notified, text in steps:
            if action == "put":
                self.put(key, f"text {text} of {key}", notify=notified)
            elif action == "delete":
                self.delete(key, notify=notified)
            elif not damage_index:
                continue
            elif action == "lose_index_of":
                self.store.delete_document(document_id(BUCKET, key))
            else:
                doc_id = document_id(BUCKET, key)
                stale = Chunk(f"stale-{key}", doc_id, "gone", "stale", f"s3://{BUCKET}/{key}", key, ("finance",), 99)
                self.store.upsert([stale], FakeEmbedder().embed_documents(["stale"]))

    def sync(
        self, prefix: str = "", dry_run: bool = False, allow_mass_delete: bool = False, window: int | None = None
    ) -> dict:
        """One whole sync; with ``window``, windows of that many listed objects until the listing ends
        (the reports merged)."""
        config = replace(self.config, allow_mass_delete=allow_mass_delete or self.config.allow_mass_delete)
        sync = Sync(self.objects, self.registry, self.store, self.queue, config)
        merged: dict | None = None
        start_after: str | None = ""
        while start_after is not None:
            report = sync.run(BUCKET, prefix, dry_run, start_after=start_after, max_objects=window).as_json()
            start_after = report["resume_after"]
            merged = report if merged is None else merge_reports(merged, report)
        assert merged is not None
        return merged

    def drain(self) -> list[str]:
        """Takes every queued message through ingest, as the ingest function would; returns the outcomes."""
        records = self.queue.take()
        return [self.ingestor().handle(ObjectEvent.from_s3_record(record)) for record in records]

    def rewrite(self, record: DocumentRecord) -> None:
        """Overwrite a record through the port, under a lease of its own (what an older ragline wrote)."""
        assert self.registry.acquire(record.doc_id, "test", until_ms=2**62, now_ms=0)
        self.registry.put(record, lease_owner="test")
        assert self.registry.release(record.doc_id, "test")

    def indexed_keys(self) -> set[str]:
        return {held.source.removeprefix(f"s3://{BUCKET}/") for held in self.store.indexed_versions()}

    def bucket_keys(self) -> set[str]:
        return {listed.key for listed in self.objects.list(BUCKET) if not listed.key.endswith(".metadata.json")}


@pytest.fixture
def world() -> World:
    return World()


def test_objects_written_before_the_notifications_are_missing_then_indexed(world: World) -> None:
    world.put("a.md", "revenue grew", notify=False)
    world.put("b.md", "costs fell", notify=False)

    report = world.sync()

    assert report["drift"]["missing"] == ["a.md", "b.md"] and report["enqueued"] == 2
    assert world.drain() == ["indexed", "indexed"]
    assert world.indexed_keys() == {"a.md", "b.md"}
    assert world.sync()["counts"] == dict.fromkeys(DRIFTS, 0)  # idempotent: nothing left to do


def test_a_dry_run_reports_and_queues_nothing(world: World) -> None:
    world.put("a.md", "revenue", notify=False)

    report = world.sync(dry_run=True)

    assert report["drift"]["missing"] == ["a.md"] and report["enqueued"] == 0 and world.queue.bodies == []


def test_a_lost_overwrite_is_stale_and_a_lost_deletion_orphaned(world: World) -> None:
    world.put("a.md", "first text")
    world.put("b.md", "kept")
    world.put("c.md", "to delete")
    world.put("a.md", "second text", notify=False)
    world.delete("c.md", notify=False)
    world.config = SyncConfig(max_delete_share=0.5)

    report = world.sync()

    assert report["drift"]["stale"] == ["a.md"] and report["drift"]["orphaned"] == ["c.md"]
    assert sorted(world.drain()) == ["deleted", "indexed"]
    assert [chunk.text for chunk in world.store.chunks(document_id(BUCKET, "a.md"))] == ["second text"]
    assert world.indexed_keys() == {"a.md", "b.md"}


def test_a_sidecar_written_after_the_record_is_a_roles_drift_repaired_without_embedding(world: World) -> None:
    world.put("a.md", "revenue")
    record = world.registry.get(document_id(BUCKET, "a.md"))
    assert record is not None
    # The record was written long before the sidecar, whose event was lost.
    world.rewrite(replace(record, updated_at="2026-01-01T00:00:00.000+00:00"))
    world.objects.put(BUCKET, sidecar_key("a.md"), json.dumps({"metadataAttributes": {"roles": ["board"]}}))

    assert world.sync()["drift"]["roles"] == ["a.md"]
    assert world.drain() == ["roles-updated"]
    assert world.store.bm25_search("revenue", FINANCE, 5) == []
    assert world.sync()["counts"]["roles"] == 0  # the refresh wrote the record after the sidecar


def test_an_index_that_lost_a_document_is_unindexed_and_reembedded(world: World) -> None:
    world.put("a.md", "revenue grew")
    world.store.delete_document(document_id(BUCKET, "a.md"))

    assert world.sync()["drift"]["unindexed"] == ["a.md"]
    assert world.drain() == ["indexed"]
    assert world.indexed_keys() == {"a.md"}


def test_chunks_of_an_old_version_left_behind_are_stray_and_removed(world: World) -> None:
    world.put("a.md", "current text")
    doc_id = document_id(BUCKET, "a.md")
    left = Chunk("old-chunk", doc_id, "old-version", "old text", f"s3://{BUCKET}/a.md", "a", ("finance",), 7)
    world.store.upsert([left], FakeEmbedder().embed_documents(["old text"]))

    assert world.sync()["drift"]["stray"] == ["a.md"]
    assert world.drain() == ["indexed"]
    assert [held.version for held in world.store.indexed_versions()] != ["old-version"]
    assert world.store.bm25_search("old", FINANCE, 5) == []


def test_chunks_of_a_removed_document_the_registry_never_knew_are_stray_and_removed(world: World) -> None:
    world.put("gone.md", "secret plans")
    world.delete("gone.md", notify=False)
    world.registry = FakeRegistry()  # the registry lost, or the index restored from an older snapshot

    assert world.sync()["drift"]["stray"] == ["gone.md"]
    assert world.drain() == ["deleted"]
    assert world.indexed_keys() == set()


def test_the_guard_withholds_a_mass_deletion_and_does_the_rest(world: World) -> None:
    for number in range(10):
        world.put(f"{number}.md", f"text {number}")
    for number in range(3):
        world.delete(f"{number}.md", notify=False)  # 30% of the indexed documents, over the 20% default
    world.put("new.md", "fresh", notify=False)

    report = world.sync()

    assert report["withheld"] == ["0.md", "1.md", "2.md"] and report["enqueued"] == 1
    assert world.drain() == ["indexed"]
    assert {"0.md", "1.md", "2.md", "new.md"} <= world.indexed_keys()
    overridden = world.sync(allow_mass_delete=True)
    assert overridden["withheld"] == [] and overridden["enqueued"] == 3
    assert world.drain() == ["deleted"] * 3


def test_a_prefix_keeps_the_sync_to_its_keys(world: World) -> None:
    world.put("hr/a.md", "leave", notify=False)
    world.put("finance/b.md", "revenue", notify=False)
    world.put("finance/c.md", "costs")
    world.delete("finance/c.md", notify=False)

    report = world.sync(prefix="hr/")

    assert report["counts"] == {**dict.fromkeys(DRIFTS, 0), "missing": 1}


def test_sync_records_are_s3_shaped_from_the_sync_source(world: World) -> None:
    world.put("q3 report.md", "revenue", notify=False)
    world.sync()

    (record,) = world.queue.records()
    assert record["eventSource"] == SYNC_EVENT_SOURCE and "sequencer" not in record["s3"]["object"]
    assert record["s3"]["object"]["key"] == "q3+report.md"
    assert ObjectEvent.from_s3_record(record) == ObjectEvent("refresh", BUCKET, "q3 report.md")


def test_a_legacy_record_without_an_etag_is_refreshed_once_without_embedding(world: World) -> None:
    world.objects = FakeObjectStore(versioned=True)
    world.put("a.md", "revenue")
    doc_id = document_id(BUCKET, "a.md")
    legacy = world.registry.get(doc_id)
    assert legacy is not None and legacy.version.startswith("version-")
    world.rewrite(replace(legacy, etag=""))

    assert world.sync()["drift"]["stale"] == ["a.md"]
    assert world.drain() == ["unchanged"]  # the version is current: no embedding, the ETag written down
    assert world.sync()["counts"]["stale"] == 0


def test_a_guard_share_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="RAGLINE_SYNC_MAX_DELETE_SHARE"):
        SyncConfig(max_delete_share=0)


# -- the property: whatever was lost, one sync and its drain make index and registry the bucket's ------

KEYS = st.sampled_from([f"k{number}.md" for number in range(6)])
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["put", "delete", "lose_index_of", "stale_chunk"]), KEYS, st.booleans(), st.integers(0, 3)
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(steps=STEPS, lose_registry=st.booleans(), window=st.one_of(st.none(), st.integers(1, 4)))
def test_one_sync_repairs_any_mix_of_lost_events_and_damaged_index(
    steps: list[tuple[str, str, bool, int]], lose_registry: bool, window: int | None
) -> None:
    """Whole or in windows of any size: every key is compared once, in the window its listing falls in."""
    world = World(config=SyncConfig(allow_mass_delete=True))
    world.replay(steps)
    if with_sidecar := [key for action, key, notified, text in steps if text == 3]:
        world.objects.put(BUCKET, sidecar_key(with_sidecar[0]), json.dumps({"metadataAttributes": {"roles": ["x"]}}))
    if lose_registry:
        world.registry = FakeRegistry()

    world.sync(window=window)
    world.drain()

    assert world.indexed_keys() == world.bucket_keys()
    for listed in world.objects.list(BUCKET):
        if listed.key.endswith(".metadata.json"):
            continue
        record = world.registry.get(document_id(BUCKET, listed.key))
        assert record is not None and record.status == "indexed" and record.etag == listed.etag
        held = [held for held in world.store.indexed_versions() if held.doc_id == record.doc_id]
        assert [held.version for held in held] == [record.version]
    assert world.sync(window=window)["counts"] == dict.fromkeys(DRIFTS, 0)


def test_a_window_never_cuts_a_document_from_its_sidecar(world: World) -> None:
    world.put("a.md", "alpha", notify=False)
    world.objects.put(BUCKET, sidecar_key("a.md"), json.dumps({"metadataAttributes": {"roles": ["board"]}}))
    world.put("b.md", "beta", notify=False)
    sync = Sync(world.objects, world.registry, world.store, world.queue, SyncConfig())

    first = sync.run(BUCKET, dry_run=True, max_objects=1)
    second = sync.run(BUCKET, dry_run=True, start_after=str(first.resume_after), max_objects=1)

    assert (first.drift["missing"], first.resume_after) == (["a.md"], sidecar_key("a.md"))
    assert (second.drift["missing"], second.resume_after) == (["b.md"], None)  # the listing ended


LIVE_STEPS = st.lists(st.tuples(st.sampled_from(["put", "delete"]), KEYS, st.integers(0, 3)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(before=STEPS, during=LIVE_STEPS, drain_first=st.booleans())
def test_a_sync_beside_live_events_never_undoes_them(
    before: list[tuple[str, str, bool, int]], during: list[tuple[str, str, int]], drain_first: bool
) -> None:
    """The sync lists, then uploads and deletions happen with their events (applied before or after the
    sync's records): whatever the order, the index and the registry end as the bucket is."""
    world = World(config=SyncConfig(allow_mass_delete=True))
    world.replay(before, damage_index=False)
    world.sync()  # its records wait on the queue
    live: list[ObjectEvent] = []
    for action, key, text in during:
        if action == "put":
            world.objects.put(BUCKET, key, f"later {text} of {key}", {"roles": "finance"})
            live.append(ObjectEvent("created", BUCKET, key))
        else:
            world.objects.delete(BUCKET, key)
            live.append(ObjectEvent("removed", BUCKET, key))
    if drain_first:
        world.drain()
    for event in live:
        world.ingestor().handle(event)
    world.drain()

    assert world.indexed_keys() == world.bucket_keys()
    for listed in world.objects.list(BUCKET):
        record = world.registry.get(document_id(BUCKET, listed.key))
        assert record is not None and record.status == "indexed" and record.etag == listed.etag
        texts = {chunk.text for chunk in world.store.chunks(record.doc_id)}
        assert texts == {world.objects.get(BUCKET, listed.key).data.decode()}  # type: ignore[union-attr]
