"""ragline ingest's progress output (ragline.local.ingest_progress) on a fake stack client (tests only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ragline.local.client import Upload
from ragline.local.ingest_progress import ingest_with_progress
from ragline.models import DocumentRecord, IndexingProgress


@dataclass
class FakeEndpoints:
    bucket: str = "ragline-documents"


@dataclass
class FakeStackClient:
    """Uploads nothing; its wait reports progress through one large document, then its record."""

    endpoints: FakeEndpoints = field(default_factory=FakeEndpoints)

    def upload(self, path: Path, key: str, roles: list[str] | None) -> Upload:
        return Upload(path, key, doc_id="d" * 24, version="v1")

    def wait(
        self,
        uploads: list[Upload],
        timeout: float,
        on_settled: Callable[[Upload, DocumentRecord], None],
        on_progress: Callable[[Upload, IndexingProgress], None] | None = None,
    ) -> dict[str, DocumentRecord | None]:
        (upload,) = uploads
        assert on_progress is not None
        for done in (64, 128, 192):
            on_progress(upload, IndexingProgress(done, 200))
        record = DocumentRecord(upload.doc_id, "ragline-documents", upload.key, "indexed", chunk_count=200)
        on_settled(upload, record)
        return {upload.key: record}


def test_a_large_document_shows_how_many_of_its_chunks_are_embedded(tmp_path, capsys):
    failed = ingest_with_progress(FakeStackClient(), [(tmp_path / "big.txt", "big.txt")], ["finance"])  # type: ignore[arg-type]

    err = capsys.readouterr().err
    assert failed == []
    assert "big.txt: 192/200 chunks embedded" in err
    assert "indexed 1 document(s), 200 chunk(s); 0 failed" in err
