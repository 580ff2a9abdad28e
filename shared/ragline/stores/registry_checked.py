"""Search hits checked against the registry: :class:`RegistryCheckedStore`, for a store whose searches can
answer from before its last writes (OpenSearch Serverless; docs/architecture.md, "OpenSearch Serverless
consistency").

Until such a store's next refresh, a search finds what was there before: the chunks of a version replaced
or deleted, and the old copies of a role update, with the old roles. The registry is written once a change
is applied and read consistently, so a hit is kept only when its document's record is ``indexed`` at the
hit's version and gives the caller one of the record's roles, and the hit carries the record's roles. A
revocation or a deletion counts as soon as ingest has recorded it, whatever the index still returns. Each
search asks the store for :data:`OVERFETCH` times ``k`` hits, so that the copies dropped for a while after
a change do not leave the caller with fewer than ``k``.

Example:
    >>> collection = OpenSearchStore(client, "chunks", 1024, serverless=True)  # doctest: +SKIP
    >>> store = RegistryCheckedStore(collection, registry)  # doctest: +SKIP
    >>> store.knn_search(vector, frozenset({"finance"}), k=10)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from ragline.models import Chunk, IndexedVersion, SearchHit
from ragline.ports import Registry, VectorStore

#: How many times ``k`` hits a search asks the store for, before those the registry refuses are dropped.
OVERFETCH = 2


class RegistryCheckedStore:
    """:class:`ragline.ports.VectorStore` of ``store``, its search hits checked against ``registry``; every
    other call goes to ``store`` unchanged."""

    def __init__(self, store: VectorStore, registry: Registry) -> None:
        self.store = store
        self.registry = registry

    def knn_search(self, vector: Sequence[float], roles: frozenset[str], k: int) -> list[SearchHit]:
        return self._checked(self.store.knn_search(vector, roles, k * OVERFETCH), roles)[:k]

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]:
        return self._checked(self.store.bm25_search(text, roles, k * OVERFETCH), roles)[:k]

    def _checked(self, hits: list[SearchHit], roles: frozenset[str]) -> list[SearchHit]:
        """The hits whose document the registry has ``indexed`` at the hit's version, visible to ``roles``
        by the record's roles, which each kept hit then carries; in their order."""
        if not hits:
            return hits
        records = self.registry.get_many({hit.chunk.doc_id for hit in hits})
        kept: list[SearchHit] = []
        for hit in hits:
            record = records.get(hit.chunk.doc_id)
            if record is None or record.status != "indexed" or record.version != hit.chunk.version:
                continue
            if roles.isdisjoint(record.roles):
                continue
            chunk = hit.chunk if hit.chunk.roles == record.roles else dataclasses.replace(hit.chunk, roles=record.roles)
            kept.append(SearchHit(chunk, hit.score))
        return kept

    # -- the rest of the port, unchanged ---------------------------------------------------------

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> int:
        return self.store.replace_document(doc_id, chunks, vectors)

    def delete_document(self, doc_id: str) -> int:
        return self.store.delete_document(doc_id)

    def count_document(self, doc_id: str, version: str) -> int:
        return self.store.count_document(doc_id, version)

    def update_roles(self, doc_id: str, roles: Sequence[str]) -> int:
        return self.store.update_roles(doc_id, roles)

    @property
    def refresh_lag_seconds(self) -> float:
        return self.store.refresh_lag_seconds

    def settle_document(self, doc_id: str, version: str | None, roles: Sequence[str]) -> int:
        return self.store.settle_document(doc_id, version, roles)

    def indexed_versions(self) -> Iterator[IndexedVersion]:
        return self.store.indexed_versions()

    def close(self) -> None:
        self.store.close()
