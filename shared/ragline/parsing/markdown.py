"""Markdown: ATX and setext headings build the heading path; inline syntax is stripped lightly."""

from __future__ import annotations

import re

from ragline.models import ParsedDocument
from ragline.parsing._common import (
    SectionBuilder,
    clean_paragraph,
    collapse_whitespace,
    decode_text,
    finish,
    title_from_key,
)

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))??(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")

_INLINE = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images keep their alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url)
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),  # <https://autolink>
    (re.compile(r"`([^`]+)`"), r"\1"),
    # Emphasis spans are bounded (300 characters): unbounded lazy spans go quadratic on long lines
    # full of unmatched markers.
    (re.compile(r"(\*\*|__)(?=\S)(.{1,300}?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.{1,300}?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=\S)(.{1,300}?)(?<=\S)_(?![\w_])"), r"\1"),
    (re.compile(r"~~(?=\S)(.{1,300}?)(?<=\S)~~"), r"\1"),
)
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+")
_BLOCK_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)*(?:[-*+][ \t]+)?")  # quote markers and list bullets


def strip_inline(text: str) -> str:
    """Markdown inline syntax (emphasis, links, images, code spans) reduced to its text."""
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


def parse_markdown(key: str, data: bytes) -> ParsedDocument:
    """Sections under the heading path in force; the first H1 is the title, else the file name."""
    parser = _MarkdownParser()
    parser.feed(decode_text(data).split("\n"))
    return finish(parser.title or title_from_key(key), parser.builder.sections())


class _MarkdownParser:
    """A line-based reader: just enough Markdown to find headings, paragraphs and code blocks."""

    def __init__(self) -> None:
        self.builder = SectionBuilder()
        self.title = ""
        self._lines: list[str] = []

    def feed(self, lines: list[str]) -> None:
        fence: str | None = None
        code: list[str] = []
        for line in lines:
            if fence is not None:
                if line.strip().startswith(fence):
                    self.builder.paragraph("\n".join(code).strip("\n"))
                    fence, code = None, []
                else:
                    code.append(line.rstrip())
                continue
            fence_match = _FENCE.match(line)
            if fence_match:
                self._end_paragraph()
                fence = fence_match.group(1)
            else:
                self._line(line)
        if fence is not None:  # an unclosed fence runs to the end of the document
            self.builder.paragraph("\n".join(code).strip("\n"))
        self._end_paragraph()

    def _line(self, line: str) -> None:
        setext = _SETEXT.match(line)
        if setext and self._lines:
            text = collapse_whitespace(" ".join(self._lines))
            self._lines = []
            self._heading(1 if setext.group(1).startswith("=") else 2, text)
            return
        atx = _ATX.match(line)
        if atx:
            self._end_paragraph()
            self._heading(len(atx.group(1)), atx.group(2) or "")
        elif not line.strip() or _THEMATIC_BREAK.match(line):
            self._end_paragraph()
        elif not _LINK_DEFINITION.match(line):
            self._lines.append(_BLOCK_PREFIX.sub("", line))

    def _heading(self, level: int, raw: str) -> None:
        text = collapse_whitespace(strip_inline(raw))
        if level == 1 and text and not self.title:
            self.title = text
        self.builder.heading(level, text)

    def _end_paragraph(self) -> None:
        if self._lines:
            self.builder.paragraph(clean_paragraph(strip_inline("\n".join(self._lines))))
            self._lines = []
