"""Each benchmark's core function runs on a tiny size and returns well-formed numbers.

No timing is asserted here: speed is measured by the benchmarks themselves (docs/performance.md).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _bench  # noqa: E402


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_helpers_summarise_and_tabulate():
    assert _bench.percentile([1, 2, 3, 4], 50) == 2.5
    stats = _bench.summary([3.0, 1.0, 2.0])
    assert stats["n"] == 3 and stats["p50"] == 2.0 and stats["min"] == 1.0 and stats["max"] == 3.0
    text = _bench.table([["a", 1.5]], ["name", "value"])
    assert text.splitlines()[0].startswith("| name")
    machine = _bench.machine()
    assert machine["cpu_count"] and machine["python"]


def test_prose_is_deterministic_and_english_like():
    first, second = _bench.Prose(seed=1), _bench.Prose(seed=1)
    text = first.words(120)
    assert text == second.words(120)
    assert len(text.split()) >= 120 and text.endswith(".")
    question = first.question_about(text)
    assert question.endswith("?")
    assert first.markdown(1).startswith("# ")


def test_result_files_carry_machine_and_date(tmp_path):
    path = _bench.write_result("example", {"value": 1}, results_dir=tmp_path)
    document = json.loads(path.read_text())
    assert document["benchmark"] == "example" and document["value"] == 1
    assert document["machine"]["cpu_count"] and document["date"]
    assert _bench.read_result("example", tmp_path)["value"] == 1
    assert _bench.read_result("absent", tmp_path) is None


def test_time_to_searchable_on_the_local_stack():
    import time_to_searchable

    results = time_to_searchable.run([1], runs=1, poll_ms=20, embedder="hash", timeout_s=60)
    one = results["sizes"]["1"]
    assert one["chunks"] >= 1
    assert _positive(one["seconds"]["p50"]) and one["indexed_s"]["p50"] <= one["seconds"]["p50"]
    assert results["target"]["limit_s"] == 2.0 and isinstance(results["target"]["met"], bool)


def test_revocation_latency_on_the_local_stack():
    import revocation_latency

    results = revocation_latency.run(runs=2, docs=1, poll_ms=20, embedder="hash", timeout_s=60)
    for kind in ("revoke", "grant", "fresh"):
        assert results[kind]["ms"]["n"] == 2 and results[kind]["timeouts"] == 0
        assert _positive(results[kind]["ms"]["p95"]) and results[kind]["ms"]["p50"] <= results[kind]["ms"]["max"]
        assert results[kind]["stages_ms"]["ingest_ms"]["n"] == 2  # the change went through the ingest worker
    assert {s["kind"] for s in results["samples"]} == {"revoke", "grant", "fresh"}
    assert results["target"]["limit_ms"] == 2000.0 and isinstance(results["target"]["met"], bool)


def test_ingest_throughput_times_every_stage():
    import ingest_throughput

    results = ingest_throughput.run(["hash"], docs=2, pages=1)
    (run,) = results["runs"]
    assert run["documents"] == 2 and run["failures"] == 0 and run["chunks"] >= 2
    assert _positive(run["chunks_per_s"]) and _positive(run["handler_s"])
    assert set(run["stages_s"]) == {"s3", "parse", "chunk", "embed", "store", "registry", "other"}
    assert all(value >= 0 for value in run["stages_s"].values())
    assert run["calls"]["parse"] == 2 and run["calls"]["embed"] == 2
    assert _positive(run["words_per_chunk"])


def test_bedrock_concurrency_runs_the_real_embedder_on_the_stand_ins():
    import bedrock_concurrency

    results = bedrock_concurrency.run(chunks=6, latency_ms=1.0, levels=[1, 3], dimension=256, http=True)
    for key in ("levels", "http_levels"):
        rows = results[key]
        assert [row["concurrency"] for row in rows] == [1, 3]
        for row in rows:
            assert row["calls"] == 6 and _positive(row["wall_s"]) and _positive(row["ratio"])
    assert results["levels"][1]["max_in_flight"] <= 3
    assert results["tokens_per_chunk"] > 0


def test_query_latency_reports_stages_and_scaling():
    pytest.importorskip("onnxruntime")
    import query_latency

    from ragline.embedders.local import MissingLocalModel

    try:
        results = query_latency.run([200, 400], queries=6, peer="none", mmr_queries=3)
    except MissingLocalModel:
        pytest.skip("the local embedding model is not installed")
    entry = results["sizes"]["400"]
    assert entry["chunks"] == 400 and _positive(entry["index_s"])
    default = entry["default"]
    assert default["queries"] == 6 and _positive(default["total_ms"]["p50"])
    assert set(default["stages_ms"]) == {"embed", "knn", "bm25", "fuse", "rerank", "mmr"}
    assert (default["mode"], default["reranker"]) == ("hybrid+rerank", "proximity")
    assert default["mean_hits"] > 0
    assert entry["mmr_0.5"]["mmr_lambda"] == 0.5
    assert _positive(results["scaling"]["p50_ratio"])
    memory = default["memory_mb"]  # of the process that ran the queries, which loaded the model first
    assert 0 < memory["model_loaded"] <= memory["peak"] and memory["after_queries"] <= memory["peak"]
    assert results["targets"] == []  # none at these sizes


def test_query_latency_peer_side_by_side():
    pytest.importorskip("chromadb")
    pytest.importorskip("onnxruntime")
    import query_latency

    results = query_latency.run([300], queries=5, peer="chroma", mmr_queries=2)
    entry = results["sizes"]["300"]
    assert _positive(entry["chroma"]["index_s"]) and _positive(entry["chroma"]["knn_ms"]["p50"])
    assert _positive(entry["ratios"]["index_time_chroma_over_embedded"])


def test_vector_scan_times_every_kernel_and_measures_the_pools_recall():
    pytest.importorskip("simsimd")
    import vector_scan

    timings = vector_scan.kernels(rows=500, repeats=2)
    assert set(timings) >= {"numpy_float32_matvec", "simsimd_int8_dot", "store_int8_pool_k50"}
    assert all(_positive(ms) for ms in timings.values())
    found = vector_scan.random_recall(rows=400, queries=3)
    assert 0.0 < found["pool_66_min"] <= found["pool_66_mean"] <= 1.0


def test_cold_start_measures_imports_in_isolation_and_zips(tmp_path):
    import cold_start

    (tmp_path / "_functions").mkdir()
    assert _positive(cold_start.import_ms(None, ["json"], tmp_path))
    with pytest.raises(RuntimeError):
        cold_start.import_ms(None, ["boto3_is_not_on_this_path"], tmp_path)
    zipped, raw, files = cold_start.zipped_size(cold_start.FUNCTIONS / "query")
    assert zipped > 0 and raw > 0 and files >= 1


def test_cost_model_prices_every_line(tmp_path):
    import cost_model

    prices = cost_model.load_prices()
    assert prices["read_on"] and prices["region"] == "us-east-1"
    result = cost_model.monthly_cost(cost_model.Load(), prices, cost_model.measured_counts(tmp_path))
    assert result["defaults_used"]  # nothing measured in an empty results folder
    totals = result["totals_usd_per_month"]
    assert len(totals) == 4 and all(_positive(total) for total in totals.values())
    ragline = result["options"]["ragline + OpenSearch domain (t3.small.search)"]
    assert {"lambda", "sqs", "vector store", "generation"} <= set(ragline)
    # The managed alternative's floor does not depend on load.
    quiet = cost_model.monthly_cost(cost_model.Load(documents=1, queries_per_day=0), prices, cost_model.Measured())
    kb = next(name for name in totals if name.startswith("Knowledge Bases"))
    assert quiet["totals_usd_per_month"][kb] > 100


def test_every_price_has_a_value_unit_and_verification():
    document = json.loads((BENCHMARKS / "prices.json").read_text())
    assert document["read_on"] and document["region"] == "us-east-1"
    for name, entry in document["prices"].items():
        assert "value" in entry and entry.get("verified"), name
        assert "sources" in entry, name


def test_audit_latency_on_the_local_stack():
    import audit_latency

    results = audit_latency.run(queries=9, docs=2, top_k=2, embedder="hash")
    assert set(results["ms"]) == {"on", "on, in memory", "off"}
    assert all(_positive(stats["p50"]) for stats in results["ms"].values())
    assert results["items_per_record"]["records"] >= 9 and results["items_per_record"]["min"] >= 1
