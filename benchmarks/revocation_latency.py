"""Revocation latency: from a sidecar put on the local stack until the revoked role can no longer retrieve.

The local stack (``DevStack``: moto server with S3 -> SQS notifications, the ingest worker calling the real
ingest handler, the local API Gateway calling the real query handler) runs in this process with the local
defaults (the ``local`` embedder when installed, the embedded store), as in ``time_to_searchable.py``.
``--docs`` one-page PDFs are put through S3 (roles in ``x-amz-meta-roles``, as ``StackClient.upload`` does)
and ingested first. Each run then measures, one after the other, each change started on an idle worker:

- **fresh upload**: a new PDF is put; from the moment the put returns, ``POST /retrieve`` is polled (every
  ``--poll-ms``) with a token of the document's role until a result is that document;
- **revoke**: a sidecar ``<key>.metadata.json`` with ``{"metadataAttributes": {"roles": ["other-role"]}}``
  is put on one of the documents (round robin) through S3; from the moment the put returns, ``POST
  /retrieve`` is polled with a token of the role that could see it until no result is that document;
- **grant**: the sidecar is put again with a new role beside ``other-role``; polled with a token of the new
  role until a result is that document. The next revocation of that document revokes this role.

A change not seen within ``--timeout-s`` counts as that timeout in the numbers (``timed_out`` in its
sample, counted under ``timeouts``). The ingest worker's SQS client and function and the ingest function's
store are wrapped (in this process only) to time each change's path: ``queue_ms`` (the put returned -> the
worker's ``ReceiveMessage`` returned the notification), ``ingest_ms`` (-> the store write finished),
``query_ms`` (-> a poll saw it: the query side and the polling step); ``handler_ms`` is from the receive
until the ingest function returned (its registry write and lease release follow the store write).

    .venv/bin/python benchmarks/revocation_latency.py [--runs 30] [--docs 5] [--poll-ms 20] [--timeout-s 30]

Target: revocation p95 under 2 s.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import _bench

_bench.add_repo_to_path()

TARGET_P95_MS = 2000.0
REVOKED_TO = "other-role"  # the role a revocation's sidecar leaves the document with
KINDS = ("revoke", "grant", "fresh")


def make_document(prose: _bench.Prose, tag: str, code: str) -> bytes:
    """A one-page PDF of prose stating the fact the question asks for."""
    from tests.fixtures.documents import make_pdf

    text = prose.page_lines(450) + "\n" + f"The calibration code for batch {tag} is {code}."
    return make_pdf([text], title=f"Batch {tag} report")


def sidecar_body(roles: list[str]) -> bytes:
    return json.dumps({"metadataAttributes": {"roles": roles}}).encode()


class PathClock:
    """Wraps the ingest worker's SQS client and function, and the ingest function's store, to note when the
    worker's ``ReceiveMessage`` returned each notification (by S3 key and message id), when the store
    write of each document finished (``replace_document`` for a new version, ``update_roles`` for a
    sidecar), and when the ingest function returned from each message."""

    WRITES = ("replace_document", "update_roles", "delete_document")

    def __init__(self, worker: Any) -> None:
        self._lock = threading.Lock()
        self.received: list[tuple[float, str, str]] = []  # (time, key, message id)
        self.returned: dict[str, float] = {}  # message id -> when the function returned
        self.written: list[tuple[float, str]] = []  # (time, doc id)
        sqs, function = worker._sqs, worker._function
        ingestor = function.module.ingestor()
        store = ingestor.store
        clock = self

        class _Sqs:
            def __getattr__(self, name: str) -> Any:
                return getattr(sqs, name)

            def receive_message(self, **kwargs: Any) -> dict[str, Any]:
                response = sqs.receive_message(**kwargs)
                now = time.perf_counter()
                with clock._lock:
                    for message in response.get("Messages", []):
                        for key in _keys(message["Body"]):
                            clock.received.append((now, key, message["MessageId"]))
                return response

        class _Function:
            def __getattr__(self, name: str) -> Any:
                return getattr(function, name)

            def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
                try:
                    return function.invoke(event)
                finally:
                    now = time.perf_counter()
                    with clock._lock:
                        for record in event.get("Records", []):
                            clock.returned[record["messageId"]] = now

        class _Store:
            def __getattr__(self, name: str) -> Any:
                attribute = getattr(store, name)
                if name not in PathClock.WRITES:
                    return attribute

                def write(doc_id: str, *args: Any, **kwargs: Any) -> Any:
                    try:
                        return attribute(doc_id, *args, **kwargs)
                    finally:
                        now = time.perf_counter()
                        with clock._lock:
                            clock.written.append((now, doc_id))

                return write

        worker._sqs, worker._function = _Sqs(), _Function()
        ingestor.store = _Store()

    def wait_idle(self, timeout_s: float) -> float:
        """Wait until the function has returned from every message received so far (its registry write,
        lease release and the worker's delete come after the store write); returns the seconds waited."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout_s:
            with self._lock:
                if all(message_id in self.returned for _, _, message_id in self.received):
                    break
            time.sleep(0.005)
        return time.perf_counter() - started

    def path(self, key: str, doc_id: str, since: float) -> tuple[float | None, float | None, float | None]:
        """When the first notification of ``key`` after ``since`` was received, when the store write that
        followed it finished, and when the function returned from that message."""
        with self._lock:
            found = [(t, message_id) for t, k, message_id in self.received if k == key and t >= since]
            if not found:
                return None, None, None
            received, message_id = min(found)
            writes = [t for t, d in self.written if d == doc_id and t >= received]
            return received, (min(writes) if writes else None), self.returned.get(message_id)


def _keys(body: str) -> list[str]:
    """The S3 keys an SQS message of S3 notifications names."""
    try:
        records = json.loads(body).get("Records", [])
    except (ValueError, AttributeError):
        return []
    return [urllib.parse.unquote_plus(r["s3"]["object"]["key"]) for r in records if "s3" in r]


def _visible(body: Any, doc_id: str) -> bool:
    return isinstance(body, dict) and any(r.get("doc_id") == doc_id for r in body.get("results") or [])


def wait_for(
    client: Any,
    token: str,
    question: str,
    doc_id: str,
    want_visible: bool,
    since: float,
    poll_s: float,
    timeout_s: float,
) -> dict[str, Any]:
    """Poll ``POST /retrieve`` until ``doc_id`` is (or is no longer) among the results."""
    polls = 0
    statuses: dict[str, int] = {}
    while True:
        sent = time.perf_counter()
        status, body = client.call("POST", "/retrieve", {"question": question, "top_k": 5}, token)
        now = time.perf_counter()
        polls += 1
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 200 and _visible(body, doc_id) == want_visible:
            return {"ms": (now - since) * 1000, "polls": polls, "last_poll_ms": (now - sent) * 1000, "timed_out": False}
        if now - since > timeout_s:
            return {
                "ms": timeout_s * 1000,
                "polls": polls,
                "last_poll_ms": (now - sent) * 1000,
                "timed_out": True,
                "statuses": statuses,
            }
        time.sleep(poll_s)


def _put(client: Any, key: str, body: bytes, roles: list[str] | None = None) -> float:
    """Put ``body`` at ``key`` through S3; returns when the put returned (perf_counter)."""
    extra: dict[str, Any] = {"Metadata": {"roles": ",".join(roles)}} if roles else {}
    client.s3.put_object(Bucket=client.endpoints.bucket, Key=key, Body=body, **extra)
    return time.perf_counter()


def _sample(
    clock: PathClock,
    kind: str,
    key: str,
    event_key: str,
    doc_id: str,
    started: float,
    put_done: float,
    seen: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    # From before the put: moto queues the notification while it handles the put, so the worker may have
    # it before the put returns to the client (then queue_ms is negative).
    received, written, returned = clock.path(event_key, doc_id, started)

    def since(t: float | None, origin: float | None) -> float | None:
        return round((t - origin) * 1000, 1) if t is not None and origin is not None else None

    sample = {
        "kind": kind,
        "key": key,
        "ms": round(seen["ms"], 1),
        "put_ms": round((put_done - started) * 1000, 1),
        "polls": seen["polls"],
        "last_poll_ms": round(seen["last_poll_ms"], 1),
        "timed_out": seen["timed_out"],
        "queue_ms": since(received, put_done),  # put returned -> the worker's ReceiveMessage returned it
        "ingest_ms": since(written, received),  # -> the ingest function's store write finished
        "query_ms": round(seen["ms"] - (written - put_done) * 1000, 1) if written else None,  # -> a poll saw it
        "handler_ms": since(returned, received),  # received -> the ingest function returned (registry, lease)
    }
    if seen.get("statuses"):
        sample["statuses"] = seen["statuses"]
    return {**sample, **extra}


def _stages(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        stage: _bench.summary([s[stage] for s in samples if s.get(stage) is not None], 1)
        for stage in ("put_ms", "queue_ms", "ingest_ms", "query_ms", "handler_ms")
    }


def run(
    runs: int = 30, docs: int = 5, poll_ms: float = 20.0, embedder: str | None = None, timeout_s: float = 30.0
) -> dict[str, Any]:
    """Start a DevStack, measure ``runs`` fresh uploads, revocations and grants, stop it. Returns the numbers."""
    from ragline.ids import document_id
    from ragline.local.client import StackClient
    from ragline.local.stack import DevStack

    saved = _bench.use_local_stack_defaults(embedder)
    prose = _bench.Prose(seed=13)
    home = Path(tempfile.mkdtemp(prefix="ragline-revoke-home-"))
    stack = DevStack(home)
    poll_s = poll_ms / 1000
    results: dict[str, Any] = {}
    samples: list[dict[str, Any]] = []
    try:
        start = time.perf_counter()
        endpoints = stack.start()
        results["stack_start_s"] = round(time.perf_counter() - start, 2)
        results["embedder"] = endpoints.embedder
        results["worker_wait_seconds"] = _worker_wait_seconds()
        client = StackClient(home)
        assert stack._worker is not None
        clock = PathClock(stack._worker)
        tokens: dict[str, str] = {}

        def token(role: str) -> str:
            if role not in tokens:
                tokens[role] = client.token(f"user-{role}", [role])
            return tokens[role]

        def new_document(name: str) -> tuple[str, bytes, str]:
            tag = "".join(prose.rng.choice(string.ascii_uppercase + string.digits) for _ in range(6))
            code = f"ZX-{prose.rng.randint(1000, 9999)}"
            return (
                f"revoke/{name}-{uuid.uuid4().hex[:8]}.pdf",
                make_document(prose, tag, code),
                (f"What is the calibration code for batch {tag}?"),
            )

        # Each change starts on an idle worker, so that it does not queue behind the end of the previous
        # one (which a poll can see before the function has written the registry and returned).
        def fresh(name: str, role: str) -> tuple[dict[str, Any], str, str]:
            key, data, question = new_document(name)
            doc_id = document_id(endpoints.bucket, key)
            clock.wait_idle(timeout_s)
            started = time.perf_counter()
            put_done = _put(client, key, data, [role])
            seen = wait_for(client, token(role), question, doc_id, True, put_done, poll_s, timeout_s)
            return (
                {
                    "kind": "fresh",
                    "key": key,
                    "event_key": key,
                    "doc_id": doc_id,
                    "started": started,
                    "put_done": put_done,
                    "seen": seen,
                },
                key,
                question,
            )

        def change(kind: str, doc: dict[str, Any], roles: list[str], probe: str) -> dict[str, Any]:
            sidecar = doc["key"] + ".metadata.json"
            clock.wait_idle(timeout_s)
            started = time.perf_counter()
            put_done = _put(client, sidecar, sidecar_body(roles))
            seen = wait_for(
                client, token(probe), doc["question"], doc["doc_id"], kind == "grant", put_done, poll_s, timeout_s
            )
            return {
                "kind": kind,
                "key": doc["key"],
                "event_key": sidecar,
                "doc_id": doc["doc_id"],
                "started": started,
                "put_done": put_done,
                "seen": seen,
            }

        # The documents revoked and granted, each ingested first; one throw-away cycle on a warm-up
        # document so that first-use costs (imports, the first sidecar, the first write) are not in run 1.
        documents = []
        for index in range(docs + 1):
            role = f"reader-{index}-0"
            first, key, question = fresh(f"doc{index}", role)
            if first["seen"]["timed_out"]:
                raise TimeoutError(f"{key} was not retrievable within {timeout_s} s")
            documents.append(
                {
                    "key": key,
                    "doc_id": document_id(endpoints.bucket, key),
                    "question": question,
                    "role": role,
                    "cycle": 0,
                }
            )
        warm = documents.pop()
        change("revoke", warm, [REVOKED_TO], warm["role"])
        change("grant", warm, [REVOKED_TO, "reader-warm-1"], "reader-warm-1")
        fresh("warm-fresh", "reader-warm-fresh")

        measured = []
        for run_index in range(runs):
            doc = documents[run_index % len(documents)]
            raw, _, _ = fresh(f"fresh{run_index}", f"fresh-{run_index}")
            measured.append({**raw, "run": run_index, "role": f"fresh-{run_index}"})
            # Revoke: the role that can see the document loses it.
            measured.append({**change("revoke", doc, [REVOKED_TO], doc["role"]), "run": run_index, "role": doc["role"]})
            # Grant: a role that never saw it gains it (and is the one revoked next time).
            doc["cycle"] += 1
            granted = f"reader-{documents.index(doc)}-{doc['cycle']}"
            measured.append({**change("grant", doc, [REVOKED_TO, granted], granted), "run": run_index, "role": granted})
            doc["role"] = granted
        clock.wait_idle(timeout_s)
        samples = [_sample(clock, **raw) for raw in measured]
    finally:
        stack.stop()
        _bench.restore_environment(saved)

    for kind in KINDS:
        mine = [s for s in samples if s["kind"] == kind]
        results[kind] = {
            "ms": _bench.summary([s["ms"] for s in mine], 1),
            "stages_ms": _stages(mine),
            "timeouts": sum(s["timed_out"] for s in mine),
        }
    results["samples"] = samples
    revoke = results["revoke"]["ms"]
    results["target"] = {
        "what": "p95 revocation latency (sidecar put returned -> the revoked role no longer retrieves it)",
        "limit_ms": TARGET_P95_MS,
        "value_ms": revoke.get("p95"),
        "met": bool(revoke.get("n")) and revoke["p95"] < TARGET_P95_MS and results["revoke"]["timeouts"] == 0,
    }
    results.update(runs=runs, docs=docs, poll_ms=poll_ms, timeout_s=timeout_s)
    return results


def _worker_wait_seconds() -> int | None:
    """The ``wait_seconds`` default of ``IngestWorker.poll_once`` (the worker's SQS long-poll)."""
    import inspect

    from ragline.local.worker import IngestWorker

    default = inspect.signature(IngestWorker.poll_once).parameters["wait_seconds"].default
    return default if isinstance(default, int) else None


def print_table(results: dict[str, Any]) -> None:
    rows = []
    for kind in KINDS:
        entry = results[kind]
        s, st = entry["ms"], entry["stages_ms"]
        rows.append(
            [
                kind,
                s["n"],
                s["p50"],
                s["p95"],
                s["max"],
                st["queue_ms"].get("p50", float("nan")),
                st["ingest_ms"].get("p50", float("nan")),
                st["query_ms"].get("p50", float("nan")),
                entry["timeouts"],
            ]
        )
    print(
        f"revocation latency (embedder {results.get('embedder')}, poll every {results['poll_ms']:.0f} ms, "
        f"from the put returning)"
    )
    print(
        _bench.table(
            rows, ["change", "runs", "p50 ms", "p95 ms", "max ms", "queue p50", "ingest p50", "query p50", "timeouts"]
        )
    )
    t = results["target"]
    print(f"target: revocation p95 < {t['limit_ms']:.0f} ms: {t['value_ms']} ms -> {'met' if t['met'] else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", "--trials", type=int, default=30, help="revocations (and grants, fresh uploads)")
    parser.add_argument("--docs", type=int, default=5, help="documents revoked and granted in turn")
    parser.add_argument("--poll-ms", type=float, default=20.0)
    parser.add_argument("--timeout-s", type=float, default=30.0, help="per change")
    parser.add_argument("--embedder", default=None, help="RAGLINE_EMBEDDER (default: the local default)")
    parser.add_argument("--no-wait", action="store_true", help="don't wait for other heavy jobs to finish")
    args = parser.parse_args(argv)
    quiet = _bench.before_run(args.no_wait)
    results = run(args.runs, args.docs, args.poll_ms, args.embedder, args.timeout_s)
    results["conditions"] = _bench.conditions(quiet)
    print_table(results)
    path = _bench.write_result("revocation_latency", results)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
