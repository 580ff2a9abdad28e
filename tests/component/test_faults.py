"""Fault injection on moto: transient failures are retried, then become batch item failures, then the DLQ.

The faults come from fakes named as such: ``ThrottlingFakeBedrockClient`` stands in for ``bedrock-runtime``
behind the real :class:`BedrockEmbedder` (its retries, with a recording fake sleep), and ``FailingFakeStore``
wraps the real on-disk store and fails ``replace_document`` as OpenSearch's adapter does once its own
retries of a 503 run out. Everything else is real: S3 notifications through SQS with the queue's redrive
policy, the ingest handler with Powertools' batch processor, the registry on DynamoDB.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from ragline.embedders.bedrock import BedrockEmbedder
from ragline.embedders.hashing import HashEmbedder
from ragline.errors import TransientError
from ragline.local.provision import MAX_RECEIVES
from ragline.local.redrive import redrive
from ragline.retry import RetryPolicy
from tests.store_inspection import chunk_ids, count_chunks

OLD = "# Travel policy\n\nEconomy class for flights under six hours. Hotels up to 180 euros a night.\n"
NEW = "# Travel policy\n\nBusiness class is allowed on flights over four hours. Hotels up to 220 euros.\n"
COHERE = "cohere.embed-english-v3"  # one InvokeModel per document here, so faults count requests simply


class ThrottlingFakeBedrockClient:
    """A fake ``bedrock-runtime`` client: ``ThrottlingException`` for the first ``failures`` calls, then
    Cohere-shaped embeddings computed by the hash embedder. ``failures=math.inf`` throttles for ever."""

    def __init__(self, dimension: int, failures: float = 0) -> None:
        self.failures = failures
        self.calls = 0
        self._vectors = HashEmbedder(dimension)

    def invoke_model(self, *, modelId: str, body: bytes, **_: Any) -> dict[str, Any]:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "Too many requests, please wait"},
                    "ResponseMetadata": {"HTTPStatusCode": 429},
                },
                "InvokeModel",
            )
        texts = json.loads(body)["texts"]
        vectors = self._vectors.embed_documents(texts)
        return {
            "body": io.BytesIO(json.dumps({"embeddings": {"float": vectors}}).encode()),
            "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}},
        }


class FailingFakeStore:
    """Wraps the real store; ``replace_document`` fails ``failures`` times with what the OpenSearch adapter
    raises when a 503 outlasts its retries (a ``TransientError`` chained to the 503), then works.

    ``half_done`` writes the new version's chunks before failing, as an OpenSearch replace that got its
    upsert through but not the removal of the old version would leave things."""

    def __init__(self, store: Any, failures: float = 1, half_done: bool = False) -> None:
        self.store = store
        self.failures = failures
        self.half_done = half_done
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def replace_document(self, doc_id: str, chunks: Any, vectors: Any) -> int:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            if self.half_done:
                self.store.upsert(chunks, vectors)
            from opensearchpy.exceptions import TransportError

            cause = TransportError(503, "service_unavailable", {"error": "cluster is busy"})
            raise TransientError("OpenSearch bulk upsert still failing after 7 attempts: 503") from cause
        return self.store.replace_document(doc_id, chunks, vectors)


# -- helpers ----------------------------------------------------------------------------------------


def _throttled_embedder(
    stack, failures: float, max_retries: int = 6
) -> tuple[ThrottlingFakeBedrockClient, list[float]]:
    """Makes the ingest function embed through Bedrock with a throttling fake client; returns it and the
    delays the embedder slept."""
    dimension = stack.ingestor().store.dimension
    client = ThrottlingFakeBedrockClient(dimension, failures)
    delays: list[float] = []
    stack.ingestor().embedder = BedrockEmbedder(
        client,
        model_id=COHERE,
        dimensions=dimension,
        concurrency=1,
        retry=RetryPolicy(attempts=max_retries + 1, base_delay=0.2, sleep=delays.append),
    )
    return client, delays


def _one_message(stack, visibility: int | None = None) -> list[dict]:
    extra = {} if visibility is None else {"VisibilityTimeout": visibility}
    return stack.sqs.receive_message(
        QueueUrl=stack.resources.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], **extra
    ).get("Messages", [])


def _dlq(stack) -> list[dict]:
    return stack.sqs.receive_message(
        QueueUrl=stack.resources.dead_letter_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages", [])


def _searchable(stack, text: str, roles=frozenset({"staff"})) -> set[str]:
    return {hit.chunk.text for hit in stack.ingestor().store.bm25_search(text, roles, 10)}


@pytest.fixture
def stack(stack):
    stack.drain()  # S3's test event from configuring the notification
    return stack


# -- (a) throttled, then through -------------------------------------------------------------------


def test_throttling_twice_is_retried_with_backoff_and_the_document_is_indexed(stack):
    client, delays = _throttled_embedder(stack, failures=2)
    stack.put("policies/travel.md", OLD, roles=["staff"])

    response = stack.drain()

    assert response == {"batchItemFailures": []}
    assert client.calls == 3
    assert len(delays) == 2
    assert 0 <= delays[0] <= 0.2 and 0 <= delays[1] <= 0.4  # full jitter under base * 2**retry
    record = stack.record("policies/travel.md")
    assert record.status == "indexed" and record.chunk_count == count_chunks(stack.ingestor().store, record.doc_id) >= 1
    assert not _one_message(stack, visibility=0)  # the message was deleted


# -- (b) retries run out --------------------------------------------------------------------------


def _bedrock_throttles_for_ever(stack):
    client, delays = _throttled_embedder(stack, failures=math.inf, max_retries=3)
    return lambda: client.calls == 4 and len(delays) == 3


def _opensearch_answers_503(stack):
    store = FailingFakeStore(stack.ingestor().store, failures=math.inf)
    stack.ingestor().store = store
    return lambda: store.calls == 1


@pytest.mark.parametrize(
    "fault", [_bedrock_throttles_for_ever, _opensearch_answers_503], ids=["bedrock-throttling", "opensearch-503"]
)
def test_a_transient_failure_past_its_retries_is_a_batch_item_failure_and_leaves_the_old_version(stack, fault):
    stack.put("policies/travel.md", OLD, roles=["staff"])
    assert stack.drain() == {"batchItemFailures": []}
    old = stack.record("policies/travel.md")

    tried_as_configured = fault(stack)
    stack.put("policies/travel.md", NEW, roles=["staff"])
    [message] = stack.receive()
    response = stack.deliver([message])

    assert response == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert tried_as_configured()
    record = stack.record("policies/travel.md")
    assert record == old  # the registry still describes the old version, indexed
    assert any("180 euros" in text for text in _searchable(stack, "hotels euros night"))
    assert not any("220 euros" in text for text in _searchable(stack, "hotels euros business"))


def test_a_new_document_that_fails_is_not_registered_as_indexed(stack):
    _throttled_embedder(stack, failures=math.inf, max_retries=1)
    stack.put("policies/travel.md", OLD, roles=["staff"])

    response = stack.drain()

    assert len(response["batchItemFailures"]) == 1
    record = stack.record("policies/travel.md")
    assert record is None or record.status != "indexed"
    assert not _searchable(stack, "hotels euros")


# -- (c) redelivery -------------------------------------------------------------------------------


def test_redelivery_after_a_half_done_failure_indexes_the_document_once(stack):
    stack.put("control/travel.md", NEW, roles=["staff"])
    assert stack.drain() == {"batchItemFailures": []}
    single = stack.record("control/travel.md").chunk_count

    store = FailingFakeStore(stack.ingestor().store, failures=1, half_done=True)
    stack.ingestor().store = store
    stack.put("policies/travel.md", NEW, roles=["staff"])
    [message] = stack.receive()
    assert stack.deliver([message])["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert stack.record("policies/travel.md") is None

    # SQS hands the message out again once its visibility timeout has passed.
    stack.sqs.change_message_visibility(
        QueueUrl=stack.resources.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    [again] = stack.receive()
    assert again["MessageId"] == message["MessageId"] and again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert stack.deliver([again]) == {"batchItemFailures": []}

    record = stack.record("policies/travel.md")
    assert record.status == "indexed" and record.chunk_count == single
    ids = chunk_ids(store.store, record.doc_id)
    assert len(ids) == len(set(ids)) == single == count_chunks(store.store, record.doc_id)


# -- (d) dead-letter queue and redrive ------------------------------------------------------------


def test_a_message_failing_every_receive_lands_in_the_dlq_and_redrive_brings_it_back(stack):
    assert (
        json.loads(
            stack.sqs.get_queue_attributes(QueueUrl=stack.resources.queue_url, AttributeNames=["RedrivePolicy"])[
                "Attributes"
            ]["RedrivePolicy"]
        )["maxReceiveCount"]
        == MAX_RECEIVES
        == 3
    )
    client, _ = _throttled_embedder(stack, failures=math.inf, max_retries=2)
    stack.put("policies/travel.md", NEW, roles=["staff"])

    for receive in range(1, MAX_RECEIVES + 1):
        [message] = _one_message(stack, visibility=0)  # visible again at once, as after the timeout
        assert message["Attributes"]["ApproximateReceiveCount"] == str(receive)
        assert stack.deliver([message])["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert client.calls == MAX_RECEIVES * 3

    assert _one_message(stack, visibility=0) == []  # the next receive moves it to the dead-letter queue
    [dead] = _dlq(stack)
    assert unquote_plus(json.loads(dead["Body"])["Records"][0]["s3"]["object"]["key"]) == "policies/travel.md"
    assert stack.record("policies/travel.md") is None

    assert redrive(stack.sqs, stack.resources.dead_letter_queue_url, stack.resources.queue_url, dry_run=True) == 1
    assert len(_dlq(stack)) == 1  # a dry run moves nothing and leaves the message visible

    client.failures = 0  # the throttling is over
    moved = redrive(stack.sqs, stack.resources.dead_letter_queue_url, stack.resources.queue_url)

    assert moved == 1
    assert _dlq(stack) == []
    [replayed] = stack.receive()
    assert replayed["Body"] == dead["Body"] and replayed["Attributes"]["ApproximateReceiveCount"] == "1"
    assert stack.deliver([replayed]) == {"batchItemFailures": []}
    record = stack.record("policies/travel.md")
    assert record.status == "indexed" and record.chunk_count >= 1
    assert any("220 euros" in text for text in _searchable(stack, "hotels euros business"))


def test_redrive_respects_max_and_keeps_message_attributes(stack):
    dlq, queue = stack.resources.dead_letter_queue_url, stack.resources.queue_url
    for n in range(12):
        stack.sqs.send_message(
            QueueUrl=dlq,
            MessageBody=json.dumps({"n": n}),
            MessageAttributes={"origin": {"DataType": "String", "StringValue": f"test-{n}"}},
        )

    assert redrive(stack.sqs, dlq, queue, dry_run=True) == 12
    assert redrive(stack.sqs, dlq, queue, max_messages=5) == 5
    assert redrive(stack.sqs, dlq, queue) == 7
    assert redrive(stack.sqs, dlq, queue) == 0

    moved = []
    while batch := stack.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    ):
        moved.extend(batch)
    assert sorted(json.loads(m["Body"])["n"] for m in moved) == list(range(12))
    assert all(m["MessageAttributes"]["origin"]["StringValue"] == f"test-{json.loads(m['Body'])['n']}" for m in moved)
