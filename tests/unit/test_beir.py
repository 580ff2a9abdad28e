"""Reading BEIR folders: CRLF qrels with a header, judged test queries only, --limit and --max-docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragline.evaluation.beir import HALVES, half_of, load_beir, read_qrels


def write_beir(root: Path, docs: list[dict], queries: list[dict], qrels: list[tuple[str, str, int]]) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(json.dumps(query) + "\n" for query in queries), encoding="utf-8")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in qrels]
    (root / "qrels" / "test.tsv").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return root


@pytest.fixture
def dataset(tmp_path):
    docs = [{"_id": f"d{i}", "title": f"Title {i}", "text": f"text {i}"} for i in range(10)]
    queries = [{"_id": str(q), "text": f"query {q}"} for q in (1, 2, 10, 3, 99)]  # 99: another split's
    qrels = [("10", "d9", 2), ("2", "d1", 1), ("2", "d8", 0), ("1", "d0", 1), ("3", "d7", 1)]
    return write_beir(tmp_path / "tiny", docs, queries, qrels)


def test_reads_crlf_qrels_with_a_header(dataset):
    qrels = read_qrels(dataset / "qrels" / "test.tsv")
    assert qrels == {"10": {"d9": 2}, "2": {"d1": 1, "d8": 0}, "1": {"d0": 1}, "3": {"d7": 1}}


def test_keeps_only_judged_queries_in_numeric_id_order(dataset):
    loaded = load_beir(dataset)
    assert loaded.name == "tiny"
    assert [query.id for query in loaded.queries] == ["1", "2", "3", "10"]
    assert loaded.queries[0].text == "query 1"
    assert len(loaded.corpus) == 10
    assert loaded.corpus[3].title == "Title 3" and loaded.corpus[3].text == "text 3"


def test_limit_keeps_the_first_queries_and_their_judgements(dataset):
    loaded = load_beir(dataset, limit=2)
    assert [query.id for query in loaded.queries] == ["1", "2"]
    assert loaded.qrels == {"1": {"d0": 1}, "2": {"d1": 1, "d8": 0}}
    assert len(loaded.corpus) == 10  # the corpus stays whole without max_docs


def test_max_docs_keeps_the_judged_documents_then_the_first_others(dataset):
    loaded = load_beir(dataset, limit=2, max_docs=5)
    assert [doc.id for doc in loaded.corpus] == ["d0", "d1", "d2", "d3", "d8"]
    # judged documents are kept even past the maximum
    assert [doc.id for doc in load_beir(dataset, max_docs=2).corpus] == ["d0", "d1", "d7", "d8", "d9"]


def test_a_missing_file_or_folder_is_a_clear_error(tmp_path, dataset):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_beir(tmp_path / "absent")
    (dataset / "queries.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"queries\.jsonl"):
        load_beir(dataset)


def test_bad_lines_name_the_file_and_line(dataset):
    with (dataset / "qrels" / "test.tsv").open("a") as qrels:
        qrels.write("4\td1\thigh\r\n")
    with pytest.raises(ValueError, match=r"test.tsv:7: score 'high'"):
        load_beir(dataset)


def test_a_judged_query_without_text_is_an_error(tmp_path):
    root = write_beir(tmp_path / "bad", [{"_id": "d0", "title": "", "text": "x"}], [], [("1", "d0", 1)])
    with pytest.raises(ValueError, match=r"not in queries\.jsonl"):
        load_beir(root)


def test_the_halves_split_queries_by_a_hash_of_their_id_alone():
    ids = [str(n) for n in range(400)]
    halves = {query_id: half_of(query_id) for query_id in ids}
    assert set(halves.values()) == set(HALVES) == {"tune", "test"}
    assert 150 < sum(half == "tune" for half in halves.values()) < 250  # about half each
    assert all(half_of(query_id) == half for query_id, half in halves.items())  # stable, whatever the order


def test_half_keeps_that_half_of_the_judged_queries_before_the_limit(dataset):
    everything = [query.id for query in load_beir(dataset).queries]
    for half in HALVES:
        kept = [query.id for query in load_beir(dataset, half=half).queries]
        assert kept == [query_id for query_id in everything if half_of(query_id) == half]
    tune = [query.id for query in load_beir(dataset, half="tune").queries]
    test = [query.id for query in load_beir(dataset, half="test").queries]
    assert sorted(tune + test, key=int) == everything
    assert [query.id for query in load_beir(dataset, half="test", limit=1).queries] == test[:1]
