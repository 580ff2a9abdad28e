"""Structure-aware chunking: whole paragraphs under one heading path, packed up to a token budget.

A chunk never mixes two heading paths, nor two pages, so every citation's page is exact. Paragraphs are packed whole while they fit; a paragraph that
is too long on its own is split into sentences, and a sentence that is too long into word windows.
Each chunk after the first under a heading path starts with the last sentences of the one before
(at most ``overlap`` tokens), so a passage cut at a chunk boundary still reads in context.
Token counts are :func:`ragline.text.count_tokens`; every chunk is at most ``max_tokens`` of them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from ragline.models import ParsedDocument, Section
from ragline.text import count_tokens, split_sentences, tokens

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class _Piece:
    """A whole paragraph, a sentence or a word window, with the paragraph it came from."""

    text: str
    tokens: int
    paragraph: int
    page: int | None


def chunk_document(parsed: ParsedDocument, max_tokens: int = 220, overlap: int = 40) -> list[Section]:
    """Chunk drafts of ``parsed`` as sections: text, heading path and page.

    Consecutive sections with the same heading path and page are packed together.
    Raises ``ValueError`` unless ``max_tokens > 0`` and ``0 <= overlap < max_tokens``.
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if not 0 <= overlap < max_tokens:
        raise ValueError(f"overlap must be at least 0 and below max_tokens ({max_tokens}), got {overlap}")
    chunks: list[Section] = []
    for (heading_path, page), sections in itertools.groupby(parsed.sections, key=lambda s: (s.heading_path, s.page)):
        packer = _Packer(max_tokens, overlap)
        for piece in _pieces(sections, max_tokens):
            packer.add(piece)
        chunks.extend(
            Section(_render(pieces), heading_path, page)
            for pieces in packer.chunks()
            if any(_WORD.search(piece.text) for piece in pieces)
        )
    return chunks


def _pieces(sections: Iterable[Section], max_tokens: int) -> Iterator[_Piece]:
    """The paragraphs of ``sections`` as pieces of at most ``max_tokens`` tokens each."""
    paragraphs = (
        (paragraph.strip(), section.page)
        for section in sections
        for paragraph in _PARAGRAPH_BREAK.split(section.text)
        if paragraph.strip()
    )
    for index, (paragraph, page) in enumerate(paragraphs):
        size = count_tokens(paragraph)
        if size <= max_tokens:
            yield _Piece(paragraph, size, index, page)
            continue
        for sentence in split_sentences(paragraph):
            for text in _fit(sentence, max_tokens):
                yield _Piece(text, count_tokens(text), index, page)


def _fit(sentence: str, max_tokens: int) -> list[str]:
    """``sentence`` itself if it fits, else windows of whole words (a word too long is cut between tokens)."""
    if count_tokens(sentence) <= max_tokens:
        return [sentence]
    atoms: list[tuple[str, int, bool]] = []  # (text, tokens, joins the previous atom without a space)
    for word in sentence.split():
        size = count_tokens(word)
        if size <= max_tokens:
            atoms.append((word, size, False))
        else:
            atoms.extend((token, 1, index > 0) for index, token in enumerate(tokens(word)))
    windows: list[str] = []
    window, used = "", 0
    for text, size, glued in atoms:
        if window and used + size > max_tokens:
            windows.append(window)
            window, used = "", 0
        window += text if glued or not window else f" {text}"
        used += size
    if window:
        windows.append(window)
    return windows


class _Packer:
    """Greedy packing of pieces into chunks, carrying trailing sentences over as overlap."""

    def __init__(self, max_tokens: int, overlap: int) -> None:
        self._max_tokens = max_tokens
        self._overlap = overlap
        self._done: list[list[_Piece]] = []
        self._current: list[_Piece] = []
        self._used = 0

    def add(self, piece: _Piece) -> None:
        """Append ``piece`` (never larger than the budget), starting a new chunk when it does not fit."""
        if self._current and self._used + piece.tokens > self._max_tokens:
            self._done.append(self._current)
            budget = min(self._overlap, self._max_tokens - piece.tokens)
            self._current = _trailing_sentences(self._current, budget)
            self._used = sum(carried.tokens for carried in self._current)
        self._current.append(piece)
        self._used += piece.tokens

    def chunks(self) -> list[list[_Piece]]:
        return [*self._done, self._current] if self._current else list(self._done)


def _trailing_sentences(pieces: list[_Piece], budget: int) -> list[_Piece]:
    """The last whole sentences of ``pieces`` that total at most ``budget`` tokens."""
    carried: list[_Piece] = []
    for piece in reversed(pieces):
        for sentence in reversed(split_sentences(piece.text)):
            size = count_tokens(sentence)
            if size > budget:
                return carried
            carried.insert(0, replace(piece, text=sentence, tokens=size))
            budget -= size
    return carried


def _render(pieces: list[_Piece]) -> str:
    """Pieces of one paragraph joined by spaces, paragraphs by blank lines."""
    parts: list[str] = []
    for previous, piece in zip([None, *pieces], pieces):
        if previous is not None:
            parts.append(" " if previous.paragraph == piece.paragraph else "\n\n")
        parts.append(piece.text)
    return "".join(parts)


STRATEGIES = ("structure", "fixed", "parent-child")


def chunk_fixed(parsed: ParsedDocument, max_tokens: int = 220, overlap: int = 40) -> list[Section]:
    """The baseline: windows of whole words over the document's text, blind to paragraphs, headings and
    pages (a window keeps the page where it starts)."""
    if max_tokens <= 0 or not 0 <= overlap < max_tokens:
        raise ValueError("need max_tokens > 0 and 0 <= overlap < max_tokens")
    words = [(word, count_tokens(word), section.page) for section in parsed.sections for word in section.text.split()]
    chunks: list[Section] = []
    start = 0
    while start < len(words):
        end, used = start, 0
        while end < len(words) and (end == start or used + words[end][1] <= max_tokens):
            used += words[end][1]
            end += 1
        chunks.append(Section(" ".join(word for word, _, _ in words[start:end]), (), words[start][2]))
        if end == len(words):
            break
        back, carried = end, 0
        while back - 1 > start and carried + words[back - 1][1] <= overlap:
            back -= 1
            carried += words[back][1]
        start = back
    return chunks


def chunk_parent_child(
    parsed: ParsedDocument, max_tokens: int = 100, overlap: int = 20, parent_tokens: int = 600
) -> list[Section]:
    """Small chunks to search, each carrying the larger structure-aware chunk it sits in as ``context``,
    for the generator to read. A parent that fits in one child is its own chunk, with no context."""
    if parent_tokens <= max_tokens:
        raise ValueError("parent_tokens must be larger than max_tokens")
    children: list[Section] = []
    for parent in chunk_document(parsed, parent_tokens, 0):
        alone = ParsedDocument(parsed.title, [Section(parent.text, parent.heading_path, parent.page)])
        pieces = chunk_document(alone, max_tokens, overlap)
        context = parent.text if len(pieces) > 1 else ""
        children.extend(replace(piece, context=context) for piece in pieces)
    return children


def chunk(
    parsed: ParsedDocument, strategy: str, max_tokens: int, overlap: int, parent_tokens: int = 600
) -> list[Section]:
    """Chunk drafts of ``parsed`` by ``strategy``: ``structure`` (:func:`chunk_document`), ``fixed``
    (:func:`chunk_fixed`) or ``parent-child`` (:func:`chunk_parent_child`)."""
    if strategy == "structure":
        return chunk_document(parsed, max_tokens, overlap)
    if strategy == "fixed":
        return chunk_fixed(parsed, max_tokens, overlap)
    if strategy == "parent-child":
        return chunk_parent_child(parsed, max_tokens, overlap, parent_tokens)
    raise ValueError(f"unknown chunking strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
