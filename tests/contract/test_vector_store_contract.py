"""The VectorStore contract, run against every store: the embedded store, the unit tests' fake and the
OpenSearch store on a simulated Serverless collection (``tests/fake_serverless_opensearch.py``) always,
OpenSearch when configured.

Set ``OPENSEARCH_URL`` (``http://localhost:9200``, ``https://admin:PASSWORD@localhost:9200``, or an
``https://...es.amazonaws.com`` / ``https://...aoss.amazonaws.com`` endpoint signed with the default AWS
credentials) to run it against OpenSearch as well; each test then works in an index of its own, deleted
afterwards. ``OPENSEARCH_VERIFY_CERTS=0`` accepts a local cluster's self-signed certificate. A Serverless
collection makes writes searchable only after its refresh interval: ``OPENSEARCH_SETTLE_SECONDS`` (60 by
default there, 0 elsewhere) is how long each test waits after writing before it reads.

Vectors come from the hash embedder, so the suite needs no model and gives the same vectors everywhere.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from ragline.embedders.hashing import HashEmbedder
from ragline.models import Chunk, SearchHit
from ragline.ports import VectorStore
from tests.store_inspection import chunk_ids, count_chunks

DIM = 64
EMBED = HashEmbedder(dimension=DIM)
FINANCE = frozenset({"finance"})
HR = frozenset({"hr"})
OPENSEARCH_URL = os.environ.get("OPENSEARCH_URL", "")


class ContractStore(VectorStore, Protocol):
    """The port, and what every store offers its tests besides: writes without replacing, and counts."""

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None: ...

    def count(self, doc_id: str | None = None) -> int: ...

    def chunk_ids(self, doc_id: str) -> list[str]: ...


@dataclass
class Harness:
    store: ContractStore
    settle: Callable[[], None]  # wait until the last writes are searchable (a no-op where they already are)


def _embedded(tmp_path: Path) -> Iterator[Harness]:
    from ragline.stores.sqlite import SqliteStore

    with SqliteStore(tmp_path / "index.db", DIM) as store:
        yield Harness(store, lambda: None)


def _fake(tmp_path: Path) -> Iterator[Harness]:
    from tests.fakes import FakeVectorStore

    yield Harness(FakeVectorStore(DIM), lambda: None)


def _simulated_serverless(tmp_path: Path) -> Iterator[Harness]:
    from ragline.stores.opensearch import OpenSearchStore
    from tests.fake_serverless_opensearch import FakeClock, FakeServerlessOpenSearch

    clock = FakeClock()
    store = OpenSearchStore(FakeServerlessOpenSearch(clock, refresh_interval=60.0), "contract", DIM, serverless=True)
    store.ensure_index()
    yield Harness(store, lambda: clock.advance(61.0))


def _opensearch(tmp_path: Path) -> Iterator[Harness]:
    from ragline.stores.opensearch import OpenSearchStore, connect, is_serverless_url

    verify = os.environ.get("OPENSEARCH_VERIFY_CERTS", "1") != "0"
    options: dict[str, Any] = {} if verify else {"verify_certs": False, "ssl_show_warn": False}
    serverless = is_serverless_url(OPENSEARCH_URL)
    client = connect(OPENSEARCH_URL, **options)
    store = OpenSearchStore(client, f"ragline-contract-{uuid.uuid4().hex[:12]}", DIM, serverless=serverless)
    store.ensure_index()
    pause = float(os.environ.get("OPENSEARCH_SETTLE_SECONDS", "60" if serverless else "0"))
    try:
        yield Harness(store, lambda: time.sleep(pause) if pause else None)
    finally:
        store.delete_index()
        client.close()


@pytest.fixture(
    params=[
        "embedded",
        "fake",
        "simulated-serverless",
        pytest.param(
            "opensearch",
            marks=pytest.mark.skipif(
                not OPENSEARCH_URL, reason="OPENSEARCH_URL is not set: no OpenSearch cluster to run the contract on"
            ),
        ),
    ]
)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    factory = {
        "embedded": _embedded,
        "fake": _fake,
        "simulated-serverless": _simulated_serverless,
        "opensearch": _opensearch,
    }[request.param]
    yield from factory(tmp_path)


def chunk(
    chunk_id: str,
    text: str,
    *,
    doc_id: str = "d1",
    version: str = "v1",
    roles: Sequence[str] = ("finance",),
    position: int = 0,
    page: int | None = None,
    heading_path: tuple[str, ...] = (),
    title: str = "Handbook",
) -> Chunk:
    return Chunk(
        chunk_id=chunk_id,
        doc_id=doc_id,
        version=version,
        text=text,
        source=f"s3://docs/{doc_id}.md",
        title=title,
        roles=tuple(roles),
        position=position,
        page=page,
        heading_path=heading_path,
    )


def put(harness: Harness, chunks: Sequence[Chunk]) -> None:
    harness.store.upsert(chunks, EMBED.embed_documents([c.indexed_text() for c in chunks]))
    harness.settle()


def ids(hits: Sequence[SearchHit]) -> list[str]:
    return [hit.chunk.chunk_id for hit in hits]


def knn(harness: Harness, text: str, roles: frozenset[str], k: int = 10) -> list[SearchHit]:
    return harness.store.knn_search(EMBED.embed_query(text), roles, k)


def test_upsert_then_both_searches_return_the_full_chunks(harness: Harness) -> None:
    target = chunk(
        "rev",
        "Quarterly revenue grew four percent in Europe",
        page=2,
        heading_path=("Q3 report", "Revenue"),
        title="Q3 report",
        position=3,
    )
    others = [
        chunk("plants", "Office plants need water every week", position=1),
        chunk("menu", "The cafeteria menu changes on Mondays", position=2),
    ]
    put(harness, [target, *others])

    near = knn(harness, target.indexed_text(), FINANCE)
    assert near[0].chunk == target  # every field back, tuples and page included
    assert near[0].score == pytest.approx(1.0, abs=1e-3)  # cosine similarity of identical vectors
    assert [h.score for h in near] == sorted((h.score for h in near), reverse=True)
    assert {h.chunk for h in near} == {target, *others}

    lexical = harness.store.bm25_search("revenue in europe", FINANCE, k=10)
    assert [h.chunk for h in lexical] == [target]
    assert lexical[0].score > 0
    assert ids(harness.store.bm25_search("report", FINANCE, k=10)) == ["rev"]  # the title is searched too


def test_the_role_filter_runs_inside_both_searches(harness: Harness) -> None:
    # Many hidden chunks match the query perfectly; the few visible ones match it less well.
    hidden = [chunk(f"hr{i:02d}", "budget forecast budget forecast", roles=("hr",), position=i) for i in range(30)]
    visible = [
        chunk(f"fin{i}", f"budget notes {word}", position=40 + i) for i, word in enumerate(["alpha", "beta", "gamma"])
    ]
    put(harness, hidden + visible)

    for hits in (
        knn(harness, "budget forecast", FINANCE, k=3),
        harness.store.bm25_search("budget forecast", FINANCE, k=3),
    ):
        assert sorted(ids(hits)) == ["fin0", "fin1", "fin2"]
        assert all("finance" in h.chunk.roles for h in hits)
    assert len(knn(harness, "budget forecast", FINANCE, k=10)) == 3  # no more than exist
    assert len(knn(harness, "budget forecast", HR, k=5)) == 5
    assert len(harness.store.bm25_search("budget", FINANCE | HR, k=50)) == 33


def test_chunks_a_caller_cannot_see_never_move_its_bm25_order_or_scores(harness: Harness) -> None:
    """BM25's statistics (how many chunks hold a term, of how many) are the caller's own: hidden chunks
    full of one of the question's words, which would make that word common and its matches weigh less,
    change neither which visible chunks come back, nor their order, nor their scores
    (docs/security.md, "BM25 statistics")."""
    visible = [
        chunk("audit", "the audit plan for the year", position=1),
        chunk("budget", "the budget review of the year", position=2),
        chunk("both", "audit and budget notes", position=3),
        chunk("other", "canteen opening hours", position=4),
    ]
    put(harness, visible)
    question = "audit budget"
    before = [(h.chunk.chunk_id, h.score) for h in harness.store.bm25_search(question, FINANCE, k=10)]
    assert before[0][0] == "both"
    hidden = [chunk(f"hr{i:02d}", "audit audit audit findings", roles=("hr",), position=10 + i) for i in range(12)]
    put(harness, hidden)
    after = [(h.chunk.chunk_id, h.score) for h in harness.store.bm25_search(question, FINANCE, k=10)]
    assert [chunk_id for chunk_id, _ in after] == [chunk_id for chunk_id, _ in before]
    assert [score for _, score in after] == pytest.approx([score for _, score in before], rel=1e-6)


def test_empty_roles_see_nothing_and_a_chunk_without_roles_is_seen_by_nobody(harness: Harness) -> None:
    put(harness, [chunk("open", "security policy"), chunk("orphan", "security policy", roles=())])
    for roles in (frozenset(), frozenset({"nobody"})):
        assert knn(harness, "security policy", roles) == []
        assert harness.store.bm25_search("security policy", roles, k=10) == []
    assert ids(knn(harness, "security policy", frozenset({"finance", "hr", "admin"}))) == ["open"]
    assert ids(harness.store.bm25_search("security", FINANCE, k=10)) == ["open"]
    assert harness.store.bm25_search("the of and", FINANCE, k=10) == []


def test_delete_document_removes_every_chunk_of_the_document_and_nothing_else(harness: Harness) -> None:
    # Two versions of d1 at once (as a crash between writes could leave): delete removes both.
    old = [chunk(f"d1-v1-{i}", f"travel rules {i}", version="v1", position=i) for i in range(2)]
    new = [chunk(f"d1-v2-{i}", f"travel rules {i}", version="v2", position=i) for i in range(3)]
    bystander = chunk("d2-v1-0", "travel rules", doc_id="d2")
    put(harness, old + new + [bystander])
    store = harness.store

    assert store.delete_document("d1") == 5
    harness.settle()
    assert count_chunks(store, "d1") == 0 and count_chunks(store, "d2") == 1 and count_chunks(store) == 1
    assert chunk_ids(store, "d1") == []
    assert ids(knn(harness, "travel rules", FINANCE)) == ["d2-v1-0"]
    assert ids(store.bm25_search("travel", FINANCE, k=10)) == ["d2-v1-0"]
    assert store.delete_document("d1") == 0
    assert store.delete_document("missing") == 0


def test_update_roles_changes_visibility_in_both_searches(harness: Harness) -> None:
    put(
        harness,
        [chunk(f"d1-{i}", "salary bands", position=i) for i in range(3)] + [chunk("d2-0", "salary bands", doc_id="d2")],
    )
    assert len(knn(harness, "salary bands", FINANCE)) == 4

    assert harness.store.update_roles("d1", ["hr", "legal", "hr"]) == 3
    harness.settle()
    assert ids(knn(harness, "salary bands", FINANCE)) == ["d2-0"]
    assert ids(harness.store.bm25_search("salary", FINANCE, k=10)) == ["d2-0"]
    for hits in (knn(harness, "salary bands", HR), harness.store.bm25_search("salary", HR, k=10)):
        assert sorted(ids(hits)) == ["d1-0", "d1-1", "d1-2"]
        assert all(h.chunk.roles == ("hr", "legal") for h in hits)
    assert count_chunks(harness.store, "d1") == 3
    assert harness.store.update_roles("missing", ["hr"]) == 0


def test_settle_document_leaves_one_copy_of_each_chunk_of_the_version_with_the_roles(harness: Harness) -> None:
    store = harness.store
    put(
        harness,
        [chunk(f"d1-{i}", "travel policy", position=i) for i in range(2)]
        + [chunk("d1-old", "travel policy", version="v0", position=5)]  # a version a quick change left
        + [chunk("d2-0", "travel policy", doc_id="d2")],
    )
    store.settle_document("d1", "v1", ["hr"])
    harness.settle()
    assert chunk_ids(store, "d1") == ["d1-0", "d1-1"] and count_chunks(store, "d1") == 2
    assert sorted(ids(store.bm25_search("travel", HR, k=10))) == ["d1-0", "d1-1"]
    assert ids(store.bm25_search("travel", FINANCE, k=10)) == ["d2-0"]
    assert all(hit.chunk.roles == ("hr",) for hit in knn(harness, "travel policy", HR))

    store.settle_document("d1", None, [])  # the document is gone: every chunk of it goes
    harness.settle()
    assert count_chunks(store, "d1") == 0 and count_chunks(store, "d2") == 1
    assert store.refresh_lag_seconds >= 0


def test_upserting_twice_leaves_one_copy_of_each_chunk(harness: Harness) -> None:
    chunks = [chunk(f"c{i}", f"onboarding checklist step {i}", position=i) for i in range(5)]
    put(harness, chunks)
    put(harness, chunks)
    assert count_chunks(harness.store) == 5
    assert sorted(ids(knn(harness, "onboarding checklist", FINANCE))) == [c.chunk_id for c in chunks]

    put(harness, [chunk("c0", "replaced wording entirely", position=0)])  # same id, new content
    assert count_chunks(harness.store) == 5
    assert ids(harness.store.bm25_search("replaced wording", FINANCE, k=10)) == ["c0"]
    assert "c0" not in ids(harness.store.bm25_search("step", FINANCE, k=10))


def test_count_and_chunk_ids_per_document(harness: Harness) -> None:
    put(
        harness,
        [
            chunk("b", "second part", position=1),
            chunk("a", "first part", position=0),
            chunk("c", "third part", position=2),
            chunk("x", "another document", doc_id="d2"),
        ],
    )
    store = harness.store
    assert count_chunks(store) == 4
    assert count_chunks(store, "d1") == 3 and count_chunks(store, "d2") == 1 and count_chunks(store, "nothing") == 0
    assert chunk_ids(store, "d1") == ["a", "b", "c"]
    assert chunk_ids(store, "nothing") == []


def test_count_document_counts_the_chunks_of_one_version(harness: Harness) -> None:
    put(
        harness,
        [
            chunk("a", "first part", position=0),
            chunk("b", "second part", position=1),
            chunk("c", "newer part", version="v2", position=2),
            chunk("x", "another document", doc_id="d2"),
        ],
    )
    store = harness.store
    assert store.count_document("d1", "v1") == 2
    assert store.count_document("d1", "v2") == 1
    assert store.count_document("d2", "v1") == 1
    assert store.count_document("d2", "v2") == 0 and store.count_document("nothing", "v1") == 0


def test_replace_document_leaves_only_the_new_chunks(harness: Harness) -> None:
    store = harness.store
    if not hasattr(store, "replace_document"):
        pytest.skip(f"{type(store).__name__} has no replace_document")
    put(
        harness,
        [chunk(f"d1-{i}", f"expense policy part {i}", position=i) for i in range(4)]
        + [chunk("d2-0", "expense policy", doc_id="d2")],
    )
    new = [
        chunk("d1-0", "expense policy revised", version="v2"),
        chunk("d1-9", "expense policy appendix", version="v2", position=1),
    ]

    removed = store.replace_document("d1", new, EMBED.embed_documents([c.indexed_text() for c in new]))
    harness.settle()
    assert removed == 3  # d1-1, d1-2, d1-3; d1-0 was replaced in place
    assert chunk_ids(store, "d1") == ["d1-0", "d1-9"] and count_chunks(store, "d2") == 1
    assert sorted(ids(store.bm25_search("expense", FINANCE, k=10))) == ["d1-0", "d1-9", "d2-0"]
    assert [h.chunk for h in store.bm25_search("revised", FINANCE, k=10)] == [new[0]]
    with pytest.raises(ValueError):
        store.replace_document("d1", [chunk("x", "stray", doc_id="d2")], EMBED.embed_documents(["stray"]))


def test_indexed_versions_count_the_chunks_of_each_document_and_version(harness: Harness) -> None:
    put(
        harness,
        [chunk(f"d1-{i}", "policy", position=i) for i in range(3)]
        + [chunk("d1-old", "policy", version="v0", position=9)]  # a stale chunk the last version left
        + [chunk("d2-0", "other", doc_id="d2", version="w1")],
    )

    held = sorted((held.doc_id, held.version, held.chunks) for held in harness.store.indexed_versions())

    assert held == [("d1", "v0", 1), ("d1", "v1", 3), ("d2", "w1", 1)]
    harness.store.delete_document("d1")
    harness.settle()
    assert [(held.doc_id, held.chunks) for held in harness.store.indexed_versions()] == [("d2", 1)]
