"""Reciprocal rank fusion."""

from __future__ import annotations

import pytest

from ragline.fusion import RRF_K, convex_combination, reciprocal_rank_fusion
from ragline.models import Chunk, SearchHit


def hit(chunk_id: str, score: float = 1.0) -> SearchHit:
    return SearchHit(Chunk(chunk_id, "doc", "v1", "text", "s3://b/k", "T", ("r",), 0), score)


def test_a_hit_found_by_both_retrievers_outranks_hits_found_by_one():
    fused = reciprocal_rank_fusion([[hit("a"), hit("both")], [hit("both"), hit("b")]])
    assert [h.chunk.chunk_id for h in fused] == ["both", "a", "b"]
    assert fused[0].score == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))


def test_raw_scores_do_not_matter_only_ranks():
    fused = reciprocal_rank_fusion([[hit("a", 0.1), hit("b", 0.05)], [hit("c", 900.0)]])
    assert fused[0].score == fused[1].score  # "a" and "c" are both first in their ranking
    assert fused[-1].chunk.chunk_id == "b"


def test_weights_tilt_the_fusion():
    fused = reciprocal_rank_fusion([[hit("dense")], [hit("lexical")]], weights=[1.0, 2.0])
    assert [h.chunk.chunk_id for h in fused] == ["lexical", "dense"]


def test_one_weight_per_ranking_is_required():
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[hit("a")]], weights=[1.0, 1.0])


def test_empty_rankings_fuse_to_nothing():
    assert reciprocal_rank_fusion([[], []]) == []


def test_convex_combination_adds_min_max_normalised_scores():
    dense = [hit("a", 0.90), hit("b", 0.89), hit("c", 0.10)]
    lexical = [hit("b", 10.0), hit("c", 9.9), hit("a", 0.0)]
    fused = convex_combination([dense, lexical])
    assert [h.chunk.chunk_id for h in fused] == ["b", "a", "c"]
    scores = {h.chunk.chunk_id: h.score for h in fused}
    assert scores["b"] == pytest.approx((0.89 - 0.10) / 0.80 + 1.0)
    assert scores["a"] == pytest.approx(1.0)
    assert scores["c"] == pytest.approx(0.99)


def test_convex_combination_gives_zero_to_a_ranking_that_misses_a_hit():
    fused = convex_combination([[hit("a", 2.0), hit("b", 1.0)], [hit("c", 5.0)]], weights=[1.0, 0.5])
    assert {h.chunk.chunk_id: h.score for h in fused} == {"a": 1.0, "b": 0.0, "c": 0.5}
