"""OpenSearch's side of ``ragline reindex`` against the fake client: a new index made with the new model's
dimension, the alias moved in one ``_aliases`` request, a document's chunks counted; every request and
answer checked against the OpenSearch REST API specification (``requests_follow_the_spec``)."""

from __future__ import annotations

from typing import Any

import pytest
from opensearchpy.exceptions import NotFoundError

from ragline.indexes import IndexTarget
from ragline.retry import RetryPolicy
from ragline.stores.opensearch import OpenSearchStore
from ragline.stores.opensearch.admin import OpenSearchIndexAdmin
from tests.unit.test_opensearch_store import (  # noqa: F401 - requests_follow_the_spec: the spec check
    FakeOpenSearchClient,
    requests_follow_the_spec,
)

ALIAS = "ragline-chunks"
CONCRETE = IndexTarget(ALIAS, "hash", "", 384)  # the index of a deployment made before ragline reindex
FIRST = IndexTarget("ragline-chunks-r1", "bedrock", "amazon.titan-embed-text-v2:0", 512)
SECOND = IndexTarget("ragline-chunks-r3", "bedrock", "amazon.titan-embed-text-v2:0", 1024)
ACKNOWLEDGED = {"acknowledged": True}
NO_RETRY = RetryPolicy(attempts=1)


def admin_on(client: FakeOpenSearchClient, serverless: bool = False) -> OpenSearchIndexAdmin:
    def open_store(target: IndexTarget) -> OpenSearchStore:
        return OpenSearchStore(client, target.index, target.dimension, serverless=serverless, retry=NO_RETRY)

    return OpenSearchIndexAdmin(client, ALIAS, open_store, NO_RETRY, serverless=serverless)


@pytest.fixture
def client() -> FakeOpenSearchClient:
    return FakeOpenSearchClient()


def test_a_new_index_is_named_after_the_configured_one_and_made_with_the_new_dimension(client) -> None:
    admin = admin_on(client)
    client.respond("indices.get_mapping", NotFoundError(404, "index_not_found_exception", {}))
    client.respond("indices.create", {"acknowledged": True, "shards_acknowledged": True, "index": FIRST.index})

    assert admin.name_for(1) == FIRST.index
    admin.create(FIRST)

    [created] = client.calls_to("indices.create")
    assert created["index"] == FIRST.index
    assert created["body"]["mappings"]["properties"]["vector"]["dimension"] == 512


def test_switching_moves_the_alias_in_one_request_of_two_actions(client) -> None:
    client.respond("indices.update_aliases", ACKNOWLEDGED)

    admin_on(client).point_readers(FIRST, SECOND)

    assert client.calls == [
        (
            "indices.update_aliases",
            {
                "body": {
                    "actions": [
                        {"remove": {"index": FIRST.index, "alias": ALIAS}},
                        {"add": {"index": SECOND.index, "alias": ALIAS}},
                    ]
                }
            },
        )
    ]


def test_the_concrete_index_of_an_older_deployment_gives_its_name_to_the_alias_when_dropped(client) -> None:
    admin = admin_on(client)
    admin.point_readers(CONCRETE, FIRST)  # an index cannot share its name with an alias: nothing sent
    assert client.calls == []

    client.respond("indices.delete", ACKNOWLEDGED)
    client.respond("indices.update_aliases", ACKNOWLEDGED)
    admin.drop(CONCRETE, live=FIRST)

    assert client.calls == [
        ("indices.delete", {"index": ALIAS}),
        ("indices.update_aliases", {"body": {"actions": [{"add": {"index": FIRST.index, "alias": ALIAS}}]}}),
    ]


def test_switching_back_to_the_concrete_index_removes_the_alias(client) -> None:
    client.respond("indices.update_aliases", ACKNOWLEDGED)

    admin_on(client).point_readers(FIRST, CONCRETE)

    assert client.calls_to("indices.update_aliases") == [
        {"body": {"actions": [{"remove": {"index": FIRST.index, "alias": ALIAS}}]}}
    ]


def test_serverless_collections_have_no_alias_to_move(client) -> None:
    client.serverless = True
    admin = admin_on(client, serverless=True)

    admin.point_readers(FIRST, SECOND)

    assert client.calls == []


def test_a_documents_chunks_of_one_version_are_counted(client) -> None:
    shards: dict[str, Any] = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    client.respond("count", {"count": 3, "_shards": shards})

    store = OpenSearchStore(client, FIRST.index, FIRST.dimension, retry=NO_RETRY)
    assert store.count_document("d1", "v7") == 3  # how ingest asks whether an index being built has a document

    assert client.calls_to("count") == [
        {
            "index": FIRST.index,
            "body": {"query": {"bool": {"filter": [{"term": {"doc_id": "d1"}}, {"term": {"version": "v7"}}]}}},
        }
    ]
