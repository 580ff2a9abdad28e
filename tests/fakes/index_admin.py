"""FakeIndexAdmin: a store's physical indexes as FakeVectorStores, and the alias readers would follow."""

from __future__ import annotations

from collections.abc import Iterator

from ragline.indexes import IndexTarget, OpenTarget
from ragline.models import IndexedVersion
from tests.fakes.embedder import FakeEmbedder
from tests.fakes.vector_store import FakeVectorStore


class FakeIndexAdmin:
    """The IndexAdmin port on in-memory stores, one per index name, and an ``alias`` as
    :class:`ragline.stores.opensearch.admin.OpenSearchIndexAdmin` moves it. :meth:`open` gives the same
    store to the functions' router, as the real factory opens the same physical index.

    >>> admin = FakeIndexAdmin()
    >>> admin.create(IndexTarget("idx-r1", "fake", "", 8))
    >>> admin.stores["idx-r1"].dimension
    8
    """

    def __init__(self) -> None:
        self.stores: dict[str, FakeVectorStore] = {}
        self.embedders: dict[IndexTarget, FakeEmbedder] = {}
        self.alias: str | None = None  # the index the alias points at, once moved
        self.dropped: list[str] = []

    def name_for(self, revision: int) -> str:
        return f"idx-r{revision}"

    def create(self, target: IndexTarget) -> None:
        self.stores.setdefault(target.index, FakeVectorStore(target.dimension))

    def indexed_versions(self, target: IndexTarget) -> Iterator[IndexedVersion]:
        return self.stores[target.index].indexed_versions()

    def point_readers(self, old: IndexTarget | None, new: IndexTarget) -> None:
        self.alias = new.index

    def drop(self, target: IndexTarget, live: IndexTarget) -> None:
        del self.stores[target.index]
        self.dropped.append(target.index)

    def open(self, target: IndexTarget) -> OpenTarget:
        """The target's store (made when missing, as an ingest function's ``create_index``) and embedder."""
        self.create(target)
        embedder = self.embedders.setdefault(target, FakeEmbedder(target.dimension))
        return OpenTarget(target, self.stores[target.index], embedder)
