"""Prototype of the proposed BM25 fix for the embedded store, measured against the current query.

The current ``EmbeddedStore.bm25_search`` joins every FTS match with the ``chunks`` table (wide rows: text
and a vector blob) and checks ``chunk_roles`` through an ``IN`` subquery before it sorts and cuts to k, so
its cost grows with the number of matching chunks, not with k. The proposal: keep each chunk's roles as
tokens in a second FTS5 column, put the role filter into the MATCH expression itself, rank and cut to k
inside FTS5 (``bm25(chunks_fts, 1.0, 0.0)``: the roles column weighs nothing), and read only the k winning
rows from ``chunks``. Role tokens are decimal digests of the role names (``porter`` leaves digits alone,
so two roles can never stem to the same token, and any role name is safe in a MATCH string).

This script builds a store with the real code (``query_latency``'s chunks and role mix), adds the
prototype FTS table beside it from the same rows, runs the same questions through both, and reports
latency and how far the results agree (same top-k ids; scores differ slightly because the role tokens
add to each row's length).

    .venv/bin/python benchmarks/bm25_roles_prototype.py [--chunks 100000] [--queries 100] [--ort-no-spin]
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bm25_roles_prototype.py --ort-no-spin   # no spinning threads at all
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench
import query_latency

PROTOTYPE_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts2 USING fts5 (
    body, roles, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

def _prototype_query() -> str:
    from ragline.stores.embedded import _C_CHUNK_COLUMNS

    return (
        "WITH ranked AS ("
        " SELECT rowid AS id, bm25(chunks_fts2, 1.0, 0.0) AS rank_score FROM chunks_fts2"
        " WHERE chunks_fts2 MATCH ? ORDER BY rank_score LIMIT ?)"
        f" SELECT {_C_CHUNK_COLUMNS}, -ranked.rank_score FROM ranked JOIN chunks AS c ON c.id = ranked.id"
        " ORDER BY ranked.rank_score, c.id"
    )


def prototype_search(conn: sqlite3.Connection, text: str, roles: frozenset[str], k: int) -> list[Any]:
    """What ``bm25_search`` would become: the same SearchHits, from the prototype index."""
    from ragline.models import SearchHit
    from ragline.stores.embedded import _chunk

    expression = match_expression(text, roles)
    if not expression or k <= 0:
        return []
    rows = conn.execute(_prototype_query(), (expression, k)).fetchall()
    return [SearchHit(_chunk(row), float(row[-1])) for row in rows]


def role_token(role: str) -> str:
    """A role as one FTS token that no tokenizer or stemmer changes: a decimal digest."""
    return str(int.from_bytes(hashlib.sha256(role.encode()).digest()[:8], "big"))


def match_expression(text: str, roles: frozenset[str]) -> str:
    from ragline.stores.embedded import fts_query

    terms = fts_query(text)
    if not terms or not roles:
        return ""
    return "{body} : (" + terms + ") AND {roles} : (" + " OR ".join(f'"{role_token(r)}"' for r in sorted(roles)) + ")"


def add_prototype_index(path: Path) -> float:
    """Fill ``chunks_fts2`` from the store's rows (same rowids); returns the seconds taken."""
    conn = sqlite3.connect(str(path))
    started = time.perf_counter()
    conn.executescript(PROTOTYPE_SCHEMA)
    rows = conn.execute("SELECT c.id, f.body, c.roles FROM chunks AS c JOIN chunks_fts AS f ON f.rowid = c.id").fetchall()
    conn.executemany(
        "INSERT INTO chunks_fts2 (rowid, body, roles) VALUES (?, ?, ?)",
        ((rowid, body, " ".join(role_token(r) for r in json.loads(roles))) for rowid, body, roles in rows),
    )
    conn.commit()
    conn.close()
    return time.perf_counter() - started


def compare(path: Path, dimension: int, questions: list[str], k: int = 50) -> dict[str, Any]:
    from ragline.stores.embedded import EmbeddedStore

    roles = query_latency.CALLER
    current, proposed, same_ids, same_top10 = [], [], 0, 0
    with EmbeddedStore(path, dimension) as store:
        conn = store._conn  # the prototype reads the same file through the store's own connection
        for question in questions[:5]:
            store.bm25_search(question, roles, k)
            prototype_search(conn, question, roles, k)
        for question in questions:
            began = time.perf_counter()
            hits = store.bm25_search(question, roles, k)
            current.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            new_hits = prototype_search(conn, question, roles, k)
            proposed.append((time.perf_counter() - began) * 1000)
            ids_now = [hit.chunk.chunk_id for hit in hits]
            ids_new = [hit.chunk.chunk_id for hit in new_hits]
            same_ids += set(ids_now) == set(ids_new)
            same_top10 += ids_now[:10] == ids_new[:10]
    return {
        "current_ms": _bench.summary(current),
        "proposed_ms": _bench.summary(proposed),
        "speedup_p50": round(_bench.percentile(current, 50) / max(_bench.percentile(proposed, 50), 1e-6), 2),
        "same_result_set": f"{same_ids}/{len(questions)}",
        "same_top10_order": f"{same_top10}/{len(questions)}",
    }


def whole_path(path: Path, dimension: int, questions: list[str]) -> dict[str, Any]:
    """p50 of the whole retrieval (``QueryService.answer`` as in ``query_latency``), current and with the
    prototype's ``bm25_search``, on the same store, the same local query embedder and the same questions."""
    from ragline.embedders.local import LocalEmbedder
    from ragline.query import QueryService
    from ragline.settings import Settings
    from ragline.stores.embedded import EmbeddedStore

    settings = Settings()
    embedder = LocalEmbedder()
    out: dict[str, Any] = {}
    with EmbeddedStore(path, dimension) as store:
        service = QueryService(store, embedder, query_latency.SkipGeneration(), settings)
        conn = store._conn
        variants = {"current": store.bm25_search,
                    "proposed": lambda text, roles, k: prototype_search(conn, text, roles, k)}
        for name, search in variants.items():
            store.bm25_search = search  # type: ignore[method-assign]
            for question in questions[:5]:
                service.answer(question, query_latency.CALLER, settings.top_k)
            totals, stages = [], {stage: [] for stage in query_latency.STAGES}
            for question in questions:
                timings = service.answer(question, query_latency.CALLER, settings.top_k).timings_ms
                totals.append(sum(timings.get(stage, 0.0) for stage in query_latency.STAGES))
                for stage in query_latency.STAGES:
                    stages[stage].append(timings.get(stage, 0.0))
            out[name] = {**_bench.summary(totals), "stage_p50": {k: round(_bench.percentile(v, 50), 2) for k, v in stages.items()}}
    return out


def run(chunks: int = 100_000, queries: int = 100, whole: bool = True) -> dict[str, Any]:
    from ragline.embedders.hashing import HashEmbedder

    workdir = Path(tempfile.mkdtemp(prefix="ragline-bm25-proto-"))
    try:
        items, _ = query_latency.make_chunks(chunks)
        vectors = HashEmbedder(dimension=384).embed_documents([c.indexed_text() for c in items])
        path = workdir / "store.sqlite3"
        index_s = query_latency.build_embedded(path, items, vectors)
        extra_s = add_prototype_index(path)
        questions = query_latency.questions(items, queries)
        result = compare(path, 384, questions)
        if whole:
            result["whole_retrieval_ms"] = whole_path(path, 384, questions)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"chunks": chunks, "queries": queries, "caller_roles": sorted(query_latency.CALLER),
            "index_s": round(index_s, 2), "prototype_index_s": round(extra_s, 2), **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--ort-no-spin", action="store_true", help="also prototype onnxruntime without spin-waiting")
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    quiet = _bench.before_run(args.no_wait)
    if args.ort_no_spin:
        _bench.disable_ort_spinning()
    results = run(args.chunks, args.queries)
    results["ort_no_spin"] = args.ort_no_spin
    results["openblas_num_threads"] = os.environ.get("OPENBLAS_NUM_THREADS", "")
    results["conditions"] = _bench.conditions(quiet)
    c, p = results["current_ms"], results["proposed_ms"]
    print(f"BM25 with the role filter at {results['chunks']:,} chunks ({results['queries']} questions, k=50)")
    print(_bench.table([["current (join, IN subquery)", c["p50"], c["p95"]], ["proposed (roles in MATCH, top-k first)", p["p50"], p["p95"]]],
                       ["query", "p50 ms", "p95 ms"]))
    print(f"speed-up at p50 x{results['speedup_p50']}; same result set {results['same_result_set']}, same top-10 order {results['same_top10_order']}")
    whole = results.get("whole_retrieval_ms")
    if whole:
        print("whole retrieval (embed, k-NN, BM25, fusion, MMR): "
              f"current p50 {whole['current']['p50']} ms / p95 {whole['current']['p95']} ms; "
              f"with the prototype p50 {whole['proposed']['p50']} ms / p95 {whole['proposed']['p95']} ms")
        print(f"stage p50s: current {whole['current']['stage_p50']}; prototype {whole['proposed']['stage_p50']}")
    name = "bm25_roles_prototype" + ("_ort_no_spin" if args.ort_no_spin else "")
    if os.environ.get("OPENBLAS_NUM_THREADS") == "1":
        name += "_openblas1"
    print(f"wrote {_bench.write_result(name, results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
