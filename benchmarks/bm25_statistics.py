"""BM25 with the caller's own statistics (schema 3) against schema 2's FTS5 ``bm25()``, in one process.

The embedded store's BM25 used to run inside FTS5, whose ``bm25()`` weighs terms with statistics of every
row, hidden ones included; schema 3 scores an in-memory posting index with statistics of the visible rows
only (``shared/ragline/stores/sqlite/lexical.py``, docs/security.md "BM25 statistics"). This benchmark
measures what that costs or saves, as ratios in the same process on the same file: the chunks of
``query_latency`` (synthetic prose, its role mix and caller) are written with the store, then schema 2's
FTS5 table (body and role tokens) is built beside them in the same file, and each question is searched
both ways, alternately: schema 3's ``SqliteStore.bm25_search`` and schema 2's statement (the best ``k`` by
``bm25()`` inside FTS5, then joined to ``chunks``), both turning the rows into chunks. Also: the time to
write the chunks (schema 3's tokenising and posting rows against an FTS5 insert), the first search after
opening (loading the posting index), the first search after a write of 20 chunks (the index adds a
segment of their terms), and the resident memory the loaded index holds.

    .venv/bin/python benchmarks/bm25_statistics.py [--sizes 10000 100000] [--queries 200] [--k 50]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench
import query_latency

_OLD_BM25 = (
    "WITH ranked AS ("
    " SELECT rowid AS id, bm25(chunks_fts, 1.0, 0.0) AS bm25_rank FROM chunks_fts"
    " WHERE chunks_fts MATCH ? ORDER BY bm25_rank, rowid LIMIT ?)"
    " SELECT {columns}, -ranked.bm25_rank FROM ranked JOIN chunks AS c ON c.id = ranked.id"
    " ORDER BY ranked.bm25_rank, c.id"
)


def _role_token(role: str) -> str:
    """Schema 2's token of a role: a decimal digest FTS5 keeps as one token."""
    return str(int.from_bytes(hashlib.sha256(role.encode("utf-8", "surrogatepass")).digest()[:8], "big"))


def _old_match(question: str, roles: frozenset[str]) -> str:
    """Schema 2's MATCH expression: the question's terms in body, ANDed with any of the caller's tokens."""
    from ragline.stores.terms import question_words

    words = " OR ".join('"' + word.replace('"', '""') + '"' for word in question_words(question))
    allowed = " OR ".join(f'"{_role_token(role)}"' for role in sorted(roles))
    return f"{{body}} : ({words}) AND {{role_tokens}} : ({allowed})"


def _rss_mib() -> float:
    """The resident memory now (Linux), not the peak: the build before the load peaked higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(size: int, queries: int, k: int) -> dict[str, Any]:
    from ragline.stores.sqlite import SqliteStore
    from ragline.stores.sqlite.schema import CHUNK_COLUMNS, chunk_of_row

    chunks, _ = query_latency.make_chunks(size)
    asked = query_latency.questions(chunks, queries)
    workdir = Path(tempfile.mkdtemp(prefix="ragline-bm25-"))
    try:
        path = workdir / "index.db"
        vectors = [[1.0, 0.0]] * len(chunks)
        started = time.perf_counter()
        with SqliteStore(path, dimension=2) as store:
            for start in range(0, len(chunks), query_latency.BATCH):
                store.upsert(chunks[start : start + query_latency.BATCH], vectors[start : start + query_latency.BATCH])
            schema_3_write = time.perf_counter() - started
            conn = store._conn
            conn.execute(
                "CREATE VIRTUAL TABLE chunks_fts"
                " USING fts5 (body, role_tokens, tokenize = 'porter unicode61 remove_diacritics 2')"
            )
            started = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO chunks_fts (rowid, body, role_tokens) SELECT id, ?, ? FROM chunks WHERE chunk_id = ?",
                [(c.indexed_text(), " ".join(_role_token(r) for r in c.roles), c.chunk_id) for c in chunks],
            )
            conn.execute("COMMIT")
            schema_2_write = time.perf_counter() - started

        gc.collect()
        rss_before = _rss_mib()
        with SqliteStore(path, dimension=2) as store:
            started = time.perf_counter()
            store.bm25_search(asked[0], query_latency.CALLER, k)
            first_search = time.perf_counter() - started
            rss_after = _rss_mib()
            columns = ", ".join(f"c.{column.strip()}" for column in CHUNK_COLUMNS.split(","))
            old_sql = _OLD_BM25.format(columns=columns)
            new_ms: list[float] = []
            old_ms: list[float] = []
            same_top = 0
            for question in asked:
                started = time.perf_counter()
                new = store.bm25_search(question, query_latency.CALLER, k)
                new_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                with store._lock:
                    rows = store._conn.execute(old_sql, (_old_match(question, query_latency.CALLER), k)).fetchall()
                old = [chunk_of_row(row) for row in rows]
                old_ms.append((time.perf_counter() - started) * 1000)
                same_top += bool(new) and bool(old) and new[0].chunk.chunk_id == old[0].chunk_id
            # A write of 20 chunks, then a search: the index adds a segment of their terms, nothing more.
            extra, _ = query_latency.make_chunks(20, seed=99)
            extra = [dataclasses.replace(c, chunk_id=f"extra{c.chunk_id}", doc_id="extra") for c in extra]
            store.upsert(extra, [[1.0, 0.0]] * len(extra))
            started = time.perf_counter()
            store.bm25_search(asked[1], query_latency.CALLER, k)
            search_after_write = time.perf_counter() - started
        new_p50, old_p50 = _bench.percentile(new_ms, 50), _bench.percentile(old_ms, 50)
        return {
            "chunks": size,
            "queries": queries,
            "k": k,
            "schema_3_ms": _bench.summary(new_ms),
            "schema_2_ms": _bench.summary(old_ms),
            "p50_ratio_schema_3_over_2": round(new_p50 / old_p50, 3),
            "same_first_hit_share": round(same_top / queries, 3),
            "write_s": {"schema_3": round(schema_3_write, 2), "schema_2_fts_insert": round(schema_2_write, 2)},
            "first_search_s": round(first_search, 3),
            "search_after_a_20_chunk_write_s": round(search_after_write, 3),
            "posting_index_rss_mib": round(rss_after - rss_before, 1),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    quiet = _bench.before_run(args.no_wait)
    runs = [measure(size, args.queries, args.k) for size in args.sizes]
    results = {"runs": runs, "conditions": _bench.conditions(quiet)}
    rows = [
        (
            run["chunks"],
            run["schema_3_ms"]["p50"],
            run["schema_3_ms"]["p95"],
            run["schema_2_ms"]["p50"],
            run["schema_2_ms"]["p95"],
            run["p50_ratio_schema_3_over_2"],
            run["write_s"]["schema_3"],
            run["write_s"]["schema_2_fts_insert"],
            run["first_search_s"],
            run["search_after_a_20_chunk_write_s"],
            run["posting_index_rss_mib"],
        )
        for run in runs
    ]
    headers = (
        "chunks",
        "new p50",
        "new p95",
        "FTS5 p50",
        "FTS5 p95",
        "p50 ratio",
        "write s",
        "FTS5 insert s",
        "first s",
        "after write s",
        "index MiB",
    )
    print(_bench.table(rows, headers))
    print(f"wrote {_bench.write_result('bm25_statistics', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
