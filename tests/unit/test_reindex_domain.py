"""``ragline reindex`` on the fakes: the catalog's steps, ingest writing to every index the catalog names,
the backfill under each document's lease, and readers following the live index (docs/operations.md,
"Changing the embedding model")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from ragline.access import sidecar_key
from ragline.ids import document_id
from ragline.indexes import CatalogConflict, Indexes, IndexRouter, IndexTarget
from ragline.ingest import IngestConfig, Ingestor, ObjectEvent
from ragline.query import QueryService, RetrievalConfig
from ragline.reindex import Reindexer, ReindexRefused
from tests.fakes import (
    FakeClock,
    FakeEventQueue,
    FakeGenerator,
    FakeIndexAdmin,
    FakeIndexCatalog,
    FakeObjectStore,
    FakeRegistry,
)

BUCKET = "docs"
STAFF = frozenset({"staff"})
CONFIGURED = IndexTarget("idx", "fake", "", 64)
NEW_MODEL = IndexTarget("", "fake", "wider", 32)  # start names its index
DOCUMENTS = {
    "solar.md": "# Solar\n\nSolar output rose in the third quarter.",
    "wind.md": "# Wind\n\nWind farms were idle for a week in March.",
    "tides.md": "# Tides\n\nTidal turbines passed their winter trial.",
}


@dataclass
class World:
    objects: FakeObjectStore = field(default_factory=FakeObjectStore)
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    catalog: FakeIndexCatalog = field(default_factory=FakeIndexCatalog)
    admin: FakeIndexAdmin = field(default_factory=FakeIndexAdmin)
    queue: FakeEventQueue = field(default_factory=FakeEventQueue)
    clock: FakeClock = field(default_factory=FakeClock)

    def router(self, ttl_seconds: float = 0.0) -> IndexRouter:
        return IndexRouter(self.catalog, self.admin.open, CONFIGURED, ttl_seconds=ttl_seconds, clock=self.clock)

    def ingestor(self) -> Ingestor:
        live = self.admin.open(CONFIGURED)
        return Ingestor(
            self.objects, self.registry, live.store, live.embedder, IngestConfig(), self.clock, self.router()
        )

    def reindexer(self) -> Reindexer:
        return Reindexer(self.catalog, self.registry, self.admin, self.queue, CONFIGURED, BUCKET)

    def put(self, key: str, text: str, roles: str = "staff") -> str:
        self.objects.put(BUCKET, key, text, {"roles": roles})
        return self.ingestor().handle(ObjectEvent("created", BUCKET, key))

    def drain(self) -> list[str]:
        """Deliver every queued backfill record to ingest, as the queue would."""
        records = self.queue.take()
        return [self.ingestor().handle(ObjectEvent.from_s3_record(record)) for record in records]

    def requeue(self, records: list[dict]) -> None:
        """Leave only ``records`` waiting on the queue."""
        self.queue.take()
        self.queue.send([json.dumps({"Records": [record]}) for record in records])

    def keys_in(self, index: str) -> set[str]:
        """The keys of the documents an index holds."""
        store = self.admin.stores[index]
        keys = {*DOCUMENTS, "hydro.md", "geo.md"}
        return {key for key in keys if store.count(document_id(BUCKET, key))}


@pytest.fixture
def world() -> World:
    world = World()
    for key, text in DOCUMENTS.items():
        assert world.put(key, text) == "indexed"
    return world


def test_start_makes_the_new_index_and_queues_one_backfill_per_indexed_document(world: World) -> None:
    world.put("broken.pdf", "not a pdf")  # failed: nothing to backfill

    indexes = world.reindexer().start(NEW_MODEL)

    assert indexes == Indexes(CONFIGURED, IndexTarget("idx-r1", "fake", "wider", 32), None, 1)
    assert world.catalog.get() == indexes
    assert world.admin.stores["idx-r1"].count() == 0
    keys = sorted(record["s3"]["object"]["key"] for record in world.queue.records())
    assert keys == sorted(DOCUMENTS)
    assert {record["eventName"] for record in world.queue.records()} == {"Sync:Backfill"}


def test_the_backfill_puts_every_document_into_the_new_index_with_its_model(world: World) -> None:
    reindexer = world.reindexer()
    building = reindexer.start(NEW_MODEL).building
    assert building is not None

    assert world.drain() == ["backfilled"] * len(DOCUMENTS)

    assert world.keys_in("idx-r1") == world.keys_in("idx") == set(DOCUMENTS)
    assert reindexer.progress(building).complete
    new_embedder = world.admin.embedders[building]
    assert len(new_embedder.documents) == len(DOCUMENTS)  # embedded by the new model, at its dimension
    assert world.admin.stores["idx-r1"].dimension == 32


def test_the_backfill_is_idempotent(world: World) -> None:
    reindexer = world.reindexer()
    building = reindexer.start(NEW_MODEL).building
    assert building is not None
    world.drain()
    embedded = len(world.admin.embedders[building].documents)

    assert reindexer.backfill() == len(DOCUMENTS)
    assert world.drain() == ["unchanged"] * len(DOCUMENTS)

    assert len(world.admin.embedders[building].documents) == embedded  # nothing embedded twice
    assert world.admin.stores["idx-r1"].count() == world.admin.stores["idx"].count()


def test_a_backfill_finding_the_lease_held_is_done_by_the_holder_before_it_lets_go(world: World) -> None:
    world.reindexer().start(NEW_MODEL)
    doc_id = document_id(BUCKET, "solar.md")
    now = int(world.clock() * 1000)
    assert world.registry.acquire(doc_id, "holder", now + 60_000, now)  # another ingest is on the document
    others = [r for r in world.queue.records() if r["s3"]["object"]["key"] != "solar.md"]
    world.requeue([r for r in world.queue.records() if r["s3"]["object"]["key"] == "solar.md"])

    assert world.drain() == ["handed-over"]
    assert "solar.md" not in world.keys_in("idx-r1")  # nothing written without the lease

    # The holder's own event: before it may release the lease, it does the work handed over to it.
    outcome = world.ingestor().handle(ObjectEvent("refresh", BUCKET, "solar.md"), owner="holder")
    assert outcome == "backfilled"
    assert "solar.md" in world.keys_in("idx-r1")
    world.requeue(others)
    world.drain()
    assert world.keys_in("idx-r1") == set(DOCUMENTS)


def test_while_building_every_change_goes_to_both_indexes(world: World) -> None:
    world.reindexer().start(NEW_MODEL)
    world.drain()

    assert world.put("hydro.md", "# Hydro\n\nThe dam was refilled.") == "indexed"
    assert "hydro.md" in world.keys_in("idx") and "hydro.md" in world.keys_in("idx-r1")

    world.objects.put(BUCKET, sidecar_key("wind.md"), '{"metadataAttributes": {"roles": ["board"]}}')
    assert world.ingestor().handle(ObjectEvent("created", BUCKET, sidecar_key("wind.md"))) == "roles-updated"
    for index in ("idx", "idx-r1"):
        wind = world.admin.stores[index].chunks(document_id(BUCKET, "wind.md"))
        assert {chunk.roles for chunk in wind} == {("board",)}

    world.objects.delete(BUCKET, "tides.md")
    assert world.ingestor().handle(ObjectEvent("removed", BUCKET, "tides.md")) == "deleted"
    assert "tides.md" not in world.keys_in("idx") | world.keys_in("idx-r1")


def test_switch_is_refused_until_the_new_index_holds_every_document(world: World) -> None:
    reindexer = world.reindexer()
    reindexer.start(NEW_MODEL)
    world.requeue(world.queue.records()[1:])  # one backfill not delivered yet
    world.drain()

    with pytest.raises(ReindexRefused, match="holds 2 of 3 indexed documents"):
        reindexer.switch()
    assert world.catalog.get().live == CONFIGURED  # type: ignore[union-attr]

    reindexer.backfill()
    world.drain()
    switched = reindexer.switch()
    assert (switched.live.index, switched.building, switched.previous) == ("idx-r1", None, CONFIGURED)
    assert world.admin.alias == "idx-r1"


def test_a_document_changed_after_its_backfill_is_missing_until_its_own_event(world: World) -> None:
    reindexer = world.reindexer()
    building = reindexer.start(NEW_MODEL).building
    assert building is not None
    world.drain()
    # A new version lands in the registry through an ingest that does not know of the new index (as one
    # that read the catalog before the start would): the new index has the old version only.
    world.objects.put(BUCKET, "solar.md", "# Solar\n\nSolar output fell in the fourth quarter.", {"roles": "staff"})
    Ingestor(
        world.objects, world.registry, world.admin.stores["idx"], world.admin.open(CONFIGURED).embedder, IngestConfig()
    ).handle(ObjectEvent("created", BUCKET, "solar.md"))

    assert reindexer.progress(building).missing == [document_id(BUCKET, "solar.md")]
    with pytest.raises(ReindexRefused):
        reindexer.switch()
    reindexer.backfill()
    world.drain()
    assert reindexer.progress(building).complete


def test_readers_follow_the_live_index_and_embed_with_its_model(world: World) -> None:
    reindexer = world.reindexer()
    building = reindexer.start(NEW_MODEL).building
    assert building is not None
    world.drain()
    live = world.admin.open(CONFIGURED)
    service = QueryService(
        live.store, live.embedder, FakeGenerator(), RetrievalConfig(mode="hybrid"), indexes=world.router()
    )

    assert {hit.chunk.title for hit in service.retrieve("solar output", STAFF, 3)} == {"Solar", "Wind", "Tides"}
    assert live.embedder.queries == ["solar output"]

    reindexer.switch()
    hits = service.retrieve("wind farms", STAFF, 3)
    assert hits[0].chunk.title == "Wind"
    assert world.admin.embedders[building].queries == ["wind farms"]  # the new model embeds the question
    assert live.embedder.queries == ["solar output"]


def test_a_reader_keeps_the_live_index_it_read_for_the_catalogs_ttl(world: World) -> None:
    router = world.router(ttl_seconds=5.0)
    reindexer = world.reindexer()
    reindexer.start(NEW_MODEL)
    world.drain()
    assert router.live().target == CONFIGURED
    reindexer.switch()

    assert router.live().target == CONFIGURED  # read 0 s ago
    world.clock.advance(5.0)
    assert router.live().target.index == "idx-r1"


def test_switch_back_makes_the_old_index_live_and_both_are_written_until_drop(world: World) -> None:
    reindexer = world.reindexer()
    reindexer.start(NEW_MODEL)
    world.drain()
    reindexer.switch()

    back = reindexer.switch_back()
    assert (back.live, back.previous.index if back.previous else None) == (CONFIGURED, "idx-r1")
    assert world.admin.alias == "idx"
    world.put("hydro.md", "# Hydro\n\nThe dam was refilled.")
    assert "hydro.md" in world.keys_in("idx") and "hydro.md" in world.keys_in("idx-r1")

    assert reindexer.drop_old().index == "idx-r1"
    assert world.admin.dropped == ["idx-r1"] and world.catalog.get() == Indexes(CONFIGURED, None, None, 4)
    world.put("geo.md", "# Geothermal\n\nThe well ran hot.")
    assert "geo.md" in world.keys_in("idx")
    assert "idx-r1" not in world.admin.stores  # nothing writes to a dropped index


def test_steps_out_of_order_are_refused(world: World) -> None:
    reindexer = world.reindexer()
    for step in (reindexer.switch, reindexer.switch_back, reindexer.drop_old):
        with pytest.raises(ReindexRefused):
            step()
    reindexer.start(NEW_MODEL)
    with pytest.raises(ReindexRefused, match="being built already"):
        reindexer.start(NEW_MODEL)
    world.drain()
    reindexer.switch()
    with pytest.raises(ReindexRefused, match="drop --old"):
        reindexer.start(NEW_MODEL)


def test_two_operators_starting_at_once_make_one_reindex(world: World) -> None:
    first, second = world.reindexer(), world.reindexer()
    read = second.indexes()
    first.start(NEW_MODEL)

    with pytest.raises(CatalogConflict):
        world.catalog.put(read.changed(building=IndexTarget("idx-r1", "fake", "other", 16)))
    assert world.catalog.get().building == IndexTarget("idx-r1", "fake", "wider", 32)  # type: ignore[union-attr]


class FailingCatalog(FakeIndexCatalog):
    """A catalog whose reads fail once ``failing`` is set (DynamoDB unavailable)."""

    failing = False

    def get(self) -> Indexes | None:
        if self.failing:
            raise ConnectionError("DynamoDB is unavailable")
        return super().get()


def test_a_reader_keeps_the_last_live_index_while_the_catalog_cannot_be_read(world: World) -> None:
    catalog = FailingCatalog()
    router = IndexRouter(catalog, world.admin.open, CONFIGURED, ttl_seconds=1.0, clock=world.clock)
    assert router.live().target == CONFIGURED

    catalog.failing = True
    world.clock.advance(2.0)
    assert router.live().target == CONFIGURED

    fresh = IndexRouter(catalog, world.admin.open, CONFIGURED, clock=world.clock)
    with pytest.raises(ConnectionError):
        fresh.live()  # nothing read yet: no index to fall back on


def test_abandoning_a_reindex_stops_its_writes_and_removes_its_index(world: World) -> None:
    reindexer = world.reindexer()
    reindexer.start(NEW_MODEL)
    world.drain()

    assert reindexer.abandon().index == "idx-r1"

    assert world.catalog.get() == Indexes(CONFIGURED, None, None, 2)
    assert world.admin.dropped == ["idx-r1"]
    world.put("geo.md", "# Geothermal\n\nThe well ran hot.")
    assert "idx-r1" not in world.admin.stores  # nothing writes to it any more
    with pytest.raises(ReindexRefused):
        reindexer.abandon()
