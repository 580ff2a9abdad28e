"""Ranking metrics as trec_eval (and so BEIR, which calls it through pytrec_eval) defines them. Pure Python.

A *ranking* is a query's retrieved document ids, best first; a document listed twice counts at its first
place only. *Judgements* map document ids to graded relevance (an int); a document is relevant when its
grade is above 0, and a document without a judgement has grade 0.

- nDCG@k: ``DCG@k / IDCG@k`` with ``DCG@k = sum(grade_i / log2(i + 1))`` over ranks ``i`` from 1 to ``k``
  (linear gains, as trec_eval's ``ndcg_cut``), the ideal ranking being the judgements sorted by grade;
  0 when no document is relevant.
- recall@k: the share of the relevant documents found in the first ``k``; 0 when none is relevant.
- MRR@k: ``1 / rank`` of the first relevant document within the first ``k``, else 0 (trec_eval's
  ``recip_rank`` cut at ``k``).

The mean over queries counts every judged query; one with no ranking scores 0.

    >>> judgements = {"d1": 2, "d2": 1}
    >>> ndcg_at_k(["d1", "d2", "d3"], judgements, 10)
    1.0
    >>> round(ndcg_at_k(["d3", "d1"], judgements, 10), 4)
    0.4796
    >>> recall_at_k(["d3", "d1"], judgements, 1), recall_at_k(["d3", "d1"], judgements, 2)
    (0.0, 0.5)
    >>> mrr_at_k(["d3", "d2"], judgements, 10)
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_METRICS", "MetricScores", "evaluate_run", "mrr_at_k", "ndcg_at_k", "parse_metric", "recall_at_k"]

Judgements = Mapping[str, int]


def _first_k(ranking: Iterable[str], k: int) -> list[str]:
    """The first ``k`` distinct document ids of a ranking."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    seen: dict[str, None] = {}
    for doc_id in ranking:
        if doc_id not in seen:
            seen[doc_id] = None
            if len(seen) == k:
                break
    return list(seen)


def _dcg(gains: Iterable[float]) -> float:
    return math.fsum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def ndcg_at_k(ranking: Sequence[str], judgements: Judgements, k: int) -> float:
    """Normalised discounted cumulative gain of the first ``k`` (graded gains, log2 discount)."""
    top = _first_k(ranking, k)
    ideal = _dcg(sorted((grade for grade in judgements.values() if grade > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return _dcg(max(judgements.get(doc_id, 0), 0) for doc_id in top) / ideal


def recall_at_k(ranking: Sequence[str], judgements: Judgements, k: int) -> float:
    """Share of the relevant documents (grade > 0) among the first ``k``."""
    relevant = {doc_id for doc_id, grade in judgements.items() if grade > 0}
    if not relevant:
        return 0.0
    return sum(1 for doc_id in _first_k(ranking, k) if doc_id in relevant) / len(relevant)


def mrr_at_k(ranking: Sequence[str], judgements: Judgements, k: int) -> float:
    """Reciprocal rank of the first relevant document (grade > 0) among the first ``k``, else 0."""
    for rank, doc_id in enumerate(_first_k(ranking, k), start=1):
        if judgements.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


_METRICS = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k}


def parse_metric(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; raises ``ValueError`` for anything else.

    >>> parse_metric("recall@100")
    ('recall', 100)
    """
    family, _, cutoff = name.partition("@")
    if family not in _METRICS or not cutoff.isdigit() or int(cutoff) < 1:
        raise ValueError(f"unknown metric {name!r}: use ndcg@K, recall@K or mrr@K")
    return family, int(cutoff)


@dataclass(frozen=True)
class MetricScores:
    """Each metric's score per query and its mean over the judged queries."""

    per_query: dict[str, dict[str, float]]  # metric -> query id -> score
    mean: dict[str, float]  # metric -> mean over queries


DEFAULT_METRICS = ("ndcg@10", "recall@100", "mrr@10")


def evaluate_run(
    run: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Judgements],
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> MetricScores:
    """Score the rankings of ``run`` (query id -> ranked document ids) against ``qrels`` (query id ->
    judgements). Every query of ``qrels`` counts; rankings of queries without judgements are ignored."""
    parsed = [(name, *parse_metric(name)) for name in metrics]
    per_query: dict[str, dict[str, float]] = {name: {} for name in metrics}
    for query_id, judgements in qrels.items():
        ranking = run.get(query_id, ())
        for name, family, cutoff in parsed:
            per_query[name][query_id] = _METRICS[family](ranking, judgements, cutoff)
    mean = {name: (math.fsum(scores.values()) / len(scores) if scores else 0.0) for name, scores in per_query.items()}
    return MetricScores(per_query=per_query, mean=mean)
