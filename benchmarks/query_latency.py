"""Query latency without generation over the embedded store, at 10k and 100k chunks; Chroma side by side.

Synthetic chunks of realistic prose (about 170 words each, 20 per document, roles by document: half
``everyone``, the rest ``finance``, ``engineering`` or ``finance``+``research``) are written into an
``SqliteStore`` on disk with vectors from the ``hash`` embedder (384 dimensions, for building speed).
Questions share words with random chunks. Each question goes through ``QueryService.answer`` with the
default settings (embed the question with the local model, k-NN and BM25 filtered by the caller's roles
``everyone`` + ``engineering``, normalised-score fusion, the local proximity reranker over the head, MMR
at the default lambda) with a stand-in generator that writes nothing (``SkipGeneration``), so the stage
timings are those of the production path; the total is the wall time of the retrieval (``retrieve``:
the BM25 search runs on a thread beside the embedding and the k-NN search, so the stages add up to more).
A second, shorter pass runs with ``RAGLINE_MMR_LAMBDA=0.5``. The first search after opening the store (loading
the vector matrix) is reported apart as the cold query.

The peer (``--peer chroma``, default): the same chunks, vectors and role filter in a persistent Chroma
collection (HNSW, cosine); its index time and filtered k-NN latency (same query vectors, k = 50) against
the embedded store's. Chroma has no BM25, so its query is compared with the embedded store's k-NN and
with its whole retrieval (less the embedding).

    .venv/bin/python benchmarks/query_latency.py [--sizes 10000 100000] [--queries 200] [--peer chroma|none]

Target: p50 under 60 ms at 100k chunks (embedding included).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench

TARGET_P50_MS = 60.0
CHUNKS_PER_DOC = 20
CALLER = frozenset({"everyone", "engineering"})
ROLE_MIX = [("everyone",)] * 10 + [("finance",)] * 4 + [("engineering",)] * 4 + [("finance", "research")] * 2
STAGES = ("embed", "knn", "bm25", "fuse", "rerank", "mmr")
BATCH = 2000


class SkipGeneration:
    """A stand-in generator that writes no answer: the benchmark times retrieval only."""

    name = "skip-generation"

    def generate(self, question: str, sources: Any) -> Any:
        from ragline.models import Answer

        return Answer(text="", cited=[], model=self.name)


def make_chunks(count: int, seed: int = 17) -> tuple[list[Any], list[str]]:
    """``count`` chunks of prose in documents of 20, and questions drawn from some of them."""
    from ragline.models import Chunk

    prose = _bench.Prose(seed=seed)
    chunks = []
    for index in range(count):
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
    return chunks, []


def questions(chunks: list[Any], count: int, seed: int = 23) -> list[str]:
    prose = _bench.Prose(seed=seed)
    return [prose.question_about(chunks[prose.rng.randrange(len(chunks))].text) for _ in range(count)]


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
        "mean_hits": round(sum(hits) / len(hits), 2) if hits else 0,
    }


def measure_chroma(
    directory: Path, chunks: list[Any], vectors: list[list[float]], query_vectors: list[list[float]], k: int
) -> dict[str, Any]:
    """Index into a persistent Chroma collection and time filtered k-NN queries."""
    import chromadb

    client = chromadb.PersistentClient(path=str(directory))
    collection = client.create_collection("bench", metadata={"hnsw:space": "cosine"})
    batch = min(BATCH, client.get_max_batch_size())
    started = time.perf_counter()
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        collection.add(
            ids=[c.chunk_id for c in part],
            embeddings=vectors[start : start + batch],
            documents=[c.text for c in part],
            metadatas=[{"doc_id": c.doc_id, **{f"role_{r}": True for r in c.roles}} for c in part],
        )
    index_s = time.perf_counter() - started
    where = {"$or": [{f"role_{role}": True} for role in sorted(CALLER)]}

    def query(vector: list[float], collection: Any = collection) -> Any:
        return collection.query(
            query_embeddings=[vector], n_results=k, where=where, include=["documents", "metadatas", "distances"]
        )

    for vector in query_vectors[:5]:
        query(vector)
    latencies, hits = [], []
    for vector in query_vectors:
        began = time.perf_counter()
        answer = query(vector)
        latencies.append((time.perf_counter() - began) * 1000)
        hits.append(len(answer["ids"][0]))
    unfiltered = []
    for vector in query_vectors:  # the same query without the role filter: what the filter costs Chroma
        began = time.perf_counter()
        collection.query(query_embeddings=[vector], n_results=k, include=["documents", "metadatas", "distances"])
        unfiltered.append((time.perf_counter() - began) * 1000)
    del query, collection, client
    gc.collect()
    return {
        "index_s": round(index_s, 2),
        "knn_ms": _bench.summary(latencies),
        "knn_unfiltered_ms": _bench.summary(unfiltered),
        "mean_hits": round(sum(hits) / len(hits), 2) if hits else 0,
        "version": chromadb.__version__,
    }


def run(sizes: list[int], queries: int = 200, peer: str = "chroma", mmr_queries: int = 50) -> dict[str, Any]:
    from ragline.embedders.hashing import HashEmbedder
    from ragline.embedders.local import LocalEmbedder
    from ragline.settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix="ragline-query-bench-"))
    embedder = LocalEmbedder()
    embedder.embed_query("warm-up")
    hasher = HashEmbedder(dimension=embedder.dimension)
    largest = max(sizes)
    started = time.perf_counter()
    all_chunks, _ = make_chunks(largest)
    all_vectors = hasher.embed_documents([c.indexed_text() for c in all_chunks])
    generate_s = time.perf_counter() - started
    results: dict[str, Any] = {
        "sizes": {},
        "caller_roles": sorted(CALLER),
        "query_embedder": embedder.name,
        "chunk_vectors": f"hash ({hasher.dimension} dims)",
        "generate_s": round(generate_s, 1),
    }
    try:
        for size in sorted(sizes):
            chunks, vectors = all_chunks[:size], all_vectors[:size]
            qs = questions(chunks, queries)
            path = workdir / f"store-{size}.sqlite3"
            index_s = build_embedded(path, chunks, vectors)
            entry: dict[str, Any] = {
                "chunks": size,
                "index_s": round(index_s, 2),
                "file_mb": round(path.stat().st_size / 1e6, 1),
            }
            entry["default"] = measure_embedded(path, embedder.dimension, embedder, qs)
            entry["mmr_0.5"] = measure_embedded(
                path, embedder.dimension, embedder, qs[:mmr_queries], mmr_lambda=0.5, cold=False
            )
            if peer == "chroma":
                query_vectors = [embedder.embed_query(q) for q in qs]
                knn_only = _knn_only(path, embedder.dimension, query_vectors, Settings().candidates)
                entry["embedded_knn_only_ms"] = knn_only
                chroma = measure_chroma(
                    workdir / f"chroma-{size}", chunks, vectors, query_vectors, Settings().candidates
                )
                entry["chroma"] = chroma
                entry["ratios"] = {
                    "index_time_chroma_over_embedded": round(chroma["index_s"] / index_s, 2),
                    "knn_p50_chroma_over_embedded": round(chroma["knn_ms"]["p50"] / knn_only["p50"], 2),
                    "chroma_knn_p50_over_embedded_retrieval_p50": round(
                        chroma["knn_ms"]["p50"] / entry["default"]["retrieval_without_embed_ms"]["p50"], 2
                    ),
                }
            results["sizes"][str(size)] = entry
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
    if "100000" in results["sizes"]:
        p50 = results["sizes"]["100000"]["default"]["total_ms"]["p50"]
        results["target"] = {
            "what": "p50 at 100k chunks (embed included)",
            "limit_ms": TARGET_P50_MS,
            "value_ms": p50,
            "met": p50 < TARGET_P50_MS,
        }
    return results


def _knn_only(path: Path, dimension: int, query_vectors: list[list[float]], k: int) -> dict[str, float]:
    from ragline.stores.sqlite import SqliteStore

    latencies = []
    with SqliteStore(path, dimension) as store:
        for vector in query_vectors[:5]:
            store.knn_search(vector, CALLER, k)
        for vector in query_vectors:
            began = time.perf_counter()
            store.knn_search(vector, CALLER, k)
            latencies.append((time.perf_counter() - began) * 1000)
    return _bench.summary(latencies)


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
            ],
        )
    )
    if "scaling" in results:
        sc = results["scaling"]
        print(
            f"scaling x{sc['chunks_ratio']} chunks: p50 x{sc['p50_ratio']} (without embedding "
            f"x{sc['p50_ratio_without_embed']}); per stage {sc['stage_p50_ratio']}"
        )
    peer_rows = []
    for entry in results["sizes"].values():
        if "chroma" in entry:
            c, r = entry["chroma"], entry["ratios"]
            peer_rows.append(
                [
                    f"{entry['chunks']:,}",
                    entry["index_s"],
                    c["index_s"],
                    r["index_time_chroma_over_embedded"],
                    entry["embedded_knn_only_ms"]["p50"],
                    c["knn_ms"]["p50"],
                    r["knn_p50_chroma_over_embedded"],
                    c["knn_unfiltered_ms"]["p50"],
                    entry["default"]["retrieval_without_embed_ms"]["p50"],
                ]
            )
    if peer_rows:
        print("side by side: Chroma (HNSW) vs the embedded store (exact), same chunks, vectors and role filter, k=50")
        print(
            _bench.table(
                peer_rows,
                [
                    "chunks",
                    "embedded index s",
                    "chroma index s",
                    "index ratio",
                    "embedded knn p50",
                    "chroma knn p50",
                    "knn ratio",
                    "chroma knn p50 (no filter)",
                    "embedded hybrid w/o embed p50",
                ],
            )
        )
    if "target" in results:
        t = results["target"]
        print(f"target: {t['what']} < {t['limit_ms']} ms: {t['value_ms']} ms -> {'met' if t['met'] else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--peer", choices=["chroma", "none"], default="chroma")
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    quiet = _bench.before_run(args.no_wait)
    results = run(args.sizes, args.queries, args.peer)
    results["conditions"] = _bench.conditions(quiet)
    print_table(results)
    print(f"wrote {_bench.write_result('query_latency', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
