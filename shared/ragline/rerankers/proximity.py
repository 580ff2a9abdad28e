"""A local reranker that needs no model: term proximity and coverage over the fused head.

BM25 and the embedder both treat a passage as a bag: BM25 of words, the embedder of everything at once.
Neither sees that the question's words stand *together* in a passage ("the Norman conquest of England"
as a phrase, not "Norman" in one paragraph and "England" in another). This reranker adds two signals to
each candidate's fused score, both in [0, 1]:

- **proximity**: the share of the question's adjacent word pairs that appear in the passage in order,
  at most :data:`WINDOW` words apart: the ordered-window feature of the sequential dependence model
  (Metzler and Croft, 2005, "A Markov Random Field Model for Term Dependencies");
- **coverage**: the share of the question's distinct words that the passage has at all, which rewards a
  passage that answers the whole question over one that repeats half of it.

The fused scores are min-max scaled over the head first, so the weights mean the same whatever the fusion.
Words are compared lower-cased, without stopwords, after stripping a few common English suffixes (plurals
and verb forms; a light stand-in for the Porter stemmer BM25 uses, with nothing to ship to Lambda).

The weights were chosen on the tuning half of SciFact's and SQuAD's queries together and checked on the
other half (``benchmarks/tune_rerank.py``, ``docs/quality.md``).

Example:
    >>> from ragline.models import Chunk, SearchHit
    >>> def hit(i, text, score): return SearchHit(Chunk(i, "d", "v", text, "s", "", ("r",), 0), score)
    >>> hits = [hit("apart", "England was conquered; the Normans came later.", 0.9),
    ...         hit("together", "The Norman conquest of England began in 1066.", 0.85),
    ...         hit("off", "Tides follow the moon.", 0.1)]
    >>> [h.chunk.chunk_id for h in ProximityReranker().rerank("When was the Norman conquest of England?", hits, 3)]
    ['together', 'apart', 'off']
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import lru_cache

from ragline.models import SearchHit
from ragline.words import STOPWORDS, WORD, terms

WINDOW = 2  # an adjacent pair counts when the second word follows the first within this many words
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "es", "s", "ed", "ly")


@lru_cache(maxsize=65536)  # a warm Lambda sees the same words again and again
def stem(word: str) -> str:
    """``word`` without one common suffix, if at least three letters stay: "conquests" -> "conquest"."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _words(text: str) -> list[str]:
    return [stem(word) for word in terms(text)]


def proximity_features(question_words: Sequence[str], passage: str) -> tuple[float, float]:
    """``(coverage, proximity)`` of a passage for a question's (stemmed) words, each in [0, 1]."""
    if not question_words:
        return 0.0, 0.0
    wanted = set(question_words)
    positions: dict[str, list[int]] = {}
    position = 0
    for word in WORD.findall(passage.lower()):  # terms() inlined: this loop is the reranker's whole cost
        if word in STOPWORDS:
            continue
        stemmed = stem(word)
        if stemmed in wanted:
            positions.setdefault(stemmed, []).append(position)
        position += 1
    coverage = sum(1 for word in wanted if word in positions) / len(wanted)
    pairs = list(itertools.pairwise(question_words))
    if not pairs:
        return coverage, coverage  # a one-word question: being there is all the proximity there is
    close = 0
    for first, second in pairs:
        after = positions.get(second)
        if after and any(0 < later - earlier <= WINDOW for earlier in positions.get(first, ()) for later in after):
            close += 1
    return coverage, close / len(pairs)


class ProximityReranker:
    """:class:`ragline.ports.Reranker` scoring ``scaled fused score + coverage_weight * coverage +
    proximity_weight * proximity``; ties keep the incoming order. Pure Python, no model (its share of a
    query's time is in ``docs/performance.md``)."""

    name = "proximity"

    def __init__(self, coverage_weight: float = 0.2, proximity_weight: float = 0.4) -> None:
        if coverage_weight < 0 or proximity_weight < 0:
            raise ValueError("reranker weights must not be negative")
        self.coverage_weight = coverage_weight
        self.proximity_weight = proximity_weight

    def rerank(self, question: str, hits: Sequence[SearchHit], top_n: int) -> list[SearchHit]:
        if not hits or top_n <= 0:
            return []
        question_words = _words(question)
        low = min(hit.score for hit in hits)
        spread = max(hit.score for hit in hits) - low
        scored: list[tuple[float, int, SearchHit]] = []
        for rank, hit in enumerate(hits):
            coverage, proximity = proximity_features(question_words, hit.chunk.indexed_text())
            base = (hit.score - low) / spread if spread > 0 else 1.0
            score = base + self.coverage_weight * coverage + self.proximity_weight * proximity
            scored.append((score, rank, hit))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [SearchHit(hit.chunk, score) for score, _, hit in scored[:top_n]]
