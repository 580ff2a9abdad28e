"""FakeVectorStore: the VectorStore port in a dict, with exact k-NN and BM25."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ragline.models import Chunk, IndexedVersion, SearchHit
from ragline.words import terms

# BM25's usual constants (Robertson et al.; SQLite FTS5 and OpenSearch use the same).
K1 = 1.2
B = 0.75


@dataclass(frozen=True)
class _Row:
    chunk: Chunk
    vector: tuple[float, ...]  # unit length (or all zeros)
    terms: Counter[str]  # of the chunk's indexed text, what BM25 matches


class FakeVectorStore:
    """The VectorStore port in memory, held to the store contract (tests/contract/test_vector_store_contract.py).

    k-NN is exact cosine similarity; BM25 scores each chunk's :meth:`Chunk.indexed_text` terms
    (:func:`ragline.words.terms`, no stemming) with statistics of the chunks the caller may see only, as
    both real stores count them (docs/security.md, "BM25 statistics"). Both searches filter by role before they pick the
    best ``k``, so ``k`` results come back when ``k`` visible ones exist; ties go by chunk id. Besides the
    port it has what the real stores offer tests: :meth:`upsert`, :meth:`count`, :meth:`chunk_ids`, and
    :meth:`chunks` to look at what is stored.

    >>> store = FakeVectorStore(dimension=2)
    >>> chunk = Chunk("c1", "d1", "v1", "Solar output", "s3://b/k.md", "Energy", ("staff",), 0)
    >>> store.replace_document("d1", [chunk], [[1.0, 0.0]])
    0
    >>> [hit.chunk.chunk_id for hit in store.bm25_search("solar", frozenset({"staff"}), k=5)]
    ['c1']
    >>> store.bm25_search("solar", frozenset({"finance"}), k=5)
    []
    """

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.closed = False
        self._rows: dict[str, _Row] = {}

    # -- the port ----------------------------------------------------------------------------------

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> int:
        if any(chunk.doc_id != doc_id for chunk in chunks):
            raise ValueError(f"every chunk must belong to {doc_id}")
        rows = self._new_rows(chunks, vectors)  # checked before anything changes
        keep = {row.chunk.chunk_id for row in rows}
        stale = [row.chunk.chunk_id for row in self._of(doc_id) if row.chunk.chunk_id not in keep]
        for chunk_id in stale:
            del self._rows[chunk_id]
        self._store(rows)
        return len(stale)

    def delete_document(self, doc_id: str) -> int:
        gone = [row.chunk.chunk_id for row in self._of(doc_id)]
        for chunk_id in gone:
            del self._rows[chunk_id]
        return len(gone)

    def count_document(self, doc_id: str, version: str) -> int:
        return sum(1 for row in self._of(doc_id) if row.chunk.version == version)

    def update_roles(self, doc_id: str, roles: Sequence[str]) -> int:
        if isinstance(roles, str):
            raise TypeError("roles must be a sequence of role names, not one string")
        unique = tuple(dict.fromkeys(roles))
        rows = self._of(doc_id)
        for row in rows:
            chunk = dataclasses.replace(row.chunk, roles=unique)
            self._rows[chunk.chunk_id] = dataclasses.replace(row, chunk=chunk)
        return len(rows)

    refresh_lag_seconds = 0.0  # every write is searchable at once

    def settle_document(self, doc_id: str, version: str | None, roles: Sequence[str]) -> int:
        stale = [row.chunk.chunk_id for row in self._of(doc_id) if row.chunk.version != version]
        for chunk_id in stale:
            del self._rows[chunk_id]
        if version is not None:
            self.update_roles(doc_id, roles)
        return 0  # roles change in place: no new copies

    def knn_search(self, vector: Sequence[float], roles: frozenset[str], k: int) -> list[SearchHit]:
        if not roles or k <= 0:
            return []
        query = self._unit(vector)
        hits = [
            SearchHit(row.chunk, sum(a * b for a, b in zip(query, row.vector, strict=True)))
            for row in self._live().values()
            if not roles.isdisjoint(row.chunk.roles)
        ]
        return _best(hits, k)

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]:
        wanted = list(dict.fromkeys(terms(text)))
        rows = [row for row in self._live().values() if not roles.isdisjoint(row.chunk.roles)]
        if not roles or k <= 0 or not wanted or not rows:
            return []
        average_length = sum(sum(row.terms.values()) for row in rows) / len(rows)
        idf = {term: _idf(len(rows), sum(1 for row in rows if term in row.terms)) for term in wanted}
        hits = [
            SearchHit(row.chunk, _bm25(row.terms, wanted, idf, average_length))
            for row in rows
            if not roles.isdisjoint(row.chunk.roles) and any(term in row.terms for term in wanted)
        ]
        return _best(hits, k)

    def indexed_versions(self) -> Iterator[IndexedVersion]:
        counts = Counter((row.chunk.doc_id, row.chunk.version, row.chunk.source) for row in self._live().values())
        return (IndexedVersion(*held, chunks=count) for held, count in counts.items())

    def close(self) -> None:
        self.closed = True

    # -- what the real stores offer tests besides --------------------------------------------------

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Add chunks, replacing any of the same id (the last of one id wins)."""
        self._store(self._new_rows(chunks, vectors))

    def count(self, doc_id: str | None = None) -> int:
        return len(self._live()) if doc_id is None else len(self._of(doc_id))

    def chunk_ids(self, doc_id: str) -> list[str]:
        """The document's chunk ids in position order."""
        return [chunk.chunk_id for chunk in self.chunks(doc_id)]

    def chunks(self, doc_id: str) -> list[Chunk]:
        """The document's chunks as stored, in position order."""
        return sorted((row.chunk for row in self._of(doc_id)), key=lambda chunk: (chunk.position, chunk.chunk_id))

    # -- inside ------------------------------------------------------------------------------------

    def _live(self) -> dict[str, _Row]:
        if self.closed:
            raise RuntimeError("the store is closed")
        return self._rows

    def _of(self, doc_id: str) -> list[_Row]:
        return [row for row in self._live().values() if row.chunk.doc_id == doc_id]

    def _store(self, rows: list[_Row]) -> None:
        live = self._live()
        for row in rows:
            live[row.chunk.chunk_id] = row

    def _new_rows(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> list[_Row]:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        return [
            _Row(chunk, self._unit(vector), Counter(terms(chunk.indexed_text())))
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]

    def _unit(self, vector: Sequence[float]) -> tuple[float, ...]:
        if len(vector) != self.dimension:
            raise ValueError(f"vector has dimension {len(vector)}, the store's is {self.dimension}")
        if not all(math.isfinite(value) for value in vector):
            raise ValueError("vectors must be finite (no NaN or infinity)")
        norm = math.sqrt(sum(value * value for value in vector))
        return tuple(value / norm if norm else 0.0 for value in vector)


def _idf(rows: int, matching: int) -> float:
    return math.log(1 + (rows - matching + 0.5) / (matching + 0.5))


def _bm25(counts: Counter[str], wanted: list[str], idf: dict[str, float], average_length: float) -> float:
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / average_length) if average_length else K1
    return sum(idf[term] * counts[term] * (K1 + 1) / (counts[term] + norm) for term in wanted if term in counts)


def _best(hits: list[SearchHit], k: int) -> list[SearchHit]:
    return sorted(hits, key=lambda hit: (-hit.score, hit.chunk.chunk_id))[:k]
