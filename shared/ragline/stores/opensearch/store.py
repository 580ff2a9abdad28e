"""The OpenSearch vector store: :class:`OpenSearchStore`, the port's operations on one index.

It composes the package's parts: the index spec and lifecycle (:mod:`~ragline.stores.opensearch.index`),
the managed or Serverless writes (:mod:`~ragline.stores.opensearch.writes`), the searches
(:mod:`~ragline.stores.opensearch.search`), and one :class:`~ragline.stores.opensearch.connection.IndexClient`
through which every request goes, retried as its :class:`~ragline.retry.RetryPolicy` says.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ragline.models import Chunk, IndexedVersion, SearchHit
from ragline.retry import RetryPolicy
from ragline.stores.opensearch import lexical
from ragline.stores.opensearch.connection import IndexClient
from ragline.stores.opensearch.index import IndexSpec, delete_index, ensure_index, unit_vector
from ragline.stores.opensearch.search import bm25_body, hits, knn_body, roles_filter, similarity, versions
from ragline.stores.opensearch.writes import ManagedWrites, ServerlessWrites
from ragline.stores.terms import question_terms, term_counts

if TYPE_CHECKING:  # pragma: no cover
    from opensearchpy import OpenSearch

#: Six attempts of every request (and of the items a bulk request refused with 429 or 5xx), pauses of up
#: to 0.5, 1, 2, 4 and 8 s between them.
DEFAULT_RETRY = RetryPolicy(attempts=6, base_delay=0.5)

#: How long a Serverless vector collection takes at most to make a write searchable: about 60 s on the
#: classic generation, 10 s on the newer one (docs/deploy.md, "OpenSearch version and collection type").
SERVERLESS_REFRESH_SECONDS = 60.0


class OpenSearchStore:
    """:class:`ragline.ports.VectorStore` on an OpenSearch index.

    ``client`` is an ``opensearchpy.OpenSearch`` (see :func:`~ragline.stores.opensearch.connect`);
    ``index`` the index name; ``dimension`` the vectors' length. ``serverless=True`` for an Amazon
    OpenSearch Serverless vector collection (see the table in :mod:`ragline.stores.opensearch.writes`).
    ``refresh`` makes every write searchable before it returns on a managed domain (ignored on
    Serverless). ``bulk_batch_size`` bounds the actions per bulk request; ``page_size`` the hits per page
    when listing stored copies (Serverless writes). ``retry`` is how failed requests and bulk items are tried again
    (:data:`DEFAULT_RETRY`). ``engine``, ``space_type``, ``m`` and ``ef_construction`` shape the HNSW
    graph; ``shards`` and ``replicas`` go into the index settings on a managed domain only (see
    :class:`~ragline.stores.opensearch.index.IndexSpec`).
    """

    def __init__(
        self,
        client: OpenSearch,
        index: str,
        dimension: int,
        *,
        serverless: bool = False,
        engine: str = "faiss",
        space_type: str = "innerproduct",
        m: int = 16,
        ef_construction: int = 128,
        shards: int | None = None,
        replicas: int | None = None,
        bulk_batch_size: int = 200,
        page_size: int = 1000,
        retry: RetryPolicy = DEFAULT_RETRY,
        refresh: bool = True,
    ) -> None:
        self.spec = IndexSpec(dimension, engine, space_type, m, ef_construction, shards, replicas)
        if not index or index != index.lower() or index.startswith(("_", "-", "+")):
            raise ValueError(f"not a valid OpenSearch index name: {index!r}")
        if serverless and (shards is not None or replicas is not None):
            raise ValueError("OpenSearch Serverless manages shards and replicas itself: leave them unset")
        if bulk_batch_size < 1 or page_size < 1:
            raise ValueError("bulk_batch_size and page_size must be positive")
        term_counts([""])  # BM25's tokenizer is SQLite's FTS5: a runtime without it fails here, at start
        self.client = client
        self.index = index
        self.dimension = dimension
        self.serverless = serverless
        self.bulk_batch_size = bulk_batch_size
        self.page_size = page_size
        self.retry = retry
        self.refresh = refresh and not serverless
        self._target = IndexClient(client, index, retry)
        self._writes: ManagedWrites | ServerlessWrites
        if serverless:
            self._writes = ServerlessWrites(self._target, batch_size=bulk_batch_size, page_size=page_size)
        else:
            self._writes = ManagedWrites(self._target, refresh=self.refresh)

    def close(self) -> None:
        """Close the client's connections (opensearch-py keeps a pool per host)."""
        self.client.close()

    def __repr__(self) -> str:
        kind = "serverless" if self.serverless else "managed"
        return f"OpenSearchStore(index={self.index!r}, dimension={self.dimension}, {kind})"

    # -- the index --------------------------------------------------------------------------------

    def index_body(self) -> dict[str, Any]:
        """The body of the create-index request: settings and mappings."""
        return self.spec.body()

    def ensure_index(self) -> bool:
        """Create the index unless it exists; True when this call created it. Idempotent and race-safe.

        An existing index must have a ``vector`` field of this store's dimension, else ``ValueError``.
        """
        return ensure_index(self._target, self.spec)

    def delete_index(self) -> bool:
        """Delete the whole index; False when it did not exist."""
        return delete_index(self._target)

    # -- writes -----------------------------------------------------------------------------------

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Index chunks with their vectors, replacing any stored chunk of the same ``chunk_id``.

        Raises ``ValueError`` (and sends nothing) when the counts differ or a vector has the wrong
        dimension or a non-finite value.
        """
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        normalised = [unit_vector(vector, self.dimension, f"vector {i}") for i, vector in enumerate(vectors)]
        # A chunk id given twice in one call: the last one wins, as it would over two calls.
        latest = {chunk.chunk_id: (chunk, vector) for chunk, vector in zip(chunks, normalised, strict=True)}
        items = list(latest.values())
        for start in range(0, len(items), self.bulk_batch_size):
            self._writes.index(items[start : start + self.bulk_batch_size])

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> int:
        """Make ``chunks`` the document's only chunks; returns how many other chunks were removed.

        The new chunks are written first, then the others removed, so a reader never finds the document
        missing; between the two it may see both sets (OpenSearch has no multi-request transaction).
        """
        if any(chunk.doc_id != doc_id for chunk in chunks):
            raise ValueError(f"every chunk must belong to {doc_id}")
        self.upsert(chunks, vectors)
        keep = sorted({chunk.chunk_id for chunk in chunks})
        query: dict[str, Any] = {"bool": {"filter": [{"term": {"doc_id": doc_id}}]}}
        if keep:
            query["bool"]["must_not"] = [{"terms": {"chunk_id": keep}}]
        return self._writes.delete_matching(query)

    def delete_document(self, doc_id: str) -> int:
        """Remove every chunk of a document; returns how many."""
        return self._writes.delete_matching({"bool": {"filter": [{"term": {"doc_id": doc_id}}]}})

    def count_document(self, doc_id: str, version: str) -> int:
        """How many chunks of the document's version ``version`` the index holds (one ``_count``)."""
        query = {"bool": {"filter": [{"term": {"doc_id": doc_id}}, {"term": {"version": version}}]}}
        return int(self._target.count({"query": query}, "count a document's chunks")["count"])

    def update_roles(self, doc_id: str, roles: Sequence[str]) -> int:
        """Give every chunk of a document these roles (no re-embedding); returns how many chunks."""
        return self._writes.update_roles(doc_id, _role_list(roles))

    @property
    def refresh_lag_seconds(self) -> float:
        """How long a write may take to become searchable: the refresh interval on Serverless, else 0 (a
        managed domain's writes wait for the refresh)."""
        return SERVERLESS_REFRESH_SECONDS if self.serverless else 0.0

    def settle_document(self, doc_id: str, version: str | None, roles: Sequence[str]) -> int:
        """Leave one copy of each chunk of ``version`` (none, when None), with ``roles``; returns how many
        new copies it wrote. See :meth:`~ragline.stores.opensearch.writes.ServerlessWrites.settle`."""
        return self._writes.settle(doc_id, version, _role_list(roles))

    # -- reads ------------------------------------------------------------------------------------

    def indexed_versions(self) -> Iterator[IndexedVersion]:
        """Every document and version the index holds, with its chunk count, ``page_size`` pairs a request."""
        return versions(self._target, self.page_size)

    def knn_search(self, vector: Sequence[float], roles: frozenset[str], k: int) -> list[SearchHit]:
        """The ``k`` chunks visible to ``roles`` nearest to ``vector``; score = cosine similarity."""
        if not roles or k <= 0:
            return []
        body = knn_body(unit_vector(vector, self.dimension, "query vector"), roles, k)
        space_type = self.spec.space_type
        return hits(self._target.search(body, "k-NN search"), roles, lambda score: similarity(score, space_type))

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]:
        """The ``k`` chunks visible to ``roles`` that best match ``text`` by BM25, weighed with statistics of
        the chunks visible to ``roles`` only (:mod:`~ragline.stores.opensearch.lexical`): two requests, the
        counts (``_msearch``) and the search."""
        if not roles or k <= 0:
            return []
        terms = question_terms(text)
        if not terms:
            return []
        visible = roles_filter(roles)
        response = self._target.msearch(lexical.frequency_searches(terms, visible), "BM25 statistics")
        documents, *holding = lexical.counts_of(response, expected=len(terms) + 1)
        weights = {term: lexical.idf(documents, n) for term, n in zip(terms, holding, strict=True) if n}
        if not weights:
            return []  # no visible chunk holds any of the terms
        body = bm25_body(weights, visible, k)
        return hits(self._target.search(body, "BM25 search"), roles, float)


def _role_list(roles: Sequence[str]) -> list[str]:
    """The roles once each, in their order; a bare string is refused (it would be taken letter by letter)."""
    if isinstance(roles, str):
        raise TypeError("roles must be a sequence of role names, not one string")
    return list(dict.fromkeys(roles))
