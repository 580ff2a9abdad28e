"""OpenSearchStore on a simulated Serverless vector collection: what a refresh delay must not break.

On a Serverless collection a search sees a write only after the refresh interval, while a get by ``_id``
sees it at once (docs/architecture.md, "OpenSearch Serverless consistency"). ``FakeServerlessOpenSearch``
behaves so on a :class:`FakeClock`; the store waits on the same clock, so every wait here takes no time.
"""

from __future__ import annotations

import math

import pytest

from ragline.models import Chunk
from ragline.stores.opensearch import IndexingError, OpenSearchStore
from ragline.stores.opensearch.lexical import AVERAGE_LENGTH
from tests.fake_serverless_opensearch import FakeClock, FakeServerlessOpenSearch

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
