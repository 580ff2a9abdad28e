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
from dataclasses import dataclass

from ragline.models import SearchHit

RRF_K = 60  # the constant of Cormack et al. (2009); dampens the weight of the very top ranks


@dataclass(frozen=True)
class Contribution:
    """One ranking's part of a hit's fused score: ``weight * value``, where ``value`` is the hit's min-max
    normalised score in that ranking (convex) or ``1 / (k + rank)`` (RRF), and 0 where the ranking lacks it.
    ``rank`` is the hit's position in that ranking, from 1 (None where it lacks the hit)."""

    rank: int | None
    value: float
    weight: float

    @property
    def amount(self) -> float:
        """What this ranking added to the fused score."""
        return self.weight * self.value


#: The parts of each fused hit's score, by chunk id: one :class:`Contribution` per ranking, in the order of
#: the rankings. A caller that wants them passes an empty dict as ``contributions``; the fusion fills it.
Contributions = dict[str, list[Contribution]]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[SearchHit]],
    weights: Sequence[float] | None = None,
    k: int = RRF_K,
    contributions: Contributions | None = None,
) -> list[SearchHit]:
    """Each hit scores ``sum(weight / (k + rank))`` over the rankings it appears in (rank from 1).

    ``contributions``, when given, receives the parts of every score (:data:`Contributions`)."""
    return _fuse(
        rankings,
        weights,
        lambda ranking: [1.0 / (k + rank) for rank in range(1, len(ranking) + 1)],
        contributions,
    )


def convex_combination(
    rankings: Sequence[Sequence[SearchHit]],
    weights: Sequence[float] | None = None,
    contributions: Contributions | None = None,
) -> list[SearchHit]:
    """Each hit scores ``sum(weight * normalised score)``, scores min-max normalised per ranking and 0 where a
    ranking lacks the hit (Bruch et al., 2023, "An Analysis of Fusion Functions for Hybrid Retrieval").

    Unlike reciprocal rank fusion it keeps how far apart the scores are, not only their order.
    ``contributions``, when given, receives the parts of every score (:data:`Contributions`).
    """
    return _fuse(rankings, weights, min_max, contributions)


def min_max(ranking: Sequence[SearchHit]) -> list[float]:
    """The ranking's scores scaled to [0, 1] over the ranking itself (all 1.0 when they are equal).

    >>> from ragline.models import Chunk
    >>> def hit(score): return SearchHit(Chunk("c", "d", "v", "t", "s", "T", ("r",), 0), score)
    >>> min_max([hit(12.0), hit(8.0), hit(2.0)])
    [1.0, 0.6, 0.0]
    """
    if not ranking:
        return []
    low = min(hit.score for hit in ranking)
    spread = max(hit.score for hit in ranking) - low
    return [(hit.score - low) / spread if spread > 0 else 1.0 for hit in ranking]


def _fuse(
    rankings: Sequence[Sequence[SearchHit]],
    weights: Sequence[float] | None,
    values: Callable[[Sequence[SearchHit]], list[float]],
    contributions: Contributions | None = None,
) -> list[SearchHit]:
    """Sum each hit's weighted values over the rankings; best first, ties by chunk id. The parts are kept
    only when ``contributions`` is given: the default path builds nothing it does not return."""
    weights = weights or [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[str, float] = {}
    first_seen: dict[str, SearchHit] = {}
    found: list[dict[str, Contribution]] = []  # per ranking, by chunk id: kept only if asked for
    for ranking, weight in zip(rankings, weights, strict=True):
        ranking_values = values(ranking)
        for hit, value in zip(ranking, ranking_values, strict=True):
            chunk_id = hit.chunk.chunk_id
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight * value
            first_seen.setdefault(chunk_id, hit)
        if contributions is not None:
            found.append(_parts(ranking, ranking_values, weight))
    if contributions is not None:
        for chunk_id in scores:
            # A ranking that lacks the hit adds nothing: 0.0, as in the sum above.
            contributions[chunk_id] = [
                in_ranking.get(chunk_id, Contribution(None, 0.0, weight))
                for in_ranking, weight in zip(found, weights, strict=True)
            ]
    ordered = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))
    return [SearchHit(first_seen[chunk_id].chunk, scores[chunk_id]) for chunk_id in ordered]


def _parts(ranking: Sequence[SearchHit], values: list[float], weight: float) -> dict[str, Contribution]:
    """Each hit's contribution in one ranking, from the values the fused scores were summed from."""
    return {
        hit.chunk.chunk_id: Contribution(rank, value, weight)
        for rank, (hit, value) in enumerate(zip(ranking, values, strict=True), 1)
    }
