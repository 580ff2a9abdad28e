"""The ingest function on moto: real S3 notifications through SQS, the real handler, a real on-disk index."""

from __future__ import annotations

import dataclasses
import json

from ragline.ingest import ObjectEvent
from ragline.local.lambda_runtime import LocalFunction
from tests.conftest import load_event
from tests.fixtures.documents import make_pdf
from tests.store_inspection import chunk_ids, count_chunks

REPORT = """# Cathode report

## Results

The NW-412 cathode retained 91.4% of its capacity after 2,000 cycles at 25 degrees.

## Team

The work was led by Dr. Kenji Mori in the Boulder laboratory.
"""


def _store(stack):
    return stack.ingest.module.ingestor().store


def test_upload_is_indexed_with_its_roles_and_chunks(stack):
    stack.put("research/report.md", REPORT, roles=["research"])

    response = stack.drain()

    assert response == {"batchItemFailures": []}
    record = stack.record("research/report.md")
    assert record.status == "indexed"
    assert record.roles == ("research",)
    assert record.title == "Cathode report"
    assert record.chunk_count == count_chunks(_store(stack), record.doc_id) >= 1
    hits = _store(stack).bm25_search("capacity cycles", frozenset({"research"}), 5)
    assert hits and hits[0].chunk.source == "s3://ragline-documents/research/report.md"
    assert hits[0].chunk.heading_path == ("Cathode report", "Results")


def test_overwrite_replaces_every_chunk_of_the_old_version(stack):
    stack.put("notes.txt", "Old budget figure: 100 dollars.\n\nSecond old paragraph.", roles=["staff"])
    stack.drain()
    doc_id = stack.record("notes.txt").doc_id
    old_ids = set(chunk_ids(_store(stack), doc_id))

    stack.put("notes.txt", "New budget figure: 250 dollars.", roles=["staff"])
    stack.drain()

    new_ids = set(chunk_ids(_store(stack), doc_id))
    assert new_ids and not (new_ids & old_ids)
    assert not _store(stack).bm25_search("old paragraph", frozenset({"staff"}), 10)
    assert stack.record("notes.txt").chunk_count == len(new_ids)


def test_delete_removes_all_chunks_and_marks_the_document_deleted(stack):
    stack.put("notes.txt", "The launch date is 4 May.", roles=["staff"])
    stack.drain()
    stack.delete("notes.txt")

    stack.drain()

    record = stack.record("notes.txt")
    assert record.status == "deleted"
    assert count_chunks(_store(stack), record.doc_id) == 0


def test_a_corrupt_pdf_fails_alone_while_the_rest_of_its_batch_is_indexed(stack):
    stack.put("good-1.md", REPORT, roles=["research"])
    stack.put("broken.pdf", b"%PDF-1.7\n this is not really a pdf", roles=["research"])
    stack.put("good-2.pdf", make_pdf(["Page one about sodium.", "Page two about lithium."]), roles=["research"])

    response = stack.drain()

    assert response == {"batchItemFailures": []}  # a bad document is not a retryable failure
    broken = stack.record("broken.pdf")
    assert broken.status == "failed"
    assert "PDF" in broken.error
    assert stack.record("good-1.md").status == "indexed"
    pdf = stack.record("good-2.pdf")
    assert pdf.status == "indexed"
    pages = {hit.chunk.page for hit in _store(stack).bm25_search("lithium", frozenset({"research"}), 5)}
    assert pages == {2}


def test_a_document_without_roles_is_indexed_but_visible_to_nobody(stack):
    stack.put("orphan.md", "# Orphan\n\nSecret merger plans with Contoso.")
    stack.drain()

    record = stack.record("orphan.md")
    assert record.status == "indexed" and record.roles == ()
    for roles in ({"everyone"}, {"admin"}, {"finance", "research"}):
        assert not _store(stack).bm25_search("merger Contoso", frozenset(roles), 10)


def test_a_sidecar_changes_roles_without_re_embedding(stack):
    stack.put("plan.md", "# Plan\n\nThe merger closes in June.", roles=["finance"])
    stack.drain()
    doc_id = stack.record("plan.md").doc_id
    before = chunk_ids(_store(stack), doc_id)
    embedder = stack.ingest.module.ingestor().embedder
    calls = []
    original = embedder.embed_documents
    embedder.embed_documents = lambda texts: calls.append(texts) or original(texts)

    sidecar = {"metadataAttributes": {"roles": ["executives"]}}
    stack.put("plan.md.metadata.json", json.dumps(sidecar))
    stack.drain()

    assert calls == []
    assert chunk_ids(_store(stack), doc_id) == before
    assert stack.record("plan.md").roles == ("executives",)
    assert not _store(stack).bm25_search("merger", frozenset({"finance"}), 5)
    assert _store(stack).bm25_search("merger", frozenset({"executives"}), 5)


def test_prefix_policy_applies_when_neither_sidecar_nor_metadata_names_roles(stack, monkeypatch):
    monkeypatch.setenv("RAGLINE_PREFIX_ROLES", json.dumps({"public/": ["everyone"]}))
    stack.ingest = LocalFunction("ingest")  # the function reads its settings at init: a new configuration, a cold start
    stack.put("public/hello.md", "# Hello\n\nOpen office hours are on Fridays.")
    stack.drain()

    assert stack.record("public/hello.md").roles == ("everyone",)


def test_a_malformed_message_is_reported_as_a_batch_item_failure(stack):
    stack.put("fine.md", REPORT, roles=["research"])
    messages = stack.receive()
    garbage = dict(messages[0], MessageId="garbage-1", Body="{not json", ReceiptHandle=messages[0]["ReceiptHandle"])

    response = stack.deliver([*messages, garbage])

    assert response["batchItemFailures"] == [{"itemIdentifier": "garbage-1"}]
    assert stack.record("fine.md").status == "indexed"


def test_sample_events_from_the_events_folder(stack):
    """The S3 test event is skipped; the sample create and delete events apply to the bucket's object."""
    stack.receive()  # S3's own test event from provisioning, if any
    created = load_event("sqs-s3-object-created.json")
    key = json.loads(created["Records"][0]["body"])["Records"][0]["s3"]["object"]["key"]
    stack.put(key, REPORT, roles=["research"])
    stack.receive()  # drop the live notification: the sample event stands in for it

    assert stack.ingest.invoke(load_event("sqs-s3-test-event.json")) == {"batchItemFailures": []}
    assert stack.ingest.invoke(created) == {"batchItemFailures": []}
    assert stack.record(key).status == "indexed"

    stack.delete(key)
    assert stack.ingest.invoke(load_event("sqs-s3-object-removed.json")) == {"batchItemFailures": []}
    assert stack.record(key).status == "deleted"
    assert count_chunks(_store(stack), stack.record(key).doc_id) == 0


def test_a_sidecar_that_overtakes_its_document_is_applied_at_once(stack):
    """The sidecar's event comes before the document's own: it indexes the document with the sidecar's
    roles, and the document's late event keeps them."""
    stack.put("plan.md", "# Plan\n\nThe merger closes in June.", roles=["everyone"])
    document_messages = stack.receive()
    stack.put("plan.md.metadata.json", json.dumps({"metadataAttributes": {"roles": ["executives"]}}))
    sidecar_messages = stack.receive()

    assert stack.deliver(sidecar_messages) == {"batchItemFailures": []}
    assert stack.record("plan.md").roles == ("executives",)
    assert stack.deliver(document_messages) == {"batchItemFailures": []}

    assert stack.record("plan.md").roles == ("executives",)
    assert not _store(stack).bm25_search("merger", frozenset({"everyone"}), 5)
    assert _store(stack).bm25_search("merger", frozenset({"executives"}), 5)


def test_a_broken_sidecar_hides_the_document_until_it_is_fixed(stack):
    stack.put("plan.md", "# Plan\n\nThe merger closes in June.", roles=["finance"])
    stack.drain()
    stack.put("plan.md.metadata.json", b'{"metadataAttributes": {"roles": [null, 1]}}')
    stack.drain()
    assert stack.record("plan.md").status == "failed"
    assert not _store(stack).bm25_search("merger", frozenset({"finance"}), 5)

    stack.put("plan.md.metadata.json", json.dumps({"metadataAttributes": {"roles": ["legal"]}}))
    stack.drain()

    record = stack.record("plan.md")
    assert (record.status, record.roles, record.error) == ("indexed", ("legal",), "")
    assert _store(stack).bm25_search("merger", frozenset({"legal"}), 5)


def test_a_parser_crash_fails_the_document_and_removes_its_old_version(stack, monkeypatch):
    stack.put("deep.md", "# Deep\n\nThe first version mentions zeppelins.", roles=["staff"])
    stack.drain()
    doc_id = stack.record("deep.md").doc_id

    def crashing_parser(key, data):  # fault injection: what a pathological file does to a parser
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("ragline.indexing.parse_document", crashing_parser)
    stack.put("deep.md", "# Deep\n\nThe second version.", roles=["staff"])
    response = stack.drain()

    assert response == {"batchItemFailures": []}  # permanent: no point in redelivering
    record = stack.record("deep.md")
    assert (record.status, record.error) == ("failed", "could not parse the file (RecursionError)")
    assert count_chunks(_store(stack), doc_id) == 0  # the old version went with the overwrite


def test_reindexing_the_same_version_with_another_chunk_size_leaves_no_stale_chunk(stack, monkeypatch):
    long_text = "# Notes\n\n" + "\n\n".join(f"Paragraph {n} talks about topic {n} at some length." for n in range(60))
    stack.put("notes.md", long_text, roles=["staff"])
    stack.drain()
    doc_id = stack.record("notes.md").doc_id
    before = count_chunks(_store(stack), doc_id)

    ingestor = stack.ingest.module.ingestor()
    ingestor.config = dataclasses.replace(ingestor.config, chunk_tokens=800, chunk_overlap=0)
    assert ingestor.handle(ObjectEvent("created", stack.settings.bucket, "notes.md")) == "indexed"

    after = count_chunks(_store(stack), doc_id)
    assert before > after == stack.record("notes.md").chunk_count


def test_deleting_an_old_version_keeps_the_current_one_indexed(stack):
    stack.s3.put_bucket_versioning(Bucket=stack.settings.bucket, VersioningConfiguration={"Status": "Enabled"})
    first = stack.put("notes.md", "# Notes\n\nVersion one.", roles=["staff"])
    stack.put("notes.md", "# Notes\n\nVersion two talks about zeppelins.", roles=["staff"])
    stack.drain()
    stack.s3.delete_object(Bucket=stack.settings.bucket, Key="notes.md", VersionId=first["VersionId"])
    ingestor = stack.ingest.module.ingestor()
    calls = []
    original = ingestor.embedder.embed_documents
    ingestor.embedder.embed_documents = lambda texts: calls.append(texts) or original(texts)
    # S3 notifies ObjectRemoved:Delete for a version delete; moto sends nothing, so the event is handed over.
    outcome = ingestor.handle(ObjectEvent("removed", stack.settings.bucket, "notes.md", "FFFFFFFFFFFF"))

    assert outcome == "unchanged"  # the current version is the one indexed: nothing to re-embed
    assert calls == []

    record = stack.record("notes.md")
    assert record.status == "indexed"
    assert _store(stack).bm25_search("zeppelins", frozenset({"staff"}), 5)
