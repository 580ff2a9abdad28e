"""An answer without an LLM: the source sentences that best cover the question, each cited.

Every sentence of every source is a candidate. A candidate's *coverage* is the IDF-weighted share of the
question's content words it contains, where IDF is computed over the candidate sentences themselves (a
word found in every sentence tells them apart least, a word found in none weighs most) and the question's
words are counted once each. A sentence must cover at least ``min_score`` of the question's total weight to
be used, so an unrelated question, or one that only shares a common word with the sources, gets the
"could not find" answer instead of a random quote. With the default of 0.5, a sentence must hold at least
half of what the question asks about.

Among the sentences that pass, those within ``relative_cutoff`` of the best one's coverage are ranked
(coverage, discounted slightly for sources ranked lower by retrieval), near-duplicates (from overlapping
chunks) are dropped, and the best ``max_sentences`` are presented in source order, each followed by its
``[n]`` marker. Headings and title lines are not candidates: they name a subject, they do not answer.

Words are compared as :func:`ragline.words.terms` with common endings folded (``days`` matches ``day``,
``repeated`` matches ``repeat``).

Example:
    >>> from ragline.models import Chunk, SearchHit
    >>> hr = Chunk("c1", "d1", "v1", "New staff get 25 days of annual leave. Leave requests go to your manager.",
    ...            "s3://b/hr.md", "HR handbook", ("staff",), 0)
    >>> ExtractiveGenerator().generate("How many days of annual leave do new staff get?", [SearchHit(hr, 1.0)]).text
    'New staff get 25 days of annual leave. [1]'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragline.generators.prompt import NO_ANSWER, truncate_tokens
from ragline.models import Answer, SearchHit
from ragline.words import count_tokens, split_sentences, terms

#: Words of questions that say little about the subject, ignored on top of :data:`ragline.words.STOPWORDS`.
QUESTION_FILLER = frozenset(
    """many much get gets got getting tell explain know need needs please describe give gives want
    find say says said mean means list show anything something often must may might shall""".split()
)

#: Sentences longer than this (in :func:`ragline.words.count_tokens` tokens) are cut and marked with "...".
MAX_SENTENCE_TOKENS = 80

# Where a line break ends a sentence for sure: a blank line; a line ending in . ! ? or :; a next line that
# starts a list item, a heading, a bold label or a table row. Other line breaks are wrapped text.
_LINE_BREAK = re.compile(r"\n\s*\n|(?<=[.!?:])[ \t]*\n|\n(?=[ \t]*(?:[-*•#]\s|\d+[.)]\s|\*\*|__|\|))")
_LEADING_MARKER = re.compile(r"^(?:[-*•]|\d+[.)])\s+")
_EMPHASIS = re.compile(r"\*\*|__")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_TITLE_WORDS = 8  # a line this short with no punctuation at its end and no colon reads as a title


def _fold(word: str) -> str:
    """Fold plural and -ed/-ing endings, and a final e, so word forms meet.

    A crude stemmer, good enough for overlap: ``policies`` -> ``policy``, ``repeated``/``repeat`` ->
    ``repeat``, ``required``/``requires`` -> ``requir``, ``running`` -> ``run``; ``process`` stays.
    """
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # running -> run, stopped -> stop
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def content_terms(text: str) -> set[str]:
    """The distinct folded :func:`ragline.words.terms` of ``text``."""
    return {_fold(term) for term in terms(text)}


@dataclass(frozen=True)
class _Candidate:
    source: int  # 1-based source number
    position: int  # order within the source
    text: str
    terms: frozenset[str]


def _is_title(line: str) -> bool:
    if _HEADING.match(line):
        return True
    if _LEADING_MARKER.match(line.strip()):
        return False  # a list item, however short, may be the answer
    words = line.split()
    return len(words) <= _TITLE_WORDS and ":" not in line and not line.rstrip().endswith((".", "!", "?"))


def _sentences(text: str) -> list[str]:
    """The sentences of a chunk's text, headings and title lines left out, Markdown emphasis removed."""
    out: list[str] = []
    for block in _LINE_BREAK.split(text):
        if not block.strip() or _is_title(block):
            continue
        flat = " ".join(_EMPHASIS.sub("", block).split())
        for sentence in split_sentences(flat):
            sentence = _LEADING_MARKER.sub("", sentence).strip()
            if count_tokens(sentence) > MAX_SENTENCE_TOKENS:
                sentence = truncate_tokens(sentence, MAX_SENTENCE_TOKENS) + " ..."
            if sentence:
                out.append(sentence)
    return out


def _similar(a: _Candidate, b: _Candidate, threshold: float) -> bool:
    if a.text.casefold() in b.text.casefold() or b.text.casefold() in a.text.casefold():
        return True
    union = a.terms | b.terms
    return bool(union) and len(a.terms & b.terms) / len(union) >= threshold


class ExtractiveGenerator:
    """A :class:`~ragline.ports.Generator` that quotes source sentences instead of writing new text.

    Args:
        max_sentences: at most this many sentences in an answer.
        min_score: the share (0..1) of the question's IDF-weighted content words a sentence must contain.
        relative_cutoff: a sentence must also reach this fraction of the best sentence's coverage, so a
            weaker sentence does not dilute a clear answer.
        rank_discount: how much a sentence's ranking score shrinks per source rank below the first
            (``coverage / (1 + rank_discount * (n - 1))``); it breaks near-ties in favour of better sources.
        duplicate_overlap: sentences whose term sets overlap this much (Jaccard) count as one.
    """

    name = "extractive"

    def __init__(
        self,
        max_sentences: int = 3,
        min_score: float = 0.5,
        relative_cutoff: float = 0.8,
        rank_discount: float = 0.05,
        duplicate_overlap: float = 0.8,
    ) -> None:
        if max_sentences < 1:
            raise ValueError("max_sentences must be >= 1")
        self.max_sentences = max_sentences
        self.min_score = min_score
        self.relative_cutoff = relative_cutoff
        self.rank_discount = rank_discount
        self.duplicate_overlap = duplicate_overlap

    def generate(self, question: str, sources: Sequence[SearchHit]) -> Answer:
        """Quote the sentences of ``sources`` that best answer ``question``, or decline."""
        wanted = content_terms(question) - QUESTION_FILLER
        candidates = [
            _Candidate(n, position, sentence, frozenset(content_terms(sentence)))
            for n, hit in enumerate(sources, start=1)
            for position, sentence in enumerate(_sentences(hit.chunk.passage()))
        ]
        if not wanted or not candidates:
            return self._decline()

        weights = self._weights(wanted, candidates)
        total = sum(weights.values())
        covered = [(sum(weights[t] for t in c.terms & wanted) / total, c) for c in candidates]
        best = max(coverage for coverage, _ in covered)
        floor = max(self.min_score, self.relative_cutoff * best)
        scored = [
            (coverage / (1 + self.rank_discount * (c.source - 1)), c)
            for coverage, c in covered
            if coverage > 0 and coverage >= floor
        ]
        scored.sort(key=lambda pair: (-pair[0], pair[1].source, pair[1].position))

        chosen: list[_Candidate] = []
        for _, candidate in scored:
            if len(chosen) == self.max_sentences:
                break
            if not any(_similar(candidate, kept, self.duplicate_overlap) for kept in chosen):
                chosen.append(candidate)
        if not chosen:
            return self._decline()

        chosen.sort(key=lambda c: (c.source, c.position))
        text = " ".join(f"{c.text} [{c.source}]" for c in chosen)
        cited = list(dict.fromkeys(c.source for c in chosen))
        return Answer(text, cited=cited, model=self.name)

    @staticmethod
    def _weights(wanted: set[str], candidates: Sequence[_Candidate]) -> dict[str, float]:
        """Smoothed IDF over the candidate sentences: ``log(1 + (N + 1) / (df + 0.5))``, never zero."""
        n = len(candidates)
        return {term: math.log(1 + (n + 1) / (sum(term in c.terms for c in candidates) + 0.5)) for term in wanted}

    def _decline(self) -> Answer:
        return Answer(NO_ANSWER, cited=[], model=self.name)
