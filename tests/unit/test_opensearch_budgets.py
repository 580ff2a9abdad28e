"""The OpenSearch adapter's time budgets, bulk request sizes and index checks, on fakes.

The budgets are checked on a fake clock (:class:`FakeClock`): every pause and every timed-out attempt
advances it, so no test waits and none asserts on wall time. Requests are recorded by the unit suite's
``FakeOpenSearchClient``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from opensearchpy import Urllib3HttpConnection
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from ragline.errors import ConfigurationError, TransientError
from ragline.factory import build_store
from ragline.retry import RetryPolicy
from ragline.settings import Settings
from ragline.stores.opensearch import IndexingError, OpenSearchStore, connect
from ragline.stores.opensearch.bulk import MAX_BULK_BYTES, Action, bulk
from ragline.stores.opensearch.connection import INGEST_BUDGET, QUERY_BUDGET, Budget, IndexClient
from tests.unit.test_opensearch_store import EXPECTED_MAPPINGS, INDEX, FakeOpenSearchClient, make_chunk

FINANCE = frozenset({"finance"})


class FakeClock:
    """A monotonic clock that moves only when told: by a pause (``sleep``) or by an attempt (``spend``)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def spend(self, seconds: float) -> None:
        self.now += seconds


def _on_clock(budget: Budget, clock: FakeClock) -> RetryPolicy:
    """The budget's policy on the fake clock, each pause the longest its backoff allows."""
    return dataclasses.replace(budget.retry, clock=clock, sleep=clock.sleep, rand=lambda: 1.0)


def _timing_out(client: FakeOpenSearchClient, clock: FakeClock, seconds: float) -> None:
    """Every search times out after ``seconds``, as the client's timeout would end it."""

    def time_out(kwargs: dict[str, Any]) -> Any:
        clock.spend(seconds)
        raise ConnectionTimeout("TIMEOUT", "read timed out", None)

    client.respond("search", *([time_out] * 20))


# -- the transport -----------------------------------------------------------------------------------


def test_connect_turns_the_transports_own_retries_off_and_sets_the_timeout() -> None:
    client = connect("http://localhost:9200", timeout=QUERY_BUDGET.timeout)
    assert client.transport.max_retries == 0
    assert client.transport.retry_on_timeout is False
    assert client.transport.get_connection().timeout == QUERY_BUDGET.timeout


def test_a_timeout_is_one_attempt_of_the_policy_and_none_of_the_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []

    def timed_out(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(url)
        raise ConnectionTimeout("TIMEOUT", "read timed out", None)

    monkeypatch.setattr(Urllib3HttpConnection, "perform_request", timed_out)
    clock = FakeClock()
    policy = _on_clock(QUERY_BUDGET, clock)
    store = OpenSearchStore(connect("http://localhost:9200", timeout=QUERY_BUDGET.timeout), INDEX, 3, retry=policy)
    with pytest.raises(TransientError, match="ConnectionTimeout"):
        store.bm25_search("revenue", FINANCE, 5)
    # The attempts of the policy (BM25's first request is its counts), each one request: the transport
    # sent nothing more.
    assert sent == [f"/{INDEX}/_msearch"] * (len(clock.pauses) + 1)
    assert 1 < len(sent) <= policy.attempts
    assert len(clock.pauses) == policy.attempts - 1


# -- the budgets ---------------------------------------------------------------------------------------


def test_the_query_budget_gives_two_searches_an_end_well_inside_api_gateways_29_seconds() -> None:
    retry = QUERY_BUDGET.retry
    assert retry.budget is not None and retry.attempt_seconds == QUERY_BUDGET.timeout
    # k-NN, then BM25's counts and search, one after the other, each at most its budget, with room left.
    assert 3 * retry.budget <= 20


def test_searches_that_time_out_stop_inside_the_query_budget() -> None:
    client, clock = FakeOpenSearchClient(), FakeClock()
    store = OpenSearchStore(client, INDEX, 3, retry=_on_clock(QUERY_BUDGET, clock))
    _timing_out(client, clock, QUERY_BUDGET.timeout)
    with pytest.raises(TransientError, match="still failing after 2 attempts"):
        store.bm25_search("revenue", FINANCE, 5)
    assert QUERY_BUDGET.retry.budget is not None and clock.now <= QUERY_BUDGET.retry.budget
    # 3 s, a pause of 0.2 s, 3 s: a third attempt would need 0.4 s more and 3 s, past the 6.5 s.
    assert clock.pauses == [0.2] and clock.now == pytest.approx(6.2)


def test_a_retry_is_made_only_when_its_pause_and_one_more_attempt_fit_the_budget() -> None:
    clock = FakeClock()
    policy = RetryPolicy(
        attempts=10,
        base_delay=1.0,
        max_delay=4.0,
        budget=12.0,
        attempt_seconds=3.0,
        clock=clock,
        sleep=clock.sleep,
        rand=lambda: 1.0,
    )
    calls = 0

    def slow() -> None:
        nonlocal calls
        calls += 1
        clock.spend(3.0)
        raise ConnectionTimeout("TIMEOUT", "read timed out", None)

    with pytest.raises(TransientError):
        policy.call(slow, lambda error: True, description="search")
    # 3 s, pause 1, 3 s, pause 2, 3 s = 12 s; one more would need a 4 s pause and 3 s: past 12.
    assert (calls, clock.now) == (3, 12.0)


def test_ingest_requests_stop_inside_the_ingest_budget() -> None:
    client, clock = FakeOpenSearchClient(), FakeClock()
    store = OpenSearchStore(client, INDEX, 3, retry=_on_clock(INGEST_BUDGET, clock))
    _timing_out(client, clock, INGEST_BUDGET.timeout)
    with pytest.raises(TransientError):
        store.knn_search([1.0, 0.0, 0.0], FINANCE, 5)
    assert INGEST_BUDGET.retry.budget is not None and clock.now <= INGEST_BUDGET.retry.budget
    assert len(client.calls_to("search")) < INGEST_BUDGET.retry.attempts


def test_refused_bulk_items_are_retried_inside_the_budget_too() -> None:
    client, clock = FakeOpenSearchClient(), FakeClock()
    policy = RetryPolicy(
        attempts=10, base_delay=1.0, max_delay=4.0, budget=5.0, clock=clock, sleep=clock.sleep, rand=lambda: 1.0
    )
    throttled = {"took": 1, "errors": True, "items": [{"index": {"_id": "c1", "status": 429, "error": {}}}]}
    client.respond("bulk", *([throttled] * 10))
    with pytest.raises(TransientError, match="1 items still failing after 3 attempts"):
        OpenSearchStore(client, INDEX, 3, retry=policy).upsert([make_chunk("c1")], [[1.0, 0.0, 0.0]])
    assert clock.pauses == [1.0, 2.0] and clock.now <= 5.0


def test_the_factory_gives_the_query_and_ingest_functions_their_budgets() -> None:
    settings = Settings(store="opensearch", opensearch_url="http://localhost:9200")
    query = build_store(settings, 3)
    ingest = build_store(dataclasses.replace(settings, opensearch_engine="lucene", opensearch_replicas=0), 3)
    assert isinstance(query, OpenSearchStore) and isinstance(ingest, OpenSearchStore)
    assert query.retry == QUERY_BUDGET.retry
    assert query.client.transport.get_connection().timeout == QUERY_BUDGET.timeout
    assert ingest.spec.engine == "lucene" and ingest.spec.replicas == 0


def test_every_managed_bulk_index_carries_its_chunk_id_so_a_retry_replaces_rather_than_duplicates() -> None:
    client = FakeOpenSearchClient()
    client.respond("bulk", TransportError(503, "unavailable", {}))
    OpenSearchStore(client, INDEX, 3, retry=RetryPolicy(sleep=lambda seconds: None)).upsert(
        [make_chunk("c1"), make_chunk("c2")], [[1.0, 0, 0], [0, 1.0, 0]]
    )
    first, second = client.calls_to("bulk")
    assert first["body"] == second["body"]
    assert [line for line in first["body"] if "index" in line] == [
        {"index": {"_id": "c1"}},
        {"index": {"_id": "c2"}},
    ]


# -- bulk request sizes --------------------------------------------------------------------------------


def _body_bytes(body: list[dict[str, Any]]) -> int:
    return sum(len(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()) + 1 for line in body)


def _index_actions(count: int, text_bytes: int) -> list[Action]:
    return [({"index": {"_id": f"c{n}"}}, {"chunk_id": f"c{n}", "text": "x" * text_bytes}) for n in range(count)]


def test_bulk_requests_stay_under_the_byte_limit() -> None:
    client = FakeOpenSearchClient()
    target = IndexClient(client, INDEX, RetryPolicy(attempts=1))  # type: ignore[arg-type]
    actions = _index_actions(10, 300)
    results = bulk(target, actions, "bulk index", refresh=False, max_bytes=1000)
    requests = client.calls_to("bulk")
    assert [_body_bytes(request["body"]) <= 1000 for request in requests] == [True] * len(requests)
    assert len(requests) == 5  # two actions of ~340 bytes each fit, three do not
    sent = [line["index"]["_id"] for request in requests for line in request["body"] if "index" in line]
    assert sent == [f"c{n}" for n in range(10)]
    assert [result["_id"] for result in results] == sent


def test_upsert_splits_a_batch_larger_than_the_default_limit() -> None:
    client = FakeOpenSearchClient()
    store = OpenSearchStore(client, INDEX, 3, refresh=False)
    big = "word " * 200_000  # ~1 MB of text (and as much again in the indexed body) per chunk
    chunks = [make_chunk(f"c{n}", text=big) for n in range(12)]
    store.upsert(chunks, [[1.0, 0.0, 0.0]] * len(chunks))
    requests = client.calls_to("bulk")
    assert len(requests) > 1
    assert all(_body_bytes(request["body"]) <= MAX_BULK_BYTES for request in requests)
    assert sum(len(request["body"]) for request in requests) == 2 * len(chunks)


def test_a_413_splits_the_request_in_half_and_sends_each_half() -> None:
    client = FakeOpenSearchClient()
    client.respond("bulk", TransportError(413, "Payload Too Large", {}), TransportError(413, "Payload Too Large", {}))
    target = IndexClient(client, INDEX, RetryPolicy(attempts=1))  # type: ignore[arg-type]
    results = bulk(target, _index_actions(4, 10), "bulk index", refresh=False)
    sent = [
        [line["index"]["_id"] for line in request["body"] if "index" in line] for request in client.calls_to("bulk")
    ]
    assert sent == [["c0", "c1", "c2", "c3"], ["c0", "c1"], ["c0"], ["c1"], ["c2", "c3"]]
    assert [result["_id"] for result in results] == ["c0", "c1", "c2", "c3"]


def test_a_single_document_too_large_for_the_cluster_fails_clearly() -> None:
    client = FakeOpenSearchClient()
    client.respond("bulk", *([TransportError(413, "Payload Too Large", {})] * 3))
    target = IndexClient(client, INDEX, RetryPolicy(attempts=1))  # type: ignore[arg-type]
    with pytest.raises(IndexingError, match=r"index c0 alone is larger than the cluster accepts \(413, \d+ bytes\)"):
        bulk(target, _index_actions(2, 10), "bulk index", refresh=False)


# -- the index and the engine ----------------------------------------------------------------------------


def _mapping_with(**method: Any) -> dict[str, Any]:
    vector = dict(EXPECTED_MAPPINGS["properties"]["vector"])
    vector["method"] = {**vector["method"], **method}
    return {
        INDEX: {"mappings": {**EXPECTED_MAPPINGS, "properties": {**EXPECTED_MAPPINGS["properties"], "vector": vector}}}
    }


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ({"engine": "lucene"}, "engine 'lucene' (this store needs 'faiss')"),
        ({"space_type": "l2"}, "space type 'l2' (this store needs 'innerproduct')"),
        ({"name": "ivf"}, "method 'ivf' (this store needs 'hnsw')"),
    ],
)
def test_an_existing_index_of_another_engine_space_or_method_is_refused(method: dict[str, Any], message: str) -> None:
    client = FakeOpenSearchClient()
    client.respond("indices.get_mapping", _mapping_with(**method))
    with pytest.raises(ValueError, match=re.escape(f"index 'chunks' exists with another k-NN {message}:")):
        OpenSearchStore(client, INDEX, 3).ensure_index()


def test_an_existing_index_without_a_method_is_refused_naming_the_defaults_it_has() -> None:
    client = FakeOpenSearchClient()
    client.respond(
        "indices.get_mapping", {INDEX: {"mappings": {"properties": {"vector": {"type": "knn_vector", "dimension": 3}}}}}
    )
    with pytest.raises(ValueError, match=re.escape("engine None (this store needs 'faiss'), space type 'l2'")):
        OpenSearchStore(client, INDEX, 3).ensure_index()


def test_serverless_with_lucene_is_refused_naming_the_setting() -> None:
    with pytest.raises(
        ConfigurationError, match="RAGLINE_OPENSEARCH_ENGINE='lucene' is refused by OpenSearch Serverless"
    ):
        Settings.from_env(
            {
                "RAGLINE_STORE": "opensearch",
                "RAGLINE_OPENSEARCH_URL": "https://abc.eu-west-1.aoss.amazonaws.com",
                "RAGLINE_OPENSEARCH_ENGINE": "lucene",
            }
        )
    with pytest.raises(ConfigurationError, match="RAGLINE_OPENSEARCH_ENGINE"):
        Settings(
            store="opensearch",
            opensearch_url="https://search.example.com",
            opensearch_service="aoss",
            opensearch_engine="lucene",
        )
    managed = Settings(store="opensearch", opensearch_url="https://search.example.com", opensearch_engine="lucene")
    assert managed.opensearch_engine == "lucene"


def test_replicas_are_a_managed_domains_and_not_negative() -> None:
    env = {"RAGLINE_STORE": "opensearch", "RAGLINE_OPENSEARCH_URL": "https://search.example.com"}
    assert Settings.from_env({**env, "RAGLINE_OPENSEARCH_REPLICAS": "0"}).opensearch_replicas == 0
    with pytest.raises(ConfigurationError, match="RAGLINE_OPENSEARCH_REPLICAS=-1"):
        Settings.from_env({**env, "RAGLINE_OPENSEARCH_REPLICAS": "-1"})
    with pytest.raises(ConfigurationError, match="Serverless manages replicas itself"):
        Settings.from_env({**env, "RAGLINE_OPENSEARCH_SERVICE": "aoss", "RAGLINE_OPENSEARCH_REPLICAS": "1"})
