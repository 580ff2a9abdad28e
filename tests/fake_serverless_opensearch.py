"""A simulated OpenSearch Serverless vector collection, for tests: :class:`FakeServerlessOpenSearch`.

It answers the requests :class:`~ragline.stores.opensearch.OpenSearchStore` sends with ``serverless=True``
as a vector collection does, in the respects that decide consistency (docs/architecture.md, "OpenSearch
Serverless consistency"):

- a write (bulk ``index`` or ``delete``) is applied at once to the documents a get by ``_id`` (``mget``)
  reads, but a search sees it only ``refresh_interval`` seconds later, by the :class:`FakeClock`;
- a bulk ``index`` with a client-chosen ``_id`` is refused (vector collections make the ids), and so is a
  ``refresh`` parameter; ``_delete_by_query`` and ``_update_by_query`` do not exist;
- a search or get that does not name the fields it wants leaves the vector out of ``_source`` unless
  ``vector_in_source`` (as a collection may); ``drops_vectors`` leaves it out even when asked for.

Searches understand what the adapter sends: ``term``, ``terms``, ``ids``, ``rank_feature`` (on ``terms``,
with ``saturation``), ``bool`` (``filter``, ``must``, ``must_not``, ``should`` with ``minimum_should_match``),
``knn`` with a filter (exact inner product, the faiss score), ``sort`` with ``search_after``, ``size``,
``_source`` and ``track_total_hits``; ``_msearch`` runs each search. A fake: no relevance beyond that.
"""

from __future__ import annotations

import uuid
from typing import Any

from opensearchpy.exceptions import NotFoundError, RequestError


class FakeClock:
    """Seconds that pass only when told: ``clock()`` reads, ``clock.sleep(s)`` and ``advance(s)`` move on."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _FakeIndices:
    def get_mapping(self, **_: Any) -> Any:
        raise NotFoundError(404, "index_not_found_exception", {})

    def create(self, **_: Any) -> Any:
        return {"acknowledged": True}


class FakeServerlessOpenSearch:
    """A fake ``opensearchpy.OpenSearch`` on one Serverless vector collection with a refresh delay."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        refresh_interval: float = 60.0,
        vector_in_source: bool = False,
        drops_vectors: bool = False,
    ) -> None:
        self.clock = clock
        self.refresh_interval = refresh_interval
        self.vector_in_source = vector_in_source
        self.drops_vectors = drops_vectors
        self.live: dict[str, dict[str, Any]] = {}  # what a get by _id reads
        self._log: list[tuple[float, str, dict[str, Any] | None]] = []  # (when, _id, source or None: deleted)
        self.requests: list[str] = []
        self.indices = _FakeIndices()

    # -- what a search sees -------------------------------------------------------------------------

    def searchable(self) -> dict[str, dict[str, Any]]:
        """The documents as of the last refresh: every write at least ``refresh_interval`` old."""
        view: dict[str, dict[str, Any]] = {}
        for when, _id, source in self._log:
            if when + self.refresh_interval > self.clock():
                break
            if source is None:
                view.pop(_id, None)
            else:
                view[_id] = source
        return view

    # -- the API ------------------------------------------------------------------------------------

    def bulk(self, *, body: list[dict[str, Any]], index: str, **params: Any) -> dict[str, Any]:
        self.requests.append("bulk")
        if params:
            raise RequestError(400, "illegal_argument_exception", f"unsupported parameters {sorted(params)}")
        items: list[dict[str, Any]] = []
        lines = iter(body)
        for action in lines:
            ((op, meta),) = action.items()
            if op == "index":
                items.append(self._index(meta, next(lines), index))
            elif op == "delete":
                items.append(self._delete(meta["_id"], index))
            else:
                raise RequestError(400, "illegal_argument_exception", f"unexpected bulk action {op}")
        failed = any(not 200 <= next(iter(item.values()))["status"] < 300 for item in items)
        return {"took": 1, "errors": failed, "items": items}

    def _index(self, meta: dict[str, Any], source: dict[str, Any], index: str) -> dict[str, Any]:
        if "_id" in meta:
            error = {"type": "illegal_argument_exception", "reason": "Document ID is not supported"}
            return {"index": {"_index": index, "status": 400, "error": error}}
        _id = uuid.uuid4().hex[:20]
        self.live[_id] = dict(source)
        self._log.append((self.clock(), _id, dict(source)))
        return {"index": {"_index": index, "_id": _id, "_version": 1, "result": "created", "status": 201}}

    def _delete(self, _id: str, index: str) -> dict[str, Any]:
        if self.live.pop(_id, None) is None:
            return {"delete": {"_index": index, "_id": _id, "result": "not_found", "status": 404}}
        self._log.append((self.clock(), _id, None))
        return {"delete": {"_index": index, "_id": _id, "_version": 2, "result": "deleted", "status": 200}}

    def search(self, *, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append("search")
        return self._search(index, body)

    def _search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        query = body.get("query", {"match_all": {}})
        docs = self.searchable()
        if "knn" in query:
            found = self._knn(docs, query["knn"]["vector"])
        else:
            found = [
                (_id, source, _bm25(query, source)) for _id, source in docs.items() if _matches(query, source, _id)
            ]
            found.sort(key=lambda item: -item[2])
        hits = [
            {"_index": index, "_id": _id, "_score": score, "_source": self._source(source, body.get("_source"))}
            for _id, source, score in found
        ]
        if "sort" in body:
            hits = _sorted_after(hits, docs, body["sort"], body.get("search_after"))
        hits = hits[: body.get("size", 10)]
        total = {"value": len(found), "relation": "eq"}
        shards = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
        response = {"took": 1, "timed_out": False, "_shards": shards, "hits": {"total": total, "hits": hits}}
        if "aggs" in body or "aggregations" in body:
            response["aggregations"] = _composite(body.get("aggs") or body["aggregations"], [s for _, s, _ in found])
        return response

    def _knn(self, docs: dict[str, dict[str, Any]], clause: dict[str, Any]) -> list[tuple[str, dict, float]]:
        found = []
        for _id, source in docs.items():
            vector = source.get("vector")
            if vector is None or not _matches(clause.get("filter", {"match_all": {}}), source):
                continue  # a document without a vector is not in the graph
            ip = sum(a * b for a, b in zip(vector, clause["vector"], strict=True))
            found.append((_id, source, 1.0 + ip if ip >= 0 else 1.0 / (1.0 - ip)))
        found.sort(key=lambda item: -item[2])
        return found[: clause["k"]]

    def mget(self, *, body: dict[str, Any], index: str, **params: Any) -> dict[str, Any]:
        self.requests.append("mget")
        wanted = params.get("_source_includes", params.get("_source"))
        docs = []
        for _id in body["ids"]:
            source = self.live.get(_id)
            if source is None:
                docs.append({"_index": index, "_id": _id, "found": False})
            else:
                docs.append({"_index": index, "_id": _id, "found": True, "_source": self._source(source, wanted)})
        return {"docs": docs}

    def msearch(self, *, index: str, body: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append("msearch")
        responses = [{**self._search(index, search), "status": 200} for search in body[1::2]]
        return {"took": 1, "responses": responses}

    def count(self, *, index: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        query = (body or {}).get("query", {"match_all": {}})
        return {"count": sum(1 for source in self.searchable().values() if _matches(query, source))}

    def delete_by_query(self, **_: Any) -> Any:
        raise NotFoundError(404, "not supported on OpenSearch Serverless", {})

    def update_by_query(self, **_: Any) -> Any:
        raise NotFoundError(404, "not supported on OpenSearch Serverless", {})

    def close(self) -> None:
        pass

    def _source(self, source: dict[str, Any], wanted: Any) -> dict[str, Any]:
        """``_source`` as asked for: True (all), a list of fields, ``{"excludes": [...]}``, or the default."""
        if isinstance(wanted, list):
            shown = {key: value for key, value in source.items() if key in wanted}
        elif isinstance(wanted, dict):
            shown = {key: value for key, value in source.items() if key not in wanted.get("excludes", [])}
        elif wanted is True or self.vector_in_source:
            shown = dict(source)
        else:  # not asked for: the collection leaves the vector out
            shown = {key: value for key, value in source.items() if key != "vector"}
        if self.drops_vectors:
            shown.pop("vector", None)
        return shown


def _matches(query: dict[str, Any], source: dict[str, Any], _id: str = "") -> bool:
    ((kind, clause),) = query.items()
    if kind == "match_all":
        return True
    if kind == "ids":
        return _id in clause["values"]
    if kind == "term":
        ((name, value),) = clause.items()
        return value in _values(source, name)
    if kind == "terms":
        ((name, values),) = clause.items()
        return not set(values).isdisjoint(_values(source, name))
    if kind == "rank_feature":
        field, feature = clause["field"].split(".", 1)
        return feature in (source.get(field) or {})
    if kind == "bool":
        must = _as_list(clause.get("filter")) + _as_list(clause.get("must"))
        should = _as_list(clause.get("should"))
        return (
            all(_matches(q, source, _id) for q in must)
            and not any(_matches(q, source, _id) for q in _as_list(clause.get("must_not")))
            and sum(_matches(q, source, _id) for q in should) >= clause.get("minimum_should_match", 0)
        )
    raise RequestError(400, "parsing_exception", f"the fake does not know {kind}")


def _bm25(query: dict[str, Any], source: dict[str, Any]) -> float:
    """The score of the ``rank_feature`` clauses of a ``bool``'s ``should``: ``boost * s / (s + pivot)``
    each, as OpenSearch's saturation function scores them (1 for a query without any)."""
    clauses = [q["rank_feature"] for q in _as_list(query.get("bool", {}).get("should")) if "rank_feature" in q]
    if not clauses:
        return 1.0
    score = 0.0
    for clause in clauses:
        field, feature = clause["field"].split(".", 1)
        value = (source.get(field) or {}).get(feature)
        if value is not None:
            score += clause.get("boost", 1.0) * value / (value + clause["saturation"]["pivot"])
    return score


def _composite(aggregations: dict[str, Any], sources: list[dict[str, Any]]) -> dict[str, Any]:
    """Each ``composite`` aggregation of ``terms`` sources: its buckets in key order, ``size`` of them after
    ``after``, with the ``after_key`` of the last one (as OpenSearch pages them)."""
    answers: dict[str, Any] = {}
    for name, aggregation in aggregations.items():
        composite = aggregation["composite"]
        fields = [next(iter(source.values()))["terms"]["field"] for source in composite["sources"]]
        names = [next(iter(source)) for source in composite["sources"]]
        counts: dict[tuple, int] = {}
        for source in sources:
            key = tuple(source.get(field) for field in fields)
            counts[key] = counts.get(key, 0) + 1
        after = composite.get("after")
        keys = sorted(key for key in counts if after is None or key > tuple(after[n] for n in names))
        page = keys[: composite.get("size", 10)]
        buckets = [{"key": dict(zip(names, key, strict=True)), "doc_count": counts[key]} for key in page]
        answers[name] = {"buckets": buckets, **({"after_key": buckets[-1]["key"]} if buckets else {})}
    return answers


def _values(source: dict[str, Any], name: str) -> list[Any]:
    if name == "_id":
        return []
    value = source.get(name)
    return list(value) if isinstance(value, list) else [value]


def _as_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _sorted_after(
    hits: list[dict[str, Any]], docs: dict[str, dict[str, Any]], sort: list[dict[str, str]], after: list[Any] | None
) -> list[dict[str, Any]]:
    fields = [next(iter(key)) for key in sort]
    for hit in hits:
        hit["sort"] = [docs[hit["_id"]][name] for name in fields]
    hits.sort(key=lambda hit: hit["sort"])
    return [hit for hit in hits if after is None or hit["sort"] > list(after)]
