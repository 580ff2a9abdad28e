"""HTML with the standard library's parser: headings build the path, block elements end paragraphs."""

from __future__ import annotations

from html.parser import HTMLParser

from ragline.models import ParsedDocument
from ragline.parsing._common import (
    SectionBuilder,
    clean_paragraph,
    collapse_whitespace,
    decode_text,
    finish,
    title_from_key,
)

_SKIPPED = frozenset({"script", "style", "noscript", "nav", "header", "footer", "template"})
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt",
        "figcaption", "figure", "form", "hr", "li", "main", "ol", "p", "pre", "section", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip


def parse_html(key: str, data: bytes) -> ParsedDocument:
    """Sections per heading; the title is ``<title>``, else the first ``<h1>``, else the file name."""
    extractor = _Extractor()
    extractor.feed(decode_text(data))
    extractor.close()
    title = extractor.title or extractor.first_h1 or title_from_key(key)
    return finish(title, extractor.builder.sections())


class _Extractor(HTMLParser):
    """Collects visible text; entities are unescaped by the parser itself (``convert_charrefs``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = SectionBuilder()
        self.title = ""
        self.first_h1 = ""
        self._skip_depth = 0
        self._pre_depth = 0
        self._in_title = False
        self._title_parts: list[str] = []
        self._heading: tuple[int, list[str]] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip_depth += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _HEADINGS and not self._skip_depth:
            self._end_paragraph()
            self._heading = (_HEADINGS[tag], [])
        elif tag in _BLOCKS:
            self._end_paragraph()
            if tag == "pre":
                self._pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag == "title":
            self._in_title = False
            self.title = self.title or collapse_whitespace("".join(self._title_parts))
        elif tag in _HEADINGS and self._heading is not None:
            self._end_heading()
        elif tag in _BLOCKS:
            self._end_paragraph()
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)
        elif self._skip_depth:
            return
        elif self._heading is not None:
            self._heading[1].append(data)
        else:
            self._text.append(data if self._pre_depth else " ".join(data.split("\n")))

    def close(self) -> None:
        super().close()
        if self._heading is not None:
            self._end_heading()
        self._end_paragraph()

    def _end_heading(self) -> None:
        assert self._heading is not None
        level, parts = self._heading
        self._heading = None
        text = collapse_whitespace("".join(parts))
        if level == 1 and text and not self.first_h1:
            self.first_h1 = text
        self.builder.heading(level, text)

    def _end_paragraph(self) -> None:
        if self._text:
            self.builder.paragraph(clean_paragraph("".join(self._text)))
            self._text = []
