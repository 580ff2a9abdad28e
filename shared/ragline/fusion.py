"""Fusing the rankings of different retrievers: by rank (reciprocal rank fusion) or by normalised score.

Example:
    >>> from ragline.models import Chunk, SearchHit
    >>> a = SearchHit(Chunk("a", "d", "v", "t", "s", "T", ("r",), 0), 0.9)
    >>> b = SearchHit(Chunk("b", "d", "v", "t", "s", "T", ("r",), 1), 12.0)
    >>> [hit.chunk.chunk_id for hit in reciprocal_rank_fusion([[a, b], [b]])]
    ['b', 'a']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ragline.models import SearchHit

RRF_K = 60  # the constant of Cormack et al. (2009); dampens the weight of the very top ranks


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[SearchHit]],
    weights: Sequence[float] | None = None,
    k: int = RRF_K,
) -> list[SearchHit]:
    """Each hit scores ``sum(weight / (k + rank))`` over the rankings it appears in (rank from 1)."""
    return _fuse(rankings, weights, lambda ranking: [1.0 / (k + rank) for rank in range(1, len(ranking) + 1)])


def convex_combination(
    rankings: Sequence[Sequence[SearchHit]], weights: Sequence[float] | None = None
) -> list[SearchHit]:
    """Each hit scores ``sum(weight * normalised score)``, scores min-max normalised per ranking and 0 where a
    ranking lacks the hit (Bruch et al., 2023, "An Analysis of Fusion Functions for Hybrid Retrieval").

    Unlike reciprocal rank fusion it keeps how far apart the scores are, not only their order.
    """
    return _fuse(rankings, weights, _min_max)


def _min_max(ranking: Sequence[SearchHit]) -> list[float]:
    if not ranking:
        return []
    low = min(hit.score for hit in ranking)
    spread = max(hit.score for hit in ranking) - low
    return [(hit.score - low) / spread if spread > 0 else 1.0 for hit in ranking]


def _fuse(
    rankings: Sequence[Sequence[SearchHit]],
    weights: Sequence[float] | None,
    contributions: Callable[[Sequence[SearchHit]], list[float]],
) -> list[SearchHit]:
    """Sum each hit's weighted contributions over the rankings; best first, ties by chunk id."""
    weights = weights or [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[str, float] = {}
    first_seen: dict[str, SearchHit] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for hit, value in zip(ranking, contributions(ranking), strict=True):
            chunk_id = hit.chunk.chunk_id
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight * value
            first_seen.setdefault(chunk_id, hit)
    ordered = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))
    return [SearchHit(first_seen[chunk_id].chunk, scores[chunk_id]) for chunk_id in ordered]
