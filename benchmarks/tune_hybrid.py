"""Choose the hybrid fusion on half of a dataset's queries, report it on the other half (held apart).

Queries are split by a hash of their id (stable, not by position); every configuration is scored on both
halves, the best on the tuning half is picked, and its held-apart score is what counts. bm25 and dense
run in the same process as baselines.

    python benchmarks/tune_hybrid.py --dataset ../shared/data/scifact [--embedder local] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from ragline.evaluation.runner import evaluate
from ragline.settings import EMBEDDERS, Settings

GRID = [
    {"fusion": "rrf", "dense_weight": 1.0, "lexical_weight": 1.0},
    {"fusion": "rrf", "dense_weight": 0.5, "lexical_weight": 1.0},
    {"fusion": "rrf", "dense_weight": 1.5, "lexical_weight": 1.0},
    {"fusion": "convex", "dense_weight": 1.0, "lexical_weight": 1.0},
    {"fusion": "convex", "dense_weight": 0.5, "lexical_weight": 1.0},
    {"fusion": "convex", "dense_weight": 2.0, "lexical_weight": 1.0},
    {"fusion": "convex", "dense_weight": 3.0, "lexical_weight": 1.0},
]
METRIC = "ndcg@10"


def half(query_id: str) -> str:
    return "tune" if hashlib.sha256(query_id.encode()).digest()[0] % 2 == 0 else "held"


def mean(scores: dict[str, float], which: str) -> float:
    values = [score for query_id, score in scores.items() if half(query_id) == which]
    return math.fsum(values) / len(values) if values else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--embedder", choices=EMBEDDERS, default="local")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    base = Settings.from_env()
    rows = []

    def run(label: str, mode: str, settings: Settings) -> dict:
        report = evaluate(
            args.dataset, mode, limit=args.limit, embedder=args.embedder, settings=settings, progress=False
        )
        scores = report.per_query[METRIC]
        row = {
            "config": label,
            "mode": mode,
            "all": round(report.metrics[METRIC], 4),
            "tune": round(mean(scores, "tune"), 4),
            "held": round(mean(scores, "held"), 4),
            "recall@100": round(report.metrics["recall@100"], 4),
            "p50_ms": round(report.latency_ms["p50"], 1),
        }
        rows.append(row)
        print(
            f"{label:45} {mode:7} all {row['all']:.4f}  tune {row['tune']:.4f}  held {row['held']:.4f}  "
            f"recall@100 {row['recall@100']:.4f}  p50 {row['p50_ms']} ms",
            flush=True,
        )
        return row

    run("bm25", "bm25", base)
    run("dense", "dense", base)
    hybrid_rows = [
        run(", ".join(f"{k}={v}" for k, v in config.items()), "hybrid", dataclasses.replace(base, **config))
        for config in GRID
    ]
    best = max(hybrid_rows, key=lambda row: row["tune"])
    print(f"\nbest on the tuning half: {best['config']} -> held-apart {METRIC} {best['held']:.4f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "dataset": str(args.dataset),
                    "metric": METRIC,
                    "rows": rows,
                    "best": best,
                    "machine": f"{platform.machine()}, {platform.python_version()}",
                    "date": datetime.now(UTC).date().isoformat(),
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
