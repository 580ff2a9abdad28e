"""The extractive generator on SQuAD 2.0 (dev): answers from the question's own paragraph.

SQuAD's setting: each question comes with its Wikipedia paragraph; a third of SQuAD 2.0's questions cannot
be answered from it, and the right reply to those is to decline. The extractive generator picks whole
sentences, not spans, so exact match is near zero by construction; what matters for a cited answer is
whether the sentences it picks contain the answer (``contains``), token F1 against the gold spans, and
whether it declines when it should (``declined_unanswerable``) and not when it shouldn't.
``answered_containing`` is the share of *all* answerable questions answered with the gold answer in the
cited text (a decline counts against it); ``contains_answer`` the share of those answered.

``--split tune|test`` keeps half of the questions, by a stable hash of their id, the halves ``ragline eval --split``
uses (:func:`ragline.evaluation.beir.half_of`): the
weights of the generator were fitted on ``tune`` (``benchmarks/tune_extractive.py``), so ``test`` is the
half that measures them. ``--embedder local`` gives the generator the local embedding model (its default
in production, ``RAGLINE_EMBEDDER=local``), vectors cached on disk in ``$RAGLINE_CACHE_DIR``.

    python benchmarks/squad_extractive.py --dataset ../shared/data/squad2-dev [--split test] [--embedder local]
        [--limit N] [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ragline.evaluation.answers import answer_text, contains_answer, exact_match, token_f1
from ragline.evaluation.beir import half_of
from ragline.generators.extractive import ExtractiveGenerator
from ragline.models import Answer, Chunk, SearchHit
from ragline.ports import Embedder


def load(dataset: Path) -> tuple[dict[str, dict], dict[str, str], list[dict]]:
    corpus = {doc["_id"]: doc for doc in map(json.loads, (dataset / "corpus.jsonl").open())}
    queries = {q["_id"]: q["text"] for q in map(json.loads, (dataset / "queries.jsonl").open())}
    answers = [json.loads(line) for line in (dataset / "answers.jsonl").open()]
    return corpus, queries, answers


def paragraph_hit(item: dict, corpus: dict[str, dict]) -> SearchHit:
    """The question's own paragraph as the one source, as SQuAD poses it."""
    paragraph = corpus[item["context_id"]]
    chunk = Chunk(
        item["context_id"], item["context_id"], "v1", paragraph["text"], "squad", paragraph["title"], ("eval",), 0
    )
    return SearchHit(chunk, 1.0)


def build_embedder(name: str) -> Embedder | None:
    """The embedder named on the command line, behind the on-disk cache; None for ``none``."""
    if name == "none":
        return None
    from ragline.embedders.cache import CachedEmbedder

    if name == "local":
        from ragline.embedders.local import LocalEmbedder

        inner: Embedder = LocalEmbedder()
    else:
        from ragline.embedders.hashing import HashEmbedder

        inner = HashEmbedder()
    cache = Path(os.environ.get("RAGLINE_CACHE_DIR", Path.home() / ".cache" / "ragline"))
    cache.mkdir(parents=True, exist_ok=True)
    return CachedEmbedder(inner, cache / "embeddings.sqlite")


class Tally:
    """The counts behind the answer measures, one question at a time."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.f1_sum = 0.0
        self.words = 0

    def add(self, item: dict, answer: Answer) -> None:
        declined = answer.declined
        text = answer_text(answer)
        if item["is_impossible"]:
            self.counts["unanswerable"] += 1
            self.counts["declined_unanswerable"] += declined
            return
        self.counts["answerable"] += 1
        self.counts["declined_answerable"] += declined
        if declined:
            return
        golds = item["answers"]
        self.counts["answered"] += 1
        self.words += len(text.split())
        self.counts["exact"] += any(exact_match(text, gold) for gold in golds)
        self.counts["contains"] += any(contains_answer(text, gold) for gold in golds)
        self.f1_sum += max(token_f1(text, gold) for gold in golds)

    def merge(self, other: Tally) -> None:
        """Add the counts of ``other`` (of other questions) to these."""
        self.counts.update(other.counts)
        self.f1_sum += other.f1_sum
        self.words += other.words

    def measures(self) -> dict[str, float | int]:
        counts = self.counts
        answered, answerable = max(counts["answered"], 1), max(counts["answerable"], 1)
        return {
            "answerable": counts["answerable"],
            "unanswerable": counts["unanswerable"],
            "answered_containing": round(counts["contains"] / answerable, 4),
            "contains_answer": round(counts["contains"] / answered, 4),
            "f1": round(self.f1_sum / answered, 4),
            "exact_match": round(counts["exact"] / answered, 4),
            "mean_answer_words": round(self.words / answered, 1),
            "declined_answerable": round(counts["declined_answerable"] / answerable, 4),
            "declined_unanswerable": round(counts["declined_unanswerable"] / max(counts["unanswerable"], 1), 4),
        }


def run(dataset: Path, limit: int | None, split: str | None = None, embedder: str = "none") -> dict:
    corpus, queries, answers = load(dataset)
    if split:
        answers = [item for item in answers if half_of(item["_id"]) == split]
    if limit:
        answers = answers[:limit]
    generator = ExtractiveGenerator(embedder=build_embedder(embedder))
    tally = Tally()
    started = time.perf_counter()
    for item in answers:
        tally.add(item, generator.generate(queries[item["_id"]], [paragraph_hit(item, corpus)]))
    elapsed = time.perf_counter() - started
    return {
        "questions": len(answers),
        "split": split or "all",
        "embedder": embedder,
        **tally.measures(),
        "ms_per_question": round(elapsed * 1000 / max(len(answers), 1), 3),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "date": datetime.now(UTC).date().isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/squad2-dev")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--split", choices=("tune", "test"), default=None, help="half of the questions (default: all)")
    parser.add_argument("--embedder", choices=("local", "hash", "none"), default="none")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    results = run(args.dataset, args.limit, args.split, args.embedder)
    for name, value in results.items():
        print(f"{name:>22}: {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
