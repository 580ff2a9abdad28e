"""``ragline reindex``: each step parses, runs the core (:mod:`ragline.reindex`, here on the fakes) and
prints its result, as text or ``--json``; a refused step is one line and exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ragline.local.reindex
from ragline.cli import main
from ragline.indexes import IndexTarget
from ragline.reindex import Reindexer
from ragline.settings import Settings
from tests.component.test_eval import DOCS, QRELS, QUERIES
from tests.fakes import FakeEventQueue, FakeIndexAdmin, FakeIndexCatalog, FakeRegistry

CONFIGURED = IndexTarget("idx", "hash", "", 384)


@pytest.fixture
def reindexer(monkeypatch: pytest.MonkeyPatch) -> Reindexer:
    """The steps on the fakes, as the CLI would build them on a running stack."""
    reindexer = Reindexer(FakeIndexCatalog(), FakeRegistry(), FakeIndexAdmin(), FakeEventQueue(), CONFIGURED, "docs")
    monkeypatch.setattr(ragline.local.reindex, "stack_settings", lambda home, settings: Settings(embedder="hash"))
    monkeypatch.setattr(ragline.local.reindex, "stack_reindexer", lambda home, settings: reindexer)
    return reindexer


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["reindex", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_start_then_status_show_the_new_index_beside_the_live_one(reindexer, capsys) -> None:
    status, out, _ = run(capsys, "start", "--embedder", "hash", "--dimensions", "64")
    assert status == 0
    assert "building: idx-r1 (hash, 64 dimensions)" in out and "backfill queued" in out

    status, out, _ = run(capsys, "status", "--json")
    data = json.loads(out)
    assert status == 0
    assert data["live"] == CONFIGURED.to_json()
    assert data["building"] == {"index": "idx-r1", "embedder": "hash", "model": "", "dimension": 64}
    assert data["progress"] == {"documents": 0, "present": 0, "missing": []}


def test_switch_switch_back_and_drop(reindexer, capsys) -> None:
    run(capsys, "start", "--embedder", "hash", "--dimensions", "64")

    status, out, _ = run(capsys, "switch", "--json")
    assert status == 0 and json.loads(out)["live"]["index"] == "idx-r1"
    status, out, _ = run(capsys, "switch-back")
    assert status == 0 and "live:     idx (hash, 384 dimensions)" in out
    status, out, _ = run(capsys, "drop", "--old")
    assert status == 0 and out == "removed idx-r1 (hash, 64 dimensions)\n"


def test_a_refused_step_is_one_line(reindexer, capsys) -> None:
    assert run(capsys, "switch") == (
        1,
        "",
        "ragline: no index is being built: start one (ragline reindex start --embedder ...)\n",
    )


def test_drop_asks_for_the_old_index_or_the_one_being_built_by_name(reindexer, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["reindex", "drop"])
    run(capsys, "start", "--embedder", "hash", "--dimensions", "64")

    status, out, _ = run(capsys, "drop", "--building")

    assert status == 0 and out == "removed idx-r1 (hash, 64 dimensions)\n"
    assert reindexer.indexes().building is None


def test_compare_scores_both_models_on_a_dataset(reindexer, capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAGLINE_CACHE_DIR", str(tmp_path / "cache"))
    dataset = tmp_path / "tiny"
    (dataset / "qrels").mkdir(parents=True)
    (dataset / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": title, "text": text}) + "\n" for i, (title, text) in DOCS.items())
    )
    (dataset / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in QUERIES.items())
    )
    (dataset / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS)
    )
    run(capsys, "start", "--embedder", "hash", "--dimensions", "64")

    status, out, _ = run(capsys, "compare", "--dataset", str(dataset), "--mode", "dense", "--no-progress", "--json")

    data = json.loads(out)
    assert status == 0
    assert (data["live"]["dimension"], data["new"]["dimension"]) == (384, 64)
    assert set(data["live"]["metrics"]) == set(data["new"]["metrics"]) >= {"ndcg@10"}
    assert all(0.0 <= value <= 1.0 for value in data["live"]["metrics"].values())
    status, out, _ = run(capsys, "compare", "--dataset", str(dataset), "--mode", "dense", "--no-progress")
    assert status == 0 and out.splitlines()[0] == "live: idx (hash, 384 dimensions)"
    assert any(line.startswith("ndcg@10") for line in out.splitlines())
