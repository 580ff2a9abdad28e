"""Fusing the rankings of different retrievers: by rank (reciprocal rank fusion) or by normalised score.

Example:
    >>> from ragline.models import Chunk, SearchHit
    >>> a = SearchHit(Chunk("a", "d", "v", "t", "s", "T", ("r",), 0), 0.9)
    >>> b = SearchHit(Chunk("b", "d", "v", "t", "s", "T", ("r",), 1), 12.0)
    >>> [hit.chunk.chunk_id for hit in reciprocal_rank_fusion([[a, b], [b]])]
    ['b', 'a']
"""

from __future__ import annotations

from collections.abc import Sequence

from ragline.models import SearchHit

RRF_K = 60  # the constant of Cormack et al. (2009); dampens the weight of the very top ranks


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[SearchHit]],
    weights: Sequence[float] | None = None,
    k: int = RRF_K,
) -> list[SearchHit]:
    """Each hit scores ``sum(weight / (k + rank))`` over the rankings it appears in (rank from 1)."""
    weights = weights or [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[str, float] = {}
    first_seen: dict[str, SearchHit] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, hit in enumerate(ranking, start=1):
            chunk_id = hit.chunk.chunk_id
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
            first_seen.setdefault(chunk_id, hit)
    ordered = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))
    return [SearchHit(first_seen[chunk_id].chunk, scores[chunk_id]) for chunk_id in ordered]


def convex_combination(rankings: Sequence[Sequence[SearchHit]], weights: Sequence[float] | None = None) -> list[SearchHit]:
    """Each hit scores ``sum(weight * normalised score)``, scores min-max normalised per ranking and 0 where a
    ranking lacks the hit (Bruch et al., 2023, "An Analysis of Fusion Functions for Hybrid Retrieval").

    Unlike reciprocal rank fusion it keeps how far apart the scores are, not only their order.
    """
    weights = weights or [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[str, float] = {}
    first_seen: dict[str, SearchHit] = {}
    for ranking, weight in zip(rankings, weights):
        if not ranking:
            continue
        low = min(hit.score for hit in ranking)
        spread = max(hit.score for hit in ranking) - low
        for hit in ranking:
            chunk_id = hit.chunk.chunk_id
            normalised = (hit.score - low) / spread if spread > 0 else 1.0
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight * normalised
            first_seen.setdefault(chunk_id, hit)
    ordered = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))
    return [SearchHit(first_seen[chunk_id].chunk, scores[chunk_id]) for chunk_id in ordered]
