"""The answer scores of ``ragline eval --answers`` (ragline.evaluation.answers) on hand-made cases:
SQuAD's normalisation, token F1 and exact match, contains-answer, what a decline is, and which questions
of a dataset are asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragline.evaluation.answers import (
    AnswerReport,
    GoldQuestion,
    answer_text,
    contains_answer,
    exact_match,
    load_questions,
    normalize_answer,
    score_answer,
    token_f1,
)
from ragline.evaluation.beir import half_of
from ragline.generators.prompt import NO_ANSWER
from ragline.models import Answer


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Normans", "normans"),
        ("  in the 10th  and 11th centuries. ", "in 10th and 11th centuries"),
        ("A cat, an owl & the end!", "cat owl end"),
        ("theory of Anatomy", "theory of anatomy"),  # only whole articles go: "the" in "theory" stays
        ("U.S.-based", "usbased"),  # punctuation is deleted, not replaced by a space, as SQuAD does
        ("", ""),
    ],
)
def test_normalisation_is_squads(text, normalised):
    assert normalize_answer(text) == normalised


def test_token_f1_is_squads_definition():
    assert token_f1("Normandy, France", "France") == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert token_f1("the France", "France") == 1.0  # articles and punctuation do not count
    assert token_f1("Paris", "France") == 0.0
    # repeated tokens count as often as both sides have them
    assert token_f1("ten ten ten", "ten ten") == pytest.approx(2 * (2 / 3) * 1.0 / (2 / 3 + 1.0))
    assert token_f1("", "") == 1.0 and token_f1("the", "France") == 0.0  # nothing left on one side


def test_exact_match_after_normalisation_only():
    assert exact_match("The Normans.", "normans")
    assert not exact_match("the Normans of France", "Normans")


def test_contains_answer_is_the_gold_answer_as_whole_words():
    assert contains_answer("Normandy is a region of France. [1]", "France")
    assert contains_answer("It began in the 10th and 11th centuries.", "in the 10th and 11th centuries")
    assert not contains_answer("It cost 100 pounds.", "10")
    assert not contains_answer("France", "Normandy, France")
    assert contains_answer("Anything", "the") is False and contains_answer("", "a") is True


def test_a_decline_is_what_the_api_calls_one():
    assert Answer(NO_ANSWER, cited=[], model="extractive").declined
    assert not Answer("Some uncited words.", cited=[]).declined  # an answer, if an unchecked one
    assert not Answer("Normandy is in France. [1]", cited=[1]).declined


def test_citation_markers_are_not_part_of_the_scored_text():
    answer = Answer("Normandy is in France [1]. Rollo led them [2, 3]. It grew [1][2].", cited=[1, 2, 3])
    assert answer_text(answer) == "Normandy is in France. Rollo led them. It grew."


FRANCE = GoldQuestion("q1", "In what country is Normandy?", ("France", "in France"), False, "Normans_0")
IMPOSSIBLE = GoldQuestion("q2", "Who gave Normandy its name in 1066?", (), True, "Normans_0")


def test_an_answer_scores_the_best_over_the_gold_answers():
    score = score_answer(FRANCE, Answer("in France [1]", cited=[1]), context_retrieved=True)
    assert not score.declined and score.contains and score.exact and score.f1 == 1.0
    assert score.words == 2 and score.context_retrieved


def test_a_declined_or_impossible_question_scores_nothing_on_the_answer_measures():
    declined = score_answer(FRANCE, Answer(NO_ANSWER))
    assert declined.declined and not declined.contains and not declined.exact and declined.f1 == 0.0
    assert declined.words == 0
    answered = score_answer(IMPOSSIBLE, Answer("Normandy is in France. [1]", cited=[1]))
    assert answered.impossible and not answered.declined and not answered.contains and answered.f1 == 0.0


def report_of(scores) -> AnswerReport:
    return AnswerReport("tiny", "bm25", "none", "fake", 5, None, 3, 3, scores, {}, {"mean": 0.0})


def test_the_report_counts_over_answerable_and_over_answered():
    scores = [
        score_answer(FRANCE, Answer("Normandy is in France. [1]", cited=[1]), True),  # contains, 4 words
        score_answer(FRANCE, Answer("in France [1]", cited=[1]), True),  # exact, 2 words
        score_answer(FRANCE, Answer(NO_ANSWER), False),  # declined
        score_answer(FRANCE, Answer("Paris. [1]", cited=[1]), False),  # wrong, 1 word
        score_answer(IMPOSSIBLE, Answer(NO_ANSWER)),
        score_answer(IMPOSSIBLE, Answer("Rollo. [1]", cited=[1])),
    ]
    data = report_of(scores).to_dict()
    answerable, unanswerable = data["answerable"], data["unanswerable"]
    assert answerable["questions"] == 4 and unanswerable["questions"] == 2 and data["questions"] == 6
    assert answerable["answered"] == 0.75 and answerable["declined"] == 0.25
    assert answerable["contains_answer"] == 0.5 and answerable["exact_match"] == 0.25
    assert answerable["of_answered"]["contains_answer"] == round(2 / 3, 4)
    assert answerable["of_answered"]["exact_match"] == round(1 / 3, 4)
    f1_first = token_f1("Normandy is in France.", "in France")
    assert answerable["f1"] == round((f1_first + 1.0) / 4, 4)
    assert answerable["of_answered"]["f1"] == round((f1_first + 1.0) / 3, 4)
    assert answerable["context_retrieved"] == 0.5
    assert answerable["answer_words"] == {"mean": round(7 / 3, 4), "median": 2.0}
    assert unanswerable["declined"] == 0.5
    json.dumps(data)


def test_an_empty_report_has_zero_shares_not_an_error():
    data = report_of([]).to_dict()
    assert data["answerable"]["answered"] == 0.0 and data["unanswerable"]["declined"] == 0.0
    assert data["answerable"]["answer_words"] == {"mean": 0.0, "median": 0.0}


def write_dataset(root: Path, answers: list[dict], queries: dict[str, str], judged: list[str]) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(json.dumps({"_id": "p1", "title": "T", "text": "x"}) + "\n")
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\tp1\t1" for q in judged]
    (root / "qrels" / "test.tsv").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    (root / "answers.jsonl").write_text("".join(json.dumps(record) + "\n" for record in answers))
    return root


def gold(question_id: str, impossible: bool = False) -> dict:
    answers = [] if impossible else [f"answer {question_id}"]
    spans = [{"text": answer, "answer_start": 0} for answer in answers]
    return {"_id": question_id, "context_id": "p1", "is_impossible": impossible, "answers": answers, "spans": spans}


def test_asked_are_judged_answerable_and_known_unanswerable_questions_in_id_order(tmp_path):
    answers = [gold("10"), gold("2"), gold("3", impossible=True), gold("4"), gold("5", impossible=True)]
    queries = {"2": "two?", "3": "three?", "4": "four?", "10": "ten?"}  # 5 has no text: not asked
    root = write_dataset(tmp_path / "d", answers, queries, judged=["2", "10"])  # 4: another split's
    questions = load_questions(root)
    assert [question.id for question in questions] == ["2", "3", "10"]
    assert questions[0] == GoldQuestion("2", "two?", ("answer 2",), False, "p1")
    assert questions[1].impossible and questions[1].answers == ()
    assert [question.id for question in load_questions(root, limit=2)] == ["2", "3"]
    for half in ("tune", "test"):
        assert [q.id for q in load_questions(root, half=half)] == [q.id for q in questions if half_of(q.id) == half]


def test_a_dataset_without_gold_answers_or_with_a_bad_line_is_a_clear_error(tmp_path):
    root = write_dataset(tmp_path / "d", [gold("1")], {"1": "one?"}, judged=["1"])
    (root / "answers.jsonl").write_text(json.dumps({"_id": "1", "is_impossible": False, "answers": []}) + "\n")
    with pytest.raises(ValueError, match=r"answers\.jsonl:1: an answerable question without answers"):
        load_questions(root)
    (root / "answers.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"answers\.jsonl"):
        load_questions(root)
