"""OpenSearchStore on a simulated Serverless vector collection: what a refresh delay must not break.

On a Serverless collection a search sees a write only after the refresh interval, while a get by ``_id``
sees it at once (docs/architecture.md, "OpenSearch Serverless consistency"). ``FakeServerlessOpenSearch``
behaves so on a :class:`FakeClock`; the store waits on the same clock, so every wait here takes no time.
"""

from __future__ import annotations

import pytest

from ragline.models import Chunk
from ragline.stores.opensearch import IndexingError, OpenSearchStore
from tests.fake_serverless_opensearch import FakeClock, FakeServerlessOpenSearch

DIM = 3
REFRESH = 60.0  # a classic vector collection's refresh interval
HR = frozenset({"hr"})
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
