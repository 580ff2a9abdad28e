"""Audit latency: what keeping an audit record adds to ``POST /query`` on the local stack.

The local stack (``DevStack``: moto server, the ingest worker, the local API Gateway calling the real query
handler, the local defaults: the ``local`` embedder when installed, the embedded store, the extractive
generator) runs in this process. ``--docs`` markdown documents of prose are put through S3 and indexed
first. Then ``--queries`` questions drawn from them go through HTTP (``RaglineClient.query``, ``top_k``
``--top-k``), taking turns, request by request, among three ways of running the handler, so that all see
the same machine, the same warm caches and the same drift:

- **on**: as shipped, the record made and written in one ``TransactWriteItems`` to moto's DynamoDB before
  the answer is returned;
- **on, in memory**: the same record made (claims, HMAC of the question, passages) and handed to an
  in-memory log instead: the function's own share of the cost, without the table's;
- **off**: the handler's ``recorded`` step replaced by one that returns the answer as it is.

The added latency is the difference of the percentiles. moto's own ``TransactWriteItems`` deep-copied the
whole table once per item it wrote (to roll back), so the write grew with the table; the local stack now
undoes a failed transaction item by item (ragline.local.moto_transactions). The "on" requests are also
reported by thirds of the run, to show whether the write grows with the table. The items written per
record (the user's, one per document touched) are counted from the table.

    .venv/bin/python benchmarks/audit_latency.py [--queries 300] [--docs 20] [--top-k 5]

No target: docs/performance.md reports the numbers. moto's DynamoDB answers on the loopback in-process;
DynamoDB on AWS adds a network round trip (single-digit milliseconds within a Region) instead.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench

_bench.add_repo_to_path()

ROLE = "bench"
MODES = ("on", "on, in memory", "off")


def run(queries: int, docs: int, top_k: int, embedder: str | None = None) -> dict[str, Any]:
    from ragline.audit import AuditTrail
    from ragline.local.client import StackClient
    from ragline.local.stack import DevStack
    from ragline.settings import Settings
    from tests.fakes import FakeAuditLog

    saved = _bench.use_local_stack_defaults(embedder)
    prose = _bench.Prose(seed=29)
    home = Path(tempfile.mkdtemp(prefix="ragline-audit-home-"))
    stack = DevStack(home)
    try:
        endpoints = stack.start()
        client = StackClient(home)
        folder = home / "corpus"
        folder.mkdir()
        texts = []
        uploads = []
        for index in range(docs):
            text = prose.markdown(1, words_per_page=400, title=f"Report {index}")
            path = folder / f"report-{index}.md"
            path.write_text(text)
            texts.append(text)
            uploads.append(client.upload(path, f"bench/report-{index}.md", [ROLE]))
        settled = client.wait(uploads, timeout=600)
        assert all(record is not None and record.status == "indexed" for record in settled.values()), settled
        api = client.api("bench-user", [ROLE])
        module = stack._gateway._function.module  # type: ignore[union-attr]  # the query function's handler
        shipped, trail = module.recorded, module.audit_trail()
        in_memory = AuditTrail(FakeAuditLog(), trail.questions, trail._key, trail.admin_group)

        def unaudited(event: Any, context: Any, action: Any, notes: Any, response: dict) -> dict:
            return response

        questions = [prose.question_about(texts[prose.rng.randrange(docs)]) for _ in range(queries)]
        for question in questions[:10]:  # warm-up: the first requests pay for imports and first connections
            api.query(question, top_k)
        timings: dict[str, list[float]] = {mode: [] for mode in MODES}
        for index, question in enumerate(questions):
            mode = MODES[index % len(MODES)]
            module.recorded = unaudited if mode == "off" else shipped
            module.audit_trail = (lambda: in_memory) if mode == "on, in memory" else (lambda: trail)
            started = time.perf_counter()
            api.query(question, top_k)
            timings[mode].append((time.perf_counter() - started) * 1000)
        module.recorded, module.audit_trail = shipped, lambda: trail
        items_per_record = _items_per_record(endpoints, Settings.from_env().audit_table)
    finally:
        stack.stop()
        _bench.restore_environment(saved)
    summaries = {mode: _bench.summary(values) for mode, values in timings.items()}
    off = summaries["off"]
    third = len(timings["on"]) // 3
    return {
        "embedder": endpoints.embedder,
        "queries": queries,
        "docs": docs,
        "top_k": top_k,
        "ms": summaries,
        "added_ms": {
            mode: {
                "p50": round(summaries[mode]["p50"] - off["p50"], 2),
                "p95": round(summaries[mode]["p95"] - off["p95"], 2),
            }
            for mode in MODES[:2]
        },
        "on_by_third_ms": [_bench.summary(timings["on"][i * third : (i + 1) * third]) for i in range(3)],
        "items_per_record": items_per_record,
    }


def _items_per_record(endpoints: Any, table_name: str) -> dict[str, float]:
    """How many items the audited requests wrote per record: the user's, and one per document touched."""
    import boto3

    dynamodb = boto3.resource("dynamodb", endpoint_url=endpoints.dynamodb_endpoint, region_name=endpoints.region)
    table = dynamodb.Table(table_name)
    items: list[dict[str, Any]] = []
    response = table.scan()
    items += response["Items"]
    while "LastEvaluatedKey" in response:
        response = table.scan(ExclusiveStartKey=response["LastEvaluatedKey"])
        items += response["Items"]
    per_request: dict[str, int] = {}
    for item in items:
        per_request[item["request_id"]] = per_request.get(item["request_id"], 0) + 1
    counts = list(per_request.values())
    return {"records": len(counts), **_bench.summary([float(count) for count in counts], 1)}


def print_table(results: dict[str, Any]) -> None:
    print(
        f"POST /query on the local stack ({results['queries']} queries taking turns, top_k {results['top_k']}, "
        f"{results['docs']} documents, embedder {results['embedder']})"
    )
    off = results["ms"]["off"]
    rows = []
    for mode, stats in results["ms"].items():
        added = results["added_ms"].get(mode, {"p50": "", "p95": ""})
        rows.append([f"audit {mode}", stats["n"], stats["p50"], stats["p95"], added["p50"], added["p95"]])
    print(_bench.table(rows, ["", "requests", "p50 ms", "p95 ms", "added p50 ms", "added p95 ms"]))
    thirds = ", ".join(f"{third['p50']}" for third in results["on_by_third_ms"])
    print(f"audit on, p50 by thirds of the run (does the write grow?): {thirds} ms; off p50 {off['p50']} ms")
    items = results["items_per_record"]
    print(f"items written per record: median {items.get('p50')}, max {items.get('max')} ({items['records']} records)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--embedder", default=None, help="RAGLINE_EMBEDDER (default: the local default)")
    parser.add_argument("--no-wait", action="store_true", help="don't wait for other heavy jobs to finish")
    args = parser.parse_args(argv)
    quiet = _bench.before_run(args.no_wait)
    results = run(args.queries, args.docs, args.top_k, args.embedder)
    results["conditions"] = _bench.conditions(quiet)
    print_table(results)
    path = _bench.write_result("audit_latency", results)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
