"""Chunking strategies side by side on long documents: which passages reach the generator with the answer?

SQuAD 2.0 dev's paragraphs, put back together into their Wikipedia articles (one markdown document per
article, 10 to 40 paragraphs each), indexed through the production path once per strategy; each answerable
question retrieves its top passages with the default hybrid retrieval. Measured per strategy:

- answer@1 / answer@5: a gold answer appears in the passage(s) the generator would read (a chunk's parent
  in parent-child, else the chunk itself);
- tokens@5: how much text those five passages are (what a prompt costs);
- the extractive generator's answers from those passages: contains the answer / declined.

    python benchmarks/chunking.py --dataset ../shared/data/squad2-dev [--limit 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ragline.embedders.cache import CachedEmbedder
from ragline.evaluation.answers import answer_text, contains_answer
from ragline.evaluation.runner import default_cache_path
from ragline.factory import build_embedder, build_reranker, build_store
from ragline.generators.extractive import ExtractiveGenerator
from ragline.ids import document_id
from ragline.indexing import chunks_of, index_chunks
from ragline.models import StoredObject
from ragline.query import QueryService, RetrievalConfig
from ragline.settings import Settings
from ragline.words import count_tokens

sys.path.insert(0, str(Path(__file__).resolve().parent))

STRATEGIES = {
    "fixed 220/40": {"chunking": "fixed", "chunk_tokens": 220, "chunk_overlap": 40},
    "structure 220/40": {"chunking": "structure", "chunk_tokens": 220, "chunk_overlap": 40},
    "structure 120/20": {"chunking": "structure", "chunk_tokens": 120, "chunk_overlap": 20},
    "parent-child 120/20 in 600": {
        "chunking": "parent-child",
        "chunk_tokens": 120,
        "chunk_overlap": 20,
        "parent_tokens": 600,
    },
}
ROLES = frozenset({"eval"})


def articles(dataset: Path) -> dict[str, str]:
    """Article title -> markdown, paragraphs in their original order."""
    paragraphs: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    titles: dict[str, str] = {}
    for doc in map(json.loads, (dataset / "corpus.jsonl").open()):
        article, _, number = doc["_id"].rpartition("_")
        paragraphs[article].append((int(number), doc["text"]))
        titles[article] = doc["title"]
    return {
        article: f"# {titles[article]}\n\n" + "\n\n".join(text for _, text in sorted(parts))
        for article, parts in paragraphs.items()
    }


def run(dataset: Path, limit: int | None) -> dict:
    docs = articles(dataset)
    queries = {q["_id"]: q["text"] for q in map(json.loads, (dataset / "queries.jsonl").open())}
    answerable = [a for a in map(json.loads, (dataset / "answers.jsonl").open()) if not a["is_impossible"]]
    answerable.sort(key=lambda a: hashlib.sha256(a["_id"].encode()).hexdigest())  # a fixed, unbiased sample
    answerable = answerable[:limit] if limit else answerable
    base = Settings.from_env()
    embedder = CachedEmbedder(build_embedder(dataclasses.replace(base, embedder="local")), default_cache_path())
    generator = ExtractiveGenerator()
    results = {}
    for label, overrides in STRATEGIES.items():
        settings = dataclasses.replace(base, **overrides)
        with tempfile.TemporaryDirectory() as folder:
            store = build_store(dataclasses.replace(settings, index_path=f"{folder}/index.sqlite3"), embedder.dimension)
            started = time.perf_counter()
            chunk_count = 0
            for article, markdown in docs.items():
                data = markdown.encode()
                stored = StoredObject("eval", f"{article}.md", data, {}, hashlib.sha256(data).hexdigest())
                doc_id = document_id("eval", stored.key)
                chunks = chunks_of(stored, doc_id, tuple(ROLES), settings)
                index_chunks(store, embedder, doc_id, chunks)
                chunk_count += len(chunks)
            indexing = time.perf_counter() - started
            service = QueryService(
                store, embedder, generator, RetrievalConfig.from_settings(settings), reranker=build_reranker(settings)
            )
            totals = collections.Counter()
            tokens = 0
            for item in answerable:
                hits = service.retrieve(queries[item["_id"]], ROLES, 5)
                golds = item["answers"]
                passages = [hit.chunk.passage() for hit in hits]
                totals["answer@1"] += bool(passages) and any(contains_answer(passages[0], g) for g in golds)
                totals["answer@5"] += any(contains_answer(p, g) for p in passages for g in golds)
                tokens += sum(count_tokens(hit.chunk.passage()) for hit in hits)
                answer = generator.generate(queries[item["_id"]], hits)
                if answer.declined:
                    totals["declined"] += 1
                elif any(contains_answer(answer_text(answer), g) for g in golds):
                    totals["contains"] += 1
            store.close()
        n = len(answerable)
        answered = max(n - totals["declined"], 1)
        results[label] = {
            "chunks": chunk_count,
            "answer@1": round(totals["answer@1"] / n, 4),
            "answer@5": round(totals["answer@5"] / n, 4),
            "tokens@5": round(tokens / n, 1),
            "extractive_contains": round(totals["contains"] / answered, 4),
            "extractive_declined": round(totals["declined"] / n, 4),
            "index_seconds": round(indexing, 1),
        }
        print(f"{label:28} " + "  ".join(f"{k} {v}" for k, v in results[label].items()), flush=True)
    embedder.close()
    return {
        "dataset": str(dataset),
        "documents": len(docs),
        "questions": len(answerable),
        "strategies": results,
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "date": datetime.now(UTC).date().isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/squad2-dev")
    parser.add_argument("--limit", type=int, default=1000, help="answerable questions to ask (0: all)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    results = run(args.dataset, args.limit or None)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
