"""Deterministic identifiers: the same bucket and key give the same document, the same version the same chunks."""

from __future__ import annotations

import hashlib
import re

_DOCUMENT_ID = re.compile(r"[0-9a-f]{24}")


def document_id(bucket: str, key: str) -> str:
    """Stable for a bucket and key, so a re-upload replaces the document.

    >>> document_id("docs", "reports/q3.pdf") == document_id("docs", "reports/q3.pdf")
    True
    """
    return hashlib.blake2b(f"{bucket}/{key}".encode(), digest_size=12).hexdigest()


def is_document_id(value: str) -> bool:
    """Whether ``value`` has the shape :func:`document_id` gives (24 hex digits).

    >>> is_document_id(document_id("docs", "a.md")), is_document_id("../etc")
    (True, False)
    """
    return _DOCUMENT_ID.fullmatch(value) is not None


def chunk_id(doc_id: str, version: str, position: int) -> str:
    """Stable for a document version and position: re-indexing the same version overwrites, never duplicates."""
    version_tag = hashlib.blake2b(version.encode(), digest_size=4).hexdigest()
    return f"{doc_id}-{version_tag}-{position:05d}"
