"""Time to searchable: from the S3 put on the local stack to the first answer that cites the document.

The local stack (``DevStack``: moto server with S3 -> SQS notifications, the ingest worker calling the real
ingest handler, the local API Gateway calling the real query handler) runs in this process with the local
defaults (the ``local`` embedder when installed, the embedded store, the extractive generator). For each
run a new PDF is put through S3 with ``StackClient.upload``; the clock starts just before the put, and
``POST /query`` is polled (every ``--poll-ms``) with a question only that document answers until an
answer cites it. The registry is read in the same loop, so the time until it says ``indexed`` is reported
too (the rest is the search side seeing the new version).

    .venv/bin/python benchmarks/time_to_searchable.py [--runs 5] [--pages 1 30] [--poll-ms 50]

Target: median under 2 s for one page.
"""

from __future__ import annotations

import argparse
import string
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import _bench

_bench.add_repo_to_path()

TARGET_ONE_PAGE_S = 2.0
ROLE = "bench"


def make_document(prose: _bench.Prose, pages: int, tag: str, code: str) -> bytes:
    """A PDF of ``pages`` pages of prose; the last page states the fact the question asks for."""
    from tests.fixtures.documents import make_pdf

    texts = [prose.page_lines(450) for _ in range(pages)]
    fact = f"The calibration code for batch {tag} is {code}."
    texts[-1] = texts[-1] + "\n" + fact
    return make_pdf(texts, title=f"Batch {tag} report")


def _cites(body: Any, source_suffix: str) -> bool:
    if not isinstance(body, dict):
        return False
    return any(str(c.get("source", "")).endswith(source_suffix) for c in body.get("citations") or [])


def measure_once(
    client: Any, token: str, data: bytes, key: str, question: str, poll_s: float, timeout_s: float
) -> dict[str, Any]:
    path = Path(tempfile.mkdtemp(prefix="ragline-tts-")) / Path(key).name
    path.write_bytes(data)
    started = time.perf_counter()
    upload = client.upload(path, key, [ROLE])
    put_done = time.perf_counter()
    indexed_at = None
    polls = 0
    while True:
        if indexed_at is None and client.settled(upload) is not None:
            indexed_at = time.perf_counter()
        status, body = client.call("POST", "/query", {"question": question, "top_k": 5}, token)
        polls += 1
        now = time.perf_counter()
        if status == 200 and _cites(body, "/" + key):
            return {
                "seconds": round(now - started, 3),
                "put_s": round(put_done - started, 3),
                "indexed_s": round((indexed_at or now) - started, 3),
                "polls": polls,
                "query_timings_ms": body.get("timings_ms", {}),
            }
        if now - started > timeout_s:
            raise TimeoutError(f"{key} was not cited within {timeout_s} s (last status {status})")
        time.sleep(poll_s)


def run(
    pages_list: list[int], runs: int, poll_ms: float = 50.0, embedder: str | None = None, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Start a DevStack, measure ``runs`` documents of each size, stop it. Returns the numbers."""
    from ragline.local.client import StackClient
    from ragline.local.stack import DevStack

    saved = _bench.use_local_stack_defaults(embedder)
    prose = _bench.Prose(seed=11)
    home = Path(tempfile.mkdtemp(prefix="ragline-tts-home-"))
    stack = DevStack(home)
    results: dict[str, Any] = {"sizes": {}}
    try:
        start = time.perf_counter()
        endpoints = stack.start()
        results["stack_start_s"] = round(time.perf_counter() - start, 2)
        results["embedder"] = endpoints.embedder
        client = StackClient(home)
        token = client.token("bench", [ROLE])
        # One throw-away document so that first-use costs (imports, the first write) are not in run 1.
        warm = make_document(prose, 1, "WARM0", "WARM-0000")
        measure_once(
            client,
            token,
            warm,
            "tts/warmup.pdf",
            "What is the calibration code for batch WARM0?",
            poll_ms / 1000,
            timeout_s,
        )
        for pages in pages_list:
            samples = []
            for index in range(runs):
                tag = "".join(prose.rng.choice(string.ascii_uppercase + string.digits) for _ in range(6))
                code = f"ZX-{prose.rng.randint(1000, 9999)}"
                data = make_document(prose, pages, tag, code)
                key = f"tts/{pages}p-{index}-{uuid.uuid4().hex[:8]}.pdf"
                sample = measure_once(
                    client,
                    token,
                    data,
                    key,
                    f"What is the calibration code for batch {tag}?",
                    poll_ms / 1000,
                    timeout_s,
                )
                record = client.registry.get(_doc_id(endpoints.bucket, key))
                sample["chunks"] = record.chunk_count if record else None
                sample["bytes"] = len(data)
                samples.append(sample)
            seconds = [s["seconds"] for s in samples]
            results["sizes"][str(pages)] = {
                "pages": pages,
                "runs": samples,
                "seconds": _bench.summary(seconds, 3),
                "indexed_s": _bench.summary([s["indexed_s"] for s in samples], 3),
                "chunks": samples[0]["chunks"],
            }
    finally:
        stack.stop()
        _bench.restore_environment(saved)
    one = results["sizes"].get("1")
    if one:
        results["target"] = {
            "what": "median time to searchable, one page",
            "limit_s": TARGET_ONE_PAGE_S,
            "value_s": one["seconds"]["p50"],
            "met": one["seconds"]["p50"] < TARGET_ONE_PAGE_S,
        }
    results["poll_ms"] = poll_ms
    return results


def _doc_id(bucket: str, key: str) -> str:
    from ragline.ids import document_id

    return document_id(bucket, key)


def print_table(results: dict[str, Any]) -> None:
    rows = []
    for size in results["sizes"].values():
        s, i = size["seconds"], size["indexed_s"]
        rows.append(
            [
                size["pages"],
                size["chunks"],
                s["n"],
                s["p50"],
                s["min"],
                s["max"],
                i["p50"],
                round(s["p50"] - i["p50"], 3),
            ]
        )
    print(f"time to searchable (embedder {results.get('embedder')}, poll every {results['poll_ms']:.0f} ms)")
    print(
        _bench.table(
            rows, ["pages", "chunks", "runs", "median s", "min s", "max s", "indexed (median s)", "search side s"]
        )
    )
    if "target" in results:
        t = results["target"]
        print(f"target: {t['what']} < {t['limit_s']} s: {t['value_s']} s -> {'met' if t['met'] else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pages", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--poll-ms", type=float, default=50.0)
    parser.add_argument("--embedder", default=None, help="RAGLINE_EMBEDDER (default: the local default)")
    parser.add_argument("--no-wait", action="store_true", help="don't wait for other heavy jobs to finish")
    args = parser.parse_args(argv)
    quiet = _bench.before_run(args.no_wait)
    results = run(args.pages, args.runs, args.poll_ms, args.embedder)
    results["conditions"] = _bench.conditions(quiet)
    print_table(results)
    path = _bench.write_result("time_to_searchable", results)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
