"""FakeIndexCatalog: the IndexCatalog port in one attribute, with its conditional put."""

from __future__ import annotations

from ragline.indexes import CatalogConflict, Indexes


class FakeIndexCatalog:
    """The IndexCatalog port in memory: :meth:`put` writes only from the revision the catalog is at, as
    :class:`ragline.registries.index_catalog.DynamoIndexCatalog`'s conditional ``PutItem`` does.

    >>> from ragline.indexes import IndexTarget
    >>> catalog = FakeIndexCatalog()
    >>> catalog.put(Indexes(IndexTarget("a", "hash", "", 8)).changed())
    >>> catalog.get().revision
    1
    """

    def __init__(self, indexes: Indexes | None = None) -> None:
        self.indexes = indexes
        self.puts = 0

    def get(self) -> Indexes | None:
        return self.indexes

    def put(self, indexes: Indexes) -> None:
        at = 0 if self.indexes is None else self.indexes.revision
        if indexes.revision != at + 1:
            raise CatalogConflict(f"the index catalog is at revision {at}, not {indexes.revision - 1}")
        self.indexes = indexes
        self.puts += 1
