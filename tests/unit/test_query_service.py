"""QueryService's orchestration: the searches run side by side, errors surface, timings add up."""

from __future__ import annotations

import threading

import pytest

from ragline.models import Chunk, SearchHit
from ragline.query import QueryService, RetrievalConfig
from tests.fakes import FakeEmbedder, FakeGenerator, FakeVectorStore

ROLES = frozenset({"finance"})
CHUNK = Chunk("c1", "d1", "v1", "Revenue grew 18% in Q3.", "s3://b/k.md", "Q3", ("finance",), 0)
DIMENSION = 16


class FakeStoreWhoseBm25SignalsTheEmbedder(FakeVectorStore):
    """A fake store (tests only) holding CHUNK: its BM25 search sets an event the fake embedder below waits for."""

    def __init__(self, started: threading.Event, fail: bool = False) -> None:
        super().__init__(DIMENSION)
        self.upsert([CHUNK], FakeEmbedder(DIMENSION).embed_documents([CHUNK.indexed_text()]))
        self.started = started
        self.fail = fail

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]:
        self.started.set()
        if self.fail:
            raise ConnectionError("search domain unavailable")
        return super().bm25_search(text, roles, k)


class FakeEmbedderWaitingForBm25(FakeEmbedder):
    """A fake embedder (tests only): embeds only once BM25 has started, which it can only do concurrently."""

    def __init__(self, started: threading.Event) -> None:
        super().__init__(DIMENSION)
        self.started = started

    def embed_query(self, text: str) -> list[float]:
        if not self.started.wait(timeout=5):
            raise AssertionError("BM25 did not start while the question was being embedded")
        return super().embed_query(text)


def service(fail: bool = False) -> QueryService:
    started = threading.Event()
    return QueryService(
        FakeStoreWhoseBm25SignalsTheEmbedder(started, fail),
        FakeEmbedderWaitingForBm25(started),
        FakeGenerator(),
        RetrievalConfig(mode="hybrid"),
    )


def test_the_lexical_search_runs_while_the_question_is_embedded():
    hits = service().retrieve("revenue in Q3?", ROLES, 5)
    assert [hit.chunk.chunk_id for hit in hits] == ["c1"]


def test_an_error_in_the_lexical_search_reaches_the_caller():
    with pytest.raises(ConnectionError, match="unavailable"):
        service(fail=True).retrieve("revenue in Q3?", ROLES, 5)


def test_timings_hold_every_stage_and_the_wall_times():
    result = service().answer("revenue in Q3?", ROLES, 5)
    timings = result.timings_ms
    assert {"embed", "knn", "bm25", "search", "fuse", "mmr", "retrieve", "generate", "total"} <= set(timings)
    assert timings["retrieve"] <= timings["total"]
    assert timings["search"] <= timings["retrieve"]


class FakeSlowBm25Store(FakeStoreWhoseBm25SignalsTheEmbedder):
    """A fake store (tests only) whose BM25 search takes a while and records how far it got."""

    def __init__(self) -> None:
        super().__init__(threading.Event())
        self.state = "never started"

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]:
        self.state = "running"
        threading.Event().wait(0.2)
        self.state = "finished"
        return []


class FakeFailingEmbedder(FakeEmbedder):
    """A fake embedder (tests only) that cannot reach its model."""

    def embed_query(self, text: str) -> list[float]:
        raise TimeoutError("model endpoint timed out")


def test_a_failed_embedding_leaves_no_search_running_behind_the_request():
    store = FakeSlowBm25Store()
    service = QueryService(store, FakeFailingEmbedder(DIMENSION), FakeGenerator(), RetrievalConfig(mode="hybrid"))

    with pytest.raises(TimeoutError):
        service.retrieve("revenue in Q3?", ROLES, 5)

    assert store.state in ("never started", "finished")


def test_a_reranking_mode_without_a_reranker_fails_at_construction():
    with pytest.raises(ValueError, match="RAGLINE_RERANKER"):
        QueryService(
            FakeSlowBm25Store(),
            FakeEmbedder(DIMENSION),
            FakeGenerator(),
            RetrievalConfig(mode="hybrid+rerank"),
            reranker=None,
        )


class FakeStoreWithRawBm25Scores(FakeVectorStore):
    """A fake store (tests only): BM25 scores on the scale of a whole index."""

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]:
        other = Chunk("c2", "d2", "v1", "Revenue fell.", "s3://b/j.md", "Q2", ("finance",), 0)
        return [SearchHit(CHUNK, 13.7), SearchHit(other, 4.2)]


def test_no_raw_bm25_score_reaches_the_caller():
    query = QueryService(
        FakeStoreWithRawBm25Scores(DIMENSION), FakeEmbedder(DIMENSION), FakeGenerator(), RetrievalConfig(mode="bm25")
    )

    hits = query.retrieve("revenue", ROLES, 5)

    assert [hit.chunk.chunk_id for hit in hits] == ["c1", "c2"]
    assert [hit.score for hit in hits] == [1.0, 0.0]  # normalised over what the caller sees
