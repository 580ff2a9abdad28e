"""The ports of the core: what it needs from the outside world, as protocols.

Adapters implement these; unit tests use in-memory fakes named as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ragline.models import Answer, Chunk, DocumentRecord, SearchHit, StoredObject, Work


class Embedder(Protocol):
    """Turns text into vectors. Documents and queries may be embedded differently (Cohere does)."""

    name: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class VectorStore(Protocol):
    """Chunks with their vectors, searchable by k-NN and BM25.

    Every search takes the caller's roles and applies them inside the search, so that ``k`` results come
    back when ``k`` visible ones exist. An empty set of roles matches nothing.
    """

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None: ...

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> int:
        """Make ``chunks`` the document's only chunks: upsert them and remove every other chunk of the
        document (an older version, or positions a new chunking no longer makes); returns how many went."""
        ...

    def delete_document(self, doc_id: str) -> int:
        """Remove every chunk of a document; returns how many."""
        ...

    def update_roles(self, doc_id: str, roles: Sequence[str]) -> int:
        """Change the roles of every chunk of a document without re-embedding; returns how many."""
        ...

    def knn_search(self, vector: Sequence[float], roles: frozenset[str], k: int) -> list[SearchHit]: ...

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]: ...

    def count(self, doc_id: str | None = None) -> int: ...


class Reranker(Protocol):
    """Reorders retrieved passages by relevance to the question; returns at most ``top_n`` of them,
    best first, with the reranker's own scores."""

    name: str

    def rerank(self, question: str, hits: Sequence[SearchHit], top_n: int) -> list[SearchHit]: ...


class Generator(Protocol):
    """Writes an answer to a question from numbered sources (1-based, in the order given)."""

    name: str

    def generate(self, question: str, sources: Sequence[SearchHit]) -> Answer: ...


class Registry(Protocol):
    """The documents table: one record per document, keyed by ``doc_id``, and each document's lease.

    The lease serialises every change to one document (re-ingest, role change, delete): only its holder
    writes the document's chunks and record. An event that finds the lease held hands its work to the holder
    (:meth:`hand_over`), who does it before it may :meth:`release` the lease.
    """

    def get(self, doc_id: str) -> DocumentRecord | None: ...

    def put(self, record: DocumentRecord, lease_owner: str) -> None:
        """Write the record while ``lease_owner`` holds the lease (:class:`ragline.errors.LeaseLost` otherwise)."""
        ...

    def acquire(self, doc_id: str, owner: str, until_ms: int, now_ms: int) -> bool:
        """Take the lease until ``until_ms`` if it is free, expired, or ``owner``'s already."""
        ...

    def hand_over(self, doc_id: str, work: Work, now_ms: int) -> bool:
        """Leave work to the live lease's holder; False when no lease is live."""
        ...

    def take_pending(self, doc_id: str, owner: str) -> Work | None:
        """Clear and return the work handed over to the holder ``owner``."""
        ...

    def release(self, doc_id: str, owner: str) -> bool:
        """Give the lease up; False (the lease kept) when work was handed over meanwhile."""
        ...

    def abandon(self, doc_id: str, owner: str) -> None:
        """Give the lease up after a failure, keeping the pending work for the next holder."""
        ...


class ObjectStore(Protocol):
    """Where documents live (S3)."""

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> StoredObject | None:
        """The object with its metadata (at most ``max_bytes`` of its body), or None when it does not exist."""
        ...

    def head(self, bucket: str, key: str) -> StoredObject | None:
        """The object's metadata, ETag and size, without its body; None when it does not exist."""
        ...

    def delete(self, bucket: str, key: str, etag: str | None = None) -> None:
        """Delete the object; with ``etag``, only if it is still that object."""
        ...
