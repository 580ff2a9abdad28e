"""Every kind of bad file ends `failed` with a reason a person understands, or is parsed correctly where it
can be, and the rest of its batch is indexed."""

from __future__ import annotations

import pytest

from ragline.ids import document_id
from ragline.local.lambda_runtime import LocalFunction
from tests.fixtures.documents import make_pdf

CASES = [
    ("corrupt.pdf", b"%PDF-1.7\nnot really a pdf", "PDF"),
    ("encrypted.pdf", make_pdf(["Top secret plans."], encrypt_password="hunter2"), "PDF is encrypted"),
    ("binary.txt", bytes(range(256)) * 8, "binary content"),
    ("empty.md", b"", "empty document"),
    ("slides.pptx", b"PK\x03\x04 whatever", "unsupported file type '.pptx'"),
    ("no-extension", b"plain words", "unsupported file type"),
]


@pytest.mark.parametrize(("key", "data", "reason"), CASES, ids=[case[0] for case in CASES])
def test_a_bad_file_fails_with_its_reason_and_its_batch_goes_on(stack, key, data, reason):
    stack.put(key, data, roles=["staff"])
    stack.put("fine.md", "# Fine\n\nThe cafeteria reopens on Monday.", roles=["staff"])

    assert stack.drain() == {"batchItemFailures": []}

    registry = stack.ingest.module.ingestor().registry
    failed = registry.get(document_id(stack.settings.bucket, key))
    assert failed.status == "failed" and reason in failed.error
    assert len(failed.error) < 200  # a reason, not a dump of the file
    assert registry.get(document_id(stack.settings.bucket, "fine.md")).status == "indexed"


def test_a_file_over_the_size_limit_fails_with_its_size(stack, monkeypatch):
    monkeypatch.setenv("RAGLINE_MAX_OBJECT_BYTES", "1000")
    stack.ingest = LocalFunction("ingest")  # the function reads its settings at init: a new configuration, a cold start
    stack.put("big.txt", "words " * 400, roles=["staff"])
    stack.drain()

    record = stack.ingest.module.ingestor().registry.get(document_id(stack.settings.bucket, "big.txt"))
    assert record.status == "failed" and "over the limit" in record.error


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16"])
def test_text_in_another_encoding_is_parsed_correctly(stack, encoding):
    stack.put("café.txt", "Le café coûte 3 € à Zürich.".encode(encoding), roles=["staff"])
    stack.drain()

    ingestor = stack.ingest.module.ingestor()
    assert ingestor.registry.get(document_id(stack.settings.bucket, "café.txt")).status == "indexed"
    hits = ingestor.store.bm25_search("café Zürich", frozenset({"staff"}), 5)
    assert hits and "coûte 3 €" in hits[0].chunk.text
