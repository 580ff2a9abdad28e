"""Word-level tokenisation shared by the chunker, the hash embedder, BM25 queries and the extractive generator.

Chunk sizes are counted in these tokens (words and punctuation marks), which track subword model tokens
closely enough for sizing (about 1.3 model tokens per word in English prose) without shipping a
tokenizer to Lambda.

Two kinds of text have no words to count, and are cut so that a "token" stays token-sized:

* Chinese and Japanese are written without spaces, so every ideograph and kana is a token of its own
  (subword models spend about one token per such character).
* Any other run of word characters longer than :data:`MAX_TOKEN_CHARS` (a base64 blob, a hex dump, Thai
  written without spaces) counts as one token per :data:`MAX_TOKEN_CHARS` characters.

Every pattern here is linear in the length of its input: no nested or overlapping quantifiers.
"""

from __future__ import annotations

import re

#: The longest run of word characters that counts as one token. Longer than nearly every word of a
#: language written with spaces ("internationalization" has 20 letters), so prose is counted by words.
MAX_TOKEN_CHARS = 24

# Scripts written without spaces between words: kana, CJK ideographs (with the extensions and the
# compatibility blocks), the iteration marks 々〆〇 and half-width katakana.
_NO_SPACE_SCRIPT = (
    "\u3005-\u3007\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9d\U00020000-\U0003134f"
)
# Text of these scripts, with their punctuation and full-width forms, joins without a space between sentences.
_UNSPACED = re.compile(rf"[{_NO_SPACE_SCRIPT}\u3000-\u303f\uff00-\uffef]")
_RUN_CHAR = rf"[^\W{_NO_SPACE_SCRIPT}]"  # a word character outside those scripts
_RUN = rf"{_RUN_CHAR}{{1,{MAX_TOKEN_CHARS}}}"
# Apostrophes join at most two more runs ("don't", "rock'n'roll"), so a token is bounded in length too.
TOKEN_PATTERN = rf"[{_NO_SPACE_SCRIPT}]|{_RUN}(?:['’]{_RUN}){{0,2}}|[^\w\s]"
TOKEN = re.compile(TOKEN_PATTERN)  # one token; every non-space character is in exactly one
WORD = re.compile(r"\w+", re.UNICODE)  # a word, for lexical matching
_SENTENCE_END = re.compile(
    r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])"
    # A Chinese or Japanese full stop ends a sentence without a space after it, unless it ends a
    # quotation, which the sentence goes on after (「晴れ？」と聞いた。).
    r"|(?<=[。！？])\s*(?![」』）】〕〉》”’\s])"
)
# A full stop after these ends no sentence ("Dr. Mori", "e.g. Titan").
_ABBREVIATION_END = re.compile(
    r"(?:^|\s)(?:Dr|Mr|Mrs|Ms|Prof|Sr|Jr|St|Mt|No|vs|etc|approx|Inc|Ltd|Co|Corp|Fig|e\.g|i\.e)\.$", re.IGNORECASE
)
_ABBREVIATION_TAIL = 16  # longer than any abbreviation above, with the space before it

STOPWORDS = frozenset(
    """a an and are as at be but by can could did do does for from had has have how i if in into is it its
    of on or our so than that the their them then there these they this those to was we were what when
    where which who whom why will with would you your about after all also any been before being between
    both each more most no not only other over same should some such very just my me he she his her him
    up out off down again further once here own too s t don""".split()
)


def tokens(text: str) -> list[str]:
    """Words and punctuation marks, as they appear; every non-space character is in exactly one token.

    >>> tokens("Don't stop: 東京へ")
    ["Don't", 'stop', ':', '東', '京', 'へ']
    """
    return TOKEN.findall(text)


def count_tokens(text: str) -> int:
    return len(TOKEN.findall(text))


def joins_unspaced(left: str, right: str) -> bool:
    """Whether ``left`` and ``right`` meet in a script written without spaces (``"雨です。"``, ``"明日"``)."""
    # Every such character is at U+3000 or above: most text is decided by the comparison alone.
    return (
        left[-1:] >= "\u3000"
        and right[:1] >= "\u3000"
        and bool(_UNSPACED.fullmatch(left[-1]) and _UNSPACED.fullmatch(right[0]))
    )


def terms(text: str) -> list[str]:
    """Lower-cased words without stopwords: what lexical matching compares."""
    return [w for w in (m.lower() for m in WORD.findall(text)) if w not in STOPWORDS]


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph, split after ., ! or ? followed by a capital or a digit, and after 。！？.

    >>> split_sentences("Dr. Mori led it. It took 2 years.")
    ['Dr. Mori led it.', 'It took 2 years.']
    >>> split_sentences("雨です。「晴れ？」と聞いた。")
    ['雨です。', '「晴れ？」と聞いた。']
    """
    sentences: list[str] = []
    current: list[str] = []  # the pieces of the sentence being built, joined once it is complete
    for piece in (s.strip() for s in _SENTENCE_END.split(text)):
        if not piece:
            continue
        # Only the tail of the last piece can end in an abbreviation: searching the whole sentence (or
        # joining it piece by piece) would be quadratic in a run of "Dr. Dr. Dr.".
        if current and not _ABBREVIATION_END.search(current[-1][-_ABBREVIATION_TAIL:]):
            sentences.append(" ".join(current))
            current = []
        current.append(piece)
    if current:
        sentences.append(" ".join(current))
    return sentences
