"""``ragline demo``: the whole product in one minute, on the local stack.

Starts the stack, uploads the bundled Northwind Research corpus through S3 with each document's roles,
asks questions as users of different groups, and shows that a user without a document's role never sees
it cited, and that a deleted document stops being cited.
"""

from __future__ import annotations

import json
import os
import time
from importlib import resources
from pathlib import Path
from typing import Any

from ragline.local.client import StackClient
from ragline.local.stack import DevStack

CORPUS = "demo_corpus"


def _corpus_root() -> Path:
    return Path(str(resources.files("ragline") / CORPUS))


def _key_of(citation: dict[str, Any], bucket: str) -> str:
    return citation["source"].removeprefix(f"s3://{bucket}/")


def _ask(
    client: StackClient, entry: dict[str, Any], why_hidden: str = "restricted to other roles"
) -> tuple[bool, list[str]]:
    """Asks one manifest question and prints it; returns whether the expectation held, and the cited keys."""
    token = client.token(entry["user"], entry["groups"])
    status, body = client.call("POST", "/query", {"question": entry["question"]}, token)
    print(f"\n{entry['user']} (groups: {', '.join(entry['groups'])}) asks: {entry['question']}")
    if status != 200:
        print(f"  HTTP {status}: {body}")
        return False, []
    print(f"  {body['answer']}")
    cited = []
    for citation in body["citations"]:
        key = _key_of(citation, client.endpoints.bucket)
        cited.append(key)
        page = f", page {citation['page']}" if citation.get("page") else ""
        print(f"    [{citation['id']}] {citation['title']} ({key}{page})")
    ok = True
    if entry.get("expect_doc"):
        ok = entry["expect_doc"] in cited
    if entry.get("must_not_cite"):
        ok = ok and entry["must_not_cite"] not in cited
        verdict = "not cited" if entry["must_not_cite"] not in cited else "CITED (a leak!)"
        print(f"  -> {entry['must_not_cite']} is {why_hidden}: {verdict}")
    print(f"  {'ok' if ok else 'UNEXPECTED'} (answered in {body['timings_ms']['total']:.0f} ms)")
    return ok, cited


def run_demo(home: Path) -> int:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the functions' INFO lines would bury the story
    root = _corpus_root()
    manifest = json.loads((root / "manifest.json").read_text())
    backend = "LocalStack" if os.environ.get("LOCALSTACK_URL") else "moto"
    print(f"Starting the local stack ({backend} S3/SQS/DynamoDB, ingest worker, API gateway)...")
    started = time.monotonic()
    with DevStack(home / "demo") as endpoints:
        print(f"  up in {time.monotonic() - started:.1f} s; embedder: {endpoints.embedder}; API: {endpoints.api_url}")
        client = StackClient(home / "demo")

        print(f"\nUploading {len(manifest['documents'])} documents to s3://{endpoints.bucket} with their roles:")
        uploads = []
        for document in manifest["documents"]:
            uploads.append(client.upload(root / document["path"], document["path"], document["roles"]))
            print(f"  {document['path']:45} roles: {', '.join(document['roles'])}")
        started = time.monotonic()
        results = client.wait(uploads, timeout=300)
        indexed = [record for record in results.values() if record is not None and record.status == "indexed"]
        print(
            f"  indexed {len(indexed)}/{len(uploads)} documents, {sum(r.chunk_count for r in indexed)} chunks, "
            f"in {time.monotonic() - started:.1f} s (S3 event -> SQS -> ingest function)"
        )
        all_ok = len(indexed) == len(uploads)

        for entry in manifest["questions"]:
            ok, _ = _ask(client, entry)
            all_ok = all_ok and ok

        finance_question = next(q for q in manifest["questions"] if (q.get("expect_doc") or "").startswith("finance/"))
        deleted_key = finance_question["expect_doc"]
        print(f"\nDeleting {deleted_key} from S3; asking {finance_question['user']} again...")
        client.delete(deleted_key)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            record = client.registry.get(next(u.doc_id for u in uploads if u.key == deleted_key))
            if record is not None and record.status == "deleted":
                break
            time.sleep(0.1)
        _, cited = _ask(client, {**finance_question, "expect_doc": None, "must_not_cite": deleted_key}, "deleted")
        all_ok = all_ok and deleted_key not in cited

    print(
        "\nDemo finished: " + ("every answer cited only what its asker may see." if all_ok else "SOME CHECKS FAILED.")
    )
    return 0 if all_ok else 1
