"""ExtractiveGenerator: quotes the right sentences with the right [n], and declines when nothing fits."""

from __future__ import annotations

from dataclasses import replace

from ragline.factory import build_generator
from ragline.generators.extractive import TERMS_ONLY, WITH_EMBEDDINGS, ExtractiveGenerator, content_terms
from ragline.generators.prompt import NO_ANSWER, parse_citations
from ragline.models import Chunk, SearchHit
from ragline.settings import Settings
from tests.fakes import FakeEmbedder

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


def test_the_answer_type_picks_the_sentence_with_the_number():
    sources = [
        hit("The company's engineers hire interns in Austin. The company will hire 35 new engineers in FY2026.", 1)
    ]

    answer = ExtractiveGenerator(max_sentences=1).generate("How many engineers will the company hire?", sources)

    assert answer.text == "The company will hire 35 new engineers in FY2026. [1]"


def test_a_word_of_the_title_counts_towards_its_sentences():
    chunk = Chunk(
        "c1", "d1", "v1", "The company will hire 35 new engineers.", "s3://b/p.md", "Contoso hiring plan", (), 0
    )
    question = "How many engineers will Contoso hire?"

    with_title = ExtractiveGenerator(weights=replace(TERMS_ONLY, context=1.0)).candidates(
        question, [hit(chunk.text, 1)]
    )
    without = ExtractiveGenerator(weights=replace(TERMS_ONLY, context=1.0)).candidates(
        question, [SearchHit(chunk, 1.0)]
    )

    assert without[0].context_coverage > 0 == with_title[0].context_coverage


def test_a_table_row_answers_with_its_header():
    passage = "| Country | Per diem |\n|---|---|\n| USA | $75 |\n| Germany | EUR 60 |"

    answer = ExtractiveGenerator().generate("What is the per diem in the USA?", [hit(passage, 1)])

    assert answer.text.startswith("Country: USA; Per diem: $75 [1]")


def test_the_similarity_signal_needs_an_embedder_and_reaches_the_score():
    sources = [hit("Business class may be booked for flights longer than six hours.", 1)]
    question = "Can I fly business class to New York?"
    embedder = FakeEmbedder()

    (with_vectors,) = ExtractiveGenerator(embedder=embedder).candidates(question, sources)
    (without,) = ExtractiveGenerator().candidates(question, sources)

    assert without.similarity == 0.0 < with_vectors.similarity
    assert embedder.documents[0] == question  # the question and the sentences, in one batch
    assert with_vectors.score(WITH_EMBEDDINGS, 0.0) > with_vectors.score(replace(WITH_EMBEDDINGS, similarity=0.0), 0.0)


def test_only_sentences_sharing_a_word_with_the_question_are_embedded():
    sources = [hit("Business class may be booked. Unrelated text entirely. Meals are covered.", 1)]
    embedder = FakeEmbedder()

    ExtractiveGenerator(embedder=embedder).candidates("Can I fly business class?", sources)

    assert embedder.documents == ["Can I fly business class?", "Business class may be booked."]


def test_the_factory_lends_the_generator_only_the_local_model():
    embedder = FakeEmbedder()

    local = build_generator(Settings(embedder="local", generator="extractive"), embedder)
    hashed = build_generator(Settings(embedder="hash", generator="extractive"), embedder)

    assert isinstance(local, ExtractiveGenerator) and local.embedder is embedder
    assert isinstance(hashed, ExtractiveGenerator) and hashed.embedder is None
    assert hashed.weights == TERMS_ONLY and local.weights == WITH_EMBEDDINGS
