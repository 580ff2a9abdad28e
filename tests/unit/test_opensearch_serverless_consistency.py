"""OpenSearchStore on a simulated Serverless vector collection: what a refresh delay must not break.

On a Serverless collection a search sees a write only after the refresh interval, while a get by ``_id``
sees it at once (docs/architecture.md, "OpenSearch Serverless consistency"). ``FakeServerlessOpenSearch``
behaves so on a :class:`FakeClock`. A change made within the interval after another cannot find the
other's copies; these tests show what it leaves, that ``settle_document`` run once the interval has
passed removes it, and that :class:`RegistryCheckedStore` keeps a search from returning it meanwhile.
"""

from __future__ import annotations

import math

import pytest

from ragline.models import Chunk, DocumentRecord, DocumentStatus
from ragline.stores.opensearch import IndexingError, OpenSearchStore
from ragline.stores.opensearch.lexical import AVERAGE_LENGTH
from ragline.stores.registry_checked import RegistryCheckedStore
from tests.fake_serverless_opensearch import FakeClock, FakeServerlessOpenSearch
from tests.fakes import FakeRegistry
from tests.store_inspection import chunk_ids, count_chunks

DIM = 3
REFRESH = 60.0  # a classic vector collection's refresh interval
HR = frozenset({"hr"})
FINANCE = frozenset({"finance"})
VECTORS = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def chunks(version: str, roles: tuple[str, ...] = ("finance",)) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"d1:{version}:{position}",
            doc_id="d1",
            version=version,
            text=f"revenue {version} part {position}",
            source="s3://b/d1.md",
            title="Q3 report",
            roles=roles,
            position=position,
        )
        for position in range(2)
    ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def serverless_store(client: FakeServerlessOpenSearch, clock: FakeClock) -> OpenSearchStore:
    return OpenSearchStore(client, "chunks", DIM, serverless=True)


def searchable_later(clock: FakeClock) -> None:
    """Let every write so far become searchable."""
    clock.advance(REFRESH + 1)


def test_role_update_copies_keep_their_vectors(clock: FakeClock) -> None:
    # The collection leaves the vector out of _source unless asked: the copies must ask.
    client = FakeServerlessOpenSearch(clock, refresh_interval=REFRESH, vector_in_source=False)
    store = serverless_store(client, clock)
    store.replace_document("d1", chunks("v1"), VECTORS)
    searchable_later(clock)
    store.update_roles("d1", ["hr"])
    searchable_later(clock)
    assert all("vector" in source for source in client.live.values())
    nearest = store.knn_search([0.0, 1.0, 0.0], HR, k=1)
    assert [(hit.chunk.chunk_id, round(hit.score, 6)) for hit in nearest] == [("d1:v1:1", 1.0)]


def test_a_copy_without_its_vector_is_refused_not_indexed(clock: FakeClock) -> None:
    client = FakeServerlessOpenSearch(clock, refresh_interval=REFRESH, drops_vectors=True)
    store = serverless_store(client, clock)
    store.replace_document("d1", chunks("v1"), VECTORS)
    searchable_later(clock)
    before = dict(client.live)
    with pytest.raises(IndexingError, match="vector"):
        store.update_roles("d1", ["hr"])
    assert client.live == before  # nothing copied, nothing deleted: the old roles stay until a retry works


def test_bm25_on_a_collection_weighs_terms_with_the_callers_own_statistics(clock: FakeClock) -> None:
    """End to end through the store's two requests (the counts, then the rank_feature search) on the
    simulated collection: hidden chunks full of a question's word change neither the caller's order nor
    its scores, and the scores are BM25's (idf of the caller's counts, saturation of the stored features)."""
    client = FakeServerlessOpenSearch(clock, refresh_interval=REFRESH)
    store = serverless_store(client, clock)

    def doc(doc_id: str, text: str, roles: tuple[str, ...]) -> None:
        chunk = Chunk(f"{doc_id}:v1:0", doc_id, "v1", text, f"s3://b/{doc_id}.md", "", roles, 0)
        store.replace_document(doc_id, [chunk], [VECTORS[0]])

    doc("audit", "audit plan", ("finance",))
    doc("budget", "budget review", ("finance",))
    doc("both", "audit and budget", ("finance",))
    searchable_later(clock)
    before = [(hit.chunk.doc_id, hit.score) for hit in store.bm25_search("audit budget", FINANCE, k=5)]
    assert [doc_id for doc_id, _ in before] == ["both", "audit", "budget"]
    # Three visible chunks, two hold "audit": idf = ln(1 + 1.5 / 2.5); "audit plan" is 2 terms long.
    idf, s = math.log(1 + 1.5 / 2.5), 1 / (0.25 + 0.75 * 2 / AVERAGE_LENGTH)
    assert dict(before)["audit"] == pytest.approx(idf * 2.2 * s / (s + 1.2))

    for n in range(10):
        doc(f"hidden{n}", "audit audit findings", ("hr",))
    searchable_later(clock)
    after = [(hit.chunk.doc_id, hit.score) for hit in store.bm25_search("audit budget", FINANCE, k=5)]
    assert after == before
    assert client.requests[-2:] == ["msearch", "search"]


# -- what a change within the refresh interval leaves, and the settle that removes it -----------------


def versions_found(store: OpenSearchStore, roles: frozenset[str] = FINANCE) -> list[tuple[str, str]]:
    return sorted((hit.chunk.chunk_id, hit.chunk.version) for hit in store.bm25_search("revenue", roles, k=50))


def test_a_quick_overwrite_leaves_the_first_version_until_the_settle(clock: FakeClock) -> None:
    client = FakeServerlessOpenSearch(clock, refresh_interval=REFRESH)
    store = serverless_store(client, clock)
    store.replace_document("d1", chunks("v1"), VECTORS)
    clock.advance(5)  # the second version comes within the refresh interval: v1 is not searchable yet
    store.replace_document("d1", chunks("v2"), VECTORS)
    searchable_later(clock)
    assert count_chunks(store, "d1") == 4  # the replace could not see v1's chunks to remove them

    assert store.settle_document("d1", "v2", ("finance",)) == 0  # it deletes; it writes no copy
    searchable_later(clock)
    assert chunk_ids(store, "d1") == ["d1:v2:0", "d1:v2:1"] and count_chunks(store, "d1") == 2
    assert versions_found(store) == [("d1:v2:0", "v2"), ("d1:v2:1", "v2")]
    before = dict(client.live)
    assert store.settle_document("d1", "v2", ("finance",)) == 0
    assert client.live == before  # settled: a second settle changes nothing


def test_a_quick_delete_leaves_the_chunks_until_the_settle(clock: FakeClock) -> None:
    client = FakeServerlessOpenSearch(clock, refresh_interval=REFRESH)
    store = serverless_store(client, clock)
    store.replace_document("d1", chunks("v1"), VECTORS)
    clock.advance(5)
    store.delete_document("d1")
    searchable_later(clock)
    assert count_chunks(store, "d1") == 2

    assert store.settle_document("d1", None, ()) == 0
    searchable_later(clock)
    assert count_chunks(store, "d1") == 0 and versions_found(store) == []


def test_a_quick_role_update_misses_the_new_copies_and_the_settle_gives_them_the_roles(clock: FakeClock) -> None:
    client = FakeServerlessOpenSearch(clock, refresh_interval=REFRESH, vector_in_source=False)
    store = serverless_store(client, clock)
    store.replace_document("d1", chunks("v1"), VECTORS)
    clock.advance(5)
    assert store.update_roles("d1", ["hr"]) == 0  # it finds no copy to change yet
    searchable_later(clock)
    assert len(versions_found(store, FINANCE)) == 2

    assert store.settle_document("d1", "v1", ("hr",)) == 2  # the finance copies, copied with hr
    searchable_later(clock)
    assert versions_found(store, FINANCE) == []
    assert versions_found(store, HR) == [("d1:v1:0", "v1"), ("d1:v1:1", "v1")]
    assert all("vector" in source for source in client.live.values())  # the copies kept their vectors
    nearest = store.knn_search([0.0, 1.0, 0.0], HR, k=1)
    assert [(hit.chunk.chunk_id, round(hit.score, 6)) for hit in nearest] == [("d1:v1:1", 1.0)]


def test_a_quick_re_index_with_other_roles_and_a_repeated_write_leave_one_copy_with_the_roles(clock: FakeClock) -> None:
    # The same chunk ids again within the interval (a retried bulk request, a full re-index of the
    # version): each write makes new copies, as a collection assigns the ids.
    client = FakeServerlessOpenSearch(clock, refresh_interval=REFRESH)
    store = serverless_store(client, clock)
    store.replace_document("d1", chunks("v1"), VECTORS)
    clock.advance(5)
    store.replace_document("d1", chunks("v1", roles=("hr",)), VECTORS)
    store.upsert(chunks("v1", roles=("hr",)), VECTORS)
    searchable_later(clock)
    assert count_chunks(store, "d1") == 6

    assert store.settle_document("d1", "v1", ("hr",)) == 0  # an hr copy of each chunk is there already
    searchable_later(clock)
    assert count_chunks(store, "d1") == 2
    assert versions_found(store, FINANCE) == []
    assert versions_found(store, HR) == [("d1:v1:0", "v1"), ("d1:v1:1", "v1")]


# -- searches checked against the registry -----------------------------------------------------------


def recorded(registry: FakeRegistry, version: str, roles: tuple[str, ...], status: DocumentStatus = "indexed") -> None:
    assert registry.acquire("d1", "ingest", until_ms=10**13, now_ms=0)
    registry.put(DocumentRecord("d1", "b", "d1.md", status, version=version, roles=roles), lease_owner="ingest")
    assert registry.release("d1", "ingest")


def test_a_revocation_counts_before_the_next_refresh_when_hits_are_checked_against_the_registry(
    clock: FakeClock,
) -> None:
    client = FakeServerlessOpenSearch(clock, refresh_interval=REFRESH)
    inner = serverless_store(client, clock)
    registry = FakeRegistry()
    store = RegistryCheckedStore(inner, registry)
    store.replace_document("d1", chunks("v1"), VECTORS)
    recorded(registry, "v1", ("finance",))
    searchable_later(clock)
    assert len(store.knn_search([1.0, 0.0, 0.0], FINANCE, k=10)) == 2

    store.update_roles("d1", ["hr"])
    recorded(registry, "v1", ("hr",))
    clock.advance(1)  # the old copies, with finance, are still what a search finds
    assert len(inner.knn_search([1.0, 0.0, 0.0], FINANCE, k=10)) == 2  # the store alone would show them
    assert store.knn_search([1.0, 0.0, 0.0], FINANCE, k=10) == []
    assert store.bm25_search("revenue", FINANCE, k=10) == []
    searchable_later(clock)
    found = store.knn_search([1.0, 0.0, 0.0], HR, k=10)
    assert [(hit.chunk.chunk_id, hit.chunk.roles) for hit in found] == [("d1:v1:0", ("hr",)), ("d1:v1:1", ("hr",))]


def test_checked_hits_are_of_the_recorded_version_of_an_indexed_document_with_its_roles(clock: FakeClock) -> None:
    client = FakeServerlessOpenSearch(clock, refresh_interval=REFRESH)
    registry = FakeRegistry()
    store = RegistryCheckedStore(serverless_store(client, clock), registry)
    store.replace_document("d1", chunks("v1", roles=("finance", "hr")), VECTORS)
    searchable_later(clock)

    assert store.bm25_search("revenue", FINANCE, k=10) == []  # no record yet: its first version is being indexed
    recorded(registry, "v1", ("hr", "finance"))
    assert [hit.chunk.roles for hit in store.bm25_search("revenue", FINANCE, k=10)] == [("finance", "hr")] * 2
    recorded(registry, "v2", ("finance",))  # a newer version is recorded: v1's chunks are stale
    assert store.bm25_search("revenue", FINANCE, k=10) == []
    for status in ("deleted", "failed"):
        recorded(registry, "v1", ("finance",), status=status)
        assert store.knn_search([1.0, 0.0, 0.0], FINANCE, k=10) == []


def test_hits_dropped_by_the_registry_check_do_not_leave_the_caller_fewer_than_k(clock: FakeClock) -> None:
    client = FakeServerlessOpenSearch(clock, refresh_interval=REFRESH)
    registry = FakeRegistry()
    store = RegistryCheckedStore(serverless_store(client, clock), registry)
    store.replace_document("d1", chunks("v1"), VECTORS)
    other = [
        Chunk(f"d2:w1:{n}", "d2", "w1", f"revenue note {n}", "s3://b/d2.md", "", ("finance",), n) for n in range(2)
    ]
    store.replace_document("d2", other, VECTORS)
    recorded(registry, "v2", ("finance",))  # d1's chunks are of a version no longer recorded
    assert registry.acquire("d2", "ingest", until_ms=10**13, now_ms=0)
    registry.put(DocumentRecord("d2", "b", "d2.md", "indexed", version="w1", roles=("finance",)), lease_owner="ingest")
    searchable_later(clock)
    # d1's stale chunks match "revenue" better (shorter) and come first: without asking for more, k=2
    # would leave nothing once they are dropped.
    found = store.bm25_search("revenue", FINANCE, k=2)
    assert [hit.chunk.doc_id for hit in found] == ["d2", "d2"]
    assert len(store.knn_search([1.0, 0.0, 0.0], FINANCE, k=2)) == 2
