"""What kind of answer a question asks for, and whether a sentence holds one.

A question's first words say what its answer looks like: "how many" and "how much" want a number,
"when" and "what year" a date or a year, "how long" a duration, "who" a name, "where" a place. A
sentence that holds such a thing, *beyond the words of the question itself*, is more likely the answer:
"When was the lab founded?" is answered by "The lab was founded in 2011.", not by "The lab's founding
is celebrated every spring." The cues are deliberately simple: digits and number words, years, months
and fiscal years, number + unit of time, capitalised words not at the start of the sentence.

Example:
    >>> expected_answer_type("How many engineers will Contoso hire next year?")
    'number'
    >>> has_answer_type("number", "The company will hire 35 new engineers in FY2026.", question_words=set())
    True
"""

from __future__ import annotations

import re
from typing import Literal

AnswerType = Literal["number", "date", "duration", "name", "place"]

_HOW_MUCH = "many much old far big large tall high often"
_WHAT_AMOUNT = "percentage share number amount"
_WHAT_TIME = "year date day month century decade time"
_WHAT_PLACE = "country city state place region continent"


def _any_of(words: str) -> str:
    return f"(?:{'|'.join(words.split())})"


# The first match wins, so the more specific phrase comes first ("how long" before "how many").
_QUESTION_CUES: tuple[tuple[re.Pattern[str], AnswerType], ...] = (
    (re.compile(r"\bhow\s+long\b"), "duration"),
    (re.compile(rf"\bhow\s+{_any_of(_HOW_MUCH)}\b|\bwhat\s+{_any_of(_WHAT_AMOUNT)}\b"), "number"),
    (re.compile(rf"\bwhen\b|\b(?:what|which)\s+{_any_of(_WHAT_TIME)}\b|\bwhat\s+\w+\s+year\b"), "date"),
    (re.compile(r"\bwho(?:m|se)?\b"), "name"),
    (re.compile(rf"\bwhere\b|\b(?:what|which)\s+{_any_of(_WHAT_PLACE)}\b"), "place"),
)

_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty hundred "
    "thousand million billion trillion dozen half quarter"
)
_NUMBER = re.compile(rf"\d[\d.,]*|\b{_any_of(_NUMBER_WORDS)}\b", re.IGNORECASE)
_MONTHS = "january february march april may june july august september october november december"
_DATE = re.compile(
    rf"\b(?:1[0-9]{{3}}|20[0-9]{{2}})s?\b|\bFY\s?\d{{2,4}}\b|\b{_any_of(_MONTHS)}\b"
    r"|\b\d+(?:st|nd|rd|th)\s+century\b|\bQ[1-4]\b",
    re.IGNORECASE,
)
_TIME_UNITS = r"(?:second|minute|hour|day|week|month|year|decade|centur(?:y|ie))s?"
_DURATION = re.compile(
    rf"(?:\d[\d.,]*|\b{_any_of(_NUMBER_WORDS + ' several few')})[\s-]+{_TIME_UNITS}\b", re.IGNORECASE
)
_CAPITALISED = re.compile(r"(?<=\s)[A-Z][\w'-]+")


def expected_answer_type(question: str) -> AnswerType | None:
    """The kind of answer ``question`` asks for, or None when its words do not say."""
    lowered = question.casefold()
    for cue, answer_type in _QUESTION_CUES:
        if cue.search(lowered):
            return answer_type
    return None


def has_answer_type(answer_type: AnswerType, sentence: str, question_words: set[str]) -> bool:
    """Whether ``sentence`` holds an answer of ``answer_type`` that is not one of ``question_words``
    (lower-case words of the question: a sentence that only repeats the question's year or name does not
    count)."""
    if answer_type == "number":
        found = [m.group() for m in _NUMBER.finditer(sentence)]
    elif answer_type == "date":
        found = [m.group() for m in _DATE.finditer(sentence)]
    elif answer_type == "duration":
        found = [m.group() for m in _DURATION.finditer(sentence)]
    else:  # a name or a place: a capitalised word that is not the first of the sentence
        found = [m.group() for m in _CAPITALISED.finditer(sentence)]
    return any(_new_to(match, question_words) for match in found)


def _new_to(match: str, question_words: set[str]) -> bool:
    words = re.findall(r"\w+", match.casefold())
    return bool(words) and not all(word in question_words for word in words)
