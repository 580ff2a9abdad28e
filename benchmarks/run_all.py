"""Run every benchmark, one after another, each in its own process; the cost model last (it reads the others).

    .venv/bin/python benchmarks/run_all.py [--quick] [--only NAME ...] [--no-wait]

``--quick`` runs each on a small size (a smoke run of the whole set, in a few minutes) and writes its
results to a temporary folder, so the reported ones stay; the default sizes are the ones
``docs/performance.md`` reports, and their results land in ``benchmarks/results/<name>.json``.
Before each benchmark the script waits (up to 20 minutes) until no other heavy job (``ragline eval``,
``tune_hybrid``, ``pytest``) runs, so that they don't share the two cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (default arguments, quick arguments)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "time_to_searchable": ([], ["--runs", "2", "--pages", "1", "5"]),
    "revocation_latency": ([], ["--runs", "3", "--docs", "2"]),
    "audit_latency": ([], ["--queries", "30", "--docs", "3"]),
    "ingest_throughput": ([], ["--docs", "6", "--pages", "2"]),
    "bedrock_concurrency": ([], ["--chunks", "100", "--concurrency", "1", "16"]),
    "query_latency": ([], ["--sizes", "2000", "10000", "--queries", "40"]),
    "vector_scan": ([], ["--rows", "10000", "--queries", "20"]),
    "cold_start": ([], ["--runs", "3", "--no-layer"]),
    "cost_model": ([], []),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS))
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    failed = []
    env = dict(os.environ)
    if args.quick and "RAGLINE_BENCH_RESULTS" not in env:
        env["RAGLINE_BENCH_RESULTS"] = tempfile.mkdtemp(prefix="ragline-bench-quick-")
        print(f"--quick: results go to {env['RAGLINE_BENCH_RESULTS']}", flush=True)
    for name, (default, quick) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        extra = quick if args.quick else default
        if name != "cost_model" and args.no_wait:
            extra = [*extra, "--no-wait"]  # else each benchmark waits for a quiet machine itself
        print(f"\n=== {name} {' '.join(extra)}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py"), *extra], env=env)
        print(f"=== {name}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
