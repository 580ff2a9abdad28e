"""Query latency without generation over the embedded store, at 10k, 100k and 1M chunks; peer stores side by side.

Synthetic chunks of realistic prose (about 170 words each, 20 per document, roles by document: half
``everyone``, the rest ``finance``, ``engineering`` or ``finance``+``research``) are written into an
``SqliteStore`` on disk with vectors from the ``hash`` embedder (384 dimensions, for building speed), in
blocks of 10,000 made by two worker processes (each block from a seed of its own), so a million chunks are
written without ever being held at once. Questions share words with random chunks. Each size is then
measured in a fresh process holding only the store, the local model and the questions, whose resident
memory is reported (after the model loaded, after the queries, and its peak). Each question goes
through ``QueryService.answer`` with the default settings (embed the question with the local model, k-NN
and BM25 filtered by the caller's roles ``everyone`` + ``engineering``, normalised-score fusion, the local
proximity reranker over the head, MMR at the default lambda) with a stand-in generator that writes nothing
(``SkipGeneration``), so the stage timings are those of the production path; the total is the wall time of
the retrieval (``retrieve``: the BM25 search runs on a thread beside the embedding and the k-NN search, so
the stages add up to more). A second, shorter pass runs with ``RAGLINE_MMR_LAMBDA=0.5``. The first search
after opening the store (loading the vectors) is reported apart as the cold query.

The peers (``--peer chroma lancedb sqlite-vec``; ``chroma`` alone by default, ``none`` for none), each in
the same run on the same chunks, vectors, query vectors (the questions through the hash embedder, as the
chunks were), k (``Settings().candidates``, 50) and role filter, against the embedded store's exact filtered
k-NN and a plain hybrid search of its own (k-NN, BM25, RRF):

- Chroma: a persistent collection (HNSW, cosine), the filter ``$or`` over one boolean metadata field per role;
- LanceDB: a table on disk, the roles a list column, ``array_has_any`` as a prefilter served by a LabelList
  scalar index; k-NN without a vector index (a flat scan), its hybrid search (native full-text index, RRF);
  then an IVF_HNSW_SQ index, measured apart with its recall;
- sqlite-vec: a ``vec0`` table (cosine; a full scan), the roles in a plain table joined inside the k-NN
  (``rowid in (select ...)``); it has no BM25, so no hybrid.

For each: index time, filtered k-NN p50/p95 (and without the filter), recall@k against the exact k-NN, hits
the caller may not see, hybrid p50/p95 where the peer has it, and the process's RSS growth while the peer is
loaded (and its peak). The peers are not dependencies of ``ragline``; install them with

    .venv/bin/pip install -r benchmarks/requirements-peers.txt

    .venv/bin/python benchmarks/query_latency.py [--sizes 10000 100000 1000000] [--queries 200]
        [--peer chroma lancedb sqlite-vec | none] [--peer-max-size 100000] [--name query_latency]

Targets (issue 17): at 100k chunks p50 under 25 ms and p95 under 40 ms (embedding included); at 1M p50
under 150 ms and resident memory under 2 GB.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import gc
import importlib
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import _bench

# (what, at how many chunks, the value read from a size's default run, the limit it must stay under)
TARGETS: list[tuple[str, int, Callable[[dict[str, Any]], float], float]] = [
    ("p50 ms at 100k chunks (embedding included)", 100_000, lambda run: run["total_ms"]["p50"], 25.0),
    ("p95 ms at 100k chunks", 100_000, lambda run: run["total_ms"]["p95"], 40.0),
    ("p50 ms at 1M chunks", 1_000_000, lambda run: run["total_ms"]["p50"], 150.0),
    ("peak resident memory MB at 1M chunks", 1_000_000, lambda run: run["memory_mb"]["peak"], 2000.0),
]
CHUNKS_PER_DOC = 20
CALLER = frozenset({"everyone", "engineering"})
ROLE_MIX = [("everyone",)] * 10 + [("finance",)] * 4 + [("engineering",)] * 4 + [("finance", "research")] * 2
STAGES = ("embed", "knn", "bm25", "fuse", "rerank", "mmr")
BATCH = 2000
BLOCK = 10_000  # chunks per block of the corpus (each from a seed of its own)
DIMENSION = 384  # the hash embedder's vectors, the local model's dimension


class SkipGeneration:
    """A stand-in generator that writes no answer: the benchmark times retrieval only."""

    name = "skip-generation"

    def generate(self, question: str, sources: Any) -> Any:
        from ragline.models import Answer

        return Answer(text="", cited=[], model=self.name)


def make_chunks(count: int, seed: int = 17) -> tuple[list[Any], list[str]]:
    """``count`` chunks of prose in documents of 20 (the first ``count`` of every larger corpus)."""
    chunks: list[Any] = []
    for block in range(-(-count // BLOCK)):
        chunks.extend(corpus_block(block, seed)[: count - len(chunks)])
    return chunks, []


def corpus_block(block: int, seed: int = 17) -> list[Any]:
    """Chunks ``block * BLOCK`` to ``(block + 1) * BLOCK - 1``, each block from a seed of its own, so that
    blocks are made in parallel and a corpus of a million chunks is written without holding it all."""
    from ragline.models import Chunk

    prose = _bench.Prose(seed=seed + block)
    chunks = []
    for index in range(block * BLOCK, (block + 1) * BLOCK):
        doc = index // CHUNKS_PER_DOC
        roles = ROLE_MIX[doc % len(ROLE_MIX)]
        title = f"Document {doc}"
        chunks.append(
            Chunk(
                chunk_id=f"c{index:07d}",
                doc_id=f"d{doc:06d}",
                version="v1",
                text=prose.words(170),
                source=f"s3://bench/docs/{doc}.md",
                title=title,
                roles=roles,
                position=index % CHUNKS_PER_DOC,
                page=None,
                heading_path=(title, prose.heading()),
            )
        )
    return chunks


def questions(chunks: list[Any], count: int, seed: int = 23) -> list[str]:
    return questions_about(lambda index: chunks[index].text, len(chunks), count, seed)


def questions_about(text_of: Callable[[int], str], size: int, count: int, seed: int = 23) -> list[str]:
    """``count`` questions, each about the text of a random one of ``size`` chunks (``text_of(index)``)."""
    prose = _bench.Prose(seed=seed)
    return [prose.question_about(text_of(prose.rng.randrange(size))) for _ in range(count)]


def questions_from_store(path: Path, size: int, count: int) -> list[str]:
    """:func:`questions` about the chunks of the store at ``path``, read back from the file."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:

        def text_of(index: int) -> str:
            (text,) = conn.execute("SELECT text FROM chunks WHERE chunk_id = ?", (f"c{index:07d}",)).fetchone()
            return str(text)

        return questions_about(text_of, size, count)


def embedded_block(block: int) -> tuple[list[Any], Any]:
    """A block of the corpus and its chunks' vectors (the hash embedder, as float32), for a worker process."""
    import numpy as np

    from ragline.embedders.hashing import HashEmbedder

    chunks = corpus_block(block)
    vectors = HashEmbedder(dimension=DIMENSION).embed_documents([c.indexed_text() for c in chunks])
    return chunks, np.asarray(vectors, dtype=np.float32)


def corpus_with_vectors(size: int) -> tuple[list[Any], Any]:
    """The first ``size`` chunks of the corpus and their vectors (a float32 matrix), made by two workers:
    what the peers are given (a million vectors as lists of floats would not fit)."""
    import numpy as np

    chunks: list[Any] = []
    parts = []
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as pool:
        for block_chunks, block_vectors in pool.map(embedded_block, range(-(-size // BLOCK))):
            chunks.extend(block_chunks)
            parts.append(block_vectors)
    return chunks[:size], np.concatenate(parts)[:size]


def build_streamed(path: Path, size: int) -> tuple[float, float]:
    """Write the first ``size`` chunks of the corpus into a new embedded store at ``path``, block by block:
    two worker processes make the blocks and their vectors, this one writes them in order. Returns the
    seconds taken in all and the seconds spent writing."""
    from concurrent.futures import ProcessPoolExecutor

    from ragline.stores.sqlite import SqliteStore

    started, writing = time.perf_counter(), 0.0
    blocks = -(-size // BLOCK)
    # One block is made here: two worker processes would cost more to start than they save.
    pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) if blocks > 1 else None
    made = pool.map(embedded_block, range(blocks)) if pool is not None else map(embedded_block, range(blocks))
    with pool or contextlib.nullcontext(), SqliteStore(path, dimension=DIMENSION) as store:
        left = size
        for chunks, vectors in made:
            chunks, vectors = chunks[:left], vectors[:left]
            began = time.perf_counter()
            for start in range(0, len(chunks), BATCH):
                store.upsert(chunks[start : start + BATCH], vectors[start : start + BATCH])
            writing += time.perf_counter() - began
            left -= len(chunks)
    return time.perf_counter() - started, writing


def build_embedded(path: Path, chunks: list[Any], vectors: list[list[float]]) -> float:
    """Write the chunks into a new embedded store at ``path``; returns the seconds taken."""
    from ragline.stores.sqlite import SqliteStore

    started = time.perf_counter()
    with SqliteStore(path, dimension=len(vectors[0])) as store:
        for start in range(0, len(chunks), BATCH):
            store.upsert(chunks[start : start + BATCH], vectors[start : start + BATCH])
    return time.perf_counter() - started


def measure_embedded(
    path: Path, dimension: int, embedder: Any, qs: list[str], mmr_lambda: float | None = None, cold: bool = True
) -> dict[str, Any]:
    from ragline.factory import build_reranker
    from ragline.query import QueryService, RetrievalConfig
    from ragline.settings import Settings
    from ragline.stores.sqlite import SqliteStore

    settings = Settings()
    if mmr_lambda is not None:
        settings = dataclasses.replace(settings, mmr_lambda=mmr_lambda)
    store = SqliteStore(path, dimension)
    try:
        service = QueryService(
            store,
            embedder,
            SkipGeneration(),
            RetrievalConfig.from_settings(settings),
            reranker=build_reranker(settings),
        )
        vector = embedder.embed_query(qs[0])
        started = time.perf_counter()
        store.knn_search(vector, CALLER, settings.candidates)
        cold_ms = (time.perf_counter() - started) * 1000
        for question in qs[:5]:  # warm-up
            service.answer(question, CALLER, settings.top_k)
        per_stage: dict[str, list[float]] = {stage: [] for stage in STAGES}
        totals, without_embed, hits = [], [], []
        for question in qs:
            result = service.answer(question, CALLER, settings.top_k)
            timings = result.timings_ms
            for stage in STAGES:
                per_stage[stage].append(timings.get(stage, 0.0))
            totals.append(timings["retrieve"])  # wall time: BM25 runs beside the embedding and k-NN
            # Given the question's vector, the searches one after the other and what follows them.
            without_embed.append(sum(timings.get(stage, 0.0) for stage in STAGES if stage != "embed"))
            hits.append(len(result.sources))
        after_queries = rss_mb()
    finally:
        store.close()
    return {
        "queries": len(qs),
        "mmr_lambda": settings.mmr_lambda,
        "mode": settings.retrieval_mode,
        "reranker": settings.reranker,
        "total_ms": _bench.summary(totals),
        "retrieval_without_embed_ms": _bench.summary(without_embed),
        "stages_ms": {stage: _bench.summary(values) for stage, values in per_stage.items()},
        "cold_first_knn_ms": round(cold_ms, 1) if cold else None,
        "rss_after_queries_mb": round(after_queries, 1),
        "mean_hits": round(sum(hits) / len(hits), 2) if hits else 0,
    }


# -- the peers -------------------------------------------------------------------------------------------
# The same chunks, vectors, query vectors and role filter, in the stores a developer would otherwise embed.

PEERS = ("chroma", "lancedb", "sqlite-vec")
PEER_MODULES = {"chroma": "chromadb", "lancedb": "lancedb", "sqlite-vec": "sqlite_vec"}
REQUIREMENTS = "benchmarks/requirements-peers.txt"
RSS_SAMPLE_S = 0.1
ANN_MAX_ROWS = 100_000


@dataclasses.dataclass(frozen=True)
class PeerRun:
    """What every peer is given at one size, and what its answers are checked against."""

    directory: Path
    chunks: list[Any]
    vectors: Any  # float32 [chunks, dimension]
    questions: list[str]
    query_vectors: list[list[float]]
    k: int
    exact_ids: list[list[str]]  # the embedded store's filtered k-NN, which is exact: the reference for recall
    visible: frozenset[str]  # the chunk ids the caller may see

    def knn_report(self, latency: dict[str, float], answers: list[list[str]]) -> dict[str, Any]:
        """Latency, recall@k against the exact filtered k-NN, and hits the caller may not see (a filter
        applied after the search, or not at all, shows as fewer hits or as leaks)."""
        shares = [
            len(set(got) & set(exact)) / len(exact) for got, exact in zip(answers, self.exact_ids, strict=True) if exact
        ]
        return {
            "knn_ms": latency,
            "recall_at_k": round(sum(shares) / len(shares), 4) if shares else None,
            "leaked": self.leaked(answers),
            "mean_hits": round(sum(map(len, answers)) / len(answers), 2) if answers else 0,
        }

    def leaked(self, answers: list[list[str]]) -> int:
        return sum(1 for got in answers for chunk_id in got if chunk_id not in self.visible)


def timed_queries(search: Callable[[int], list[str]], count: int) -> tuple[dict[str, float], list[list[str]]]:
    """``search(i)`` for each query index after 5 warm-up calls: the latency summary (ms) and the ids found."""
    for index in range(min(5, count)):
        search(index)
    latencies, answers = [], []
    for index in range(count):
        began = time.perf_counter()
        answers.append(search(index))
        latencies.append((time.perf_counter() - began) * 1000)
    return _bench.summary(latencies), answers


def rss_mb() -> float:
    """This process's resident set size now, in MB (Linux: ``/proc/self/statm``)."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the system, so that each store's growth starts from a floor
    and not from the pages the previous one left in the allocator."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class RssWatch:
    """The growth of this process's RSS over a block: its peak (sampled every 0.1 s, so index builds count)
    and where it stands at each :meth:`loaded` (the store open, indexed and queried), under that call's name."""

    def __enter__(self) -> RssWatch:
        release_memory()
        self.start = self.peak = rss_mb()
        self.growth: dict[str, float] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_S):
            self.peak = max(self.peak, rss_mb())

    def loaded(self, name: str = "rss_growth_mb") -> None:
        now = rss_mb()
        self.growth[name] = round(now - self.start, 1)
        self.peak = max(self.peak, now)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sampler.join()

    def report(self) -> dict[str, float]:
        return {**self.growth, "rss_peak_growth_mb": round(self.peak - self.start, 1)}


def measure_embedded_searches(
    path: Path, dimension: int, run: PeerRun, watch: RssWatch
) -> tuple[dict[str, Any], list[list[str]]]:
    """The embedded store's own filtered k-NN (exact) and a plain hybrid search (k-NN, then BM25, fused by
    RRF: no reranker, no MMR), given the same query vectors as the peers; returns the k-NN's ids too."""
    from ragline.fusion import reciprocal_rank_fusion
    from ragline.stores.sqlite import SqliteStore

    with SqliteStore(path, dimension) as store:

        def knn(index: int) -> list[str]:
            return [hit.chunk.chunk_id for hit in store.knn_search(run.query_vectors[index], CALLER, run.k)]

        def hybrid(index: int) -> list[str]:
            dense = store.knn_search(run.query_vectors[index], CALLER, run.k)
            lexical = store.bm25_search(run.questions[index], CALLER, run.k)
            return [hit.chunk.chunk_id for hit in reciprocal_rank_fusion([dense, lexical])[: run.k]]

        knn_latency, exact_ids = timed_queries(knn, len(run.query_vectors))
        watch.loaded("rss_growth_knn_only_mb")  # the vector matrix; BM25's postings come with the first hybrid
        hybrid_latency, hybrid_answers = timed_queries(hybrid, len(run.query_vectors))
        watch.loaded()
    results = {"knn_ms": knn_latency, "hybrid_rrf_ms": hybrid_latency, "hybrid_leaked": run.leaked(hybrid_answers)}
    return results, exact_ids


def measure_chroma(run: PeerRun, watch: RssWatch) -> dict[str, Any]:
    """A persistent Chroma collection (HNSW, cosine, Chroma's defaults); the role filter is ``$or`` over one
    boolean metadata field per role, evaluated by Chroma inside the query."""
    import chromadb

    client = chromadb.PersistentClient(path=str(run.directory))
    collection = client.create_collection("bench", metadata={"hnsw:space": "cosine"})
    batch = min(BATCH, client.get_max_batch_size())
    started = time.perf_counter()
    for start in range(0, len(run.chunks), batch):
        part = run.chunks[start : start + batch]
        collection.add(
            ids=[c.chunk_id for c in part],
            embeddings=run.vectors[start : start + batch],
            documents=[c.text for c in part],
            metadatas=[{"doc_id": c.doc_id, **{f"role_{r}": True for r in c.roles}} for c in part],
        )
    index_s = time.perf_counter() - started
    where = {"$or": [{f"role_{role}": True} for role in sorted(CALLER)]}

    def search(index: int, where: dict[str, Any] | None = where) -> list[str]:
        answer = collection.query(
            query_embeddings=[run.query_vectors[index]],
            n_results=run.k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return list(answer["ids"][0])

    latency, answers = timed_queries(search, len(run.query_vectors))
    # The same query without the role filter: what the filter costs Chroma.
    unfiltered, _ = timed_queries(lambda index: search(index, None), len(run.query_vectors))
    watch.loaded()
    return {
        "index_s": round(index_s, 2),
        **run.knn_report(latency, answers),
        "knn_unfiltered_ms": unfiltered,
        "version": chromadb.__version__,
        "filter": f"where {where} (one boolean metadata field per role), inside the query",
        "index": "HNSW (hnsw:space cosine, Chroma's default parameters)",
    }


def measure_lancedb(run: PeerRun, watch: RssWatch) -> dict[str, Any]:
    """A LanceDB table on disk with the roles as a list column; the filter ``array_has_any(roles, [...])``
    is a prefilter (``prefilter=True``) served by a LabelList scalar index. k-NN without a vector index is
    a flat scan (exact); hybrid is LanceDB's own (vector + its native full-text index, fused by its default
    RRF reranker). An IVF_HNSW_SQ index is built afterwards and measured apart, with its recall."""
    import lancedb
    import pyarrow as pa
    from lancedb.index import FTS, LabelList

    db = lancedb.connect(str(run.directory))
    schema = pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("text", pa.string()),  # what BM25 reads in the embedded store (Chunk.indexed_text)
            pa.field("roles", pa.list_(pa.string())),
            pa.field("vector", pa.list_(pa.float32(), len(run.vectors[0]))),
        ]
    )
    started = time.perf_counter()
    table = db.create_table("bench", schema=schema)
    for start in range(0, len(run.chunks), BATCH):
        part = run.chunks[start : start + BATCH]
        columns = {
            "id": [c.chunk_id for c in part],
            "text": [c.indexed_text() for c in part],
            "roles": [list(c.roles) for c in part],
            "vector": run.vectors[start : start + BATCH].tolist(),
        }
        table.add(pa.table(columns, schema=schema))
    added = time.perf_counter()
    table.create_index("text", config=FTS())
    indexed_text = time.perf_counter()
    table.create_index("roles", config=LabelList())
    index_s = time.perf_counter() - started
    where = "array_has_any(roles, [{}])".format(", ".join(f"'{role}'" for role in sorted(CALLER)))

    def knn(index: int, where: str | None = where) -> list[str]:
        query = table.search(run.query_vectors[index]).distance_type("cosine").limit(run.k)
        if where:
            query = query.where(where, prefilter=True)
        return list(query.select(["id", "text", "_distance"]).to_arrow()["id"].to_pylist())

    def hybrid(index: int) -> list[str]:
        query = (
            table.search(query_type="hybrid")
            .vector(run.query_vectors[index])
            .text(run.questions[index])
            .distance_type("cosine")
            .where(where, prefilter=True)
            .limit(run.k)
        )
        # LanceDB 0.40 logs a deprecation warning per hybrid query for this select (it adds _distance and
        # _score itself, and refuses them when named): noise on stderr, not an error.
        return list(query.select(["id", "text"]).to_arrow()["id"].to_pylist())

    plan = table.search(run.query_vectors[0]).distance_type("cosine").where(where, prefilter=True).explain_plan()
    latency, answers = timed_queries(knn, len(run.query_vectors))
    unfiltered, _ = timed_queries(lambda index: knn(index, None), len(run.query_vectors))
    watch.loaded("rss_growth_knn_only_mb")
    hybrid_latency, hybrid_answers = timed_queries(hybrid, len(run.query_vectors))
    watch.loaded()
    return {
        "index_s": round(index_s, 2),
        "add_s": round(added - started, 2),
        "fts_index_s": round(indexed_text - added, 2),
        "roles_index_s": round(started + index_s - indexed_text, 2),
        **run.knn_report(latency, answers),
        "knn_unfiltered_ms": unfiltered,
        "hybrid_ms": hybrid_latency,
        "hybrid_leaked": run.leaked(hybrid_answers),
        "hybrid_mean_hits": round(sum(map(len, hybrid_answers)) / len(hybrid_answers), 2),
        # Its build takes minutes at 100k (73 s) and grows with the rows: measured up to ANN_MAX_ROWS.
        "ann": _lancedb_ann(table, run, knn) if len(run.chunks) <= ANN_MAX_ROWS else {"index": "not built"},
        "version": lancedb.__version__,
        "filter": f"where({where!r}, prefilter=True), LabelList scalar index on roles",
        "filter_uses_scalar_index": "ScalarIndexQuery" in plan,
        "index": "none for the k-NN (flat scan, exact); native FTS index on the text; LabelList on roles",
        "hybrid": "query_type='hybrid': vector (flat) + FTS, the same prefilter, default RRFReranker",
    }


def _lancedb_ann(table: Any, run: PeerRun, knn: Callable[[int], list[str]]) -> dict[str, Any]:
    """Build an IVF_HNSW_SQ index (LanceDB's defaults, cosine) and time the same filtered k-NN through it."""
    from lancedb.index import IvfHnswSq

    started = time.perf_counter()
    try:
        table.create_index("vector", config=IvfHnswSq(distance_type="cosine"))
    except (ValueError, RuntimeError, OSError) as error:  # too few rows to train the partitions, for one
        return {"index": "IVF_HNSW_SQ", "error": str(error)[:300]}
    index_s = time.perf_counter() - started
    latency, answers = timed_queries(knn, len(run.query_vectors))
    return {"index": "IVF_HNSW_SQ (defaults, cosine)", "index_s": round(index_s, 2), **run.knn_report(latency, answers)}


def sqlite_with_extensions() -> Any:
    """The sqlite3 module to load sqlite-vec with: the standard library's when this Python was built with
    extension loading, else ``pysqlite3`` (the ``pysqlite3-binary`` wheel, with its own SQLite)."""
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        import pysqlite3.dbapi2 as bundled  # type: ignore[import-not-found]
    except ImportError as error:
        raise SystemExit(
            "this Python's sqlite3 cannot load extensions (built without --enable-loadable-sqlite-extensions); "
            f"pip install -r {REQUIREMENTS} brings pysqlite3-binary"
        ) from error
    return bundled


def measure_sqlite_vec(run: PeerRun, watch: RssWatch) -> dict[str, Any]:
    """A ``vec0`` virtual table (cosine) in a SQLite file, with the chunk id and text as auxiliary columns,
    and the roles in a plain table joined inside the k-NN: ``rowid in (select ... where role in (...))``
    is a constraint vec0 applies while it scans. (Its metadata columns take only ANDed comparisons: ``OR``
    over one boolean per role is applied after the k-NN and returns fewer than k hits.) No vector index:
    sqlite-vec scans every row (exact). No BM25, so no hybrid."""
    import numpy as np
    import sqlite_vec

    sqlite = sqlite_with_extensions()
    run.directory.mkdir(parents=True, exist_ok=True)
    conn = sqlite.connect(str(run.directory / "vec.sqlite3"))
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    started = time.perf_counter()
    matrix = np.asarray(run.vectors, dtype=np.float32)
    conn.execute(
        f"create virtual table chunk_vectors using vec0(embedding float[{matrix.shape[1]}] distance_metric=cosine, "
        "+chunk_id text, +text text)"
    )
    conn.execute("create table chunk_roles (chunk integer not null, role text not null)")
    for start in range(0, len(run.chunks), BATCH):
        part = run.chunks[start : start + BATCH]
        with conn:
            conn.executemany(
                "insert into chunk_vectors (rowid, embedding, chunk_id, text) values (?, ?, ?, ?)",
                [(start + i + 1, matrix[start + i].tobytes(), c.chunk_id, c.text) for i, c in enumerate(part)],
            )
            conn.executemany(
                "insert into chunk_roles (chunk, role) values (?, ?)",
                [(start + i + 1, role) for i, c in enumerate(part) for role in c.roles],
            )
    with conn:
        conn.execute("create index chunk_roles_by_role on chunk_roles (role, chunk)")
    index_s = time.perf_counter() - started
    roles = sorted(CALLER)
    knn_sql = "select chunk_id, distance, text from chunk_vectors where embedding match ? and k = ?{} order by distance"
    filtered = knn_sql.format(
        " and rowid in (select chunk from chunk_roles where role in ({}))".format(", ".join("?" * len(roles)))
    )
    unfiltered_sql = knn_sql.format("")
    vectors = [np.asarray(vector, dtype=np.float32).tobytes() for vector in run.query_vectors]

    def knn(index: int, sql: str = filtered, roles: list[str] = roles) -> list[str]:
        return [row[0] for row in conn.execute(sql, (vectors[index], run.k, *roles))]

    latency, answers = timed_queries(knn, len(vectors))
    unfiltered, _ = timed_queries(lambda index: knn(index, unfiltered_sql, []), len(vectors))
    watch.loaded()
    file_mb = (run.directory / "vec.sqlite3").stat().st_size / 1e6
    version = conn.execute("select vec_version()").fetchone()[0]
    conn.close()
    return {
        "index_s": round(index_s, 2),
        **run.knn_report(latency, answers),
        "knn_unfiltered_ms": unfiltered,
        "file_mb": round(file_mb, 1),
        "version": version,
        "sqlite": f"{sqlite.__name__} (SQLite {sqlite.sqlite_version})",
        "filter": "rowid in (select chunk from chunk_roles where role in (...)), applied by vec0 inside the k-NN",
        "index": "none (vec0 scans every row: exact)",
    }


MEASURES: dict[str, Callable[[PeerRun, RssWatch], dict[str, Any]]] = {
    "chroma": measure_chroma,
    "lancedb": measure_lancedb,
    "sqlite-vec": measure_sqlite_vec,
}


def peer_names(peer: str | Sequence[str]) -> list[str]:
    """``--peer chroma lancedb``, ``--peer none`` or one name, as the list of peers to measure."""
    names = [peer] if isinstance(peer, str) else list(peer)
    unknown = sorted(set(names) - {*PEERS, "none"})
    if unknown:
        raise ValueError(f"unknown peer {', '.join(unknown)}; one of {', '.join(PEERS)} or none")
    return [name for name in PEERS if name in names]


def import_peers(peers: list[str]) -> dict[str, float]:
    """Import each peer's package before anything is built (a missing one fails now, not after the build);
    returns the RSS each import added (MB), which the per-size growth then leaves out."""
    grown = {}
    for name in peers:
        before = rss_mb()
        try:
            importlib.import_module(PEER_MODULES[name])
            if name == "lancedb":
                importlib.import_module("pyarrow")
            if name == "sqlite-vec":
                sqlite_with_extensions()
        except ImportError as error:
            raise SystemExit(f"peer {name} is not installed ({error}): pip install -r {REQUIREMENTS}") from error
        grown[name] = round(rss_mb() - before, 1)
    return grown


def side_by_side(
    peers: list[str],
    workdir: Path,
    path: Path,
    chunks: list[Any],
    vectors: Any,
    qs: list[str],
    hasher: Any,
    entry: dict[str, Any],
) -> dict[str, Any]:
    """The embedded store's filtered k-NN and plain hybrid search, then each peer's, on the same inputs."""
    from ragline.settings import Settings

    size = len(chunks)
    # The questions embedded as the chunks were (the hash embedder): neighbours in the same space, so recall
    # means something. The local model's vectors are of another space, where every chunk is about as far.
    query_vectors = [hasher.embed_query(q) for q in qs]
    run = PeerRun(
        directory=workdir,
        chunks=chunks,
        vectors=vectors,
        questions=qs,
        query_vectors=query_vectors,
        k=Settings().candidates,
        exact_ids=[],
        visible=frozenset(c.chunk_id for c in chunks if CALLER & set(c.roles)),
    )
    with RssWatch() as watch:
        embedded, exact_ids = measure_embedded_searches(path, hasher.dimension, run, watch)
    found: dict[str, Any] = {
        "embedded_knn_only_ms": embedded["knn_ms"],
        "embedded_hybrid_rrf_ms": embedded["hybrid_rrf_ms"],
        "embedded_hybrid_leaked": embedded["hybrid_leaked"],
        "embedded_memory": watch.report(),
        "ratios": {},
    }
    for name in peers:
        peer_run = dataclasses.replace(run, directory=workdir / f"{name}-{size}", exact_ids=exact_ids)
        with RssWatch() as watch:
            result = MEASURES[name](peer_run, watch)
        result["memory"] = watch.report()
        found[name] = result
        found["ratios"].update(_ratios(name, result, entry, embedded))
        release_memory()
    return found


def _ratios(name: str, peer: dict[str, Any], entry: dict[str, Any], embedded: dict[str, Any]) -> dict[str, float]:
    key = name.replace("-", "_")
    ratios = {
        f"index_time_{key}_over_embedded": round(peer["index_s"] / entry["index_s"], 2),
        f"knn_p50_{key}_over_embedded": round(peer["knn_ms"]["p50"] / embedded["knn_ms"]["p50"], 2),
        f"{key}_knn_p50_over_embedded_retrieval_p50": round(
            peer["knn_ms"]["p50"] / entry["default"]["retrieval_without_embed_ms"]["p50"], 2
        ),
    }
    if "hybrid_ms" in peer:
        ratios[f"hybrid_p50_{key}_over_embedded_hybrid_rrf"] = round(
            peer["hybrid_ms"]["p50"] / embedded["hybrid_rrf_ms"]["p50"], 2
        )
    return ratios


def measure_in_process(path: Path, qs: list[str], mmr_queries: int) -> dict[str, Any]:
    """:func:`measure_embedded` with the default settings, then with MMR at 0.5, in this process, with its
    resident memory: after the model loaded, after the queries, and its peak (``ru_maxrss``)."""
    from ragline.embedders.local import LocalEmbedder

    embedder = LocalEmbedder()
    embedder.embed_query("warm-up")
    model_rss = rss_mb()
    default = measure_embedded(path, embedder.dimension, embedder, qs)
    mmr = measure_embedded(path, embedder.dimension, embedder, qs[:mmr_queries], mmr_lambda=0.5, cold=False)
    mmr.pop("rss_after_queries_mb")
    default["memory_mb"] = {
        "model_loaded": round(model_rss, 1),
        "after_queries": default.pop("rss_after_queries_mb"),
        "peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 * 1.048576, 1),  # KiB -> MB
    }
    return {"default": default, "mmr_0.5": mmr}


def run(
    sizes: list[int],
    queries: int = 200,
    peer: str | Sequence[str] = "chroma",
    mmr_queries: int = 50,
    peer_max_size: int = 100_000,
) -> dict[str, Any]:
    from ragline.embedders.hashing import HashEmbedder

    peers = peer_names(peer)
    import_rss = import_peers(peers)
    workdir = Path(tempfile.mkdtemp(prefix="ragline-query-bench-"))
    hasher = HashEmbedder(dimension=DIMENSION)
    results: dict[str, Any] = {
        "sizes": {},
        "caller_roles": sorted(CALLER),
        "query_embedder": "local:all-MiniLM-L6-v2",
        "chunk_vectors": f"hash ({hasher.dimension} dims)",
        "corpus": f"blocks of {BLOCK:,} chunks, each from a seed of its own (corpus_block)",
        "measured_in": "a fresh process per size (the store's file, the local model and the queries only)",
        "peers": peers,
        "peer_query_vectors": "the questions through the hash embedder, as the chunks (k-NN in one space)",
        "peer_import_rss_mb": import_rss,
    }
    try:
        for size in sorted(sizes):
            path = workdir / f"store-{size}.sqlite3"
            build_s, write_s = build_streamed(path, size)
            qs = questions_from_store(path, size, queries)
            entry: dict[str, Any] = {
                "chunks": size,
                "index_s": round(write_s, 2),  # the store's own writes; making the corpus runs beside them
                "build_s": round(build_s, 2),
                "file_mb": round(path.stat().st_size / 1e6, 1),
            }
            # A process of its own: its memory is the store's and the model's, not the corpus builder's.
            with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as child:
                entry.update(child.submit(measure_in_process, path, qs, mmr_queries).result())
            if peers and size <= peer_max_size:
                chunks, vectors = corpus_with_vectors(size)
                entry.update(side_by_side(peers, workdir, path, chunks, vectors, qs, hasher, entry))
                del chunks, vectors
            results["sizes"][str(size)] = entry
            print(f"{size:,} chunks: p50 {entry['default']['total_ms']['p50']} ms", file=sys.stderr, flush=True)
            shutil.rmtree(workdir, ignore_errors=True)  # a large run's stores would otherwise pile up
            workdir.mkdir()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    keys = sorted(results["sizes"], key=int)
    if len(keys) >= 2:
        small, large = results["sizes"][keys[0]], results["sizes"][keys[-1]]
        results["scaling"] = {
            "chunks_ratio": round(large["chunks"] / small["chunks"], 1),
            "p50_ratio": round(large["default"]["total_ms"]["p50"] / small["default"]["total_ms"]["p50"], 2),
            "p50_ratio_without_embed": round(
                large["default"]["retrieval_without_embed_ms"]["p50"]
                / small["default"]["retrieval_without_embed_ms"]["p50"],
                2,
            ),
            "stage_p50_ratio": {
                stage: round(
                    large["default"]["stages_ms"][stage]["p50"]
                    / max(small["default"]["stages_ms"][stage]["p50"], 0.01),
                    2,
                )
                for stage in STAGES
            },
        }
    results["targets"] = [
        {"what": what, "limit": limit, "value": value, "met": value < limit}
        for what, size, read, limit in TARGETS
        if str(size) in results["sizes"]
        for value in [read(results["sizes"][str(size)]["default"])]
    ]
    return results


def print_table(results: dict[str, Any]) -> None:
    rows = []
    for entry in results["sizes"].values():
        d = entry["default"]
        s = d["stages_ms"]
        rows.append(
            [
                f"{entry['chunks']:,}",
                d["total_ms"]["p50"],
                d["total_ms"]["p95"],
                d["retrieval_without_embed_ms"]["p50"],
                *(s[stage]["p50"] for stage in STAGES),
                entry["mmr_0.5"]["stages_ms"]["mmr"]["p50"],
                d["cold_first_knn_ms"],
                entry["index_s"],
                d.get("memory_mb", {}).get("after_queries", ""),
                d.get("memory_mb", {}).get("peak", ""),
            ]
        )
    print(
        f"query latency without generation (ms; caller {'+'.join(results['caller_roles'])}; query "
        f"embedding {results['query_embedder']})"
    )
    print(
        _bench.table(
            rows,
            [
                "chunks",
                "p50",
                "p95",
                "p50 w/o embed",
                *(f"{s} p50" for s in STAGES),
                "mmr(λ=0.5) p50",
                "cold 1st knn",
                "index s",
                "RSS MB",
                "peak RSS MB",
            ],
        )
    )
    if "scaling" in results:
        sc = results["scaling"]
        print(
            f"scaling x{sc['chunks_ratio']} chunks: p50 x{sc['p50_ratio']} (without embedding "
            f"x{sc['p50_ratio_without_embed']}); per stage {sc['stage_p50_ratio']}"
        )
    peer_rows = [row for entry in results["sizes"].values() for row in _peer_rows(entry, results["peers"])]
    if peer_rows:
        print("side by side: the same chunks, vectors, query vectors and role filter, k=50 (ms, MB)")
        print(
            _bench.table(
                peer_rows,
                [
                    "chunks",
                    "store",
                    "index s",
                    "k-NN p50",
                    "k-NN p95",
                    "recall@k",
                    "leaked",
                    "k-NN p50 no filter",
                    "hybrid p50",
                    "hybrid p95",
                    "RSS growth",
                    "RSS peak growth",
                ],
            )
        )
    for t in results.get("targets", []):
        print(f"target: {t['what']} < {t['limit']}: {t['value']} -> {'met' if t['met'] else 'MISSED'}")


def _peer_rows(entry: dict[str, Any], peers: list[str]) -> list[list[Any]]:
    """One row for the embedded store and one per peer (LanceDB's ANN index a row of its own)."""
    if "embedded_knn_only_ms" not in entry:
        return []
    chunks = f"{entry['chunks']:,}"
    memory = entry["embedded_memory"]
    rows = [
        [
            chunks,
            "embedded (exact)",
            entry["index_s"],
            entry["embedded_knn_only_ms"]["p50"],
            entry["embedded_knn_only_ms"]["p95"],
            1.0,
            0,
            "",
            entry["embedded_hybrid_rrf_ms"]["p50"],
            entry["embedded_hybrid_rrf_ms"]["p95"],
            memory["rss_growth_mb"],
            memory["rss_peak_growth_mb"],
        ]
    ]
    for name in peers:
        peer = entry[name]
        hybrid = peer.get("hybrid_ms", {})
        rows.append(
            [
                chunks,
                name,
                peer["index_s"],
                peer["knn_ms"]["p50"],
                peer["knn_ms"]["p95"],
                peer["recall_at_k"],
                peer["leaked"],
                peer["knn_unfiltered_ms"]["p50"],
                hybrid.get("p50", "–"),
                hybrid.get("p95", "–"),
                peer["memory"]["rss_growth_mb"],
                peer["memory"]["rss_peak_growth_mb"],
            ]
        )
        ann = peer.get("ann", {})
        if "knn_ms" in ann:
            rows.append(
                [
                    chunks,
                    f"{name} + {ann['index']}",
                    ann["index_s"],
                    ann["knn_ms"]["p50"],
                    ann["knn_ms"]["p95"],
                    ann["recall_at_k"],
                    ann["leaked"],
                    *[""] * 5,
                ]
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--peer",
        "--peers",
        dest="peers",
        nargs="+",
        choices=[*PEERS, "none"],
        default=["chroma"],
        help="the stores measured side by side (default chroma)",
    )
    parser.add_argument(
        "--peer-max-size", type=int, default=100_000, help="the peers run at sizes up to this (default 100,000)"
    )
    parser.add_argument("--name", default="query_latency", help="results/<name>.json")
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    # One OpenBLAS thread, as the ragline CLI runs the embedded store (ragline.cli.main): idle BLAS threads
    # spin-wait, and on a busy 2-core machine the exact k-NN ran 5x slower with two. Before numpy is imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    quiet = _bench.before_run(args.no_wait)
    results = run(args.sizes, args.queries, args.peers, peer_max_size=args.peer_max_size)
    results["conditions"] = _bench.conditions(quiet)
    print_table(results)
    print(f"wrote {_bench.write_result(args.name, results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
