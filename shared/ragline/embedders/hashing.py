"""A deterministic, dependency-free embedder: signed feature hashing of words and word pairs.

Every term of :func:`ragline.words.terms` (lower-cased words without stopwords) and every pair of
adjacent terms is hashed with blake2b to one of ``dimension`` buckets and a sign (+1 or -1); the
counts are summed and the vector is L2-normalised. Texts that share words get a positive cosine
similarity, texts that share none get one close to zero, and the same text always gets the same
vector, in any process, on any machine (no ``PYTHONHASHSEED`` involved).

It knows nothing about meaning ("car" and "automobile" are unrelated), so it is for tests, pipeline
benchmarks and the smallest deployments, not for retrieval quality.

    >>> embedder = HashEmbedder(dimension=64)
    >>> vector = embedder.embed_query("Quarterly revenue grew")
    >>> len(vector), round(sum(x * x for x in vector), 6)
    (64, 1.0)
    >>> embedder.embed_query("") == [0.0] * 64
    True
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from functools import lru_cache

from ragline.words import terms

__all__ = ["HashEmbedder"]

_BIGRAM_WEIGHT = 0.5
"""Weight of a pair of adjacent terms relative to a single term: pairs add word order, words dominate."""


@lru_cache(maxsize=65536)
def _slot(feature: str, dimension: int) -> tuple[int, float]:
    """The bucket and sign of a feature: 8 bytes of blake2b, the top bit for the sign."""
    digest = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "big")
    sign = -1.0 if digest >> 63 else 1.0
    return (digest & 0x7FFF_FFFF_FFFF_FFFF) % dimension, sign


class HashEmbedder:
    """Feature-hashing embedder implementing :class:`ragline.ports.Embedder`.

    Documents and queries are embedded the same way. An empty text (or one of stopwords only) gives the
    zero vector, which has cosine 0 with everything.
    """

    name: str = "hash"

    def __init__(self, dimension: int = 384) -> None:
        if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension < 1:
            raise ValueError(f"dimension must be a positive integer, got {dimension!r}")
        self.dimension: int = dimension

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)

    def _embed(self, text: str) -> list[float]:
        dimension = self.dimension
        vector = [0.0] * dimension
        words = terms(text)
        for word in words:
            bucket, sign = _slot(word, dimension)
            vector[bucket] += sign
        # Terms are \w+ runs, so a space cannot occur inside one: "a b" never collides with a unigram.
        for first, second in itertools.pairwise(words):
            bucket, sign = _slot(f"{first} {second}", dimension)
            vector[bucket] += sign * _BIGRAM_WEIGHT
        norm = math.sqrt(math.fsum(x * x for x in vector))
        if norm == 0.0:
            return vector
        return [x / norm for x in vector]

    def __repr__(self) -> str:
        return f"HashEmbedder(dimension={self.dimension})"
