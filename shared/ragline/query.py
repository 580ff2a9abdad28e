"""The query path: retrieve what the caller may see, then answer from it with citations.

Example:
    >>> service = QueryService(store, embedder, generator, RetrievalConfig.from_settings(settings))  # doctest: +SKIP
    >>> result = service.answer("What was Q3 revenue?", frozenset({"finance"}), top_k=5)  # doctest: +SKIP
    >>> result.answer.text  # doctest: +SKIP
    "Northwind's revenue in Q3 2026 was $14.2 million [1]."
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from ragline.access import can_see
from ragline.explain import Explanation, RetrievalTrace, SearchName, explain
from ragline.fusion import Contributions, convex_combination, reciprocal_rank_fusion
from ragline.indexes import IndexRouter
from ragline.mmr import maximal_marginal_relevance
from ragline.models import Answer, ConversationTurn, SearchHit
from ragline.ports import Embedder, Generator, QuestionRewriter, Reranker, VectorStore
from ragline.rewriting import rewriter_for
from ragline.settings import FUSIONS, RETRIEVAL_MODES, Fusion, RetrievalMode, Settings, settings_values

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class QueryResult:
    """An answer and what it was drawn from. ``question`` is as asked; ``standalone_question`` is what
    retrieval searched for and the generator answered (the same, unless a follow-up was rewritten)."""

    answer: Answer
    sources: list[SearchHit]  # what the generator saw, numbered from 1
    timings_ms: dict[str, float] = field(default_factory=dict)
    explanations: list[Explanation] | None = None  # one per source, when asked for
    question: str = ""
    standalone_question: str = ""

    @property
    def answered(self) -> bool:
        """False when the generator declined (:attr:`ragline.models.Answer.declined`)."""
        return not self.answer.declined

    def cited_explanations(self) -> list[Explanation | None]:
        """The explanation of each of :meth:`cited_sources`, in the same order (None when not asked for)."""
        return self._explanations_of([n for n, _ in self.cited_sources()])

    def cited_sources(self) -> list[tuple[int, SearchHit]]:
        """The sources the answer cites, with their numbers, in the order cited; none when it declined."""
        if not self.answered:
            return []
        return [(n, self.sources[n - 1]) for n in self.answer.cited if 1 <= n <= len(self.sources)]

    def related(self) -> list[SearchHit]:
        """When the generator declined, the passages it read (the caller's own retrieval, best first), to
        show as related, not as citations; else none."""
        return [] if self.answered else list(self.sources)

    def related_explanations(self) -> list[Explanation | None]:
        """The explanation of each of :meth:`related`, in the same order (None when not asked for)."""
        return self._explanations_of(list(range(1, len(self.related()) + 1)))

    def _explanations_of(self, numbers: list[int]) -> list[Explanation | None]:
        if self.explanations is None:
            return [None for _ in numbers]
        return [self.explanations[n - 1] for n in numbers]


class _Stopwatch:
    """Milliseconds per stage. ``lap`` times the sequential stages; ``timed`` a call that may run on
    another thread at the same time as them (so stages can add up to more than the wall time)."""

    def __init__(self) -> None:
        self.timings_ms: dict[str, float] = {}
        self.started = self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings_ms[stage] = round((now - self._last) * 1000, 2)
        self._last = now

    def timed(self, stage: str, call: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return call()
        finally:
            self.timings_ms[stage] = round((time.perf_counter() - start) * 1000, 2)

    def since_start(self, stage: str) -> None:
        self.timings_ms[stage] = round((time.perf_counter() - self.started) * 1000, 2)


@dataclass(frozen=True)
class RetrievalConfig:
    """The settings retrieval is tuned by (README, "Configuration"); the defaults are :class:`Settings`'.

    >>> RetrievalConfig.from_settings(Settings(retrieval_mode="bm25")).mode
    'bm25'
    """

    mode: RetrievalMode = Settings.retrieval_mode  # the mode a request without one runs
    candidates: int = Settings.candidates  # asked of each search, before fusion
    fusion: Fusion = Settings.fusion
    dense_weight: float = Settings.dense_weight  # the weights of the two rankings in the fusion
    lexical_weight: float = Settings.lexical_weight
    shortlist: int = Settings.shortlist  # the fused head the reranker reorders and MMR picks from
    mmr_lambda: float = Settings.mmr_lambda  # 1 keeps the ranking; lower drops near-duplicates

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrievalConfig:
        return cls(**settings_values(settings, cls, mode="retrieval_mode"))


_DENSE_FIRST: tuple[SearchName, ...] = ("dense", "lexical")  # the order _search returns the rankings in
_LEXICAL_WORKERS = 4  # a Lambda serves one request at a time; the local stack and benchmarks may run a few
_lexical_executor: ThreadPoolExecutor | None = None
_lexical_executor_lock = threading.Lock()


def _lexical_pool() -> ThreadPoolExecutor:
    """The threads lexical searches run on, shared by every QueryService of the process and kept for the
    life of a warm Lambda (threads start on demand)."""
    global _lexical_executor
    with _lexical_executor_lock:
        if _lexical_executor is None:
            _lexical_executor = ThreadPoolExecutor(max_workers=_LEXICAL_WORKERS, thread_name_prefix="ragline-bm25")
        return _lexical_executor


def _settle(search: Future[list[SearchHit]] | None) -> None:
    """Cancel a search that has not started, or wait for one that has; log how it failed, if it did."""
    if search is None or search.cancel():
        return
    error = search.exception()
    if error is not None:
        logger.warning("lexical search failed too: %s", type(error).__name__)


class QueryService:
    """Retrieval (k-NN and BM25, both filtered by role inside the search, fused, optionally reranked, then
    maximal marginal relevance) and answers from what was retrieved.

    ``config.mode`` picks the retrievers unless a call names its own ``mode``: ``bm25`` or ``dense`` alone,
    ``hybrid`` (both, fused), or ``hybrid+rerank`` (the fused candidates reordered by the reranker).

    With ``indexes`` (the index catalog, :mod:`ragline.indexes`), each question searches the index the
    catalog names live, and is embedded by that index's model: both are taken once per question, so a
    switch of index never meets a question halfway. Without it, ``store`` and ``embedder`` are the index.
    """

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        generator: Generator,
        config: RetrievalConfig,
        reranker: Reranker | None = None,
        rewriter: QuestionRewriter | None = None,
        indexes: IndexRouter | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.indexes = indexes
        self.generator = generator
        self.config = config
        self.reranker = reranker
        # Follow-ups are rewritten by the generator's own model when it is a chat model, else locally.
        self.rewriter = rewriter or rewriter_for(generator)
        if config.mode == "hybrid+rerank" and reranker is None:
            # Fail when the function starts, not on every question.
            raise ValueError(
                "retrieval mode 'hybrid+rerank' needs a reranker: set RAGLINE_RERANKER (proximity or bedrock) "
                "or another RAGLINE_RETRIEVAL_MODE"
            )

    def retrieve(self, question: str, roles: frozenset[str], top_k: int, mode: str | None = None) -> list[SearchHit]:
        return self._retrieve(question, roles, top_k, mode or self.config.mode, _Stopwatch())

    def retrieve_with_timings(
        self, question: str, roles: frozenset[str], top_k: int, mode: str | None = None
    ) -> tuple[list[SearchHit], dict[str, float]]:
        """:meth:`retrieve`, with the milliseconds of each stage as :meth:`answer` reports them."""
        watch = _Stopwatch()
        hits = self._retrieve(question, roles, top_k, mode or self.config.mode, watch)
        return hits, watch.timings_ms

    def retrieve_explained(
        self, question: str, roles: frozenset[str], top_k: int, mode: str | None = None
    ) -> tuple[list[SearchHit], list[Explanation]]:
        """:meth:`retrieve`, with an explanation of each hit (:mod:`ragline.explain`), in the same order."""
        mode = mode or self.config.mode
        trace = RetrievalTrace(mode=mode, mmr_lambda=self.config.mmr_lambda)
        hits = self._retrieve(question, roles, top_k, mode, _Stopwatch(), trace)
        return hits, explain(trace, hits, question, roles)

    def answer(
        self,
        question: str,
        roles: frozenset[str],
        top_k: int,
        mode: str | None = None,
        explain_sources: bool = False,
        history: Sequence[ConversationTurn] = (),
    ) -> QueryResult:
        """Rewrite a follow-up, retrieve, then generate. ``history`` is the conversation so far (the caller's
        own, untrusted): with it, the question is first made standalone (:mod:`ragline.rewriting`), and that
        is what is retrieved for, with the caller's roles, and answered. ``timings_ms`` holds each stage
        (``rewrite`` when there is history, ``embed``, ``knn``, ``bm25``, ``fuse``, ``rerank``, ``mmr``,
        ``generate``, as the mode runs them), ``retrieve`` (the wall time up to the generator) and
        ``total``; the lexical search runs beside the embedding and k-NN, so the stages add up to more than
        ``retrieve``. ``explain_sources`` adds an explanation of each source
        (:attr:`QueryResult.explanations`, and an ``explain`` stage)."""
        mode = mode or self.config.mode
        watch = _Stopwatch()
        standalone = question
        if history:
            standalone = self.rewriter.rewrite(question, history).strip() or question
            watch.lap("rewrite")
        trace = RetrievalTrace(mode=mode, mmr_lambda=self.config.mmr_lambda) if explain_sources else None
        sources = self._retrieve(standalone, roles, top_k, mode, watch, trace)
        explanations = None
        if trace is not None:
            explanations = explain(trace, sources, standalone, roles)
            watch.lap("explain")
        answer = self.generator.generate(standalone, sources)
        watch.lap("generate")
        watch.since_start("total")
        return QueryResult(
            answer=answer,
            sources=sources,
            timings_ms=watch.timings_ms,
            explanations=explanations,
            question=question,
            standalone_question=standalone,
        )

    def _retrieve(
        self,
        question: str,
        roles: frozenset[str],
        top_k: int,
        mode: str,
        watch: _Stopwatch,
        trace: RetrievalTrace | None = None,
    ) -> list[SearchHit]:
        """The hits; each stage also records what it did in ``trace`` when one is given (explanations)."""
        if mode not in RETRIEVAL_MODES:
            raise ValueError(f"unknown retrieval mode {mode!r}; one of {', '.join(RETRIEVAL_MODES)}")
        if mode == "hybrid+rerank" and self.reranker is None:
            raise ValueError("retrieval mode 'hybrid+rerank' needs a reranker (RAGLINE_RERANKER)")
        if not roles:
            return []  # a caller with no roles sees nothing; don't spend an embedding on it
        store, embedder = self._live()
        k = max(self.config.candidates, top_k)
        rankings, weights = self._search(store, embedder, question, roles, k, mode, watch)
        watch.lap("search")
        hits = self._fuse(rankings, weights, mode, trace)
        watch.lap("fuse")
        if mode == "hybrid+rerank":
            hits = self._rerank(question, hits, roles, trace)
            watch.lap("rerank")
        hits = self._diversify(hits, top_k, trace)
        watch.lap("mmr")
        watch.since_start("retrieve")
        return self._only_visible(hits, roles)

    def _live(self) -> tuple[VectorStore, Embedder]:
        """The index this question searches, and the model its question is embedded by."""
        if self.indexes is None:
            return self.store, self.embedder
        live = self.indexes.live()
        if live.target == self.indexes.configured:  # the settings' index is this service's own
            return self.store, self.embedder
        return live.store, live.embedder

    def _search(
        self,
        store: VectorStore,
        embedder: Embedder,
        question: str,
        roles: frozenset[str],
        k: int,
        mode: str,
        watch: _Stopwatch,
    ) -> tuple[list[list[SearchHit]], list[float]]:
        """The rankings the mode asks for (k-NN first, then BM25), each with its weight in the fusion."""

        def lexical() -> list[SearchHit]:
            return watch.timed("bm25", lambda: store.bm25_search(question, roles, k))

        if mode == "bm25":
            return [lexical()], [self.config.lexical_weight]
        # The lexical search needs no embedding: it starts first, on its own thread, and runs while the
        # question is embedded and the k-NN search runs (both stores' searches wait on I/O or release the GIL).
        running = _lexical_pool().submit(lexical) if mode != "dense" else None
        try:
            vector = watch.timed("embed", lambda: embedder.embed_query(question))
            dense = watch.timed("knn", lambda: store.knn_search(vector, roles, k))
        except BaseException:
            _settle(running)  # nothing of this request may outlive it, not even a search nobody reads
            raise
        if running is None:
            return [dense], [self.config.dense_weight]
        return [dense, running.result()], [self.config.dense_weight, self.config.lexical_weight]

    def _fuse(
        self, rankings: list[list[SearchHit]], weights: list[float], mode: str, trace: RetrievalTrace | None
    ) -> list[SearchHit]:
        fused = self._fused(rankings, weights, mode, None if trace is None else trace.contributions)
        if trace is not None:
            names: tuple[SearchName, ...] = ("lexical",) if mode == "bm25" else _DENSE_FIRST[: len(rankings)]
            trace.searches = list(zip(names, rankings, strict=True))  # k-NN first, then BM25, as _search returns them
            trace.fusion = None if mode == "dense" else "convex" if len(rankings) == 1 else self.config.fusion
            trace.fused = fused
        return fused

    def _fused(
        self, rankings: list[list[SearchHit]], weights: list[float], mode: str, contributions: Contributions | None
    ) -> list[SearchHit]:
        if len(rankings) == 1:
            # BM25 scores leave normalised over the caller's own results, on the scale of the other modes (their
            # statistics are the caller's already: docs/security.md, "BM25 statistics").
            return convex_combination(rankings, contributions=contributions) if mode == "bm25" else rankings[0]
        if self.config.fusion == "convex":
            return convex_combination(rankings, weights, contributions)
        if self.config.fusion == "rrf":
            return reciprocal_rank_fusion(rankings, weights, contributions=contributions)
        raise ValueError(f"unknown RAGLINE_FUSION {self.config.fusion!r}; one of {', '.join(FUSIONS)}")

    def _rerank(
        self, question: str, hits: list[SearchHit], roles: frozenset[str], trace: RetrievalTrace | None
    ) -> list[SearchHit]:
        """The reranker reorders the shortlist; the tail keeps its fused order (deep retrieval stays cheap)."""
        assert self.reranker is not None  # _retrieve refuses a reranking mode without one
        shortlist = self.config.shortlist
        head = self._only_visible(hits[:shortlist], roles)
        reranked = self.reranker.rerank(question, head, len(head))
        if trace is not None:
            trace.reranked, trace.rerank_head = reranked + hits[shortlist:], len(reranked)
        return reranked + hits[shortlist:]

    def _diversify(self, hits: list[SearchHit], top_k: int, trace: RetrievalTrace | None) -> list[SearchHit]:
        """MMR picks the first results from the shortlist; past it the order stands (its cost is quadratic)."""
        shortlist = self.config.shortlist
        pool = hits[:shortlist]
        mmr = None if trace is None else trace.mmr
        head = maximal_marginal_relevance(pool, min(top_k, shortlist), self.config.mmr_lambda, mmr)
        if trace is not None:
            trace.mmr_pool = pool
        chosen = {hit.chunk.chunk_id for hit in head}
        return head + [hit for hit in hits if hit.chunk.chunk_id not in chosen][: top_k - len(head)]

    @staticmethod
    def _only_visible(hits: list[SearchHit], roles: frozenset[str]) -> list[SearchHit]:
        """The second check of invariant 2: the store filtered already; a hit that slipped through is dropped."""
        visible = [hit for hit in hits if can_see(hit.chunk.roles, roles)]
        if len(visible) != len(hits):
            logger.error("store returned %d chunks outside the caller's roles; dropped", len(hits) - len(visible))
        return visible
