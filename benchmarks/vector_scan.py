"""The embedded store's k-NN scan, kernel by kernel, and the recall of its int8 pool against exact search.

Why the store scans int8 codes (``shared/ragline/stores/sqlite/vectors.py``): one query against ``--rows``
unit vectors of 384 dimensions, timed in one process, alternating the kernels (numpy's float32
matrix-vector product; SimSIMD's float32, float16 and int8 dot products; the store's own ``pool``), one
thread each. Then the recall of the pool: for each query, the share of the exact top k (float32, by
brute force) that the int8 pool holds, at pools of k + 16 and the store's :func:`pool_size`, over

- random unit vectors (``--rows`` of them: scores crowd hardest, the worst case for quantisation), and
- the real all-MiniLM-L6-v2 vectors of the evaluation cache (``$RAGLINE_CACHE_DIR/embeddings.sqlite3``,
  filled by ``ragline eval``), queried by perturbed copies of some of them; skipped when the cache is empty.

    .venv/bin/python benchmarks/vector_scan.py [--rows 100000] [--queries 100] [--name vector_scan]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any

import _bench

DIMENSION = 384
K = 50


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return round(sorted(times)[len(times) // 2], 3)


def kernels(rows: int, repeats: int) -> dict[str, float]:
    import numpy as np
    import simsimd

    from ragline.stores.sqlite.vectors import VectorIndex, quantise
    from ragline.stores.sqlite.visibility import ChunkRows, RoleRows

    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((rows, DIMENSION)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    query = matrix[5] + np.float32(0.1) * rng.standard_normal(DIMENSION).astype(np.float32)
    query /= np.linalg.norm(query)
    codes, _ = quantise(matrix)
    query_codes, _ = quantise(query.reshape(1, -1))
    half, half_query = matrix.astype(np.float16), query.astype(np.float16)
    index = VectorIndex.from_matrix(
        ChunkRows(1, np.arange(rows, dtype=np.int64), RoleRows.from_roles(['["everyone"]'] * rows)), matrix
    )
    everyone = frozenset({"everyone"})
    calls: dict[str, Callable[[], object]] = {
        "numpy_float32_matvec": lambda: matrix @ query,
        "simsimd_float32_dot": lambda: simsimd.cdist(query[None, :], matrix, metric="dot"),
        "simsimd_float16_dot": lambda: simsimd.cdist(half_query[None, :], half, metric="dot"),
        "simsimd_int8_dot": lambda: simsimd.cdist(query_codes, codes, metric="dot", out_dtype="float32"),
        "store_int8_pool_k50": lambda: index.pool(query, everyone, K),
    }
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(3):  # alternate, so that the machine's drift falls on every kernel alike
        for name, call in calls.items():
            timings[name].append(median_ms(call, repeats))
    return {name: sorted(values)[1] for name, values in timings.items()}


def recall(matrix: Any, queries: Any) -> dict[str, float]:
    """Mean and worst share of the exact top K the int8 pool holds, at pools of K + 16 and pool_size(K)."""
    import numpy as np
    import simsimd

    from ragline.stores.sqlite.vectors import pool_size, quantise

    codes, scales = quantise(matrix)
    found: dict[str, list[float]] = {f"pool_{K + 16}": [], f"pool_{pool_size(K)}": []}
    for query in queries:
        exact = set(np.argsort(-(matrix @ query))[:K].tolist())
        query_codes, _ = quantise(query.reshape(1, -1))
        approximate = np.asarray(simsimd.cdist(query_codes, codes, metric="dot", out_dtype="float32"))[0] * scales
        for size in (K + 16, pool_size(K)):
            pool = np.argpartition(-approximate, size)[:size]
            best = pool[np.argsort(-(matrix[pool] @ query))][:K]
            found[f"pool_{size}"].append(len(exact & set(best.tolist())) / K)
    return {
        f"{name}_{stat}": round(float(fn(values)), 4)
        for name, values in found.items()
        for stat, fn in (("mean", np.mean), ("min", np.min))
    }


def random_recall(rows: int, queries: int) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(2)
    matrix = rng.standard_normal((rows, DIMENSION)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    asked = rng.standard_normal((queries, DIMENSION)).astype(np.float32)
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    return {"rows": rows, "queries": queries, **recall(matrix, asked)}


def model_recall(queries: int) -> dict[str, Any] | None:
    import numpy as np

    from ragline.evaluation.runner import default_cache_path

    path = default_cache_path()
    if not path.is_file():
        return None
    with sqlite3.connect(path) as conn:
        blobs = [blob for (blob,) in conn.execute("SELECT vector FROM embeddings WHERE dimension = ?", (DIMENSION,))]
    if len(blobs) < 2 * K:
        return None
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), DIMENSION).copy()
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    rng = np.random.default_rng(1)
    asked = matrix[rng.choice(len(matrix), queries, replace=False)]
    asked = asked + np.float32(0.02) * rng.standard_normal(asked.shape).astype(np.float32)
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    return {"rows": len(matrix), "queries": queries, "source": str(path), **recall(matrix, asked)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--name", default="vector_scan", help="results/<name>.json")
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the ragline CLI runs the embedded store
    quiet = _bench.before_run(args.no_wait)
    results: dict[str, Any] = {
        "rows": args.rows,
        "dimension": DIMENSION,
        "k": K,
        "kernels_ms": kernels(args.rows, args.repeats),
        "recall_random": random_recall(args.rows, args.queries),
        "recall_model": model_recall(args.queries),
        "conditions": _bench.conditions(quiet),
    }
    print(_bench.table(results["kernels_ms"].items(), ["kernel", "ms per query (median)"]))
    for name in ("recall_random", "recall_model"):
        print(name, results[name])
    print(f"wrote {_bench.write_result(args.name, results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
