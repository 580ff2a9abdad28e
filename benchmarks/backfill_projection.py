"""A projection, by arithmetic only, of a backfill of a million documents on AWS: the sync's time, the ingest
rate each limit allows, which limit binds, how long it takes and what it costs.

Nothing is measured here. Every input is a command-line option whose default is a documented value, and
:data:`SOURCES` says where each default comes from: an AWS page, a measurement in docs/performance.md, the
code, or an assumption stated as one. Prices come from ``benchmarks/prices.json`` (read there, not copied).

The pipeline modelled (docs/architecture.md):

- the sync (the reconcile function, 15-minute timeout, reserved concurrency 1) lists the bucket
  (ListObjectsV2, 1,000 keys a page, one page after the other), scans the registry (``REGISTRY_PAGE`` items a
  page), and only then queues one message per key (SendMessageBatch of 10, 8 requests in flight);
- the ingest function (1,024 MB, SQS batches of 10, the batch's documents one after the other) reads each
  document, embeds each chunk with one Titan v2 InvokeModel call (``RAGLINE_EMBED_CONCURRENCY`` in flight),
  writes the chunks with ``_bulk`` and makes ~5 DynamoDB calls.

    .venv/bin/python benchmarks/backfill_projection.py [--documents 1000000] [--ingest-concurrency 4] ...
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

import _bench

PRICES = _bench.BENCHMARKS / "prices.json"
LAMBDA_TIMEOUT_S = {"reconcile": 900.0, "ingest": 120.0}
T3_SMALL_KNN_GB = 0.5  # the k-NN graph memory benchmarks/cost_model.py allows a t3.small.search
# What would change the result: (label, changes to the inputs).
WHAT_IFS: list[tuple[str, dict[str, float]]] = [
    ("ingest concurrency 16", {"ingest_concurrency": 16}),
    ("Titan quotas x10", {"titan_rpm": 10.0, "titan_tpm": 10.0}),
    ("Titan quotas x10, concurrency 40", {"titan_rpm": 10.0, "titan_tpm": 10.0, "ingest_concurrency": 40}),
    (
        "Titan quotas x10, concurrency 40, 4 data nodes",
        {"titan_rpm": 10.0, "titan_tpm": 10.0, "ingest_concurrency": 40, "opensearch_data_nodes": 4},
    ),
]


@dataclass
class Inputs:
    """Every number the projection uses; the defaults are the documented values (see :data:`SOURCES`)."""

    documents: int = 1_000_000
    # the two document shapes
    small_chunks_per_doc: float = 1.0
    small_words_per_chunk: float = 80.0
    pages_per_doc: float = 10.0
    chunks_per_page: float = 3.46
    words_per_chunk: float = 160.0
    tokens_per_word: float = 1.3
    # the sync
    list_page_keys: int = 1000
    list_page_ms: float = 100.0
    registry_page_items: int = 1000
    registry_item_bytes: int = 400
    scan_page_ms: float = 50.0
    send_batch: int = 10
    send_in_flight: int = 8
    send_batch_ms: float = 20.0
    sync_cpu_us_per_key: float = 20.0
    reconcile_memory_mb: int = 1024
    window_keys: int = 200_000
    # the ingest function
    ingest_concurrency: int = 4
    account_concurrency: int = 1000
    ingest_memory_mb: int = 1024
    ingest_batch: int = 10
    embed_concurrency: int = 4
    titan_latency_ms: float = 50.0
    embed_overhead_ratio: float = 1.08
    pipeline_cpu_ms_per_chunk: float = 0.65
    aws_calls_s_per_document: float = 0.15
    s3_gets_per_document: int = 2
    # service limits
    titan_rpm: float = 2000.0
    titan_tpm: float = 1_000_000.0
    opensearch_vectors_per_s: float = 200.0
    opensearch_data_nodes: int = 1
    dynamodb_writes_per_doc: int = 4
    dynamodb_reads_per_doc: int = 1
    dynamodb_initial_wru_per_s: float = 4000.0
    dynamodb_initial_rru_per_s: float = 12000.0


_PERF = "docs/performance.md"
SOURCES: dict[str, str] = {
    "documents": "the brief",
    "small_chunks_per_doc": "benchmarks/backfill.py: a paragraph of four sentences, one chunk per document",
    "small_words_per_chunk": "benchmarks/backfill.py's small documents (~60-100 words); assumption: 80",
    "pages_per_doc": "the brief (cost model's default load, " + _PERF + ", Cost model)",
    "chunks_per_page": _PERF + ", Cost model (measured by ingest_throughput: 3.46)",
    "words_per_chunk": _PERF + ", Ingest throughput (measured: 160)",
    "tokens_per_word": _PERF + ", Cost model (model tokens = 1.3 x words)",
    "list_page_keys": "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html (at most 1,000 keys)",
    "list_page_ms": "assumption (no AWS figure found); one observed Lambda took 1.9-7 s a page: "
    "https://mizuame.works/blog/en/2025-12-05 (try --list-page-ms 2500)",
    "registry_page_items": "shared/ragline/sync.py REGISTRY_PAGE; a Scan page also stops at 1 MB",
    "registry_item_bytes": "the brief (~400 B per registry record)",
    "scan_page_ms": "assumption",
    "send_batch": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html"
    " (10 messages a batch); shared/ragline/queues/sqs.py BATCH",
    "send_in_flight": "shared/ragline/queues/sqs.py CONCURRENCY",
    "send_batch_ms": "assumption (SQS publishes no latency figure)",
    "sync_cpu_us_per_key": "assumption (diff, JSON body, per key)",
    "reconcile_memory_mb": "assumption (the reconcile function's memory is not in infra/)",
    "window_keys": "functions/reconcile/handler.py KEYS_PER_INVOCATION (one window per invocation, each invoking the"
    " next; the value in the working tree when this was written)",
    "ingest_concurrency": "infra/config.py ingest_concurrency (reserved, and the SQS poller's maximum)",
    "account_concurrency": "https://docs.aws.amazon.com/lambda/latest/dg/limits.html (concurrent executions: 1,000;"
    " new accounts get less)",
    "ingest_memory_mb": "infra/ingestion.py INGEST_MEMORY_MB",
    "ingest_batch": "infra/ingestion.py BATCH_SIZE",
    "embed_concurrency": "shared/ragline/settings.py embed_concurrency",
    "titan_latency_ms": _PERF + ", Bedrock embedding concurrency (assumed 50 ms per call in AWS)",
    "embed_overhead_ratio": _PERF + ", Bedrock embedding concurrency (measured: 1.08 at concurrency 4, boto3)",
    "pipeline_cpu_ms_per_chunk": _PERF + ", Cost model (measured: 0.65 ms per chunk)",
    "aws_calls_s_per_document": "benchmarks/cost_model.py aws_calls_s_per_document (assumption: S3, DynamoDB, _bulk)",
    "s3_gets_per_document": "functions/ingest/handler.py path in " + _PERF + " (HEAD + GET); assumption: 2",
    "titan_rpm": "single third-party source (a public repository's deployment guide, found by exact-string search,"
    " repository not identified: 2,000 RPM in us-east-1); not verified against"
    " https://docs.aws.amazon.com/general/latest/gr/bedrock.html, whose table was not in the stored copy; AWS says an"
    " account's quotas may be lower than the defaults (https://docs.aws.amazon.com/bedrock/latest/userguide/quotas.html)",
    "titan_tpm": "same single source (1,000,000 TPM in us-east-1); not verified",
    "opensearch_vectors_per_s": "assumption per data node (no published figure found for 1,024-dimension HNSW on a"
    " t3.small.search)",
    "opensearch_data_nodes": "infra/config.py data_nodes (t3.small.search)",
    "dynamodb_writes_per_doc": "the brief (~5 DynamoDB calls per document); assumption: 4 writes (lease, record)",
    "dynamodb_reads_per_doc": "the brief; assumption: 1 read",
    "dynamodb_initial_wru_per_s": "https://repost.aws/knowledge-center/on-demand-table-throttling-dynamodb"
    " (a new on-demand table: 4,000 WRU or 12,000 RRU at once; 1,000 WRU / 3,000 RRU per partition)",
    "dynamodb_initial_rru_per_s": "same page",
}
NOTES = [
    "SQS standard queues: 'a nearly unlimited number of API calls per second, per API action' "
    "(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues.html): not a limit.",
    "Titan quotas: AWS's pages disagree. The Titan page says embedding models are throttled by requests per minute, "
    "not tokens (https://docs.aws.amazon.com/bedrock/latest/userguide/titan-embedding-models.html); the newer "
    "bedrock-runtime quotas page says RPM quotas are no longer enforced and tokens per minute govern "
    "(https://docs.aws.amazon.com/bedrock/latest/userguide/quotas-runtime.html). Several public projects report an "
    "applied value of 0 (not adjustable) for both Titan v2 quotas (L-26C560CE, L-DE641971) on new accounts. Read "
    "the account's own values: aws service-quotas get-service-quota --service-code bedrock --quota-code L-26C560CE.",
    "Not modelled: the sync's memory (every key and message body of a window is held at once) and "
    "its read of the index's versions (empty on a first backfill).",
    "A sync lists its whole window and scans the whole registry before it sends anything (shared/ragline/sync.py "
    "Sync.run): an invocation that times out enqueues nothing. Windows (start_after, max_objects) bound one "
    "invocation's keys; each window still scans the whole registry and reads the whole index, so that part of a "
    "window's time grows with the corpus, not with the window.",
]


# -- the model --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    name: str
    chunks: float
    words_per_chunk: float

    def tokens(self, tokens_per_word: float) -> float:
        return self.chunks * self.words_per_chunk * tokens_per_word


def shapes(i: Inputs) -> list[Shape]:
    return [
        Shape("small (1 chunk)", i.small_chunks_per_doc, i.small_words_per_chunk),
        Shape(f"{i.pages_per_doc:g} pages", i.pages_per_doc * i.chunks_per_page, i.words_per_chunk),
    ]


def sync_time(i: Inputs, keys: int, registry_records: int, list_page_ms: float) -> dict[str, float]:
    """Seconds of one sync over ``keys`` objects with ``registry_records`` in the registry."""
    items_per_scan_page = min(i.registry_page_items, (1 << 20) // i.registry_item_bytes)
    parts = {
        "list_s": math.ceil(keys / i.list_page_keys) * list_page_ms / 1000,
        "scan_s": math.ceil(registry_records / items_per_scan_page) * i.scan_page_ms / 1000,
        "send_s": math.ceil(keys / i.send_batch) / i.send_in_flight * i.send_batch_ms / 1000,
        "cpu_s": keys * i.sync_cpu_us_per_key / 1e6,
    }
    parts["total_s"] = sum(parts.values())
    return parts


def keys_per_invocation(i: Inputs, list_page_ms: float, registry_records: int) -> int:
    """The most keys one 15-minute invocation (one window) can list and enqueue. Every window scans the whole
    registry (``records_of``), so that part does not shrink with the window."""
    scan_s = sync_time(i, 0, registry_records, list_page_ms)["scan_s"]
    per_key = sync_time(i, 1_000_000, 0, list_page_ms)["total_s"] / 1_000_000
    return max(0, int((LAMBDA_TIMEOUT_S["reconcile"] - scan_s) / per_key))


def function_seconds_per_doc(i: Inputs, shape: Shape) -> float:
    """One document's time in one ingest function when nothing throttles it."""
    embed = math.ceil(shape.chunks / i.embed_concurrency) * i.titan_latency_ms / 1000 * i.embed_overhead_ratio
    return i.aws_calls_s_per_document + embed + shape.chunks * i.pipeline_cpu_ms_per_chunk / 1000


def rates(i: Inputs, shape: Shape) -> dict[str, float]:
    """Documents per second each limit allows."""
    per_doc = function_seconds_per_doc(i, shape)
    dynamo_per_doc = i.dynamodb_writes_per_doc / i.dynamodb_initial_wru_per_s
    dynamo_per_doc += i.dynamodb_reads_per_doc / i.dynamodb_initial_rru_per_s
    return {
        f"Lambda, reserved concurrency {i.ingest_concurrency}": i.ingest_concurrency / per_doc,
        f"Lambda, account default {i.account_concurrency}": i.account_concurrency / per_doc,
        f"Titan v2 requests/min ({i.titan_rpm:,.0f})": i.titan_rpm / 60 / shape.chunks,
        f"Titan v2 tokens/min ({i.titan_tpm:,.0f})": i.titan_tpm / 60 / shape.tokens(i.tokens_per_word),
        f"OpenSearch _bulk ({i.opensearch_data_nodes} node)": i.opensearch_vectors_per_s
        * i.opensearch_data_nodes
        / shape.chunks,
        "DynamoDB on-demand, new table": 1 / dynamo_per_doc,
        "SQS standard": math.inf,
    }


def binding(i: Inputs, shape: Shape, ignore: tuple[str, ...] = ()) -> tuple[str, float]:
    """The limit that binds for the deployed configuration (reserved concurrency, not the account's)."""
    candidates = {k: v for k, v in rates(i, shape).items() if not k.startswith("Lambda, account")}
    candidates = {k: v for k, v in candidates.items() if not any(k.startswith(prefix) for prefix in ignore)}
    name = min(candidates, key=candidates.__getitem__)
    return name, candidates[name]


def batch_seconds(i: Inputs, shape: Shape, docs_per_s: float, concurrency: int) -> float:
    """One SQS batch's time in one function when ``docs_per_s`` is shared by ``concurrency`` functions."""
    per_function = min(docs_per_s / concurrency, 1 / function_seconds_per_doc(i, shape))
    return i.ingest_batch / per_function


def costs(i: Inputs, shape: Shape, prices: dict[str, Any], wall_s: float, sync_s: float) -> dict[str, float]:
    """USD for the backfill of ``i.documents`` documents of ``shape``."""

    def price(name: str) -> float:
        return float(prices[name]["value"])

    n = i.documents
    gb_s_work = n * function_seconds_per_doc(i, shape) * i.ingest_memory_mb / 1024
    invocations = n / i.ingest_batch / 1e6 * price("lambda_per_million_requests")
    gb_s_busy = i.ingest_concurrency * wall_s * i.ingest_memory_mb / 1024
    scan_rru = n * i.registry_item_bytes / 4096 * 0.5  # eventually consistent: half a unit per 4 KB
    sqs_requests = 3 * math.ceil(n / i.send_batch)  # send, receive, delete: ten messages a request each
    return {
        "titan": n * shape.tokens(i.tokens_per_word) / 1000 * price("bedrock_titan_embed_text_v2_per_1k_input_tokens"),
        "lambda_ingest": gb_s_work * price("lambda_arm64_per_gb_second") + invocations,
        "lambda_ingest_upper_if_waiting_on_throttles": max(gb_s_work, gb_s_busy) * price("lambda_arm64_per_gb_second")
        + invocations,
        "lambda_reconcile": sync_s * i.reconcile_memory_mb / 1024 * price("lambda_arm64_per_gb_second"),
        "sqs": sqs_requests / 1e6 * price("sqs_standard_per_million_requests"),
        "s3": math.ceil(n / i.list_page_keys) / 1000 * price("s3_put_per_1k")
        + n * i.s3_gets_per_document / 1000 * price("s3_get_per_1k"),
        "dynamodb": n * i.dynamodb_writes_per_doc / 1e6 * price("dynamodb_on_demand_per_million_write_request_units")
        + (n * i.dynamodb_reads_per_doc + scan_rru) / 1e6 * price("dynamodb_on_demand_per_million_read_request_units"),
        "opensearch_domain_hours": wall_s
        / 3600
        * i.opensearch_data_nodes
        * price("opensearch_t3_small_search_per_hour"),
    }


def what_if(i: Inputs, changes: dict[str, float]) -> Inputs:
    """``i`` with the quotas multiplied and the other inputs replaced, as :data:`WHAT_IFS` says."""
    multiplied = {"titan_rpm", "titan_tpm"}
    values = {k: (getattr(i, k) * v if k in multiplied else type(getattr(i, k))(v)) for k, v in changes.items()}
    return dataclasses.replace(i, **values)


def knn_memory_gb(chunks: float) -> float:
    # the same HNSW estimate as benchmarks/cost_model.py: 1.1 x (4 bytes x 1,024 dims + 8 x M=16) per vector
    return chunks * (1024 * 4 + 8 * 16) * 1.1 / 1e9


# -- the report -------------------------------------------------------------------------------------------------


def project(i: Inputs, prices: dict[str, Any]) -> dict[str, Any]:
    pessimistic_ms = 2500.0
    sync = {
        "first_backfill": sync_time(i, i.documents, 0, i.list_page_ms),
        "rerun_registry_full": sync_time(i, i.documents, i.documents, i.list_page_ms),
        "first_backfill_slow_list": sync_time(i, i.documents, 0, pessimistic_ms),
    }
    windows = math.ceil(i.documents / i.window_keys)
    window = {
        "windows": windows,
        "window_s_registry_empty": round(sync_time(i, i.window_keys, 0, i.list_page_ms)["total_s"], 1),
        "window_s_registry_full": round(sync_time(i, i.window_keys, i.documents, i.list_page_ms)["total_s"], 1),
        "window_s_registry_full_slow_list": round(
            sync_time(i, i.window_keys, i.documents, pessimistic_ms)["total_s"], 1
        ),
        "registry_pages_scanned_in_all": windows * math.ceil(i.documents / i.registry_page_items),
    }
    window["all_windows_s_registry_full"] = round(windows * window["window_s_registry_full"], 1)
    sync_verdict = {
        "windows": window,
        "fits_one_invocation": sync["rerun_registry_full"]["total_s"] <= LAMBDA_TIMEOUT_S["reconcile"],
        "keys_per_invocation": keys_per_invocation(i, i.list_page_ms, i.documents),
        "keys_per_invocation_slow_list": keys_per_invocation(i, pessimistic_ms, i.documents),
        "slow_list_page_ms": pessimistic_ms,
    }
    per_shape = []
    for shape in shapes(i):
        name, docs_per_s = binding(i, shape)
        wall_s = i.documents / docs_per_s
        tpm_only = binding(i, shape, ignore=("Titan v2 requests",))
        cost = costs(i, shape, prices, wall_s, sync["first_backfill"]["total_s"])
        titan_rate = min(v for k, v in rates(i, shape).items() if k.startswith("Titan"))
        per_shape.append(
            {
                "shape": shape.name,
                "chunks_per_doc": round(shape.chunks, 2),
                "tokens_per_doc": round(shape.tokens(i.tokens_per_word), 1),
                "function_seconds_per_doc": round(function_seconds_per_doc(i, shape), 4),
                "docs_per_s_by_limit": {
                    k: (None if math.isinf(v) else round(v, 2)) for k, v in rates(i, shape).items()
                },
                "binding_limit": name,
                "docs_per_s": round(docs_per_s, 2),
                "hours": round(wall_s / 3600, 1),
                "if_rpm_not_enforced": {
                    "binding_limit": tpm_only[0],
                    "hours": round(i.documents / tpm_only[1] / 3600, 1),
                },
                "batch_s_at_reserved_concurrency": round(batch_seconds(i, shape, docs_per_s, i.ingest_concurrency), 1),
                "batch_s_at_account_concurrency_titan_bound": round(
                    batch_seconds(i, shape, titan_rate, i.account_concurrency), 1
                ),
                "knn_memory_gb": round(knn_memory_gb(i.documents * shape.chunks), 1),
                "fits_default_domain": knn_memory_gb(i.documents * shape.chunks) <= T3_SMALL_KNN_GB,
                "usd": {k: round(v, 2) for k, v in cost.items()},
                "usd_total": round(
                    sum(v for k, v in cost.items() if k != "lambda_ingest_upper_if_waiting_on_throttles"), 2
                ),
            }
        )
    changed = []
    for label, changes in WHAT_IFS:
        other = what_if(i, changes)
        row: dict[str, Any] = {"what_if": label}
        for shape in shapes(other):
            name, docs_per_s = binding(other, shape)
            row[shape.name] = {"binding_limit": name, "hours": round(other.documents / docs_per_s / 3600, 1)}
        changed.append(row)
    return {
        "sync": {k: {p: round(s, 1) for p, s in v.items()} for k, v in sync.items()},
        "sync_verdict": sync_verdict,
        "ingest": per_shape,
        "what_ifs": changed,
    }


def print_report(i: Inputs, result: dict[str, Any]) -> None:
    sync = result["sync"]
    print(f"Sync of {i.documents:,} keys (reconcile function, {LAMBDA_TIMEOUT_S['reconcile']:.0f} s timeout)")
    rows = [
        [label, s["list_s"], s["scan_s"], s["send_s"], s["cpu_s"], s["total_s"]]
        for label, s in (
            (f"first backfill (empty registry), list {i.list_page_ms:g} ms/page", sync["first_backfill"]),
            ("re-run (registry full)", sync["rerun_registry_full"]),
            (
                f"first backfill, list {result['sync_verdict']['slow_list_page_ms']:g} ms/page",
                sync["first_backfill_slow_list"],
            ),
        )
    ]
    print(_bench.table(rows, ["case", "list s", "scan s", "send s", "cpu s", "total s"]))
    verdict = result["sync_verdict"]
    print(
        f"one invocation enqueues at most {verdict['keys_per_invocation']:,} keys "
        f"({verdict['keys_per_invocation_slow_list']:,} at the slow listing), with the registry full; "
        "a sync that does not fit enqueues nothing (it sends after listing its whole window)"
    )
    w = verdict["windows"]
    print(
        f"in windows of {i.window_keys:,} keys: {w['windows']} invocations of {w['window_s_registry_empty']} s "
        f"(registry empty) to {w['window_s_registry_full']} s (registry full; "
        f"{w['window_s_registry_full_slow_list']} s at the slow listing), {w['all_windows_s_registry_full']} s in all; "
        f"each window scans the whole registry ({w['registry_pages_scanned_in_all']:,} pages in all)\n"
    )
    for shape in result["ingest"]:
        print(f"Ingest, {shape['shape']}: {shape['chunks_per_doc']} chunks, {shape['tokens_per_doc']:,} tokens per doc")
        rows = [[k, "no practical limit" if v is None else v] for k, v in shape["docs_per_s_by_limit"].items()]
        print(_bench.table(rows, ["limit", "docs/s"]))
        usd = shape["usd"]
        print(
            f"binds: {shape['binding_limit']} -> {shape['docs_per_s']} docs/s, {shape['hours']:,} h "
            f"({shape['hours'] / 24:.1f} days); if RPM is not enforced: "
            f"{shape['if_rpm_not_enforced']['binding_limit']}, {shape['if_rpm_not_enforced']['hours']:,} h"
        )
        print(
            f"a batch of {i.ingest_batch}: {shape['batch_s_at_reserved_concurrency']} s at concurrency "
            f"{i.ingest_concurrency}, {shape['batch_s_at_account_concurrency_titan_bound']:,} s at "
            f"{i.account_concurrency} sharing the Titan quota (timeout {LAMBDA_TIMEOUT_S['ingest']:.0f} s); "
            f"HNSW memory {shape['knn_memory_gb']} GB "
            f"({'fits' if shape['fits_default_domain'] else 'does not fit'} a t3.small.search's ~{T3_SMALL_KNN_GB} GB)"
        )
        print(_bench.table([[k, v] for k, v in usd.items()] + [["total", shape["usd_total"]]], ["USD", "cost"]))
        print()
    names = [shape.name for shape in shapes(i)]
    rows = [
        [row["what_if"], *(f"{row[n]['hours']:,} h ({row[n]['binding_limit']})" for n in names)]
        for row in result["what_ifs"]
    ]
    print("What would change it (hours for the backfill, and the limit that then binds)")
    print(_bench.table(rows, ["what if", *names]))
    print()
    for note in NOTES:
        print("- " + note)


def parse_args() -> Inputs:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for field in dataclasses.fields(Inputs):
        default = field.default
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            type=type(default),
            default=default,
            help=f"{SOURCES[field.name]} (default {default})",
        )
    return Inputs(**vars(parser.parse_args()))


def main() -> None:
    inputs = parse_args()
    prices = json.loads(PRICES.read_text())
    result = project(inputs, prices["prices"])
    print_report(inputs, result)
    payload = {
        "inputs": dataclasses.asdict(inputs),
        "sources": SOURCES,
        "prices_read_on": prices["read_on"],
        "notes": NOTES,
        **result,
    }
    path = _bench.write_result("backfill_projection", payload)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
