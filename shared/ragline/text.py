"""Word-level tokenisation shared by the chunker, the hash embedder, BM25 queries and the extractive generator.

Chunk sizes are counted in these tokens (words and punctuation marks), which track subword model tokens
closely enough for sizing (about 1.3 model tokens per word in English prose) without shipping a
tokenizer to Lambda.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]", re.UNICODE)
WORD = re.compile(r"\w+", re.UNICODE)  # a word, for lexical matching
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
# A full stop after these ends no sentence ("Dr. Mori", "e.g. Titan").
_ABBREVIATION_END = re.compile(
    r"(?:^|\s)(?:Dr|Mr|Mrs|Ms|Prof|Sr|Jr|St|Mt|No|vs|etc|approx|Inc|Ltd|Co|Corp|Fig|e\.g|i\.e)\.$", re.IGNORECASE
)

STOPWORDS = frozenset(
    """a an and are as at be but by can could did do does for from had has have how i if in into is it its
    of on or our so than that the their them then there these they this those to was we were what when
    where which who whom why will with would you your about after all also any been before being between
    both each more most no not only other over same should some such very just my me he she his her him
    up out off down again further once here own too s t don""".split()
)


def tokens(text: str) -> list[str]:
    """Words and punctuation marks, as they appear."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def terms(text: str) -> list[str]:
    """Lower-cased words without stopwords: what lexical matching compares."""
    return [w for w in (m.lower() for m in WORD.findall(text)) if w not in STOPWORDS]


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph, split after ., ! or ? followed by a capital or a digit.

    >>> split_sentences("Dr. Mori led it. It took 2 years.")
    ['Dr. Mori led it.', 'It took 2 years.']
    """
    sentences: list[str] = []
    for piece in (s.strip() for s in _SENTENCE_END.split(text)):
        if not piece:
            continue
        # Only the tail can end in an abbreviation; searching the whole, growing sentence is quadratic.
        if sentences and _ABBREVIATION_END.search(sentences[-1][-16:]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences
