"""EmbeddedStore: SQLite + FTS5 for BM25, numpy for exact k-NN, roles applied inside both searches."""

from __future__ import annotations

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
from ragline.stores.embedded import EmbeddedStore, fts_query

SHARED = Path(__file__).resolve().parents[2] / "shared"
DIM = 8
ROLES = ("admin", "finance", "hr", "legal", "sales")


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


def unit(*components: float) -> list[float]:
    vector = list(components) + [0.0] * (DIM - len(components))
    length = math.sqrt(sum(x * x for x in vector))
    return [x / length for x in vector]


def axis(i: int) -> list[float]:
    vector = [0.0] * DIM
    vector[i] = 1.0
    return vector


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    with EmbeddedStore(tmp_path / "index.db", DIM) as opened:
        yield opened


@pytest.fixture
def everyone() -> frozenset[str]:
    return frozenset(ROLES)


# -- round trips ----------------------------------------------------------------------------------


def test_both_searches_reconstruct_full_chunks(store: EmbeddedStore, everyone: frozenset[str]) -> None:
    with_page = make_chunk(
        "c1", "Revenue grew by four percent", roles=("finance", "admin"), page=3, heading_path=("Results", "Q3"),
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


def test_knn_scores_are_cosine_similarities_of_normalised_vectors(store: EmbeddedStore) -> None:
    store.upsert([make_chunk("a"), make_chunk("b")], [[3.0, 4.0] + [0.0] * 6, [0.0, 10.0] + [0.0] * 6])
    hits = store.knn_search([6.0, 8.0] + [0.0] * 6, frozenset({"finance"}), k=2)
    assert [hit.chunk.chunk_id for hit in hits] == ["a", "b"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-6)
    assert hits[1].score == pytest.approx(0.8, abs=1e-6)


def test_a_zero_vector_is_stored_and_scores_zero(store: EmbeddedStore) -> None:
    store.upsert([make_chunk("zero")], [[0.0] * DIM])
    (hit,) = store.knn_search(axis(0), frozenset({"finance"}), k=3)
    assert hit.score == 0.0


def test_bm25_ranks_better_matches_higher_with_positive_scores(store: EmbeddedStore) -> None:
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


def test_bm25_indexes_title_and_headings_with_stemming_and_no_diacritics(store: EmbeddedStore) -> None:
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


def test_fts_query_quotes_every_term() -> None:
    assert fts_query('"foo" OR roles:*') == '"foo" OR "roles"'
    assert fts_query("NEAR( ^ *") == '"near"'
    assert fts_query("the the of") == ""
    assert fts_query("Revenue revenue growth") == '"revenue" OR "growth"'


@pytest.mark.parametrize(
    "query",
    ['"foo" OR roles:*', "NEAR(", "*", "^", 'foo" OR "bar', "body:secret", "foo AND NOT bar", "(((", "-", "'", "\x00"],
)
def test_fts_syntax_in_queries_is_plain_text(store: EmbeddedStore, query: str) -> None:
    store.upsert(
        [make_chunk("visible", "foo bar near roles body"), make_chunk("hidden", "foo bar near roles", roles=("hr",))],
        [axis(0)] * 2,
    )
    hits = store.bm25_search(query, frozenset({"finance"}), k=10)
    assert all(hit.chunk.chunk_id == "visible" for hit in hits)
    assert bool(hits) == bool(fts_query(query))


def test_queries_without_terms_return_nothing(store: EmbeddedStore) -> None:
    store.upsert([make_chunk("a", "the of and")], [axis(0)])
    assert store.bm25_search("the of ?!", frozenset({"finance"}), k=5) == []


# -- roles ----------------------------------------------------------------------------------------


def test_roles_filter_inside_both_searches(store: EmbeddedStore) -> None:
    hidden = [make_chunk(f"h{i}", "salary salary salary review", roles=("hr",)) for i in range(50)]
    visible = [make_chunk(f"v{i}", f"salary {'padding ' * 30}{i}", roles=("finance", "legal")) for i in range(3)]
    store.upsert(hidden + visible, [axis(0)] * 50 + [unit(1, 1)] * 3)
    roles = frozenset({"finance"})

    bm25 = store.bm25_search("salary review", roles, k=3)
    knn = store.knn_search(axis(0), roles, k=3)
    assert sorted(hit.chunk.chunk_id for hit in bm25) == ["v0", "v1", "v2"]
    assert sorted(hit.chunk.chunk_id for hit in knn) == ["v0", "v1", "v2"]


def test_empty_roles_match_nothing_without_touching_the_database(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "index.db", DIM)
    store.upsert([make_chunk("a", "salary")], [axis(0)])
    store.close()
    # A closed connection would raise if used: empty roles must short-circuit before it.
    assert store.bm25_search("salary", frozenset(), k=5) == []
    assert store.knn_search(axis(0), frozenset(), k=5) == []
    with pytest.raises(sqlite3.ProgrammingError):
        store.count()


def test_unknown_roles_and_non_positive_k_return_nothing(store: EmbeddedStore) -> None:
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
    chunks = [
        make_chunk(f"c{i:03d}", roles=("finance",) if i < visible_count else ("hr",)) for i in range(100)
    ]
    with EmbeddedStore(tmp_path / "index.db", DIM) as store:
        store.upsert(chunks, vectors.tolist())
        query = rng.normal(size=DIM)
        hits = store.knn_search(query.tolist(), frozenset({"finance"}), k=10)
    normalised = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected_scores = normalised[:visible_count] @ (query / np.linalg.norm(query))
    expected = [f"c{i:03d}" for i in np.argsort(-expected_scores)[:10]]
    assert [hit.chunk.chunk_id for hit in hits] == expected
    assert [hit.score for hit in hits] == pytest.approx(sorted(expected_scores, reverse=True)[:10], abs=1e-5)


# -- writes ---------------------------------------------------------------------------------------


def test_upserting_the_same_chunks_twice_does_not_duplicate(store: EmbeddedStore) -> None:
    chunks = [make_chunk(f"c{i}", f"word{i} shared", position=i) for i in range(5)]
    store.upsert(chunks, [axis(i) for i in range(5)])
    store.upsert(chunks, [axis(i) for i in range(5)])
    assert store.count() == 5
    assert len(store.bm25_search("shared", frozenset({"finance"}), k=50)) == 5
    assert len(store.knn_search(axis(0), frozenset({"finance"}), k=50)) == 5


def test_upsert_replaces_text_vector_and_roles(store: EmbeddedStore) -> None:
    store.upsert([make_chunk("c", "old words", roles=("finance",))], [axis(0)])
    store.upsert([make_chunk("c", "new words", roles=("hr",))], [axis(1)])
    assert store.bm25_search("old", frozenset({"hr", "finance"}), k=5) == []
    assert store.bm25_search("new", frozenset({"finance"}), k=5) == []
    (hit,) = store.bm25_search("new", frozenset({"hr"}), k=5)
    assert hit.chunk.text == "new words"
    (near,) = store.knn_search(axis(1), frozenset({"hr"}), k=5)
    assert near.score == pytest.approx(1.0)


def test_a_chunk_id_repeated_in_one_upsert_keeps_the_last(store: EmbeddedStore) -> None:
    store.upsert(
        [make_chunk("c", "first", roles=("finance",)), make_chunk("c", "second", roles=("hr",))], [axis(0), axis(1)]
    )
    assert store.count() == 1
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
def test_bad_vectors_are_rejected_and_nothing_is_written(store: EmbeddedStore, vectors: list[list[float]]) -> None:
    with pytest.raises(ValueError):
        store.upsert([make_chunk("c")], vectors)
    assert store.count() == 0


def test_a_query_vector_of_the_wrong_dimension_is_rejected(store: EmbeddedStore) -> None:
    store.upsert([make_chunk("c")], [axis(0)])
    with pytest.raises(ValueError, match="dimension"):
        store.knn_search([1.0, 0.0], frozenset({"finance"}), k=1)


def test_reopening_with_another_dimension_is_rejected(tmp_path: Path) -> None:
    EmbeddedStore(tmp_path / "index.db", DIM).close()
    with pytest.raises(ValueError, match="dimension 8"):
        EmbeddedStore(tmp_path / "index.db", DIM * 2)


def test_delete_document_removes_every_version_of_the_document(store: EmbeddedStore) -> None:
    old = [make_chunk(f"old{i}", "report", doc_id="d", version="v1", position=i) for i in range(3)]
    new = [make_chunk(f"new{i}", "report", doc_id="d", version="v2", position=i) for i in range(2)]
    other = [make_chunk("other", "report", doc_id="e")]
    store.upsert(old + new + other, [axis(0)] * 6)

    assert store.delete_document("d") == 5
    assert store.chunk_ids("d") == []
    assert [hit.chunk.chunk_id for hit in store.bm25_search("report", frozenset({"finance"}), k=10)] == ["other"]
    assert store.delete_document("d") == 0
    assert store.delete_document("missing") == 0
    assert store.count() == 1 and store.count("d") == 0 and store.count("e") == 1
    assert [hit.chunk.chunk_id for hit in store.knn_search(axis(0), frozenset({"finance"}), k=10)] == ["other"]


def test_replace_document_leaves_exactly_the_new_chunks(store: EmbeddedStore) -> None:
    old = [make_chunk(f"d-v1-{n}", f"old text {n}", doc_id="d", version="v1", position=n) for n in range(3)]
    other = make_chunk("e-v1-0", "another document", doc_id="e")
    store.upsert([*old, other], [axis(n) for n in range(3)] + [axis(3)])
    # The same version chunked anew: fewer positions, one id shared with the old set.
    new = [make_chunk("d-v1-0", "new text zero", doc_id="d", version="v1"), make_chunk("d-v2-1", "new one", doc_id="d", version="v2", position=1)]

    removed = store.replace_document("d", new, [axis(4), axis(5)])

    assert removed == 2
    assert store.chunk_ids("d") == ["d-v1-0", "d-v2-1"]
    assert store.chunk_ids("e") == ["e-v1-0"]
    assert [h.chunk.text for h in store.bm25_search("text", frozenset({"finance"}), 10)] == ["new text zero"]


def test_replace_document_is_one_transaction_for_readers(tmp_path: Path) -> None:
    """A reader on another connection sees the old set or the new set, never a mix or nothing."""
    writer = EmbeddedStore(tmp_path / "s.sqlite3", DIM)
    reader = EmbeddedStore(tmp_path / "s.sqlite3", DIM)
    versions = [[make_chunk(f"d-v{v}-{n}", f"text {v}", doc_id="d", version=f"v{v}", position=n) for n in range(4)] for v in range(2)]
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


def test_replace_document_refuses_chunks_of_another_document(store: EmbeddedStore) -> None:
    with pytest.raises(ValueError):
        store.replace_document("d", [make_chunk("x", doc_id="other")], [axis(0)])


def test_update_roles_changes_visibility_in_both_searches(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    writer = EmbeddedStore(path, DIM)
    reader = EmbeddedStore(path, DIM)
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


def test_count_and_chunk_ids(store: EmbeddedStore) -> None:
    store.upsert(
        [make_chunk("b", doc_id="d", position=1), make_chunk("a", doc_id="d", position=0), make_chunk("x", doc_id="e")],
        [axis(0)] * 3,
    )
    assert store.count() == 3
    assert store.count("d") == 2
    assert store.count("nothing") == 0
    assert store.chunk_ids("d") == ["a", "b"]
    assert store.chunk_ids("nothing") == []


# -- the file, threads and processes -----------------------------------------------------------------


def test_creates_parent_folders_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "index.db"
    with EmbeddedStore(path, DIM) as store:
        store.upsert([make_chunk("c")], [axis(0)])
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM chunk_roles WHERE role = 'finance'").fetchone()[0] == 1


def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    chunk = make_chunk("c", "persistent words", page=2, heading_path=("A",))
    with EmbeddedStore(path, DIM) as store:
        store.upsert([chunk], [axis(3)])
    with EmbeddedStore(path, DIM) as store:
        assert [h.chunk for h in store.knn_search(axis(3), frozenset({"finance"}), k=1)] == [chunk]
        assert [h.chunk for h in store.bm25_search("persistent", frozenset({"finance"}), k=1)] == [chunk]


def test_a_write_from_another_process_is_seen_by_the_next_search(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    with EmbeddedStore(path, DIM) as store:
        store.upsert([make_chunk("mine", "local")], [axis(0)])
        assert len(store.knn_search(axis(0), frozenset({"finance"}), k=10)) == 1  # index loaded
        code = (
            "import sys\n"
            "from ragline.models import Chunk\n"
            "from ragline.stores.embedded import EmbeddedStore\n"
            f"s = EmbeddedStore(sys.argv[1], {DIM})\n"
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


def test_one_store_serves_a_writer_thread_and_searching_threads(store: EmbeddedStore) -> None:
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
                knn = store.knn_search(axis(0), roles, k=5)
                bm25 = store.bm25_search("shared", roles, k=5)
                assert len(knn) == 5 or store.count() < 5
                assert all("finance" in h.chunk.roles for h in knn + bm25)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=search) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count() == 1 + 40 * 5 - 10 * 5
    assert len(store.knn_search(axis(0), roles, k=1000)) == store.count()


# -- properties -----------------------------------------------------------------------------------

role_sets = st.lists(st.sampled_from(ROLES), min_size=0, max_size=3).map(lambda roles: tuple(dict.fromkeys(roles)))
vectors = st.lists(
    st.floats(min_value=-1, max_value=1, allow_nan=False, width=32), min_size=DIM, max_size=DIM
)
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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
    caller=st.frozensets(st.sampled_from(ROLES + ("nobody",)), max_size=3),
    k=st.integers(min_value=1, max_value=30),
    query=vectors,
    text=st.sampled_from(["common", "alpha", "beta gamma", "omega common"]),
)
def test_searches_never_leak_and_knn_returns_min_k_visible(
    corpus: tuple[list[Chunk], list[list[float]]], caller: frozenset[str], k: int, query: list[float], text: str
) -> None:
    chunks, vecs = corpus
    visible = {c.chunk_id for c in chunks if caller & set(c.roles)}
    with tempfile.TemporaryDirectory() as folder, EmbeddedStore(Path(folder) / "i.db", DIM) as store:
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
    with tempfile.TemporaryDirectory() as folder, EmbeddedStore(Path(folder) / "i.db", DIM) as store:
        store.upsert(chunks, vecs)
        removed = store.delete_document(doomed)
        knn = {h.chunk.chunk_id for h in store.knn_search(axis(0), everyone, k=100)}
        bm25 = {h.chunk.chunk_id for h in store.bm25_search("common", everyone, k=100)}
        assert store.count(doomed) == 0
    survivors = {c.chunk_id for c in chunks if c.doc_id != doomed and c.roles}
    assert removed == sum(1 for c in chunks if c.doc_id == doomed)
    assert knn == survivors and bm25 == survivors


@PROPERTY_SETTINGS
@given(corpus=corpora(), caller=st.frozensets(st.sampled_from(ROLES), min_size=1, max_size=2))
def test_upserting_twice_is_idempotent(corpus: tuple[list[Chunk], list[list[float]]], caller: frozenset[str]) -> None:
    chunks, vecs = corpus
    with tempfile.TemporaryDirectory() as folder, EmbeddedStore(Path(folder) / "i.db", DIM) as store:
        store.upsert(chunks, vecs)
        first = (store.knn_search(axis(0), caller, 50), store.bm25_search("common alpha", caller, 50))
        store.upsert(chunks, vecs)
        second = (store.knn_search(axis(0), caller, 50), store.bm25_search("common alpha", caller, 50))
        assert store.count() == len(chunks)
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
        with EmbeddedStore(path, DIM) as writer, EmbeddedStore(path, DIM) as reader:
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


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=60))
@example('"foo" OR roles:*')
@example("NEAR(")
@example("*")
@example("^")
@example('foo" OR "bar')
@example("col:val AND (a OR b) NOT c")
def test_bm25_never_raises_on_any_text(text: str) -> None:
    with EmbeddedStore(":memory:", DIM) as store:
        store.upsert(
            [make_chunk("a", "foo bar roles near", roles=("finance",)), make_chunk("b", "foo", roles=("hr",))],
            [axis(0)] * 2,
        )
        hits = store.bm25_search(text, frozenset({"finance"}), k=5)
    assert all(hit.chunk.chunk_id == "a" for hit in hits)
