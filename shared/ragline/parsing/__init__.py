"""Turn an uploaded document into a title and sections of text, by file type.

>>> parse_document("notes/q3-report.txt", b"Revenue grew.").title
'q3 report'
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from ragline.errors import UnparseableDocument
from ragline.models import ParsedDocument
from ragline.parsing.docx import parse_docx
from ragline.parsing.html import parse_html
from ragline.parsing.markdown import parse_markdown
from ragline.parsing.pdf import parse_pdf
from ragline.parsing.text import parse_text

Parser = Callable[[str, bytes], ParsedDocument]

PARSERS: dict[str, Parser] = {
    ".txt": parse_text,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".html": parse_html,
    ".htm": parse_html,
    ".pdf": parse_pdf,
    ".docx": parse_docx,
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(sorted(PARSERS))

__all__ = ["PARSERS", "SUPPORTED_EXTENSIONS", "parse_document"]


def parse_document(key: str, data: bytes) -> ParsedDocument:
    """Parse ``data`` by the extension of ``key`` (case-insensitive).

    Raises :class:`~ragline.errors.UnparseableDocument` with a short reason for unsupported types,
    empty files and anything that yields no text.
    """
    extension = PurePosixPath(key).suffix.lower()
    parser = PARSERS.get(extension)
    if parser is None:
        named = f"'{extension}'" if extension else "(no extension)"
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        raise UnparseableDocument(f"unsupported file type {named}; supported: {supported}")
    if not data:
        raise UnparseableDocument("empty document")
    return parser(key, data)
