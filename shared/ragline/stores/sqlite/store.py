"""The embedded store: :class:`SqliteStore`, the port's operations on one SQLite file.

Every write is one transaction that also bumps ``meta.generation``. Both searches score in-memory snapshots
of the file, :class:`~ragline.stores.sqlite.lexical.LexicalIndex` for BM25 and
:class:`~ragline.stores.sqlite.vectors.VectorIndex` for k-NN, each reloaded when ``generation`` has moved,
which each search checks with one cheap query, so a write by another thread, another store object or
another process is seen by the next search.

One store object may be shared by threads. Writes go through one connection under a lock. Each search
takes a read connection of its own from a pool (one per search running at once) and runs in one read
transaction on it, so the k-NN and BM25 searches of one question run at the same time, on the two cores,
and each sees one state of the file throughout (WAL: readers never wait for the writer). A private
``":memory:"`` store has one connection only: its searches take turns on it.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragline.models import Chunk, IndexedVersion, SearchHit
from ragline.stores.sqlite.lexical import LexicalIndex, question_term_ids, term_blobs
from ragline.stores.sqlite.schema import CHUNK_COLUMNS, chunk_of_row, chunk_row, prepare
from ragline.stores.sqlite.vectors import VectorIndex, exact_top_k, unit_matrix, unit_query
from ragline.stores.sqlite.visibility import ChunkRows
from ragline.stores.terms import Tokenizer


@dataclass(frozen=True)
class _Rows:
    """Chunks ready to write: the chunks rows, their ids, their (chunk_id, role) pairs, and their indexed
    texts (:meth:`Chunk.indexed_text`, what BM25 reads)."""

    chunks: list[tuple[Any, ...]]
    ids: list[tuple[str]]
    roles: list[tuple[str, str]]
    texts: list[str]


class SqliteStore:
    """:class:`ragline.ports.VectorStore` in a SQLite file at ``path`` (parent folders are created).

    ``dimension`` is fixed for the life of the file: opening it with another raises ``ValueError``.
    ``":memory:"`` gives a private in-memory store.
    """

    def __init__(self, path: str | Path, dimension: int) -> None:
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise ValueError(f"dimension must be a positive integer, got {dimension!r}")
        self.path = path if str(path) == ":memory:" else Path(path)
        self.dimension = dimension
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._idle_readers: list[_Reader] = []  # read connections not in use (files only)
        self._readers: list[_Reader] = []  # every read connection opened, to close them
        self._readers_lock = threading.Lock()  # guards the two lists above
        self._loading = threading.Lock()  # one thread (re)loads the in-memory indexes at a time
        self._chunk_rows: ChunkRows | None = None
        self._vectors: VectorIndex | None = None
        self._lexical: LexicalIndex | None = None
        self._conn = _connect(self.path)
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            raise

    # -- life cycle -------------------------------------------------------------------------------

    def _setup(self) -> None:
        conn = self._conn
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
        conn.execute("PRAGMA synchronous = NORMAL")
        self._tokenizer = Tokenizer(conn)
        # One write transaction for creating, checking and migrating: two processes opening an old file
        # at once migrate it once (the second sees the first's schema_version).
        with self._write():
            prepare(conn, str(self.path), self.dimension, self._tokenizer)

    def close(self) -> None:
        """Close the connection and drop the in-memory index. The store is unusable afterwards."""
        with self._lock:
            self._chunk_rows = None
            self._vectors = self._lexical = None
            with self._readers_lock:
                for reader in self._readers:
                    reader.conn.close()
                self._readers.clear()
                self._idle_readers.clear()
            self._conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r}, dimension={self.dimension})"

    # -- writes -----------------------------------------------------------------------------------

    def _write(self) -> _Transaction:
        return _Transaction(self._conn, self._lock, "BEGIN IMMEDIATE")

    def _bump(self) -> None:
        self._conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        """Insert chunks with their vectors, replacing any chunk of the same ``chunk_id``, atomically.

        Raises ``ValueError`` when the counts differ or a vector has the wrong dimension or a
        non-finite value; nothing is written then.
        """
        rows = self._rows(chunks, vectors)
        if not rows.ids:
            return
        with self._write():
            self._insert(rows)
            self._bump()

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> int:
        """Make ``chunks`` the document's only chunks, in one transaction: readers see the old set or the
        new one, never both. Returns how many old chunks were removed."""
        if any(chunk.doc_id != doc_id for chunk in chunks):
            raise ValueError(f"every chunk must belong to {doc_id}")
        rows = self._rows(chunks, vectors)
        keep = {chunk_id for (chunk_id,) in rows.ids}
        with self._write():
            conn = self._conn
            stale = [
                (chunk_id,)
                for (chunk_id,) in conn.execute("SELECT chunk_id FROM chunks WHERE doc_id = ?", (doc_id,))
                if chunk_id not in keep
            ]
            _delete_chunks(conn, stale)
            if rows.ids:
                self._insert(rows)
            self._bump()
        return len(stale)

    def _rows(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> _Rows:
        """Validate and turn chunks and vectors into the rows :meth:`_insert` writes."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if not chunks:
            return _Rows([], [], [], [])
        matrix = unit_matrix(vectors, self.dimension)
        # A chunk id given twice in one call: the last one wins, as it would over two calls.
        latest = {chunk.chunk_id: (chunk, i) for i, chunk in enumerate(chunks)}
        return _Rows(
            chunks=[chunk_row(chunk, matrix[i].tobytes()) for chunk, i in latest.values()],
            ids=[(chunk_id,) for chunk_id in latest],
            roles=[(chunk.chunk_id, role) for chunk, _ in latest.values() for role in chunk.roles],
            texts=[chunk.indexed_text() for chunk, _ in latest.values()],
        )

    def _insert(self, rows: _Rows) -> None:
        """Write rows, replacing chunks of the same id. Call inside :meth:`_write`."""
        conn = self._conn
        _delete_chunks(conn, rows.ids)
        conn.executemany(
            f"INSERT INTO chunks ({CHUNK_COLUMNS}, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows.chunks
        )
        conn.executemany("INSERT OR IGNORE INTO chunk_roles (chunk_id, role) VALUES (?, ?)", rows.roles)
        blobs = term_blobs(conn, self._tokenizer, rows.texts)
        conn.executemany(
            "INSERT INTO chunk_terms (id, terms) SELECT id, ? FROM chunks WHERE chunk_id = ?",
            [(blob, chunk_id) for blob, (chunk_id,) in zip(blobs, rows.ids, strict=True)],
        )

    def delete_document(self, doc_id: str) -> int:
        """Remove every chunk of a document; returns how many."""
        with self._write():
            conn = self._conn
            ids = conn.execute("SELECT chunk_id FROM chunks WHERE doc_id = ?", (doc_id,)).fetchall()
            if ids:
                _delete_chunks(conn, ids)
                self._bump()
        return len(ids)

    def count_document(self, doc_id: str, version: str) -> int:
        """How many chunks of the document's version ``version`` the file holds."""
        with self._reading() as reader:
            (count,) = reader.conn.execute(
                "SELECT COUNT(*) FROM chunks WHERE doc_id = ? AND version = ?", (doc_id, version)
            ).fetchone()
        return int(count)

    def update_roles(self, doc_id: str, roles: Sequence[str]) -> int:
        """Give every chunk of a document these roles (no re-embedding); returns how many chunks."""
        if isinstance(roles, str):
            raise TypeError("roles must be a sequence of role names, not one string")
        unique = list(dict.fromkeys(roles))
        with self._write():
            conn = self._conn
            ids = conn.execute("SELECT chunk_id FROM chunks WHERE doc_id = ?", (doc_id,)).fetchall()
            if ids:
                conn.execute("UPDATE chunks SET roles = ? WHERE doc_id = ?", (json.dumps(unique), doc_id))
                conn.executemany("DELETE FROM chunk_roles WHERE chunk_id = ?", ids)
                conn.executemany(
                    "INSERT INTO chunk_roles (chunk_id, role) VALUES (?, ?)",
                    [(chunk_id, role) for (chunk_id,) in ids for role in unique],
                )
                self._bump()
        return len(ids)

    #: Every write is searchable once its transaction commits.
    refresh_lag_seconds = 0.0

    def settle_document(self, doc_id: str, version: str | None, roles: Sequence[str]) -> int:
        """Remove the document's chunks of other versions than ``version`` (all, when None) and give the
        rest ``roles`` in place; returns 0, the new copies written. (Nothing is ever left to settle in one
        file: this is here for the port.)"""
        with self._write():
            conn = self._conn
            stale = conn.execute(
                "SELECT chunk_id FROM chunks WHERE doc_id = ? AND version IS NOT ?", (doc_id, version)
            ).fetchall()
            if stale:
                _delete_chunks(conn, stale)
                self._bump()
        if version is not None:
            self.update_roles(doc_id, roles)
        return 0

    # -- reads ------------------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[_Reader]:
        """A read transaction on a read connection of this search's own: the generation, an index loaded
        and the rows fetched in it agree with each other. (A ``":memory:"`` store reads on its one
        connection, under the lock.)"""
        if self.path == ":memory:":
            with _Transaction(self._conn, self._lock, "BEGIN"):
                yield _Reader(self._conn, self._tokenizer)
            return
        reader = self._take_reader()
        try:
            with _Transaction(reader.conn, reader.lock, "BEGIN"):
                yield reader
        finally:
            with self._readers_lock:
                self._idle_readers.append(reader)

    def _take_reader(self) -> _Reader:
        # Not the write lock: a search never waits for a write to take or open its connection.
        with self._readers_lock:
            if self._idle_readers:
                return self._idle_readers.pop()
            conn = _connect(self.path)
            reader = _Reader(conn, Tokenizer(conn))
            self._readers.append(reader)
            return reader

    def indexed_versions(self) -> Iterator[IndexedVersion]:
        """Every document and version the file holds, with its chunk count (read at once, under the lock)."""
        with self._lock:
            query = "SELECT doc_id, version, source, count(*) FROM chunks GROUP BY doc_id, version, source"
            rows = self._conn.execute(query).fetchall()
        return (IndexedVersion(doc_id, version, source, count) for doc_id, version, source, count in rows)

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]:
        """The ``k`` chunks visible to ``roles`` that best match ``text`` by BM25; higher scores are better.

        Only visible chunks are scored, and every statistic BM25 weighs with (how many chunks hold a term,
        their average length) is counted over the visible chunks alone (:mod:`~ragline.stores.sqlite.lexical`),
        so neither a hit's rank nor its score depends on a chunk the caller cannot see (docs/security.md,
        "BM25 statistics").
        """
        if not roles or k <= 0:
            return []
        with self._reading() as reader:
            term_ids = question_term_ids(reader.conn, reader.tokenizer, text)
            if not term_ids:
                return []
            index = self._current_lexical(reader.conn)
            picked, scores = index.top_k(term_ids, roles, k)
            return self._hits(reader.conn, index.ids[picked], scores, roles)

    def knn_search(self, vector: Sequence[float], roles: frozenset[str], k: int) -> list[SearchHit]:
        """The ``k`` chunks visible to ``roles`` nearest to ``vector``; score = cosine similarity.

        The visible rows are scanned by their int8 codes (:meth:`VectorIndex.pool`), and the best of them
        ranked again by their exact float32 cosine (:func:`exact_top_k`), which is the score reported. A
        hit's position is its rank among chunks the caller may see, as an explanation reports it
        (ragline.explain), and neither it nor the score depends on any other chunk."""
        if not roles or k <= 0:
            return []
        query = unit_query(vector, self.dimension)
        with self._reading() as reader:
            index = self._current_vectors(reader.conn)
            pool = index.ids[index.pool(query, roles, k)]
            if not len(pool):
                return []
            found = reader.conn.execute(
                "SELECT id, vector FROM chunks WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                (json.dumps(pool.tolist()),),
            ).fetchall()
            ids = np.fromiter((rowid for rowid, _ in found), dtype=np.int64, count=len(found))
            picked, scores = exact_top_k(query, ids, [blob for _, blob in found], k)
            return self._hits(reader.conn, picked, scores, roles)

    @staticmethod
    def _hits(
        conn: sqlite3.Connection, rowids: np.ndarray, scores: np.ndarray, roles: frozenset[str]
    ) -> list[SearchHit]:
        """The chunks of ``rowids`` with their scores, in that order. Call in the search's transaction.

        Each chunk read back is checked against ``roles`` once more: a snapshot out of step with the rows
        can cost a result but never show a chunk to the wrong caller."""
        if not len(rowids):
            return []
        rows = conn.execute(
            f"SELECT id, {CHUNK_COLUMNS} FROM chunks WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(rowids.tolist()),),
        ).fetchall()
        by_id = {row[0]: chunk_of_row(row[1:]) for row in rows}
        hits = []
        for rowid, score in zip(rowids.tolist(), scores.tolist(), strict=True):
            chunk = by_id.get(rowid)
            if chunk is not None and not roles.isdisjoint(chunk.roles):
                hits.append(SearchHit(chunk, float(score)))
        return hits

    # -- the in-memory indexes --------------------------------------------------------------------

    # Each returns the snapshot of the generation ``conn``'s read transaction sees, loading it from that
    # transaction when the one in memory is of another generation. The snapshots are immutable: a search
    # scores its own without any lock while another thread swaps in a newer one.

    def _current_rows(self, conn: sqlite3.Connection) -> ChunkRows:
        """The chunks' ids and roles as of the transaction's generation. Call under ``_loading``."""
        (generation,) = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        rows = self._chunk_rows
        if rows is None or rows.generation != int(generation):
            rows = self._chunk_rows = ChunkRows.load(conn, int(generation))
        return rows

    def _current_vectors(self, conn: sqlite3.Connection) -> VectorIndex:
        """The vectors as of the transaction's generation, reloaded if stale. Call in a read transaction."""
        with self._loading:
            rows = self._current_rows(conn)
            index = self._vectors
            if index is None or index.generation != rows.generation:
                index = self._vectors = VectorIndex.load(conn, rows, self.dimension, previous=index)
            return index

    def _current_lexical(self, conn: sqlite3.Connection) -> LexicalIndex:
        """The terms as of the transaction's generation, reloaded if stale. Call in a read transaction."""
        with self._loading:
            rows = self._current_rows(conn)
            index = self._lexical
            if index is None or index.generation != rows.generation:
                index = self._lexical = LexicalIndex.load(conn, rows, previous=index)
            return index


@dataclass(frozen=True)
class _Reader:
    """A read connection, its own tokenizer for questions (a scratch table in the connection's ``temp``
    schema), and the lock of the connection (held by the one search using it)."""

    conn: sqlite3.Connection
    tokenizer: Tokenizer
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)


def _connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


class _Transaction:
    """``with`` block: take the lock, BEGIN, and COMMIT (or ROLLBACK on error)."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock, begin: str) -> None:
        self._conn = conn
        self._lock = lock
        self._begin = begin

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._conn.execute(self._begin)
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        try:
            if exc_type is None:
                self._conn.execute("COMMIT")
            elif self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        finally:
            self._lock.release()


def _delete_chunks(conn: sqlite3.Connection, ids: list[tuple[str]]) -> None:
    conn.executemany("DELETE FROM chunk_terms WHERE id IN (SELECT id FROM chunks WHERE chunk_id = ?)", ids)
    conn.executemany("DELETE FROM chunk_roles WHERE chunk_id = ?", ids)
    conn.executemany("DELETE FROM chunks WHERE chunk_id = ?", ids)
