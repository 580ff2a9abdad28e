"""The local proximity reranker."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragline.models import Chunk, SearchHit
from ragline.rerankers.proximity import ProximityReranker, proximity_features, stem


def hit(chunk_id: str, text: str, score: float, title: str = "") -> SearchHit:
    return SearchHit(Chunk(chunk_id, "d", "v", text, "s3://b/k", title, ("r",), 0), score)


def ids(hits):
    return [h.chunk.chunk_id for h in hits]


def test_words_standing_together_outrank_the_same_words_apart():
    hits = [
        hit("apart", "The conquest was long. England had many rulers; the Norman lords came later.", 0.9),
        hit("together", "The Norman conquest of England began in 1066.", 0.8),
        hit("weak", "Tides and the moon.", 0.1),
    ]
    assert ids(ProximityReranker().rerank("Norman conquest England", hits, 3)) == ["together", "apart", "weak"]


def test_a_passage_covering_the_whole_question_outranks_one_covering_half():
    hits = [hit("half", "Revenue revenue revenue grew.", 0.5), hit("whole", "Revenue and the runway grew.", 0.5)]
    ranked = ProximityReranker(coverage_weight=1.0, proximity_weight=0.0).rerank("revenue runway", hits, 2)
    assert ids(ranked) == ["whole", "half"]


def test_without_weights_the_fused_order_stands():
    hits = [hit("a", "nothing shared", 3.0), hit("b", "quarterly revenue report", 2.0), hit("c", "x", 1.0)]
    assert ids(ProximityReranker(0.0, 0.0).rerank("quarterly revenue report", hits, 3)) == ["a", "b", "c"]


def test_a_strong_fused_lead_is_not_overturned_by_small_weights():
    hits = [hit("lead", "unrelated words here", 10.0), hit("close", "quarterly revenue", 0.0)]
    assert ids(ProximityReranker(0.1, 0.1).rerank("quarterly revenue", hits, 2)) == ["lead", "close"]


def test_the_title_counts_as_part_of_the_passage():
    coverage, _ = proximity_features(["parental", "leave"], "Managers approve it within five days.")
    hits = [
        hit("bare", "Managers approve it within five days.", 1.0),
        hit("titled", "Managers approve it within five days.", 1.0, title="Parental leave"),
    ]
    assert coverage == 0.0
    assert ids(ProximityReranker().rerank("parental leave approval", hits, 2))[0] == "titled"


def test_features_are_shares_of_the_question():
    question = [stem(w) for w in ("norman", "conquest", "england")]
    assert proximity_features(question, "Norman conquest of England") == (1.0, 1.0)
    assert proximity_features(question, "England, where Norman rule followed a long and bloody conquest") == (1.0, 0.0)
    assert proximity_features(question, "nothing at all") == (0.0, 0.0)


def test_stemming_matches_plurals_and_verb_forms_only_past_three_letters():
    assert stem("conquests") == stem("conquest") == "conquest"
    assert stem("approved") == "approv" == stem("approving")
    assert stem("is") == "is" and stem("bed") == "bed"


def test_negative_weights_are_refused():
    with pytest.raises(ValueError):
        ProximityReranker(-0.1, 0.2)


texts = st.text(alphabet="abc de", max_size=30)


@given(st.lists(st.tuples(texts, st.floats(-5, 5)), max_size=8), texts, st.integers(0, 10))
def test_returns_top_n_of_the_input_once_each_best_first(items, question, top_n):
    hits = [hit(str(i), text, score) for i, (text, score) in enumerate(items)]
    ranked = ProximityReranker().rerank(question, hits, top_n)
    assert len(ranked) == min(top_n, len(hits))
    assert len(set(ids(ranked))) == len(ranked) and set(ids(ranked)) <= set(ids(hits))
    scores = [h.score for h in ranked]
    assert scores == sorted(scores, reverse=True)
