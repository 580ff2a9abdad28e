"""A bounded load test of the local stack: concurrent clients against the local API, and a burst of uploads.

Starts the local stack in-process (moto, the ingest worker, the local API Gateway with the real handlers),
then:

1. burst: uploads N small documents at once through S3 and waits until the registry has every one indexed
   (nothing lost), reporting how long the burst took to drain;
2. load: C client threads send R requests in all (`POST /query` and `POST /retrieve`, users of random groups)
   and check every answer: status 200, and no citation of a document outside the caller's groups.

Requests go to 127.0.0.1 only, the count is bounded and the run stops by itself.

    python benchmarks/load_test.py [--clients 8] [--requests 2000] [--burst 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

GROUPS = ["finance", "research", "hr", "everyone"]
TOPICS = ["revenue", "cathode", "leave", "budget", "battery", "safety", "hiring", "grant"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def run(clients: int, requests: int, burst: int) -> dict:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from ragline.local.client import StackClient
    from ragline.local.stack import DevStack

    home = Path(tempfile.mkdtemp(prefix="ragline-load-"))
    results: dict = {}
    with DevStack(home):
        client = StackClient(home)
        folder = home / "docs"
        folder.mkdir()
        roles_of: dict[str, str] = {}
        uploads = []
        started = time.monotonic()
        for n in range(burst):
            group = GROUPS[n % len(GROUPS)]
            topic = TOPICS[n % len(TOPICS)]
            path = folder / f"doc{n:04d}.md"
            path.write_text(
                f"# Note {n} on {topic}\n\nThe {topic} figure for unit {n} is {n * 7} and belongs to {group}.\n"
            )
            key = f"{group}/doc{n:04d}.md"
            roles_of[key] = group
            uploads.append(client.upload(path, key, [group]))
        settled = client.wait(uploads, timeout=600)
        drained = time.monotonic() - started
        indexed = sum(1 for record in settled.values() if record is not None and record.status == "indexed")
        results["burst"] = {
            "documents": burst,
            "indexed": indexed,
            "lost": burst - indexed,
            "seconds": round(drained, 2),
            "documents_per_second": round(burst / drained, 1),
        }

        tokens = {group: client.token(f"user-{group}", [group]) for group in GROUPS}
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        rng = random.Random(7)
        plan = [(rng.choice(GROUPS), rng.choice(["/query", "/retrieve"]), rng.choice(TOPICS)) for _ in range(requests)]

        def send(item: tuple[str, str, str]) -> None:
            group, route, topic = item
            begun = time.perf_counter()
            status, body = client.call("POST", route, {"question": f"What is the {topic} figure?"}, tokens[group])
            elapsed = time.perf_counter() - begun
            problem = None
            if status != 200:
                problem = f"{route} as {group}: HTTP {status}"
            else:
                sources = body.get("citations", body.get("results", []))
                bucket_prefix = f"s3://{client.endpoints.bucket}/"
                leaked = [
                    s["source"] for s in sources if roles_of.get(s["source"].removeprefix(bucket_prefix)) != group
                ]
                if leaked:
                    problem = f"{route} as {group} cited {leaked[:2]}"
            with lock:
                latencies.append(elapsed)
                if problem:
                    failures.append(problem)

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(send, plan))
        wall = time.monotonic() - started
        results["load"] = {
            "clients": clients,
            "requests": requests,
            "errors": len(failures),
            "first_errors": failures[:5],
            "requests_per_second": round(requests / wall, 1),
            "latency_ms": {
                "p50": round(1000 * percentile(latencies, 0.50), 1),
                "p95": round(1000 * percentile(latencies, 0.95), 1),
                "p99": round(1000 * percentile(latencies, 0.99), 1),
                "mean": round(1000 * statistics.fmean(latencies), 1),
            },
        }
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    results["date"] = datetime.now(UTC).date().isoformat()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    results = run(args.clients, args.requests, args.burst)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    ok = results["burst"]["lost"] == 0 and results["load"]["errors"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
