"""``ragline eval``: a tiny BEIR folder indexed and queried through the production code, in every mode."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from ragline.cli import main
from ragline.evaluation.beir import half_of
from ragline.evaluation.metrics import ndcg_at_k
from ragline.evaluation.runner import evaluate, format_report
from ragline.models import SearchHit
from ragline.settings import Settings
from tests.trec_run_format import parse_run_strictly

REPO = Path(__file__).resolve().parents[2]
SCIFACT = next(
    (
        path
        for path in (REPO.parent / "shared" / "data" / "scifact", Path("/work/shared/data/scifact"))
        if path.is_dir()
    ),
    None,
)

DOCS = {
    "d0": ("Volcanic eruptions", "Basalt lava flows from fissure vents in Iceland."),
    "d1": ("Coral reefs", "Bleaching of coral reefs follows marine heatwaves."),
    "d2": ("Honeybee navigation", "Foraging honeybees perform a waggle dance to report nectar."),
    "d3": ("Superconductors", "Cuprate superconductors lose resistance below a critical temperature."),
    "d4": ("Glaciers", "Alpine glaciers retreat as summers warm."),
    "d5": ("Tides", "The moon's gravity raises ocean tides twice a day."),
    "d6": ("Photosynthesis", "Chlorophyll absorbs red and blue light in leaves."),
    "d7": ("Black holes", "Accretion disks around black holes emit X-rays."),
    "d8": ("Antibiotics", "Penicillin inhibits bacterial cell wall synthesis."),
    "d9": ("", ""),  # nothing to index: skipped, as ingest would fail it
}
QUERIES = {
    "1": "waggle dance of honeybees",
    "2": "cuprate superconductors critical temperature",
    "3": "penicillin bacterial cell wall",
    "4": "basalt lava Iceland",
    "5": "a query of another split",
}
QRELS = [("1", "d2", 1), ("2", "d3", 2), ("3", "d8", 1), ("4", "d0", 1)]


@pytest.fixture
def tiny(tmp_path) -> Path:
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w") as corpus:
        for doc_id, (title, text) in DOCS.items():
            corpus.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (root / "queries.jsonl").open("w") as queries:
        for query_id, text in QUERIES.items():
            queries.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in QRELS]
    (root / "qrels" / "test.tsv").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return root


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGLINE_CACHE_DIR", str(tmp_path / "cache"))


def test_bm25_finds_exact_term_matches(tiny):
    report = evaluate(tiny, "bm25", embedder="hash", settings=Settings(), progress=False)
    assert report.metrics == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    assert report.queries == 4 and report.docs == 10 and report.skipped_docs == 1
    assert report.chunks == 9
    assert report.embedder == "none"
    assert report.runs["2"][0] == "d3"
    assert {"chunk", "embed", "store", "bm25", "queries", "total"} <= set(report.timings)
    assert "knn" not in report.timings and report.timings["embed"] < 0.5  # bm25 embeds nothing


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_dense_and_hybrid_modes_run_through_the_embedder(tiny, mode):
    report = evaluate(tiny, mode, embedder="hash", settings=Settings(), progress=False)
    assert report.embedder == "hash"
    assert report.metrics["ndcg@10"] == 1.0  # the hash embedder matches words, and these share words
    assert "knn" in report.timings and "query_embed" in report.timings
    assert ("bm25" in report.timings) == (mode == "hybrid")


def test_json_keys_and_limit(tiny):
    report = evaluate(tiny, "bm25", limit=2, embedder="hash", settings=Settings(), progress=False)
    data = report.to_dict()
    for key in ("ndcg@10", "recall@100", "mrr@10", "queries", "docs", "mode", "chunks", "timings", "latency_ms"):
        assert key in data
    assert data["queries"] == 2 and set(report.runs) == {"1", "2"}
    assert set(data["latency_ms"]) == {"mean", "p50", "p95"}
    assert data["dataset"] == "tiny"
    json.dumps(data)
    assert "nDCG@10" in format_report(report)


def test_the_embedding_cache_serves_a_second_run(tiny, tmp_path):
    first = evaluate(tiny, "dense", embedder="hash", cache=True, cache_dir=tmp_path / "c", progress=False)
    second = evaluate(tiny, "dense", embedder="hash", cache=True, cache_dir=tmp_path / "c", progress=False)
    assert first.cache["misses"] == 9 and first.cache["hits"] == 0
    assert second.cache["misses"] == 0 and second.cache["hits"] == 9
    assert second.metrics == first.metrics
    assert Path(first.cache["path"]) == tmp_path / "c" / "embeddings.sqlite3"


class ReversingFakeReranker:
    """A fake reranker (tests only): returns the candidates in reverse order, scored in that order."""

    name = "fake-reverse"

    def __init__(self) -> None:
        self.calls = 0

    def rerank(self, question: str, hits: Sequence[SearchHit], top_n: int) -> list[SearchHit]:
        self.calls += 1
        reversed_hits = list(reversed(hits))[:top_n]
        return [SearchHit(hit.chunk, float(len(reversed_hits) - rank)) for rank, hit in enumerate(reversed_hits)]


def test_hybrid_rerank_goes_through_the_reranker(tiny):
    reranker = ReversingFakeReranker()
    report = evaluate(tiny, "hybrid+rerank", embedder="hash", reranker=reranker, settings=Settings(), progress=False)
    assert reranker.calls == 4
    assert "rerank" in report.timings
    assert report.metrics["mrr@10"] < 1.0  # the reversed order is worse


def test_hybrid_rerank_without_a_reranker_is_a_clear_error(tiny):
    with pytest.raises(ValueError, match="reranker"):
        evaluate(tiny, "hybrid+rerank", embedder="hash", settings=Settings(reranker="none"), progress=False)


def test_an_unknown_mode_is_refused(tiny):
    with pytest.raises(ValueError, match="unknown mode"):
        evaluate(tiny, "sparse", embedder="hash", progress=False)


def test_cli_prints_json(tiny, capsys):
    code = main(["eval", "--dataset", str(tiny), "--mode", "bm25", "--limit", "3", "--embedder", "hash", "--json"])
    assert code == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["queries"] == 3 and data["ndcg@10"] == 1.0 and data["docs"] == 10
    assert "indexing" in captured.err  # the progress bars go to stderr


def test_cli_prints_a_table(tiny, capsys):
    assert main(["eval", "--dataset", str(tiny), "--mode", "hybrid", "--embedder", "hash", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "nDCG@10" in out and "recall@100" in out and "MRR@10" in out and "p95" in out


def test_cli_reports_a_missing_dataset(tmp_path, capsys):
    assert main(["eval", "--dataset", str(tmp_path / "absent"), "--mode", "bm25", "--embedder", "hash"]) == 2
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.skipif(SCIFACT is None, reason="SciFact (shared/data/scifact) is not here")
def test_scifact_sample_through_the_cli(capsys):
    argv = ["eval", "--dataset", str(SCIFACT), "--mode", "hybrid", "--limit", "5", "--max-docs", "200"]
    assert main([*argv, "--embedder", "hash", "--json", "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["queries"] == 5 and data["docs"] == 200 and data["dataset"] == "scifact"
    assert data["chunks"] >= 200
    assert 0.0 < data["ndcg@10"] <= 1.0 and 0.0 < data["recall@100"] <= 1.0


def test_cli_mode_defaults_to_the_settings_retrieval_mode(tiny, capsys, monkeypatch):
    monkeypatch.setenv("RAGLINE_RETRIEVAL_MODE", "bm25")
    assert main(["eval", "--dataset", str(tiny), "--embedder", "hash", "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "bm25"


@pytest.fixture
def self_retrieving(tiny) -> Path:
    """The tiny dataset with a document whose id is query 1's and whose text is the query itself, as in
    ArguAna or Quora: BM25 ranks it first, above the judged d2."""
    with (tiny / "corpus.jsonl").open("a") as corpus:
        corpus.write(json.dumps({"_id": "1", "title": "", "text": QUERIES["1"]}) + "\n")
    return tiny


def test_a_document_whose_id_is_the_query_s_is_ignored_and_counted(self_retrieving):
    report = evaluate(self_retrieving, "bm25", embedder="hash", settings=Settings(), progress=False)
    assert "1" not in report.runs["1"] and report.runs["1"][0] == "d2"
    assert report.metrics["ndcg@10"] == 1.0
    assert report.ignored_identical_ids == 1 and report.to_dict()["ignored_identical_ids"] == 1
    assert "ignored 1 retrieved documents whose id is the query's (BEIR's ignore_identical_ids)" in format_report(
        report
    )


def test_identical_ids_can_be_kept(self_retrieving):
    report = evaluate(
        self_retrieving, "bm25", embedder="hash", settings=Settings(), progress=False, ignore_identical_ids=False
    )
    assert report.runs["1"][:2] == ["1", "d2"]
    assert report.metrics["ndcg@10"] < 1.0 and report.per_query["ndcg@10"]["1"] == ndcg_at_k(["1", "d2"], {"d2": 1}, 10)
    assert report.ignored_identical_ids is None and "kept retrieved documents" in format_report(report)


def test_the_cli_says_how_many_it_ignored(self_retrieving, capsys):
    argv = ["eval", "--dataset", str(self_retrieving), "--mode", "bm25", "--embedder", "hash", "--no-progress"]
    assert main(argv) == 0
    assert "ignored 1 retrieved documents" in capsys.readouterr().out
    assert main([*argv, "--keep-identical-ids", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ignored_identical_ids"] is None


def test_the_run_file_holds_the_rankings_that_were_scored(self_retrieving, tmp_path, capsys):
    path = tmp_path / "out" / "run.trec"
    path.parent.mkdir()
    argv = ["eval", "--dataset", str(self_retrieving), "--mode", "hybrid", "--embedder", "hash", "--no-progress"]
    assert main([*argv, "--run", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"run file: {path}" in out and "tag ragline-hybrid" in out
    parsed = parse_run_strictly(path.read_text())
    report = evaluate(self_retrieving, "hybrid", embedder="hash", settings=Settings(), progress=False)
    assert {query_id: [doc for doc, *_ in lines] for query_id, lines in parsed.items()} == report.runs
    assert {tag for lines in parsed.values() for *_, tag in lines} == {"ragline-hybrid"}
    assert all("1" not in [doc for doc, *_ in lines] for query_id, lines in parsed.items() if query_id == "1")


def test_trec_tools_score_the_run_file_as_ragline_does(self_retrieving, tmp_path):
    ir_measures = pytest.importorskip("ir_measures")
    path = tmp_path / "run.trec"
    argv = ["eval", "--dataset", str(self_retrieving), "--mode", "bm25", "--embedder", "hash", "--no-progress"]
    assert main([*argv, "--keep-identical-ids", "--run", str(path)]) == 0
    report = evaluate(
        self_retrieving, "bm25", embedder="hash", settings=Settings(), progress=False, ignore_identical_ids=False
    )
    qrels = [ir_measures.Qrel(query_id, doc_id, grade) for query_id, doc_id, grade in QRELS]
    run = list(ir_measures.read_trec_run(str(path)))
    scores = ir_measures.calc_aggregate([ir_measures.nDCG @ 10, ir_measures.R @ 100], qrels, run)
    assert scores[ir_measures.nDCG @ 10] == pytest.approx(report.metrics["ndcg@10"])
    assert scores[ir_measures.R @ 100] == pytest.approx(report.metrics["recall@100"])
    assert report.metrics["ndcg@10"] < 1.0  # the kept self-match costs query 1, and the tools see it too


def test_a_run_file_in_a_missing_folder_is_refused_before_the_evaluation(tiny, tmp_path, capsys):
    path = tmp_path / "absent" / "run.trec"
    argv = ["eval", "--dataset", str(tiny), "--mode", "bm25", "--embedder", "hash", "--run", str(path)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "is not a folder: --run cannot write run.trec there" in captured.err and "indexing" not in captured.err


def test_run_and_answers_do_not_mix(tiny, tmp_path, capsys):
    argv = ["eval", "--dataset", str(tiny), "--answers", "--run", str(tmp_path / "run.trec"), "--embedder", "hash"]
    assert main(argv) == 2
    assert "--answers scores answers" in capsys.readouterr().err


def test_split_evaluates_one_half_of_the_queries(tiny):
    for half in ("tune", "test"):
        report = evaluate(tiny, "bm25", embedder="hash", settings=Settings(), progress=False, half=half)
        assert set(report.runs) == {query_id for query_id, _, _ in QRELS if half_of(query_id) == half}
        assert report.to_dict()["split"] == half and f"(the {half} half)" in format_report(report)
