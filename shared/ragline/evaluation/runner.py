"""``ragline eval``: index a BEIR dataset and score retrieval, through the production code.

Every corpus document becomes a Markdown object (``# {title}\\n\\n{text}``, key ``{_id}.md``, role
``eval``) and goes through :func:`ragline.indexing.chunks_of` (parse and chunk as ingest does), the
embedder (in batches of about :data:`EMBED_BATCH` chunks, one call each, then
``store.replace_document`` per document, which is :func:`ragline.indexing.index_chunks` batched) and an
:class:`~ragline.stores.sqlite.SqliteStore` in a temporary folder, built by the factory. Each judged
query then goes through :meth:`ragline.query.QueryService.retrieve` in the chosen mode, as the query
function runs it. A document ranks where its best chunk ranks; the first :data:`DOCS_PER_QUERY`
distinct documents are scored with :mod:`ragline.evaluation.metrics`.

A retrieved document whose BEIR id is the query's own id is dropped before the cut to
:data:`DOCS_PER_QUERY`, as BEIR (``ignore_identical_ids``) and MTEB do: in datasets such as ArguAna and
Quora the queries are documents of the corpus too, and finding a query itself says nothing. The report
counts the documents dropped; ``ignore_identical_ids=False`` keeps them.

In ``bm25`` mode no document is embedded (zero vectors are stored): the vectors would not be read.

Document vectors of a real model are cached on disk (:class:`ragline.embedders.cache.CachedEmbedder`,
``$RAGLINE_CACHE_DIR/embeddings.sqlite3``, default ``~/.cache/ragline/``), so a second run on the same
corpus skips the embedding.

    >>> report = evaluate("../shared/data/scifact", "bm25", limit=20)  # doctest: +SKIP
    >>> report.to_dict()["ndcg@10"]  # doctest: +SKIP
    0.71
"""

from __future__ import annotations

import hashlib
import math
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ragline.embedders.cache import cache_folder
from ragline.errors import UnparseableDocument
from ragline.evaluation.beir import BeirDataset, BeirDocument, Half, load_beir
from ragline.evaluation.metrics import DEFAULT_METRICS, evaluate_run
from ragline.ids import document_id
from ragline.indexing import chunks_of
from ragline.models import Chunk, SearchHit, StoredObject
from ragline.ports import Embedder, Reranker, VectorStore
from ragline.settings import RETRIEVAL_MODES, EmbedderName, RetrievalMode, Settings

__all__ = [
    "DOCS_PER_QUERY",
    "EMBED_BATCH",
    "EVAL_ROLE",
    "EvalReport",
    "IndexedCorpus",
    "StageClock",
    "default_cache_path",
    "evaluate",
    "indexed_corpus",
    "latency_summary",
    "progress_bar",
    "ranked_documents",
    "reranker_for",
]

EVAL_BUCKET = "eval"
EVAL_ROLE = "eval"
DOCS_PER_QUERY = 100  # the deepest cut-off of the metrics (recall@100)
EMBED_BATCH = 256  # chunks per embed_documents call while indexing
MIN_DEPTH = 300  # chunks retrieved per query, at least
# QueryService's stage timings -> the report's query stages (the question's embedding is "query_embed",
# apart from the corpus' "embed").
_QUERY_STAGES = {
    "embed": "query_embed",
    "knn": "knn",
    "bm25": "bm25",
    "search": "search",
    "fuse": "fuse",
    "rerank": "rerank",
    "mmr": "mmr",
}


def default_cache_path() -> Path:
    """``embeddings.sqlite3`` in :func:`ragline.embedders.cache.cache_folder`."""
    return cache_folder() / "embeddings.sqlite3"


@dataclass
class EvalReport:
    """What one evaluation measured. ``latency_ms`` (mean, p50, p95) is per query, around ``retrieve``.

    ``timings`` are seconds per stage, in order: ``load`` (read the dataset); indexing: ``chunk`` (render,
    parse and chunk), ``embed``, ``store``; ``warm-up`` (load the query model, not in dense-free modes);
    the query stages summed over all queries, as :meth:`QueryService.retrieve_with_timings` reports them:
    ``query_embed``, ``knn``, ``bm25`` (as the mode uses them; BM25 runs beside the other two), ``search``
    (the wall time of the searches), ``fuse``, ``rerank``, ``mmr``; ``queries`` (the wall time of all the
    retrievals); and ``total``.
    """

    dataset: str
    mode: str
    embedder: str  # "none" in bm25 mode, which embeds nothing
    metrics: dict[str, float]  # "ndcg@10", "recall@100", "mrr@10" -> mean over the queries
    per_query: dict[str, dict[str, float]]  # metric -> query id -> score
    queries: int
    docs: int
    chunks: int
    skipped_docs: int
    depth: int  # chunks retrieved per query
    timings: dict[str, float]
    latency_ms: dict[str, float]
    cache: dict[str, Any] | None = None  # path, hits, misses of the embedding cache, when one was used
    runs: dict[str, list[str]] = field(default_factory=dict, repr=False)  # query id -> ranked BEIR doc ids
    # Retrieved documents dropped because their id is the query's (BEIR's ignore_identical_ids); None: kept.
    ignored_identical_ids: int | None = 0
    half: Half | None = None  # the half of the queries evaluated (beir.half_of), None for all

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``ragline eval --json`` (no per-query scores)."""
        return {
            **{name: round(value, 4) for name, value in self.metrics.items()},
            "queries": self.queries,
            "docs": self.docs,
            "dataset": self.dataset,
            "mode": self.mode,
            "embedder": self.embedder,
            "chunks": self.chunks,
            "skipped_docs": self.skipped_docs,
            "depth": self.depth,
            "ignored_identical_ids": self.ignored_identical_ids,
            "split": self.half or "all",
            "timings": {stage: round(seconds, 3) for stage, seconds in self.timings.items()},
            "latency_ms": {name: round(value, 2) for name, value in self.latency_ms.items()},
            "cache": self.cache,
        }


class StageClock:
    """Seconds spent per stage, added up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


def _percentile(values: Sequence[float], share: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def as_object(doc: BeirDocument) -> StoredObject:
    """A BEIR document as the Markdown object ingest would read from the bucket."""
    title = " ".join(doc.title.split())
    body = f"# {title}\n\n{doc.text}" if title else doc.text
    data = body.encode("utf-8")
    return StoredObject(
        bucket=EVAL_BUCKET,
        key=f"{doc.id}.md",
        data=data,
        metadata={"roles": EVAL_ROLE},
        etag=hashlib.sha256(data).hexdigest()[:32],
    )


def progress_bar(total: int, description: str, unit: str, enabled: bool) -> Any:
    """A tqdm bar on stderr when ``enabled`` and tqdm is installed, else one that shows nothing."""
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:  # the bar comes with the `local` extra
            pass
        else:
            return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True)
    return _NoProgressBar()


class _NoProgressBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _build_embedder(
    embedder: Embedder | str | None, settings: Settings, cache: bool | None, cache_dir: str | Path | None
) -> tuple[Embedder, Any]:
    """The embedder to index with, wrapped in the on-disk cache unless told otherwise (or the hash embedder)."""
    if embedder is None or isinstance(embedder, str):
        from ragline.factory import build_embedder

        inner = build_embedder(settings)
    else:
        inner = embedder
    if cache is None:
        cache = cache_dir is not None or inner.name != "hash"
    if not cache:
        return inner, None
    from ragline.embedders.cache import CachedEmbedder

    path = Path(cache_dir) / "embeddings.sqlite3" if cache_dir is not None else default_cache_path()
    cached = CachedEmbedder(inner, path)
    return cached, cached


def _index(
    corpus: Sequence[BeirDocument],
    store: VectorStore,
    embedder: Embedder,
    settings: Settings,
    embed: bool,
    clock: StageClock,
    progress: bool,
) -> tuple[dict[str, str], int, int]:
    """Index the corpus; returns ragline doc id -> BEIR id, the number of chunks, the documents skipped."""
    beir_ids: dict[str, str] = {}
    pending: list[tuple[str, list[Chunk]]] = []
    pending_chunks = 0
    chunk_count = 0
    skipped = 0
    bar = progress_bar(len(corpus), "indexing", "doc", progress)

    def flush() -> None:
        nonlocal pending, pending_chunks, chunk_count
        texts = [chunk.indexed_text() for _, chunks in pending for chunk in chunks]
        with clock.stage("embed"):
            vectors = embedder.embed_documents(texts) if embed else [[0.0] * embedder.dimension] * len(texts)
        with clock.stage("store"):
            start = 0
            for doc_id, chunks in pending:
                store.replace_document(doc_id, chunks, vectors[start : start + len(chunks)])
                start += len(chunks)
        bar.update(len(pending))
        chunk_count += len(texts)
        pending, pending_chunks = [], 0

    try:
        for doc in corpus:
            with clock.stage("chunk"):
                stored = as_object(doc)
                doc_id = document_id(stored.bucket, stored.key)
                try:
                    chunks = chunks_of(stored, doc_id, (EVAL_ROLE,), settings)
                except UnparseableDocument:
                    chunks = []
            if not chunks:
                skipped += 1
                bar.update()
                continue
            beir_ids[doc_id] = doc.id
            pending.append((doc_id, chunks))
            pending_chunks += len(chunks)
            if pending_chunks >= EMBED_BATCH:
                flush()
        if pending:
            flush()
    finally:
        bar.close()
    return beir_ids, chunk_count, skipped


@dataclass(frozen=True)
class IndexedCorpus:
    """A corpus indexed into a temporary store (:func:`indexed_corpus`), ready for a :class:`QueryService`."""

    store: VectorStore
    embedder: Embedder  # the one that embedded the corpus; it embeds the questions too
    beir_ids: dict[str, str]  # ragline doc id -> BEIR id
    chunks: int
    skipped: int  # documents that gave no chunk (nothing to index, or unparseable)
    cached: Any = None  # the CachedEmbedder, when the embedding cache is in use

    def cache_report(self) -> dict[str, Any] | None:
        """The report's ``cache``: its path, hits and misses, or None without a cache."""
        if self.cached is None:
            return None
        return {"path": str(self.cached.path), "hits": self.cached.hits, "misses": self.cached.misses}


@contextmanager
def indexed_corpus(
    corpus: Sequence[BeirDocument],
    settings: Settings,
    *,
    embed: bool,
    embedder: Embedder | None = None,
    cache: bool | None = None,
    cache_dir: str | Path | None = None,
    clock: StageClock | None = None,
    progress: bool = True,
) -> Iterator[IndexedCorpus]:
    """``corpus`` indexed through the production chunking and the embedder (``embedder``, else the
    settings'; cached as :func:`evaluate` says) into an embedded store in a temporary folder, removed on
    exit. ``embed=False`` stores zero vectors (for ``bm25`` mode, which reads none). The clock gets the
    stages ``chunk``, ``embed``, ``store`` and, when embedding, ``warm-up``."""
    from ragline.factory import build_store

    clock = clock if clock is not None else StageClock()
    indexing_embedder, cached = _build_embedder(embedder, settings, cache if embed else False, cache_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="ragline-eval-") as folder:
            store_settings = replace(settings, store="embedded", index_path=str(Path(folder) / "index.sqlite3"))
            store = build_store(store_settings, indexing_embedder.dimension)
            try:
                beir_ids, chunk_count, skipped = _index(
                    corpus, store, indexing_embedder, settings, embed, clock, progress
                )
                if embed:
                    with clock.stage("warm-up"):  # a model loads on first use: keep that out of query latency
                        indexing_embedder.embed_query("warm up")
                yield IndexedCorpus(store, indexing_embedder, beir_ids, chunk_count, skipped, cached)
            finally:
                store.close()
    finally:
        if cached is not None:
            cached.close()


def reranker_for(mode: str, settings: Settings, reranker: Reranker | None) -> Reranker | None:
    """The reranker ``mode`` needs: the one given, else the settings' (``hybrid+rerank`` only); checks the mode."""
    if mode not in RETRIEVAL_MODES:
        raise ValueError(f"unknown mode {mode!r}; one of {', '.join(RETRIEVAL_MODES)}")
    if mode != "hybrid+rerank" or reranker is not None:
        return reranker
    from ragline.factory import build_reranker

    configured = build_reranker(settings)
    if configured is None:
        raise ValueError("mode hybrid+rerank needs a reranker: set RAGLINE_RERANKER (e.g. bedrock)")
    return configured


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """Mean, p50 and p95 of per-query latencies, in milliseconds."""
    return {
        "mean": 1000 * sum(seconds) / len(seconds) if seconds else 0.0,
        "p50": 1000 * _percentile(seconds, 0.50),
        "p95": 1000 * _percentile(seconds, 0.95),
    }


def evaluate(
    dataset_dir: str | Path,
    mode: RetrievalMode,
    limit: int | None = None,
    embedder: Embedder | EmbedderName | None = None,
    cache_dir: str | Path | None = None,
    settings: Settings | None = None,
    progress: bool = True,
    *,
    max_docs: int | None = None,
    cache: bool | None = None,
    reranker: Reranker | None = None,
    ignore_identical_ids: bool = True,
    half: Half | None = None,
) -> EvalReport:
    """Index the BEIR dataset at ``dataset_dir`` into a temporary embedded store and score ``mode``'s
    retrieval of its test queries.

    ``limit``, ``max_docs`` and ``half``: see :func:`ragline.evaluation.beir.load_beir`. ``embedder``: an
    embedder, or an adapter name (``local``, ``hash``, ``bedrock``), default the settings'
    (``Settings.from_env()`` by default). Its document vectors are cached on disk unless ``cache`` is
    False; by default they are for every embedder but ``hash``, in ``cache_dir/embeddings.sqlite3`` or
    :func:`default_cache_path`. ``hybrid+rerank`` needs ``reranker`` or one configured in the settings
    (``RAGLINE_RERANKER``). ``ignore_identical_ids``: drop a retrieved document whose id is the query's
    (the module's docstring says why). Progress bars go to stderr when ``progress``. Raises
    ``ValueError`` for a bad mode or dataset and ``FileNotFoundError`` for a missing one.
    """
    settings = settings if settings is not None else Settings.from_env()
    if isinstance(embedder, str):
        settings = replace(settings, embedder=embedder)
    reranker = reranker_for(mode, settings, reranker)
    clock = StageClock()
    started = time.perf_counter()

    with clock.stage("load"):
        dataset = load_beir(dataset_dir, limit=limit, max_docs=max_docs, half=half)

    from ragline.generators.extractive import ExtractiveGenerator
    from ragline.query import QueryService, RetrievalConfig

    given = None if isinstance(embedder, str) else embedder
    with indexed_corpus(
        dataset.corpus,
        settings,
        embed=mode != "bm25",
        embedder=given,
        cache=cache,
        cache_dir=cache_dir,
        clock=clock,
        progress=progress,
    ) as index:
        # Chunks come back, documents are scored: retrieve enough chunks for DOCS_PER_QUERY documents.
        per_doc = index.chunks / max(len(index.beir_ids), 1)
        depth = min(max(MIN_DEPTH, math.ceil(3 * DOCS_PER_QUERY * per_doc)), max(index.chunks, 1))
        config = RetrievalConfig.from_settings(settings)
        config = replace(config, candidates=max(config.candidates, depth), mode=mode)
        service = QueryService(index.store, index.embedder, ExtractiveGenerator(), config, reranker=reranker)
        runs, latencies, ignored = _query(
            dataset, service, mode, depth, index.beir_ids, clock, progress, ignore_identical_ids
        )

    scores = evaluate_run(runs, dataset.qrels, DEFAULT_METRICS)
    timings = dict(clock.seconds)
    timings["total"] = time.perf_counter() - started
    order = ("load", "chunk", "embed", "store", "warm-up", *_QUERY_STAGES.values(), "queries", "total")
    return EvalReport(
        dataset=dataset.name,
        mode=mode,
        embedder=index.embedder.name if mode != "bm25" else "none",
        metrics=scores.mean,
        per_query=scores.per_query,
        queries=len(dataset.queries),
        docs=len(dataset.corpus),
        chunks=index.chunks,
        skipped_docs=index.skipped,
        depth=depth,
        timings={stage: timings[stage] for stage in order if stage in timings},
        latency_ms=latency_summary(latencies),
        cache=index.cache_report(),
        runs=runs,
        ignored_identical_ids=ignored if ignore_identical_ids else None,
        half=half,
    )


def ranked_documents(
    hits: Sequence[SearchHit], beir_ids: dict[str, str], query_id: str, ignore_identical_ids: bool = True
) -> tuple[list[str], bool]:
    """The first :data:`DOCS_PER_QUERY` distinct BEIR documents of ``hits`` (chunks, best first), and
    whether the query's own id was among the documents dropped for being it.

    The comparison is of BEIR ids, document against query, after chunks are mapped to their documents:
    several chunks of the query's own document drop one document. The cut comes after the drop, so
    nDCG@10 still sees ten documents when there are.

    >>> from ragline.models import Chunk
    >>> hit = lambda doc: SearchHit(Chunk(f"{doc}-0", doc, "v", "t", "s", "", ("r",), 0), 1.0)
    >>> ranked_documents([hit("a"), hit("q"), hit("q"), hit("b")], {"a": "A", "q": "Q1", "b": "B"}, "Q1")
    (['A', 'B'], True)
    """
    ranking: dict[str, None] = {}
    dropped = False
    for hit in hits:
        beir_id = beir_ids.get(hit.chunk.doc_id)
        if beir_id is None:
            continue
        if ignore_identical_ids and beir_id == query_id:
            dropped = True
            continue
        ranking.setdefault(beir_id)
        if len(ranking) == DOCS_PER_QUERY:
            break
    return list(ranking), dropped


def _query(
    dataset: BeirDataset,
    service: Any,
    mode: str,
    depth: int,
    beir_ids: dict[str, str],
    clock: StageClock,
    progress: bool,
    ignore_identical_ids: bool,
) -> tuple[dict[str, list[str]], list[float], int]:
    """Each judged query's ranked BEIR documents (at most DOCS_PER_QUERY), each query's latency in seconds,
    and how many queries' own documents were dropped from their rankings."""
    roles = frozenset({EVAL_ROLE})
    runs: dict[str, list[str]] = {}
    latencies: list[float] = []
    ignored = 0
    bar = progress_bar(len(dataset.queries), "querying", "query", progress)
    try:
        for query in dataset.queries:
            start = time.perf_counter()
            hits, stages_ms = service.retrieve_with_timings(query.text, roles, depth, mode=mode)
            elapsed = time.perf_counter() - start
            latencies.append(elapsed)
            clock.seconds["queries"] += elapsed
            for stage, milliseconds in stages_ms.items():
                if stage in _QUERY_STAGES:
                    clock.seconds[_QUERY_STAGES[stage]] += milliseconds / 1000
            runs[query.id], dropped = ranked_documents(hits, beir_ids, query.id, ignore_identical_ids)
            ignored += dropped
            bar.update()
    finally:
        bar.close()
    return runs, latencies, ignored


def identical_ids_line(ignored: int | None) -> str:
    """What the report says of the identical-id rule."""
    if ignored is None:
        return "kept retrieved documents whose id is the query's (--keep-identical-ids)"
    return f"ignored {ignored} retrieved documents whose id is the query's (BEIR's ignore_identical_ids)"


def format_report(report: EvalReport) -> str:
    """The human-readable table ``ragline eval`` prints."""
    names = {"ndcg@10": "nDCG@10", "recall@100": "recall@100", "mrr@10": "MRR@10"}
    lines = [
        f"ragline eval: {report.dataset}, mode {report.mode}, embedder {report.embedder}",
        f"{report.queries} queries"
        + (f" (the {report.half} half)" if report.half else "")
        + f", {report.docs} documents ({report.chunks} chunks"
        + (f", {report.skipped_docs} skipped" if report.skipped_docs else "")
        + f"), {report.depth} chunks retrieved per query",
        identical_ids_line(report.ignored_identical_ids),
        "",
    ]
    lines += [f"  {names.get(metric, metric):<12}{value:.4f}" for metric, value in report.metrics.items()]
    lines += ["", "timings (s):"]
    lines += [f"  {stage:<12}{seconds:9.2f}" for stage, seconds in report.timings.items()]
    latency = report.latency_ms
    lines += [
        "",
        f"query latency (ms): mean {latency['mean']:.1f}, p50 {latency['p50']:.1f}, p95 {latency['p95']:.1f}",
    ]
    if report.cache is not None:
        cache = report.cache
        lines.append(f"embedding cache: {cache['hits']} hits, {cache['misses']} misses ({cache['path']})")
    return "\n".join(lines)
