"""SqliteStore: BM25 and exact k-NN in memory over one SQLite file, roles applied inside both searches."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ragline.models import Chunk
from ragline.stores.sqlite import SCHEMA_VERSION, SqliteStore, lexical
from ragline.words import terms
from tests.conftest import examples
from tests.store_inspection import chunk_ids, count_chunks

SHARED = Path(__file__).resolve().parents[2] / "shared"
DIM = 8
ROLES = ("admin", "finance", "hr", "legal", "sales")
FINANCE_ONLY = frozenset({"finance"})


def make_chunk(
    chunk_id: str,
    text: str = "plain text",
    *,
    doc_id: str = "doc",
    version: str = "v1",
    roles: Sequence[str] = ("finance",),
    position: int = 0,
    title: str = "Title",
    page: int | None = None,
    heading_path: tuple[str, ...] = (),
) -> Chunk:
    return Chunk(
        chunk_id=chunk_id,
        doc_id=doc_id,
        version=version,
        text=text,
        source=f"s3://bucket/{doc_id}.txt",
        title=title,
        roles=tuple(roles),
        position=position,
        page=page,
        heading_path=heading_path,
    )


def term_rows(path: Path) -> dict[str, dict[str, int]]:
    """chunk_id -> {term: count} as ``chunk_terms`` holds them, read by a separate connection."""
    with sqlite3.connect(path) as conn:
        vocabulary = dict(conn.execute("SELECT id, term FROM vocabulary"))
        rows = conn.execute(
            "SELECT c.chunk_id, t.terms FROM chunk_terms AS t JOIN chunks AS c ON c.id = t.id"
        ).fetchall()
        (count,) = conn.execute("SELECT count(*) FROM chunk_terms").fetchone()
    assert count == len(rows)  # no terms without their chunk
    decoded = {}
    for chunk_id, blob in rows:
        pairs = np.frombuffer(blob, dtype=np.int32)
        half = len(pairs) // 2
        decoded[chunk_id] = {vocabulary[int(t)]: int(n) for t, n in zip(pairs[:half], pairs[half:], strict=True)}
    return decoded


def reference_terms(text: str) -> dict[str, int]:
    """The terms of ``text`` as an FTS5 table of the store's tokenizer indexes them, read back through a
    plain ``fts5vocab`` table on a connection of its own: the reference the store's tokenising must match."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE plain USING fts5 (body, tokenize = 'porter unicode61 remove_diacritics 2')")
    conn.execute("CREATE VIRTUAL TABLE plain_terms USING fts5vocab (plain, row)")
    conn.execute("INSERT INTO plain (body) VALUES (?)", (text,))
    counts = dict(conn.execute("SELECT term, cnt FROM plain_terms"))
    conn.close()
    return counts


def unit(*components: float) -> list[float]:
    vector = list(components) + [0.0] * (DIM - len(components))
    length = math.sqrt(sum(x * x for x in vector))
    return [x / length for x in vector]


def axis(i: int) -> list[float]:
    vector = [0.0] * DIM
    vector[i] = 1.0
    return vector


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "index.db", DIM) as opened:
        yield opened


@pytest.fixture
def everyone() -> frozenset[str]:
    return frozenset(ROLES)


# -- round trips ----------------------------------------------------------------------------------


def test_both_searches_reconstruct_full_chunks(store: SqliteStore, everyone: frozenset[str]) -> None:
    with_page = make_chunk(
        "c1",
        "Revenue grew by four percent",
        roles=("finance", "admin"),
        page=3,
        heading_path=("Results", "Q3"),
        position=7,
    )
    without_page = make_chunk("c2", "Holiday policy", roles=("hr",), title="", position=8)
    store.upsert([with_page, without_page], [axis(0), axis(1)])

    (bm25_hit,) = store.bm25_search("revenue", everyone, k=5)
    assert bm25_hit.chunk == with_page
    assert isinstance(bm25_hit.chunk.roles, tuple) and isinstance(bm25_hit.chunk.heading_path, tuple)
    knn_hits = store.knn_search(axis(1), everyone, k=1)
    assert [hit.chunk for hit in knn_hits] == [without_page]
    assert knn_hits[0].chunk.page is None


def test_knn_scores_are_cosine_similarities_of_normalised_vectors(store: SqliteStore) -> None:
    store.upsert([make_chunk("a"), make_chunk("b")], [[3.0, 4.0] + [0.0] * 6, [0.0, 10.0] + [0.0] * 6])
    hits = store.knn_search([6.0, 8.0] + [0.0] * 6, frozenset({"finance"}), k=2)
    assert [hit.chunk.chunk_id for hit in hits] == ["a", "b"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-6)
    assert hits[1].score == pytest.approx(0.8, abs=1e-6)


def test_a_zero_vector_is_stored_and_scores_zero(store: SqliteStore) -> None:
    store.upsert([make_chunk("zero")], [[0.0] * DIM])
    (hit,) = store.knn_search(axis(0), frozenset({"finance"}), k=3)
    assert hit.score == 0.0


def test_bm25_ranks_better_matches_higher_with_positive_scores(store: SqliteStore) -> None:
    store.upsert(
        [
            make_chunk("both", "vacation policy for employees"),
            make_chunk("one", "the policy on expenses"),
            make_chunk("none", "quarterly revenue"),
        ],
        [axis(0)] * 3,
    )
    hits = store.bm25_search("vacation policy", frozenset({"finance"}), k=10)
    assert [hit.chunk.chunk_id for hit in hits] == ["both", "one"]
    assert hits[0].score > hits[1].score > 0


def test_bm25_indexes_title_and_headings_with_stemming_and_no_diacritics(store: SqliteStore) -> None:
    store.upsert(
        [
            make_chunk("t", "body text", title="Onboarding Guide"),
            make_chunk("h", "body text", heading_path=("Benefits", "Pensions")),
            make_chunk("s", "she was running late"),
            make_chunk("d", "meet at the café"),
        ],
        [axis(0)] * 4,
    )
    roles = frozenset({"finance"})

    def found(query: str) -> list[str]:
        return [hit.chunk.chunk_id for hit in store.bm25_search(query, roles, k=10)]

    assert found("onboarding") == ["t"]
    assert found("pensions") == ["h"]
    assert found("runs") == ["s"]
    assert found("cafe") == ["d"]


def test_chunks_are_tokenised_as_an_fts5_table_of_the_same_tokenizer_indexes_them(tmp_path: Path) -> None:
    texts = ["Runners were running to the café", "COVID-19 e-mail: naïve rôle, ÉTÉ été", "the the the", "x"]
    path = tmp_path / "index.db"
    with SqliteStore(path, DIM) as store:
        store.upsert([make_chunk(f"c{i}", text, title="") for i, text in enumerate(texts)], [axis(0)] * len(texts))
    stored = term_rows(path)
    for i, text in enumerate(texts):
        assert stored[f"c{i}"] == reference_terms(text)


@pytest.mark.parametrize(
    "query",
    ['"foo" OR roles:*', "NEAR(", "*", "^", 'foo" OR "bar', "body:secret", "foo AND NOT bar", "(((", "-", "'", "\x00"],
)
def test_fts_syntax_in_queries_is_plain_text(store: SqliteStore, query: str) -> None:
    store.upsert(
        [make_chunk("visible", "foo bar near roles body"), make_chunk("hidden", "foo bar near roles", roles=("hr",))],
        [axis(0)] * 2,
    )
    hits = store.bm25_search(query, frozenset({"finance"}), k=10)
    assert all(hit.chunk.chunk_id == "visible" for hit in hits)
    assert bool(hits) == bool(terms(query))


def test_queries_without_terms_return_nothing(store: SqliteStore) -> None:
    store.upsert([make_chunk("a", "the of and")], [axis(0)])
    assert store.bm25_search("the of ?!", frozenset({"finance"}), k=5) == []


# -- roles ----------------------------------------------------------------------------------------


def test_roles_filter_inside_both_searches(store: SqliteStore) -> None:
    hidden = [make_chunk(f"h{i}", "salary salary salary review", roles=("hr",)) for i in range(50)]
    visible = [make_chunk(f"v{i}", f"salary {'padding ' * 30}{i}", roles=("finance", "legal")) for i in range(3)]
    store.upsert(hidden + visible, [axis(0)] * 50 + [unit(1, 1)] * 3)
    roles = frozenset({"finance"})

    bm25 = store.bm25_search("salary review", roles, k=3)
    knn = store.knn_search(axis(0), roles, k=3)
    assert sorted(hit.chunk.chunk_id for hit in bm25) == ["v0", "v1", "v2"]
    assert sorted(hit.chunk.chunk_id for hit in knn) == ["v0", "v1", "v2"]


def test_empty_roles_match_nothing_without_touching_the_database(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "index.db", DIM)
    store.upsert([make_chunk("a", "salary")], [axis(0)])
    store.close()
    # A closed connection would raise if used: empty roles must short-circuit before it.
    assert store.bm25_search("salary", frozenset(), k=5) == []
    assert store.knn_search(axis(0), frozenset(), k=5) == []
    with pytest.raises(sqlite3.ProgrammingError):
        count_chunks(store)


def test_unknown_roles_and_non_positive_k_return_nothing(store: SqliteStore) -> None:
    store.upsert([make_chunk("a", "salary")], [axis(0)])
    assert store.knn_search(axis(0), frozenset({"nobody"}), k=5) == []
    assert store.bm25_search("salary", frozenset({"nobody"}), k=5) == []
    assert store.knn_search(axis(0), frozenset({"finance"}), k=0) == []
    assert store.bm25_search("salary", frozenset({"finance"}), k=0) == []


@pytest.mark.parametrize("visible_count", [0, 2, 30, 80, 100])
def test_knn_matches_brute_force_at_any_share_of_visible_rows(tmp_path: Path, visible_count: int) -> None:
    # 0..100 visible out of 100: covers the empty, gathered, masked and unfiltered paths.
    rng = np.random.default_rng(visible_count)
    vectors = rng.normal(size=(100, DIM)).astype(np.float32)
    chunks = [make_chunk(f"c{i:03d}", roles=("finance",) if i < visible_count else ("hr",)) for i in range(100)]
    with SqliteStore(tmp_path / "index.db", DIM) as store:
        store.upsert(chunks, vectors.tolist())
        query = rng.normal(size=DIM)
        hits = store.knn_search(query.tolist(), frozenset({"finance"}), k=10)
    normalised = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected_scores = normalised[:visible_count] @ (query / np.linalg.norm(query))
    expected = [f"c{i:03d}" for i in np.argsort(-expected_scores)[:10]]
    assert [hit.chunk.chunk_id for hit in hits] == expected
    assert [hit.score for hit in hits] == pytest.approx(sorted(expected_scores, reverse=True)[:10], abs=1e-5)


@settings(max_examples=examples(60), deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 300),
    copies=st.integers(0, 120),  # rows that are copies of one vector (boilerplate in many documents)
    visible_share=st.floats(0.0, 1.0),
    k=st.integers(1, 40),
)
def test_knn_is_the_exact_float32_search_over_the_visible_rows(
    tmp_path_factory: pytest.TempPathFactory, seed: int, count: int, copies: int, visible_share: float, k: int
) -> None:
    """The int8 scan only proposes; the ids, their order (ties by insertion) and the scores are those of
    an exact float32 search over the visible rows, for any share visible and any number of copies."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, DIM)).astype(np.float32)
    copied = rng.choice(count, size=min(copies, count), replace=False)  # anywhere among the others
    vectors[copied] = vectors[copied[0]] if len(copied) else vectors[copied]
    visible = rng.random(count) < visible_share
    chunks = [make_chunk(f"c{i:03d}", roles=("finance",) if visible[i] else ("hr",)) for i in range(count)]
    # Near the copies when there are some, so that they tie at the head of the ranking.
    query = vectors[copied[0]] + 0.1 * rng.normal(size=DIM) if len(copied) else rng.normal(size=DIM)
    with SqliteStore(tmp_path_factory.mktemp("exact") / "index.db", DIM) as store:
        store.upsert(chunks, vectors.tolist())
        hits = store.knn_search(query.tolist(), FINANCE_ONLY, k=k)
    # The reference, in float32 as stored: unit rows, each scored on its own.
    rows = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    unit_query = (query / np.linalg.norm(query)).astype(np.float32)
    scores = np.array([float(np.dot(row, unit_query)) for row in rows], dtype=np.float32)
    expected = sorted(np.flatnonzero(visible), key=lambda i: (-scores[i], i))[:k]
    assert [hit.chunk.chunk_id for hit in hits] == [f"c{i:03d}" for i in expected]
    assert [hit.score for hit in hits] == pytest.approx([float(scores[i]) for i in expected], abs=1e-6)


def test_copies_of_one_vector_come_back_in_insertion_order(store: SqliteStore) -> None:
    """Many chunks with one vector tie exactly; the int8 scan must not cut the tie where exact search would not."""
    rng = np.random.default_rng(7)
    copied = sorted(rng.choice(400, size=150, replace=False).tolist())  # scattered among other rows
    vectors = rng.normal(size=(400, DIM)) * 0.1
    vectors[copied] = unit(1.0, 1.0)
    store.upsert([make_chunk(f"c{i:03d}") for i in range(400)], vectors.tolist())
    hits = store.knn_search(unit(1.0, 1.0), FINANCE_ONLY, k=10)
    assert [hit.chunk.chunk_id for hit in hits] == [f"c{i:03d}" for i in copied[:10]]


def test_a_knn_search_runs_while_a_bm25_search_is_scored(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two searches of one question overlap: a BM25 search in the middle of its scoring holds nothing
    a k-NN search on another thread waits for."""
    store.upsert([make_chunk("a", "budget review")], [axis(0)])
    store.bm25_search("budget", FINANCE_ONLY, k=5)  # load both indexes first
    store.knn_search(axis(0), FINANCE_ONLY, k=5)
    scoring, knn_done = threading.Event(), threading.Event()
    original = lexical.LexicalIndex.top_k

    def top_k_waiting_for_knn(self: lexical.LexicalIndex, *args: object, **kwargs: object) -> object:
        scoring.set()
        if not knn_done.wait(timeout=10):
            raise AssertionError("the k-NN search waited for the BM25 search")
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lexical.LexicalIndex, "top_k", top_k_waiting_for_knn)
    results: list[list[str]] = []

    def search_bm25() -> None:
        results.append([hit.chunk.chunk_id for hit in store.bm25_search("budget", FINANCE_ONLY, 5)])

    bm25 = threading.Thread(target=search_bm25)
    bm25.start()
    assert scoring.wait(timeout=10)
    knn = [hit.chunk.chunk_id for hit in store.knn_search(axis(0), FINANCE_ONLY, k=5)]
    knn_done.set()
    bm25.join(timeout=20)
    assert knn == ["a"]
    assert results == [["a"]]  # the BM25 search, too, finished: it did not time out waiting


def test_a_search_does_not_wait_for_a_write_in_progress(tmp_path: Path) -> None:
    """WAL lets readers read beside the writer; the store must not serialise them on its own lock either."""
    with SqliteStore(tmp_path / "index.db", DIM) as store:
        store.upsert([make_chunk("a", "budget review")], [axis(0)])
        writing, searched = threading.Event(), threading.Event()

        def hold_a_write() -> None:
            with store._write():
                writing.set()
                searched.wait(timeout=10)

        writer = threading.Thread(target=hold_a_write)
        writer.start()
        assert writing.wait(timeout=10)
        found: list[list[str]] = []
        searcher = threading.Thread(
            target=lambda: found.append([hit.chunk.chunk_id for hit in store.knn_search(axis(0), FINANCE_ONLY, k=5)])
        )
        searcher.start()
        searcher.join(timeout=5)
        done = not searcher.is_alive()
        searched.set()
        writer.join()
        searcher.join()
        assert done, "the search waited for the write to finish"
        assert found == [["a"]]


def test_counting_a_document_does_not_see_a_write_in_progress(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """count_document is a read of its own: it neither waits for a write nor sees it before it commits."""
    inserted, counted = threading.Event(), threading.Event()
    bump = store._bump

    def bump_then_wait() -> None:  # the write's rows are in, its transaction still open
        bump()
        inserted.set()
        counted.wait(timeout=10)

    monkeypatch.setattr(store, "_bump", bump_then_wait)
    writer = threading.Thread(target=lambda: store.upsert([make_chunk("c", "text", doc_id="d")], [axis(0)]))
    writer.start()
    assert inserted.wait(timeout=10)
    during = store.count_document("d", "v1")
    counted.set()
    writer.join()
    assert during == 0
    assert store.count_document("d", "v1") == 1


# -- writes ---------------------------------------------------------------------------------------


def test_upserting_the_same_chunks_twice_does_not_duplicate(store: SqliteStore) -> None:
    chunks = [make_chunk(f"c{i}", f"word{i} shared", position=i) for i in range(5)]
    store.upsert(chunks, [axis(i) for i in range(5)])
    store.upsert(chunks, [axis(i) for i in range(5)])
    assert count_chunks(store) == 5
    assert len(store.bm25_search("shared", frozenset({"finance"}), k=50)) == 5
    assert len(store.knn_search(axis(0), frozenset({"finance"}), k=50)) == 5


def test_upsert_replaces_text_vector_and_roles(store: SqliteStore) -> None:
    store.upsert([make_chunk("c", "old words", roles=("finance",))], [axis(0)])
    store.upsert([make_chunk("c", "new words", roles=("hr",))], [axis(1)])
    assert store.bm25_search("old", frozenset({"hr", "finance"}), k=5) == []
    assert store.bm25_search("new", frozenset({"finance"}), k=5) == []
    (hit,) = store.bm25_search("new", frozenset({"hr"}), k=5)
    assert hit.chunk.text == "new words"
    (near,) = store.knn_search(axis(1), frozenset({"hr"}), k=5)
    assert near.score == pytest.approx(1.0)


def test_a_chunk_id_repeated_in_one_upsert_keeps_the_last(store: SqliteStore) -> None:
    store.upsert(
        [make_chunk("c", "first", roles=("finance",)), make_chunk("c", "second", roles=("hr",))], [axis(0), axis(1)]
    )
    assert count_chunks(store) == 1
    assert store.bm25_search("second", frozenset({"finance"}), k=5) == []
    (hit,) = store.knn_search(axis(1), frozenset({"hr"}), k=5)
    assert hit.chunk.text == "second" and hit.score == pytest.approx(1.0)


@pytest.mark.parametrize(
    "vectors",
    [
        [[1.0] * (DIM - 1)],  # wrong dimension
        [[1.0] * DIM, [1.0] * DIM],  # more vectors than chunks
        [[math.nan] + [1.0] * (DIM - 1)],
        [[math.inf] + [1.0] * (DIM - 1)],
    ],
)
def test_bad_vectors_are_rejected_and_nothing_is_written(store: SqliteStore, vectors: list[list[float]]) -> None:
    with pytest.raises(ValueError):
        store.upsert([make_chunk("c")], vectors)
    assert count_chunks(store) == 0


def test_a_query_vector_of_the_wrong_dimension_is_rejected(store: SqliteStore) -> None:
    store.upsert([make_chunk("c")], [axis(0)])
    with pytest.raises(ValueError, match="dimension"):
        store.knn_search([1.0, 0.0], frozenset({"finance"}), k=1)


def test_reopening_with_another_dimension_is_rejected(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "index.db", DIM).close()
    with pytest.raises(ValueError, match="dimension 8"):
        SqliteStore(tmp_path / "index.db", DIM * 2)


def test_delete_document_removes_every_version_of_the_document(store: SqliteStore) -> None:
    old = [make_chunk(f"old{i}", "report", doc_id="d", version="v1", position=i) for i in range(3)]
    new = [make_chunk(f"new{i}", "report", doc_id="d", version="v2", position=i) for i in range(2)]
    other = [make_chunk("other", "report", doc_id="e")]
    store.upsert(old + new + other, [axis(0)] * 6)

    assert store.delete_document("d") == 5
    assert chunk_ids(store, "d") == []
    assert [hit.chunk.chunk_id for hit in store.bm25_search("report", frozenset({"finance"}), k=10)] == ["other"]
    assert store.delete_document("d") == 0
    assert store.delete_document("missing") == 0
    assert count_chunks(store) == 1 and count_chunks(store, "d") == 0 and count_chunks(store, "e") == 1
    assert [hit.chunk.chunk_id for hit in store.knn_search(axis(0), frozenset({"finance"}), k=10)] == ["other"]


def test_replace_document_leaves_exactly_the_new_chunks(store: SqliteStore) -> None:
    old = [make_chunk(f"d-v1-{n}", f"old text {n}", doc_id="d", version="v1", position=n) for n in range(3)]
    other = make_chunk("e-v1-0", "another document", doc_id="e")
    store.upsert([*old, other], [axis(n) for n in range(3)] + [axis(3)])
    # The same version chunked anew: fewer positions, one id shared with the old set.
    new = [
        make_chunk("d-v1-0", "new text zero", doc_id="d", version="v1"),
        make_chunk("d-v2-1", "new one", doc_id="d", version="v2", position=1),
    ]

    removed = store.replace_document("d", new, [axis(4), axis(5)])

    assert removed == 2
    assert chunk_ids(store, "d") == ["d-v1-0", "d-v2-1"]
    assert chunk_ids(store, "e") == ["e-v1-0"]
    assert [h.chunk.text for h in store.bm25_search("text", frozenset({"finance"}), 10)] == ["new text zero"]


def test_replace_document_is_one_transaction_for_readers(tmp_path: Path) -> None:
    """A reader on another connection sees the old set or the new set, never a mix or nothing."""
    writer = SqliteStore(tmp_path / "s.sqlite3", DIM)
    reader = SqliteStore(tmp_path / "s.sqlite3", DIM)
    versions = [
        [make_chunk(f"d-v{v}-{n}", f"text {v}", doc_id="d", version=f"v{v}", position=n) for n in range(4)]
        for v in range(2)
    ]
    writer.upsert(versions[0], [axis(n) for n in range(4)])
    seen: set[frozenset[str]] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            hits = reader.knn_search(axis(0), frozenset({"finance"}), 10)
            seen.add(frozenset(h.chunk.version for h in hits))

    thread = threading.Thread(target=read)
    thread.start()
    for round_ in range(60):
        chunks = versions[(round_ + 1) % 2]
        writer.replace_document("d", chunks, [axis(n) for n in range(4)])
    stop.set()
    thread.join()
    assert seen <= {frozenset({"v0"}), frozenset({"v1"})}


def test_replace_document_refuses_chunks_of_another_document(store: SqliteStore) -> None:
    with pytest.raises(ValueError):
        store.replace_document("d", [make_chunk("x", doc_id="other")], [axis(0)])


def test_update_roles_changes_visibility_in_both_searches(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    writer = SqliteStore(path, DIM)
    reader = SqliteStore(path, DIM)
    writer.upsert(
        [make_chunk(f"c{i}", "budget", doc_id="d", roles=("finance",)) for i in range(3)]
        + [make_chunk("e", "budget", doc_id="e", roles=("finance",))],
        [axis(0)] * 4,
    )
    finance, hr = frozenset({"finance"}), frozenset({"hr"})
    for store in (writer, reader):  # warm both in-memory indexes
        assert len(store.knn_search(axis(0), finance, k=10)) == 4

    assert writer.update_roles("d", ["hr", "hr", "legal"]) == 3
    for store in (writer, reader):
        assert {h.chunk.chunk_id for h in store.knn_search(axis(0), finance, k=10)} == {"e"}
        assert {h.chunk.chunk_id for h in store.bm25_search("budget", finance, k=10)} == {"e"}
        knn_hr = store.knn_search(axis(0), hr, k=10)
        assert {h.chunk.chunk_id for h in knn_hr} == {"c0", "c1", "c2"}
        assert all(h.chunk.roles == ("hr", "legal") for h in knn_hr)
        assert len(store.bm25_search("budget", hr, k=10)) == 3
    assert writer.update_roles("missing", ["hr"]) == 0
    writer.close()
    reader.close()


def test_count_and_chunk_ids(store: SqliteStore) -> None:
    store.upsert(
        [make_chunk("b", doc_id="d", position=1), make_chunk("a", doc_id="d", position=0), make_chunk("x", doc_id="e")],
        [axis(0)] * 3,
    )
    assert count_chunks(store) == 3
    assert count_chunks(store, "d") == 2
    assert count_chunks(store, "nothing") == 0
    assert chunk_ids(store, "d") == ["a", "b"]
    assert chunk_ids(store, "nothing") == []


# -- the file, threads and processes -----------------------------------------------------------------


def test_creates_parent_folders_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "index.db"
    with SqliteStore(path, DIM) as store:
        store.upsert([make_chunk("c")], [axis(0)])
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM chunk_roles WHERE role = 'finance'").fetchone()[0] == 1


def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    chunk = make_chunk("c", "persistent words", page=2, heading_path=("A",))
    with SqliteStore(path, DIM) as store:
        store.upsert([chunk], [axis(3)])
    with SqliteStore(path, DIM) as store:
        assert [h.chunk for h in store.knn_search(axis(3), frozenset({"finance"}), k=1)] == [chunk]
        assert [h.chunk for h in store.bm25_search("persistent", frozenset({"finance"}), k=1)] == [chunk]


def test_a_write_from_another_process_is_seen_by_the_next_search(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    with SqliteStore(path, DIM) as store:
        store.upsert([make_chunk("mine", "local")], [axis(0)])
        assert len(store.knn_search(axis(0), frozenset({"finance"}), k=10)) == 1  # index loaded
        code = (
            "import sys\n"
            "from ragline.models import Chunk\n"
            "from ragline.stores.sqlite import SqliteStore\n"
            f"s = SqliteStore(sys.argv[1], {DIM})\n"
            "s.upsert([Chunk('theirs', 'doc2', 'v1', 'remote', 's3://b/k', 'T', ('finance',), 0)],"
            f" [[0.0, 1.0] + [0.0] * {DIM - 2}])\n"
            "s.update_roles('doc', ['hr'])\n"
            "s.close()\n"
        )
        env = {**os.environ, "PYTHONPATH": str(SHARED)}
        subprocess.run([sys.executable, "-c", code, str(path)], env=env, check=True, capture_output=True)
        hits = store.knn_search(axis(1), frozenset({"finance"}), k=10)
        assert [h.chunk.chunk_id for h in hits] == ["theirs"]
        assert [h.chunk.chunk_id for h in store.bm25_search("local", frozenset({"hr"}), k=10)] == ["mine"]


def test_one_store_serves_a_writer_thread_and_searching_threads(store: SqliteStore) -> None:
    errors: list[BaseException] = []
    roles = frozenset({"finance"})
    store.upsert([make_chunk("seed", "shared words")], [axis(0)])

    def write() -> None:
        try:
            for i in range(40):
                store.upsert(
                    [make_chunk(f"w{i}-{j}", "shared words", doc_id=f"d{i}", position=j) for j in range(5)],
                    [axis(j) for j in range(5)],
                )
                if i % 4 == 3:
                    store.delete_document(f"d{i - 1}")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def search() -> None:
        try:
            for _ in range(60):
                # Counted before the search: a search reads the file as of when it starts (another write
                # may land while it scores), and once there are 5 chunks there are never fewer.
                before = count_chunks(store)
                knn = store.knn_search(axis(0), roles, k=5)
                bm25 = store.bm25_search("shared", roles, k=5)
                assert len(knn) == 5 or before < 5
                assert all("finance" in h.chunk.roles for h in knn + bm25)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=search) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert count_chunks(store) == 1 + 40 * 5 - 10 * 5
    assert len(store.knn_search(axis(0), roles, k=1000)) == count_chunks(store)


# -- properties -----------------------------------------------------------------------------------

role_sets = st.lists(st.sampled_from(ROLES), min_size=0, max_size=3).map(lambda roles: tuple(dict.fromkeys(roles)))
vectors = st.lists(st.floats(min_value=-1, max_value=1, allow_nan=False, width=32), min_size=DIM, max_size=DIM)
PROPERTY_SETTINGS = settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[Chunk], list[list[float]]]:
    count = draw(st.integers(min_value=0, max_value=25))
    words = st.sampled_from(["alpha", "beta", "gamma", "delta", "omega"])
    chunks = [
        make_chunk(
            f"c{i}",
            "common " + " ".join(draw(st.lists(words, max_size=4))),
            doc_id=f"d{i % 4}",
            roles=draw(role_sets),
            position=i,
        )
        for i in range(count)
    ]
    return chunks, [draw(vectors) for _ in chunks]


@PROPERTY_SETTINGS
@given(
    corpus=corpora(),
    caller=st.frozensets(st.sampled_from((*ROLES, "nobody")), max_size=3),
    k=st.integers(min_value=1, max_value=30),
    query=vectors,
    text=st.sampled_from(["common", "alpha", "beta gamma", "omega common"]),
)
def test_searches_never_leak_and_knn_returns_min_k_visible(
    corpus: tuple[list[Chunk], list[list[float]]], caller: frozenset[str], k: int, query: list[float], text: str
) -> None:
    chunks, vecs = corpus
    visible = {c.chunk_id for c in chunks if caller & set(c.roles)}
    with SqliteStore(":memory:", DIM) as store:
        store.upsert(chunks, vecs)
        knn = store.knn_search(query, caller, k)
        bm25 = store.bm25_search(text, caller, k)
        everything = store.bm25_search("common", caller, k)
    assert {h.chunk.chunk_id for h in knn} <= visible
    assert {h.chunk.chunk_id for h in bm25} <= visible
    assert len(knn) == min(k, len(visible))
    assert len({h.chunk.chunk_id for h in knn}) == len(knn)
    assert len(everything) == min(k, len(visible))  # every chunk contains "common"
    assert [h.score for h in knn] == sorted((h.score for h in knn), reverse=True)
    assert [h.score for h in bm25] == sorted((h.score for h in bm25), reverse=True)


@PROPERTY_SETTINGS
@given(corpus=corpora(), doomed=st.sampled_from(["d0", "d1", "d2", "d3"]))
def test_delete_document_removes_exactly_that_document_from_both_searches(
    corpus: tuple[list[Chunk], list[list[float]]], doomed: str
) -> None:
    chunks, vecs = corpus
    everyone = frozenset(ROLES)
    with SqliteStore(":memory:", DIM) as store:
        store.upsert(chunks, vecs)
        removed = store.delete_document(doomed)
        knn = {h.chunk.chunk_id for h in store.knn_search(axis(0), everyone, k=100)}
        bm25 = {h.chunk.chunk_id for h in store.bm25_search("common", everyone, k=100)}
        assert count_chunks(store, doomed) == 0
    survivors = {c.chunk_id for c in chunks if c.doc_id != doomed and c.roles}
    assert removed == sum(1 for c in chunks if c.doc_id == doomed)
    assert knn == survivors and bm25 == survivors


@PROPERTY_SETTINGS
@given(corpus=corpora(), caller=st.frozensets(st.sampled_from(ROLES), min_size=1, max_size=2))
def test_upserting_twice_is_idempotent(corpus: tuple[list[Chunk], list[list[float]]], caller: frozenset[str]) -> None:
    chunks, vecs = corpus
    with SqliteStore(":memory:", DIM) as store:
        store.upsert(chunks, vecs)
        first = (store.knn_search(axis(0), caller, 50), store.bm25_search("common alpha", caller, 50))
        store.upsert(chunks, vecs)
        second = (store.knn_search(axis(0), caller, 50), store.bm25_search("common alpha", caller, 50))
        assert count_chunks(store) == len(chunks)
    assert [h.chunk for h in first[0]] == [h.chunk for h in second[0]]
    assert [h.chunk for h in first[1]] == [h.chunk for h in second[1]]


@PROPERTY_SETTINGS
@given(
    corpus=corpora(),
    new_roles=role_sets,
    caller=st.frozensets(st.sampled_from(ROLES), min_size=1, max_size=2),
)
def test_update_roles_is_seen_at_once_by_another_instance(
    corpus: tuple[list[Chunk], list[list[float]]], new_roles: tuple[str, ...], caller: frozenset[str]
) -> None:
    chunks, vecs = corpus
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "i.db"
        with SqliteStore(path, DIM) as writer, SqliteStore(path, DIM) as reader:
            writer.upsert(chunks, vecs)
            reader.knn_search(axis(0), caller, 1)  # load the reader's index before the change
            changed = writer.update_roles("d0", new_roles)
            roles_after = {c.chunk_id: (new_roles if c.doc_id == "d0" else c.roles) for c in chunks}
            visible = {cid for cid, roles in roles_after.items() if caller & set(roles)}
            for store in (reader, writer):
                knn = store.knn_search(axis(0), caller, 100)
                bm25 = store.bm25_search("common", caller, 100)
                assert {h.chunk.chunk_id for h in knn} == visible
                assert {h.chunk.chunk_id for h in bm25} == visible
                assert all(h.chunk.roles == roles_after[h.chunk.chunk_id] for h in knn + bm25)
    assert changed == sum(1 for c in chunks if c.doc_id == "d0")


@settings(max_examples=examples(100), deadline=None)
@given(text=st.text(max_size=60))
@example('"foo" OR roles:*')
@example("NEAR(")
@example("*")
@example("^")
@example('foo" OR "bar')
@example("col:val AND (a OR b) NOT c")
def test_bm25_never_raises_on_any_text(text: str) -> None:
    with SqliteStore(":memory:", DIM) as store:
        store.upsert(
            [make_chunk("a", "foo bar roles near", roles=("finance",)), make_chunk("b", "foo", roles=("hr",))],
            [axis(0)] * 2,
        )
        hits = store.bm25_search(text, frozenset({"finance"}), k=5)
    assert all(hit.chunk.chunk_id == "a" for hit in hits)


# -- roles as the searches see them, and BM25's statistics --------------------------------------------

# Role names a tokenizer or a query parser could trip on: quotes, operators, column syntax, case,
# non-ASCII, digits, spaces, the empty string.
ODD_ROLES = ['fin "ance', "OR", "NEAR(", "role_tokens:", "{body}", "Finance", "finance", "é", "12 34", "*", ""]


@PROPERTY_SETTINGS
@given(
    chunk_roles=st.lists(st.lists(st.sampled_from(ODD_ROLES), max_size=3), min_size=1, max_size=12),
    caller=st.frozensets(st.sampled_from(ODD_ROLES), min_size=1, max_size=3),
)
def test_bm25_sees_exactly_the_chunks_whose_roles_intersect_the_callers(
    chunk_roles: list[list[str]], caller: frozenset[str]
) -> None:
    chunks = [make_chunk(f"c{i}", "shared words", roles=roles, position=i) for i, roles in enumerate(chunk_roles)]
    with SqliteStore(":memory:", DIM) as store:
        store.upsert(chunks, [axis(0)] * len(chunks))
        found = {hit.chunk.chunk_id for hit in store.bm25_search("shared", caller, k=100)}
    assert found == {c.chunk_id for c in chunks if not caller.isdisjoint(c.roles)}


@pytest.mark.parametrize("question", ["finance", "hr", "finance hr", "{body} finance", "roles finance"])
def test_a_question_naming_a_role_matches_no_chunk_by_its_roles(store: SqliteStore, question: str) -> None:
    # Roles are never text: only "cited" has a role's name in its text.
    store.upsert(
        [
            make_chunk("plain", "quarterly figures", roles=("finance", "hr"), title=""),
            make_chunk("hidden", "quarterly figures", roles=("hr",), title=""),
            make_chunk("cited", "the finance team", roles=("finance", "hr"), title=""),
        ],
        [axis(0)] * 3,
    )
    hits = store.bm25_search(question, frozenset({"finance"}), k=10)
    expected = ["cited"] if "finance" in question else []
    assert [hit.chunk.chunk_id for hit in hits] == expected


def reference_bm25(chunks: Sequence[Chunk], caller: frozenset[str], question: str) -> dict[str, float]:
    """chunk_id -> Lucene's BM25 (k1 = 1.2, b = 0.75) of the chunks visible to ``caller``, written out from
    the textbook formula with every statistic counted over those chunks alone."""
    visible = [chunk for chunk in chunks if not caller.isdisjoint(chunk.roles)]
    counts = {chunk.chunk_id: reference_terms(chunk.indexed_text()) for chunk in visible}
    wanted = list(dict.fromkeys(term for word in dict.fromkeys(terms(question)) for term in reference_terms(word)))
    average = sum(sum(c.values()) for c in counts.values()) / len(visible)
    scores: dict[str, float] = {}
    for term in wanted:
        holders = [chunk_id for chunk_id, c in counts.items() if term in c]
        idf = math.log(1 + (len(visible) - len(holders) + 0.5) / (len(holders) + 0.5))
        for chunk_id in holders:
            tf, length = counts[chunk_id][term], sum(counts[chunk_id].values())
            scores[chunk_id] = scores.get(chunk_id, 0.0) + idf * tf * 2.2 / (
                tf + 1.2 * (0.25 + 0.75 * length / average)
            )
    return scores


QUESTIONS = ["budget review", "salary", "audit risk plan", "travel policy team report"]
VOCABULARY = ["budget", "review", "travel", "policy", "salary", "audit", "plan", "team", "report", "risk"]


def random_chunks(seed: int, count: int = 60) -> list[Chunk]:
    """Chunks of 5 to 200 words with one to three roles each."""
    rng = np.random.default_rng(seed)
    words = VOCABULARY + [f"word{n}" for n in range(40)]
    return [
        make_chunk(
            f"c{i:02d}",
            " ".join(rng.choice(words, size=int(rng.integers(5, 200)))),
            roles=tuple(rng.choice(ROLES, size=int(rng.integers(1, 4)), replace=False)),
            position=i,
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("caller", [frozenset(ROLES), frozenset({"finance", "hr"}), frozenset({"legal"})])
def test_bm25_scores_are_the_textbook_formula_over_the_visible_chunks(
    store: SqliteStore, caller: frozenset[str]
) -> None:
    chunks = random_chunks(7)
    store.upsert(chunks, [axis(0)] * len(chunks))
    for question in QUESTIONS:
        expected = reference_bm25(chunks, caller, question)
        hits = store.bm25_search(question, caller, k=100)
        assert {hit.chunk.chunk_id: hit.score for hit in hits} == pytest.approx(expected, rel=1e-9)
        assert [hit.score for hit in hits] == sorted(expected.values(), reverse=True)


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**16),
    hidden=st.lists(
        st.tuples(st.lists(st.sampled_from([*VOCABULARY, "rare"]), min_size=1, max_size=40), st.sampled_from(ROLES)),
        min_size=1,
        max_size=20,
    ),
    caller=st.frozensets(st.sampled_from(ROLES), min_size=1, max_size=3),
    question=st.sampled_from([*QUESTIONS, "rare budget", "rare"]),
)
def test_chunks_a_caller_cannot_see_never_move_its_bm25_ranks_or_scores(
    seed: int, hidden: list[tuple[list[str], str]], caller: frozenset[str], question: str
) -> None:
    """The caller's results in a store that also holds chunks hidden from it equal, score for score, its
    results in a store holding only what it may see: no statistic of a hidden chunk reaches it (the
    probe this closes: write a document, then watch its score move as hidden documents use a word)."""
    visible = [chunk for chunk in random_chunks(seed, 20) if not caller.isdisjoint(chunk.roles)]
    outsiders = sorted(set(ROLES) - caller)
    if not outsiders:
        return
    others = [
        make_chunk(
            f"x{i:02d}", " ".join(words), roles=(outsiders[ROLES.index(role) % len(outsiders)],), position=100 + i
        )
        for i, (words, role) in enumerate(hidden)
    ]
    interleaved = [*others[: len(others) // 2], *visible, *others[len(others) // 2 :]]
    with SqliteStore(":memory:", DIM) as alone, SqliteStore(":memory:", DIM) as shared:
        alone.upsert(visible, [axis(0)] * len(visible))
        shared.upsert(interleaved, [axis(0)] * len(interleaved))
        expected = [(hit.chunk.chunk_id, hit.score) for hit in alone.bm25_search(question, caller, k=10)]
        found = [(hit.chunk.chunk_id, hit.score) for hit in shared.bm25_search(question, caller, k=10)]
    assert found == expected


def test_bm25_cuts_to_the_best_k_of_the_visible_matches(store: SqliteStore) -> None:
    # Scores rise with the term's count; hidden chunks score best of all. The cut to k must keep the best
    # visible k, not any k.
    visible = [
        make_chunk(f"v{n:02d}", " ".join(["audit"] * n + ["filler"] * (30 - n)), position=n) for n in range(1, 21)
    ]
    hidden = [make_chunk(f"h{n}", "audit " * 30, roles=("hr",)) for n in range(5)]
    store.upsert(visible + hidden, [axis(0)] * 25)
    everything = store.bm25_search("audit", frozenset({"finance"}), k=100)
    assert [hit.chunk.chunk_id for hit in everything] == [f"v{n:02d}" for n in range(20, 0, -1)]
    assert len({hit.score for hit in everything}) == 20
    best = store.bm25_search("audit", frozenset({"finance"}), k=5)
    assert [hit.chunk.chunk_id for hit in best] == ["v20", "v19", "v18", "v17", "v16"]


def test_bm25_ties_are_cut_to_k_in_insertion_order(store: SqliteStore) -> None:
    store.upsert([make_chunk(f"c{i}", "identical text", position=i) for i in range(10)], [axis(0)] * 10)
    hits = store.bm25_search("identical", frozenset({"finance"}), k=3)
    assert [hit.chunk.chunk_id for hit in hits] == ["c0", "c1", "c2"]


def test_every_write_keeps_the_chunk_terms_in_step_with_the_chunks(tmp_path: Path) -> None:
    path = tmp_path / "index.db"

    def assert_in_step(store: SqliteStore) -> None:
        ids = chunk_ids(store, "d") + chunk_ids(store, "e")
        with sqlite3.connect(path) as conn:
            texts = dict(conn.execute("SELECT chunk_id, text FROM chunks"))
        rows = term_rows(path)
        assert set(rows) == set(ids) == set(texts)
        for chunk_id in ids:
            assert rows[chunk_id] == reference_terms(f"Title\n{texts[chunk_id]}")

    with SqliteStore(path, DIM) as store:
        store.upsert(
            [make_chunk(f"d{i}", f"text {i}", doc_id="d", roles=("finance", "hr"), position=i) for i in range(3)]
            + [make_chunk("e0", "other", doc_id="e", roles=())],
            [axis(0)] * 4,
        )
        assert_in_step(store)
        store.upsert([make_chunk("d1", "new text", doc_id="d", roles=('fin "ance',), position=1)], [axis(0)])
        assert_in_step(store)
        store.update_roles("d", ["legal", "OR", "legal"])
        assert_in_step(store)
        assert store.bm25_search("text", frozenset({"finance", "hr"}), k=10) == []
        store.replace_document("d", [make_chunk("d9", "replaced", doc_id="d", roles=("sales",))], [axis(0)])
        assert_in_step(store)
        store.update_roles("e", ["admin"])
        assert_in_step(store)
        store.delete_document("d")
        assert_in_step(store)
        assert set(term_rows(path)) == {"e0"}


# -- schema versions ------------------------------------------------------------------------------

# The DDL of schema 1, as the store wrote it before role tokens existed (no schema_version in meta).
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    version TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    roles TEXT NOT NULL,
    position INTEGER NOT NULL,
    page INTEGER,
    heading_path TEXT NOT NULL,
    context TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX chunks_by_doc ON chunks (doc_id, version);
CREATE TABLE chunk_roles (chunk_id TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (chunk_id, role)) WITHOUT ROWID;
CREATE INDEX chunk_roles_by_role ON chunk_roles (role, chunk_id);
CREATE VIRTUAL TABLE chunks_fts USING fts5 (body, tokenize = 'porter unicode61 remove_diacritics 2');
INSERT INTO meta (key, value) VALUES ('generation', 0);
"""

SCHEMA_1_CHUNKS = [
    make_chunk(
        "f1", "Revenue grew in Europe", doc_id="fin", roles=("finance",), title="Q3", heading_path=("Q3", "Sales")
    ),
    make_chunk("f2", "Revenue fell in Asia", doc_id="fin", roles=("finance", "admin"), position=1, page=4),
    make_chunk("h1", "Revenue of the canteen", doc_id="hr", roles=("hr",)),
    make_chunk("o1", "Revenue nobody may read", doc_id="orphan", roles=()),
]


def write_schema_1_store(path: Path, chunks: Sequence[Chunk] = SCHEMA_1_CHUNKS, *, version: int = 1) -> None:
    """A store file as schema 1 wrote it, built by hand with schema 1's DDL and inserts; ``version=2``
    writes schema 2's instead, whose FTS table had a second column of role tokens."""
    conn = sqlite3.connect(path)
    ddl = SCHEMA_1 if version == 1 else SCHEMA_1.replace("fts5 (body,", "fts5 (body, role_tokens,")
    conn.executescript(ddl)
    conn.execute("INSERT INTO meta (key, value) VALUES ('dimension', ?)", (DIM,))
    if version == 2:
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', 2)")
    for i, chunk in enumerate(chunks):
        conn.execute(
            "INSERT INTO chunks (chunk_id, doc_id, version, text, source, title, roles, position, page,"
            " heading_path, context, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                chunk.chunk_id,
                chunk.doc_id,
                chunk.version,
                chunk.text,
                chunk.source,
                chunk.title,
                json.dumps(list(chunk.roles)),
                chunk.position,
                chunk.page,
                json.dumps(list(chunk.heading_path)),
                chunk.context,
                np.asarray(axis(i % DIM), dtype=np.float32).tobytes(),
            ),
        )
        conn.executemany(
            "INSERT INTO chunk_roles (chunk_id, role) VALUES (?, ?)", [(chunk.chunk_id, r) for r in chunk.roles]
        )
        conn.execute(
            "INSERT INTO chunks_fts (rowid, body) SELECT id, ? FROM chunks WHERE chunk_id = ?",
            (chunk.indexed_text(), chunk.chunk_id),
        )
    conn.commit()
    conn.close()


def schema_of(path: Path) -> tuple[int | None, set[str]]:
    """The file's schema_version and which of the lexical tables it has."""
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return (None if row is None else row[0]), names & {"chunks_fts", "chunk_terms", "vocabulary"}


def test_a_new_store_is_written_at_the_current_schema(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "index.db", DIM).close()
    assert schema_of(tmp_path / "index.db") == (SCHEMA_VERSION, {"chunk_terms", "vocabulary"})


@pytest.mark.parametrize("old_version", [1, 2])
def test_an_old_store_is_migrated_on_open_and_searches_with_roles(tmp_path: Path, old_version: int) -> None:
    path = tmp_path / "old.db"
    write_schema_1_store(path, version=old_version)
    assert schema_of(path) == (None if old_version == 1 else 2, {"chunks_fts"})

    with SqliteStore(path, DIM) as store:
        assert schema_of(path) == (SCHEMA_VERSION, {"chunk_terms", "vocabulary"})
        assert count_chunks(store) == 4

        def bm25(roles: set[str]) -> list[str]:
            return sorted(hit.chunk.chunk_id for hit in store.bm25_search("revenue", frozenset(roles), k=10))

        assert bm25({"finance"}) == ["f1", "f2"]
        assert bm25({"admin"}) == ["f2"]
        assert bm25({"hr"}) == ["h1"]
        assert bm25({"finance", "hr", "admin", "sales"}) == ["f1", "f2", "h1"]
        assert bm25({"sales"}) == []
        (europe,) = store.bm25_search("sales europe", frozenset({"finance"}), k=10)  # headings indexed too
        assert europe.chunk == SCHEMA_1_CHUNKS[0]
        assert [hit.chunk.chunk_id for hit in store.knn_search(axis(1), frozenset({"finance"}), k=1)] == ["f2"]
        # Writes after the migration keep the terms in step.
        assert store.update_roles("hr", ["finance"]) == 1
        assert bm25({"finance"}) == ["f1", "f2", "h1"] and bm25({"hr"}) == []
        store.upsert([make_chunk("n1", "revenue new", doc_id="new", roles=("sales",))], [axis(0)])
        assert bm25({"sales"}) == ["n1"]
    assert term_rows(path)["f1"] == reference_terms(SCHEMA_1_CHUNKS[0].indexed_text())

    # Reopening finds the current schema and migrates nothing again: f1's terms, removed by hand, stay gone.
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM chunk_terms WHERE id = 1")
    with SqliteStore(path, DIM) as store:
        assert [hit.chunk.chunk_id for hit in store.bm25_search("europe", frozenset({"finance"}), k=5)] == []


def test_after_migration_both_searches_take_visibility_from_the_chunks_roles(tmp_path: Path) -> None:
    # Schema 1's BM25 filtered on chunk_roles, its k-NN on chunks.roles; now both read chunks.roles.
    path = tmp_path / "old.db"
    write_schema_1_store(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM chunk_roles WHERE chunk_id = 'f2' AND role = 'finance'")
    with SqliteStore(path, DIM) as store:
        for caller in ({"finance"}, {"admin"}, {"hr"}, {"sales"}):
            roles = frozenset(caller)
            lexical = {hit.chunk.chunk_id for hit in store.bm25_search("revenue", roles, k=10)}
            nearest = {hit.chunk.chunk_id for hit in store.knn_search(axis(0), roles, k=10)}
            assert lexical == nearest == {c.chunk_id for c in SCHEMA_1_CHUNKS if roles & set(c.roles)}


def test_two_stores_opening_a_schema_1_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    write_schema_1_store(path)
    opened: list[SqliteStore] = []
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            opened.append(SqliteStore(path, DIM))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for store in opened:
        assert sorted(h.chunk.chunk_id for h in store.bm25_search("revenue", frozenset({"finance"}), k=10)) == [
            "f1",
            "f2",
        ]
        store.close()
    assert len(term_rows(path)) == 4


def test_a_store_of_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    SqliteStore(path, DIM).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    with pytest.raises(ValueError, match=f"schema version {SCHEMA_VERSION + 1}"):
        SqliteStore(path, DIM)
    assert schema_of(path)[0] == SCHEMA_VERSION + 1


# -- the posting index's segments -------------------------------------------------------------------


def _results(store: SqliteStore, question: str, roles: frozenset[str]) -> list[tuple[str, float]]:
    return [(hit.chunk.chunk_id, hit.score) for hit in store.bm25_search(question, roles, k=50)]


def _knn_results(store: SqliteStore, roles: frozenset[str]) -> list[tuple[str, float]]:
    return [(hit.chunk.chunk_id, hit.score) for hit in store.knn_search(unit(1.0, 0.5, -0.25), roles, k=5)]


@PROPERTY_SETTINGS
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["upsert", "replace", "delete", "roles"]),
            st.integers(0, 5),  # which document
            st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=12),
            st.sampled_from(ROLES),
        ),
        min_size=1,
        max_size=25,
    ),
    caller=st.frozensets(st.sampled_from(ROLES), min_size=1, max_size=3),
)
def test_an_index_kept_up_to_date_write_by_write_equals_one_loaded_afresh(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int, list[str], str]], caller: frozenset[str]
) -> None:
    """The live store searches after every write (so its posting index grows by segments, merges them and
    drops deleted chunks, and its vector codes keep the rows still there and read the new ones), and a
    store opened afresh on the same file loads it all at once: their results, scores included, are the
    same after every step, in both searches."""
    path = tmp_path_factory.mktemp("segments") / "index.db"
    with SqliteStore(path, DIM) as live:
        for n, (action, doc, words, role) in enumerate(steps):
            doc_id = f"doc{doc}"
            if action == "delete":
                live.delete_document(doc_id)
            elif action == "roles":
                live.update_roles(doc_id, [role])
            else:
                chunks = [
                    make_chunk(
                        f"{doc_id}-{n}-{i}", " ".join(words[i:] or words), doc_id=doc_id, roles=(role,), position=i
                    )
                    for i in range(2)
                ]
                vectors = np.random.default_rng(n).normal(size=(2, DIM)).tolist()
                if action == "replace":
                    live.replace_document(doc_id, chunks, vectors)
                else:
                    live.upsert(chunks, vectors)
            with SqliteStore(path, DIM) as fresh:
                for question in ("budget review", "audit plan team"):
                    assert _results(live, question, caller) == _results(fresh, question, caller)
                assert _knn_results(live, caller) == _knn_results(fresh, caller)
        assert live._lexical is None or len(live._lexical.segments) <= lexical.MAX_SEGMENTS


def test_a_segment_read_in_batches_is_the_segment_read_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Postings are placed batch by batch (two passes over the rows); any batch size gives the same arrays,
    and counts past 255 keep their value in the wider type they then need."""
    rng = np.random.default_rng(5)
    texts = [" ".join(rng.choice(VOCABULARY, size=int(rng.integers(1, 30)))) for _ in range(40)]
    texts.append("budget " * 300)  # one term 300 times: counts no longer fit a byte
    path = tmp_path / "index.db"
    with SqliteStore(path, DIM) as store:
        store.upsert(
            [make_chunk(f"c{i:02d}", text, position=i) for i, text in enumerate(texts)], [axis(0)] * len(texts)
        )
    with sqlite3.connect(path) as conn:
        whole = lexical.Segment.read(conn, 0)
        monkeypatch.setattr(lexical, "_READ_BATCH", 3)
        batched = lexical.Segment.read(conn, 0)
    assert whole is not None and batched is not None
    for field in ("chunk_ids", "lengths", "term_ids", "starts", "posting_rows", "posting_counts"):
        assert np.array_equal(getattr(whole, field), getattr(batched, field)), field
    assert whole.posting_counts.max() == 300 and whole.posting_counts.dtype == np.uint16


def test_a_write_adds_a_segment_of_its_own_chunks_and_many_deletions_merge_them(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "index.db", DIM) as store:
        store.upsert([make_chunk(f"a{i}", "budget review", doc_id="a", position=i) for i in range(8)], [axis(0)] * 8)
        store.bm25_search("budget", FINANCE_ONLY, k=5)
        store.upsert([make_chunk("b0", "budget audit", doc_id="b")], [axis(0)])
        store.bm25_search("budget", FINANCE_ONLY, k=5)
        index = store._lexical
        assert index is not None and [len(s.chunk_ids) for s in index.segments] == [8, 1]
        store.delete_document("a")  # 8 of the 9 chunks the segments hold are gone: merged into one
        assert [h.chunk.chunk_id for h in store.bm25_search("budget", FINANCE_ONLY, k=5)] == ["b0"]
        index = store._lexical
        assert index is not None and [len(s.chunk_ids) for s in index.segments] == [1]
