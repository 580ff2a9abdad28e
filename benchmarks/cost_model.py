"""Monthly cost of ragline on AWS for a given load, next to Bedrock Knowledge Bases on OpenSearch Serverless.

Prices come from ONE file, ``benchmarks/prices.json`` (us-east-1, with the date they were read, their
sources and how well each was verified). Counts come from the other benchmarks' JSON in
``benchmarks/results/`` when present (chunks per page and words per chunk from ``ingest_throughput``,
the pipeline's own CPU time per chunk, the embedding concurrency overhead from ``bedrock_concurrency``,
the query handler's import time from ``cold_start``), else from the documented defaults below. What is
assumed rather than measured (Bedrock and OpenSearch latencies in AWS, generation length) is a
parameter with a default, and the output says which numbers were measured.

Lines priced:

- ragline: Titan v2 embeddings (ingest and questions), Claude 3 Haiku generation, Lambda (requests and
  GB-seconds of both functions, at their configured 1,024 MB, arm64), API Gateway REST calls, SQS (S3
  notifications, the event source mapping's receives and deletes, and its idle long polls), DynamoDB
  on-demand (registry reads and writes), S3 (storage, PUT, GET), and the vector store: the managed
  OpenSearch domain the CDK app deploys by default (one t3.small.search, 10 GB gp3) or a Serverless
  collection (1 OCU without standby replicas, as ``ragline:serverless=true`` deploys; 2 with them).
- the managed alternative: the same embeddings and generation (Knowledge Bases bill the models at the
  same rates), S3, and the OpenSearch Serverless floor a Knowledge Base's quick-create collection keeps
  (2 OCUs with standby replicas; 4 OCUs before half OCUs existed). No API, Lambda or queue is counted for
  it, which flatters it: an application that enforces per-user roles still needs one.

    .venv/bin/python benchmarks/cost_model.py [--documents 1000] [--pages-per-doc 10] [--queries-per-day 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _bench

HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = 30.4
PRICES = _bench.BENCHMARKS / "prices.json"

# Documented defaults, used when no benchmark result is present.
DEFAULTS = {
    "chunks_per_page": 3.0,  # ~450-word pages, 220-token chunks with 40 tokens of overlap
    "words_per_chunk": 170.0,
    "pipeline_cpu_s_per_chunk": 0.002,  # parse + chunk + handler overhead, without embedding, store or AWS calls
    "embed_overhead_ratio": 1.1,  # wall / ideal at the configured concurrency
    "query_import_ms": 600.0,  # query handler import without .pyc
    "ingest_import_ms": 800.0,
}
MODEL_TOKENS_PER_WORD = 1.3  # Titan and Claude tokenisers on English prose (ragline.words's rule of thumb)


@dataclass
class Load:
    documents: int = 1000
    pages_per_doc: float = 10.0
    queries_per_day: float = 1000.0
    churn: float = 0.10  # share of the corpus added or changed each month (re-embedded)
    bytes_per_page: int = 60_000  # stored object size (a typical text PDF page)
    top_k: int = 5
    question_words: float = 15.0
    answer_tokens: float = 200.0  # generated tokens per answer (RAGLINE_MAX_ANSWER_TOKENS caps at 512)
    prompt_overhead_tokens: float = 250.0  # instructions, numbering, question framing
    embed_concurrency: int = 4
    bedrock_embed_latency_ms: float = 50.0  # per Titan call, in AWS
    generation_s: float = 2.0  # Claude 3 Haiku answering ~200 tokens
    opensearch_ms_per_search: float = 30.0  # k-NN or BM25 on a small domain, in AWS
    aws_calls_s_per_document: float = 0.15  # S3 GETs, DynamoDB get/put, OpenSearch bulk and delete
    memory_mb: int = 1024  # both functions (infra/api.py, infra/ingestion.py)
    cold_start_share: float = 0.02  # invocations that pay the handler's import (init is billed)
    ingest_batch: int = 10  # SQS batch size (infra/ingestion.py)
    free_tier: bool = False  # apply the Lambda and SQS free tiers


@dataclass
class Measured:
    values: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> float:
        return self.values.get(name, DEFAULTS[name])


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    document = json.loads(path.read_text())
    return {
        "read_on": document["read_on"],
        "region": document["region"],
        **{name: entry["value"] for name, entry in document["prices"].items()},
        "_verified": {name: entry.get("verified", "") for name, entry in document["prices"].items()},
    }


def measured_counts(results_dir: Path | None = None, concurrency: int = 4) -> Measured:
    """Counts from the other benchmarks' results, where present."""
    found = Measured()
    ingest = _bench.read_result("ingest_throughput", results_dir)
    if ingest:
        corpus = ingest.get("corpus", {})
        runs = {r["embedder"]: r for r in ingest.get("runs", [])}
        any_run = next(iter(runs.values()), None)
        pages = corpus.get("documents", 0) * corpus.get("pages_per_document", 0)
        if any_run and pages:
            found.values["chunks_per_page"] = any_run["chunks"] / pages
            found.sources["chunks_per_page"] = "ingest_throughput"
        if any_run and any_run.get("words_per_chunk"):
            found.values["words_per_chunk"] = any_run["words_per_chunk"]
            found.sources["words_per_chunk"] = "ingest_throughput"
        hashed = runs.get("hash")
        if hashed and hashed.get("chunks"):
            stages = hashed["stages_s"]
            own = stages.get("parse", 0) + stages.get("chunk", 0) + stages.get("other", 0)
            found.values["pipeline_cpu_s_per_chunk"] = own / hashed["chunks"]
            found.sources["pipeline_cpu_s_per_chunk"] = "ingest_throughput (hash run: parse + chunk + other)"
    bedrock = _bench.read_result("bedrock_concurrency", results_dir)
    if bedrock:
        for key in ("http_levels", "levels"):
            rows = [r for r in bedrock.get(key, []) if r["concurrency"] == concurrency]
            if rows:
                found.values["embed_overhead_ratio"] = rows[0]["ratio"]
                found.sources["embed_overhead_ratio"] = f"bedrock_concurrency ({key}, concurrency {concurrency})"
                break
    cold = _bench.read_result("cold_start", results_dir)
    if cold:
        source = cold.get("source_only", cold).get("import_ms", {})
        for name, key in (("query", "query_import_ms"), ("ingest", "ingest_import_ms")):
            if name in source:
                found.values[key] = source[name]["p50"]
                found.sources[key] = "cold_start (no .pyc)"
    return found


def monthly_cost(load: Load, prices: dict[str, Any], measured: Measured) -> dict[str, Any]:
    p = prices
    pages = load.documents * load.pages_per_doc
    chunks = pages * measured.get("chunks_per_page")
    tokens_per_chunk = measured.get("words_per_chunk") * MODEL_TOKENS_PER_WORD
    ingested_docs = load.documents * load.churn
    ingested_chunks = chunks * load.churn
    queries = load.queries_per_day * DAYS_PER_MONTH
    question_tokens = load.question_words * MODEL_TOKENS_PER_WORD
    prompt_tokens = load.top_k * tokens_per_chunk + question_tokens + load.prompt_overhead_tokens
    gb = load.memory_mb / 1024

    # Models: the same for ragline and the managed alternative.
    embed_ingest = ingested_chunks * tokens_per_chunk / 1000 * p["bedrock_titan_embed_text_v2_per_1k_input_tokens"]
    embed_queries = queries * question_tokens / 1000 * p["bedrock_titan_embed_text_v2_per_1k_input_tokens"]
    generation = queries * (
        prompt_tokens / 1000 * p["bedrock_claude_3_haiku_per_1k_input_tokens"]
        + load.answer_tokens / 1000 * p["bedrock_claude_3_haiku_per_1k_output_tokens"]
    )
    initial_embedding = chunks * tokens_per_chunk / 1000 * p["bedrock_titan_embed_text_v2_per_1k_input_tokens"]

    # Lambda: ingest time per document = own CPU + Bedrock embedding wall time + AWS round trips.
    chunks_per_doc = load.pages_per_doc * measured.get("chunks_per_page")
    embed_wall = (
        chunks_per_doc
        * load.bedrock_embed_latency_ms
        / 1000
        / load.embed_concurrency
        * measured.get("embed_overhead_ratio")
    )
    ingest_s_per_doc = (
        chunks_per_doc * measured.get("pipeline_cpu_s_per_chunk") + embed_wall + load.aws_calls_s_per_document
    )
    ingest_invocations = max(ingested_docs / load.ingest_batch, 0)
    ingest_gb_s = (
        ingested_docs * ingest_s_per_doc * gb
        + ingest_invocations * load.cold_start_share * measured.get("ingest_import_ms") / 1000 * gb
    )
    query_s = (
        load.bedrock_embed_latency_ms / 1000 + 2 * load.opensearch_ms_per_search / 1000 + load.generation_s + 0.005
    )
    query_gb_s = queries * query_s * gb + queries * load.cold_start_share * measured.get("query_import_ms") / 1000 * gb
    requests = queries + ingest_invocations
    gb_s = ingest_gb_s + query_gb_s
    if load.free_tier:
        requests = max(requests - p["lambda_free_tier_requests_per_month"], 0)
        gb_s = max(gb_s - p["lambda_free_tier_gb_seconds_per_month"], 0)
    lambda_cost = requests / 1e6 * p["lambda_per_million_requests"] + gb_s * p["lambda_arm64_per_gb_second"]

    api = queries / 1e6 * p["api_gateway_rest_per_million_requests"]
    # SQS: one notification per upload (sent by S3), one receive per batch, one delete per message, and the
    # event source mapping's idle long polls (about 5 pollers x one 20 s poll each).
    idle_polls = 5 * HOURS_PER_MONTH * 3600 / 20
    sqs_requests = ingested_docs * 2 + ingest_invocations + idle_polls
    if load.free_tier:
        sqs_requests = max(sqs_requests - p["sqs_free_requests_per_month"], 0)
    sqs = sqs_requests / 1e6 * p["sqs_standard_per_million_requests"]
    dynamodb = (
        ingested_docs * 1 / 1e6 * p["dynamodb_on_demand_per_million_write_request_units"]
        + ingested_docs * 1 / 1e6 * p["dynamodb_on_demand_per_million_read_request_units"]
        + load.documents * 1e-6 * p["dynamodb_storage_per_gb_month"]
    )
    stored_gb = pages * load.bytes_per_page / 1e9
    s3 = (
        stored_gb * p["s3_standard_per_gb_month"]
        + ingested_docs / 1000 * p["s3_put_per_1k"]
        + ingested_docs * 2 / 1000 * p["s3_get_per_1k"]
    )

    # The index: vectors (1024 float32 dims) plus text and BM25 postings, roughly 3x the raw vectors.
    index_gb = chunks * (1024 * 4 * 1.5 + tokens_per_chunk * 6 * 2) / 1e9
    # HNSW graphs live off the JVM heap: a t3.small.search (2 GB RAM, 1 GB heap) holds about 0.5 GB of them.
    knn_memory_gb = chunks * (1024 * 4 + 8 * 16) * 1.1 / 1e9
    domain = (
        HOURS_PER_MONTH * p["opensearch_t3_small_search_per_hour"]
        + max(10.0, index_gb) * p["opensearch_gp3_per_gb_month"]
    )
    minimum = p["opensearch_serverless_minimum_ocus"]
    storage_aoss = index_gb * p["opensearch_serverless_storage_per_gb_month"]

    def ocus(count: float) -> float:
        return count * HOURS_PER_MONTH * p["opensearch_serverless_per_ocu_hour"] + storage_aoss

    shared = {"embeddings (ingest)": embed_ingest, "embeddings (questions)": embed_queries, "generation": generation}
    ragline_common = {**shared, "lambda": lambda_cost, "api gateway": api, "sqs": sqs, "dynamodb": dynamodb, "s3": s3}
    options = {
        "ragline + OpenSearch domain (t3.small.search)": {**ragline_common, "vector store": domain},
        f"ragline + OpenSearch Serverless ({minimum['without_standby_replicas']} OCU)": {
            **ragline_common,
            "vector store": ocus(minimum["without_standby_replicas"]),
        },
        f"Knowledge Bases + OpenSearch Serverless ({minimum['with_standby_replicas']} OCUs)": {
            **shared,
            "s3": s3,
            "vector store": ocus(minimum["with_standby_replicas"]),
        },
        f"Knowledge Bases + OpenSearch Serverless ({minimum['before_half_ocus']} OCUs, older floor)": {
            **shared,
            "s3": s3,
            "vector store": ocus(minimum["before_half_ocus"]),
        },
    }
    totals = {name: round(sum(items.values()), 2) for name, items in options.items()}
    return {
        "load": asdict(load),
        "derived": {
            "chunks": round(chunks),
            "tokens_per_chunk": round(tokens_per_chunk, 1),
            "queries_per_month": round(queries),
            "ingested_documents_per_month": round(ingested_docs, 1),
            "prompt_tokens": round(prompt_tokens),
            "ingest_seconds_per_document": round(ingest_s_per_doc, 3),
            "query_seconds": round(query_s, 3),
            "lambda_gb_seconds": round(ingest_gb_s + query_gb_s, 1),
            "index_gb": round(index_gb, 3),
            "initial_ingest_embedding_usd": round(initial_embedding, 2),
            "knn_memory_gb": round(knn_memory_gb, 3),
            "fits_t3_small_search": knn_memory_gb <= 0.5,
        },
        "measured": {
            name: {"value": round(value, 5), "from": measured.sources[name]} for name, value in measured.values.items()
        },
        "defaults_used": {name: value for name, value in DEFAULTS.items() if name not in measured.values},
        "options": {name: {item: round(value, 2) for item, value in items.items()} for name, items in options.items()},
        "totals_usd_per_month": totals,
        "prices_read_on": prices["read_on"],
        "unverified_prices": sorted(
            name for name, how in prices["_verified"].items() if how in ("not verified", "single source")
        ),
    }


def print_table(result: dict[str, Any]) -> None:
    load, derived = result["load"], result["derived"]
    print(
        f"monthly cost (USD, us-east-1, prices read {result['prices_read_on']}): {load['documents']:,} "
        f"documents x {load['pages_per_doc']:g} pages "
        f"({derived['chunks']:,} chunks), {load['churn']:.0%} re-ingested a month, "
        f"{load['queries_per_day']:,.0f} questions a day"
    )
    names = list(result["options"])
    items = sorted(
        {item for option in result["options"].values() for item in option},
        key=lambda i: [
            "embeddings (ingest)",
            "embeddings (questions)",
            "generation",
            "lambda",
            "api gateway",
            "sqs",
            "dynamodb",
            "s3",
            "vector store",
        ].index(i),
    )
    rows = [[item, *(result["options"][n].get(item, float("nan")) for n in names)] for item in items]
    rows.append(["total", *(result["totals_usd_per_month"][n] for n in names)])
    print(_bench.table(rows, ["line", *names]))
    print(f"one-time embedding of the whole corpus: ${derived['initial_ingest_embedding_usd']}")
    if not derived["fits_t3_small_search"]:
        print(
            f"warning: {derived['knn_memory_gb']} GB of HNSW graphs (1024 dims) exceed a t3.small.search's ~0.5 GB: "
            "the domain line is a floor; use RAGLINE_EMBED_DIMENSIONS=256 or a larger instance"
        )
    if result["measured"]:
        print("measured: " + ", ".join(f"{k}={v['value']} ({v['from']})" for k, v in result["measured"].items()))
    if result["defaults_used"]:
        print("defaults: " + ", ".join(f"{k}={v}" for k, v in result["defaults_used"].items()))
    print("prices not verified against AWS's own pages: " + ", ".join(result["unverified_prices"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    load = Load()
    for name, value in asdict(load).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action="store_true", default=value)
        else:
            parser.add_argument(flag, type=type(value), default=value)
    parser.add_argument("--prices", type=Path, default=PRICES)
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    chosen = Load(**{name: getattr(args, name) for name in asdict(load)})
    result = monthly_cost(chosen, load_prices(args.prices), measured_counts(args.results_dir, chosen.embed_concurrency))
    # A second, larger and a smaller load, for scale.
    scenarios = {}
    for label, change in (
        ("small (100 docs, 100 q/day)", {"documents": 100, "queries_per_day": 100}),
        ("large (20k docs, 10k q/day)", {"documents": 20_000, "queries_per_day": 10_000}),
    ):
        other = Load(**{**asdict(chosen), **change})
        priced = monthly_cost(
            other, load_prices(args.prices), measured_counts(args.results_dir, other.embed_concurrency)
        )
        scenarios[label] = {
            **priced["totals_usd_per_month"],
            "fits_t3_small_search": priced["derived"]["fits_t3_small_search"],
        }
    result["scenarios"] = scenarios
    print_table(result)
    for label, totals in scenarios.items():
        note = (
            "" if totals["fits_t3_small_search"] else " (the index outgrows a t3.small.search: its figure is a floor)"
        )
        print(
            f"{label}{note}: "
            + "; ".join(f"{name} ${total:,.2f}" for name, total in totals.items() if name != "fits_t3_small_search")
        )
    print(f"wrote {_bench.write_result('cost_model', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
