"""Chunking: budgets, paragraph and sentence boundaries, overlap, headings, pages and invariants."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragline.chunking import chunk, chunk_document
from ragline.models import ParsedDocument, Section
from ragline.words import count_tokens, joins_unspaced, split_sentences, tokens
from tests.conftest import examples


def doc(*sections: Section) -> ParsedDocument:
    return ParsedDocument(title="Doc", sections=list(sections))


def sentences(prefix: str, count: int, words: int = 5) -> list[str]:
    """``count`` distinct sentences of ``words + 1`` tokens each (words and a full stop)."""
    return [
        " ".join([f"{prefix.capitalize()}{i}", *(f"{prefix}{i}w{j}" for j in range(1, words))]) + "."
        for i in range(count)
    ]


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


# --- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (-5, 0), (10, -1), (10, 10), (10, 11)])
def test_invalid_arguments_raise_value_error(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_document(doc(Section("Text.")), max_tokens=max_tokens, overlap=overlap)


def test_defaults_keep_a_short_document_whole() -> None:
    section = Section("First paragraph.\n\nSecond paragraph.", ("Intro",), 3)
    assert chunk_document(doc(section)) == [section]


# --- packing -----------------------------------------------------------------------------------


def test_whole_paragraphs_are_packed_while_they_fit() -> None:
    paragraphs = [" ".join(sentences(f"p{n}x", 2)) for n in range(5)]  # 12 tokens each
    chunks = chunk_document(doc(Section("\n\n".join(paragraphs))), max_tokens=30, overlap=0)
    assert [chunk.text for chunk in chunks] == [
        "\n\n".join(paragraphs[0:2]),
        "\n\n".join(paragraphs[2:4]),
        paragraphs[4],
    ]


def test_a_paragraph_that_fits_is_moved_whole_rather_than_split() -> None:
    short, fits = " ".join(sentences("a", 2)), " ".join(sentences("b", 3))  # 12 and 18 tokens
    chunks = chunk_document(doc(Section(f"{short}\n\n{fits}")), max_tokens=20, overlap=0)
    assert [chunk.text for chunk in chunks] == [short, fits]


def test_a_long_paragraph_is_split_at_sentence_boundaries() -> None:
    parts = sentences("s", 10)  # 6 tokens each
    chunks = chunk_document(doc(Section(" ".join(parts))), max_tokens=20, overlap=0)
    assert [split_sentences(chunk.text) for chunk in chunks] == [parts[0:3], parts[3:6], parts[6:9], parts[9:]]


def test_a_sentence_longer_than_the_budget_is_split_into_word_windows() -> None:
    sentence = " ".join(f"word{i}" for i in range(25)) + "."
    chunks = chunk_document(doc(Section(sentence)), max_tokens=10, overlap=0)
    assert [count_tokens(chunk.text) for chunk in chunks] == [10, 10, 6]
    assert words(" ".join(chunk.text for chunk in chunks)) == words(sentence)


def test_a_single_word_of_many_tokens_is_cut_between_tokens() -> None:
    word = "-".join(f"part{i}" for i in range(10))  # 19 tokens, no spaces
    chunks = chunk_document(doc(Section(word)), max_tokens=8, overlap=0)
    assert all(count_tokens(chunk.text) <= 8 for chunk in chunks)
    assert "".join(chunk.text for chunk in chunks) == word


# --- tokens of text without spaces ------------------------------------------------------------


def test_each_chinese_or_japanese_character_is_a_token() -> None:
    assert tokens("東京タワーへ行く。Tokyo") == ["東", "京", "タ", "ワ", "ー", "へ", "行", "く", "。", "Tokyo"]


def test_a_run_longer_than_a_word_counts_one_token_per_24_characters() -> None:
    assert [len(token) for token in tokens("x" * 60)] == [24, 24, 12]
    assert count_tokens("internationalization don't rock'n'roll") == 3


def test_apostrophes_join_a_bounded_number_of_runs() -> None:
    assert max(len(token) for token in tokens("a'" * 10_000)) <= 3 * 24 + 2


def test_japanese_sentences_end_at_full_stops_without_spaces() -> None:
    assert split_sentences("雨です。「晴れ？」と聞いた。明日は晴れ！") == [
        "雨です。",
        "「晴れ？」と聞いた。",
        "明日は晴れ！",
    ]
    assert joins_unspaced("雨です。", "明日") and not joins_unspaced("rain.", "明日")


def test_a_run_of_abbreviations_stays_one_sentence() -> None:
    assert split_sentences("Dr. " * 5 + "Mori came.") == ["Dr. Dr. Dr. Dr. Dr. Mori came."]


# --- overlap -----------------------------------------------------------------------------------


def test_next_chunk_starts_with_trailing_sentences_of_the_previous() -> None:
    parts = sentences("s", 8)  # 6 tokens each
    chunks = chunk_document(doc(Section(" ".join(parts))), max_tokens=20, overlap=13)
    assert (
        [split_sentences(chunk.text) for chunk in chunks]
        == [
            parts[0:3],
            parts[1:4],  # two sentences (12 tokens) carry over; a third would exceed the overlap
            parts[2:5],
            parts[3:6],
            parts[4:7],
            parts[5:8],
        ]
    )


def test_overlap_is_at_most_the_given_number_of_tokens() -> None:
    parts = sentences("s", 12)
    chunks = chunk_document(doc(Section(" ".join(parts))), max_tokens=30, overlap=12)
    for previous, current in itertools.pairwise(chunks):
        shared = [s for s in split_sentences(current.text) if s in split_sentences(previous.text)]
        assert shared == split_sentences(previous.text)[-len(shared) :]
        assert 0 < sum(count_tokens(s) for s in shared) <= 12


def test_overlap_keeps_paragraph_breaks() -> None:
    first, second = " ".join(sentences("a", 3)), " ".join(sentences("b", 3))  # 18 tokens each
    chunks = chunk_document(doc(Section(f"{first}\n\n{second}")), max_tokens=25, overlap=6)
    assert chunks[1].text == f"{sentences('a', 3)[-1]}\n\n{second}"


def test_zero_overlap_repeats_nothing() -> None:
    text = " ".join(sentences("s", 20))
    chunks = chunk_document(doc(Section(text)), max_tokens=20, overlap=0)
    assert words(" ".join(chunk.text for chunk in chunks)) == words(text)


def test_no_overlap_across_a_heading_change() -> None:
    a, b = sentences("a", 6), sentences("b", 6)
    chunks = chunk_document(doc(Section(" ".join(a), ("A",)), Section(" ".join(b), ("B",))), max_tokens=20, overlap=10)
    first_b = next(chunk for chunk in chunks if chunk.heading_path == ("B",))
    assert split_sentences(first_b.text)[0] == b[0]
    assert not set(words(first_b.text)) & set(words(" ".join(a)))


# --- structure ---------------------------------------------------------------------------------


def test_different_heading_paths_are_never_mixed() -> None:
    sections = [Section("Alpha.", ("A",)), Section("Beta.", ("A", "B")), Section("Gamma.", ("A",))]
    chunks = chunk_document(doc(*sections))
    assert chunks == sections


def test_consecutive_sections_with_one_heading_path_are_packed_together() -> None:
    sections = [Section("One.", ("A",)), Section("Two.", ("A",))]
    assert chunk_document(doc(*sections)) == [Section("One.\n\nTwo.", ("A",))]


def test_sections_without_words_make_no_chunks() -> None:
    sections = [
        Section("", ("Heading only",)),
        Section("  \n\n ", ("Blank",)),
        Section("---", ("Rule",)),
        Section("Body.", ("Real",)),
    ]
    assert chunk_document(doc(*sections)) == [Section("Body.", ("Real",))]


def test_empty_document_gives_no_chunks() -> None:
    assert chunk_document(doc()) == []


def test_pages_are_never_mixed_so_a_citation_page_is_exact() -> None:
    pages = [Section(" ".join(sentences(f"p{n}x", 2)), page=n) for n in (1, 2, 3)]  # 12 tokens each
    chunks = chunk_document(doc(*pages), max_tokens=30, overlap=0)
    assert [(chunk.page, chunk.text) for chunk in chunks] == [(n, pages[n - 1].text) for n in (1, 2, 3)]


def test_page_of_a_chunk_split_inside_a_long_page() -> None:
    pages = [Section(" ".join(sentences(f"p{n}x", 6)), page=n) for n in (1, 2)]  # 36 tokens each
    chunks = chunk_document(doc(*pages), max_tokens=20, overlap=0)
    assert [chunk.page for chunk in chunks] == [1, 1, 2, 2]


def test_chunking_is_deterministic() -> None:
    parsed = doc(*(Section(" ".join(sentences(f"x{n}y", 9)), (f"H{n % 2}",), n) for n in range(6)))
    assert chunk_document(parsed, 25, 8) == chunk_document(parsed, 25, 8)


# --- properties --------------------------------------------------------------------------------

_sentences = st.tuples(
    st.integers(1, 30),  # words in the sentence
    st.booleans(),  # capitalised, so split_sentences may cut before it
    st.integers(0, 9),  # 0: append a hyphenated word of many tokens, such as a URL
    st.sampled_from([".", "!", "?", ",", ""]),
)
_paragraphs = st.tuples(st.lists(_sentences, min_size=1, max_size=6), st.sampled_from([" ", "\n"]))
_sections = st.tuples(
    st.lists(_paragraphs, max_size=4),
    st.sampled_from([(), ("A",), ("A", "B"), ("C",)]),
    st.one_of(st.none(), st.integers(1, 50)),
)


@st.composite
def documents(draw: st.DrawFn) -> ParsedDocument:
    """Sections of distinct words tagged with the section's index, so every word's origin is known."""
    sections = []
    counter = itertools.count()
    for index, (paragraphs, heading_path, page) in enumerate(draw(st.lists(_sections, max_size=6))):
        texts = []
        for sentence_specs, separator in paragraphs:
            sentence_texts = []
            for length, capitalised, long_word, end in sentence_specs:
                tagged = [f"s{index}w{next(counter)}" for _ in range(length)]
                if capitalised:
                    tagged[0] = tagged[0].capitalize()
                if long_word == 0:
                    tagged.append("-".join(tagged))
                sentence_texts.append(" ".join(tagged) + end)
            texts.append(separator.join(sentence_texts))
        sections.append(Section("\n\n".join(texts), heading_path, page))
    return ParsedDocument("Generated", sections)


budgets = st.integers(1, 60).flatmap(lambda size: st.tuples(st.just(size), st.integers(0, size - 1)))


@settings(max_examples=examples(200), deadline=None)
@given(documents(), budgets)
def test_every_chunk_fits_the_budget(parsed: ParsedDocument, budget: tuple[int, int]) -> None:
    max_tokens, overlap = budget
    for piece in chunk_document(parsed, max_tokens, overlap):
        assert 0 < count_tokens(piece.text) <= max_tokens


@settings(max_examples=examples(200), deadline=None)
@given(documents(), budgets)
def test_every_word_appears_in_order(parsed: ParsedDocument, budget: tuple[int, int]) -> None:
    max_tokens, overlap = budget
    expected = words(" ".join(section.text for section in parsed.sections))
    chunked = iter(words(" ".join(chunk.text for chunk in chunk_document(parsed, max_tokens, overlap))))
    assert all(word in chunked for word in expected)  # a subsequence: overlap only repeats words


@settings(max_examples=examples(200), deadline=None)
@given(documents(), st.integers(1, 60))
def test_without_overlap_words_appear_exactly_once(parsed: ParsedDocument, max_tokens: int) -> None:
    expected = words(" ".join(section.text for section in parsed.sections))
    chunks = chunk_document(parsed, max_tokens, 0)
    assert words(" ".join(chunk.text for chunk in chunks)) == expected


@settings(max_examples=examples(200), deadline=None)
@given(documents(), budgets)
def test_no_chunk_mixes_heading_paths(parsed: ParsedDocument, budget: tuple[int, int]) -> None:
    max_tokens, overlap = budget
    for piece in chunk_document(parsed, max_tokens, overlap):
        origins = {int(match) for match in re.findall(r"[sS](\d+)w", piece.text)}
        assert {parsed.sections[origin].heading_path for origin in origins} == {piece.heading_path}
        assert {parsed.sections[origin].page for origin in origins} == {piece.page}


@settings(max_examples=examples(100), deadline=None)
@given(documents(), budgets)
def test_chunking_is_deterministic_for_any_input(parsed: ParsedDocument, budget: tuple[int, int]) -> None:
    max_tokens, overlap = budget
    assert chunk_document(parsed, max_tokens, overlap) == chunk_document(parsed, max_tokens, overlap)


def test_fixed_windows_ignore_structure_but_keep_every_word_in_order() -> None:
    parsed = doc(Section("Alpha beta gamma.\n\nDelta epsilon.", ("A",), 1), Section("Zeta eta theta.", ("B",), 2))
    chunks = chunk(parsed, "fixed", max_tokens=5, overlap=0)
    assert [c.text for c in chunks] == ["Alpha beta gamma. Delta", "epsilon. Zeta eta", "theta."]
    assert [c.page for c in chunks] == [1, 1, 2]
    assert all(c.heading_path == () for c in chunks)


def test_fixed_windows_overlap_by_whole_words() -> None:
    parsed = doc(Section(" ".join(f"w{n}" for n in range(10))))
    texts = [c.text for c in chunk(parsed, "fixed", max_tokens=4, overlap=2)]
    assert texts[0] == "w0 w1 w2 w3" and texts[1].startswith("w2 w3")


def test_parent_child_children_are_small_and_carry_their_parent() -> None:
    paragraphs = [" ".join(sentences(f"p{n}x", 4)) for n in range(6)]  # 24 tokens each
    parsed = doc(Section("\n\n".join(paragraphs), ("H",), 1))
    children = chunk(parsed, "parent-child", max_tokens=30, overlap=0, parent_tokens=100)
    parents = {c.context for c in children}
    assert len(children) > len(parents) > 1
    for child in children:
        assert count_tokens(child.text) <= 30
        assert child.text in child.context or child.context == ""
        assert child.heading_path == ("H",) and child.page == 1


def test_a_parent_that_fits_one_child_has_no_separate_context() -> None:
    children = chunk(doc(Section("Short text.")), "parent-child", max_tokens=30, overlap=0, parent_tokens=100)
    assert [(c.text, c.context) for c in children] == [("Short text.", "")]


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError):
        chunk(doc(Section("x")), "semantic", 10, 0)
