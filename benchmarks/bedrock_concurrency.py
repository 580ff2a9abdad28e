"""Bedrock embedding concurrency: wall time of embedding N chunks against a bedrock-runtime stand-in.

``FakeBedrockRuntime`` stands in for a ``bedrock-runtime`` client: ``invoke_model`` sleeps a fixed
latency (50 ms) and answers as Titan Text Embeddings v2 does (``{"embedding": [...],
"inputTextTokenCount": n}`` in a streaming body). The real ``BedrockEmbedder`` code path runs on it
(request building, the thread pool, retries wrapper, JSON decoding, shape checks, token counting).
Titan embeds one text per call, so the ideal time is ``N x latency / concurrency``; the ratio to it is
what the thread pool and the per-call Python work cost.

A second series (``--http``, on by default) runs the same embedder on a real ``boto3`` bedrock-runtime
client, built as ``ragline.factory`` builds it, against a loopback HTTP stand-in (a separate process on
127.0.0.1 that sleeps the same latency and answers the same body): request signing, the HTTP connection
pool and response parsing are then in the measurement too.

    .venv/bin/python benchmarks/bedrock_concurrency.py [--chunks 1000] [--latency-ms 50] [--concurrency 1 4 8 16]

Target: at most 1.5x the ideal time at each concurrency.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import _bench

TARGET_RATIO = 1.5


class FakeBedrockRuntime:
    """A stand-in for ``boto3.client("bedrock-runtime")`` with a fixed latency per call (Titan v2 answers)."""

    def __init__(self, latency_s: float = 0.05, dimension: int = 1024, seed: int = 0) -> None:
        self.latency_s = latency_s
        self.dimension = dimension
        rng = random.Random(seed)
        # One pre-serialised answer per vector shape: the client's work is decoding, as with a real body.
        vector = [round(rng.uniform(-0.1, 0.1), 6) for _ in range(dimension)]
        self._template = json.dumps({"embedding": vector, "inputTextTokenCount": 0})
        self.calls = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()

    def invoke_model(self, *, modelId: str, body: bytes, contentType: str = "", accept: str = "") -> dict[str, Any]:
        request = json.loads(body)
        tokens = max(1, int(len(request["inputText"].split()) * 1.3))
        with self._lock:
            self.calls += 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            time.sleep(self.latency_s)
        finally:
            with self._lock:
                self._in_flight -= 1
        payload = self._template.replace('"inputTextTokenCount": 0', f'"inputTextTokenCount": {tokens}')
        return {
            "body": io.BytesIO(payload.encode()),
            "contentType": "application/json",
            "ResponseMetadata": {
                "HTTPStatusCode": 200,
                "HTTPHeaders": {"x-amzn-bedrock-input-token-count": str(tokens)},
            },
        }


def _serve(latency_s: float, dimension: int, port_queue: Any) -> None:
    """The loopback stand-in of the bedrock-runtime endpoint: POST /model/{id}/invoke -> Titan v2 answer."""
    vector = [round(random.Random(0).uniform(-0.1, 0.1), 6) for _ in range(dimension)]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Bedrock's endpoint
        # Headers and body go out in two writes: without this, Nagle's algorithm and the client's delayed
        # ACK add ~40 ms to every response, an artefact of this stand-in, not of the client.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            request = json.loads(self.rfile.read(length) or b"{}")
            time.sleep(latency_s)
            tokens = max(1, int(len(str(request.get("inputText", "")).split()) * 1.3))
            body = json.dumps({"embedding": vector, "inputTextTokenCount": tokens}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Amzn-Bedrock-Input-Token-Count", str(tokens))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


class LoopbackStandIn:
    """Runs :func:`_serve` in a child process; ``url`` is its endpoint."""

    def __init__(self, latency_s: float, dimension: int) -> None:
        context = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
        queue = context.Queue()
        self.process = context.Process(target=_serve, args=(latency_s, dimension, queue), daemon=True)
        self.process.start()
        self.url = f"http://127.0.0.1:{queue.get(timeout=30)}"

    def close(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)


def boto3_client(url: str) -> Any:
    """A bedrock-runtime client as ``ragline.factory.build_embedder`` makes one (default botocore config)."""
    import boto3

    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def measure(
    chunks: int,
    latency_s: float,
    concurrency: int,
    dimension: int = 1024,
    texts: list[str] | None = None,
    client: Any = None,
) -> dict[str, Any]:
    """Embed ``chunks`` texts through ``BedrockEmbedder`` at ``concurrency``; wall time against the ideal.

    ``client``: a bedrock-runtime client (default: a new :class:`FakeBedrockRuntime`)."""
    from ragline.embedders.bedrock import BedrockEmbedder

    fake = client is None
    if client is None:
        client = FakeBedrockRuntime(latency_s, dimension)
    embedder = BedrockEmbedder(
        client, model_id="amazon.titan-embed-text-v2:0", dimensions=dimension, concurrency=concurrency
    )
    if texts is None:
        prose = _bench.Prose(seed=5)
        texts = [prose.words(170) for _ in range(chunks)]
    started = time.perf_counter()
    cpu_started = time.process_time()
    vectors = embedder.embed_documents(texts[:chunks])
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    assert len(vectors) == chunks and len(vectors[0]) == dimension
    ideal = chunks * latency_s / concurrency
    calls = client.calls if fake else chunks
    return {
        "concurrency": concurrency,
        "chunks": chunks,
        "calls": calls,
        "max_in_flight": client.max_in_flight if fake else None,
        "wall_s": round(wall, 3),
        "ideal_s": round(ideal, 3),
        "ratio": round(wall / ideal, 3),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_call": round(1000 * cpu / max(calls, 1), 3),
        "input_tokens": embedder.input_tokens,
        "met": wall / ideal <= TARGET_RATIO,
    }


def run(
    chunks: int = 1000,
    latency_ms: float = 50.0,
    levels: list[int] | None = None,
    dimension: int = 1024,
    http: bool = True,
) -> dict[str, Any]:
    prose = _bench.Prose(seed=5)
    texts = [prose.words(170) for _ in range(chunks)]
    levels = levels or [1, 4, 8, 16]
    rows = [measure(chunks, latency_ms / 1000, level, dimension, texts) for level in levels]
    results: dict[str, Any] = {
        "latency_ms": latency_ms,
        "chunks": chunks,
        "dimension": dimension,
        "model": "amazon.titan-embed-text-v2:0 (stand-in)",
        "levels": rows,
        "target": {
            "what": "wall time / ideal time (FakeBedrockRuntime)",
            "limit": TARGET_RATIO,
            "met": all(r["met"] for r in rows),
        },
        "tokens_per_chunk": round(rows[0]["input_tokens"] / chunks, 1) if rows else None,
    }
    if http:
        server = LoopbackStandIn(latency_ms / 1000, dimension)
        try:
            client = boto3_client(server.url)
            results["http_levels"] = [
                measure(chunks, latency_ms / 1000, level, dimension, texts, client) for level in levels
            ]
        finally:
            server.close()
    return results


def print_table(results: dict[str, Any]) -> None:
    print(
        f"Bedrock embedding concurrency ({results['chunks']} chunks, {results['latency_ms']:.0f} ms "
        f"per call, Titan v2 {results['dimension']} dims)"
    )
    for label, key in (
        ("FakeBedrockRuntime (in-process stand-in client)", "levels"),
        ("boto3 client -> loopback HTTP stand-in", "http_levels"),
    ):
        if key not in results:
            continue
        rows = [
            [
                r["concurrency"],
                r["chunks"],
                r["ideal_s"],
                r["wall_s"],
                r["ratio"],
                r["cpu_ms_per_call"],
                "met" if r["met"] else "MISSED",
            ]
            for r in results[key]
        ]
        print(label)
        print(
            _bench.table(
                rows, ["concurrency", "chunks", "ideal s", "wall s", "ratio", "CPU ms/call", f"<= {TARGET_RATIO}x"]
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--dimension", type=int, default=1024)
    parser.add_argument("--no-http", action="store_true", help="skip the boto3 -> loopback HTTP series")
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    quiet = _bench.before_run(args.no_wait)
    results = run(args.chunks, args.latency_ms, args.concurrency, args.dimension, http=not args.no_http)
    results["conditions"] = _bench.conditions(quiet)
    print_table(results)
    print(f"wrote {_bench.write_result('bedrock_concurrency', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
