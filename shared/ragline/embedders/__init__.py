"""Embedders: adapters of the :class:`ragline.ports.Embedder` port.

- :mod:`ragline.embedders.hashing`: :class:`HashEmbedder`, deterministic feature hashing, pure stdlib.
  For tests and pipeline benchmarks; it matches words, not meaning.
- :mod:`ragline.embedders.local`: :class:`LocalEmbedder`, all-MiniLM-L6-v2 on onnxruntime, offline
  (the ``local`` extra).
- :mod:`ragline.embedders.bedrock`: :class:`BedrockEmbedder`, Titan Text Embeddings or Cohere Embed on
  Amazon Bedrock. Production.
- :mod:`ragline.embedders.cache`: :class:`CachedEmbedder`, an on-disk cache of document vectors in front
  of any of them (``ragline eval``).

Each adapter lives in its own module and imports its heavy dependencies itself, so importing this
package costs nothing.
"""
