"""benchmarks/squad_extractive.py and tune_extractive.py: the split, the measures and the fit, on a tiny set."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ragline.evaluation.beir import half_of
from ragline.generators.extractive import ExtractiveGenerator

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import squad_extractive  # noqa: E402
import tune_extractive  # noqa: E402

PARAGRAPH = "The Normans were a people from Normandy. Rollo founded the duchy in 911. The duchy grew rich."
QUESTIONS = [
    ("q1", "When did Rollo found the duchy?", False, ["911", "in 911"]),
    ("q2", "Who were the Normans?", False, ["a people from Normandy"]),
    ("q3", "When did Rollo found the kingdom of Spain?", True, []),
    ("q4", "What is the weather in Paris tomorrow?", True, []),
]


def write_dataset(root: Path) -> Path:
    (root / "corpus.jsonl").write_text(json.dumps({"_id": "p1", "title": "Normans", "text": PARAGRAPH}) + "\n")
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t, _, _ in QUESTIONS))
    answers = [
        {"_id": i, "context_id": "p1", "is_impossible": impossible, "answers": golds}
        for i, _, impossible, golds in QUESTIONS
    ]
    (root / "answers.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    return root


def test_the_split_is_a_stable_hash_of_the_id():
    # The benchmarks split by ragline eval's halves.
    halves = [half_of(f"question-{n}") for n in range(1000)]

    assert halves == [half_of(f"question-{n}") for n in range(1000)]
    assert set(halves) == {"tune", "test"}
    assert 400 < halves.count("tune") < 600


def test_run_measures_answerable_and_unanswerable_questions(tmp_path):
    results = squad_extractive.run(write_dataset(tmp_path), limit=None)

    assert (results["answerable"], results["unanswerable"]) == (2, 2)
    assert results["answered_containing"] == 1.0  # both answerable questions answered with the gold answer
    assert results["declined_unanswerable"] >= 0.5  # the weather, at least
    assert results["mean_answer_words"] > 0


def test_the_tuning_replays_the_generator_s_choice(tmp_path):
    corpus, queries, answers = squad_extractive.load(write_dataset(tmp_path))
    generator = ExtractiveGenerator()
    questions = [
        (a, generator.candidates(queries[a["_id"]], [squad_extractive.paragraph_hit(a, corpus)])) for a in answers
    ]

    outcomes = tune_extractive.outcomes(generator.weights, questions)
    at_default = tune_extractive.measure(outcomes, generator.weights.decline_below)

    tally = squad_extractive.Tally()
    for item, _ in questions:
        tally.add(item, generator.generate(queries[item["_id"]], [squad_extractive.paragraph_hit(item, corpus)]))
    assert at_default == tally.measures()
    assert tune_extractive.measure(outcomes, float("inf"))["declined_answerable"] == 1.0
