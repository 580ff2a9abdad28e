"""Embeddings from Amazon Bedrock: Titan Text Embeddings (v1, v2) and Cohere Embed.

Both families are called through ``InvokeModel`` on a ``bedrock-runtime`` client:

* Titan (``amazon.titan-embed-text-v2:0``, ``amazon.titan-embed-text-v1``) embeds one text per request.
  v2 takes ``{"inputText": ..., "dimensions": 256|512|1024, "normalize": true}``; v1 takes only
  ``{"inputText": ...}`` and always returns 1536 dimensions. The response is
  ``{"embedding": [...], "inputTextTokenCount": n}``.
* Cohere (``cohere.embed-english-v3``, ``cohere.embed-multilingual-v3``) embeds up to 96 texts per request
  with ``{"texts": [...], "input_type": "search_document"|"search_query", "truncate": "END",
  "embedding_types": ["float"]}``; the response holds ``{"embeddings": {"float": [[...], ...]}}`` (or
  ``{"embeddings": [[...], ...]}`` when no ``embedding_types`` applies). Bedrock rejects Cohere texts over
  2048 characters, so longer texts are cut client-side.

Requests run on a thread pool, at most ``concurrency`` in flight, and results come back in input order.
Throttling and 5xx errors are retried as the embedder's :class:`~ragline.retry.RetryPolicy` says (by default
:data:`DEFAULT_RETRY`); when the attempts run out a :class:`~ragline.errors.TransientError` is raised (so the
ingest message goes back to the queue).
Non-retryable errors (``ValidationException``, ``AccessDeniedException``, ``ResourceNotFoundException``)
propagate as the original ``botocore.exceptions.ClientError``, unchanged, on the first occurrence.

Example:
    >>> import boto3
    >>> embedder = BedrockEmbedder(boto3.client("bedrock-runtime"), dimensions=512)  # doctest: +SKIP
    >>> vectors = embedder.embed_documents(["Leave policy", "Expense reports"])  # doctest: +SKIP
    >>> embedder.input_tokens  # doctest: +SKIP
    5
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Literal

from ragline.errors import RaglineError
from ragline.retry import RetryPolicy, is_retryable

TITAN_V2_PREFIX = "amazon.titan-embed-text-v2"
TITAN_V1_PREFIX = "amazon.titan-embed-text-v1"
COHERE_PREFIX = "cohere.embed"

TITAN_V2_DIMENSIONS = (256, 512, 1024)
TITAN_V1_DIMENSION = 1536
COHERE_MAX_BATCH = 96
COHERE_MAX_CHARS = 2048

_TOKEN_COUNT_HEADER = "x-amzn-bedrock-input-token-count"

#: Seven attempts, pauses of up to 0.2, 0.4, ... 6.4 s: an ingest can wait out a burst of throttling.
DEFAULT_RETRY = RetryPolicy(attempts=7, base_delay=0.2)

InputType = Literal["search_document", "search_query"]


class EmbeddingShapeError(RaglineError):
    """Bedrock answered, but not with the vectors asked for (wrong count or dimension, unknown body)."""


def _family(model_id: str) -> str:
    # Model ids may carry a cross-region inference prefix ("us.", "eu.", ...) or be a full ARN.
    base = model_id.rsplit("/", 1)[-1]
    for prefix, family in (
        (TITAN_V2_PREFIX, "titan-v2"),
        (TITAN_V1_PREFIX, "titan-v1"),
        (COHERE_PREFIX, "cohere"),
    ):
        if base.startswith(prefix) or base.partition(".")[2].startswith(prefix):
            return family
    raise ValueError(
        f"unsupported Bedrock embedding model {model_id!r}: expected amazon.titan-embed-text-v1/v2 or cohere.embed-*"
    )


class BedrockEmbedder:
    """An :class:`~ragline.ports.Embedder` backed by a Bedrock embedding model.

    ``input_tokens`` accumulates the input tokens Bedrock reports (Titan's ``inputTextTokenCount``, else the
    ``X-Amzn-Bedrock-Input-Token-Count`` response header), for cost accounting.
    """

    def __init__(
        self,
        client: Any,
        model_id: str = "amazon.titan-embed-text-v2:0",
        dimensions: int = 1024,
        concurrency: int = 4,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._family = _family(model_id)
        if self._family == "titan-v2" and dimensions not in TITAN_V2_DIMENSIONS:
            raise ValueError(f"Titan v2 supports dimensions {TITAN_V2_DIMENSIONS}, not {dimensions}")
        if self._family == "titan-v1" and dimensions != TITAN_V1_DIMENSION:
            raise ValueError(f"Titan v1 always returns {TITAN_V1_DIMENSION} dimensions, not {dimensions}")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.client = client
        self.model_id = model_id
        self.name = f"bedrock:{model_id}"
        self.dimension = dimensions
        self.concurrency = concurrency
        self.retry = retry
        self.input_tokens = 0
        self._lock = threading.Lock()

    # -- the Embedder protocol ----------------------------------------------------------------------

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts``, in order (Cohere: ``input_type="search_document"``)."""
        return self._embed(list(texts), "search_document")

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query (Cohere: ``input_type="search_query"``)."""
        return self._embed([text], "search_query")[0]

    # -- internals ----------------------------------------------------------------------------------

    def _embed(self, texts: list[str], input_type: InputType) -> list[list[float]]:
        if not texts:
            return []
        # Each job is one request and returns its vectors: up to 96 texts for Cohere, one for Titan.
        jobs: list[Callable[[], list[list[float]]]]
        if self._family == "cohere":
            starts = range(0, len(texts), COHERE_MAX_BATCH)
            jobs = [partial(self._cohere, texts[i : i + COHERE_MAX_BATCH], input_type) for i in starts]
        else:
            jobs = [partial(self._titan, text) for text in texts]
        vectors = [vector for result in self._run(jobs) for vector in result]
        if len(vectors) != len(texts):
            raise EmbeddingShapeError(f"{self.model_id} returned {len(vectors)} vectors for {len(texts)} texts")
        return vectors

    def _run(self, jobs: list[Callable[[], list[list[float]]]]) -> list[list[list[float]]]:
        """Run ``jobs`` with at most ``concurrency`` in flight; results in job order.

        On the first failure (in job order) the jobs not yet started are cancelled and the error raised.
        """
        if self.concurrency == 1 or len(jobs) == 1:
            return [job() for job in jobs]
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs)), thread_name_prefix="bedrock-embed")
        futures: list[Future[list[list[float]]]] = [pool.submit(job) for job in jobs]
        try:
            return [future.result() for future in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _invoke(self, payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """One ``InvokeModel`` call with retries; returns the decoded body and the response metadata."""
        body = json.dumps(payload).encode("utf-8")

        def call() -> dict[str, Any]:
            return self.client.invoke_model(
                modelId=self.model_id,
                body=body,
                contentType="application/json",
                accept="application/json",
            )

        response = self.retry.call(call, is_retryable, description=f"Bedrock InvokeModel on {self.model_id}")
        raw = response["body"]
        data = raw.read() if hasattr(raw, "read") else raw
        try:
            decoded = json.loads(data)
        except ValueError as exc:
            raise EmbeddingShapeError(f"{self.model_id} returned a body that is not JSON") from exc
        if not isinstance(decoded, dict):
            raise EmbeddingShapeError(f"{self.model_id} returned an unexpected body")
        return decoded, response.get("ResponseMetadata", {})

    def _count_tokens(self, body: dict[str, Any], metadata: dict[str, Any]) -> None:
        count = body.get("inputTextTokenCount")
        if count is None:
            count = (metadata.get("HTTPHeaders") or {}).get(_TOKEN_COUNT_HEADER)
        try:
            tokens = int(count) if count is not None else 0
        except (TypeError, ValueError):
            tokens = 0
        with self._lock:
            self.input_tokens += tokens

    def _check(self, vector: Any) -> list[float]:
        if not isinstance(vector, list) or len(vector) != self.dimension:
            size = len(vector) if isinstance(vector, list) else type(vector).__name__
            raise EmbeddingShapeError(
                f"{self.model_id} returned a vector of {size} dimensions, expected {self.dimension}"
            )
        return [float(x) for x in vector]

    def _titan(self, text: str) -> list[list[float]]:
        """The vector of one text, in a list of one (Titan embeds one text per request)."""
        payload: dict[str, Any] = {"inputText": text}
        if self._family == "titan-v2":
            payload = {"inputText": text, "dimensions": self.dimension, "normalize": True}
        body, metadata = self._invoke(payload)
        self._count_tokens(body, metadata)
        return [self._check(body.get("embedding"))]

    def _cohere(self, texts: list[str], input_type: InputType) -> list[list[float]]:
        payload = {
            "texts": [text[:COHERE_MAX_CHARS] for text in texts],
            "input_type": input_type,
            "truncate": "END",
            "embedding_types": ["float"],
        }
        body, metadata = self._invoke(payload)
        self._count_tokens(body, metadata)
        embeddings = body.get("embeddings")
        if isinstance(embeddings, dict):
            embeddings = embeddings.get("float")
        if not isinstance(embeddings, list) or len(embeddings) != len(texts):
            got = len(embeddings) if isinstance(embeddings, list) else "no"
            raise EmbeddingShapeError(f"{self.model_id} returned {got} embeddings for {len(texts)} texts")
        return [self._check(vector) for vector in embeddings]
