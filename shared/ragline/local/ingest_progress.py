"""Upload files and wait for the registry's verdict on each, with a progress bar."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from ragline.access import is_sidecar
from ragline.local.client import StackClient, Upload
from ragline.models import DocumentRecord, IndexingProgress


def ingest_with_progress(
    client: StackClient, files: list[tuple[Path, str]], roles: list[str] | None, wait: bool = True, timeout: float = 600
) -> list[str]:
    """Uploads ``(path, key)`` pairs; returns the keys that failed (or timed out)."""
    uploads = [client.upload(path, key, roles) for path, key in files]
    documents = [upload for upload in uploads if not is_sidecar(upload.key)]
    print(f"uploaded {len(uploads)} file(s) to s3://{client.endpoints.bucket}:", file=sys.stderr)
    for upload in uploads:
        print(f"  {upload.key}", file=sys.stderr)
    if not wait:
        return []
    failed: list[str] = []
    with tqdm(total=len(documents), desc="indexing", unit="doc", file=sys.stderr) as bar:

        def settled(upload: Upload, record: DocumentRecord) -> None:
            bar.update(1)
            if record.status == "failed":
                failed.append(upload.key)
                bar.write(f"failed: {upload.key}: {record.error}", file=sys.stderr)

        def progressed(upload: Upload, progress: IndexingProgress) -> None:
            # Within a large document: how many of its chunks are embedded.
            bar.set_postfix_str(f"{upload.key}: {progress.done}/{progress.total} chunks embedded", refresh=True)

        results = client.wait(documents, timeout=timeout, on_settled=settled, on_progress=progressed)
    timed_out = [key for key, record in results.items() if record is None]
    for key in timed_out:
        print(f"timed out: {key} was not indexed within {timeout:.0f} s", file=sys.stderr)
    indexed = [r for r in results.values() if r is not None and r.status == "indexed"]
    chunks = sum(record.chunk_count for record in indexed)
    print(
        f"indexed {len(indexed)} document(s), {chunks} chunk(s); {len(failed) + len(timed_out)} failed", file=sys.stderr
    )
    return failed + timed_out
