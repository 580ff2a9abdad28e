"""Maximal marginal relevance: keep the most relevant passages, but not the same one twice.

Each pick maximises ``lambda * relevance - (1 - lambda) * max similarity to what was picked``
(Carbonell and Goldstein, 1998). Relevance is the hits' scores scaled to [0, 1]; similarity is the cosine
of the passages' term counts, which is what "near-duplicate" means for a reader and needs no vectors
(so it works the same over every store). ``lambda = 1`` keeps the ranking as it is.

Example:
    >>> from ragline.models import Chunk, SearchHit
    >>> def hit(i, text, score): return SearchHit(Chunk(i, "d", "v", text, "s", "T", ("r",), 0), score)
    >>> hits = [hit("a", "revenue grew 18%", 0.9), hit("b", "revenue grew 18%", 0.8), hit("c", "costs fell", 0.7)]
    >>> [h.chunk.chunk_id for h in maximal_marginal_relevance(hits, top_k=2, lambda_=0.5)]
    ['a', 'c']
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ragline.models import SearchHit
from ragline.words import terms


class TermBag:
    """A passage's term counts with their norm, computed once: MMR compares each pick with every candidate.
    :meth:`cosine` is what "near-duplicate" means here (1 for the same words in the same proportions)."""

    __slots__ = ("counts", "norm")

    def __init__(self, text: str) -> None:
        self.counts = Counter(terms(text))
        self.norm = math.sqrt(sum(c * c for c in self.counts.values()))

    def cosine(self, other: TermBag) -> float:
        if not self.norm or not other.norm:
            return 0.0
        mine, theirs = self.counts, other.counts
        # The shared terms by a set intersection (in C), then an integer sum: exact in any order.
        dot = sum(mine[term] * theirs[term] for term in mine.keys() & theirs.keys())
        return dot / (self.norm * other.norm)


def _scaled(scores: Sequence[float]) -> list[float]:
    low, high = min(scores), max(scores)
    if high == low:
        return [1.0] * len(scores)
    return [(score - low) / (high - low) for score in scores]


@dataclass(frozen=True)
class PassedOver:
    """At pick ``step`` (from 1) MMR took another hit instead of ``candidate``, the most relevant one left,
    because of its ``similarity`` to ``near_duplicate_of``, picked before it. Both are indexes into the hits."""

    step: int
    candidate: int
    near_duplicate_of: int
    similarity: float


@dataclass
class MmrTrace:
    """What one run of MMR did, for explanations: the indexes it ``picked`` (in pick order) and each hit it
    ``passed_over`` for being a near-duplicate, the first time it was (a hit passed over may be picked later)."""

    picked: list[int] = field(default_factory=list)
    passed_over: list[PassedOver] = field(default_factory=list)


def maximal_marginal_relevance(
    hits: Sequence[SearchHit], top_k: int, lambda_: float, trace: MmrTrace | None = None
) -> list[SearchHit]:
    """``top_k`` of ``hits`` (best first), traded off between relevance and novelty by ``lambda_`` in [0, 1].

    ``trace``, when given, records the picks and the hits passed over (:class:`MmrTrace`)."""
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError(f"MMR lambda must be within [0, 1], got {lambda_}")
    if lambda_ == 1.0 or len(hits) <= 1:
        if trace is not None:
            trace.picked = list(range(min(top_k, len(hits))))
        return list(hits[:top_k])
    relevance = _scaled([hit.score for hit in hits])
    bags = [TermBag(hit.chunk.text) for hit in hits]
    remaining = list(range(len(hits)))
    redundancy = [0.0] * len(hits)  # max similarity of each remaining hit to the picked ones
    nearest = [-1] * len(hits)  # the picked hit that similarity is to
    picked: list[int] = []
    while remaining and len(picked) < top_k:
        best = max(remaining, key=lambda i: (lambda_ * relevance[i] - (1 - lambda_) * redundancy[i], -i))
        if trace is not None:
            _trace_step(trace, len(picked) + 1, best, remaining, relevance, redundancy, nearest)
        picked.append(best)
        remaining.remove(best)
        for i in remaining:
            similarity = bags[i].cosine(bags[best])
            if similarity > redundancy[i]:
                redundancy[i] = similarity
                nearest[i] = best
    if trace is not None:
        trace.picked = picked
    return [hits[i] for i in picked]


def _trace_step(
    trace: MmrTrace,
    step: int,
    best: int,
    remaining: list[int],
    relevance: list[float],
    redundancy: list[float],
    nearest: list[int],
) -> None:
    """Record the most relevant hit left if MMR passes it over at this step for its similarity to a pick."""
    most_relevant = max(remaining, key=lambda i: (relevance[i], -i))
    if most_relevant == best or redundancy[most_relevant] <= 0.0:
        return
    if any(passed.candidate == most_relevant for passed in trace.passed_over):
        return
    trace.passed_over.append(PassedOver(step, most_relevant, nearest[most_relevant], redundancy[most_relevant]))
