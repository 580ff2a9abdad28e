"""OpenSearchStore against a fake client: the exact requests it sends and how it reads the answers.

``FakeOpenSearchClient`` records every call (method and keyword arguments) and answers with canned
responses shaped as OpenSearch documents them (bulk ``errors``/``items``, search ``hits.hits[]``,
``_delete_by_query`` ``deleted``...). Real requests are exercised by the contract suite in
``tests/contract`` when ``OPENSEARCH_URL`` is set.

Every request a fake client records, and every answer it gives, is checked at the end of each test against
the OpenSearch REST API specification (``tests/opensearch_spec``: the fixture ``requests_follow_the_spec``);
a client marked ``serverless`` also checks each request against the operations OpenSearch Serverless
supports (``tests/opensearch_spec/serverless.py``).
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict, deque
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError

from ragline.errors import TransientError
from ragline.models import Chunk
from ragline.retry import RetryPolicy
from ragline.stores.opensearch import IndexingError, OpenSearchStore, connect, is_serverless_url
from ragline.stores.opensearch.lexical import AVERAGE_LENGTH, term_features
from tests.opensearch_spec.serverless import SERVERLESS_OPERATIONS
from tests.opensearch_spec.validate import OpenSearchSpec, Request, SpecViolation
from tests.store_inspection import chunk_ids, count_chunks

INDEX = "chunks"
DIM = 3
FINANCE = frozenset({"finance"})


class FakeIndices:
    def __init__(self, client: FakeOpenSearchClient) -> None:
        self._client = client

    def get_mapping(self, **kwargs: Any) -> Any:
        return self._client._handle("indices.get_mapping", kwargs)

    def create(self, **kwargs: Any) -> Any:
        return self._client._handle("indices.create", kwargs)

    def delete(self, **kwargs: Any) -> Any:
        return self._client._handle("indices.delete", kwargs)

    def update_aliases(self, **kwargs: Any) -> Any:
        return self._client._handle("indices.update_aliases", kwargs)


class FakeOpenSearchClient:
    """A stand-in for ``opensearchpy.OpenSearch``: records calls, replays queued responses.

    ``respond(method, *answers)`` queues answers (a dict, an exception to raise, or a function of the
    call's keyword arguments). With nothing queued, a bulk call succeeds for every action and a search
    finds nothing.
    """

    #: Every client made in the running test, whose requests are checked against the specification.
    made: ClassVar[list[FakeOpenSearchClient]] = []

    def __init__(self, *, serverless: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        #: Each request as HTTP, with the answer it got (None when the answer was an exception).
        self.exchanges: list[tuple[Request, Any]] = []
        self.serverless = serverless
        self._queued: dict[str, deque[Any]] = defaultdict(deque)
        self.indices = FakeIndices(self)
        FakeOpenSearchClient.made.append(self)

    def respond(self, method: str, *answers: Any) -> None:
        self._queued[method].extend(answers)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == method]

    def _handle(self, method: str, kwargs: dict[str, Any]) -> Any:
        self.calls.append((method, kwargs))
        queue = self._queued[method]
        answer = queue.popleft() if queue else _default(method, kwargs)
        request = as_http(method, kwargs)
        if isinstance(answer, BaseException):
            self.exchanges.append((request, None))
            raise answer
        response = answer(kwargs) if callable(answer) else answer
        self.exchanges.append((request, response))
        return response

    def bulk(self, **kwargs: Any) -> Any:
        return self._handle("bulk", kwargs)

    def search(self, **kwargs: Any) -> Any:
        return self._handle("search", kwargs)

    def msearch(self, **kwargs: Any) -> Any:
        return self._handle("msearch", kwargs)

    def count(self, **kwargs: Any) -> Any:
        return self._handle("count", kwargs)

    def delete_by_query(self, **kwargs: Any) -> Any:
        return self._handle("delete_by_query", kwargs)

    def close(self) -> None:
        self.calls.append(("close", {}))

    def update_by_query(self, **kwargs: Any) -> Any:
        return self._handle("update_by_query", kwargs)


#: The HTTP request each client method sends (as ``opensearchpy`` sends it): method and path after the index.
_HTTP = {
    "search": ("POST", "/_search"),
    "msearch": ("POST", "/_msearch"),
    "count": ("POST", "/_count"),
    "bulk": ("POST", "/_bulk"),
    "delete_by_query": ("POST", "/_delete_by_query"),
    "update_by_query": ("POST", "/_update_by_query"),
    "indices.get_mapping": ("GET", "/_mapping"),
    "indices.create": ("PUT", ""),
    "indices.delete": ("DELETE", ""),
    "indices.update_aliases": ("POST", "/_aliases"),  # of the cluster, not of one index
}


def as_http(method: str, kwargs: dict[str, Any]) -> Request:
    """The HTTP request a client call makes: the index goes in the path, ``body`` is the body, the rest
    are query parameters."""
    verb, suffix = _HTTP[method]
    params = {key: value for key, value in kwargs.items() if key not in ("index", "body")}
    path = f"/{kwargs['index']}{suffix}" if "index" in kwargs else suffix
    return Request(verb, path, params, kwargs.get("body"))


def check_against_the_spec(client: FakeOpenSearchClient) -> None:
    """Every request ``client`` received and every answer it gave, checked against the specification (and,
    for a Serverless client, against the operations Serverless supports)."""
    spec = OpenSearchSpec.load()
    for request, response in client.exchanges:
        operation = spec.check_request(request)
        if client.serverless and operation.group not in SERVERLESS_OPERATIONS:
            raise SpecViolation(f"{request.method} {request.path} ({operation.group}): not supported by Serverless")
        if response is not None:
            spec.check_response(request, 200, response)


@pytest.fixture(autouse=True)
def requests_follow_the_spec() -> Iterator[None]:
    """Every fake client made in a test has its requests and answers checked when the test ends."""
    FakeOpenSearchClient.made.clear()
    yield
    made, FakeOpenSearchClient.made[:] = list(FakeOpenSearchClient.made), []
    for client in made:
        check_against_the_spec(client)


def _actions(body: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(op, metadata) of each action line of a bulk body (sources follow index actions)."""
    found, i = [], 0
    while i < len(body):
        ((op, meta),) = body[i].items()
        found.append((op, meta))
        i += 2 if op in ("index", "create", "update") else 1
    return found


def bulk_item(op: str, _id: str, status: int, *, result: str = "", error: dict[str, Any] | None = None) -> dict:
    """One item of a bulk response, with the fields OpenSearch gives it: a refused item has its ``error``,
    any other its ``result``, version, shards and sequence number."""
    item: dict[str, Any] = {"_index": INDEX, "_id": _id, "status": status}
    if error is not None:
        item["error"] = error
    else:
        shards = {"total": 2, "successful": 2, "failed": 0}
        item.update(result=result, _version=1, _shards=shards, _seq_no=0, _primary_term=1)
    return {op: item}


def bulk_response(*items: dict[str, Any]) -> dict[str, Any]:
    """A bulk response of these items; ``errors`` says whether any was refused."""
    refused = any("error" in result for item in items for result in item.values())
    return {"took": 3, "errors": refused, "items": list(items)}


def by_query_response(*, total: int, deleted: int = 0, updated: int = 0, failures: list[dict] | None = None) -> dict:
    """A ``_delete_by_query`` or ``_update_by_query`` response, every counter OpenSearch returns included."""
    return {
        "took": 12,
        "timed_out": False,
        "total": total,
        "updated": updated,
        "created": 0,
        "deleted": deleted,
        "batches": 1,
        "version_conflicts": 0,
        "noops": 0,
        "retries": {"bulk": 0, "search": 0},
        "throttled_millis": 0,
        "requests_per_second": -1.0,
        "throttled_until_millis": 0,
        "failures": failures or [],
    }


def bulk_ok(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A bulk response in which every action succeeded."""
    items = []
    for n, (op, meta) in enumerate(_actions(kwargs["body"])):
        result = {"index": "created", "delete": "deleted"}.get(op, "updated")
        items.append(bulk_item(op, meta.get("_id", f"auto{n}"), 201 if op == "index" else 200, result=result))
    return bulk_response(*items)


def _default(method: str, kwargs: dict[str, Any]) -> Any:
    if method == "bulk":
        return bulk_ok(kwargs)
    if method == "search":
        return search_response([])
    if method == "msearch":  # every count 1: one visible chunk, holding every term
        return msearch_response([1] * (len(kwargs["body"]) // 2))
    raise AssertionError(f"unexpected call {method}({kwargs})")


def search_response(hits: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "took": 2,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": len(hits), "relation": "eq"}, "max_score": None, "hits": hits},
    }


def msearch_response(counts: list[int]) -> dict[str, Any]:
    """An ``_msearch`` response of searches that found these exact numbers of hits (and returned none)."""
    responses = []
    for count in counts:
        found = search_response([])
        found["hits"]["total"]["value"] = count
        responses.append({**found, "status": 200})
    return {"took": 3, "responses": responses}


def make_chunk(
    chunk_id: str = "c1", *, doc_id: str = "d1", roles: tuple[str, ...] = ("finance",), **extra: Any
) -> Chunk:
    fields = {
        "chunk_id": chunk_id,
        "doc_id": doc_id,
        "version": "v1",
        "text": "Revenue grew 4%",
        "source": f"s3://b/{doc_id}.md",
        "title": "Q3 report",
        "roles": roles,
        "position": 0,
        "page": None,
        "heading_path": (),
    }
    fields.update(extra)
    return Chunk(**fields)


def source_of(chunk: Chunk, copy_id: str | None = None) -> dict[str, Any]:
    """A hit's ``_source`` as the store writes it (vector and body excluded, as in search results)."""
    return {
        "chunk_id": chunk.chunk_id,
        "copy_id": copy_id or chunk.chunk_id,
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
    }


def hit(chunk: Chunk, score: float = 1.0, _id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"_index": INDEX, "_id": _id or chunk.chunk_id, "_score": score, "_source": source_of(chunk), **extra}


@pytest.fixture
def client() -> FakeOpenSearchClient:
    return FakeOpenSearchClient()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _recorded(sleeps: list[float], attempts: int = 6) -> RetryPolicy:
    """The store's default retries (6 attempts, 0.5 s base), each pause recorded and the largest allowed."""
    return RetryPolicy(attempts=attempts, base_delay=0.5, sleep=sleeps.append, rand=lambda: 1.0)


@pytest.fixture
def store(client: FakeOpenSearchClient, sleeps: list[float]) -> OpenSearchStore:
    return OpenSearchStore(client, INDEX, DIM, retry=_recorded(sleeps))


@pytest.fixture
def serverless(client: FakeOpenSearchClient, sleeps: list[float]) -> OpenSearchStore:
    client.serverless = True
    return OpenSearchStore(client, INDEX, DIM, serverless=True, retry=_recorded(sleeps), page_size=2)


# -- the index ------------------------------------------------------------------------------------

EXPECTED_MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "vector": {
            "type": "knn_vector",
            "dimension": DIM,
            "method": {
                "name": "hnsw",
                "engine": "faiss",
                "space_type": "innerproduct",
                "parameters": {"m": 16, "ef_construction": 128},
            },
        },
        "terms": {"type": "rank_features"},
        "text": {"type": "text", "index": False},
        "context": {"type": "text", "index": False},
        "title": {"type": "text"},
        "chunk_id": {"type": "keyword"},
        "copy_id": {"type": "keyword"},
        "doc_id": {"type": "keyword"},
        "version": {"type": "keyword"},
        "source": {"type": "keyword"},
        "roles": {"type": "keyword"},
        "heading_path": {"type": "keyword"},
        "page": {"type": "integer"},
        "position": {"type": "integer"},
    },
}


def test_close_closes_the_clients_connections(store: OpenSearchStore, client: FakeOpenSearchClient) -> None:
    store.close()
    assert client.calls_to("close") == [{}]


def test_ensure_index_creates_a_managed_index_with_shard_settings(client: FakeOpenSearchClient) -> None:
    store = OpenSearchStore(client, INDEX, DIM, shards=2, replicas=1)
    client.respond("indices.get_mapping", NotFoundError(404, "index_not_found_exception", {}))
    client.respond("indices.create", {"acknowledged": True, "shards_acknowledged": True, "index": INDEX})
    assert store.ensure_index() is True
    assert client.calls == [
        ("indices.get_mapping", {"index": INDEX}),
        (
            "indices.create",
            {
                "index": INDEX,
                "body": {
                    "settings": {"index": {"knn": True, "number_of_shards": 2, "number_of_replicas": 1}},
                    "mappings": EXPECTED_MAPPINGS,
                },
            },
        ),
    ]


def test_ensure_index_on_serverless_sends_no_shard_settings(client: FakeOpenSearchClient) -> None:
    store = OpenSearchStore(client, INDEX, DIM, serverless=True)
    client.respond("indices.get_mapping", NotFoundError(404, "index_not_found_exception", {}))
    client.respond("indices.create", {"acknowledged": True, "shards_acknowledged": True, "index": INDEX})
    assert store.ensure_index() is True
    (create,) = client.calls_to("indices.create")
    assert create["body"] == {"settings": {"index": {"knn": True}}, "mappings": EXPECTED_MAPPINGS}
    with pytest.raises(ValueError, match="Serverless manages shards"):
        OpenSearchStore(client, INDEX, DIM, serverless=True, shards=1)


def test_ensure_index_treats_a_concurrent_creation_as_success(client: FakeOpenSearchClient) -> None:
    store = OpenSearchStore(client, INDEX, DIM)
    client.respond("indices.get_mapping", NotFoundError(404, "index_not_found_exception", {}))
    client.respond("indices.create", RequestError(400, "resource_already_exists_exception", {}))
    assert store.ensure_index() is False
    client.respond("indices.get_mapping", NotFoundError(404, "index_not_found_exception", {}))
    client.respond("indices.create", RequestError(400, "mapper_parsing_exception", {}))
    with pytest.raises(RequestError):
        store.ensure_index()


def test_ensure_index_accepts_an_existing_index_of_the_same_dimension_only(client: FakeOpenSearchClient) -> None:
    store = OpenSearchStore(client, INDEX, DIM)
    client.respond("indices.get_mapping", {INDEX: {"mappings": EXPECTED_MAPPINGS}})
    assert store.ensure_index() is False
    assert client.calls_to("indices.create") == []
    other = {INDEX: {"mappings": {"properties": {"vector": {"type": "knn_vector", "dimension": 384}}}}}
    client.respond("indices.get_mapping", other)
    with pytest.raises(ValueError, match="dimension 384, not 3"):
        store.ensure_index()


def test_the_engine_must_filter_inside_the_search(client: FakeOpenSearchClient) -> None:
    with pytest.raises(ValueError, match="nmslib"):
        OpenSearchStore(client, INDEX, DIM, engine="nmslib")
    lucene = OpenSearchStore(client, INDEX, DIM, engine="lucene", space_type="cosinesimil", m=32, ef_construction=256)
    assert lucene.index_body()["mappings"]["properties"]["vector"]["method"] == {
        "name": "hnsw",
        "engine": "lucene",
        "space_type": "cosinesimil",
        "parameters": {"m": 32, "ef_construction": 256},
    }


# -- upsert ---------------------------------------------------------------------------------------


def test_upsert_sends_bulk_index_actions_with_the_chunk_id_and_waits_for_refresh(
    store: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    chunk = make_chunk("c1", page=3, heading_path=("Q3 report", "Revenue"), position=4)
    store.upsert([chunk], [[3.0, 4.0, 0.0]])
    assert client.calls == [
        (
            "bulk",
            {
                "index": INDEX,
                "refresh": "wait_for",
                "body": [
                    {"index": {"_id": "c1"}},
                    {
                        "chunk_id": "c1",
                        "copy_id": "c1",
                        "doc_id": "d1",
                        "version": "v1",
                        "source": "s3://b/d1.md",
                        "title": "Q3 report",
                        "text": "Revenue grew 4%",
                        "context": "",
                        "roles": ["finance"],
                        "heading_path": ["Q3 report", "Revenue"],
                        "page": 3,
                        "position": 4,
                        "terms": term_features("Q3 report > Revenue\nRevenue grew 4%"),
                        "vector": [0.6, 0.8, 0.0],  # normalised to unit length
                    },
                ],
            },
        )
    ]


def test_upsert_batches_bulk_requests(client: FakeOpenSearchClient) -> None:
    store = OpenSearchStore(client, INDEX, DIM, bulk_batch_size=200, refresh=False)
    chunks = [make_chunk(f"c{i:03d}", position=i) for i in range(450)]
    store.upsert(chunks, [[1.0, 0.0, 0.0]] * 450)
    bulks = client.calls_to("bulk")
    assert [len(_actions(call["body"])) for call in bulks] == [200, 200, 50]
    assert all("refresh" not in call for call in bulks)
    sent = [meta["_id"] for call in bulks for _, meta in _actions(call["body"])]
    assert sent == [c.chunk_id for c in chunks]


def test_upsert_keeps_the_last_of_a_repeated_chunk_id(store: OpenSearchStore, client: FakeOpenSearchClient) -> None:
    store.upsert([make_chunk("c1", text="old"), make_chunk("c1", text="new")], [[1, 0, 0], [0, 1, 0]])
    (call,) = client.calls_to("bulk")
    assert len(call["body"]) == 2
    assert call["body"][1]["text"] == "new" and call["body"][1]["vector"] == [0.0, 1.0, 0.0]


def test_upsert_validates_before_sending_anything(store: OpenSearchStore, client: FakeOpenSearchClient) -> None:
    with pytest.raises(ValueError, match="2 chunks but 1 vectors"):
        store.upsert([make_chunk("a"), make_chunk("b")], [[1, 0, 0]])
    with pytest.raises(ValueError, match="dimension 2"):
        store.upsert([make_chunk("a")], [[1, 0]])
    with pytest.raises(ValueError, match="finite"):
        store.upsert([make_chunk("a")], [[float("nan"), 0, 0]])
    store.upsert([], [])
    assert client.calls == []


def test_upsert_retries_only_the_items_refused_with_429(
    store: OpenSearchStore, client: FakeOpenSearchClient, sleeps: list[float]
) -> None:
    client.respond(
        "bulk",
        bulk_response(
            bulk_item("index", "a", 201, result="created"),
            bulk_item(
                "index", "b", 429, error={"type": "es_rejected_execution_exception", "reason": "rejected execution"}
            ),
        ),
    )
    store.upsert([make_chunk("a"), make_chunk("b")], [[1, 0, 0], [0, 1, 0]])
    first, second = client.calls_to("bulk")
    assert [meta["_id"] for _, meta in _actions(first["body"])] == ["a", "b"]
    assert [meta["_id"] for _, meta in _actions(second["body"])] == ["b"]
    assert second["body"][1]["chunk_id"] == "b"
    assert sleeps == [0.5]  # base_delay * 2**0, jitter fixed at 1.0


def test_upsert_gives_up_with_a_transient_error(client: FakeOpenSearchClient, sleeps: list[float]) -> None:
    store = OpenSearchStore(client, INDEX, DIM, retry=_recorded(sleeps, attempts=3))
    refused = bulk_item("index", "a", 503, error={"type": "unavailable_shards_exception"})
    client.respond("bulk", *[bulk_response(refused)] * 3)
    with pytest.raises(TransientError, match="still failing after 3 attempts"):
        store.upsert([make_chunk("a")], [[1, 0, 0]])
    assert len(client.calls_to("bulk")) == 3
    assert sleeps == [0.5, 1.0]


def test_a_mapping_error_is_permanent_and_does_not_leak_the_value(
    store: OpenSearchStore, client: FakeOpenSearchClient, sleeps: list[float]
) -> None:
    reason = (
        "failed to parse field [page] of type [integer] in document with id 'a'. Preview of field's value: 'SECRET'"
    )
    client.respond(
        "bulk",
        bulk_response(bulk_item("index", "a", 400, error={"type": "mapper_parsing_exception", "reason": reason})),
    )
    with pytest.raises(IndexingError) as raised:
        store.upsert([make_chunk("a")], [[1, 0, 0]])
    message = str(raised.value)
    assert "index a: 400 mapper_parsing_exception" in message and "field [page]" in message
    assert "SECRET" not in message
    assert len(client.calls_to("bulk")) == 1 and sleeps == []


def test_a_failing_request_is_retried_then_reported_as_transient(
    store: OpenSearchStore, client: FakeOpenSearchClient, sleeps: list[float]
) -> None:
    client.respond(
        "bulk", TransportError(503, "service_unavailable", {}), OpenSearchConnectionError("N/A", "reset", None)
    )
    store.upsert([make_chunk("a")], [[1, 0, 0]])
    assert len(client.calls_to("bulk")) == 3 and len(sleeps) == 2
    client.respond("search", RequestError(400, "parsing_exception", {}))
    with pytest.raises(RequestError):  # a bad request is not retried
        store.bm25_search("revenue", FINANCE, k=5)
    assert len(client.calls_to("search")) == 1


def test_serverless_upsert_never_sends_an_id_and_replaces_the_old_copies(
    serverless: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    old = make_chunk("c1")
    client.respond("search", search_response([hit(old, _id="AUTO-OLD", sort=[0, "c1", "x"])]))
    serverless.upsert([make_chunk("c1", text="new text")], [[0.0, 0.0, 2.0]])
    assert [name for name, _ in client.calls] == ["search", "bulk", "bulk"]
    (search,) = client.calls_to("search")
    assert search == {
        "index": INDEX,
        "body": {
            "size": 2,
            "query": {"terms": {"chunk_id": ["c1"]}},
            "sort": [{"position": "asc"}, {"chunk_id": "asc"}, {"copy_id": "asc"}],
            "_source": ["chunk_id"],
        },
    }
    index, delete = client.calls_to("bulk")
    assert index["body"][0] == {"index": {}}  # no _id: vector collections refuse one
    assert index["body"][1]["text"] == "new text" and index["body"][1]["vector"] == [0.0, 0.0, 1.0]
    assert len(index["body"][1]["copy_id"]) == 32
    assert delete == {"index": INDEX, "body": [{"delete": {"_id": "AUTO-OLD"}}]}
    assert all("refresh" not in call for call in client.calls_to("bulk"))  # AOSS has no refresh


# -- searches -------------------------------------------------------------------------------------


def test_knn_search_puts_the_role_filter_inside_the_knn_query(
    store: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    chunk = make_chunk("c1", roles=("finance", "hr"), page=2, heading_path=("A", "B"))
    client.respond("search", search_response([hit(chunk, score=1.8)]))
    hits = store.knn_search([0.0, 2.0, 0.0], frozenset({"hr", "finance"}), k=5)
    assert client.calls == [
        (
            "search",
            {
                "index": INDEX,
                "body": {
                    "size": 5,
                    "_source": {"excludes": ["vector", "terms"]},
                    "query": {
                        "knn": {
                            "vector": {
                                "vector": [0.0, 1.0, 0.0],
                                "k": 5,
                                "filter": {"bool": {"filter": [{"terms": {"roles": ["finance", "hr"]}}]}},
                            }
                        }
                    },
                },
            },
        )
    ]
    assert [h.chunk for h in hits] == [chunk]  # tuples and page rebuilt
    assert hits[0].score == pytest.approx(0.8)  # innerproduct: score 1 + cos


@pytest.mark.parametrize(
    ("space_type", "score", "similarity"),
    [("innerproduct", 2.0, 1.0), ("innerproduct", 1.0, 0.0), ("innerproduct", 0.5, -1.0), ("cosinesimil", 0.75, 0.5)],
)
def test_knn_scores_come_back_as_cosine_similarity(
    client: FakeOpenSearchClient, space_type: str, score: float, similarity: float
) -> None:
    store = OpenSearchStore(client, INDEX, DIM, space_type=space_type)
    client.respond("search", search_response([hit(make_chunk(), score=score)]))
    (found,) = store.knn_search([1, 0, 0], FINANCE, k=1)
    assert found.score == pytest.approx(similarity)


def test_bm25_search_counts_the_callers_statistics_then_scores_with_them(
    store: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    """Two requests: one _msearch counting, with the role filter, the visible chunks (40) and those holding
    each term ("revenu" 10, "growth" 0); then a search whose rank_feature clauses carry the caller's idf.
    A term no visible chunk holds gets no clause."""
    chunk = make_chunk("c1")
    client.respond("msearch", msearch_response([40, 10, 0]))
    client.respond("search", search_response([hit(chunk, score=7.25)]))
    hits = store.bm25_search("What is the Revenue? revenue growth", FINANCE, k=3)
    finance = {"terms": {"roles": ["finance"]}}
    count = {"size": 0, "track_total_hits": True}
    holding = {"rank_feature": {"field": "terms.revenu"}}
    revenue_idf = math.log(1 + (40 - 10 + 0.5) / (10 + 0.5))
    assert client.calls == [
        (
            "msearch",
            {
                "index": INDEX,
                "body": [
                    {},
                    {**count, "query": {"bool": {"filter": [finance]}}},
                    {},
                    {**count, "query": {"bool": {"filter": [finance, holding]}}},
                    {},
                    {**count, "query": {"bool": {"filter": [finance, {"rank_feature": {"field": "terms.growth"}}]}}},
                ],
            },
        ),
        (
            "search",
            {
                "index": INDEX,
                "body": {
                    "size": 3,
                    "_source": {"excludes": ["vector", "terms"]},
                    "query": {
                        "bool": {
                            "should": [
                                {
                                    "rank_feature": {
                                        "field": "terms.revenu",
                                        "saturation": {"pivot": 1.2},
                                        "boost": pytest.approx(revenue_idf * 2.2),
                                    }
                                }
                            ],
                            "minimum_should_match": 1,
                            "filter": [finance],
                        }
                    },
                },
            },
        ),
    ]
    assert [(h.chunk, h.score) for h in hits] == [(chunk, 7.25)]


def test_bm25_search_sends_no_search_when_no_visible_chunk_holds_a_term(
    store: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    client.respond("msearch", msearch_response([40, 0]))
    assert store.bm25_search("revenue", FINANCE, k=3) == []
    assert [name for name, _ in client.calls] == ["msearch"]


@pytest.mark.parametrize(
    "answer",
    [
        {"took": 1, "responses": [{"error": {"type": "x", "reason": "shard failure"}, "status": 500}] * 2},
        "lower bound",
        "one missing",
    ],
)
def test_bm25_statistics_that_are_not_exact_fail_the_search(
    store: OpenSearchStore, client: FakeOpenSearchClient, answer: Any
) -> None:
    if answer == "lower bound":
        answer = msearch_response([10000, 5])
        answer["responses"][0]["hits"]["total"]["relation"] = "gte"
    elif answer == "one missing":
        answer = msearch_response([40])
    client.respond("msearch", answer)
    with pytest.raises(RuntimeError, match=r"_msearch answered|failed|lower bound"):
        store.bm25_search("revenue", FINANCE, k=3)
    FakeOpenSearchClient.made.remove(client)  # hand-made answers: the shapes under test, not the spec's


def test_term_features_are_bm25s_length_normalised_term_frequencies() -> None:
    text = "Revenue grew; revenue fell sharply in the third quarter"
    features = term_features(text)
    length = 9  # every token counts towards the length, stopwords too
    norm = 1 - 0.75 + 0.75 * length / AVERAGE_LENGTH
    assert features == pytest.approx(
        {
            "revenu": 2 / norm,
            "grew": 1 / norm,
            "fell": 1 / norm,
            "sharpli": 1 / norm,
            "in": 1 / norm,
            "the": 1 / norm,
            "third": 1 / norm,
            "quarter": 1 / norm,
        }
    )
    # The saturation OpenSearch applies, s / (s + k1), times the boost idf * (k1 + 1), is BM25's term score.
    tf, s = 2, features["revenu"]
    assert 2.2 * s / (s + 1.2) == pytest.approx(tf * 2.2 / (tf + 1.2 * norm))


def test_empty_roles_or_no_terms_send_no_request(store: OpenSearchStore, client: FakeOpenSearchClient) -> None:
    assert store.knn_search([1, 0, 0], frozenset(), k=5) == []
    assert store.bm25_search("revenue", frozenset(), k=5) == []
    assert store.bm25_search("the of ?!", FINANCE, k=5) == []
    assert store.knn_search([1, 0, 0], FINANCE, k=0) == []
    assert client.calls == []


def test_searches_drop_invisible_hits_and_repeated_chunks(store: OpenSearchStore, client: FakeOpenSearchClient) -> None:
    visible, hidden = make_chunk("a"), make_chunk("b", roles=("hr",))
    copy = hit(visible, score=1.5, _id="second-copy")
    client.respond("search", search_response([hit(visible, score=1.9), hit(hidden, score=1.8), copy]))
    assert [h.chunk.chunk_id for h in store.knn_search([1, 0, 0], FINANCE, k=3)] == ["a"]


# -- delete, roles, counts ------------------------------------------------------------------------


def test_delete_document_uses_delete_by_query(store: OpenSearchStore, client: FakeOpenSearchClient) -> None:
    client.respond("delete_by_query", by_query_response(total=4, deleted=4))
    assert store.delete_document("d1") == 4
    assert client.calls_to("delete_by_query") == [
        {"index": INDEX, "refresh": True, "body": {"query": {"bool": {"filter": [{"term": {"doc_id": "d1"}}]}}}}
    ]


def test_by_query_failures_and_conflicts_are_transient(
    store: OpenSearchStore, client: FakeOpenSearchClient, sleeps: list[float]
) -> None:
    failure = {"index": INDEX, "id": "x", "status": 503, "cause": {"type": "es_rejected_execution_exception"}}
    client.respond("delete_by_query", by_query_response(total=2, deleted=1, failures=[failure]))
    with pytest.raises(TransientError, match="es_rejected_execution_exception"):
        store.delete_document("d1")
    client.respond(
        "update_by_query",
        TransportError(409, "version_conflict_engine_exception", {}),
        by_query_response(total=3, updated=3),
    )
    assert store.update_roles("d1", ["hr"]) == 3
    assert len(client.calls_to("update_by_query")) == 2 and sleeps == [0.5]


def test_update_roles_uses_update_by_query_with_a_painless_script(
    store: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    client.respond("update_by_query", by_query_response(total=3, updated=3))
    assert store.update_roles("d1", ["hr", "legal", "hr"]) == 3
    assert client.calls_to("update_by_query") == [
        {
            "index": INDEX,
            "refresh": True,
            "body": {
                "query": {"term": {"doc_id": "d1"}},
                "script": {
                    "source": "ctx._source.roles = params.roles",
                    "lang": "painless",
                    "params": {"roles": ["hr", "legal"]},
                },
            },
        }
    ]
    with pytest.raises(TypeError):
        store.update_roles("d1", "hr")


def test_serverless_delete_pages_through_ids_and_bulk_deletes(
    serverless: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    a, b, c = (make_chunk(x, position=i) for i, x in enumerate("abc"))
    client.respond(
        "search",
        search_response([hit(a, _id="A", sort=[0, "a", "1"]), hit(b, _id="B", sort=[1, "b", "2"])]),
        search_response([hit(c, _id="C", sort=[2, "c", "3"])]),
    )
    client.respond(
        "bulk",
        bulk_response(
            bulk_item("delete", "A", 200, result="deleted"),
            bulk_item("delete", "B", 404, result="not_found"),
            bulk_item("delete", "C", 200, result="deleted"),
        ),
    )
    assert serverless.delete_document("d1") == 2  # B was already gone
    first, second = client.calls_to("search")
    query = {"bool": {"filter": [{"term": {"doc_id": "d1"}}]}}
    assert first["body"]["query"] == query and "search_after" not in first["body"]
    assert second["body"]["search_after"] == [1, "b", "2"]
    assert [call["body"] for call in client.calls_to("bulk")] == [
        [{"delete": {"_id": "A"}}, {"delete": {"_id": "B"}}, {"delete": {"_id": "C"}}],
    ]
    assert client.calls_to("delete_by_query") == []


def test_serverless_update_roles_rewrites_one_copy_per_chunk_then_deletes_the_old(
    serverless: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    a, b = make_chunk("a"), make_chunk("b", position=1)
    listed = [hit(a, _id="A1", sort=[0, "a", "1"]), hit(a, _id="A2", sort=[0, "a", "2"])]
    full_a = {
        **hit(a, _id="A1"),
        "_source": {**source_of(a, "1"), "body": "Q3 report\nRevenue grew 4%", "vector": [1.0, 0.0, 0.0]},
    }
    full_b = {
        **hit(b, _id="B1"),
        "_source": {**source_of(b, "3"), "body": "Q3 report\nRevenue grew 4%", "vector": [0.0, 1.0, 0.0]},
    }
    client.respond(
        "search",
        search_response(listed),
        search_response([hit(b, _id="B1", sort=[1, "b", "3"])]),
        search_response([full_a, full_b]),
    )
    assert serverless.update_roles("d1", ["hr"]) == 2
    fetch = client.calls_to("search")[2]
    # The whole _source, vector included, asked for explicitly.
    assert fetch["body"] == {"size": 2, "query": {"ids": {"values": ["A1", "B1"]}}, "_source": True}
    index, delete = (call["body"] for call in client.calls_to("bulk"))
    assert list(index[::2]) == [{"index": {}}, {"index": {}}]
    assert [(doc["chunk_id"], doc["roles"], doc["vector"]) for doc in index[1::2]] == [
        ("a", ["hr"], [1.0, 0.0, 0.0]),
        ("b", ["hr"], [0.0, 1.0, 0.0]),
    ]
    assert index[1]["copy_id"] != "1"
    assert delete == [{"delete": {"_id": "A1"}}, {"delete": {"_id": "A2"}}, {"delete": {"_id": "B1"}}]
    assert client.calls_to("update_by_query") == []


def test_managed_settle_deletes_other_versions_by_query_and_sets_the_roles_in_place(
    store: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    client.respond("delete_by_query", by_query_response(total=1, deleted=1))
    client.respond("update_by_query", by_query_response(total=2, updated=2))
    assert store.refresh_lag_seconds == 0.0
    assert store.settle_document("d1", "v2", ["hr"]) == 0  # no new copy: roles change in place
    (deleted,) = client.calls_to("delete_by_query")
    assert deleted["body"] == {
        "query": {"bool": {"filter": [{"term": {"doc_id": "d1"}}], "must_not": [{"term": {"version": "v2"}}]}}
    }
    (updated,) = client.calls_to("update_by_query")
    assert updated["body"]["query"] == {"term": {"doc_id": "d1"}}
    assert updated["body"]["script"]["params"] == {"roles": ["hr"]}


def test_serverless_settle_keeps_one_copy_per_chunk_of_the_version_with_the_roles(
    serverless: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    a, b = make_chunk("a", roles=("hr",)), make_chunk("b", position=1)  # b's copies have the old roles
    old = make_chunk("old", position=2, version="v0")
    full_b = {
        **hit(b, _id="B1"),
        "_source": {**source_of(b, "B1"), "body": "Q3 report\nRevenue grew 4%", "vector": [0.0, 1.0, 0.0]},
    }
    client.respond(
        "search",
        search_response(
            [
                hit(a, _id="A1", sort=[0, "a", "1"]),
                hit(a, _id="A2", sort=[0, "a", "2"]),  # a second copy (a retried bulk request)
            ]
        ),
        search_response([hit(b, _id="B1", sort=[1, "b", "3"]), hit(old, _id="O1", sort=[2, "old", "4"])]),
        search_response([]),  # the listing's last page (two hits a page here)
        search_response([full_b]),
    )
    assert serverless.refresh_lag_seconds == 60.0
    assert serverless.settle_document("d1", "v1", ["hr"]) == 1  # b, copied with hr
    listing = client.calls_to("search")[0]["body"]
    assert listing["query"] == {"term": {"doc_id": "d1"}}
    assert listing["_source"] == ["chunk_id", "version", "roles"]
    fetch = client.calls_to("search")[3]["body"]
    assert fetch == {"size": 1, "query": {"ids": {"values": ["B1"]}}, "_source": True}
    index, delete = (call["body"] for call in client.calls_to("bulk"))
    assert [(doc["chunk_id"], doc["roles"]) for doc in index[1::2]] == [("b", ["hr"])]
    assert delete == [{"delete": {"_id": "A2"}}, {"delete": {"_id": "B1"}}, {"delete": {"_id": "O1"}}]


def test_count_with_and_without_a_document(store: OpenSearchStore, client: FakeOpenSearchClient) -> None:
    shards = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    client.respond("count", {"count": 7, "_shards": shards}, {"count": 2, "_shards": shards})
    assert count_chunks(store) == 7
    assert count_chunks(store, "d1") == 2
    assert client.calls_to("count") == [
        {"index": INDEX, "body": None},
        {"index": INDEX, "body": {"query": {"term": {"doc_id": "d1"}}}},
    ]


def test_chunk_ids_in_position_order_without_repeats(serverless: OpenSearchStore, client: FakeOpenSearchClient) -> None:
    a, b = make_chunk("a"), make_chunk("b", position=1)
    client.respond(
        "search",
        search_response([hit(a, _id="1", sort=[0, "a", "1"]), hit(a, _id="2", sort=[0, "a", "2"])]),
        search_response([hit(b, _id="3", sort=[1, "b", "3"])]),
    )
    assert chunk_ids(serverless, "d1") == ["a", "b"]


# -- connecting -----------------------------------------------------------------------------------


def test_connect_signs_aws_endpoints_with_sigv4() -> None:
    from botocore.credentials import Credentials
    from opensearchpy import Urllib3AWSV4SignerAuth

    creds = Credentials("AKIDEXAMPLE", "secret")
    aoss = connect("https://abc123.eu-west-1.aoss.amazonaws.com", credentials=creds)
    connection = aoss.transport.get_connection()
    assert isinstance(connection.http_auth, Urllib3AWSV4SignerAuth)
    assert connection.http_auth.service == "aoss" and connection.http_auth.signer.region == "eu-west-1"
    assert connection.host == "https://abc123.eu-west-1.aoss.amazonaws.com:443"
    domain = connect("https://search-docs-xyz.us-east-2.es.amazonaws.com", credentials=creds)
    assert domain.transport.get_connection().http_auth.service == "es"
    assert is_serverless_url("https://abc123.eu-west-1.aoss.amazonaws.com")
    assert not is_serverless_url("https://search-docs-xyz.us-east-2.es.amazonaws.com")


def test_connect_uses_basic_auth_from_the_url_or_none() -> None:
    basic = connect("https://admin:p%40ss@localhost:9200", verify_certs=False, ssl_show_warn=False)
    connection = basic.transport.get_connection()
    assert connection.host == "https://localhost:9200"  # no password in the host
    assert connection.headers["authorization"].startswith("Basic ")
    plain = connect("http://localhost:9200").transport.get_connection()
    assert plain.host == "http://localhost:9200" and "authorization" not in plain.headers
    with pytest.raises(ValueError, match="https"):
        connect("http://abc.us-east-1.aoss.amazonaws.com", credentials=object())


def test_importing_the_module_does_not_import_opensearchpy() -> None:
    import subprocess

    code = "import sys, ragline.stores.opensearch; print('opensearchpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# -- through the real client: paths, query strings, NDJSON ---------------------------------------


def test_requests_go_out_as_opensearch_expects_them() -> None:
    """The real ``opensearchpy`` client over a recording connection: the HTTP the store really sends."""
    import json

    from opensearchpy import OpenSearch
    from opensearchpy.connection import Connection

    sent: list[tuple[str, str, dict[str, Any], str]] = []
    answers = {
        "/chunks/_bulk": bulk_response(bulk_item("index", "c1", 201, result="created")),
        "/chunks/_delete_by_query": by_query_response(total=1, deleted=1),
        "/chunks/_update_by_query": by_query_response(total=1, updated=1),
        "/chunks/_search": search_response([]),
        "/chunks/_count": {"count": 1, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}},
        "/chunks/_mapping": {INDEX: {"mappings": EXPECTED_MAPPINGS}},
    }

    class RecordingConnection(Connection):
        def perform_request(self, method, url, params=None, body=None, timeout=None, ignore=(), headers=None):  # type: ignore[no-untyped-def]
            text = body.decode() if isinstance(body, bytes) else (body or "")
            query = {
                key: value.decode() if isinstance(value, bytes) else value for key, value in (params or {}).items()
            }
            sent.append((method, url, query, text))
            return 200, {"content-type": "application/json"}, json.dumps(answers[url])

    client = OpenSearch(hosts=[{"host": "localhost", "port": 9200}], connection_class=RecordingConnection)
    store = OpenSearchStore(client, INDEX, DIM)
    store.ensure_index()
    store.upsert([make_chunk("c1")], [[1.0, 0.0, 0.0]])
    store.delete_document("d1")
    store.update_roles("d1", ["hr"])
    store.knn_search([1, 0, 0], FINANCE, k=2)
    count_chunks(store, "d1")

    assert [(method, url, params) for method, url, params, _ in sent] == [
        ("GET", "/chunks/_mapping", {}),
        ("POST", "/chunks/_bulk", {"refresh": "wait_for"}),
        ("POST", "/chunks/_delete_by_query", {"refresh": "true"}),
        ("POST", "/chunks/_update_by_query", {"refresh": "true"}),
        ("POST", "/chunks/_search", {}),
        ("POST", "/chunks/_count", {}),
    ]
    ndjson = sent[1][3]
    assert ndjson.endswith("\n")
    lines = [json.loads(line) for line in ndjson.splitlines()]
    assert lines[0] == {"index": {"_id": "c1"}} and lines[1]["chunk_id"] == "c1"
    assert json.loads(sent[4][3])["query"]["knn"]["vector"]["filter"] == {
        "bool": {"filter": [{"terms": {"roles": ["finance"]}}]}
    }
    # The bytes themselves, and the answers fed back, as the specification has them.
    spec = OpenSearchSpec.load()
    for method, url, params, text in sent:
        body = (
            [json.loads(line) for line in text.splitlines()] if url.endswith("/_bulk") else json.loads(text or "null")
        )
        request = Request(method, url, params, body)
        spec.check_request(request)
        spec.check_response(request, 200, answers[url])


def test_replace_document_writes_the_new_chunks_then_deletes_the_others(
    store: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    client.respond("delete_by_query", by_query_response(total=2, deleted=2))
    new = [make_chunk("d1-b", version="v2"), make_chunk("d1-a", version="v2", position=1)]
    assert store.replace_document("d1", new, [[1, 0, 0], [0, 1, 0]]) == 2
    assert [name for name, _ in client.calls] == ["bulk", "delete_by_query"]
    (call,) = client.calls_to("delete_by_query")
    assert call["body"] == {
        "query": {
            "bool": {"filter": [{"term": {"doc_id": "d1"}}], "must_not": [{"terms": {"chunk_id": ["d1-a", "d1-b"]}}]}
        }
    }
    with pytest.raises(ValueError, match="belong to d1"):
        store.replace_document("d1", [make_chunk("x", doc_id="d2")], [[1, 0, 0]])
    assert len(client.calls) == 2  # nothing sent for the refused call


def test_replace_document_with_no_chunks_empties_the_document(
    serverless: OpenSearchStore, client: FakeOpenSearchClient
) -> None:
    old = make_chunk("d1-a")
    client.respond("search", search_response([hit(old, _id="A", sort=[0, "d1-a", "1"])]))
    assert serverless.replace_document("d1", [], []) == 1
    (search,) = client.calls_to("search")
    assert search["body"]["query"] == {"bool": {"filter": [{"term": {"doc_id": "d1"}}]}}
    assert [call["body"] for call in client.calls_to("bulk")] == [[{"delete": {"_id": "A"}}]]


def versions_page(pairs: list[tuple[str, str, int]], after_key: dict[str, str] | None) -> dict[str, Any]:
    """A search response carrying one page of the composite aggregation of (doc_id, version)."""
    buckets = [
        {"key": {"doc_id": doc, "version": version, "source": f"s3://docs/{doc}.md"}, "doc_count": count}
        for doc, version, count in pairs
    ]
    aggregation: dict[str, Any] = {"buckets": buckets}
    if after_key is not None:
        aggregation["after_key"] = after_key
    response = search_response([])
    response["aggregations"] = {"versions": aggregation}
    return response


def test_indexed_versions_page_through_a_composite_aggregation(client: FakeOpenSearchClient) -> None:
    """One search per page of (doc_id, version) pairs, each page after the last one's ``after_key``, until a
    page comes back empty."""
    store = OpenSearchStore(client, INDEX, DIM, page_size=2)
    client.respond("search", versions_page([("d1", "v1", 3), ("d1", "v2", 1)], {"doc_id": "d1", "version": "v2"}))
    client.respond("search", versions_page([("d2", "w", 5)], {"doc_id": "d2", "version": "w"}))
    client.respond("search", versions_page([], None))

    held = [(held.doc_id, held.version, held.source, held.chunks) for held in store.indexed_versions()]

    assert held == [
        ("d1", "v1", "s3://docs/d1.md", 3),
        ("d1", "v2", "s3://docs/d1.md", 1),
        ("d2", "w", "s3://docs/d2.md", 5),
    ]
    sources = [{field: {"terms": {"field": field}}} for field in ("doc_id", "version", "source")]
    bodies = [call["body"] for call in client.calls_to("search")]
    assert bodies[0] == {
        "size": 0,
        "track_total_hits": False,
        "aggs": {"versions": {"composite": {"size": 2, "sources": sources}}},
    }
    assert bodies[1]["aggs"]["versions"]["composite"]["after"] == {"doc_id": "d1", "version": "v2"}
    assert bodies[2]["aggs"]["versions"]["composite"]["after"] == {"doc_id": "d2", "version": "w"}
