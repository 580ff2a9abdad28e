"""Rerankers: adapters of the :class:`ragline.ports.Reranker` port.

- :mod:`ragline.rerankers.bedrock`: :class:`BedrockReranker`, the Bedrock ``Rerank`` API
  (Amazon Rerank 1.0, Cohere Rerank 3.5) through a ``bedrock-agent-runtime`` client.
- :mod:`ragline.rerankers.proximity`: :class:`ProximityReranker`, local and model-free: term proximity
  and coverage added to the fused scores.

Each adapter lives in its own module and imports its dependencies itself, so importing this package
costs nothing.
"""
