"""DOCX with the standard library: ``word/document.xml`` read straight from the zip archive."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from xml.etree import ElementTree

from ragline.errors import UnparseableDocument
from ragline.models import ParsedDocument
from ragline.parsing._common import (
    SectionBuilder,
    clean_paragraph,
    collapse_whitespace,
    finish,
    title_from_key,
)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_HEADING_STYLE = re.compile(r"heading\s*([1-9])", re.IGNORECASE)
_TITLE_LEVEL = 0  # a "Title" paragraph sits above every Heading 1
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    KeyError,
    ElementTree.ParseError,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


def parse_docx(key: str, data: bytes) -> ParsedDocument:
    """Paragraphs and table cells under the heading path given by "Title" and "Heading N" styles.

    The title is the document's core property, else the first "Title" paragraph, else the first
    Heading 1, else the file name.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            body = ElementTree.fromstring(archive.read("word/document.xml")).find(f"{_W}body")
            core_title = _core_title(archive)
    except _ARCHIVE_ERRORS as exc:
        raise UnparseableDocument("corrupt or unreadable DOCX") from exc
    if body is None:
        raise UnparseableDocument("corrupt or unreadable DOCX")

    builder = SectionBuilder()
    styled_title = first_h1 = ""
    for level, text in _blocks(body):
        if level is None:
            builder.paragraph(text)
            continue
        heading = collapse_whitespace(text)
        if level == _TITLE_LEVEL and not styled_title:
            styled_title = heading
        if level == 1 and not first_h1:
            first_h1 = heading
        builder.heading(level, heading)
    title = core_title or styled_title or first_h1 or title_from_key(key)
    return finish(title, builder.sections())


def _core_title(archive: zipfile.ZipFile) -> str:
    """``dc:title`` from ``docProps/core.xml``; the part is optional, so a missing or broken one gives ""."""
    try:
        core = ElementTree.fromstring(archive.read("docProps/core.xml"))
    except (KeyError, ElementTree.ParseError):
        return ""
    element = core.find(_DC_TITLE)
    return collapse_whitespace(element.text or "") if element is not None else ""


def _blocks(container: ElementTree.Element) -> Iterator[tuple[int | None, str]]:
    """(heading level or None, text) for each paragraph and table cell, in document order."""
    for child in container:
        if child.tag == f"{_W}p":
            text = clean_paragraph(_paragraph_text(child))
            if text:
                yield _heading_level(child), text
        elif child.tag == f"{_W}tbl":
            yield from ((None, text) for text in _cell_texts(child))
        elif child.tag == f"{_W}sdt":  # content controls wrap ordinary paragraphs and tables
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                yield from _blocks(content)


def _cell_texts(table: ElementTree.Element) -> Iterator[str]:
    """The text of each cell, row by row; a table nested in a cell follows that cell's own text."""
    for cell in table.iterfind(f"{_W}tr/{_W}tc"):
        paragraphs = (clean_paragraph(_paragraph_text(p)) for p in cell.iterfind(f"{_W}p"))
        text = "\n".join(p for p in paragraphs if p)
        if text:
            yield text
        for nested in cell.iterfind(f"{_W}tbl"):
            yield from _cell_texts(nested)


def _paragraph_text(paragraph: ElementTree.Element) -> str:
    """Text runs of a paragraph; tabs become spaces and breaks new lines. Deleted text is skipped."""
    parts: list[str] = []
    for element in paragraph.iter():
        if element.tag == f"{_W}t":
            parts.append(element.text or "")
        elif element.tag == f"{_W}tab":
            parts.append(" ")
        elif element.tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
    return "".join(parts)


def _heading_level(paragraph: ElementTree.Element) -> int | None:
    style = paragraph.find(f"{_W}pPr/{_W}pStyle")
    style_id = style.get(f"{_W}val", "") if style is not None else ""
    if style_id.lower() == "title":
        return _TITLE_LEVEL
    match = _HEADING_STYLE.fullmatch(style_id)
    return int(match.group(1)) if match else None
