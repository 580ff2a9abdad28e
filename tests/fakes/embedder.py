"""FakeEmbedder: the Embedder port as bag-of-words vectors, keeping what it embedded."""

from __future__ import annotations

from collections.abc import Sequence

from ragline.words import terms


class FakeEmbedder:
    """One axis per term (:func:`ragline.words.terms`: lower case, no stopwords), given in the order terms
    are first seen and shared round once there are more than ``dimension``: texts with words in common are
    near, texts without are orthogonal. Every text embedded is kept, documents and queries apart.

    >>> embedder = FakeEmbedder(dimension=4)
    >>> embedder.embed_documents(["solar output", "solar"])
    [[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    >>> embedder.embed_query("wind"), embedder.documents
    ([0.0, 0.0, 1.0, 0.0], ['solar output', 'solar'])
    """

    name = "fake"

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension
        self.documents: list[str] = []
        self.queries: list[str] = []
        self._axes: dict[str, int] = {}

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.documents.extend(texts)
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return self._vector(text)

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimension
        for term in terms(text):
            vector[self._axes.setdefault(term, len(self._axes) % self.dimension)] += 1.0
        return vector
