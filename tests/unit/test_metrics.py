"""nDCG@k, recall@k and MRR@k: hand-computed cases, and agreement with ir-measures (trec_eval through
pytrec_eval for nDCG and recall, as BEIR computes them) on seeded random runs and judgements."""

from __future__ import annotations

import math
import random

import pytest

from ragline.evaluation.metrics import evaluate_run, mrr_at_k, ndcg_at_k, parse_metric, recall_at_k

# -- hand-computed ---------------------------------------------------------------------------------


def test_ndcg_of_the_ideal_ranking_is_one():
    assert ndcg_at_k(["a", "b", "c"], {"a": 3, "b": 2, "c": 1}, 10) == 1.0


def test_ndcg_uses_linear_graded_gains_and_a_log2_discount():
    # DCG = 1/log2(2) + 2/log2(3); IDCG = 2/log2(2) + 1/log2(3)
    expected = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k(["b", "a"], {"a": 2, "b": 1}, 10) == pytest.approx(expected)


def test_ndcg_ideal_comes_from_all_judgements_not_only_the_retrieved():
    # one of two equally relevant documents found, at rank 1: DCG = 1, IDCG = 1 + 1/log2(3)
    assert ndcg_at_k(["a", "x"], {"a": 1, "b": 1}, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_ndcg_cuts_at_k_both_the_ranking_and_the_ideal():
    judgements = {"a": 1, "b": 1, "c": 1}
    assert ndcg_at_k(["x", "a"], judgements, 1) == 0.0
    assert ndcg_at_k(["a", "x", "b"], judgements, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_ndcg_is_zero_without_relevant_documents():
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0
    assert ndcg_at_k(["a"], {}, 10) == 0.0


def test_recall_counts_relevant_documents_in_the_first_k():
    judgements = {"a": 1, "b": 2, "c": 0, "d": 1}
    assert recall_at_k(["a", "c", "b", "x"], judgements, 2) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "c", "b", "x"], judgements, 100) == pytest.approx(2 / 3)
    assert recall_at_k(["a"], {"a": 0}, 100) == 0.0


def test_mrr_is_the_reciprocal_rank_of_the_first_relevant_document_within_k():
    judgements = {"c": 1, "d": 3}
    assert mrr_at_k(["a", "b", "c", "d"], judgements, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["a", "b", "c", "d"], judgements, 2) == 0.0
    assert mrr_at_k(["a", "b"], {"a": 0, "b": 1}, 10) == 0.5  # grade 0 is not relevant


def test_a_document_listed_twice_counts_at_its_first_place_only():
    assert recall_at_k(["a", "a", "a", "b"], {"b": 1}, 2) == 1.0
    assert ndcg_at_k(["a", "a"], {"a": 1, "b": 1}, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_evaluate_run_scores_every_judged_query_and_missing_runs_score_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    run = {"q1": ["a"], "unjudged": ["a"]}
    scores = evaluate_run(run, qrels)
    assert scores.per_query["ndcg@10"] == {"q1": 1.0, "q2": 0.0}
    assert scores.mean == {"ndcg@10": 0.5, "recall@100": 0.5, "mrr@10": 0.5}


def test_metric_names_are_parsed_strictly():
    assert parse_metric("mrr@10") == ("mrr", 10)
    for bad in ("ndcg", "ndcg@0", "map@10", "ndcg@x"):
        with pytest.raises(ValueError):
            parse_metric(bad)


# -- against trec_eval -----------------------------------------------------------------------------


def _random_case(rng: random.Random) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    """Judgements (grades 0-3, some queries with none relevant) and runs with distinct scores, so that
    trec_eval's tie-breaking never matters."""
    docs = [f"d{i}" for i in range(rng.randint(5, 300))]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(rng.randint(1, 15)):
        query_id = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, min(len(docs), 20)))
        qrels[query_id] = {doc_id: rng.choice((0, 1, 1, 2, 3)) for doc_id in judged}
        retrieved = rng.sample(docs, rng.randint(1, min(len(docs), 150)))
        scores = rng.sample(range(10 * len(retrieved)), len(retrieved))
        run[query_id] = {doc_id: float(score) for doc_id, score in zip(retrieved, scores, strict=True)}
    return qrels, run


@pytest.mark.parametrize("seed", range(40))
def test_agrees_with_trec_eval_on_random_runs(seed):
    ir_measures = pytest.importorskip("ir_measures")
    from ir_measures import RR, R, nDCG

    qrels, run = _random_case(random.Random(seed))
    rankings = {query_id: sorted(scores, key=scores.__getitem__, reverse=True) for query_id, scores in run.items()}
    ours = evaluate_run(rankings, qrels, ("ndcg@10", "recall@100", "mrr@10", "ndcg@3", "recall@5"))

    names = {nDCG @ 10: "ndcg@10", R @ 100: "recall@100", RR @ 10: "mrr@10", nDCG @ 3: "ndcg@3", R @ 5: "recall@5"}
    reference: dict[str, dict[str, float]] = {name: {} for name in names.values()}
    # ir-measures sends nDCG and R to pytrec_eval (trec_eval, as BEIR does) and RR@10, which trec_eval
    # cannot cut, to a provider that can.
    for metric in ir_measures.iter_calc(list(names), qrels, run):
        reference[names[metric.measure]][metric.query_id] = metric.value

    for name in names.values():
        assert set(reference[name]) == set(qrels)
        for query_id, value in reference[name].items():
            assert ours.per_query[name][query_id] == pytest.approx(value, abs=1e-9), (name, query_id)
        mean = sum(reference[name].values()) / len(reference[name])
        assert ours.mean[name] == pytest.approx(mean, abs=1e-9)
