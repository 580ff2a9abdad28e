"""An answer without an LLM: the source units that best answer the question, each cited.

The candidates are the answerable units of the sources (sentences, list items, table rows with their
header; headings left out: :mod:`ragline.generators.answer_units`), at most :data:`UNITS_PER_SOURCE` of
each of the first :data:`SOURCES_READ` sources. Each candidate gets a score from four signals
(:class:`Weights` says how much each counts):

* **terms**: the IDF-weighted share of the question's content words the unit contains. IDF is computed
  over the candidates themselves, so a word in every unit tells them apart least; a word of the source's
  title or headings counts for every unit under them (in the IDF too), with :attr:`Weights.context`
  credit ("Contoso" is in the document's title, not in "The company will hire 35 new engineers").
* **similarity**: the cosine between the question and the unit under the embedding model, when the
  generator has one (the local all-MiniLM-L6-v2: ``RAGLINE_EMBEDDER=local``); it finds the answer that
  words it differently ("next year" and "FY2026"). Only units that share a word with the question can be
  chosen, so only they are embedded, at most :data:`MAX_EMBEDDED`, in one batch with the question.
* **answer type**: whether the unit holds the kind of answer the question asks for, and not only the
  question's own words: a number for "how many", a date for "when" (:mod:`ragline.generators.answer_types`).
* **rank**: the score is divided by ``1 + rank_discount * (n - 1)`` for the ``n``-th source, so among
  equals the better-retrieved passage wins.

The best unit is the answer when its score reaches :attr:`Weights.decline_below`, else the generator
declines. A runner-up joins it (up to ``max_sentences``) only when it scores within
:attr:`Weights.runner_up_within` of the best and is not a near-duplicate of a unit already chosen (from
overlapping chunks). The weights and the threshold were fitted on one half of SQuAD 2.0 dev and measured
on the other (``benchmarks/tune_extractive.py``; docs/quality.md, "Answers").

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

from ragline.generators.answer_types import expected_answer_type, has_answer_type
from ragline.generators.answer_units import answer_units
from ragline.generators.prompt import NO_ANSWER
from ragline.models import Answer, SearchHit
from ragline.ports import Embedder
from ragline.words import terms

#: Words of questions that say little about the subject, ignored on top of :data:`ragline.words.STOPWORDS`.
QUESTION_FILLER = frozenset(
    """many much get gets got getting tell explain know need needs please describe give gives want
    find say says said mean means list show anything something often must may might shall""".split()
)

#: Candidates come from the first this many sources (the query function hands over five by default)...
SOURCES_READ = 8
#: ...and from the first this many units of each...
UNITS_PER_SOURCE = 16
#: ...and at most this many of them, those that share the most with the question, are embedded.
MAX_EMBEDDED = 24


@dataclass(frozen=True)
class Weights:
    """How the signals add up to a unit's score, and the scores that decide what is answered.

    ``score = terms * coverage + similarity * cosine + answer_type * (1 if the unit has the answer type)``,
    then divided by the rank discount. ``context`` is the credit (0..1) a word of the source's title or
    headings gets towards a unit's coverage.
    """

    terms: float
    similarity: float
    answer_type: float
    context: float
    decline_below: float
    runner_up_within: float


#: Fitted with the local embedding model on the tuning half of SQuAD 2.0 dev
#: (benchmarks/results/tune_extractive.json; docs/quality.md, "Answers").
WITH_EMBEDDINGS = Weights(
    terms=1.0, similarity=4.0, answer_type=0.0, context=1.0, decline_below=2.3, runner_up_within=0.8
)
#: Without the similarity signal (the hash embedder, or none): the weights fitted the same way
#: (benchmarks/results/tune_extractive_terms_only.json), but not the threshold fitted there (0.25), which
#: answers "What is the capital of France?" from "Capital expenditure was $2.3 million" in open retrieval:
#: 0.45 is the lowest threshold of the grid that declines it (its SQuAD numbers are in docs/quality.md).
TERMS_ONLY = Weights(terms=1.0, similarity=0.0, answer_type=0.15, context=0.0, decline_below=0.45, runner_up_within=0.8)


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
class Candidate:
    """A unit of a source with its signals, before they are weighed.

    ``coverage`` and ``context_coverage`` are IDF-weighted shares of the question's words found in the unit
    and (only) in its source's title and headings; ``similarity`` is 0 without an embedder.
    """

    source: int  # 1-based source number
    position: int  # order within the source
    text: str
    terms: frozenset[str]
    coverage: float
    context_coverage: float
    similarity: float
    has_answer_type: bool

    def score(self, weights: Weights, rank_discount: float) -> float:
        evidence = (
            weights.terms * (self.coverage + weights.context * self.context_coverage)
            + weights.similarity * self.similarity
            + weights.answer_type * self.has_answer_type
        )
        return evidence / (1 + rank_discount * (self.source - 1))


def near_duplicates(a: Candidate, b: Candidate, overlap: float) -> bool:
    """One contains the other, or at least ``overlap`` of the smaller term set is in the other: "The company
    will hire 35 engineers." says nothing that "The company will hire 35 engineers, most in Austin." does
    not (overlapping chunks and recaps repeat a sentence with a clause more or less)."""
    if a.text.casefold() in b.text.casefold() or b.text.casefold() in a.text.casefold():
        return True
    smaller = min(len(a.terms), len(b.terms))
    return smaller > 0 and len(a.terms & b.terms) / smaller >= overlap


class ExtractiveGenerator:
    """A :class:`~ragline.ports.Generator` that quotes source units instead of writing new text.

    Args:
        embedder: the embedding model for the similarity signal; None (or a model the weights were not
            fitted for, such as the hash embedder, which the factory does not pass) turns it off.
        weights: the signals' weights and thresholds; by default :data:`WITH_EMBEDDINGS` when there is an
            embedder, else :data:`TERMS_ONLY`.
        max_sentences: at most this many units in an answer.
        rank_discount: how much a unit's score shrinks per source rank below the first.
        duplicate_overlap: units this much of whose smaller term set is in the other count as one.
    """

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder | None = None,
        weights: Weights | None = None,
        max_sentences: int = 2,
        rank_discount: float = 0.05,
        duplicate_overlap: float = 0.8,
    ) -> None:
        if max_sentences < 1:
            raise ValueError("max_sentences must be >= 1")
        self.embedder = embedder
        self.weights = weights or (WITH_EMBEDDINGS if embedder is not None else TERMS_ONLY)
        self.max_sentences = max_sentences
        self.rank_discount = rank_discount
        self.duplicate_overlap = duplicate_overlap

    def generate(self, question: str, sources: Sequence[SearchHit]) -> Answer:
        """Quote the units of ``sources`` that best answer ``question``, or decline."""
        chosen = self.choose(self.candidates(question, sources))
        if not chosen:
            return self._decline()
        chosen.sort(key=lambda c: (c.source, c.position))
        text = " ".join(f"{c.text} [{c.source}]" for c in chosen)
        cited = list(dict.fromkeys(c.source for c in chosen))
        return Answer(text, cited=cited, model=self.name)

    def candidates(self, question: str, sources: Sequence[SearchHit]) -> list[Candidate]:
        """Every unit of the sources read, with its signals; [] when the question has no content words."""
        wanted = content_terms(question) - QUESTION_FILLER
        units = [
            (n, position, unit, frozenset(content_terms(unit)), frozenset(content_terms(_context(hit))))
            for n, hit in enumerate(sources[:SOURCES_READ], start=1)
            for position, unit in enumerate(answer_units(hit.chunk.passage())[:UNITS_PER_SOURCE])
        ]
        if not wanted or not units:
            return []
        # A word of a title counts for every unit under it, so it is as common as that.
        weights = _idf(wanted, [unit_terms | context_terms for _, _, _, unit_terms, context_terms in units])
        total = sum(weights.values())
        # Only a unit that shares a word with the question can be chosen (see choose), so only those
        # are embedded, the best-covering first, at most MAX_EMBEDDED of them.
        eligible = sorted(
            (i for i, (_, _, _, unit_terms, _) in enumerate(units) if unit_terms & wanted),
            key=lambda i: -sum(weights[t] for t in units[i][3] & wanted),
        )[:MAX_EMBEDDED]
        similarities = dict(zip(eligible, self._similarities(question, [units[i][2] for i in eligible]), strict=True))
        answer_type = expected_answer_type(question)
        question_words = set(re.findall(r"\w+", question.casefold()))
        return [
            Candidate(
                source=n,
                position=position,
                text=text,
                terms=unit_terms,
                coverage=sum(weights[t] for t in unit_terms & wanted) / total,
                context_coverage=sum(weights[t] for t in (context_terms - unit_terms) & wanted) / total,
                similarity=similarities.get(index, 0.0),
                has_answer_type=answer_type is not None and has_answer_type(answer_type, text, question_words),
            )
            for index, (n, position, text, unit_terms, context_terms) in enumerate(units)
        ]

    def choose(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """The best candidate if it reaches the decline threshold, with the runners-up close enough to it.

        A candidate with none of the question's words is never chosen: similarity, or the title's words,
        alone are not evidence enough.
        """
        weights = self.weights
        scored = sorted(
            ((c.score(weights, self.rank_discount), c) for c in candidates if c.coverage > 0),
            key=lambda pair: (-pair[0], pair[1].source, pair[1].position),
        )
        if not scored or scored[0][0] < weights.decline_below:
            return []
        best = scored[0][0]
        chosen: list[Candidate] = []
        for score, candidate in scored:
            if len(chosen) == self.max_sentences or score < weights.runner_up_within * best:
                break
            if not any(near_duplicates(candidate, kept, self.duplicate_overlap) for kept in chosen):
                chosen.append(candidate)
        return chosen

    def _similarities(self, question: str, texts: list[str]) -> list[float]:
        """Cosine of each text with the question; 0.0 each without an embedder. One batch of vectors."""
        if self.embedder is None:
            return [0.0] * len(texts)
        question_vector, *vectors = self.embedder.embed_documents([question, *texts])
        return [_cosine(question_vector, vector) for vector in vectors]

    def _decline(self) -> Answer:
        return Answer(NO_ANSWER, cited=[], model=self.name)


def _context(hit: SearchHit) -> str:
    """The title and headings a chunk sits under: what every unit of it is about."""
    return " ".join((hit.chunk.title, *hit.chunk.heading_path))


def _idf(wanted: set[str], unit_terms: Sequence[frozenset[str]]) -> dict[str, float]:
    """Smoothed IDF over the units: ``log(1 + (N + 1) / (df + 0.5))``, never zero."""
    n = len(unit_terms)
    return {term: math.log(1 + (n + 1) / (sum(term in t for t in unit_terms) + 0.5)) for term in wanted}


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0
