"""Maximal marginal relevance."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragline.mmr import maximal_marginal_relevance
from ragline.models import Chunk, SearchHit


def hit(chunk_id: str, text: str, score: float) -> SearchHit:
    return SearchHit(Chunk(chunk_id, "d", "v", text, "s3://b/k", "T", ("r",), 0), score)


HITS = [
    hit("a", "Revenue in Q3 was 14.2 million dollars.", 0.9),
    hit("a-copy", "Revenue in Q3 was 14.2 million dollars.", 0.85),
    hit("b", "Grant income added 3.6 million.", 0.5),
    hit("c", "The runway is 21 months.", 0.4),
]


def ids(hits):
    return [h.chunk.chunk_id for h in hits]


def test_lambda_one_keeps_the_ranking():
    assert ids(maximal_marginal_relevance(HITS, 3, 1.0)) == ["a", "a-copy", "b"]


def test_a_near_duplicate_gives_way_to_a_novel_passage():
    assert ids(maximal_marginal_relevance(HITS, 3, 0.5)) == ["a", "b", "c"]


def test_lambda_must_be_within_zero_and_one():
    with pytest.raises(ValueError):
        maximal_marginal_relevance(HITS, 2, 1.5)


@given(st.floats(0.0, 1.0), st.integers(0, 6))
def test_result_is_a_subset_of_the_input_without_repeats(lambda_, top_k):
    picked = ids(maximal_marginal_relevance(HITS, top_k, lambda_))
    assert len(picked) == min(top_k, len(HITS)) == len(set(picked))
    assert set(picked) <= set(ids(HITS))
    if picked:
        assert picked[0] == "a"  # the most relevant passage always comes first
