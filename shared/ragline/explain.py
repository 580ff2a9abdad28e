"""Explanations on demand: how each result of a retrieval got where it is (``"explain": true``).

:class:`~ragline.query.QueryService` fills a :class:`RetrievalTrace` while it retrieves, only when asked
(the default path records nothing), and :func:`explain` turns the trace into one :class:`Explanation`
per result: its rank and score in each search that ran, its fused score and each search's part of it
(the parts :mod:`ragline.fusion` summed, not a second computation), the reranker's score and the move it
caused, what MMR did with it, the caller's roles that admitted it, and where the question's terms occur
in its text.

What an explanation may say (docs/security.md, "Explanations"): only what the caller's own results
already determine. Every rank is a position in a list the store returned *after* the role filter, which
runs inside each search (the k-NN and BM25 searches of both stores take the caller's roles and pick their
best ``k`` among visible chunks only), so no position counts a hidden chunk. No count of what was filtered
out, no raw BM25 score (the lexical score here is min-max normalised over the caller's own lexical
results, as the fusion uses it; both stores weigh BM25 with the caller's statistics only), no role of a
chunk beyond those the caller holds, and no chunk the caller may not see, even as a near-duplicate MMR
dropped.

Example:
    >>> matched_spans("Revenue grew; revenue is up.", "What was revenue?")
    (Span(start=0, end=7, term='revenue'), Span(start=14, end=21, term='revenue'))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ragline.access import can_see
from ragline.fusion import RRF_K, Contributions, min_max
from ragline.mmr import MmrTrace
from ragline.models import SearchHit
from ragline.settings import Fusion
from ragline.words import WORD, terms

SearchName = Literal["dense", "lexical"]


@dataclass(frozen=True)
class SearchRank:
    """Where a result stood in one search: ``rank`` from 1 among the caller's own results of that search,
    and its ``score`` there (dense: the cosine similarity; lexical: the BM25 score min-max normalised over
    the caller's own lexical results). Both None when that search did not return it."""

    rank: int | None
    score: float | None


@dataclass(frozen=True)
class FusionPart:
    """One search's part of a fused score: ``contribution = weight * value``, where ``value`` is the
    normalised score (convex) or ``1 / (k + rank)`` (rrf), 0 when the search did not return the result."""

    search: SearchName
    weight: float
    value: float
    contribution: float


@dataclass(frozen=True)
class FusionStep:
    """The fused ``score``, the sum of the ``parts`` (one per search that ran); ``rrf_k`` for rrf only."""

    method: Fusion
    score: float
    parts: tuple[FusionPart, ...]
    rrf_k: int | None = None


@dataclass(frozen=True)
class RerankStep:
    """The reranker's ``score`` (None: past the shortlist, so not reranked) and the result's rank in the
    fused list before and after reranking, from 1."""

    score: float | None
    rank_before: int
    rank_after: int


@dataclass(frozen=True)
class NearDuplicate:
    """Another of the caller's passages, as near-duplicate of this one as ``similarity`` (the cosine of
    their term counts) at MMR's pick ``step``. ``result``: its number among the results, None if MMR
    dropped it."""

    chunk_id: str
    doc_id: str
    title: str
    result: int | None
    similarity: float
    step: int


@dataclass(frozen=True)
class MmrStep:
    """What MMR did: ``considered`` (it picks from the shortlist only; past it the order stands), the pick
    ``step`` that kept the result (from 1), the pick it was passed over for at first (``passed_over``:
    the earlier pick it was too similar to), and the passages it ``displaced`` as their near-duplicate."""

    considered: bool
    step: int | None
    mmr_lambda: float
    passed_over: NearDuplicate | None = None
    displaced: tuple[NearDuplicate, ...] = ()


@dataclass(frozen=True)
class Span:
    """``text[start:end]`` is a word of the returned passage that is one of the question's terms."""

    start: int
    end: int
    term: str


@dataclass(frozen=True)
class Explanation:
    """How one result got where it is. A stage that the ``mode`` did not run is None."""

    mode: str
    admitted_by: tuple[str, ...]  # the caller's roles that the chunk's roles include
    dense: SearchRank | None
    lexical: SearchRank | None
    fusion: FusionStep | None
    rerank: RerankStep | None
    mmr: MmrStep
    matches: tuple[Span, ...]


@dataclass
class RetrievalTrace:
    """What one retrieval did, stage by stage, as :class:`~ragline.query.QueryService` records it."""

    mode: str
    mmr_lambda: float
    searches: list[tuple[SearchName, list[SearchHit]]] = field(default_factory=list)  # as each search returned
    fusion: Fusion | None = None  # None: one ranking, not fused (dense mode)
    contributions: Contributions = field(default_factory=dict)
    fused: list[SearchHit] = field(default_factory=list)
    reranked: list[SearchHit] | None = None  # the fused list with its head reranked, when the mode reranks
    rerank_head: int = 0  # how many of ``reranked`` the reranker scored
    mmr_pool: list[SearchHit] = field(default_factory=list)  # the shortlist MMR picked from
    mmr: MmrTrace = field(default_factory=MmrTrace)


def explain(
    trace: RetrievalTrace, results: Sequence[SearchHit], question: str, roles: frozenset[str]
) -> list[Explanation]:
    """One explanation per result, in the results' order (numbered from 1)."""
    numbers = {hit.chunk.chunk_id: number for number, hit in enumerate(results, 1)}
    searches = {name: _search_ranks(name, ranking) for name, ranking in trace.searches}
    fused_scores = {hit.chunk.chunk_id: hit.score for hit in trace.fused}
    mmr = _MmrOutcomes(trace, numbers, roles)
    wanted = frozenset(terms(question))
    return [
        Explanation(
            mode=trace.mode,
            admitted_by=tuple(sorted(roles.intersection(hit.chunk.roles))),
            dense=searches["dense"].get(hit.chunk.chunk_id, _ABSENT) if "dense" in searches else None,
            lexical=searches["lexical"].get(hit.chunk.chunk_id, _ABSENT) if "lexical" in searches else None,
            fusion=_fusion_step(trace, hit.chunk.chunk_id, fused_scores),
            rerank=_rerank_step(trace, hit.chunk.chunk_id),
            mmr=mmr.of(hit.chunk.chunk_id),
            matches=_spans(hit.chunk.passage(), wanted),
        )
        for hit in results
    ]


def matched_spans(text: str, question: str) -> tuple[Span, ...]:
    """The words of ``text`` that are terms of ``question`` (:func:`ragline.words.terms`: lower-cased, no
    stopwords; the terms the BM25 search is asked for). A store that stems (FTS5's porter) may also have
    matched other forms of them, which are not marked."""
    return _spans(text, frozenset(terms(question)))


_ABSENT = SearchRank(rank=None, score=None)


def _spans(text: str, wanted: frozenset[str]) -> tuple[Span, ...]:
    found = ((match, match.group().lower()) for match in WORD.finditer(text))
    return tuple(Span(match.start(), match.end(), term) for match, term in found if term in wanted)


def _search_ranks(name: SearchName, ranking: list[SearchHit]) -> dict[str, SearchRank]:
    """Rank and score of each hit of one search. The ranking is what the store returned, already filtered
    by role inside the search (both stores), so a rank counts only chunks the caller may see."""
    scores = min_max(ranking) if name == "lexical" else [hit.score for hit in ranking]
    return {
        hit.chunk.chunk_id: SearchRank(rank=rank, score=score)
        for rank, (hit, score) in enumerate(zip(ranking, scores, strict=True), 1)
    }


def _fusion_step(trace: RetrievalTrace, chunk_id: str, fused_scores: dict[str, float]) -> FusionStep | None:
    if trace.fusion is None:
        return None
    names = [name for name, _ in trace.searches]
    parts = tuple(
        FusionPart(search=name, weight=part.weight, value=part.value, contribution=part.amount)
        for name, part in zip(names, trace.contributions[chunk_id], strict=True)
    )
    rrf_k = RRF_K if trace.fusion == "rrf" else None
    return FusionStep(method=trace.fusion, score=fused_scores[chunk_id], parts=parts, rrf_k=rrf_k)


def _rerank_step(trace: RetrievalTrace, chunk_id: str) -> RerankStep | None:
    if trace.reranked is None:
        return None
    before = next(rank for rank, hit in enumerate(trace.fused, 1) if hit.chunk.chunk_id == chunk_id)
    after, hit = next((rank, hit) for rank, hit in enumerate(trace.reranked, 1) if hit.chunk.chunk_id == chunk_id)
    score = hit.score if after <= trace.rerank_head else None
    return RerankStep(score=score, rank_before=before, rank_after=after)


class _MmrOutcomes:
    """MMR's picks and near-duplicates by chunk id, naming only passages the caller may see."""

    def __init__(self, trace: RetrievalTrace, numbers: dict[str, int], roles: frozenset[str]) -> None:
        self.mmr_lambda = trace.mmr_lambda
        pool = trace.mmr_pool
        self.steps = {pool[index].chunk.chunk_id: step for step, index in enumerate(trace.mmr.picked, 1)}
        self.considered = {hit.chunk.chunk_id for hit in pool}
        self.passed_over: dict[str, NearDuplicate] = {}
        self.displaced: dict[str, list[NearDuplicate]] = {}
        for passed in trace.mmr.passed_over:
            candidate, near = pool[passed.candidate], pool[passed.near_duplicate_of]
            # The store filtered both searches, and the results are checked again after MMR; a passage that
            # never reaches the results is checked here, so an explanation cannot name what the caller may not see.
            if not (can_see(candidate.chunk.roles, roles) and can_see(near.chunk.roles, roles)):
                continue
            self.passed_over[candidate.chunk.chunk_id] = _near(near, numbers, passed.similarity, passed.step)
            self.displaced.setdefault(near.chunk.chunk_id, []).append(
                _near(candidate, numbers, passed.similarity, passed.step)
            )

    def of(self, chunk_id: str) -> MmrStep:
        return MmrStep(
            considered=chunk_id in self.considered,
            step=self.steps.get(chunk_id),
            mmr_lambda=self.mmr_lambda,
            passed_over=self.passed_over.get(chunk_id),
            displaced=tuple(self.displaced.get(chunk_id, ())),
        )


def _near(hit: SearchHit, numbers: dict[str, int], similarity: float, step: int) -> NearDuplicate:
    chunk = hit.chunk
    return NearDuplicate(chunk.chunk_id, chunk.doc_id, chunk.title, numbers.get(chunk.chunk_id), similarity, step)
