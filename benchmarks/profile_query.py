"""Profile the query path at 100k chunks with pyinstrument: where the p50 goes.

Builds the same store as ``query_latency`` (same chunks, roles and questions), then profiles only the
question loop (``QueryService.answer`` with the stand-in generator that writes nothing). The text
report goes to ``benchmarks/results/profiles/query_<chunks>.txt``, with how many visible chunks each
question's BM25 terms match.

    .venv/bin/python benchmarks/profile_query.py [--chunks 100000] [--queries 100]

Needs pyinstrument (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

import _bench
import query_latency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    from pyinstrument import Profiler

    from ragline.embedders.hashing import HashEmbedder
    from ragline.embedders.local import LocalEmbedder
    from ragline.factory import build_reranker
    from ragline.query import QueryService, RetrievalConfig
    from ragline.settings import Settings
    from ragline.stores.sqlite import SqliteStore
    from ragline.stores.sqlite.lexical import question_term_ids

    _bench.before_run(args.no_wait)
    workdir = Path(tempfile.mkdtemp(prefix="ragline-profile-"))
    try:
        chunks, _ = query_latency.make_chunks(args.chunks)
        vectors = HashEmbedder(384).embed_documents([c.indexed_text() for c in chunks])
        path = workdir / "store.sqlite3"
        query_latency.build_embedded(path, chunks, vectors)
        questions = query_latency.questions(chunks, args.queries)
        embedder = LocalEmbedder()
        settings = dataclasses.replace(Settings())
        with SqliteStore(path, 384) as store:
            service = QueryService(
                store,
                embedder,
                query_latency.SkipGeneration(),
                RetrievalConfig.from_settings(settings),
                reranker=build_reranker(settings),
            )
            for question in questions[:5]:
                service.answer(question, query_latency.CALLER, settings.top_k)
            profiler = Profiler(interval=0.0005)
            profiler.start()
            for question in questions:
                service.answer(question, query_latency.CALLER, settings.top_k)
            profiler.stop()
            with store._lock:
                lexical = store._current_lexical()
                matches = [
                    len(
                        lexical.top_k(
                            question_term_ids(store._conn, store._tokenizer, q), query_latency.CALLER, k=10**9
                        )[0]
                    )
                    for q in questions
                ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = profiler.output_text(unicode=True, color=False, show_all=False)
    out = _bench.RESULTS / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"query_{args.chunks}.txt"
    lines = [
        f"# pyinstrument, {args.queries} questions over {args.chunks:,} chunks, {_bench.now()}, "
        f"{_bench.machine()['cpu']}",
        f"# BM25 matches per question (of {args.chunks:,} chunks): median {int(_bench.percentile(matches, 50)):,}, "
        f"p90 {int(_bench.percentile(matches, 90)):,}",
        "",
        report,
    ]
    target.write_text("\n".join(lines))
    print("\n".join(lines[:3]))
    print(report)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
