"""``ragline eval --answers``: a tiny dataset with gold answers, indexed and answered through the
production code (QueryService.answer, as the query function calls it), scored as SQuAD scores answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragline.cli import main
from ragline.evaluation.answers import evaluate_answers, format_answer_report
from ragline.settings import Settings
from tests.fakes.generator import FakeGenerator

REPO = Path(__file__).resolve().parents[2]
SQUAD = next(
    (
        path
        for path in (REPO.parent / "shared" / "data" / "squad2-dev", Path("/work/shared/data/squad2-dev"))
        if path.is_dir()
    ),
    None,
)

DOCS = {
    "bees": ("Honeybee navigation", "Foraging honeybees perform a waggle dance to report nectar."),
    "cuprates": ("Superconductors", "Cuprate superconductors lose resistance below 138 kelvin."),
    "penicillin": ("Antibiotics", "Penicillin inhibits bacterial cell wall synthesis."),
    "iceland": ("Volcanic eruptions", "Basalt lava flows from fissure vents in Iceland."),
}
# id -> (question, gold answers or None for an unanswerable one, its paragraph, judged in qrels/test.tsv)
QUESTIONS = {
    "a1": ("What dance do foraging honeybees perform?", ["a waggle dance", "waggle dance"], "bees", True),
    "a2": ("Below what temperature do cuprate superconductors lose resistance?", ["138 kelvin"], "cuprates", True),
    "a3": ("What does penicillin inhibit?", ["bacterial cell wall synthesis"], "penicillin", True),
    "a9": ("What flows from fissure vents?", ["basalt lava"], "iceland", False),  # another split's: not asked
    "u1": ("Which zebra played the xylophone?", None, "bees", False),  # no word of it is indexed
    "u2": ("What colour is the penicillin bottle?", None, "penicillin", False),
}


@pytest.fixture
def answered(tmp_path) -> Path:
    root = tmp_path / "answered"
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w") as corpus:
        for doc_id, (title, text) in DOCS.items():
            corpus.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (root / "queries.jsonl").open("w") as queries, (root / "answers.jsonl").open("w") as answers:
        for question_id, (text, golds, context, _) in QUESTIONS.items():
            queries.write(json.dumps({"_id": question_id, "text": text}) + "\n")
            paragraph = DOCS[context][1]
            spans = [{"text": gold, "answer_start": paragraph.find(gold)} for gold in golds or []]
            record = {"_id": question_id, "context_id": context, "is_impossible": golds is None}
            answers.write(json.dumps(record | {"answers": golds or [], "spans": spans}) + "\n")
    judged = [f"{q}\t{context}\t1" for q, (_, _, context, in_test) in QUESTIONS.items() if in_test]
    (root / "qrels" / "test.tsv").write_bytes(("\r\n".join(["query-id\tcorpus-id\tscore", *judged]) + "\r\n").encode())
    return root


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGLINE_CACHE_DIR", str(tmp_path / "cache"))


def test_answers_go_through_the_query_service_and_are_scored(answered):
    generator = FakeGenerator(cite=[1])  # quotes its first source, as an answer citing [1]
    report = evaluate_answers(
        answered, "bm25", embedder="hash", settings=Settings(top_k=3), generator=generator, progress=False
    )
    assert [question for question, _ in generator.calls] == [QUESTIONS[q][0] for q in ("a1", "a2", "a3", "u1", "u2")]
    assert all(len(sources) <= 3 for _, sources in generator.calls)  # the settings' top_k, as in production
    data = report.to_dict()
    assert data["questions"] == 5 and data["generator"] == "fake" and data["top_k"] == 3
    answerable, unanswerable = data["answerable"], data["unanswerable"]
    assert answerable["questions"] == 3 and unanswerable["questions"] == 2
    # BM25 ranks each answerable question's own paragraph first, which holds the gold answer
    assert answerable["answered"] == 1.0 and answerable["contains_answer"] == 1.0
    assert answerable["context_retrieved"] == 1.0 and answerable["exact_match"] == 0.0
    assert 0.0 < answerable["f1"] < 1.0
    # u1 shares no word with the corpus: no sources, and the fake declines; u2 finds penicillin's paragraph
    assert generator.calls[3][1] == [] and generator.calls[4][1]
    assert unanswerable["declined"] == 0.5
    assert report.answers["a3"] == DOCS["penicillin"][1] + " [1]"
    assert "contains the answer" in format_answer_report(report)
    json.dumps(data)


def test_limit_and_split_choose_the_questions(answered):
    settings = Settings()
    kwargs = {"embedder": "hash", "settings": settings, "generator": FakeGenerator(), "progress": False}
    limited = evaluate_answers(answered, "bm25", limit=2, **kwargs)
    assert [score.question_id for score in limited.scores] == ["a1", "a2"]
    tune = evaluate_answers(answered, "bm25", half="tune", **kwargs)
    test = evaluate_answers(answered, "bm25", half="test", **kwargs)
    asked = sorted(score.question_id for score in tune.scores + test.scores)
    assert asked == ["a1", "a2", "a3", "u1", "u2"] and tune.to_dict()["split"] == "tune"


def test_max_docs_keeps_the_paragraphs_of_the_questions_asked(answered):
    report = evaluate_answers(
        answered, "bm25", limit=1, max_docs=1, embedder="hash", settings=Settings(), generator=FakeGenerator(),
        progress=False,
    )  # fmt: skip
    assert report.docs == 1 and report.to_dict()["answerable"]["context_retrieved"] == 1.0


def test_the_cli_scores_answers_with_the_configured_generator(answered, capsys, monkeypatch):
    monkeypatch.setenv("RAGLINE_GENERATOR", "extractive")
    argv = ["eval", "--dataset", str(answered), "--answers", "--mode", "hybrid", "--embedder", "hash"]
    assert main([*argv, "--limit", "4", "--json", "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["generator"] == "extractive" and data["mode"] == "hybrid" and data["questions"] == 4
    answerable = data["answerable"]
    assert answerable["questions"] == 3 and data["unanswerable"]["questions"] == 1
    assert answerable["answered"] + answerable["declined"] == pytest.approx(1.0)
    for name in ("contains_answer", "f1", "exact_match", "context_retrieved"):
        assert 0.0 <= answerable[name] <= 1.0
    assert answerable["contains_answer"] <= answerable["answered"]
    assert main([*argv, "--split", "test", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "(the test half)" in out and "unanswerable" in out and "token F1" in out


def test_a_dataset_without_answers_is_a_clear_error(answered, capsys):
    (answered / "answers.jsonl").unlink()
    argv = ["eval", "--dataset", str(answered), "--answers", "--mode", "bm25", "--embedder", "hash"]
    assert main([*argv, "--no-progress"]) == 2
    assert "answers.jsonl not found: --answers needs the gold answers" in capsys.readouterr().err


@pytest.mark.skipif(SQUAD is None, reason="SQuAD 2.0 dev (shared/data/squad2-dev) is not here")
def test_squad_sample_through_the_cli(capsys):
    argv = ["eval", "--dataset", str(SQUAD), "--answers", "--mode", "bm25", "--limit", "30"]
    assert main([*argv, "--embedder", "hash", "--json", "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["questions"] == 30 and data["dataset"] == "squad2-dev" and data["docs"] == 646
    assert data["answerable"]["questions"] + data["unanswerable"]["questions"] == 30
    assert data["answerable"]["questions"] > 0 and data["unanswerable"]["questions"] > 0
    assert data["answerable"]["context_retrieved"] > 0.5
