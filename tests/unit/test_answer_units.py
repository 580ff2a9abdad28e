"""answer_units and answer_types: what the extractive answerer may quote, and what a question asks for."""

from __future__ import annotations

import pytest

from ragline.generators.answer_types import expected_answer_type, has_answer_type
from ragline.generators.answer_units import MAX_UNIT_TOKENS, answer_units, rows_from_cells
from ragline.words import count_tokens


def test_a_pdf_heading_line_is_kept_apart_from_the_sentence_after_it():
    passage = (
        "Contoso IT security standard\nPasswords\nAll passwords must be at least 14 characters long and must be"
        " changed\nevery 90 days.\nLaptops\nLaptops must be encrypted."
    )

    assert answer_units(passage) == [
        "All passwords must be at least 14 characters long and must be changed every 90 days.",
        "Laptops must be encrypted.",
    ]


def test_a_line_wrapped_before_a_capitalised_word_stays_in_its_sentence():
    passage = "Every laptop that leaves the office for a customer visit must be encrypted with\nBitLocker first."

    assert answer_units(passage) == [
        "Every laptop that leaves the office for a customer visit must be encrypted with BitLocker first."
    ]


def test_markdown_headings_emphasis_and_list_markers_are_dropped():
    passage = "# Leave\n\n**Owner:** People team\n\n- Staff get 25 days.\n- Requests go to your manager."

    assert answer_units(passage) == ["Owner: People team", "Staff get 25 days.", "Requests go to your manager."]


def test_markdown_table_rows_carry_their_header():
    passage = "Opening hours:\n| Office | Hours |\n|---|---|\n| Berlin | 8:00 to 18:00 |\n| Austin | 7:30 to 17:30 |"

    assert answer_units(passage) == [
        "Opening hours:",
        "Office: Berlin; Hours: 8:00 to 18:00",
        "Office: Austin; Hours: 7:30 to 17:30",
    ]


def test_a_table_given_cell_by_cell_is_read_back_into_rows():
    # As the DOCX and HTML parsers give a table: one paragraph per cell.
    cells = ["Country", "Per diem", "Hotel cap", "USA", "$75", "$250", "Germany", "EUR 60", "EUR 180"]

    assert answer_units("Allowances by country:\n\n" + "\n\n".join(cells)) == [
        "Allowances by country:",
        "Country: USA; Per diem: $75; Hotel cap: $250",
        "Country: Germany; Per diem: EUR 60; Hotel cap: EUR 180",
    ]


def test_short_paragraphs_that_fit_no_table_are_headings_not_rows():
    assert rows_from_cells(["Summary", "Results", "2026 plan"]) is None
    assert answer_units("Summary\n\nResults\n\n2026 plan") == []


def test_a_long_unit_is_cut_and_marked():
    (unit,) = answer_units(" ".join(["word"] * 200) + ".")

    assert unit.endswith(" ...")
    assert count_tokens(unit) <= MAX_UNIT_TOKENS + len(" ...")


def test_thousands_of_short_lines_are_read_without_recursion():
    assert answer_units("\n".join(["Heading"] * 5000) + "\nThe end.") == ["The end."]


@pytest.mark.parametrize(
    ("question", "answer_type"),
    [
        ("How many engineers will Contoso hire?", "number"),
        ("How much does a permit cost?", "number"),
        ("How long must passwords be kept?", "duration"),
        ("When was the lab founded?", "date"),
        ("In what year did the Normans conquer England?", "date"),
        ("Who leads the team?", "name"),
        ("Where is the assembly point?", "place"),
        ("Can I fly business class?", None),
    ],
)
def test_the_question_says_what_kind_of_answer_it_wants(question, answer_type):
    assert expected_answer_type(question) == answer_type


def test_an_answer_type_counts_only_beyond_the_question_s_own_words():
    assert has_answer_type("date", "The company will hire 35 engineers in FY2026.", set())
    assert not has_answer_type("date", "The 2026 plan grows the team.", {"2026", "plan"})
    assert has_answer_type("duration", "Passwords are changed every 90 days.", set())
    assert has_answer_type("name", "The team is led by Dr. Kenji Mori.", {"team"})
    assert not has_answer_type("number", "The team is led by a chemist.", set())
