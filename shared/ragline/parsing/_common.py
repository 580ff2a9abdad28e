"""Helpers shared by the format parsers: decoding, titles, paragraph clean-up and section building."""

from __future__ import annotations

import codecs
import re
from pathlib import PurePosixPath

from ragline.errors import UnparseableDocument
from ragline.models import ParsedDocument, Section

_BLANK_LINE = re.compile(r"\n[ \t\f\v\r]*\n")
_HORIZONTAL_SPACE = re.compile(r"[ \t\f\v\u00a0]+")
_STEM_SEPARATORS = re.compile(r"[\s_\-]+")
_WHITESPACE_CONTROLS = frozenset("\t\n\r\f\v")
# Above this share of control characters, "text" that decoded without NUL bytes is still binary.
_MAX_CONTROL_RATIO = 0.05


def title_from_key(key: str) -> str:
    """A readable title from an object key: ``"reports/q3-report.pdf"`` gives ``"q3 report"``."""
    stem = PurePosixPath(key).stem
    return _STEM_SEPARATORS.sub(" ", stem).strip() or stem


def decode_text(data: bytes) -> str:
    """Decode a text file: UTF-8 (BOM stripped), UTF-16 with a BOM, else cp1252, else latin-1.

    Line endings come back as ``"\\n"``. Raises :class:`UnparseableDocument` for binary content.
    """
    if data.startswith(codecs.BOM_UTF8):
        text = data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    else:
        if b"\x00" in data:
            raise UnparseableDocument("binary content in a text file")
        text = _decode_without_bom(data)
    if _looks_binary(text):
        raise UnparseableDocument("binary content in a text file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_without_bom(data: bytes) -> str:
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    controls = sum(
        1
        for char in text
        if (ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0) and char not in _WHITESPACE_CONTROLS
    )
    return bool(text) and controls / len(text) > _MAX_CONTROL_RATIO


def clean_paragraph(text: str) -> str:
    """Collapse runs of spaces, trim every line and drop empty lines; line breaks are kept."""
    lines = (_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of plain text: runs of lines separated by blank lines, each cleaned."""
    paragraphs = (clean_paragraph(block) for block in _BLANK_LINE.split(text))
    return [paragraph for paragraph in paragraphs if paragraph]


def collapse_whitespace(text: str) -> str:
    """All whitespace, line breaks included, as single spaces: for headings and titles."""
    return " ".join(text.split())


class SectionBuilder:
    """Collects paragraphs under the current heading path and emits one section per heading change.

    Headings are nested by level: a heading closes every open heading of the same or a deeper level.
    """

    def __init__(self) -> None:
        self._headings: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []
        self._sections: list[Section] = []

    @property
    def heading_path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._headings)

    def heading(self, level: int, text: str) -> None:
        """Start a new section under ``text`` at ``level`` (smaller is higher up)."""
        text = collapse_whitespace(text)
        if not text:
            return
        self._flush()
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))

    def paragraph(self, text: str) -> None:
        """Add a paragraph (ignored when blank) to the current section."""
        if text.strip():
            self._paragraphs.append(text.strip())

    def sections(self) -> list[Section]:
        """Every section so far, the open one included."""
        self._flush()
        return list(self._sections)

    def _flush(self) -> None:
        if self._paragraphs:
            self._sections.append(Section("\n\n".join(self._paragraphs), self.heading_path))
            self._paragraphs = []


MAX_TITLE_CHARS = 300  # a title is copied into every chunk and the registry: keep it a title


def finish(title: str, sections: list[Section]) -> ParsedDocument:
    """The parsed document, without empty sections; raises when no text is left at all."""
    kept = [section for section in sections if section.text.strip()]
    if not kept:
        raise UnparseableDocument("no text found")
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return ParsedDocument(title=title, sections=kept)
