"""Plain text: paragraphs separated by blank lines, titled after the file name."""

from __future__ import annotations

from ragline.models import ParsedDocument, Section
from ragline.parsing._common import decode_text, finish, split_paragraphs, title_from_key


def parse_text(key: str, data: bytes) -> ParsedDocument:
    """One section holding every paragraph, separated by blank lines."""
    paragraphs = split_paragraphs(decode_text(data))
    sections = [Section("\n\n".join(paragraphs))] if paragraphs else []
    return finish(title_from_key(key), sections)
