"""The OpenSearch adapter's requests against the OpenSearch REST API specification, one request kind at a
time; the validator (``tests/opensearch_spec``) refusing what the specification refuses; and what the
specification cannot say, stated with the documentation that does.

Every test of ``tests/unit/test_opensearch_store.py`` is also a specification test (its fixture
``requests_follow_the_spec``); the tests here name each kind of request and the operation it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opensearchpy.exceptions import NotFoundError

from ragline.stores.opensearch import OpenSearchStore
from ragline.stores.opensearch.index import IndexSpec
from ragline.stores.opensearch.search import knn_body
from tests.opensearch_spec.serverless import SERVERLESS_OPERATIONS
from tests.opensearch_spec.validate import _AGGREGATIONS_FILE as _AGGREGATIONS
from tests.opensearch_spec.validate import BUNDLE, OpenSearchSpec, Request, SpecViolation
from tests.store_inspection import count_chunks
from tests.unit.test_opensearch_store import (
    DIM,
    EXPECTED_MAPPINGS,
    FINANCE,
    INDEX,
    FakeOpenSearchClient,
    bulk_item,
    bulk_response,
    by_query_response,
    check_against_the_spec,
    hit,
    make_chunk,
    search_response,
    source_of,
)


@pytest.fixture(scope="module")
def spec() -> OpenSearchSpec:
    return OpenSearchSpec.load()


def test_the_vendored_specification_is_the_commit_the_readme_names(spec: OpenSearchSpec) -> None:
    readme = (BUNDLE.parent / "README.md").read_text()
    assert spec.source["repository"] == "opensearch-project/opensearch-api-specification"
    assert re.fullmatch(r"[0-9a-f]{40}", spec.source["commit"]) and f"`{spec.source['commit']}`" in readme
    assert (BUNDLE.parent / "LICENSE.txt").read_text().lstrip().startswith("Apache License")
    core = ["bulk", "count", "delete_by_query", "msearch", "search", "update_by_query"]
    indices = ["indices.create", "indices.delete", "indices.get_mapping", "indices.update_aliases"]
    assert spec.groups() == sorted([*core, *indices])


# -- each kind of request the adapter sends ---------------------------------------------------------------


def _new_index(client: FakeOpenSearchClient) -> None:
    client.respond("indices.get_mapping", NotFoundError(404, "index_not_found_exception", {}))
    client.respond("indices.create", {"acknowledged": True, "shards_acknowledged": True, "index": INDEX})


def _existing_index(client: FakeOpenSearchClient) -> None:
    client.respond("indices.get_mapping", {INDEX: {"mappings": EXPECTED_MAPPINGS}})


def _deleted_index(client: FakeOpenSearchClient) -> None:
    client.respond("indices.delete", {"acknowledged": True})


def _stored_copy(client: FakeOpenSearchClient) -> None:
    """One stored copy of chunk c1 of d1, found by the listing search, then fetched whole."""
    chunk = make_chunk("c1")
    full = {**hit(chunk, _id="C1"), "_source": {**source_of(chunk), "body": "Q3 report", "vector": [1.0, 0.0, 0.0]}}
    client.respond("search", search_response([hit(chunk, _id="C1", sort=[0, "c1", "c1"])]), search_response([full]))


def _by_query(method: str, **counts: int) -> Callable[[FakeOpenSearchClient], None]:
    return lambda client: client.respond(method, by_query_response(**counts))


def _counted(client: FakeOpenSearchClient) -> None:
    client.respond("count", {"count": 1, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}})


def _nothing(client: FakeOpenSearchClient) -> None:
    pass


VECTOR = [1.0, 0.0, 0.0]

#: (what, serverless, the answers queued, what the store does, the operation of each request it sends)
KINDS: list[tuple[str, bool, Callable[[FakeOpenSearchClient], None], Callable[[OpenSearchStore], Any], list[str]]] = [
    ("create index", False, _new_index, lambda s: s.ensure_index(), ["indices.get_mapping", "indices.create"]),
    ("create index", True, _new_index, lambda s: s.ensure_index(), ["indices.get_mapping", "indices.create"]),
    ("check index", False, _existing_index, lambda s: s.ensure_index(), ["indices.get_mapping"]),
    ("delete index", False, _deleted_index, lambda s: s.delete_index(), ["indices.delete"]),
    ("delete index", True, _deleted_index, lambda s: s.delete_index(), ["indices.delete"]),
    ("upsert", False, _nothing, lambda s: s.upsert([make_chunk("c1")], [VECTOR]), ["bulk"]),
    ("upsert", True, _stored_copy, lambda s: s.upsert([make_chunk("c1")], [VECTOR]), ["search", "bulk", "bulk"]),
    ("k-NN search", False, _nothing, lambda s: s.knn_search(VECTOR, FINANCE, 3), ["search"]),
    ("k-NN search", True, _nothing, lambda s: s.knn_search(VECTOR, FINANCE, 3), ["search"]),
    ("BM25 search", False, _nothing, lambda s: s.bm25_search("revenue growth", FINANCE, 3), ["msearch", "search"]),
    ("BM25 search", True, _nothing, lambda s: s.bm25_search("revenue growth", FINANCE, 3), ["msearch", "search"]),
    (
        "delete document",
        False,
        _by_query("delete_by_query", total=1, deleted=1),
        lambda s: s.delete_document("d1"),
        ["delete_by_query"],
    ),
    ("delete document", True, _stored_copy, lambda s: s.delete_document("d1"), ["search", "bulk"]),
    (
        "update roles",
        False,
        _by_query("update_by_query", total=1, updated=1),
        lambda s: s.update_roles("d1", ["hr"]),
        ["update_by_query"],
    ),
    ("update roles", True, _stored_copy, lambda s: s.update_roles("d1", ["hr"]), ["search", "search", "bulk", "bulk"]),
    ("count", False, _counted, lambda s: count_chunks(s, "d1"), ["count"]),
    ("count a version", False, _counted, lambda s: s.count_document("d1", "v1"), ["count"]),
    ("count a version", True, _counted, lambda s: s.count_document("d1", "v1"), ["count"]),
]


@pytest.mark.parametrize(
    ("what", "serverless", "answers", "act", "operations"),
    KINDS,
    ids=[f"{what} ({'serverless' if serverless else 'managed'})" for what, serverless, *_ in KINDS],
)
def test_each_request_kind_is_an_operation_of_the_specification(
    spec: OpenSearchSpec,
    what: str,
    serverless: bool,
    answers: Callable[[FakeOpenSearchClient], None],
    act: Callable[[OpenSearchStore], Any],
    operations: list[str],
) -> None:
    client = FakeOpenSearchClient(serverless=serverless)
    answers(client)
    extra = {} if serverless else {"shards": 2, "replicas": 1}
    act(OpenSearchStore(client, INDEX, DIM, serverless=serverless, **extra))
    assert [spec.check_request(request).group for request, _ in client.exchanges] == operations
    check_against_the_spec(client)  # the answers too, and on Serverless the operations it supports


def test_a_bulk_body_is_checked_line_by_line(spec: OpenSearchSpec) -> None:
    client = FakeOpenSearchClient(serverless=True)
    _stored_copy(client)
    OpenSearchStore(client, INDEX, DIM, serverless=True).upsert([make_chunk("c1")], [VECTOR])
    index, delete = (request for request, _ in client.exchanges if request.path.endswith("/_bulk"))
    assert index.body[0] == {"index": {}} and index.body[1]["vector"] == VECTOR
    assert delete.body == [{"delete": {"_id": "C1"}}]
    location = ("namespaces/_core.yaml", ("components", "requestBodies", "bulk", "content", "application/x-ndjson"))
    assert spec.bulk_problems((location[0], (*location[1], "schema")), index.body) == []


# -- the validator refuses what the specification refuses -------------------------------------------------


def _search(body: Any, params: dict[str, Any] | None = None) -> Request:
    return Request("POST", f"/{INDEX}/_search", params or {}, body)


def _knn(**clause: Any) -> dict[str, Any]:
    return {"size": 3, "query": {"knn": {"vector": {"vector": VECTOR, **clause}}}}


REFUSED = [
    ("an unknown property", _search({"size": 3, "sise": 3}), "'sise' was unexpected"),
    ("a wrong type", _search({"size": "three"}), "'three' is not of type 'integer'"),
    ("an unknown key in the knn clause", _search(_knn(k=3, top_k=3)), "'top_k' was unexpected"),
    ("a k of the wrong type", _search(_knn(k="3")), "is not of type 'integer'"),
    ("an unknown query parameter", _search({"size": 3}, {"refresh": "true"}), "'refresh': not a parameter of search"),
    (
        "a refresh value the bulk API does not take",
        Request("POST", f"/{INDEX}/_bulk", {"refresh": "soon"}, [{"delete": {"_id": "a"}}]),
        "query parameter 'refresh'",
    ),
    (
        "an unknown key in a bulk action line",
        Request("POST", f"/{INDEX}/_bulk", {}, [{"delete": {"id": "a"}}]),
        "line 1 (action)",
    ),
    ("an unknown bulk action", Request("POST", f"/{INDEX}/_bulk", {}, [{"upsert": {"_id": "a"}}]), "line 1 (action)"),
    (
        "an index action with no document",
        Request("POST", f"/{INDEX}/_bulk", {}, [{"index": {"_id": "a"}}]),
        "no document after it",
    ),
    (
        "an unknown key in a mapping",
        Request("PUT", f"/{INDEX}", {}, {"mappings": {"properties": {"roles": {"type": "keyword", "analyser": "x"}}}}),
        "'analyser'",
    ),
    ("a path no operation has", Request("POST", f"/{INDEX}/_refresh_now", {}, None), "no operation"),
]


@pytest.mark.parametrize(("what", "request_", "message"), REFUSED, ids=[what for what, *_ in REFUSED])
def test_the_validator_refuses_a_wrong_request(
    spec: OpenSearchSpec, what: str, request_: Request, message: str
) -> None:
    with pytest.raises(SpecViolation, match=re.escape(message)):
        spec.check_request(request_)


def test_the_validator_refuses_a_response_without_the_fields_opensearch_sends(spec: OpenSearchSpec) -> None:
    request = Request("POST", f"/{INDEX}/_bulk", {}, [{"delete": {"_id": "A"}}])
    spec.check_response(request, 200, bulk_response(bulk_item("delete", "A", 200, result="deleted")))
    # What the fakes answered before they were checked: no took, items without their index.
    with pytest.raises(SpecViolation, match="'_index' is a required property") as raised:
        spec.check_response(request, 200, {"errors": False, "items": [{"delete": {"_id": "A", "status": 200}}]})
    assert "'took' is a required property" in str(raised.value)
    with pytest.raises(SpecViolation, match="'batches' is a required property"):
        spec.check_response(Request("POST", f"/{INDEX}/_delete_by_query", {}, {}), 200, {"deleted": 1, "failures": []})


def test_serverless_refuses_what_its_table_does_not_list() -> None:
    """Operations from AWS's "Supported operations and plugins in Amazon OpenSearch Serverless"
    (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/serverless-genref.html, "Supported
    OpenSearch API operations and permissions"): the by-query writes are not among them, so a Serverless
    store must never send them (writes.py sends bulk deletes and copies instead)."""
    assert set(SERVERLESS_OPERATIONS) == {"indices.create", "indices.get_mapping", "indices.delete"} | {
        "bulk",
        "search",
        "msearch",
        "count",
    }
    assert all(permission.startswith("aoss:") for _, permission in SERVERLESS_OPERATIONS.values())
    client = FakeOpenSearchClient(serverless=True)
    client.respond("delete_by_query", by_query_response(total=1, deleted=1))
    OpenSearchStore(client, INDEX, DIM).delete_document("d1")  # a managed store's request, to a collection
    with pytest.raises(SpecViolation, match=r"delete_by_query.*not supported by Serverless"):
        check_against_the_spec(client)


# -- what the specification cannot say ---------------------------------------------------------------------


def _create(method: dict[str, Any]) -> Request:
    vector = {"type": "knn_vector", "dimension": DIM, "method": method}
    return Request(
        "PUT", f"/{INDEX}", {}, {"settings": {"index": {"knn": True}}, "mappings": {"properties": {"v": vector}}}
    )


def test_engine_and_space_type_names_are_any_string_to_the_specification(spec: OpenSearchSpec) -> None:
    """The specification types ``engine`` and ``space_type`` as plain strings (``KnnVectorMethod``), so it
    accepts names the k-NN plugin refuses and ``nmslib``, which cannot filter inside the search. The names
    come from the k-NN documentation: engines ``faiss``, ``lucene`` and the deprecated ``nmslib``
    (https://docs.opensearch.org/latest/mappings/supported-field-types/knn-methods-engines/), spaces ``l1``,
    ``l2``, ``linf``, ``cosinesimil``, ``innerproduct``, ``hamming``
    (https://docs.opensearch.org/latest/mappings/supported-field-types/knn-spaces/). :class:`IndexSpec` is
    what refuses the others."""
    for engine, space in (("no-such-engine", "innerproduct"), ("nmslib", "innerproduct"), ("faiss", "no-such")):
        spec.check_request(_create({"name": "hnsw", "engine": engine, "space_type": space}))
        with pytest.raises(ValueError, match=r"engine must be|space_type must be"):
            IndexSpec(DIM, engine=engine, space_type=space)


def test_strictness_stops_at_an_allof_so_the_method_is_pinned_by_the_mapping_test(spec: OpenSearchSpec) -> None:
    """The specification's tester adds no strictness inside an ``allOf`` (the module docstring of
    ``validate.py``), and ``KnnVectorProperty`` is one: a misspelt key of the k-NN ``method`` passes. The
    adapter's method is pinned instead by ``EXPECTED_MAPPINGS`` in ``test_opensearch_store.py``."""
    spec.check_request(_create({"name": "hnsw", "engine": "faiss", "space_type": "innerproduct", "paramters": {}}))
    assert IndexSpec(DIM).body()["mappings"] == EXPECTED_MAPPINGS


def test_k_with_min_score_is_allowed_by_the_specification_but_not_by_the_knn_plugin(spec: OpenSearchSpec) -> None:
    """``KnnQuery`` declares ``k``, ``min_score`` and ``max_distance`` side by side, so the specification
    accepts them together; the k-NN plugin takes exactly one ("Only one query variable, either k,
    max_distance, or min_score, is required to be specified during radial search":
    https://docs.opensearch.org/docs/vector-search/specialized-operations/radial-search-knn). The adapter
    sends ``k`` alone."""
    spec.check_request(_search(_knn(k=3, min_score=0.5)))
    spec.check_request(_search(_knn(k=3, max_distance=0.5)))
    clause = knn_body(VECTOR, FINANCE, 3)["query"]["knn"]["vector"]
    assert clause["k"] == 3 and not {"min_score", "max_distance"} & set(clause)


def test_the_knn_query_and_knn_vector_field_are_in_the_specification(spec: OpenSearchSpec) -> None:
    """The k-NN plugin's query and field type are part of the specification (``KnnQuery`` in the query DSL,
    ``KnnVectorProperty`` in the mapping), so they are checked, not taken on trust."""
    query_dsl = spec.files["schemas/_common.query_dsl.yaml"]["components"]["schemas"]
    mapping = spec.files["schemas/_common.mapping.yaml"]["components"]["schemas"]
    assert "KnnQuery" in query_dsl and "KnnVectorProperty" in mapping
    with pytest.raises(SpecViolation, match="'vector' is a required property"):
        spec.check_request(_search({"query": {"knn": {"vector": {"k": 3}}}}))


def test_the_bundle_is_json_the_validator_loads_unchanged() -> None:
    """The strictness is added on load: the vendored files stay as upstream wrote them."""
    raw = json.loads(Path(BUNDLE).read_text())
    assert "unevaluatedProperties" not in json.dumps(raw["files"]["schemas/_core.bulk.yaml"])
    assert "unevaluatedProperties" in json.dumps(OpenSearchSpec.load().files["schemas/_core.bulk.yaml"])


def test_index_settings_are_open_to_the_specification_but_knn_is_typed(spec: OpenSearchSpec) -> None:
    """``IndexSettings`` takes any setting (``additionalProperties``: custom settings), so a misspelt one
    passes; ``knn``, which the k-NN plugin needs to build the graphs, is declared, as a boolean or any string
    (``StringifiedBoolean``: even ``"yes"`` passes), so only its type is checked."""
    spec.check_request(Request("PUT", f"/{INDEX}", {}, {"settings": {"index": {"knnn": True}}}))
    spec.check_request(Request("PUT", f"/{INDEX}", {}, {"settings": {"index": {"knn": "yes"}}}))
    with pytest.raises(SpecViolation, match=r"\['knn'\]"):
        spec.check_request(Request("PUT", f"/{INDEX}", {}, {"settings": {"index": {"knn": 1}}}))
    assert IndexSpec(DIM).body()["settings"] == {"index": {"knn": True}}


def test_a_composite_aggregation_response_is_beyond_the_specification_so_it_is_checked_in_parts(
    spec: OpenSearchSpec,
) -> None:
    """A composite bucket as OpenSearch sends it fails the specification's own schema (its ``key`` is claimed
    by ``MultiBucketBase``'s sub-aggregations), which is why the validator checks the aggregate without its
    keys and each key on its own; what is wrong in either part is still refused."""
    bucket = {"key": {"doc_id": "d1", "version": "v1"}, "doc_count": 3}
    aggregate = {"after_key": {"doc_id": "d1", "version": "v1"}, "buckets": [bucket]}
    whole = (_AGGREGATIONS, ("components", "schemas", "CompositeAggregate"))
    assert spec.schema_problems(whole, aggregate, "as sent")  # the limit: no real bucket validates whole

    request = Request("POST", f"/{INDEX}/_search", {}, {"size": 0})
    response = {**search_response([]), "aggregations": {"versions": aggregate}}
    spec.check_response(request, 200, response)
    with pytest.raises(SpecViolation, match="doc_count"):
        spec.check_response(request, 200, {**response, "aggregations": {"versions": {"buckets": [{"key": {}}]}}})
    with pytest.raises(SpecViolation, match="bucket 0 key"):
        bad_key = {"buckets": [{"key": {"doc_id": {"nested": 1}}, "doc_count": 1}]}
        spec.check_response(request, 200, {**response, "aggregations": {"versions": bad_key}})
