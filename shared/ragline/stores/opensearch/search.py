"""Searching: the k-NN and BM25 request bodies, the hits they return, and k-NN scores as similarities.

Roles are applied *inside* both searches: the k-NN query carries them as an efficient filter (faiss and
lucene engines; nmslib cannot filter during the search, so :class:`~ragline.stores.opensearch.index.IndexSpec`
refuses it), BM25 as the ``filter`` of a ``bool``, so ``k`` hits come back whenever ``k`` visible chunks exist. Each hit
read back is checked against the roles once more, and a chunk stored twice (possible for a while on
Serverless) comes back once. A hit's position is thus its rank among chunks the caller may see, which is
what an explanation reports (ragline.explain). BM25 is weighed with the caller's own statistics
(:mod:`~ragline.stores.opensearch.lexical`); what still depends on the whole index is which visible vectors an
approximate (HNSW) walk reaches, when the filter leaves too many for OpenSearch's exact search.

    >>> knn_body([0.6, 0.8], frozenset({"hr", "finance"}), 5)["query"]["knn"]["vector"]["filter"]
    {'bool': {'filter': [{'terms': {'roles': ['finance', 'hr']}}]}}
    >>> similarity(1.75, "innerproduct"), similarity(0.5, "innerproduct"), similarity(0.75, "cosinesimil")
    (0.75, -1.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ragline.models import IndexedVersion, SearchHit
from ragline.stores.opensearch.connection import IndexClient
from ragline.stores.opensearch.index import VECTOR_FIELD, chunk_of
from ragline.stores.opensearch.lexical import TERMS_FIELD
from ragline.stores.terms import K1

# Never returned by a search: the vector and the terms are large, and the chunk is all a hit needs.
_RESULT_SOURCE = {"excludes": [VECTOR_FIELD, TERMS_FIELD]}
# Paging order: copy_id makes it total, since a chunk may have two copies.
_SCAN_ORDER = [{"position": "asc"}, {"chunk_id": "asc"}, {"copy_id": "asc"}]


def knn_body(vector: list[float], roles: frozenset[str], k: int) -> dict[str, Any]:
    """The search body of the ``k`` chunks visible to ``roles`` nearest to the unit ``vector``."""
    # Efficient filtering: the filter sits inside the knn clause, so the graph search only walks
    # visible vectors (or switches to an exact search over them when they are few).
    return {
        "size": k,
        "_source": _RESULT_SOURCE,
        "query": {
            "knn": {
                VECTOR_FIELD: {
                    "vector": vector,
                    "k": k,
                    "filter": {"bool": {"filter": [roles_filter(roles)]}},
                }
            }
        },
    }


def bm25_body(weights: dict[str, float], role_filter: dict[str, Any], k: int) -> dict[str, Any]:
    """The search body of the ``k`` chunks ``role_filter`` admits that best match terms of these ``idf``
    weights: BM25 as ``rank_feature`` clauses (:mod:`~ragline.stores.opensearch.lexical`)."""
    clauses = [
        {"rank_feature": {"field": f"{TERMS_FIELD}.{term}", "saturation": {"pivot": K1}, "boost": weight * (K1 + 1)}}
        for term, weight in weights.items()
    ]
    return {
        "size": k,
        "_source": _RESULT_SOURCE,
        "query": {"bool": {"should": clauses, "minimum_should_match": 1, "filter": [role_filter]}},
    }


def hits(response: dict[str, Any], roles: frozenset[str], score: Callable[[float], float]) -> list[SearchHit]:
    """The hits of a search response visible to ``roles``, each chunk once, scored by ``score(_score)``."""
    found: list[SearchHit] = []
    seen: set[str] = set()
    for hit in response["hits"]["hits"]:
        chunk = chunk_of(hit["_source"])
        # Checked again here: a hit that is not visible, or a second copy of a chunk, never leaves.
        if chunk.chunk_id in seen or roles.isdisjoint(chunk.roles):
            continue
        seen.add(chunk.chunk_id)
        found.append(SearchHit(chunk, score(float(hit["_score"]))))
    return found


def similarity(score: float, space_type: str) -> float:
    """OpenSearch's k-NN score back to the similarity of the unit vectors (see the k-NN "spaces" docs)."""
    if space_type == "innerproduct":
        # faiss/lucene: score = 1 + ip when ip >= 0, 1 / (1 - ip) when ip < 0.
        return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
    return 2.0 * score - 1.0  # cosinesimil: score = (2 - (1 - cos)) / 2


def scan(target: IndexClient, query: dict[str, Any], source: list[str], page_size: int) -> Iterator[dict[str, Any]]:
    """Every hit of ``query`` in (position, chunk_id, copy_id) order, a page at a time (``search_after``),
    each with the ``source`` fields only."""
    after: list[Any] | None = None
    while True:
        body: dict[str, Any] = {"size": page_size, "query": query, "sort": _SCAN_ORDER, "_source": source}
        if after is not None:
            body["search_after"] = after
        page = target.search(body)["hits"]["hits"]
        yield from page
        if len(page) < page_size:
            return
        after = page[-1]["sort"]


VERSIONS_AGGREGATION = "versions"


def versions_body(page_size: int, after: dict[str, Any] | None) -> dict[str, Any]:
    """One page of the (document, version, source) triples the index holds, with their chunk counts: a composite
    aggregation, which pages through every pair however many there are (``after`` is the last page's
    ``after_key``)."""
    composite: dict[str, Any] = {
        "size": page_size,
        "sources": [{field: {"terms": {"field": field}}} for field in ("doc_id", "version", "source")],
    }
    if after is not None:
        composite["after"] = after
    return {"size": 0, "track_total_hits": False, "aggs": {VERSIONS_AGGREGATION: {"composite": composite}}}


def versions(target: IndexClient, page_size: int) -> Iterator[IndexedVersion]:
    """Every (document, version) pair of the index with its chunk count, a page at a time."""
    after: dict[str, Any] | None = None
    while True:
        aggregation = target.search(versions_body(page_size, after), "versions")["aggregations"][VERSIONS_AGGREGATION]
        for bucket in aggregation["buckets"]:
            key = bucket["key"]
            yield IndexedVersion(str(key["doc_id"]), str(key["version"]), str(key["source"]), int(bucket["doc_count"]))
        after = aggregation.get("after_key")
        if after is None or not aggregation["buckets"]:
            return


def roles_filter(roles: Iterable[str]) -> dict[str, Any]:
    """The filter of the chunks that have any of ``roles``."""
    return {"terms": {"roles": sorted(roles)}}
