"""Reranking with Amazon Bedrock's ``Rerank`` API (Amazon Rerank 1.0, Cohere Rerank 3.5).

The call goes through a ``bedrock-agent-runtime`` client (not ``bedrock-runtime``)::

    client.rerank(
        queries=[{"type": "TEXT", "textQuery": {"text": question}}],
        sources=[
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": passage}}},
            ...
        ],
        rerankingConfiguration={
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfResults": n,
                "modelConfiguration": {"modelArn": "arn:aws:bedrock:<region>::foundation-model/<model id>"},
            },
        },
    )
    # -> {"results": [{"index": 3, "relevanceScore": 0.91}, ...], "nextToken": "..." (optional)}

``index`` is the position of the passage in ``sources``; results come best first. The limits, from the
``bedrock-agent-runtime`` 2023-07-26 service model (``RerankRequest``) and the API reference:

* ``queries``: exactly one query;
* ``sources``: 1 to 1000 passages (:data:`MAX_SOURCES`);
* each text (query or passage): 1 to 32,000 characters (:data:`MAX_TEXT_CHARS`);
* ``numberOfResults``: 1 to 1000;
* the response may carry a ``nextToken``: the same request is sent again with it for the next page.

The models have their own, smaller context windows (Cohere Rerank 3.5: 4,096 tokens for query and
passage together) and truncate server-side; cutting at 32,000 characters only keeps the request valid.

Model availability (AWS docs, "Supported Regions and models for reranking"): ``amazon.rerank-v1:0`` in
ap-northeast-1, ca-central-1, eu-central-1 and us-west-2 (**not** us-east-1); ``cohere.rerank-v3-5:0`` in
those and us-east-1. The model ARN is built from ``region``, which should be the client's Region.

What the reranker reads is :meth:`~ragline.models.Chunk.indexed_text`: the title and heading path before the
text, as the embedder and BM25 saw it. A passage like "Managers approve it within five days" is only
relevant to "who approves parental leave?" once the reranker knows it sits under "Leave policy > Parental
leave"; a cross-encoder can use that context where the bare chunk text lacks it.

Throttling, 5xx and ``ServiceQuotaExceededException`` ("resubmit your request later") are retried as the
reranker's :class:`~ragline.retry.RetryPolicy` says (by default :data:`DEFAULT_RETRY`); when the attempts
run out a :class:`~ragline.errors.TransientError` is raised. Other errors (``ValidationException``,
``AccessDeniedException``, ``ResourceNotFoundException`` for a model not offered in the Region) propagate
unchanged at once.

Example:
    >>> import boto3
    >>> reranker = BedrockReranker(  # doctest: +SKIP
    ...     boto3.client("bedrock-agent-runtime", region_name="us-west-2"),
    ...     model_id="amazon.rerank-v1:0", region="us-west-2")
    >>> best = reranker.rerank("who approves parental leave?", hits, top_n=5)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ragline.errors import RaglineError
from ragline.models import SearchHit
from ragline.retry import RetryPolicy, error_code, is_retryable

DEFAULT_MODEL_ID = "amazon.rerank-v1:0"
#: Five attempts, at most about 3 s of waiting in all: reranking is on the path of a question.
DEFAULT_RETRY = RetryPolicy(attempts=5, base_delay=0.2)

#: Most passages one ``Rerank`` request takes (``RerankSourcesList`` max), and most results it returns.
MAX_SOURCES = 1000
#: Longest query or passage text, in characters (``RerankTextDocumentTextString`` max).
MAX_TEXT_CHARS = 32_000

#: Error codes of ``Rerank`` worth another try beyond :func:`ragline.retry.is_retryable`'s.
_EXTRA_RETRYABLE = frozenset({"ServiceQuotaExceededException"})


class RerankShapeError(RaglineError):
    """Bedrock answered, but not with results that fit the request (an index out of range)."""


def _retryable(exc: BaseException) -> bool:
    return is_retryable(exc) or error_code(exc) in _EXTRA_RETRYABLE


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def model_arn(model_id: str, region: str) -> str:
    """The foundation-model ARN the Rerank API wants; a full ARN passes through unchanged."""
    if model_id.startswith("arn:"):
        return model_id
    return f"arn:{_partition(region)}:bedrock:{region}::foundation-model/{model_id}"


class BedrockReranker:
    """A :class:`~ragline.ports.Reranker` backed by a Bedrock reranker model.

    ``max_documents`` caps how many hits are sent (the first ones, in the order given: the retriever's
    best); hits past it are dropped. It cannot exceed the API's 1000. Hits whose text is blank are not sent
    (the API rejects empty texts, and they cannot be relevant).
    """

    def __init__(
        self,
        client: Any,
        model_id: str = DEFAULT_MODEL_ID,
        region: str = "us-east-1",
        max_documents: int = MAX_SOURCES,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        if not 1 <= max_documents <= MAX_SOURCES:
            raise ValueError(f"max_documents must be between 1 and {MAX_SOURCES}, not {max_documents}")
        if not callable(getattr(client, "rerank", None)):
            raise TypeError(
                "client has no rerank(): pass a bedrock-agent-runtime client from a botocore that has "
                "the Rerank operation"
            )
        self.client = client
        self.model_id = model_id
        self.region = region
        self.model_arn = model_arn(model_id, region)
        self.name = f"bedrock:{model_id}"
        self.max_documents = max_documents
        self.retry = retry

    # -- the Reranker protocol ----------------------------------------------------------------------

    def rerank(self, question: str, hits: Sequence[SearchHit], top_n: int) -> list[SearchHit]:
        """The ``top_n`` most relevant of ``hits``, best first, scored with Bedrock's ``relevanceScore``."""
        if not question or not question.strip():
            raise ValueError("question must not be blank")
        candidates: list[SearchHit] = []
        texts: list[str] = []
        for hit in hits[: self.max_documents]:
            text = hit.chunk.indexed_text()[:MAX_TEXT_CHARS]
            if text.strip():
                candidates.append(hit)
                texts.append(text)
        if top_n < 1 or not candidates:
            return []
        wanted = min(top_n, len(candidates))
        results = self._results(question[:MAX_TEXT_CHARS], texts, wanted)

        ranked: list[tuple[float, int]] = []
        seen: set[int] = set()
        for result in results:
            index = result.get("index")
            if not isinstance(index, int) or not 0 <= index < len(candidates):
                raise RerankShapeError(f"{self.model_id} returned index {index!r} for {len(candidates)} passages")
            if index in seen:
                continue
            seen.add(index)
            ranked.append((float(result["relevanceScore"]), index))
        ranked.sort(key=lambda pair: pair[0], reverse=True)  # stable: ties keep the API's order
        return [SearchHit(chunk=candidates[i].chunk, score=score) for score, i in ranked[:wanted]]

    # -- internals ----------------------------------------------------------------------------------

    def _request(self, question: str, texts: list[str], wanted: int) -> dict[str, Any]:
        return {
            "queries": [{"type": "TEXT", "textQuery": {"text": question}}],
            "sources": [
                {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text}}}
                for text in texts
            ],
            "rerankingConfiguration": {
                "type": "BEDROCK_RERANKING_MODEL",
                "bedrockRerankingConfiguration": {
                    "numberOfResults": wanted,
                    "modelConfiguration": {"modelArn": self.model_arn},
                },
            },
        }

    def _results(self, question: str, texts: list[str], wanted: int) -> list[dict[str, Any]]:
        """Every result page of one request, until ``wanted`` results or no ``nextToken``."""
        request = self._request(question, texts, wanted)
        results: list[dict[str, Any]] = []
        tokens: set[str] = set()
        token: str | None = None
        while True:
            response = self._page(request, token)
            page = response.get("results") or []
            results.extend(page)
            token = response.get("nextToken")
            # Stop on the last page, once enough results are in, or if the service repeats a token or
            # sends an empty page (either would loop forever).
            if not token or len(results) >= wanted or token in tokens or not page:
                return results
            tokens.add(token)

    def _page(self, request: dict[str, Any], token: str | None) -> dict[str, Any]:
        """One ``Rerank`` call, with retries: the first page, or the one ``token`` names."""
        params = {**request, "nextToken": token} if token else request
        return self.retry.call(
            lambda: self.client.rerank(**params), _retryable, description=f"Bedrock Rerank on {self.model_id}"
        )
