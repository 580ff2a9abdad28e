"""Helpers shared by the format parsers: decoding, titles, paragraph clean-up and section building."""

from __future__ import annotations

import codecs
import re
from pathlib import PurePosixPath

from ragline.errors import UnparseableDocument
from ragline.models import ParsedDocument, Section

_BLANK_LINE = re.compile(r"\n(?:[ \t\f\v\r]*+\n)++")  # a run of blank lines splits once
_HORIZONTAL_SPACE = re.compile(r"[ \t\f\v\u00a0]+")
_STEM_SEPARATORS = re.compile(r"[\s_\-]+")
# C0 and C1 control characters other than the whitespace ones (\t \n \v \f \r).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
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
    # The regex finds the (rare) control characters; a Python loop over every character of a large text
    # file would cost seconds. Counting stops as soon as the share is exceeded.
    limit = int(len(text) * _MAX_CONTROL_RATIO)
    return any(count > limit for count, _ in enumerate(_CONTROL.finditer(text), start=1))


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


MAX_TITLE_CHARS = 300  # a title is copied into every chunk and the registry: keep it a title
# Each heading of a chunk's path is embedded with it (Chunk.indexed_text), and a path is at most ten
# levels deep (DOCX: Title and Heading 1-9), so a whole line of text marked as a heading stays short.
MAX_HEADING_CHARS = 300


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
        """Start a new section under ``text`` at ``level`` (smaller is higher up); ``text`` is cut to
        :data:`MAX_HEADING_CHARS`."""
        text = shorten(collapse_whitespace(text), MAX_HEADING_CHARS)
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


def finish(title: str, sections: list[Section]) -> ParsedDocument:
    """The parsed document, without empty sections; raises when no text is left at all."""
    kept = [section for section in sections if section.text.strip()]
    if not kept:
        raise UnparseableDocument("no text found")
    return ParsedDocument(title=shorten(title, MAX_TITLE_CHARS), sections=kept)


def shorten(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else cut to that with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
