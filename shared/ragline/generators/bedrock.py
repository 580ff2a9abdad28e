"""Answers written by an LLM on Amazon Bedrock, through the Converse API.

The prompt comes from :func:`ragline.generators.prompt.build_prompt`: the grounding rules go in the
``system`` field, the fenced sources and the question in one user message. The answer's ``cited`` numbers
are parsed from the model's ``[n]`` markers, keeping only sources that were in the prompt.

With no sources the model is not called: the answer is :data:`~ragline.generators.prompt.NO_ANSWER`.
Throttling and 5xx errors are retried (:class:`ragline.retry.RetryPolicy`), then raised as
:class:`~ragline.errors.TransientError`; other errors (``ValidationException``, ``AccessDeniedException``,
e.g. model access not granted) propagate as the original ``botocore.exceptions.ClientError``.

Example:
    >>> import boto3
    >>> generator = BedrockGenerator(
    ...     boto3.client("bedrock-runtime"), "anthropic.claude-3-haiku-20240307-v1:0"
    ... )  # doctest: +SKIP
    >>> generator.generate("How many days of leave?", hits).cited  # doctest: +SKIP
    [1]
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ragline.generators.prompt import (
    DEFAULT_MAX_PROMPT_TOKENS,
    NO_ANSWER,
    build_prompt,
    normalise_decline,
    parse_citations,
)
from ragline.models import Answer, SearchHit
from ragline.retry import RetryPolicy, is_retryable

#: Five attempts, at most about 3 s of waiting in all (0.2 + 0.4 + 0.8 + 1.6): a person is waiting.
DEFAULT_RETRY = RetryPolicy(attempts=5, base_delay=0.2)


class BedrockGenerator:
    """A :class:`~ragline.ports.Generator` calling ``converse`` on a ``bedrock-runtime`` client.

    The retry budget (:data:`DEFAULT_RETRY`) is smaller than the embedder's, because a person is waiting
    for the answer. ``input_tokens`` and ``output_tokens`` accumulate the
    usage Bedrock reports, for cost accounting.
    """

    def __init__(
        self,
        client: Any,
        model_id: str,
        max_tokens: int = 512,
        temperature: float = 0.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
    ) -> None:
        self.client = client
        self.model_id = model_id
        self.name = f"bedrock:{model_id}"
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.retry = retry
        self.max_prompt_tokens = max_prompt_tokens
        self.input_tokens = 0
        self.output_tokens = 0
        self._lock = threading.Lock()

    def generate(self, question: str, sources: Sequence[SearchHit]) -> Answer:
        """Answer ``question`` from ``sources`` (cited 1-based, in the order given)."""
        if not sources:
            return Answer(NO_ANSWER, cited=[], model=self.model_id)
        prompt = build_prompt(question, sources, max_tokens=self.max_prompt_tokens)

        def call() -> dict[str, Any]:
            return self.client.converse(
                modelId=self.model_id,
                system=[{"text": prompt.system}],
                messages=[{"role": "user", "content": [{"text": prompt.user}]}],
                inferenceConfig={"maxTokens": self.max_tokens, "temperature": self.temperature},
            )

        response = self.retry.call(call, is_retryable, description=f"Bedrock Converse on {self.model_id}")
        self._count_usage(response.get("usage") or {})
        # An empty reply (e.g. a content filter) declines; so does the decline sentence, however the model wraps it.
        text = normalise_decline(answer_text(response) or NO_ANSWER)
        cited = [] if text == NO_ANSWER else parse_citations(text, prompt.n_sources)
        return Answer(text, cited=cited, model=self.model_id)

    def complete(self, system: str, user: str) -> str:
        """One turn of chat on the same client and model, retried as :meth:`generate` is: ``system`` and one
        user message in, the reply's text out. This makes the generator a :class:`~ragline.ports.ChatModel`,
        which rewrites follow-up questions (:class:`ragline.rewriting.ModelQuestionRewriter`)."""

        def call() -> dict[str, Any]:
            return self.client.converse(
                modelId=self.model_id,
                system=[{"text": system}],
                messages=[{"role": "user", "content": [{"text": user}]}],
                inferenceConfig={"maxTokens": self.max_tokens, "temperature": self.temperature},
            )

        response = self.retry.call(call, is_retryable, description=f"Bedrock Converse on {self.model_id}")
        self._count_usage(response.get("usage") or {})
        return answer_text(response)

    def _count_usage(self, usage: dict[str, Any]) -> None:
        with self._lock:
            self.input_tokens += int(usage.get("inputTokens") or 0)
            self.output_tokens += int(usage.get("outputTokens") or 0)


def answer_text(response: dict[str, Any]) -> str:
    """The text blocks of a Converse response's output message, joined by newlines.

    >>> answer_text({"output": {"message": {"role": "assistant", "content": [{"text": "25 days [1]."}]}}})
    '25 days [1].'
    """
    content = response.get("output", {}).get("message", {}).get("content", [])
    parts = [block["text"].strip() for block in content if isinstance(block.get("text"), str)]
    return "\n".join(part for part in parts if part)
