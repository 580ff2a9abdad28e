"""Fit the extractive generator's weights and decline threshold on one half of SQuAD 2.0 dev.

Every question's candidates and their signals are computed once, by the generator itself
(:meth:`ExtractiveGenerator.candidates`, the local embedding model's vectors cached on disk); each setting
of the grid then replays only :meth:`ExtractiveGenerator.choose`. Questions are split by
:func:`ragline.evaluation.beir.half_of`. Of the settings that decline at most :data:`MAX_DECLINED_ANSWERABLE` of
the *tune* half's answerable questions, the one picked gets the most questions right of both kinds: the
share of answerable ones answered with the gold answer contained plus the share of unanswerable ones
declined (fewer answer words break ties). The *test* half is reported for it, with the threshold's
trade-off.

    python benchmarks/tune_extractive.py --dataset ../shared/data/squad2-dev [--embedder none]
        [--json benchmarks/results/tune_extractive.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from squad_extractive import Tally, build_embedder, load, paragraph_hit

from ragline.evaluation.beir import half_of
from ragline.generators.extractive import TERMS_ONLY, Candidate, ExtractiveGenerator, Weights
from ragline.models import NO_ANSWER, Answer

#: The decline rate on the tuning half's answerable questions the picked setting may not exceed: the issue's
#: bar is 10 %, and a fitted threshold does a little worse on questions it was not fitted on.
MAX_DECLINED_ANSWERABLE = 0.08
SIMILARITY = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0)
ANSWER_TYPE = (0.0, 0.15, 0.3)
CONTEXT = (0.0, 0.5, 1.0)
RUNNER_UP = (1.01, 0.9, 0.8)  # above 1: never a second unit
THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(121))


@dataclass(frozen=True)
class Outcome:
    """One question under one setting, whatever the decline threshold: the best score (the question is
    declined below the threshold) and its counts either way."""

    best_score: float
    answered: Tally
    declined: Tally


def outcomes(weights: Weights, questions: list[tuple[dict, list[Candidate]]]) -> list[Outcome]:
    """Each question's outcome, as :meth:`ExtractiveGenerator.generate` would answer it with no threshold."""
    generator = ExtractiveGenerator(weights=replace(weights, decline_below=float("-inf")))
    results = []
    for item, candidates in questions:
        chosen = sorted(generator.choose(candidates), key=lambda c: (c.source, c.position))
        best = max((c.score(weights, generator.rank_discount) for c in chosen), default=float("-inf"))
        text = " ".join(f"{c.text} [{c.source}]" for c in chosen)
        answered, declined = Tally(), Tally()
        answered.add(item, Answer(text, cited=[1] if chosen else [], model=generator.name))
        declined.add(item, Answer(NO_ANSWER, cited=[], model=generator.name))
        results.append(Outcome(best, answered, declined))
    return results


def measure(results: list[Outcome], threshold: float) -> dict[str, float | int]:
    """The answer measures when every question whose best score is below ``threshold`` is declined."""
    total = Tally()
    for outcome in results:
        total.merge(outcome.answered if outcome.best_score >= threshold else outcome.declined)
    return total.measures()


def acceptable(measures: dict[str, float | int]) -> bool:
    return measures["declined_answerable"] <= MAX_DECLINED_ANSWERABLE


def rank_key(measures: dict[str, float | int]) -> tuple[float, float]:
    right = float(measures["answered_containing"]) + float(measures["declined_unanswerable"])
    return (round(right, 4), -float(measures["mean_answer_words"]))


def best_per_setting(passing: list[tuple[Weights, dict[str, float | int]]]) -> list[dict]:
    """For each setting of the weights, its best acceptable threshold and what it gives on the tune half."""
    best: dict[Weights, tuple[Weights, dict[str, float | int]]] = {}
    for weights, measures in passing:
        key = replace(weights, decline_below=0.0)
        if key not in best or rank_key(measures) > rank_key(best[key][1]):
            best[key] = (weights, measures)
    return [{"weights": asdict(weights), "tune": measures} for weights, measures in best.values()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/squad2-dev")
    parser.add_argument("--embedder", choices=("local", "none"), default="local")
    parser.add_argument("--json", type=Path, default=None, help="also write every result here")
    args = parser.parse_args(argv)

    corpus, queries, answers = load(args.dataset)
    embedder = build_embedder(args.embedder)
    featurizer = ExtractiveGenerator(embedder=embedder)
    started = time.perf_counter()
    halves: dict[str, list[tuple[dict, list[Candidate]]]] = {"tune": [], "test": []}
    for item in answers:
        candidates = featurizer.candidates(queries[item["_id"]], [paragraph_hit(item, corpus)])
        halves[half_of(item["_id"])].append((item, candidates))
    featurized = time.perf_counter() - started

    similarities = SIMILARITY if embedder is not None else (0.0,)
    grid: list[tuple[Weights, dict[str, float | int]]] = []
    for similarity, answer_type, context, runner_up in itertools.product(similarities, ANSWER_TYPE, CONTEXT, RUNNER_UP):
        base = replace(
            TERMS_ONLY, similarity=similarity, answer_type=answer_type, context=context, runner_up_within=runner_up
        )
        tune_outcomes = outcomes(base, halves["tune"])
        grid.extend((replace(base, decline_below=t), measure(tune_outcomes, t)) for t in THRESHOLDS)
    passing = [(weights, measures) for weights, measures in grid if acceptable(measures)]
    picked, picked_tune = max(passing, key=lambda pair: rank_key(pair[1]))
    tune_outcomes, test_outcomes = outcomes(picked, halves["tune"]), outcomes(picked, halves["test"])
    picked_test = measure(test_outcomes, picked.decline_below)
    trade_off = [
        {"decline_below": t, "tune": measure(tune_outcomes, t), "test": measure(test_outcomes, t)} for t in THRESHOLDS
    ]

    print(f"picked {picked}")
    print(f"  tune: {picked_tune}")
    print(f"  test: {picked_test}")
    print("threshold -> test: answered containing / declined answerable / declined unanswerable / words")
    for threshold in THRESHOLDS:
        test = measure(test_outcomes, threshold)
        print(
            f"  {threshold:.2f} -> {test['answered_containing']:.3f} / {test['declined_answerable']:.3f}"
            f" / {test['declined_unanswerable']:.3f} / {test['mean_answer_words']}"
        )
    if args.json:
        result = {
            "embedder": args.embedder,
            "picked": asdict(picked),
            "tune": picked_tune,
            "test": picked_test,
            "threshold_trade_off": trade_off,
            "grid_best_per_setting": best_per_setting(passing),
            "featurize_seconds": round(featurized, 1),
            "machine": f"{platform.machine()}, {platform.python_version()}",
            "date": datetime.now(UTC).date().isoformat(),
        }
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
