"""The extractive generator on SQuAD 2.0 (dev): answers from the question's own paragraph.

SQuAD's setting: each question comes with its Wikipedia paragraph; a third of SQuAD 2.0's questions cannot
be answered from it, and the right reply to those is to decline. The extractive generator picks whole
sentences, not spans, so exact match is near zero by construction; what matters for a cited answer is
whether the sentences it picks contain the answer (``contains``), token F1 against the gold spans, and
whether it declines when it should (``declined_unanswerable``) and not when it shouldn't.

    python benchmarks/squad_extractive.py --dataset ../shared/data/squad2-dev [--limit N] [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import re
import string
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ragline.generators.extractive import ExtractiveGenerator
from ragline.models import Chunk, SearchHit

_MARKERS = re.compile(r"\s*\[\d+(?:,\s*\d+)*\]")


def normalize(text: str) -> str:
    """The official SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize(prediction).split(), normalize(gold).split()
    common = collections.Counter(predicted) & collections.Counter(expected)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


def load(dataset: Path) -> tuple[dict[str, dict], dict[str, str], list[dict]]:
    corpus = {doc["_id"]: doc for doc in map(json.loads, (dataset / "corpus.jsonl").open())}
    queries = {q["_id"]: q["text"] for q in map(json.loads, (dataset / "queries.jsonl").open())}
    answers = [json.loads(line) for line in (dataset / "answers.jsonl").open()]
    return corpus, queries, answers


def run(dataset: Path, limit: int | None) -> dict:
    corpus, queries, answers = load(dataset)
    if limit:
        answers = answers[:limit]
    generator = ExtractiveGenerator()
    totals = collections.Counter()
    f1_sum = 0.0
    started = time.perf_counter()
    for item in answers:
        paragraph = corpus[item["context_id"]]
        chunk = Chunk(
            item["context_id"], item["context_id"], "v1", paragraph["text"], "squad", paragraph["title"], ("eval",), 0
        )
        answer = generator.generate(queries[item["_id"]], [SearchHit(chunk, 1.0)])
        declined = not answer.cited
        text = _MARKERS.sub("", answer.text)
        if item["is_impossible"]:
            totals["unanswerable"] += 1
            totals["declined_unanswerable"] += declined
            continue
        totals["answerable"] += 1
        totals["declined_answerable"] += declined
        if declined:
            continue
        golds = item["answers"]
        totals["exact"] += any(normalize(text) == normalize(gold) for gold in golds)
        totals["contains"] += any(normalize(gold) in normalize(text) for gold in golds)
        f1_sum += max(f1(text, gold) for gold in golds)
    elapsed = time.perf_counter() - started
    answerable = max(totals["answerable"], 1)
    return {
        "questions": len(answers),
        "answerable": totals["answerable"],
        "unanswerable": totals["unanswerable"],
        "exact_match": round(totals["exact"] / answerable, 4),
        "f1": round(f1_sum / answerable, 4),
        "contains_answer": round(totals["contains"] / answerable, 4),
        "declined_answerable": round(totals["declined_answerable"] / answerable, 4),
        "declined_unanswerable": round(totals["declined_unanswerable"] / max(totals["unanswerable"], 1), 4),
        "ms_per_question": round(elapsed * 1000 / max(len(answers), 1), 3),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "date": datetime.now(UTC).date().isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/squad2-dev")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    results = run(args.dataset, args.limit)
    for name, value in results.items():
        print(f"{name:>22}: {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
