"""ExtractiveGenerator: quotes the right sentences with the right [n], and declines when nothing fits."""

from __future__ import annotations

from dataclasses import replace

from ragline.generators.extractive import TERMS_ONLY, ExtractiveGenerator, content_terms
from ragline.generators.prompt import NO_ANSWER, parse_citations
from ragline.models import Chunk, SearchHit

HR = (
    "# Annual leave\n\n"
    "Full-time employees receive 25 days of paid annual leave per calendar year. "
    "Leave requests must be approved by your line manager at least two weeks in advance. "
    "Unused leave of up to 5 days can be carried over into the next year."
)
SAFETY = (
    "Every person must complete the lab safety induction before receiving badge access to a laboratory. "
    "The induction must be repeated every 12 months. "
    "In an emergency call extension 4-911 and follow the building evacuation plan."
)
FINANCE = (
    "Revenue in the third quarter was $14.2 million, up 18% from the second quarter. "
    "Capital expenditure was $2.3 million, mostly new test equipment."
)


def hit(text: str, n: int) -> SearchHit:
    return SearchHit(Chunk(f"c{n}", f"d{n}", "v1", text, f"s3://b/{n}.md", f"Doc {n}", ("staff",), n), 1.0 / n)


SOURCES = [hit(HR, 1), hit(SAFETY, 2), hit(FINANCE, 3)]


def test_answers_from_the_right_source_with_its_marker():
    answer = ExtractiveGenerator().generate("How often must the induction be repeated?", SOURCES)

    assert answer.cited == [2]
    assert "The induction must be repeated every 12 months. [2]" in answer.text
    assert answer.model == "extractive"
    assert parse_citations(answer.text, 3) == answer.cited


def test_cites_the_first_source_for_a_leave_question():
    answer = ExtractiveGenerator().generate("How many days of annual leave do employees receive?", SOURCES)

    assert answer.text.startswith("Full-time employees receive 25 days of paid annual leave per calendar year. [1]")
    assert answer.cited == [1]


def test_declines_an_unrelated_question():
    answer = ExtractiveGenerator().generate("What is the weather in Paris tomorrow?", SOURCES)

    assert answer.text == NO_ANSWER
    assert answer.cited == []
    assert answer.model == "extractive"


def test_declines_when_only_one_word_of_a_specific_question_matches():
    # "capital" appears (capital expenditure) but the question is about France.
    answer = ExtractiveGenerator().generate("What is the capital of France?", SOURCES)

    assert answer.text == NO_ANSWER


def test_declines_without_sources_or_content_words():
    generator = ExtractiveGenerator()
    assert generator.generate("How much leave do I get?", []).text == NO_ANSWER
    assert generator.generate("What is it?", SOURCES).text == NO_ANSWER  # stopwords only


def test_sentences_from_several_sources_come_in_source_order():
    sources = [
        hit("Badge access to the laboratory requires the safety induction.", 1),
        hit("Paid annual leave is 25 days per year for employees.", 2),
    ]
    answer = ExtractiveGenerator(weights=replace(TERMS_ONLY, decline_below=0.2, runner_up_within=0.0)).generate(
        "What do employees get for annual leave and laboratory badge access?", sources
    )

    assert answer.cited == [1, 2]
    assert answer.text.index("[1]") < answer.text.index("[2]")


def test_max_sentences_is_respected():
    text = " ".join(f"Leave rule {i} says annual leave is {20 + i} days." for i in range(6))
    answer = ExtractiveGenerator(max_sentences=2).generate("What does the annual leave rule say?", [hit(text, 1)])

    assert answer.text.count("[1]") == 2


def test_near_duplicate_sentences_from_overlapping_chunks_appear_once():
    sentence = "Unused leave of up to 5 days can be carried over into the next year."
    sources = [hit(f"Some intro text here. {sentence}", 1), hit(f"{sentence} Other text follows.", 2)]

    answer = ExtractiveGenerator().generate("Can unused leave days be carried over?", sources)

    assert answer.text.count("carried over") == 1
    assert answer.cited == [1]  # the copy in the better-ranked source wins


def test_higher_ranked_source_wins_a_tie():
    same = "Parking permits are issued by the facilities team."
    sources = [hit(f"{same}", 1), hit("Unrelated words entirely.", 2), hit(f"{same.replace('the', 'our')}", 3)]

    answer = ExtractiveGenerator(max_sentences=1).generate("Who issues parking permits?", sources)

    assert answer.cited == [1]


def test_headings_are_not_quoted():
    answer = ExtractiveGenerator().generate("Annual leave?", [hit(HR, 1)])

    assert "# Annual leave" not in answer.text
    assert not answer.text.startswith("Annual leave [1]")
    assert answer.cited == [1]


def test_word_forms_are_folded():
    assert {"day", "policy", "repeat", "employe"} <= content_terms("Days, policies, repeated by employees")
    answer = ExtractiveGenerator().generate(
        "Which policies cover repeated inductions?", [hit("The policy says each induction is repeated yearly.", 1)]
    )
    assert answer.cited == [1]
