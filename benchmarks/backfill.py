"""Backfill throughput: a bucket full of documents no notification announced, found by a sync and indexed
through the ingest queue by the real ingest handler, with several workers.

moto runs in-process (S3, SQS, DynamoDB), as in the component tests. The bucket's notifications are off
while the documents are written (an adopted bucket before ``cdk deploy``); then the sync
(:class:`ragline.sync.Sync`, as the reconcile function runs it) lists the bucket, scans the registry, reads
the index and queues one record per document on the real ingest queue (one thousand-key prefix at a
time, or with ``--whole`` the whole bucket at once); then ``--workers`` threads drain
it, each its own execution environment of ``functions/ingest/handler.py`` (its own store connection, as
concurrent Lambdas have their own), ten messages a batch as Lambda's event source mapping sends them.

Measured: the sync (list + scan + enqueue) per document, the drain in documents per second, its scaling
with the number of workers (on a smaller bucket, same process), peak resident memory; and a check that
every document ended ``indexed`` with its chunks, and that a second sync finds no drift.

    .venv/bin/python benchmarks/backfill.py [--docs 100000] [--workers 4] [--scaling-docs 3000 --scaling 1 2 4]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _bench

_bench.add_repo_to_path()

BATCH = 10
KEYS_PER_PREFIX = 1000  # the documents are written under archive/000/ .. archive/099/, a thousand each
REMOVE = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE")


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = _bench.set_environment(values, REMOVE)
    try:
        yield
    finally:
        _bench.restore_environment(saved)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _put_all(s3: Any, bucket: str, docs: int, prose: Any) -> float:
    """``docs`` small markdown documents (a paragraph of four sentences, one chunk each), eight writers at a time."""
    bodies = [f"# Note {n}\n\n{prose.paragraph(4)}".encode() for n in range(docs)]
    started = time.perf_counter()

    def put(number: int) -> None:
        key = f"archive/{number // KEYS_PER_PREFIX:03d}/note-{number:06d}.md"
        s3.put_object(Bucket=bucket, Key=key, Body=bodies[number], Metadata={"roles": "everyone"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(docs)))
    return time.perf_counter() - started


def _drain(sqs: Any, queue_url: str, queue_arn: str, region: str, functions: list[Any]) -> dict[str, Any]:
    """One thread per ingest execution environment of ``functions``, taking batches until the queue is empty."""
    from ragline.local.worker import sqs_lambda_event

    workers = len(functions)
    counts = {"messages": 0, "failures": 0}
    lock = threading.Lock()
    idle_rounds = [0] * workers

    def work(index: int) -> None:
        function = functions[index]
        while idle_rounds[index] < 2:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH, AttributeNames=["All"]).get(
                "Messages", []
            )
            if not batch:
                idle_rounds[index] += 1
                continue
            idle_rounds[index] = 0
            response = function.invoke(sqs_lambda_event(batch, queue_arn, region))
            failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
            done = [m for m in batch if m["MessageId"] not in failed]
            if done:
                sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            with lock:
                counts["messages"] += len(batch)
                counts["failures"] += len(failed)
                if counts["messages"] % 5000 < BATCH:
                    elapsed = time.perf_counter() - started
                    print(
                        f"  drained {counts['messages']}: {counts['messages'] / elapsed:.1f} docs/s, "
                        f"peak RSS {_peak_rss_mib():.0f} MiB",
                        flush=True,
                    )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(work, range(workers)))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, **counts}


def run_one(docs: int, workers: int, workdir: Path, whole: bool = False) -> dict[str, Any]:
    """``whole``: one sync of the whole bucket, then one drain (as a first backfill runs: the registry is
    empty, so the sync's scan is free); else one 1,000-key prefix at a time, synced then drained."""
    import boto3
    from moto import mock_aws

    from ragline.factory import build_objects, build_queue, build_registry, embedding_dimension
    from ragline.local.lambda_runtime import LocalFunction
    from ragline.local.moto_sqs import install_constant_time_retention
    from ragline.local.moto_transactions import install_item_rollback
    from ragline.local.provision import provision
    from ragline.local.s3_events import install_sequencers
    from ragline.settings import Settings
    from ragline.stores.sqlite import SqliteStore
    from ragline.sync import Sync, SyncConfig

    install_sequencers()
    install_item_rollback()  # as the local stack runs moto
    install_constant_time_retention()
    index = workdir / f"index-{docs}-{workers}.sqlite3"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "RAGLINE_EMBEDDER": "hash",
        "RAGLINE_INDEX_PATH": str(index),
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    with _environment(env), mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        s3, sqs, dynamodb = session.client("s3"), session.client("sqs"), session.client("dynamodb")
        settings = Settings.from_env()
        resources = provision(s3, sqs, dynamodb, settings)
        settings = Settings(**{**vars(settings), "ingest_queue_url": resources.queue_url})
        s3.put_bucket_notification_configuration(Bucket=settings.bucket, NotificationConfiguration={})
        sqs.purge_queue(QueueUrl=resources.queue_url)  # S3's test event of the configuration
        put_s = _put_all(s3, settings.bucket, docs, _bench.Prose(seed=7))

        store = SqliteStore(index, embedding_dimension(settings))
        sync = Sync(build_objects(settings), build_registry(settings), store, build_queue(settings), SyncConfig())
        functions = [LocalFunction("ingest") for _ in range(workers)]
        for function in functions:
            function.module.ingestor()  # the cold start, outside the timing
        sync_s = drain_s = 0.0
        enqueued = received = failures = 0
        waves = (
            [""] if whole else [f"archive/{wave // KEYS_PER_PREFIX:03d}/" for wave in range(0, docs, KEYS_PER_PREFIX)]
        )
        for number, prefix in enumerate(waves):
            wave = number * KEYS_PER_PREFIX
            started = time.perf_counter()
            report = sync.run(settings.bucket, prefix=prefix)
            sync_s += time.perf_counter() - started
            enqueued += report.enqueued
            drained = _drain(sqs, resources.queue_url, resources.queue_arn, settings.region, functions)
            drain_s += drained["seconds"]
            received += drained["messages"]
            failures += drained["failures"]
            done = docs if whole else min(wave + KEYS_PER_PREFIX, docs)
            print(
                f"{done} documents: sync {sync_s:.1f} s, drain {drain_s:.1f} s, {done / drain_s:.1f} docs/s, "
                f"peak RSS {_peak_rss_mib():.0f} MiB",
                flush=True,
            )

        started = time.perf_counter()
        again = sync.run(settings.bucket, dry_run=True)
        resync_s = time.perf_counter() - started
        held = sum(1 for _ in store.indexed_versions())
        store.close()
        for function in functions:
            function.module.ingestor().store.close()
    return {
        "documents": docs,
        "workers": workers,
        "put_s": round(put_s, 2),
        "sync_s": round(sync_s, 2),
        "sync_ms_per_document": round(1000 * sync_s / docs, 3),
        "enqueued": enqueued,
        "drain_s": round(drain_s, 2),
        "documents_per_s": round(docs / drain_s, 1),
        "messages_received": received,
        "failed_deliveries": failures,
        "documents_in_index": held,
        "drift_after": again.total,
        "resync_s": round(resync_s, 2),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--scaling-docs", type=int, default=3000)
    parser.add_argument("--scaling", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--whole", action="store_true", help="one sync of the whole bucket, then one drain")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine")
    parser.add_argument("--name", default="backfill")
    args = parser.parse_args()
    before = _bench.before_run(args.no_wait)
    workdir = Path(tempfile.mkdtemp(prefix="ragline-backfill-"))
    scaling = [run_one(args.scaling_docs, workers, workdir) for workers in args.scaling]
    headline = run_one(args.docs, args.workers, workdir, whole=args.whole) if args.docs else None
    rows = [
        (r["documents"], r["workers"], r["sync_s"], r["drain_s"], r["documents_per_s"], r["drift_after"])
        for r in [*scaling, *([headline] if headline else [])]
    ]
    print(_bench.table(rows, ["documents", "workers", "sync s", "drain s", "docs/s", "drift after"]))
    base = scaling[0]["documents_per_s"] if scaling else None
    payload = {
        "conditions": _bench.conditions(before),
        "scaling": scaling,
        "scaling_vs_one_worker": {r["workers"]: round(r["documents_per_s"] / base, 2) for r in scaling} if base else {},
        "headline": headline,
    }
    print(f"written to {_bench.write_result(args.name, payload)}")


if __name__ == "__main__":
    main()
