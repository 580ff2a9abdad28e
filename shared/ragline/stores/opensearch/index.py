"""The index: its mapping, the document each chunk is stored as, and creating, checking and deleting it.

One index holds one document per chunk. Its mapping (:meth:`IndexSpec.body`):

- ``vector``: ``knn_vector`` of the store's dimension, HNSW, engine ``faiss`` by default, space
  ``innerproduct`` by default. Every vector is L2-normalised on the way in (documents and queries:
  :func:`unit_vector`), so the inner product *is* the cosine similarity, and scores come back converted
  to that similarity, comparable with :class:`~ragline.stores.sqlite.SqliteStore`. Inner product rather
  than ``cosinesimil``: on unit vectors they rank identically, inner product skips a per-comparison
  normalisation, and ``cosinesimil`` rejects the zero vector, which the hash embedder returns for a text
  of stopwords only.
- ``terms``: ``rank_features``, the terms of :meth:`Chunk.indexed_text` (title, headings and text) as the
  embedded store tokenises them, each with its length-normalised frequency: the one field BM25 searches
  (:mod:`~ragline.stores.opensearch.lexical`). It is never returned (excluded from ``_source`` in results).
- ``text`` (stored, not indexed), ``title`` (``text``), ``chunk_id``, ``doc_id``, ``version``, ``source``,
  ``roles``, ``heading_path`` (``keyword``), ``page``, ``position`` (``integer``), and ``copy_id``
  (``keyword``): the identity of this stored copy of a chunk, which gives paging a unique sort key.

The engine must filter inside the k-NN search (faiss and lucene do; nmslib cannot, so it is refused):
see :mod:`ragline.stores.opensearch.search`.

    >>> IndexSpec(dimension=2).body()["mappings"]["properties"]["vector"]["method"]["space_type"]
    'innerproduct'
    >>> unit_vector([3.0, 4.0], 2, "vector 0")
    [0.6, 0.8]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragline.models import Chunk
from ragline.stores.opensearch.connection import IndexClient
from ragline.stores.opensearch.lexical import TERMS_FIELD, term_features

VECTOR_FIELD = "vector"
ENGINES = ("faiss", "lucene")
SPACE_TYPES = ("innerproduct", "cosinesimil")


@dataclass(frozen=True)
class IndexSpec:
    """What the index is created with: the vectors' ``dimension``, the HNSW ``engine``, ``space_type``,
    ``m`` and ``ef_construction``, and (managed domains only) ``shards`` and ``replicas``."""

    dimension: int
    engine: str = "faiss"
    space_type: str = "innerproduct"
    m: int = 16
    ef_construction: int = 128
    shards: int | None = None
    replicas: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.dimension, bool) or not isinstance(self.dimension, int) or self.dimension < 1:
            raise ValueError(f"dimension must be a positive integer, got {self.dimension!r}")
        if self.engine not in ENGINES:
            raise ValueError(
                f"engine must be one of {ENGINES} (they filter inside the k-NN search; nmslib cannot), "
                f"got {self.engine!r}"
            )
        if self.space_type not in SPACE_TYPES:
            raise ValueError(f"space_type must be one of {SPACE_TYPES}, got {self.space_type!r}")

    def body(self) -> dict[str, Any]:
        """The body of the create-index request: settings and mappings."""
        settings: dict[str, Any] = {"knn": True}
        if self.shards is not None:
            settings["number_of_shards"] = self.shards
        if self.replicas is not None:
            settings["number_of_replicas"] = self.replicas
        keyword = {"type": "keyword"}
        return {
            "settings": {"index": settings},
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    VECTOR_FIELD: {
                        "type": "knn_vector",
                        "dimension": self.dimension,
                        "method": {
                            "name": "hnsw",
                            "engine": self.engine,
                            "space_type": self.space_type,
                            "parameters": {"m": self.m, "ef_construction": self.ef_construction},
                        },
                    },
                    TERMS_FIELD: {"type": "rank_features"},
                    "text": {"type": "text", "index": False},
                    "context": {"type": "text", "index": False},
                    "title": {"type": "text"},
                    "chunk_id": dict(keyword),
                    "copy_id": dict(keyword),
                    "doc_id": dict(keyword),
                    "version": dict(keyword),
                    "source": dict(keyword),
                    "roles": dict(keyword),
                    "heading_path": dict(keyword),
                    "page": {"type": "integer"},
                    "position": {"type": "integer"},
                },
            },
        }

    def check(self, index: str, response: dict[str, Any]) -> None:
        """Refuse (``ValueError``) an existing index, given its get-mapping response, whose ``vector`` field
        is not this spec's (another dimension, method, engine or space type would score on another scale),
        or that lacks the ``terms`` field BM25 searches."""
        first: dict[str, Any] = next(iter(response.values()), {}) if response else {}
        properties = first.get("mappings", {}).get("properties", {})
        vector = properties.get(VECTOR_FIELD, {})
        if vector.get("type") != "knn_vector":
            raise ValueError(f"index {index!r} exists but has no knn_vector field {VECTOR_FIELD!r}")
        if vector.get("dimension") != self.dimension:
            raise ValueError(
                f"index {index!r} holds vectors of dimension {vector.get('dimension')}, not {self.dimension}"
            )
        method = vector.get("method") or {}
        # An index created without them has OpenSearch's defaults (hnsw, and l2 space); the engine's
        # default has changed across versions, so a missing engine is a mismatch too.
        found = {
            "method": method.get("name", "hnsw"),
            "engine": method.get("engine"),
            "space type": method.get("space_type", vector.get("space_type", "l2")),
        }
        wanted = {"method": "hnsw", "engine": self.engine, "space type": self.space_type}
        differ = [
            f"{what} {found[what]!r} (this store needs {wanted[what]!r})"
            for what in wanted
            if found[what] != wanted[what]
        ]
        if differ:
            raise ValueError(
                f"index {index!r} exists with another k-NN {', '.join(differ)}: delete it and re-index, "
                "or configure the store as the index is"
            )
        if properties.get(TERMS_FIELD, {}).get("type") != "rank_features":
            raise ValueError(
                f"index {index!r} exists without the rank_features field {TERMS_FIELD!r} that BM25 searches"
                " (an index of an older ragline): delete it and re-index"
            )


def ensure_index(target: IndexClient, spec: IndexSpec) -> bool:
    """Create the index unless it exists; True when this call created it. Idempotent and race-safe.

    An existing index must have the spec's ``vector`` field (dimension, method, engine, space type), else
    ``ValueError``.
    """
    from opensearchpy.exceptions import NotFoundError, RequestError

    try:
        mapping = target.get_mapping()
    except NotFoundError:
        try:
            target.create_index(spec.body())
        except RequestError as error:
            if error.error == "resource_already_exists_exception":
                return False
            raise
        return True
    spec.check(target.index, mapping)
    return False


def delete_index(target: IndexClient) -> bool:
    """Delete the whole index; False when it did not exist."""
    from opensearchpy.exceptions import NotFoundError

    try:
        target.delete_index()
    except NotFoundError:
        return False
    return True


def unit_vector(vector: Sequence[float], dimension: int, what: str) -> list[float]:
    """``vector`` scaled to length 1 (the zero vector as it is); ``ValueError`` naming ``what`` when its
    dimension is not ``dimension`` or a value is not finite."""
    if len(vector) != dimension:
        raise ValueError(f"{what} has dimension {len(vector)}, the store's is {dimension}")
    values = [float(x) for x in vector]
    if not all(math.isfinite(x) for x in values):
        raise ValueError(f"{what} must be finite (no NaN or infinity)")
    norm = math.sqrt(math.fsum(x * x for x in values))
    return [x / norm for x in values] if norm > 0 else values


def document(chunk: Chunk, vector: list[float], *, copy_id: str) -> dict[str, Any]:
    """The document a chunk is stored as, with its unit ``vector`` and the ``copy_id`` of this copy."""
    return {
        "chunk_id": chunk.chunk_id,
        "copy_id": copy_id,
        "doc_id": chunk.doc_id,
        "version": chunk.version,
        "source": chunk.source,
        "title": chunk.title,
        "text": chunk.text,
        "context": chunk.context,
        "roles": list(chunk.roles),
        "heading_path": list(chunk.heading_path),
        "page": chunk.page,
        "position": chunk.position,
        TERMS_FIELD: term_features(chunk.indexed_text()),
        VECTOR_FIELD: vector,
    }


def chunk_of(source: dict[str, Any]) -> Chunk:
    """The chunk a stored document's ``_source`` holds (a search hit's: no vector, no body)."""
    page = source.get("page")
    return Chunk(
        chunk_id=str(source["chunk_id"]),
        doc_id=str(source["doc_id"]),
        version=str(source["version"]),
        text=str(source.get("text", "")),
        source=str(source.get("source", "")),
        title=str(source.get("title", "")),
        roles=_as_tuple(source.get("roles")),
        position=int(source.get("position", 0)),
        page=None if page is None else int(page),
        heading_path=_as_tuple(source.get("heading_path")),
        context=str(source.get("context", "")),
    )


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)
