"""Structure-aware chunking: whole paragraphs under one heading path, packed up to a token budget.

A chunk never mixes two heading paths, nor two pages, so every citation's page is exact. Paragraphs are
packed whole while they fit; a paragraph that is too long on its own is split into sentences, and a
sentence that is too long into word windows. Each chunk after the first under a heading path starts
with the last sentences of the one before (at most ``overlap`` tokens), so a passage cut at a chunk
boundary still reads in context. Token counts are :func:`ragline.words.count_tokens`; every chunk is
at most ``max_tokens`` of them, and at most :data:`MAX_CHUNK_CHARS` characters whatever the strategy: a
word longer than either budget (a base64 blob, a sentence of Japanese) is cut between its tokens.

Every step is linear in the length of the document: a long run is cut a window of tokens at a time by
one regex match, and no text is re-scanned or re-joined as a chunk grows.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import NamedTuple

from ragline.models import ParsedDocument, Section
from ragline.settings import CHUNKINGS, Chunking
from ragline.words import TOKEN, TOKEN_PATTERN, count_tokens, joins_unspaced, split_sentences

#: No chunk's text, nor a parent-child chunk's ``context``, is longer than this many characters.
#:
#: A backstop for text whose token count understates its length; prose meets the token budget first.
#: At the default 220 tokens an English chunk is about 1,300 characters, so the bound binds prose only
#: past some 1,200 tokens, four times what MiniLM's 256-wordpiece window can embed. Titan Text Embeddings v2
#: refuses inputs over 50,000 characters or 8,192 tokens: 8,000 characters, with the title and heading
#: path that :meth:`ragline.models.Chunk.indexed_text` adds (a few hundred characters; the parsers cap
#: each heading), is far below the first and, even at one model token per character (CJK, symbols),
#: about at the second.
MAX_CHUNK_CHARS = 8_000

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_WORD = re.compile(r"\w")
_NON_SPACE = re.compile(r"\S+")
# What joins two pieces of a chunk ("\n\n" between paragraphs), counted at its longest: the character
# bound is checked before the chunk is rendered.
_SEPARATOR_CHARS = 2


class _Piece(NamedTuple):  # a tuple, quicker to build than a dataclass: a hostile paragraph makes many
    """A whole paragraph, a sentence or a word window, with the paragraph it came from."""

    text: str
    tokens: int
    paragraph: int
    page: int | None
    whole: bool = False  # a whole paragraph, which may hold several sentences


class _Atom(NamedTuple):
    """A whole word, or a fragment of a word too long for a window; ``glued`` ones join without a space."""

    text: str
    tokens: int
    glued: bool
    page: int | None = None


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


def _fitting_size(text: str, max_tokens: int) -> int | None:
    """The tokens of ``text`` if it fits both budgets, else None."""
    if len(text) > MAX_CHUNK_CHARS:  # before counting: the tokens of a long text take memory to list
        return None
    size = count_tokens(text)
    return size if size <= max_tokens else None


def _pieces(sections: Iterable[Section], max_tokens: int) -> Iterator[_Piece]:
    """The paragraphs of ``sections`` as pieces of at most ``max_tokens`` tokens each."""
    index = 0
    for section in sections:
        for paragraph in _PARAGRAPH_BREAK.split(section.text):
            paragraph = paragraph.strip()
            if not paragraph:
                continue
            size = _fitting_size(paragraph, max_tokens)
            if size is not None:
                yield _Piece(paragraph, size, index, section.page, whole=True)
            else:
                for sentence in split_sentences(paragraph):
                    # The common case inline: a generator per sentence costs more than the sentence itself
                    # when a paragraph is thousands of one-word sentences.
                    size = _fitting_size(sentence, max_tokens)
                    if size is not None:
                        yield _Piece(sentence, size, index, section.page)
                        continue
                    for text, tokens in _windows(sentence, max_tokens):
                        yield _Piece(text, tokens, index, section.page)
            index += 1


def _windows(sentence: str, max_tokens: int) -> Iterator[tuple[str, int]]:
    """A sentence over the budgets as windows of whole words (a word too long is cut between tokens),
    each with its token count."""
    parts: list[str] = []
    used = chars = 0
    for atom in _atoms(sentence, max_tokens):
        joint = "" if atom.glued or not parts else " "
        if parts and (used + atom.tokens > max_tokens or chars + len(joint) + len(atom.text) > MAX_CHUNK_CHARS):
            yield "".join(parts), used
            parts, used, chars, joint = [], 0, 0, ""
        parts.append(joint + atom.text)
        used += atom.tokens
        chars += len(joint) + len(atom.text)
    if parts:
        yield "".join(parts), used


def _atoms(text: str, max_tokens: int, page: int | None = None) -> Iterator[_Atom]:
    """The words of ``text``; a word over either budget comes as fragments that fit, glued together."""
    for match in _NON_SPACE.finditer(text):
        word = match.group()
        size = _fitting_size(word, max_tokens)
        if size is not None:
            yield _Atom(word, size, False, page)
            continue
        for index, (fragment, tokens) in enumerate(_fragments(word, max_tokens)):
            yield _Atom(fragment, tokens, index > 0, page)


def _fragments(word: str, max_tokens: int) -> Iterator[tuple[str, int]]:
    """``word`` (no spaces) cut between tokens into fragments of at most ``max_tokens`` tokens and
    :data:`MAX_CHUNK_CHARS` characters, each with its token count."""
    window = _token_window(max_tokens)
    start = 0
    while start < len(word):
        # Matched no further than the character bound: with a large token budget an unbounded match would
        # read the rest of the word for every fragment.
        limit = start + MAX_CHUNK_CHARS
        match = window.match(word, start, limit)
        assert match is not None  # every character of a word belongs to a token
        # A match that reaches the bound may end inside a token that the bound cuts short.
        end = _last_boundary(word, start) if match.end() == limit < len(word) else match.end()
        fragment = word[start:end]
        yield fragment, count_tokens(fragment)
        start = end


@functools.lru_cache(maxsize=64)
def _token_window(max_tokens: int) -> re.Pattern[str]:
    """Up to ``max_tokens`` consecutive tokens, matched at once: a base64 blob is cut without a Python
    step per token. Greedy, so the tokens are those :func:`~ragline.words.tokens` finds."""
    return re.compile(f"(?:{TOKEN_PATTERN}){{1,{max_tokens}}}")


def _last_boundary(word: str, start: int) -> int:
    """The end of the last whole token of ``word`` from ``start`` within :data:`MAX_CHUNK_CHARS` characters.

    A token is at most a few dozen characters, so only a bound set below that cuts one (by characters).
    """
    limit = start + MAX_CHUNK_CHARS
    end = start
    for token in TOKEN.finditer(word, start):
        if token.end() > limit:
            break
        end = token.end()
    return end if end > start else limit


class _Packer:
    """Greedy packing of pieces into chunks, carrying trailing sentences over as overlap."""

    def __init__(self, max_tokens: int, overlap: int) -> None:
        self._max_tokens = max_tokens
        self._overlap = overlap
        self._done: list[list[_Piece]] = []
        self._current: list[_Piece] = []
        self._used = 0
        self._chars = 0  # the longest the current chunk can render to

    def add(self, piece: _Piece) -> None:
        """Append ``piece`` (never larger than the budgets), starting a new chunk when it does not fit."""
        if self._current and (
            self._used + piece.tokens > self._max_tokens
            or self._chars + _SEPARATOR_CHARS + len(piece.text) > MAX_CHUNK_CHARS
        ):
            self._done.append(self._current)
            budget = min(self._overlap, self._max_tokens - piece.tokens)
            self._current = _trailing_sentences(self._current, budget, MAX_CHUNK_CHARS - len(piece.text))
            self._used = sum(carried.tokens for carried in self._current)
            self._chars = sum(len(carried.text) + _SEPARATOR_CHARS for carried in self._current)
        elif self._current:
            self._chars += _SEPARATOR_CHARS
        self._current.append(piece)
        self._used += piece.tokens
        self._chars += len(piece.text)

    def chunks(self) -> list[list[_Piece]]:
        return [*self._done, self._current] if self._current else list(self._done)


def _trailing_sentences(pieces: list[_Piece], budget: int, char_budget: int) -> list[_Piece]:
    """The last whole sentences of ``pieces`` that total at most ``budget`` tokens and, each with the
    separator after it, ``char_budget`` characters."""
    carried: list[_Piece] = []  # newest first, reversed at the end
    for piece in reversed(pieces):
        # A sentence or window is one sentence already: splitting it again would find nothing more.
        sentences = split_sentences(piece.text) if piece.whole else [piece.text]
        for sentence in reversed(sentences):
            size = count_tokens(sentence) if piece.whole else piece.tokens
            cost = len(sentence) + _SEPARATOR_CHARS
            if size > budget or cost > char_budget:
                return carried[::-1]
            carried.append(piece._replace(text=sentence, tokens=size, whole=False))
            budget, char_budget = budget - size, char_budget - cost
    return carried[::-1]


def _render(pieces: list[_Piece]) -> str:
    """Pieces of one paragraph joined by spaces (none between CJK sentences), paragraphs by blank lines."""
    parts: list[str] = []
    for previous, piece in zip([None, *pieces], pieces, strict=False):  # each piece with the one before it
        if previous is None:
            pass
        elif previous.paragraph != piece.paragraph:
            parts.append("\n\n")
        elif not joins_unspaced(previous.text, piece.text):
            parts.append(" ")
        parts.append(piece.text)
    return "".join(parts)


def chunk_fixed(parsed: ParsedDocument, max_tokens: int = 220, overlap: int = 40) -> list[Section]:
    """The baseline: windows of whole words over the document's text, blind to paragraphs, headings and
    pages (a window keeps the page where it starts). A word longer than a window is cut between tokens."""
    if max_tokens <= 0 or not 0 <= overlap < max_tokens:
        raise ValueError("need max_tokens > 0 and 0 <= overlap < max_tokens")
    atoms = (atom for section in parsed.sections for atom in _atoms(section.text, max_tokens, section.page))
    chunks: list[Section] = []
    window: list[_Atom] = []
    used = chars = 0
    for atom in atoms:
        if window and (used + atom.tokens > max_tokens or chars + 1 + len(atom.text) > MAX_CHUNK_CHARS):
            chunks.append(Section(_render_atoms(window), (), window[0].page))
            window = _trailing_atoms(window, min(overlap, max_tokens - atom.tokens), MAX_CHUNK_CHARS - len(atom.text))
            used = sum(carried.tokens for carried in window)
            chars = sum(len(carried.text) + 1 for carried in window)
        elif window:
            chars += 1
        window.append(atom)
        used += atom.tokens
        chars += len(atom.text)
    if window:
        chunks.append(Section(_render_atoms(window), (), window[0].page))
    return chunks


def _trailing_atoms(window: list[_Atom], budget: int, char_budget: int) -> list[_Atom]:
    """The last atoms of ``window`` within ``budget`` tokens and ``char_budget`` characters (each with a
    space after it), never the whole window: the next window must move on."""
    start = len(window)
    while start - 1 > 0:
        atom = window[start - 1]
        if atom.tokens > budget or len(atom.text) + 1 > char_budget:
            break
        budget, char_budget = budget - atom.tokens, char_budget - len(atom.text) - 1
        start -= 1
    return window[start:]


def _render_atoms(atoms: list[_Atom]) -> str:
    return "".join(atom.text if atom.glued or index == 0 else f" {atom.text}" for index, atom in enumerate(atoms))


def chunk_parent_child(
    parsed: ParsedDocument, max_tokens: int = 100, overlap: int = 20, parent_tokens: int = 600
) -> list[Section]:
    """Small chunks to search, each carrying the larger structure-aware chunk it sits in as ``context``,
    for the generator to read. A parent that fits in one child is its own chunk, with no context.
    Parents are chunks too, so a context is at most :data:`MAX_CHUNK_CHARS` characters."""
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
    parsed: ParsedDocument, strategy: Chunking, max_tokens: int, overlap: int, parent_tokens: int = 600
) -> list[Section]:
    """Chunk drafts of ``parsed`` by ``strategy``: ``structure`` (:func:`chunk_document`), ``fixed``
    (:func:`chunk_fixed`) or ``parent-child`` (:func:`chunk_parent_child`). Every chunk's text and
    ``context`` is at most :data:`MAX_CHUNK_CHARS` characters."""
    if strategy == "structure":
        return chunk_document(parsed, max_tokens, overlap)
    if strategy == "fixed":
        return chunk_fixed(parsed, max_tokens, overlap)
    if strategy == "parent-child":
        return chunk_parent_child(parsed, max_tokens, overlap, parent_tokens)
    raise ValueError(f"unknown chunking strategy {strategy!r}; one of {', '.join(CHUNKINGS)}")
