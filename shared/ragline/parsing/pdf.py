"""PDF with pypdf: one section per page that has text, numbered from 1.

pypdf (and the cryptography package it loads) is imported on the first PDF, not with this module: the
ingest function imports every parser at start-up, and a batch without PDFs should not pay for it.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

from ragline.errors import UnparseableDocument
from ragline.models import ParsedDocument, Section
from ragline.parsing._common import collapse_whitespace, finish, split_paragraphs, title_from_key

if TYPE_CHECKING:
    from pypdf import PdfReader

_MAX_REASON = 80

# pypdf's warnings quote bytes of the file, and logs must never carry document content (invariant 5).
logging.getLogger("pypdf").setLevel(logging.ERROR)


def parse_pdf(key: str, data: bytes) -> ParsedDocument:
    """Pages as sections with their 1-based page number; the title is the PDF's /Title, else the file name.

    A PDF encrypted with an empty user password (restrictions only) is decrypted and parsed.
    """
    # Outside the try: a missing pypdf is a broken deployment, not an unreadable document.
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        _decrypt(reader)
        title = _metadata_title(reader)
        sections = [
            Section("\n\n".join(paragraphs), page=number)
            for number, page in enumerate(reader.pages, start=1)
            if (paragraphs := split_paragraphs(page.extract_text() or ""))
        ]
    except UnparseableDocument:
        raise
    except Exception as exc:  # malformed files surface as many exception types, not only PdfReadError
        raise UnparseableDocument(f"corrupt or unreadable PDF: {_short_reason(exc)}") from exc
    if not sections:
        raise UnparseableDocument("no extractable text (scanned PDF?)")
    return finish(title or title_from_key(key), sections)


def _decrypt(reader: PdfReader) -> None:
    """Open an encrypted PDF with the empty password, or say that it is encrypted."""
    from pypdf import PasswordType

    if not reader.is_encrypted:
        return
    try:
        opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except Exception as exc:  # e.g. DependencyError: AES needs the cryptography package
        raise UnparseableDocument("PDF is encrypted") from exc
    if not opened:
        raise UnparseableDocument("PDF is encrypted")


def _metadata_title(reader: PdfReader) -> str:
    metadata = reader.metadata
    title = metadata.title if metadata is not None else None
    return collapse_whitespace(title) if isinstance(title, str) else ""


def _short_reason(exc: Exception) -> str:
    """pypdf's own messages describe the structure; anything else is named by its type only."""
    from pypdf.errors import PyPdfError

    if isinstance(exc, PyPdfError) and str(exc).strip():
        return str(exc).strip().splitlines()[0][:_MAX_REASON]
    return type(exc).__name__
