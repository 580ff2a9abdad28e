"""Explanations (ragline.explain): each stage says what the pipeline did, with the very numbers it used.

On the fakes of tests/fakes, as tests/unit/test_query_domain.py; what an explanation may never carry is
the permission property's (tests/unit/test_query_permissions.py).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragline.explain import RetrievalTrace, explain, matched_spans
from ragline.fusion import RRF_K, Contributions, convex_combination, min_max, reciprocal_rank_fusion
from ragline.mmr import MmrTrace, maximal_marginal_relevance
from ragline.models import Chunk, SearchHit
from ragline.query import RETRIEVAL_MODES, RetrievalConfig
from ragline.words import terms
from tests.fakes import FakeReranker
from tests.unit.test_query_domain import FINANCE, Deployment, chunk


def hit(chunk_id: str, score: float, text: str = "t", roles: tuple[str, ...] = ("finance",)) -> SearchHit:
    return SearchHit(chunk(chunk_id, text, roles), score)


rankings = st.lists(
    st.lists(
        st.tuples(st.sampled_from("abcdefgh"), st.floats(-5, 50, allow_nan=False)),
        max_size=6,
        unique_by=lambda pair: pair[0],
    ).map(lambda pairs: [hit(chunk_id, score) for chunk_id, score in pairs]),
    min_size=1,
    max_size=3,
)


@given(rankings, st.data())
def test_the_parts_of_a_fused_score_add_up_to_it_exactly(lists, data):
    weights = data.draw(st.lists(st.floats(0, 3), min_size=len(lists), max_size=len(lists)))
    for fuse in (convex_combination, reciprocal_rank_fusion):
        parts: Contributions = {}
        fused = fuse(lists, weights, contributions=parts)
        assert fused == fuse(lists, weights)  # asking for the parts changes nothing
        assert set(parts) == {h.chunk.chunk_id for h in fused}
        for fused_hit in fused:
            contributions = parts[fused_hit.chunk.chunk_id]
            assert len(contributions) == len(lists)
            total = 0.0
            for part in contributions:
                total += part.amount
            assert total == fused_hit.score  # the same sum, in the same order: equal, not close


def test_each_part_is_the_weighted_normalised_score_or_reciprocal_rank():
    dense = [hit("a", 0.9), hit("b", 0.5), hit("c", 0.1)]
    lexical = [hit("c", 12.0), hit("a", 3.0)]
    parts: Contributions = {}
    convex_combination([dense, lexical], [1.0, 0.5], parts)
    assert [(p.rank, p.value, p.weight) for p in parts["a"]] == [(1, 1.0, 1.0), (2, 0.0, 0.5)]
    assert [(p.rank, p.value) for p in parts["b"]] == [(2, min_max(dense)[1]), (None, 0.0)]
    parts = {}
    reciprocal_rank_fusion([dense, lexical], [1.0, 2.0], contributions=parts)
    assert [(p.rank, p.value, p.amount) for p in parts["c"]] == [
        (3, 1 / (RRF_K + 3), 1 / (RRF_K + 3)),
        (1, 1 / (RRF_K + 1), 2 / (RRF_K + 1)),
    ]


@pytest.mark.parametrize("mode", RETRIEVAL_MODES)
def test_only_the_stages_the_mode_ran_are_explained(mode):
    deployment = Deployment(RetrievalConfig(mode="hybrid", mmr_lambda=1.0), reranker=FakeReranker())
    hits, explanations = deployment.service.retrieve_explained("solar output", FINANCE, 4, mode=mode)
    assert hits == deployment.service.retrieve("solar output", FINANCE, 4, mode=mode)
    assert len(explanations) == len(hits) > 0
    for explanation in explanations:
        assert explanation.mode == mode
        assert (explanation.dense is None) == (mode == "bm25")
        assert (explanation.lexical is None) == (mode == "dense")
        assert (explanation.fusion is None) == (mode == "dense")
        assert (explanation.rerank is None) == (mode != "hybrid+rerank")
        assert explanation.admitted_by == ("finance",)


def test_search_ranks_are_positions_in_each_list_and_the_fused_score_is_the_results():
    deployment = Deployment(RetrievalConfig(mode="hybrid", mmr_lambda=1.0, fusion="rrf"))
    question = "solar output in March"
    hits, explanations = deployment.service.retrieve_explained(question, FINANCE, 4)
    vector = deployment.embedder.embed_query(question)
    dense = [h.chunk.chunk_id for h in deployment.store.knn_search(vector, FINANCE, 50)]
    lexical = deployment.store.bm25_search(question, FINANCE, 50)
    lexical_ids = [h.chunk.chunk_id for h in lexical]
    for result, explanation in zip(hits, explanations, strict=True):
        chunk_id = result.chunk.chunk_id
        assert explanation.dense is not None and explanation.dense.rank == dense.index(chunk_id) + 1
        assert explanation.lexical is not None and explanation.fusion is not None
        if chunk_id in lexical_ids:
            position = lexical_ids.index(chunk_id)
            assert explanation.lexical.rank == position + 1
            assert explanation.lexical.score == min_max(lexical)[position]  # never the raw BM25 score
        else:
            assert explanation.lexical.rank is None and explanation.lexical.score is None
        assert explanation.fusion.method == "rrf" and explanation.fusion.rrf_k == RRF_K
        assert explanation.fusion.score == result.score
        assert sum(part.contribution for part in explanation.fusion.parts) == pytest.approx(result.score)


def test_the_rerank_step_says_how_far_the_reranker_moved_a_result():
    reranker = FakeReranker({"wind": 5.0, "solar": 1.0})
    config = RetrievalConfig(mode="hybrid+rerank", mmr_lambda=1.0, shortlist=3)
    deployment = Deployment(config, reranker=reranker)
    hits, explanations = deployment.service.retrieve_explained("solar panel output wind", FINANCE, 4)
    fused = [h.chunk.chunk_id for h in reranker.calls[0][1]]
    by_id = {h.chunk.chunk_id: e for h, e in zip(hits, explanations, strict=True)}
    assert by_id["wind"].rerank is not None and by_id["wind"].rerank.score == 5.0
    assert (by_id["wind"].rerank.rank_before, by_id["wind"].rerank.rank_after) == (fused.index("wind") + 1, 1)
    past_shortlist = [e for h, e in by_id.items() if h not in fused]
    for explanation in past_shortlist:  # not reranked: no score, and its place stays
        assert explanation.rerank is not None and explanation.rerank.score is None
        assert explanation.rerank.rank_before == explanation.rerank.rank_after
        assert not explanation.mmr.considered and explanation.mmr.step is None


def test_mmr_says_which_near_duplicate_a_result_displaced():
    deployment = Deployment(RetrievalConfig(mode="bm25", mmr_lambda=0.3))
    hits, explanations = deployment.service.retrieve_explained("solar panel output march", FINANCE, 2)
    by_id = {h.chunk.chunk_id: e for h, e in zip(hits, explanations, strict=True)}
    kept = by_id["solar"] if "solar" in by_id else by_id["solar-copy"]
    assert kept.mmr.step == 1 and kept.mmr.considered
    (dropped,) = kept.mmr.displaced
    assert dropped.chunk_id in ("solar", "solar-copy") and dropped.chunk_id not in by_id
    assert dropped.result is None and math.isclose(dropped.similarity, 1.0)
    # With room for it, the copy is kept later, and says what it was passed over for.
    hits, explanations = deployment.service.retrieve_explained("solar panel output march", FINANCE, 4)
    copy = next(e for h, e in zip(hits, explanations, strict=True) if h.chunk.chunk_id == dropped.chunk_id)
    assert copy.mmr.step is not None and copy.mmr.step > 2
    assert copy.mmr.passed_over is not None and copy.mmr.passed_over.result == 1


def test_mmr_names_no_passage_the_caller_may_not_see():
    """A chunk that slipped past a store's filter is dropped after MMR; its explanation must not name it."""
    seen = hit("a", 0.9, "revenue grew", ("finance",))
    slipped = hit("b", 0.8, "revenue grew", ("board",))  # a near-duplicate the caller may not see
    pool = [seen, slipped, hit("c", 0.7, "costs fell", ("finance",))]
    mmr = MmrTrace()
    picked = maximal_marginal_relevance(pool, 2, 0.5, mmr)
    assert mmr.passed_over  # MMR did pass the slipped chunk over for its similarity to "a"
    trace = RetrievalTrace(mode="dense", mmr_lambda=0.5, searches=[("dense", pool)], fused=pool, mmr_pool=pool, mmr=mmr)
    explanations = explain(trace, picked, "revenue", FINANCE)
    assert [h.chunk.chunk_id for h in picked] == ["a", "c"]
    assert all(e.mmr.displaced == () and e.mmr.passed_over is None for e in explanations)


def test_matched_spans_are_offsets_of_the_question_terms_in_the_text():
    text = "Revenue in Q3: revenues rose, and REVENUE is the word."
    spans = matched_spans(text, "What was the revenue in Q3?")
    assert [(text[s.start : s.end], s.term) for s in spans] == [
        ("Revenue", "revenue"),
        ("Q3", "q3"),
        ("REVENUE", "revenue"),
    ]
    assert {s.term for s in spans} <= set(terms("What was the revenue in Q3?"))


def test_an_answer_explains_its_sources_only_when_asked():
    deployment = Deployment()
    plain = deployment.service.answer("solar output", FINANCE, 3)
    assert plain.explanations is None and "explain" not in plain.timings_ms
    explained = deployment.service.answer("solar output", FINANCE, 3, explain_sources=True)
    assert explained.sources == plain.sources
    assert explained.explanations is not None and len(explained.explanations) == len(explained.sources)
    assert len(explained.cited_explanations()) == len(explained.cited_sources())


def test_explanations_of_no_results_are_empty():
    deployment = Deployment()
    assert deployment.service.retrieve_explained("solar", frozenset(), 3) == ([], [])
    hits, explanations = deployment.service.retrieve_explained("solar", frozenset({"nobody"}), 3)
    assert hits == explanations == []


def test_a_chunk_with_many_roles_is_admitted_by_the_callers_share_of_them():
    only = Chunk("x", "x", "v1", "solar output", "s3://docs/x.md", "", ("finance", "hr", "legal"), 0)
    trace = RetrievalTrace(mode="dense", mmr_lambda=1.0)
    (explanation,) = explain(trace, [SearchHit(only, 1.0)], "solar", frozenset({"hr", "finance", "staff"}))
    assert explanation.admitted_by == ("finance", "hr")
