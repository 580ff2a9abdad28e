"""A vector store on OpenSearch k-NN: a managed domain (or any OpenSearch 2.9+) or a Serverless collection.

One index holds one document per chunk. Its mapping (see :meth:`OpenSearchStore.index_body`):

- ``vector``: ``knn_vector`` of the store's dimension, HNSW, engine ``faiss`` by default, space
  ``innerproduct`` by default. Every vector is L2-normalised on the way in (documents and queries), so the
  inner product *is* the cosine similarity, and scores come back converted to that similarity, comparable
  with :class:`~ragline.stores.sqlite.SqliteStore`. Inner product rather than ``cosinesimil``: on unit
  vectors they rank identically, inner product skips a per-comparison normalisation, and ``cosinesimil``
  rejects the zero vector, which the hash embedder returns for a text of stopwords only.
- ``body``: ``text`` with the ``english`` analyzer, holding :meth:`Chunk.indexed_text` (title, headings
  and text): the one field BM25 searches, byte for byte what the embedded store's FTS5 table indexes.
  An explicit field rather than ``copy_to``, because ``indexed_text`` drops a first heading that repeats
  the title, which ``copy_to`` cannot express. It is never returned (excluded from ``_source`` in results).
- ``text`` (stored, not indexed), ``title`` (``text``), ``chunk_id``, ``doc_id``, ``version``, ``source``,
  ``roles``, ``heading_path`` (``keyword``), ``page``, ``position`` (``integer``), and ``copy_id``
  (``keyword``): the identity of this stored copy of a chunk, which gives paging a unique sort key.

Roles are applied *inside* both searches: the k-NN query carries them as an efficient filter (faiss and
lucene engines; nmslib cannot filter during the search, so it is refused), BM25 as a ``bool`` filter, so
``k`` hits come back whenever ``k`` visible chunks exist. An empty set of roles matches nothing and sends
no request.

Managed domains and Serverless collections differ (Amazon OpenSearch Serverless, "AOSS"):

========================  ======================================  ===========================================
operation                 managed (``serverless=False``)           Serverless (``serverless=True``)
========================  ======================================  ===========================================
upsert                    bulk ``index`` with ``_id`` = chunk id  find the chunk ids' current copies, bulk
                          (idempotent by construction)            ``index`` without ``_id``, bulk ``delete`` the
                                                                  old copies (vector collections refuse a
                                                                  client-chosen ``_id``)
delete_document,          ``_delete_by_query``                    search the ids (``search_after`` paging),
replace_document                                                  bulk ``delete``
update_roles              ``_update_by_query`` + painless script  copy each chunk with the new roles (bulk
                                                                  ``index``), bulk ``delete`` the old copies
refresh                   bulk ``refresh=wait_for``; by-query     never sent: AOSS has no refresh API; writes
                          operations ``refresh=true``             become searchable after its own interval
========================  ======================================  ===========================================

On Serverless, searches see writes only after the collection's refresh interval, so two upserts of the
same chunk within it can leave two copies for a while; searches drop repeated chunk ids, and the next
write of that chunk removes the stray copy.

Failures: a whole request failing with a connection error, 409, 429 or 5xx is retried with jittered
backoff; so are the items of a bulk request that fail with 429 or 5xx. When the retries run out,
:class:`~ragline.errors.TransientError` (the message goes back to the queue). An item refused for any other
reason (a mapping error: 400) raises :class:`IndexingError`, which retrying will not fix. Error messages
name chunk ids and error types, never the content of a document.

``opensearchpy`` is imported only inside this module's functions, so importing :mod:`ragline` or this
module does not need it.

    >>> store = OpenSearchStore(client, "ragline-chunks", dimension=1024)   # doctest: +SKIP
    >>> store.ensure_index()                                                # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ragline.errors import RaglineError, TransientError
from ragline.models import Chunk, SearchHit
from ragline.retry import RetryPolicy
from ragline.words import terms

if TYPE_CHECKING:  # pragma: no cover
    from opensearchpy import OpenSearch

__all__ = ["IndexingError", "OpenSearchStore", "connect", "is_serverless_url"]

VECTOR_FIELD = "vector"
BODY_FIELD = "body"
# Never returned by a search: the vector is large, the body is rebuilt from the chunk.
_RESULT_SOURCE = {"excludes": [VECTOR_FIELD, BODY_FIELD]}
ENGINES = ("faiss", "lucene")
SPACE_TYPES = ("innerproduct", "cosinesimil")
_ROLES_SCRIPT = "ctx._source.roles = params.roles"
_AWS_HOST = re.compile(r"\.amazonaws\.com(?:\.cn)?$")
_AWS_REGION = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.(?:aoss|es)\.amazonaws\.com(?:\.cn)?$")
#: Six attempts of every request (and of the items a bulk request refused with 429 or 5xx), pauses of up
#: to 0.5, 1, 2, 4 and 8 s between them.
DEFAULT_RETRY = RetryPolicy(attempts=6, base_delay=0.5)


class IndexingError(RaglineError):
    """OpenSearch refused to index a chunk for a reason retrying will not fix (a mapping error, a bad value)."""


class OpenSearchStore:
    """:class:`ragline.ports.VectorStore` on an OpenSearch index.

    ``client`` is an ``opensearchpy.OpenSearch`` (see :func:`connect`); ``index`` the index name;
    ``dimension`` the vectors' length. ``serverless=True`` for an Amazon OpenSearch Serverless vector
    collection (see the module's table). ``refresh`` makes every write searchable before it returns on a
    managed domain (ignored on Serverless). ``bulk_batch_size`` bounds the actions per bulk request;
    ``page_size`` the hits per page when listing a document's chunks. ``retry`` is how failed requests and
    bulk items are tried again (:data:`DEFAULT_RETRY`). ``shards`` and ``replicas`` go into the index
    settings on a managed domain only.
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
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise ValueError(f"dimension must be a positive integer, got {dimension!r}")
        if not index or index != index.lower() or index.startswith(("_", "-", "+")):
            raise ValueError(f"not a valid OpenSearch index name: {index!r}")
        if engine not in ENGINES:
            raise ValueError(
                f"engine must be one of {ENGINES} (they filter inside the k-NN search; nmslib cannot), got {engine!r}"
            )
        if space_type not in SPACE_TYPES:
            raise ValueError(f"space_type must be one of {SPACE_TYPES}, got {space_type!r}")
        if serverless and (shards is not None or replicas is not None):
            raise ValueError("OpenSearch Serverless manages shards and replicas itself: leave them unset")
        if bulk_batch_size < 1 or page_size < 1:
            raise ValueError("bulk_batch_size and page_size must be positive")
        self.client = client
        self.index = index
        self.dimension = dimension
        self.serverless = serverless
        self.engine = engine
        self.space_type = space_type
        self.m = m
        self.ef_construction = ef_construction
        self.shards = shards
        self.replicas = replicas
        self.bulk_batch_size = bulk_batch_size
        self.page_size = page_size
        self.retry = retry
        self.refresh = refresh and not serverless

    def __repr__(self) -> str:
        kind = "serverless" if self.serverless else "managed"
        return f"OpenSearchStore(index={self.index!r}, dimension={self.dimension}, {kind})"

    # -- the index --------------------------------------------------------------------------------

    def index_body(self) -> dict[str, Any]:
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
                    BODY_FIELD: {"type": "text", "analyzer": "english"},
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

    def ensure_index(self) -> bool:
        """Create the index unless it exists; True when this call created it. Idempotent and race-safe.

        An existing index must have a ``vector`` field of this store's dimension, else ``ValueError``.
        """
        from opensearchpy.exceptions import NotFoundError, RequestError

        try:
            mapping = self._call(lambda: self.client.indices.get_mapping(index=self.index), "get index mapping")
        except NotFoundError:
            try:
                self._call(lambda: self.client.indices.create(index=self.index, body=self.index_body()), "create index")
            except RequestError as error:
                if error.error == "resource_already_exists_exception":
                    return False
                raise
            return True
        self._check_mapping(mapping)
        return False

    def _check_mapping(self, response: dict[str, Any]) -> None:
        mappings = next(iter(response.values()), {}).get("mappings", {}) if response else {}
        vector = mappings.get("properties", {}).get(VECTOR_FIELD, {})
        if vector.get("type") != "knn_vector":
            raise ValueError(f"index {self.index!r} exists but has no knn_vector field {VECTOR_FIELD!r}")
        if vector.get("dimension") != self.dimension:
            raise ValueError(
                f"index {self.index!r} holds vectors of dimension {vector.get('dimension')}, not {self.dimension}"
            )

    def delete_index(self) -> bool:
        """Delete the whole index; False when it did not exist."""
        from opensearchpy.exceptions import NotFoundError

        try:
            self._call(lambda: self.client.indices.delete(index=self.index), "delete index")
        except NotFoundError:
            return False
        return True

    # -- writes -----------------------------------------------------------------------------------

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Index chunks with their vectors, replacing any stored chunk of the same ``chunk_id``.

        Raises ``ValueError`` (and sends nothing) when the counts differ or a vector has the wrong
        dimension or a non-finite value.
        """
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        normalised = [self._normalise(vector, f"vector {i}") for i, vector in enumerate(vectors)]
        # A chunk id given twice in one call: the last one wins, as it would over two calls.
        latest = {chunk.chunk_id: (chunk, vector) for chunk, vector in zip(chunks, normalised)}
        items = list(latest.values())
        for start in range(0, len(items), self.bulk_batch_size):
            batch = items[start : start + self.bulk_batch_size]
            if self.serverless:
                self._upsert_serverless(batch)
            else:
                self._bulk(
                    [
                        ({"index": {"_id": chunk.chunk_id}}, _document(chunk, vector, copy_id=chunk.chunk_id))
                        for chunk, vector in batch
                    ],
                    "bulk index",
                )

    def _upsert_serverless(self, batch: list[tuple[Chunk, list[float]]]) -> None:
        # Old copies are looked up before the new ones are written, so only they can be deleted.
        ids = [chunk.chunk_id for chunk, _ in batch]
        old = [hit["_id"] for hit in self._scan({"terms": {"chunk_id": ids}}, ["chunk_id"])]
        self._bulk(
            [({"index": {}}, _document(chunk, vector, copy_id=uuid.uuid4().hex)) for chunk, vector in batch],
            "bulk index",
        )
        self._bulk_delete(old)

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
        return self._delete_matching(query)

    def delete_document(self, doc_id: str) -> int:
        """Remove every chunk of a document; returns how many."""
        return self._delete_matching({"bool": {"filter": [{"term": {"doc_id": doc_id}}]}})

    def _delete_matching(self, query: dict[str, Any]) -> int:
        """Delete every chunk matching ``query``; returns how many chunks (not copies) went."""
        if self.serverless:
            hits = list(self._scan(query, ["chunk_id"]))
            deleted = self._bulk_delete([hit["_id"] for hit in hits])
            return len({hit["_source"]["chunk_id"] for hit in hits if hit["_id"] in deleted})
        params = {"refresh": True} if self.refresh else {}
        response = self._call(
            lambda: self.client.delete_by_query(index=self.index, body={"query": query}, **params),
            "delete by query",
        )
        _raise_on_failures(response, "delete by query")
        return int(response.get("deleted", 0))

    def update_roles(self, doc_id: str, roles: Sequence[str]) -> int:
        """Give every chunk of a document these roles (no re-embedding); returns how many chunks."""
        if isinstance(roles, str):
            raise TypeError("roles must be a sequence of role names, not one string")
        unique = list(dict.fromkeys(roles))
        if self.serverless:
            return self._update_roles_serverless(doc_id, unique)
        body = {
            "query": {"term": {"doc_id": doc_id}},
            "script": {"source": _ROLES_SCRIPT, "lang": "painless", "params": {"roles": unique}},
        }
        params = {"refresh": True} if self.refresh else {}
        response = self._call(
            lambda: self.client.update_by_query(index=self.index, body=body, **params), "update by query"
        )
        _raise_on_failures(response, "update by query")
        return int(response.get("updated", 0))

    def _update_roles_serverless(self, doc_id: str, roles: list[str]) -> int:
        # Every stored copy of the document's chunks, listed before anything is written.
        hits = list(self._scan({"term": {"doc_id": doc_id}}, ["chunk_id"]))
        if not hits:
            return 0
        keep: dict[str, str] = {}  # chunk id -> the _id of one copy, whose source is copied
        for hit in hits:
            keep.setdefault(hit["_source"]["chunk_id"], hit["_id"])
        wanted = list(keep.values())
        for start in range(0, len(wanted), self.bulk_batch_size):
            ids = wanted[start : start + self.bulk_batch_size]
            body = {"size": len(ids), "query": {"ids": {"values": ids}}}
            response = self._call(lambda: self.client.search(index=self.index, body=body), "search")
            copies = []
            for hit in response["hits"]["hits"]:
                source = dict(hit["_source"])
                source["roles"] = list(roles)
                source["copy_id"] = uuid.uuid4().hex
                copies.append(({"index": {}}, source))
            if len(copies) != len(ids):
                raise TransientError(f"update roles of {doc_id}: {len(ids) - len(copies)} chunks vanished meanwhile")
            self._bulk(copies, "bulk index")
        self._bulk_delete([hit["_id"] for hit in hits])
        return len(keep)

    def _bulk_delete(self, ids: Sequence[str]) -> set[str]:
        """Delete documents by ``_id``; returns the ids that were deleted (not already gone)."""
        deleted: set[str] = set()
        for start in range(0, len(ids), self.bulk_batch_size):
            results = self._bulk(
                [({"delete": {"_id": _id}}, None) for _id in ids[start : start + self.bulk_batch_size]],
                "bulk delete",
            )
            deleted.update(result["_id"] for result in results if result.get("result") == "deleted")
        return deleted

    def _bulk(self, actions: list[tuple[dict[str, Any], dict[str, Any] | None]], description: str) -> list[dict]:
        """Send bulk actions, retrying the items refused with 429 or 5xx; returns every item's result."""
        if not actions:
            return []
        params = {"refresh": "wait_for"} if self.refresh else {}
        results: list[dict[str, Any]] = []
        pending = actions
        retry = 0
        while True:
            body: list[dict[str, Any]] = []
            for action, source in pending:
                body.append(action)
                if source is not None:
                    body.append(source)
            response = self._call(lambda: self.client.bulk(body=body, index=self.index, **params), description)
            items = response.get("items", [])
            if len(items) != len(pending):
                raise TransientError(f"{description}: {len(pending)} actions sent, {len(items)} results received")
            again: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
            refused: list[str] = []
            for (action, source), item in zip(pending, items):
                ((op, result),) = item.items()
                status = int(result.get("status", 0))
                if 200 <= status < 300 or (op == "delete" and status == 404):
                    results.append(result)
                elif status == 429 or status >= 500:
                    again.append((action, source))
                else:
                    refused.append(_describe_item(op, result, source))
            if refused:
                shown = "; ".join(refused[:5]) + (f"; and {len(refused) - 5} more" if len(refused) > 5 else "")
                raise IndexingError(f"{description} into {self.index!r}: {len(refused)} refused: {shown}")
            if not again:
                return results
            if retry + 1 >= self.retry.attempts:
                statuses = sorted({int(next(iter(i.values())).get("status", 0)) for i in items if _failed(i)})
                raise TransientError(
                    f"{description} into {self.index!r}: {len(again)} items still failing after "
                    f"{retry + 1} attempts (status {', '.join(map(str, statuses))})"
                )
            self.retry.pause(retry)
            retry += 1
            pending = again

    # -- reads ------------------------------------------------------------------------------------

    def count(self, doc_id: str | None = None) -> int:
        """How many chunks the store holds, in all or for one document."""
        body = None if doc_id is None else {"query": {"term": {"doc_id": doc_id}}}
        response = self._call(lambda: self.client.count(index=self.index, body=body), "count")
        return int(response["count"])

    def chunk_ids(self, doc_id: str) -> list[str]:
        """The chunk ids of a document, in position order."""
        ids = (hit["_source"]["chunk_id"] for hit in self._scan({"term": {"doc_id": doc_id}}, ["chunk_id"]))
        return list(dict.fromkeys(ids))

    def knn_search(self, vector: Sequence[float], roles: frozenset[str], k: int) -> list[SearchHit]:
        """The ``k`` chunks visible to ``roles`` nearest to ``vector``; score = cosine similarity."""
        if not roles or k <= 0:
            return []
        query = self._normalise(vector, "query vector")
        # Efficient filtering: the filter sits inside the knn clause, so the graph search only walks
        # visible vectors (or switches to an exact search over them when they are few).
        body = {
            "size": k,
            "_source": _RESULT_SOURCE,
            "query": {
                "knn": {
                    VECTOR_FIELD: {
                        "vector": query,
                        "k": k,
                        "filter": {"bool": {"filter": [_roles_filter(roles)]}},
                    }
                }
            },
        }
        response = self._call(lambda: self.client.search(index=self.index, body=body), "k-NN search")
        return self._hits(response, roles, self._similarity)

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]:
        """The ``k`` chunks visible to ``roles`` that best match ``text`` by BM25 (OpenSearch's score)."""
        if not roles or k <= 0:
            return []
        words = list(dict.fromkeys(terms(text)))
        if not words:
            return []
        body = {
            "size": k,
            "_source": _RESULT_SOURCE,
            "query": {
                "bool": {
                    "must": {"match": {BODY_FIELD: {"query": " ".join(words)}}},
                    "filter": [_roles_filter(roles)],
                }
            },
        }
        response = self._call(lambda: self.client.search(index=self.index, body=body), "BM25 search")
        return self._hits(response, roles, float)

    def _hits(
        self, response: dict[str, Any], roles: frozenset[str], score: Callable[[float], float]
    ) -> list[SearchHit]:
        hits: list[SearchHit] = []
        seen: set[str] = set()
        for hit in response["hits"]["hits"]:
            chunk = _chunk(hit["_source"])
            # Checked again here: a hit that is not visible, or a second copy of a chunk, never leaves.
            if chunk.chunk_id in seen or roles.isdisjoint(chunk.roles):
                continue
            seen.add(chunk.chunk_id)
            hits.append(SearchHit(chunk, score(float(hit["_score"]))))
        return hits

    def _similarity(self, score: float) -> float:
        """OpenSearch's k-NN score back to the similarity of the unit vectors (see the k-NN "spaces" docs)."""
        if self.space_type == "innerproduct":
            # faiss/lucene: score = 1 + ip when ip >= 0, 1 / (1 - ip) when ip < 0.
            return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
        return 2.0 * score - 1.0  # cosinesimil: score = (2 - (1 - cos)) / 2

    def _scan(self, query: dict[str, Any], source: list[str]) -> Iterator[dict[str, Any]]:
        """Every hit of ``query`` in (position, chunk_id, copy_id) order, a page at a time (``search_after``)."""
        sort = [{"position": "asc"}, {"chunk_id": "asc"}, {"copy_id": "asc"}]
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"size": self.page_size, "query": query, "sort": sort, "_source": source}
            if after is not None:
                body["search_after"] = after
            response = self._call(lambda: self.client.search(index=self.index, body=body), "search")
            hits = response["hits"]["hits"]
            yield from hits
            if len(hits) < self.page_size:
                return
            after = hits[-1]["sort"]

    # -- helpers ----------------------------------------------------------------------------------

    def _normalise(self, vector: Sequence[float], what: str) -> list[float]:
        if len(vector) != self.dimension:
            raise ValueError(f"{what} has dimension {len(vector)}, the store's is {self.dimension}")
        values = [float(x) for x in vector]
        if not all(math.isfinite(x) for x in values):
            raise ValueError(f"{what} must be finite (no NaN or infinity)")
        norm = math.sqrt(math.fsum(x * x for x in values))
        return [x / norm for x in values] if norm > 0 else values

    def _call(self, fn: Callable[[], Any], description: str) -> Any:
        return self.retry.call(fn, is_retryable, description=f"OpenSearch {description} on {self.index!r}")


def is_retryable(error: BaseException) -> bool:
    """A dropped connection or timeout, or an HTTP 409 (a by-query conflict), 429 or 5xx from OpenSearch."""
    from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
    from opensearchpy.exceptions import SSLError, TransportError

    if isinstance(error, SSLError):
        return False
    if isinstance(error, OpenSearchConnectionError):
        return True
    if isinstance(error, TransportError):
        status = error.status_code
        return isinstance(status, int) and (status in (409, 429) or status >= 500)
    return False


def _roles_filter(roles: Iterable[str]) -> dict[str, Any]:
    return {"terms": {"roles": sorted(roles)}}


def _document(chunk: Chunk, vector: list[float], *, copy_id: str) -> dict[str, Any]:
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
        BODY_FIELD: chunk.indexed_text(),
        VECTOR_FIELD: vector,
    }


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _chunk(source: dict[str, Any]) -> Chunk:
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


def _failed(item: dict[str, Any]) -> bool:
    ((op, result),) = item.items()
    status = int(result.get("status", 0))
    return not (200 <= status < 300 or (op == "delete" and status == 404))


def _describe_item(op: str, result: dict[str, Any], source: dict[str, Any] | None) -> str:
    """An item's failure, naming the chunk and the error type, never a field's value."""
    error = result.get("error") or {}
    kind = error.get("type", "error") if isinstance(error, dict) else str(error)
    reason = error.get("reason", "") if isinstance(error, dict) else ""
    # OpenSearch quotes the offending value after "Preview of field's value"; that is document content.
    reason = str(reason).split("Preview of field", 1)[0].strip().rstrip(".")[:200]
    name = source.get("chunk_id") if source else result.get("_id")
    return f"{op} {name}: {result.get('status')} {kind}" + (f" ({reason})" if reason else "")


def _raise_on_failures(response: dict[str, Any], description: str) -> None:
    failures = response.get("failures") or []
    if failures:
        kinds = sorted({str((f.get("cause") or {}).get("type", f.get("status", "?"))) for f in failures})
        raise TransientError(f"OpenSearch {description}: {len(failures)} failures ({', '.join(kinds)})")


# -- connecting ---------------------------------------------------------------------------------------


def is_serverless_url(url: str) -> bool:
    """Whether ``url`` is an Amazon OpenSearch Serverless collection endpoint (``*.aoss.amazonaws.com``)."""
    host = urlsplit(url).hostname or ""
    return bool(_AWS_HOST.search(host)) and ".aoss." in f".{host}"


def connect(
    url: str,
    *,
    region: str | None = None,
    service: str | None = None,
    credentials: Any = None,
    timeout: float = 30.0,
    **client_options: Any,
) -> OpenSearch:
    """An ``opensearchpy.OpenSearch`` client for ``url``, authenticated by what the URL says.

    - ``service`` given (``"es"`` for a managed domain, ``"aoss"`` for Serverless), or no credentials in
      the URL and an ``*.amazonaws.com`` host: requests are signed with SigV4 using ``credentials`` or
      else boto3's default chain (the Lambda role). The service and region are read from the host when
      not given (``*.aoss.amazonaws.com`` is ``aoss``, otherwise ``es``).
    - ``https://user:password@host``: HTTP basic auth (the password never reaches the client's host list).
    - otherwise no authentication (a local cluster).

    The connection class is urllib3's, which botocore already depends on; ``client_options`` go to
    ``OpenSearch`` (for example ``verify_certs=False`` for a local cluster's self-signed certificate).
    """
    from opensearchpy import OpenSearch, Urllib3AWSV4SignerAuth, Urllib3HttpConnection

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"an OpenSearch URL looks like https://host[:port], got {_redact(url)!r}")
    host = parts.hostname
    use_ssl = parts.scheme == "https"
    if service is None and parts.username is None and _AWS_HOST.search(host):
        service = "aoss" if is_serverless_url(url) else "es"
    http_auth: Any = None
    if service is not None:
        if service not in ("es", "aoss"):
            raise ValueError(f"service must be 'es' (managed domain) or 'aoss' (Serverless), got {service!r}")
        if not use_ssl:
            raise ValueError("SigV4-signed OpenSearch endpoints need https")
        region = region or _region_of(host)
        if credentials is None or region is None:
            import boto3

            session = boto3.Session()
            region = region or session.region_name
            credentials = credentials or session.get_credentials()
        if not region:
            raise ValueError(f"no AWS region for {host}: pass region= or set AWS_REGION")
        if credentials is None:
            raise ValueError("no AWS credentials found to sign OpenSearch requests")
        http_auth = Urllib3AWSV4SignerAuth(credentials, region, service)
    elif parts.username is not None:
        http_auth = (unquote(parts.username), unquote(parts.password or ""))
    entry: dict[str, Any] = {"host": host, "port": parts.port or (443 if use_ssl else 80)}
    if parts.path.strip("/"):
        entry["url_prefix"] = parts.path.rstrip("/")
    client_options.setdefault("verify_certs", use_ssl)
    return OpenSearch(
        hosts=[entry],
        http_auth=http_auth,
        use_ssl=use_ssl,
        connection_class=Urllib3HttpConnection,
        timeout=timeout,
        **client_options,
    )


def _region_of(host: str) -> str | None:
    match = _AWS_REGION.search(host)
    return match.group(1) if match else None


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
