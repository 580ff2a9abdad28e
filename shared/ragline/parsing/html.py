"""HTML with a small tokenizer of its own: headings build the path, block elements end paragraphs.

The standard library's ``HTMLParser`` takes quadratic time on malformed markup (100 KB of ``"<a "`` took
minutes, of ``"<!--"`` seconds): it re-scans the rest of the document from every ``<`` it cannot close.
This tokenizer follows the HTML standard instead, which reads every character once: a tag, comment or
declaration that is never closed runs to the end of the document, as in a browser.
"""

from __future__ import annotations

import html
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

_SKIPPED = frozenset({"script", "style", "noscript", "nav", "header", "footer", "template"})
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt",
        "figcaption", "figure", "form", "hr", "li", "main", "ol", "p", "pre", "section", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_MARKUP = re.compile(r"<[A-Za-z/!?]")  # a tag, end tag, comment, declaration or processing instruction
_TAG_NAME = re.compile(r"[A-Za-z][^\t\n\f\r />]*")
# Inside a tag only ">" ends it, and a quote only opens a value right after "=".
_TAG_STOP = re.compile(r"""=[\t\n\f\r ]*(["'])|>""")
# Their content is text, not markup, up to their end tag; both are skipped.
_RAW_TEXT_END = {name: re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE) for name in ("script", "style")}
# html.unescape turns a numeric reference's digits into an int, which raises ValueError past 4,300
# decimal digits (and takes quadratic time up to there): long ones are shortened first.
_NUMERIC_REFERENCE = re.compile(r"&#(?:([xX])([0-9a-fA-F]++)|([0-9]++))(;?)")
_MAX_HEX_DIGITS, _MAX_DECIMAL_DIGITS = 6, 7  # one more is past U+10FFFF, which a browser reads as U+FFFD


def parse_html(key: str, data: bytes) -> ParsedDocument:
    """Sections per heading; the title is ``<title>``, else the first ``<h1>``, else the file name."""
    extractor = _Extractor()
    _tokenize(decode_text(data), extractor)
    extractor.close()
    title = extractor.title or extractor.first_h1 or title_from_key(key)
    return finish(title, extractor.builder.sections())


def _tokenize(text: str, extractor: _Extractor) -> None:
    """Feed ``text`` to ``extractor`` as text, start tags and end tags; comments and declarations go."""
    position = 0  # where the text not yet reported starts
    # A "<" that opens no markup ("a < b") stays in the text, and needs no call of its own.
    while (opening := _MARKUP.search(text, position)) is not None:
        if opening.start() > position:
            extractor.handle_data(text[position : opening.start()])
        position = _markup(text, opening.start(), extractor)
    if position < len(text):
        extractor.handle_data(text[position:])


def _markup(text: str, opening: int, extractor: _Extractor) -> int:
    """Read the markup at ``text[opening] == "<"``, reporting its tag; returns where the text goes on."""
    after = opening + 1
    if text.startswith("!--", after):
        return _comment_end(text, after + 3)
    if text.startswith(("!", "?"), after):  # a declaration, CDATA or processing instruction
        return _past(text, ">", after)
    if text.startswith("/", after):
        name = _TAG_NAME.match(text, after + 1)
        if name is None:  # "</>" is dropped, "</3" and the like are bogus comments
            return after + 2 if text.startswith(">", after + 1) else _past(text, ">", after)
        end = _tag_end(text, name.end())
        if end is None:  # a tag still open at the end of the document is dropped
            return len(text)
        extractor.handle_endtag(name.group().lower())
        return end
    name = _TAG_NAME.match(text, after)
    assert name is not None  # _MARKUP found a letter after the "<"
    return _start_tag(text, name.group().lower(), name.end(), extractor)


def _start_tag(text: str, tag: str, name_end: int, extractor: _Extractor) -> int:
    """Report a start tag (and the end of a self-closing one); script and style skip to their end tag."""
    end = _tag_end(text, name_end)
    if end is None:
        return len(text)
    extractor.handle_starttag(tag)
    if text[end - 2] == "/":  # <br/>: opened and closed at once, as HTMLParser reports it
        extractor.handle_endtag(tag)
        return end
    raw_text_end = _RAW_TEXT_END.get(tag)
    if raw_text_end is None:
        return end
    closing = raw_text_end.search(text, end)
    return closing.start() if closing else len(text)


def _tag_end(text: str, position: int) -> int | None:
    """Just past the ">" that ends the tag whose attributes start at ``position``; None if it never ends."""
    while (stop := _TAG_STOP.search(text, position)) is not None:
        quote = stop.group(1)
        if quote is None:
            return stop.end()
        closing = text.find(quote, stop.end())
        if closing < 0:
            return None
        position = closing + 1
    return None


def _comment_end(text: str, position: int) -> int:
    """Just past the "-->" of a comment whose text starts at ``position``; "<!-->" and "<!--->" are empty."""
    if text.startswith(">", position):
        return position + 1
    if text.startswith("->", position):
        return position + 2
    return _past(text, "-->", position)


def _past(text: str, marker: str, position: int) -> int:
    """Just past the next ``marker`` from ``position``, or the end of ``text`` when there is none."""
    found = text.find(marker, position)
    return len(text) if found < 0 else found + len(marker)


def _unescape(text: str) -> str:
    """Character references resolved, as a browser does."""
    if "&" not in text:
        return text
    return html.unescape(_NUMERIC_REFERENCE.sub(_short_reference, text))


def _short_reference(match: re.Match[str]) -> str:
    """A numeric reference without leading zeros, or U+FFFD for one past the last code point."""
    hex_mark, hex_digits, decimal_digits, semicolon = match.groups()
    digits = (hex_digits or decimal_digits).lstrip("0") or "0"
    if len(digits) > (_MAX_HEX_DIGITS if hex_mark else _MAX_DECIMAL_DIGITS):
        return "\ufffd"
    return f"&#{hex_mark or ''}{digits}{semicolon}"


class _Extractor:
    """Collects visible text from the tokenizer's text and tags (names lower-cased)."""

    def __init__(self) -> None:
        self.builder = SectionBuilder()
        self.title = ""
        self.first_h1 = ""
        self._skip_depth = 0
        self._pre_depth = 0
        self._in_title = False
        self._title_parts: list[str] = []
        self._heading: tuple[int, list[str]] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str) -> None:
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
        if self._skip_depth and not self._in_title:
            return
        data = _unescape(data)
        if self._in_title:
            self._title_parts.append(data)
        elif self._heading is not None:
            self._heading[1].append(data)
        else:
            self._text.append(data if self._pre_depth else " ".join(data.split("\n")))

    def close(self) -> None:
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
