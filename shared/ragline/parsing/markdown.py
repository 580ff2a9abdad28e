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

# Every pattern is linear in the line or paragraph it reads: a character class never overlaps the
# token after it, and a span stops at the next place its own pattern could start, so the attempts made
# from successive starting points never re-read the same text (lazy or unbounded spans over long lines
# full of "[", "<http:" or " \t#" took quadratic time).
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*)|[ \t]*)")  # the closing "#"s are removed by _atx_text
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*+\1){2,}+[ \t]*+$")
_LINK_TEXT = r"[^\[\]]"  # link text never holds a bracket, so it stops at the next "[" that may open one
_DESTINATION = r"[^()]*+(?:\([^()]*+\)[^()]*+)*+"  # one level of balanced parentheses, as in Wikipedia URLs


def _emphasis(opener: str, before: str = "", after: str = "") -> re.Pattern[str]:
    """Emphasis between two ``opener`` delimiters (a regex); the text may not cross another opener.

    Spans are bounded (300 characters) as before; not crossing an opener keeps a long line of unmatched
    markers linear rather than 300 steps per marker.
    """
    start = f"{before}{opener}(?=\\S)"
    return re.compile(f"{start}((?:(?!{start}).){{1,300}}?)(?<=\\S){opener}{after}")


_INLINE = (
    (re.compile(rf"!\[({_LINK_TEXT}*+)\]\({_DESTINATION}\)"), r"\1"),  # images keep their alt text
    (re.compile(rf"\[({_LINK_TEXT}++)\]\({_DESTINATION}\)"), r"\1"),  # [text](url)
    (re.compile(rf"\[({_LINK_TEXT}++)\]\[{_LINK_TEXT}*+\]"), r"\1"),  # [text][ref]
    (re.compile(r"<((?:https?|mailto):[^<>\s]++)>"), r"\1"),  # <https://autolink>
    (re.compile(r"`([^`]++)`"), r"\1"),
    (_emphasis(r"\*\*"), r"\1"),
    (_emphasis("__"), r"\1"),
    (_emphasis(r"\*", before=r"(?<![\w*])", after=r"(?![\w*])"), r"\1"),
    (_emphasis("_", before=r"(?<![\w_])", after=r"(?![\w_])"), r"\1"),
    (_emphasis("~~"), r"\1"),
)
# Inline syntax starts with one of these; most lines (and most headings) have none, and skip the patterns.
_INLINE_MARKERS = re.compile(r"[!\[<`*_~]")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+")
_BLOCK_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)*(?:[-*+][ \t]+)?")  # quote markers and list bullets


def strip_inline(text: str) -> str:
    """Markdown inline syntax (emphasis, links, images, code spans) reduced to its text."""
    if not _INLINE_MARKERS.search(text):
        return text
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


def _atx_text(raw: str) -> str:
    """An ATX heading's text without its optional closing sequence of "#"s (which needs a space before it)."""
    text = raw.rstrip(" \t")
    bare = text.rstrip("#")
    if not bare or bare[-1] in " \t":
        return bare.rstrip(" \t")
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
        atx = _ATX.fullmatch(line)
        if atx:
            self._end_paragraph()
            self._heading(len(atx.group(1)), _atx_text(atx.group(2) or ""))
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
