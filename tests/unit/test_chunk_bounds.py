"""Every chunking strategy bounds its chunks in characters, whatever the text: no chunk (nor parent
``context``) is longer than ``MAX_CHUNK_CHARS``, and no word character is lost on the way.

Bedrock's Titan embeddings refuse inputs over 50,000 characters, and one base64 run without spaces
used to become a single 80,000-character chunk.
"""

from __future__ import annotations

import random
import re
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragline import chunking
from ragline.models import ParsedDocument, Section
from ragline.settings import CHUNKINGS
from ragline.words import count_tokens
from tests.conftest import examples

STRATEGIES = CHUNKINGS  # every strategy RAGLINE_CHUNKING accepts
_WORD_CHAR = re.compile(r"\w")


def word_chars(texts: list[str]) -> str:
    """The word characters of ``texts`` in order: what no chunking may drop (separators may go)."""
    return "".join(_WORD_CHAR.findall("".join(texts)))


def is_subsequence(needle: str, haystack: str) -> bool:
    remaining = iter(haystack)
    return all(char in remaining for char in needle)


def chunks_of(
    text: str, strategy: str, max_tokens: int = 220, overlap: int = 40, parent_tokens: int = 600
) -> list[Section]:
    return chunking.chunk(ParsedDocument("Doc", [Section(text)]), strategy, max_tokens, overlap, parent_tokens)


def assert_bounded(chunks: list[Section], limit: int) -> None:
    assert chunks
    for chunk in chunks:
        assert 0 < len(chunk.text) <= limit
        assert len(chunk.context) <= limit


# --- properties --------------------------------------------------------------------------------

_WORDS = ["policy", "Leave", "days.", "e.g.", "Dr.", "x-y", "don't", "(see", "it)", "A1"]
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_ascii_words = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=30).map(" ".join)
_long_runs = st.builds(str.__mul__, st.sampled_from(["a", "7", "_", "#", "é", "ш"]), st.integers(1, 3000))
_base64 = st.text(alphabet=_BASE64, min_size=1, max_size=3000)
_japanese = st.text(alphabet="日本語の文章ですカタカナ漢字ひらがな。、「」", min_size=1, max_size=1500)
_chinese = st.text(alphabet="中文没有空格的句子。，！？", min_size=1, max_size=1500)
_thai = st.text(alphabet="ภาษาไทยเป็นที่่ั้", min_size=1, max_size=1500)
_mixed = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
_separators = st.sampled_from([" ", "\n", "\n\n", "   ", "\n \n", "", "\t"])
_parts = st.one_of(_ascii_words, _long_runs, _base64, _japanese, _chinese, _thai, _mixed)
texts = st.lists(st.tuples(_parts, _separators), min_size=1, max_size=8).map(
    lambda parts: "".join(text + separator for text, separator in parts)
)
budgets = st.integers(1, 400).flatmap(lambda size: st.tuples(st.just(size), st.integers(0, size - 1)))


@settings(max_examples=examples(300), deadline=None)
@given(texts, st.sampled_from(STRATEGIES), budgets, st.integers(100, 2000), st.booleans())
def test_every_chunk_fits_the_character_bound_and_keeps_every_word_character(
    text: str, strategy: str, budget: tuple[int, int], limit: int, overlapping: bool
) -> None:
    max_tokens, overlap = budget
    overlap = overlap if overlapping else 0
    # A small bound, so that texts of a few thousand characters test it; a token is at most 74.
    with mock.patch.object(chunking, "MAX_CHUNK_CHARS", limit):
        chunks = chunks_of(text, strategy, max_tokens, overlap, parent_tokens=max_tokens + 50)
    if not _WORD_CHAR.search(text) and strategy != "fixed":
        assert chunks == []  # structure-aware strategies drop chunks without a word
        return
    if not text.strip():
        return
    assert_bounded(chunks, limit)
    for chunk in chunks:
        assert count_tokens(chunk.text) <= max_tokens
    expected, chunked = word_chars([text]), word_chars([chunk.text for chunk in chunks])
    assert chunked == expected if overlap == 0 else is_subsequence(expected, chunked)


# --- the cases that went wrong -----------------------------------------------------------------


def _base64_run(size: int) -> str:
    rng = random.Random(80)
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(size))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("max_tokens", [220, 100_000], ids=["default-budget", "no-token-budget"])
def test_an_80000_character_base64_run_is_cut_within_the_bound(strategy: str, max_tokens: int) -> None:
    run = _base64_run(80_000)
    text = f"The attachment follows.\n\n{run}\n\nEnd of attachment."
    chunks = chunks_of(text, strategy, max_tokens, 40, parent_tokens=max_tokens + 100)
    assert_bounded(chunks, chunking.MAX_CHUNK_CHARS)
    assert is_subsequence(word_chars([text]), word_chars([c.text for c in chunks]))
    assert len(chunks) >= 80_000 // chunking.MAX_CHUNK_CHARS


def test_a_word_longer_than_the_bound_is_cut_into_pieces_of_about_the_bound() -> None:
    chunks = chunks_of("a" * 80_000, "structure", max_tokens=100_000, overlap=0)
    assert "".join(chunk.text for chunk in chunks) == "a" * 80_000
    # Cut between tokens (runs of 24 letters), so each piece but the last is within a token of the bound.
    assert all(chunking.MAX_CHUNK_CHARS - 24 < len(chunk.text) <= chunking.MAX_CHUNK_CHARS for chunk in chunks[:-1])


def test_a_run_of_whitespace_does_not_count_against_the_bound_as_text() -> None:
    chunks = chunks_of("start " + " " * 100_000 + " end", "structure")
    assert [chunk.text for chunk in chunks] == ["start end"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_parent_context_is_bounded_even_with_a_huge_parent_budget(strategy: str) -> None:
    text = "\n\n".join(" ".join(f"Word{i}w{j}." for j in range(60)) for i in range(400))  # about 250,000 characters
    chunks = chunks_of(text, strategy, max_tokens=200, overlap=20, parent_tokens=1_000_000)
    assert_bounded(chunks, chunking.MAX_CHUNK_CHARS)
    if strategy == "parent-child":
        assert {len(chunk.context) for chunk in chunks} - {0}
        assert all(chunk.text in chunk.context or not chunk.context for chunk in chunks)


# --- scripts written without spaces ------------------------------------------------------------

_JAPANESE_SENTENCES = [
    "本日の会議では来年度の予算について話し合いました。",
    "担当者は各部署からの要望をまとめて報告します。",
    "「出張費の上限は変わりますか？」という質問がありました。",
    "次回の会議は来月の第一月曜日に開かれる予定です。",
    "資料は共有フォルダに保存してください！",
]


def test_japanese_without_spaces_makes_several_chunks_of_sentences() -> None:
    rng = random.Random(9)
    text = "".join(rng.choice(_JAPANESE_SENTENCES) for _ in range(400))  # about 10,000 characters, no spaces
    chunks = chunks_of(text, "structure", max_tokens=220, overlap=0)
    assert len(chunks) >= 20  # one character is one token: a chunk holds a few hundred characters
    for chunk in chunks:
        assert count_tokens(chunk.text) <= 220 and len(chunk.text) <= 300
        assert chunk.text.endswith(("。", "？", "！", "」"))  # cut between sentences
        assert " " not in chunk.text  # and joined as Japanese is written
    assert "".join(chunk.text for chunk in chunks) == text


def test_japanese_without_any_punctuation_is_cut_by_characters() -> None:
    text = "日本語の文章です" * 2_000
    chunks = chunks_of(text, "structure", max_tokens=220, overlap=0)
    assert [len(chunk.text) for chunk in chunks] == [220] * (len(text) // 220) + [len(text) % 220]
    assert "".join(chunk.text for chunk in chunks) == text


@pytest.mark.parametrize(
    "text", ["中文没有空格。" * 3_000, "ภาษาไทยเป็นภาษาที่ไม่มีการเว้นวรรค" * 1_000], ids=["chinese", "thai"]
)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_other_scripts_without_spaces_make_bounded_chunks(text: str, strategy: str) -> None:
    chunks = chunks_of(text, strategy, max_tokens=220, overlap=40)
    assert len(chunks) > 5
    assert_bounded(chunks, 2_000)  # a few hundred tokens, far below the hard bound
    assert all(count_tokens(chunk.text) <= 220 for chunk in chunks)
