"""Ingest throughput through the ingest handler, and where the time goes per stage.

moto runs in-process (S3 with notifications to SQS, DynamoDB for the registry), as in the component tests;
documents (half PDF, half markdown, realistic prose) are put into the bucket, and the S3 notifications are
taken from the queue and handed to the real ingest handler (``functions/ingest/handler.py``) in batches of
10, as Lambda's SQS event source mapping does. Timers wrap the real functions the handler calls:

- ``s3``: reading the object and its sidecar (``ObjectStore.get``)
- ``parse``: ``ragline.parsing.parse_document``
- ``chunk``: the chunking function ``ragline.indexing`` calls (``ragline.chunking.chunk``)
- ``embed``: ``Embedder.embed_documents``
- ``store``: ``VectorStore.replace_document`` / ``delete_document`` (the embedded store)
- ``registry``: ``Registry.get`` / ``put`` (DynamoDB)
- ``other``: the rest of the handler (Powertools batch processing, event parsing, ids, logging)

Run once with the ``hash`` embedder (pipeline overhead) and once with the ``local`` embedder (model bound).

    .venv/bin/python benchmarks/ingest_throughput.py [--docs 40] [--pages 4] [--embedders hash local]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _bench

_bench.add_repo_to_path()

STAGES = ("s3", "parse", "chunk", "embed", "store", "registry")
BATCH = 10


class _Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - started
                self.calls[stage] += 1

        return timed


class _Timed:
    """Delegates to ``target``; the named methods are timed under ``stage``."""

    def __init__(self, target: Any, timers: _Timers, stage: str, methods: tuple[str, ...]) -> None:
        self._target = target
        for name in methods:
            setattr(self, name, timers.wrap(stage, getattr(target, name)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


@contextlib.contextmanager
def _environment(values: dict[str, str], remove: tuple[str, ...]) -> Iterator[None]:
    saved = _bench.set_environment(values, remove)
    try:
        yield
    finally:
        _bench.restore_environment(saved)


def make_corpus(docs: int, pages: int, seed: int = 3) -> list[tuple[str, bytes]]:
    """``docs`` documents of about ``pages`` pages of 450-500 words: even ones PDF, odd ones markdown."""
    from tests.fixtures.documents import make_pdf

    prose = _bench.Prose(seed=seed)
    corpus = []
    for index in range(docs):
        if index % 2 == 0:
            data = make_pdf([prose.page_lines(450) for _ in range(pages)], title=f"Report {index}")
            corpus.append((f"reports/report-{index:04d}.pdf", data))
        else:
            corpus.append((f"notes/note-{index:04d}.md", prose.markdown(pages, 480).encode()))
    return corpus


def run_one(embedder: str, corpus: list[tuple[str, bytes]], workdir: Path) -> dict[str, Any]:
    """Ingest ``corpus`` through the ingest handler with ``embedder``; returns throughput and stage times."""
    import boto3
    from moto import mock_aws

    import ragline.indexing as indexing
    from ragline.local.lambda_runtime import LocalFunction
    from ragline.local.provision import provision
    from ragline.local.worker import sqs_lambda_event
    from ragline.settings import Settings
    from tests.store_inspection import count_chunks

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "RAGLINE_EMBEDDER": embedder,
        "RAGLINE_INDEX_PATH": str(workdir / f"index-{embedder}.sqlite3"),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    remove = (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_PROFILE",
    )
    timers = _Timers()
    # The names ragline.indexing calls, as it imported them (its chunking entry point has been renamed before).
    patched = {
        name: getattr(indexing, name)
        for name in ("parse_document", "chunk", "chunk_document")
        if hasattr(indexing, name)
    }
    with _environment(env, remove), mock_aws():
        settings = Settings.from_env()
        session = boto3.session.Session(region_name=settings.region)
        s3, sqs = session.client("s3"), session.client("sqs")
        resources = provision(s3, sqs, session.client("dynamodb"), settings)
        function = LocalFunction("ingest")
        ingestor = function.module.ingestor()
        started = time.perf_counter()
        ingestor.embedder.embed_documents(["warm-up"])  # model load: a cold start, reported apart
        model_load_s = time.perf_counter() - started
        ingestor.objects = _Timed(ingestor.objects, timers, "s3", ("get",))
        ingestor.embedder = _Timed(ingestor.embedder, timers, "embed", ("embed_documents",))
        ingestor.store = _Timed(ingestor.store, timers, "store", ("replace_document", "delete_document"))
        ingestor.registry = _Timed(ingestor.registry, timers, "registry", ("get", "put"))
        for name, original in patched.items():
            setattr(indexing, name, timers.wrap("parse" if name == "parse_document" else "chunk", original))
        try:
            upload_started = time.perf_counter()
            for key, data in corpus:
                s3.put_object(Bucket=settings.bucket, Key=key, Body=data, Metadata={"roles": "everyone"})
            upload_s = time.perf_counter() - upload_started
            messages = []
            while True:
                batch = sqs.receive_message(
                    QueueUrl=resources.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
                ).get("Messages", [])
                if not batch:
                    break
                messages.extend(batch)
            handler_s = 0.0
            failures = 0
            for start in range(0, len(messages), BATCH):
                event = sqs_lambda_event(messages[start : start + BATCH], resources.queue_arn, settings.region)
                began = time.perf_counter()
                response = function.invoke(event)
                handler_s += time.perf_counter() - began
                failures += len(response.get("batchItemFailures", []))
            chunks = count_chunks(ingestor.store._target)
        finally:
            for name, original in patched.items():
                setattr(indexing, name, original)
            ingestor.store._target.close()
    staged = sum(timers.seconds[s] for s in STAGES)
    stages = {s: round(timers.seconds[s], 4) for s in STAGES}
    stages["other"] = round(max(handler_s - staged, 0.0), 4)
    return {
        "embedder": embedder,
        "documents": len(corpus),
        "messages": len(messages),
        "failures": failures,
        "chunks": chunks,
        "handler_s": round(handler_s, 3),
        "chunks_per_s": round(chunks / handler_s, 1) if handler_s else None,
        "documents_per_s": round(len(corpus) / handler_s, 2) if handler_s else None,
        "ms_per_chunk": round(1000 * handler_s / chunks, 3) if chunks else None,
        "stages_s": stages,
        "stage_share": {s: round(v / handler_s, 4) if handler_s else None for s, v in stages.items()},
        "calls": dict(timers.calls),
        "model_load_s": round(model_load_s, 3),
        "s3_put_all_s": round(upload_s, 3),
    }


def run(embedders: list[str], docs: int, pages: int) -> dict[str, Any]:
    corpus = make_corpus(docs, pages)
    workdir = Path(tempfile.mkdtemp(prefix="ragline-ingest-bench-"))
    words = sum(len(data.split()) for key, data in corpus if key.endswith(".md"))
    results = {
        "corpus": {
            "documents": docs,
            "pages_per_document": pages,
            "bytes": sum(len(d) for _, d in corpus),
            "formats": {"pdf": (docs + 1) // 2, "md": docs // 2},
            "markdown_words": words,
        },
        "runs": [run_one(name, corpus, workdir) for name in embedders],
    }
    for entry in results["runs"]:
        # Per chunk: word tokens (ragline.words.count_tokens, what chunk sizes count) and words (what the
        # cost model turns into model tokens).
        entry["tokens_per_chunk"], entry["words_per_chunk"] = _chunk_sizes(
            workdir / f"index-{entry['embedder']}.sqlite3"
        )
    shutil.rmtree(workdir, ignore_errors=True)
    return results


def _chunk_sizes(path: Path) -> tuple[float | None, float | None]:
    import sqlite3

    from ragline.words import count_tokens

    try:
        conn = sqlite3.connect(str(path))
        texts = [row[0] for row in conn.execute("SELECT text FROM chunks")]
        conn.close()
    except sqlite3.Error:
        return None, None
    if not texts:
        return None, None
    return (
        round(sum(count_tokens(t) for t in texts) / len(texts), 1),
        round(sum(len(t.split()) for t in texts) / len(texts), 1),
    )


def print_table(results: dict[str, Any]) -> None:
    rows = []
    for r in results["runs"]:
        share = r["stage_share"]
        rows.append(
            [
                r["embedder"],
                r["documents"],
                r["chunks"],
                r["handler_s"],
                r["chunks_per_s"],
                r["ms_per_chunk"],
                *(f"{100 * share[s]:.0f}%" for s in (*STAGES, "other")),
            ]
        )
    c = results["corpus"]
    print(
        f"ingest throughput through the ingest handler ({c['documents']} documents x "
        f"{c['pages_per_document']} pages, half PDF)"
    )
    print(_bench.table(rows, ["embedder", "docs", "chunks", "handler s", "chunks/s", "ms/chunk", *STAGES, "other"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--embedders", nargs="+", default=["hash", "local"])
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    quiet = _bench.before_run(args.no_wait)
    results = run(args.embedders, args.docs, args.pages)
    results["conditions"] = _bench.conditions(quiet)
    print_table(results)
    print(f"wrote {_bench.write_result('ingest_throughput', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
