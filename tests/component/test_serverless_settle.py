"""The real handlers on moto against a simulated OpenSearch Serverless collection: a quick overwrite and a
quick revocation, settled through the real ingest queue's delayed messages (docs/architecture.md,
"OpenSearch Serverless consistency").

The collection is ``FakeServerlessOpenSearch`` on the wall clock, with its refresh interval, and the
store's, shortened to one second and the settle's margin to none, so that moto's SQS holds each settle
back for a second of real time (``DelaySeconds``), as SQS would hold it back for 75.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ragline.ids import document_id
from ragline.local.lambda_runtime import LocalFunction
from ragline.local.provision import provision
from ragline.settings import Settings
from tests.component.conftest import ComponentStack, MotoAws
from tests.fake_serverless_opensearch import FakeServerlessOpenSearch

LAG = 1.0
QUESTION = {"question": "What happened to revenue?", "top_k": 10}


@pytest.fixture
def collection() -> FakeServerlessOpenSearch:
    return FakeServerlessOpenSearch(time.time, refresh_interval=LAG)  # type: ignore[arg-type]


@pytest.fixture
def serverless(
    empty_moto: MotoAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collection: FakeServerlessOpenSearch
) -> ComponentStack:
    import ragline.ingest
    import ragline.stores.opensearch
    import ragline.stores.opensearch.store

    monkeypatch.setattr(ragline.stores.opensearch.store, "SERVERLESS_REFRESH_SECONDS", LAG)
    monkeypatch.setattr(ragline.ingest, "SETTLE_MARGIN_SECONDS", 0)
    monkeypatch.setattr(ragline.stores.opensearch, "connect", lambda *args, **kwargs: collection)
    for name, value in {
        "RAGLINE_EMBEDDER": "hash",
        "RAGLINE_STORE": "opensearch",
        "RAGLINE_OPENSEARCH_URL": "https://abc123.us-east-1.aoss.amazonaws.com",
        "RAGLINE_OPENSEARCH_SERVICE": "aoss",
        "RAGLINE_AUDIT_KEY_FILE": str(tmp_path / "audit.key"),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    resources = provision(empty_moto.s3, empty_moto.sqs, empty_moto.dynamodb, Settings.from_env())
    monkeypatch.setenv("RAGLINE_INGEST_QUEUE_URL", resources.queue_url)  # as the stack sets it on Serverless
    settings = Settings.from_env()
    return ComponentStack(
        settings, resources, empty_moto.s3, empty_moto.sqs, LocalFunction("ingest"), LocalFunction("query")
    )


def delayed(stack: ComponentStack) -> int:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.resources.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesDelayed"])


def copies(collection: FakeServerlessOpenSearch, stack: ComponentStack, key: str) -> list[dict[str, Any]]:
    doc_id = document_id(stack.settings.bucket, key)
    return [source for source in collection.live.values() if source["doc_id"] == doc_id]


def test_a_quick_overwrite_and_revocation_are_hidden_at_once_and_settled_through_the_queue(
    serverless: ComponentStack, collection: FakeServerlessOpenSearch
) -> None:
    stack = serverless
    stack.put("q3.md", "# Q3\n\nRevenue grew in Europe.", roles=["finance"])
    assert stack.drain()["batchItemFailures"] == []
    # The second version, with other roles, before the first is searchable: its replace cannot see v1.
    stack.put("q3.md", "# Q3\n\nRevenue fell in Asia.", roles=["hr"])
    assert stack.drain()["batchItemFailures"] == []
    assert delayed(stack) == 2  # a settle for each change, held back by SQS
    assert stack.receive() == []

    time.sleep(LAG + 0.1)  # both versions are searchable now, the first one's chunks still stored
    versions = {source["version"] for source in copies(collection, stack, "q3.md")}
    assert len(versions) == 2
    # The search finds v1's chunks with finance; the query function checks them against the registry.
    status, body = stack.request("POST", "/retrieve", QUESTION, ["finance"])
    assert status == 200 and body["results"] == []
    status, body = stack.request("POST", "/retrieve", QUESTION, ["hr"])
    assert status == 200 and {"Revenue fell in Asia." in result["text"] for result in body["results"]} == {True}

    settles = stack.receive()  # delivered once their delay is up
    assert len(settles) == 2 and all("Sync:Settle" in message["Body"] for message in settles)
    assert stack.deliver(settles)["batchItemFailures"] == []
    record = stack.record("q3.md")
    assert record is not None and record.roles == ("hr",)
    assert {source["version"] for source in copies(collection, stack, "q3.md")} == {record.version}
    assert len(copies(collection, stack, "q3.md")) == record.chunk_count
