"""BedrockEmbedder against a stubbed bedrock-runtime client: exact request bodies, batching, retries, threads."""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from ragline.embedders.bedrock import COHERE_MAX_CHARS, BedrockEmbedder, EmbeddingShapeError
from ragline.errors import TransientError
from ragline.retry import RetryPolicy
from tests.fixtures.doubles import SleepRecorder

TITAN_V2 = "amazon.titan-embed-text-v2:0"
TITAN_V1 = "amazon.titan-embed-text-v1"
COHERE = "cohere.embed-english-v3"


class JsonBody:
    """Matches an InvokeModel ``body`` (bytes or str) whose JSON decodes to ``expected``."""

    def __init__(self, expected: dict[str, Any]) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (bytes, str)):
            return False
        return json.loads(other) == self.expected

    def __repr__(self) -> str:
        return f"JsonBody({self.expected!r})"


def streaming(payload: dict[str, Any]) -> StreamingBody:
    data = json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(data), len(data))


def expected(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "modelId": model_id,
        "body": JsonBody(body),
        "contentType": "application/json",
        "accept": "application/json",
    }


def ok(payload: dict[str, Any], token_header: int | None = None) -> dict[str, Any]:
    """A stubbed InvokeModel response with ``payload`` as its JSON body."""
    response: dict[str, Any] = {"body": streaming(payload), "contentType": "application/json"}
    if token_header is not None:
        response["ResponseMetadata"] = {"HTTPHeaders": {"x-amzn-bedrock-input-token-count": str(token_header)}}
    return response


def vector(seed: float, dim: int) -> list[float]:
    return [seed] + [0.0] * (dim - 1)


@pytest.fixture
def client():
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# -- Titan ------------------------------------------------------------------------------------------


def test_titan_v2_sends_one_text_per_request_with_dimensions_and_normalize(client, stubber):
    for i, text in enumerate(["alpha", "beta"]):
        stubber.add_response(
            "invoke_model",
            ok({"embedding": vector(i + 1, 256), "inputTextTokenCount": 3 + i}),
            expected(TITAN_V2, {"inputText": text, "dimensions": 256, "normalize": True}),
        )
    embedder = BedrockEmbedder(client, TITAN_V2, dimensions=256, concurrency=1)

    vectors = embedder.embed_documents(["alpha", "beta"])

    assert [v[0] for v in vectors] == [1.0, 2.0]
    assert all(len(v) == 256 for v in vectors)
    assert embedder.input_tokens == 3 + 4
    assert embedder.name == f"bedrock:{TITAN_V2}"
    assert embedder.dimension == 256


def test_titan_v2_query_uses_the_same_request_shape(client, stubber):
    stubber.add_response(
        "invoke_model",
        ok({"embedding": vector(0.5, 1024), "inputTextTokenCount": 2}),
        expected(TITAN_V2, {"inputText": "leave policy", "dimensions": 1024, "normalize": True}),
    )
    embedder = BedrockEmbedder(client)

    assert embedder.embed_query("leave policy") == vector(0.5, 1024)
    assert embedder.input_tokens == 2


def test_titan_v1_sends_input_text_only(client, stubber):
    stubber.add_response(
        "invoke_model",
        ok({"embedding": vector(0.25, 1536), "inputTextTokenCount": 1}),
        expected(TITAN_V1, {"inputText": "hello"}),
    )
    embedder = BedrockEmbedder(client, TITAN_V1, dimensions=1536)

    assert embedder.embed_documents(["hello"])[0][0] == 0.25


def test_the_body_sent_is_json_bytes():
    seen: list[Any] = []

    class Recorder:
        def invoke_model(self, **kwargs: Any) -> dict[str, Any]:
            seen.append(kwargs)
            return ok({"embedding": vector(1, 256), "inputTextTokenCount": 1})

    BedrockEmbedder(Recorder(), TITAN_V2, dimensions=256).embed_query("x")

    assert isinstance(seen[0]["body"], bytes)
    assert json.loads(seen[0]["body"]) == {"inputText": "x", "dimensions": 256, "normalize": True}


def test_empty_input_makes_no_request(client, stubber):
    assert BedrockEmbedder(client).embed_documents([]) == []


# -- Cohere -----------------------------------------------------------------------------------------


def test_cohere_batches_200_texts_into_96_96_8_in_order(client, stubber):
    texts = [f"text {i}" for i in range(200)]
    for start, stop in ((0, 96), (96, 192), (192, 200)):
        stubber.add_response(
            "invoke_model",
            ok(
                {
                    "id": "x",
                    "response_type": "embeddings_by_type",
                    "texts": texts[start:stop],
                    "embeddings": {"float": [vector(i, 4) for i in range(start, stop)]},
                },
                token_header=2 * (stop - start),
            ),
            expected(
                COHERE,
                {
                    "texts": texts[start:stop],
                    "input_type": "search_document",
                    "truncate": "END",
                    "embedding_types": ["float"],
                },
            ),
        )
    embedder = BedrockEmbedder(client, COHERE, dimensions=4, concurrency=1)

    vectors = embedder.embed_documents(texts)

    assert [v[0] for v in vectors] == [float(i) for i in range(200)]
    assert embedder.input_tokens == 400  # from the X-Amzn-Bedrock-Input-Token-Count header


def test_cohere_query_uses_search_query_and_accepts_plain_embeddings(client, stubber):
    stubber.add_response(
        "invoke_model",
        ok({"id": "x", "response_type": "embeddings_floats", "embeddings": [[0.1, 0.2, 0.3]]}),
        expected(
            COHERE,
            {
                "texts": ["who approves leave?"],
                "input_type": "search_query",
                "truncate": "END",
                "embedding_types": ["float"],
            },
        ),
    )
    embedder = BedrockEmbedder(client, COHERE, dimensions=3)

    assert embedder.embed_query("who approves leave?") == [0.1, 0.2, 0.3]


def test_cohere_texts_are_cut_to_2048_characters(client, stubber):
    long_text = "word " * 1000  # 5000 characters
    stubber.add_response(
        "invoke_model",
        ok({"embeddings": {"float": [[1.0, 0.0]]}}),
        expected(
            COHERE,
            {
                "texts": [long_text[:COHERE_MAX_CHARS]],
                "input_type": "search_document",
                "truncate": "END",
                "embedding_types": ["float"],
            },
        ),
    )
    embedder = BedrockEmbedder(client, COHERE, dimensions=2)

    assert embedder.embed_documents([long_text]) == [[1.0, 0.0]]


def test_cohere_count_mismatch_is_an_error(client, stubber):
    stubber.add_response("invoke_model", ok({"embeddings": {"float": [[1.0, 0.0]]}}))
    embedder = BedrockEmbedder(client, COHERE, dimensions=2)

    with pytest.raises(EmbeddingShapeError, match="1 embeddings for 2 texts"):
        embedder.embed_documents(["a", "b"])


# -- configuration and shape checks -------------------------------------------------------------------


def test_wrong_vector_dimension_is_a_clear_error(client, stubber):
    stubber.add_response("invoke_model", ok({"embedding": vector(1, 512)}))
    embedder = BedrockEmbedder(client, TITAN_V2, dimensions=1024)

    with pytest.raises(EmbeddingShapeError, match="512 dimensions, expected 1024"):
        embedder.embed_query("x")


@pytest.mark.parametrize(
    ("model_id", "dimensions", "message"),
    [
        ("meta.llama3-8b-instruct-v1:0", 1024, "unsupported Bedrock embedding model"),
        (TITAN_V2, 768, "Titan v2 supports dimensions"),
        (TITAN_V1, 1024, "Titan v1 always returns 1536"),
    ],
)
def test_bad_configuration_fails_at_construction(client, model_id, dimensions, message):
    with pytest.raises(ValueError, match=message):
        BedrockEmbedder(client, model_id, dimensions=dimensions)


def test_cross_region_profile_ids_are_recognised(client):
    embedder = BedrockEmbedder(client, "us.cohere.embed-multilingual-v3", dimensions=1024)
    assert embedder.name == "bedrock:us.cohere.embed-multilingual-v3"


# -- retries ----------------------------------------------------------------------------------------


def test_throttling_twice_then_success_backs_off_with_jitter(client, stubber):
    body = {"inputText": "x", "dimensions": 256, "normalize": True}
    for _ in range(2):
        stubber.add_client_error(
            "invoke_model", "ThrottlingException", "Too many requests", 429, expected_params=expected(TITAN_V2, body)
        )
    stubber.add_response(
        "invoke_model",
        ok({"embedding": vector(7, 256), "inputTextTokenCount": 1}),
        expected(TITAN_V2, body),
    )
    sleep = SleepRecorder()
    embedder = BedrockEmbedder(client, TITAN_V2, dimensions=256, retry=RetryPolicy(base_delay=0.2, sleep=sleep))

    assert embedder.embed_query("x")[0] == 7.0
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 0.2  # full jitter: uniform in [0, base * 2**0]
    assert 0 <= sleep.delays[1] <= 0.4  # ... then [0, base * 2**1]
    assert embedder.input_tokens == 1  # failed attempts cost nothing


def test_throttling_past_max_retries_raises_transient_error(client, stubber):
    for _ in range(3):
        stubber.add_client_error("invoke_model", "ThrottlingException", "Too many requests", 429)
    sleep = SleepRecorder()
    embedder = BedrockEmbedder(client, TITAN_V2, retry=RetryPolicy(attempts=3, sleep=sleep))

    with pytest.raises(TransientError) as info:
        embedder.embed_query("x")

    assert TITAN_V2 in str(info.value)
    assert "ThrottlingException" in str(info.value)
    assert "3 attempts" in str(info.value)
    assert isinstance(info.value.__cause__, ClientError)
    assert len(sleep.delays) == 2


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ServiceUnavailableException", 503),
        ("ModelNotReadyException", 429),
        ("InternalServerException", 500),
        ("SomethingNew", 502),  # any 5xx
        ("SlowDown", 429),  # any 429
    ],
)
def test_transient_errors_are_retried(client, stubber, code, status):
    stubber.add_client_error("invoke_model", code, "try later", status)
    stubber.add_response("invoke_model", ok({"embedding": vector(1, 256)}))
    sleep = SleepRecorder()

    result = BedrockEmbedder(client, TITAN_V2, dimensions=256, retry=RetryPolicy(sleep=sleep)).embed_query("x")

    assert result[0] == 1.0
    assert len(sleep.delays) == 1


@pytest.mark.parametrize(("code", "status"), [("ValidationException", 400), ("AccessDeniedException", 403)])
def test_client_errors_propagate_at_once(client, stubber, code, status):
    stubber.add_client_error("invoke_model", code, "no", status)
    sleep = SleepRecorder()

    with pytest.raises(ClientError) as info:
        BedrockEmbedder(client, TITAN_V2, retry=RetryPolicy(sleep=sleep)).embed_query("x")

    assert info.value.response["Error"]["Code"] == code
    assert not isinstance(info.value, TransientError)
    assert sleep.delays == []


# -- concurrency ------------------------------------------------------------------------------------


class FakeBedrockClient:
    """An in-memory bedrock-runtime stand-in: records calls in flight and answers Titan or Cohere bodies.

    A Titan vector's first component is the number at the end of its text (``"t17"`` -> 17.0), so results
    can be checked for order. ``delay(text)`` sets how long each call takes.
    """

    def __init__(self, delay=lambda text: 0.02, fail_with: str | None = None) -> None:
        self.delay = delay
        self.fail_with = fail_with
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def invoke_model(self, *, modelId: str, body: bytes, contentType: str, accept: str) -> dict[str, Any]:
        request = json.loads(body)
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            texts = request.get("texts") or [request["inputText"]]
            time.sleep(self.delay(texts[0]))
            if self.fail_with:
                raise ClientError({"Error": {"Code": self.fail_with, "Message": "slow down"}}, "InvokeModel")
            vectors = [vector(float(text.lstrip("t")), 256) for text in texts]
            if "texts" in request:
                return ok({"embeddings": {"float": vectors}})
            return ok({"embedding": vectors[0], "inputTextTokenCount": 1})
        finally:
            with self._lock:
                self.in_flight -= 1


def test_concurrency_is_bounded_and_used():
    fake = FakeBedrockClient()
    embedder = BedrockEmbedder(fake, TITAN_V2, dimensions=256, concurrency=3)

    vectors = embedder.embed_documents([f"t{i}" for i in range(24)])

    assert fake.calls == 24
    assert 1 < fake.max_in_flight <= 3
    assert [v[0] for v in vectors] == [float(i) for i in range(24)]
    assert embedder.input_tokens == 24


def test_results_keep_input_order_when_later_requests_finish_first():
    # Earlier texts are slower, so completions arrive roughly in reverse order.
    fake = FakeBedrockClient(delay=lambda text: 0.002 * (20 - int(text.lstrip("t"))))
    embedder = BedrockEmbedder(fake, TITAN_V2, dimensions=256, concurrency=8)

    vectors = embedder.embed_documents([f"t{i}" for i in range(20)])

    assert [v[0] for v in vectors] == [float(i) for i in range(20)]


def test_cohere_batches_run_concurrently_and_stay_in_order():
    fake = FakeBedrockClient(delay=lambda text: 0.05 if text == "t0" else 0.01)
    embedder = BedrockEmbedder(fake, COHERE, dimensions=256, concurrency=4)

    vectors = embedder.embed_documents([f"t{i}" for i in range(300)])  # 4 batches: 96, 96, 96, 12

    assert fake.calls == 4
    assert fake.max_in_flight > 1
    assert [v[0] for v in vectors] == [float(i) for i in range(300)]


def test_throttling_in_a_worker_thread_surfaces_as_transient_error():
    fake = FakeBedrockClient(delay=lambda text: 0.0, fail_with="ThrottlingException")
    no_wait = RetryPolicy(attempts=2, sleep=lambda s: None)
    embedder = BedrockEmbedder(fake, TITAN_V2, dimensions=256, concurrency=4, retry=no_wait)

    with pytest.raises(TransientError, match="ThrottlingException"):
        embedder.embed_documents([f"t{i}" for i in range(8)])
    assert fake.calls <= 8 * 2  # each text tried at most attempts (2) times


@pytest.mark.parametrize(("concurrency", "pool"), [(4, 10), (32, 32)])
def test_the_factory_pools_a_connection_per_request_in_flight(monkeypatch, concurrency, pool):
    from ragline.factory import build_embedder
    from ragline.settings import Settings

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    embedder = build_embedder(Settings(embedder="bedrock", embed_concurrency=concurrency))
    assert embedder.client.meta.config.max_pool_connections == pool
