"""TREC run files (ragline.evaluation.trec) and the identical-id rule of ``ragline eval``
(ragline.evaluation.runner.ranked_documents), on hand-made rankings."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ragline.evaluation.runner import DOCS_PER_QUERY, ranked_documents
from ragline.evaluation.trec import run_tag, write_run
from ragline.models import Chunk, SearchHit
from tests.trec_run_format import parse_run_strictly

RUNS = {"q1": ["d3", "d1", "d2"], "10": ["d2"], "q-empty": []}


def written(runs=RUNS, tag="ragline-hybrid+rerank") -> str:
    out = io.StringIO()
    write_run(out, runs, tag)
    return out.getvalue()


def test_the_file_lists_each_query_s_documents_in_order_with_ranks_from_one():
    parsed = parse_run_strictly(written())
    assert {query_id: [doc for doc, *_ in lines] for query_id, lines in parsed.items()} == {
        "q1": ["d3", "d1", "d2"],
        "10": ["d2"],
    }
    assert parsed["q1"][0] == ("d3", 1, 3.0, "ragline-hybrid+rerank")
    assert run_tag("hybrid+rerank") == "ragline-hybrid+rerank"


def test_what_the_format_cannot_hold_is_refused():
    with pytest.raises(ValueError, match="more than once"):
        written({"q1": ["d1", "d1"]})
    with pytest.raises(ValueError, match="document id 'a b'"):
        written({"q1": ["a b"]})
    with pytest.raises(ValueError, match="query id"):
        written({"q\t1": ["d1"]})
    with pytest.raises(ValueError, match="run tag"):
        written(tag="")


def test_ir_measures_reads_the_file_in_the_same_order(tmp_path: Path):
    ir_measures = pytest.importorskip("ir_measures")
    path = tmp_path / "run.trec"
    path.write_text(written())
    read = {}
    for scored in ir_measures.read_trec_run(str(path)):
        read.setdefault(scored.query_id, []).append((scored.score, scored.doc_id))
    # trec_eval and ir-measures order by score, not by the rank column: the scores must give RUNS' order
    assert {query_id: [doc for _, doc in sorted(docs, reverse=True)] for query_id, docs in read.items()} == {
        "q1": ["d3", "d1", "d2"],
        "10": ["d2"],
    }


def hit(doc_id: str, chunk: int = 0) -> SearchHit:
    return SearchHit(Chunk(f"{doc_id}-{chunk}", doc_id, "v1", "text", "s3://eval/x.md", "", ("eval",), chunk), 1.0)


BEIR_IDS = {f"doc-{n}": f"D{n}" for n in range(DOCS_PER_QUERY + 5)} | {"doc-self": "Q7"}


def test_the_query_s_own_document_is_dropped_once_whatever_its_chunks():
    hits = [hit("doc-self", 0), hit("doc-1"), hit("doc-self", 1), hit("doc-2"), hit("doc-1", 1)]
    assert ranked_documents(hits, BEIR_IDS, "Q7") == (["D1", "D2"], True)
    assert ranked_documents(hits, BEIR_IDS, "Q7", ignore_identical_ids=False) == (["Q7", "D1", "D2"], False)
    assert ranked_documents(hits, BEIR_IDS, "Q8") == (["Q7", "D1", "D2"], False)  # another query keeps it


def test_the_cut_comes_after_the_drop():
    hits = [hit("doc-self")] + [hit(f"doc-{n}") for n in range(DOCS_PER_QUERY + 5)]
    ranking, dropped = ranked_documents(hits, BEIR_IDS, "Q7")
    assert dropped and len(ranking) == DOCS_PER_QUERY and ranking[-1] == f"D{DOCS_PER_QUERY - 1}"
    kept, _ = ranked_documents(hits, BEIR_IDS, "Q7", ignore_identical_ids=False)
    assert len(kept) == DOCS_PER_QUERY and kept[0] == "Q7"


def test_a_self_match_past_the_cut_is_not_counted():
    hits = [hit(f"doc-{n}") for n in range(DOCS_PER_QUERY)] + [hit("doc-self")]
    assert ranked_documents(hits, BEIR_IDS, "Q7")[1] is False


def test_a_hit_of_an_unknown_document_is_skipped():
    assert ranked_documents([hit("not-indexed"), hit("doc-3")], BEIR_IDS, "Q7") == (["D3"], False)
