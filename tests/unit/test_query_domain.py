"""The query pipeline on the fakes: roles, retrieval modes, fusion, rerank, MMR, citations and declining.

Every port is an in-memory fake (tests/fakes), so each test runs in milliseconds; the real stores and models
answer the same questions in tests/unit/test_query_permissions.py and tests/component (docs/architecture.md,
"Query").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pytest

from ragline.models import Chunk, ConversationTurn, SearchHit
from ragline.query import RETRIEVAL_MODES, QueryService, RetrievalConfig
from tests.fakes import DECLINE, FakeEmbedder, FakeGenerator, FakeReranker, FakeVectorStore

FINANCE = frozenset({"finance"})
BOARD = frozenset({"board"})
# Plain ranking unless a test asks for MMR: lambda 1 keeps the fused order.
PLAIN = RetrievalConfig(mode="hybrid", mmr_lambda=1.0)

PASSAGES = {
    "solar": ("Solar panel output rose in March.", ("finance",)),
    "solar-copy": ("Solar panel output rose in March.", ("finance",)),  # the same words, another document
    "battery": ("Battery storage costs fell in March.", ("finance",)),
    "wind": ("Wind turbine maintenance is planned.", ("finance",)),
    "forecast": ("Solar panel output forecast for the board.", ("board",)),
}


def chunk(chunk_id: str, text: str, roles: Sequence[str]) -> Chunk:
    return Chunk(chunk_id, chunk_id, "v1", text, f"s3://docs/{chunk_id}.md", "", tuple(roles), 0)


class Deployment:
    """A query service over the fake store holding ``passages``, with the fakes it was built from."""

    def __init__(
        self,
        config: RetrievalConfig = PLAIN,
        passages: Mapping[str, tuple[str, Sequence[str]]] = PASSAGES,
        reranker: FakeReranker | None = None,
        store: FakeVectorStore | None = None,
    ) -> None:
        self.embedder = FakeEmbedder()
        self.store = store or FakeVectorStore(self.embedder.dimension)
        for chunk_id, (text, roles) in passages.items():
            self.store.replace_document(chunk_id, [chunk(chunk_id, text, roles)], self.embedder.embed_documents([text]))
        self.generator = FakeGenerator()
        self.reranker = reranker
        self.service = QueryService(self.store, self.embedder, self.generator, config, reranker=reranker)

    def ids(
        self, question: str, roles: frozenset[str] = FINANCE, top_k: int = 10, mode: str | None = None
    ) -> list[str]:
        return [hit.chunk.chunk_id for hit in self.service.retrieve(question, roles, top_k, mode=mode)]


class FakeStoreThatIgnoresRoles(FakeVectorStore):
    """A fake store (tests only) with a broken role filter: both searches return chunks of every role."""

    EVERY_ROLE = frozenset({"finance", "board"})

    def knn_search(self, vector: Sequence[float], roles: frozenset[str], k: int) -> list[SearchHit]:
        return super().knn_search(vector, self.EVERY_ROLE, k)

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]:
        return super().bm25_search(text, self.EVERY_ROLE, k)


# -- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", RETRIEVAL_MODES)
def test_a_caller_gets_only_what_its_roles_allow_in_every_mode(mode: str) -> None:
    deployment = Deployment(dataclasses.replace(PLAIN, mode=mode), reranker=FakeReranker())

    assert "forecast" not in deployment.ids("solar panel output forecast", FINANCE)
    assert deployment.ids("solar panel output forecast", BOARD) == ["forecast"]


def test_a_caller_without_roles_gets_a_declined_answer_and_costs_no_embedding() -> None:
    deployment = Deployment()

    result = deployment.service.answer("solar panel output?", frozenset(), top_k=5)

    assert result.sources == [] and result.cited_sources() == []
    assert result.answer.text == DECLINE
    assert deployment.generator.calls == [("solar panel output?", [])]
    assert deployment.embedder.queries == []


def test_a_question_nothing_visible_answers_is_declined() -> None:
    deployment = Deployment(dataclasses.replace(PLAIN, mode="bm25"))

    result = deployment.service.answer("zeppelin schedules?", FINANCE, top_k=5)

    assert (result.sources, result.answer.text, result.answer.cited) == ([], DECLINE, [])


def test_a_decline_lists_what_was_retrieved_as_related_and_cites_nothing() -> None:
    deployment = Deployment()
    deployment.service.generator = deployment.generator = FakeGenerator(cite=[1], decline=True)

    result = deployment.service.answer("solar panel output?", FINANCE, top_k=3)

    assert not result.answered and result.answer.text == DECLINE
    assert result.related() == result.sources and len(result.sources) == 3
    assert result.cited_sources() == [] and result.cited_explanations() == []
    assert "forecast" not in [hit.chunk.chunk_id for hit in result.related()]  # the board's, not the caller's


def test_an_answer_has_no_related_passages() -> None:
    result = Deployment().service.answer("solar panel output?", FINANCE, top_k=3)

    assert result.answered and result.cited_sources() and result.related() == []


class FakeRewriter:
    """Rewrites every question to ``standalone``, keeping what it was given."""

    def __init__(self, standalone: str) -> None:
        self.standalone = standalone
        self.calls: list[tuple[str, list[ConversationTurn]]] = []

    def rewrite(self, question: str, history: Sequence[ConversationTurn]) -> str:
        self.calls.append((question, list(history)))
        return self.standalone


def test_a_follow_up_is_rewritten_and_the_rewrite_is_what_is_retrieved_and_answered() -> None:
    deployment = Deployment()
    rewriter = FakeRewriter("battery storage costs in March?")
    service = QueryService(deployment.store, deployment.embedder, deployment.generator, PLAIN, rewriter=rewriter)
    history = [ConversationTurn("solar panel output in March?", "It rose [1].")]

    result = service.answer("and battery storage?", FINANCE, top_k=1, history=history)

    assert rewriter.calls == [("and battery storage?", history)]
    assert (result.question, result.standalone_question) == ("and battery storage?", "battery storage costs in March?")
    assert [hit.chunk.chunk_id for hit in result.sources] == ["battery"]
    assert deployment.generator.calls[-1][0] == "battery storage costs in March?"
    assert "rewrite" in result.timings_ms


def test_without_history_the_question_is_not_rewritten() -> None:
    deployment = Deployment()
    rewriter = FakeRewriter("something else")
    service = QueryService(deployment.store, deployment.embedder, deployment.generator, PLAIN, rewriter=rewriter)

    result = service.answer("solar panel output?", FINANCE, top_k=1)

    assert rewriter.calls == [] and result.standalone_question == result.question == "solar panel output?"
    assert "rewrite" not in result.timings_ms


def test_a_follow_up_is_retrieved_with_the_roles_of_its_own_turn() -> None:
    deployment = Deployment()
    history = [ConversationTurn("solar panel output forecast for the board?", "It is in the forecast [1].")]

    result = deployment.service.answer("and the forecast?", FINANCE, top_k=5, history=history)

    assert "forecast" not in [hit.chunk.chunk_id for hit in result.sources]  # the board's, whatever came before


def test_a_chunk_the_store_should_have_filtered_is_dropped_before_the_reranker_and_the_caller() -> None:
    reranker = FakeReranker()
    store = FakeStoreThatIgnoresRoles(FakeEmbedder().dimension)
    deployment = Deployment(dataclasses.replace(PLAIN, mode="hybrid+rerank"), reranker=reranker, store=store)

    assert "forecast" not in deployment.ids("solar panel output forecast", FINANCE)
    assert reranker.calls and all(hit.chunk.chunk_id != "forecast" for _, hits in reranker.calls for hit in hits)


# -- retrieval and fusion ------------------------------------------------------------------------


def test_bm25_finds_the_passages_sharing_a_word_and_dense_ranks_every_visible_one() -> None:
    deployment = Deployment()

    assert deployment.ids("battery storage", mode="bm25") == ["battery"]
    dense = deployment.ids("battery storage", mode="dense")
    assert dense[0] == "battery" and sorted(dense) == ["battery", "solar", "solar-copy", "wind"]


def test_hybrid_ranks_first_what_both_searches_find_and_keeps_what_only_one_finds() -> None:
    deployment = Deployment()

    hybrid = deployment.ids("battery costs")

    assert hybrid[0] == "battery"
    assert sorted(hybrid) == sorted(deployment.ids("battery costs", mode="dense"))


# The two searches disagree here: k-NN prefers the passage mostly made of a word of the question ("a"),
# BM25 the one holding the question's rare word ("b").
DISAGREEING = {
    "a": ("Solar solar solar panels.", ("finance",)),
    "b": ("March brought rain, wind and tides.", ("finance",)),
    "c": ("Solar farms.", ("finance",)),
    "d": ("Solar roofs.", ("finance",)),
}


def test_the_weights_steer_the_fusion() -> None:
    both = Deployment(PLAIN, DISAGREEING)
    assert both.ids("solar march", mode="dense")[0] == "a" and both.ids("solar march", mode="bm25")[0] == "b"

    dense_only = Deployment(dataclasses.replace(PLAIN, lexical_weight=0.0), DISAGREEING)
    lexical_only = Deployment(dataclasses.replace(PLAIN, dense_weight=0.0), DISAGREEING)

    assert dense_only.ids("solar march") == both.ids("solar march", mode="dense")
    assert lexical_only.ids("solar march")[0] == "b"


def test_reciprocal_rank_fusion_fuses_the_same_passages_and_an_unknown_fusion_is_refused() -> None:
    convex = Deployment().ids("battery costs")
    rrf = Deployment(dataclasses.replace(PLAIN, fusion="rrf")).ids("battery costs")

    assert rrf[0] == "battery" and sorted(rrf) == sorted(convex)
    with pytest.raises(ValueError, match="RAGLINE_FUSION"):
        Deployment(dataclasses.replace(PLAIN, fusion="sum")).ids("battery costs")


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown retrieval mode"):
        Deployment().ids("battery", mode="fuzzy")


# -- rerank, MMR and top_k -----------------------------------------------------------------------

MANY = {
    f"note-{n:02d}": (f"Solar note {n} about panel output and {'march ' * (n % 4)}output.", ("finance",))
    for n in range(8)
}


def test_the_reranker_reorders_the_shortlist_and_the_tail_keeps_its_fused_order() -> None:
    config = dataclasses.replace(PLAIN, mode="hybrid+rerank", shortlist=3)
    fused = Deployment(config, MANY, reranker=FakeReranker()).ids("solar panel output march", mode="hybrid")
    reranker = FakeReranker({fused[2]: 2.0, fused[1]: 1.0})
    deployment = Deployment(config, MANY, reranker=reranker)

    reranked = deployment.ids("solar panel output march")

    assert [[hit.chunk.chunk_id for hit in hits] for _, hits in reranker.calls] == [fused[:3]]
    assert reranked[:3] == [fused[2], fused[1], fused[0]]
    assert reranked[3:] == fused[3:]


def test_mmr_puts_a_different_passage_above_a_near_duplicate() -> None:
    question = "solar panel output in march"

    assert Deployment().ids(question, top_k=2) == ["solar", "solar-copy"]
    diverse = Deployment(dataclasses.replace(PLAIN, mmr_lambda=0.3)).ids(question, top_k=2)
    assert diverse[0] == "solar" and diverse[1] != "solar-copy"


def test_top_k_bounds_the_results_and_past_the_shortlist_the_fused_order_fills_them() -> None:
    fused = Deployment(PLAIN, MANY).ids("solar panel output march")
    short = Deployment(dataclasses.replace(PLAIN, shortlist=2, mmr_lambda=0.5), MANY)

    picked = short.ids("solar panel output march", top_k=5)

    assert len(picked) == 5 and len(set(picked)) == 5
    assert set(picked[:2]) <= set(fused[:2])  # MMR picks from the shortlist only
    assert picked[2:] == [chunk_id for chunk_id in fused if chunk_id not in picked[:2]][:3]
    assert len(Deployment().ids("solar panel output", top_k=1)) == 1


# -- the answer ----------------------------------------------------------------------------------


def test_the_answer_is_written_from_the_retrieved_sources_and_cites_them_by_number() -> None:
    deployment = Deployment()
    deployment.generator.cite = [2, 9]  # 9: a number with no source behind it, as a model may write

    result = deployment.service.answer("battery costs in march", FINANCE, top_k=3)

    assert deployment.generator.calls == [("battery costs in march", result.sources)]
    assert [hit.chunk.chunk_id for hit in result.sources] == deployment.ids("battery costs in march", top_k=3)
    assert result.cited_sources() == [(2, result.sources[1])]
    assert result.answer.text == f"{result.sources[1].chunk.text} [2]"
    assert {"retrieve", "generate", "total"} <= set(result.timings_ms)
