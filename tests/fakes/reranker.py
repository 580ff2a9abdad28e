"""FakeReranker: the Reranker port, ordering by scores the test gives it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ragline.models import SearchHit


class FakeReranker:
    """Scores each hit by ``scores[chunk_id]`` (0 for a chunk it was not given), best first, ties in the
    order the hits came; returns at most ``top_n``. Every call's question and hits are kept in :attr:`calls`.

    >>> from ragline.models import Chunk
    >>> def hit(chunk_id): return SearchHit(Chunk(chunk_id, "d", "v", "t", "s", "T", ("r",), 0), 0.5)
    >>> reranker = FakeReranker({"b": 2.0})
    >>> [(h.chunk.chunk_id, h.score) for h in reranker.rerank("q", [hit("a"), hit("b"), hit("c")], top_n=2)]
    [('b', 2.0), ('a', 0.0)]
    """

    def __init__(self, scores: Mapping[str, float] | None = None) -> None:
        self.scores = dict(scores or {})
        self.calls: list[tuple[str, list[SearchHit]]] = []

    def rerank(self, question: str, hits: Sequence[SearchHit], top_n: int) -> list[SearchHit]:
        self.calls.append((question, list(hits)))
        scored = [SearchHit(hit.chunk, self.scores.get(hit.chunk.chunk_id, 0.0)) for hit in hits]
        return sorted(scored, key=lambda hit: -hit.score)[:top_n]
