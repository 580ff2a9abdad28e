"""Choose the local reranker's weights on half of two datasets' queries, report them on the other half.

For each dataset, one ``ragline eval`` run in ``hybrid+rerank`` mode (the production retrieval path)
records the fused head each query hands the reranker (the ``--shortlist``); every weight setting of
:class:`ragline.rerankers.proximity.ProximityReranker` then reorders those recorded heads, which is
exactly what the reranker does inside ``QueryService`` (the tail keeps its fused order), without
re-indexing the corpus per setting. Queries are split in halves by a hash of their id (as in
``tune_hybrid.py``); the weights with the best mean nDCG@10 over the *tuning* halves of all the datasets
are picked, and their held-apart scores are what count, next to plain hybrid on the same queries.
Then maximal marginal relevance at several lambdas after that reranker: nDCG@10 and how alike the top
five passages are (``redundancy@5``, the mean of each one's highest term cosine with another).

    python benchmarks/tune_rerank.py --dataset ../shared/data/scifact --dataset ../shared/data/squad2-dev
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from _bench import table, write_result
from tune_hybrid import half

from ragline.evaluation.metrics import DEFAULT_METRICS, evaluate_run
from ragline.evaluation.runner import DOCS_PER_QUERY, evaluate
from ragline.mmr import TermBag, maximal_marginal_relevance
from ragline.models import SearchHit
from ragline.rerankers.proximity import ProximityReranker
from ragline.settings import EMBEDDERS, Settings

METRIC = "ndcg@10"
COVERAGE_WEIGHTS = (0.0, 0.1, 0.2, 0.4)
PROXIMITY_WEIGHTS = (0.0, 0.1, 0.2, 0.4, 0.8)
MMR_LAMBDAS = (1.0, 0.9, 0.8, 0.7, 0.5)
TOP_K = 5  # what the query function hands the generator by default (RAGLINE_TOP_K)


class HeadRecorder:
    """A reranker that keeps the order it is given and remembers each question's head."""

    name = "recorder"

    def __init__(self) -> None:
        self.heads: list[tuple[str, list[SearchHit]]] = []

    def rerank(self, question: str, hits: Sequence[SearchHit], top_n: int) -> list[SearchHit]:
        self.heads.append((question, list(hits)))
        return list(hits)[:top_n]


@dataclasses.dataclass
class Recorded:
    name: str
    qrels: dict[str, dict[str, int]]
    query_ids: list[str]
    heads: list[tuple[str, list[SearchHit]]]
    runs: dict[str, list[str]]  # plain hybrid's ranking: the tail after the reordered head


def record(dataset: Path, settings: Settings, embedder: str, limit: int | None) -> Recorded:
    from ragline.evaluation.beir import load_beir

    recorder = HeadRecorder()
    report = evaluate(
        dataset, "hybrid+rerank", limit=limit, embedder=embedder, settings=settings, progress=False, reranker=recorder
    )
    loaded = load_beir(dataset, limit=limit)
    query_ids = [query.id for query in loaded.queries]
    assert [query.text for query in loaded.queries] == [question for question, _ in recorder.heads]
    return Recorded(report.dataset, loaded.qrels, query_ids, recorder.heads, report.runs)


def beir_id(hit: SearchHit) -> str:
    return hit.chunk.source.rsplit("/", 1)[-1].removesuffix(".md")  # eval stores BEIR docs as <id>.md


Reorder = Callable[[str, list[SearchHit]], list[SearchHit]]


def reranked(reranker: ProximityReranker | None) -> Reorder:
    return lambda question, head: reranker.rerank(question, head, len(head)) if reranker else head


def score(recorded: Recorded, reorder: Reorder) -> dict[str, float]:
    """Per-query nDCG@10 with each head reordered; the tail keeps plain hybrid's order."""
    runs: dict[str, list[str]] = {}
    for query_id, (question, head) in zip(recorded.query_ids, recorded.heads, strict=True):
        ordered = reorder(question, head)
        ranking = dict.fromkeys(beir_id(hit) for hit in ordered)
        ranking.update(dict.fromkeys(recorded.runs[query_id]))
        runs[query_id] = list(ranking)[:DOCS_PER_QUERY]
    return evaluate_run(runs, recorded.qrels, DEFAULT_METRICS).per_query[METRIC]


def summarise(per_query: dict[str, float], redundancy: float) -> dict[str, float]:
    result = {"all": math.fsum(per_query.values()) / len(per_query)}
    for which in ("tune", "held"):
        values = [value for query_id, value in per_query.items() if half(query_id) == which]
        result[which] = math.fsum(values) / len(values) if values else 0.0
    result["redundancy@5"] = redundancy
    return {name: round(value, 4) for name, value in result.items()}


def measure(recorded: Recorded, reorder: Reorder) -> tuple[dict[str, float], dict[str, float]]:
    """(summary, per-query nDCG@10) of ``reorder`` applied to every recorded head."""
    redundancy: list[float] = []

    def observed(question: str, head: list[SearchHit]) -> list[SearchHit]:
        ordered = reorder(question, head)
        redundancy.append(top_redundancy(ordered[:TOP_K]))
        return ordered

    per_query = score(recorded, observed)
    return summarise(per_query, math.fsum(redundancy) / len(redundancy)), per_query


def randomisation_p(a: dict[str, float], b: dict[str, float], query_ids: Sequence[str], rounds: int = 5000) -> float:
    """Two-sided p-value of the paired sign-flip randomisation test on the mean difference (Smucker et al.,
    2007, "A Comparison of Statistical Significance Tests for Information Retrieval Evaluation")."""
    differences = [a[q] - b[q] for q in query_ids]
    observed = abs(math.fsum(differences))
    rng = random.Random(0)
    extreme = sum(
        abs(math.fsum(d if rng.random() < 0.5 else -d for d in differences)) >= observed - 1e-12 for _ in range(rounds)
    )
    return (extreme + 1) / (rounds + 1)


def top_redundancy(hits: Sequence[SearchHit]) -> float:
    """The mean, over the passages, of their highest term cosine (as MMR measures it) with another of them."""
    bags = [TermBag(hit.chunk.text) for hit in hits]
    if len(bags) < 2:
        return 0.0
    return math.fsum(max(a.cosine(b) for j, b in enumerate(bags) if j != i) for i, a in enumerate(bags)) / len(bags)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, action="append", required=True)
    parser.add_argument("--embedder", choices=EMBEDDERS, default="local")
    parser.add_argument(
        "--shortlist", type=int, default=None, help="fused candidates reranked (default RAGLINE_SHORTLIST)"
    )
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--name", default="tune_rerank", help="results file name (benchmarks/results/<name>.json)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.shortlist:
        settings = dataclasses.replace(settings, shortlist=args.shortlist)
    recorded = [record(dataset, settings, args.embedder, args.limit) for dataset in args.dataset]

    configs: list[dict] = []
    per_query: list[dict[str, dict[str, float]]] = []
    for coverage, proximity in itertools.product(COVERAGE_WEIGHTS, PROXIMITY_WEIGHTS):
        reranker = None if coverage == proximity == 0 else ProximityReranker(coverage, proximity)
        row: dict = {"coverage_weight": coverage, "proximity_weight": proximity}
        per_query.append({})
        for data in recorded:
            row[data.name], per_query[-1][data.name] = measure(data, reranked(reranker))
        row["mean_tune"] = round(math.fsum(row[data.name]["tune"] for data in recorded) / len(recorded), 4)
        configs.append(row)
    plain = configs[0]  # weights 0, 0: plain hybrid
    best_index = max(range(len(configs)), key=lambda i: configs[i]["mean_tune"])
    best = configs[best_index]
    for data in recorded:
        held = [q for q in data.query_ids if half(q) == "held"]
        best[data.name]["held_p_value"] = round(
            randomisation_p(per_query[best_index][data.name], per_query[0][data.name], held), 4
        )

    headers = ["coverage", "proximity"] + [f"{data.name} {part}" for data in recorded for part in ("tune", "held")]
    print(
        table(
            [
                [row["coverage_weight"], row["proximity_weight"]]
                + [f"{row[data.name][part]:.4f}" for data in recorded for part in ("tune", "held")]
                for row in configs
            ],
            headers,
        )
    )
    print(f"\nbest on the tuning halves: coverage {best['coverage_weight']}, proximity {best['proximity_weight']}")
    for data in recorded:
        print(
            f"  {data.name}: held apart {best[data.name]['held']:.4f} vs plain hybrid {plain[data.name]['held']:.4f}"
            f" (paired randomisation test p = {best[data.name]['held_p_value']})"
        )

    # MMR after the chosen reranker, as QueryService applies it: the first TOP_K results picked from the head.
    chosen = (
        None
        if best["coverage_weight"] == best["proximity_weight"] == 0
        else ProximityReranker(best["coverage_weight"], best["proximity_weight"])
    )
    mmr_rows = []
    for lambda_ in MMR_LAMBDAS:

        def reorder(question: str, head: list[SearchHit], lambda_: float = lambda_) -> list[SearchHit]:
            ordered = reranked(chosen)(question, head)
            picked = maximal_marginal_relevance(ordered, TOP_K, lambda_)
            ids = {hit.chunk.chunk_id for hit in picked}
            return picked + [hit for hit in ordered if hit.chunk.chunk_id not in ids]

        mmr_rows.append({"mmr_lambda": lambda_, **{data.name: measure(data, reorder)[0] for data in recorded}})
    print()
    print(
        table(
            [
                [row["mmr_lambda"]]
                + [f"{row[data.name][part]:.4f}" for data in recorded for part in ("all", "redundancy@5")]
                for row in mmr_rows
            ],
            ["MMR lambda"] + [f"{data.name} {part}" for data in recorded for part in ("nDCG@10", "redundancy@5")],
        )
    )
    write_result(
        args.name,
        {
            "metric": METRIC,
            "shortlist": settings.shortlist,
            "datasets": [str(path) for path in args.dataset],
            "plain_hybrid": plain,
            "best": best,
            "rows": configs,
            "mmr_top_k": TOP_K,
            "mmr": mmr_rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
