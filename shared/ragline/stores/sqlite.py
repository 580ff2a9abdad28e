"""A vector store in one SQLite file: FTS5 for BM25, exact k-NN in numpy, roles applied inside both.

Layout of the file (WAL mode, so readers never wait for the writer):

- ``chunks``: every field of :class:`~ragline.models.Chunk` (``roles`` and ``heading_path`` as JSON)
  and the vector as a float32 blob, normalised to unit length on insert;
- ``chunk_roles(chunk_id, role)``: one row per role of a chunk, indexed by role (the relational record of
  the roles; schema migrations rebuild the FTS role tokens from it);
- ``chunks_fts``: an FTS5 table, its rowid that of the chunk, tokenizer ``porter unicode61
  remove_diacritics 2``, with two columns: ``body``, :meth:`Chunk.indexed_text` (title, headings and
  text), and ``role_tokens``, one token per role of the chunk (:func:`role_token`);
- ``meta``: the dimension, the ``schema_version`` of the file, and a ``generation`` counter bumped by
  every write.

BM25 runs inside FTS5: the MATCH expression is ``{body} : (<the question's terms>) AND {role_tokens} :
(<the caller's role tokens>)``, so FTS5 only ever considers rows the caller may see; it ranks them with
``bm25(chunks_fts, 1.0, 0.0)`` (the role column weighs nothing) and cuts to ``k`` before the ``k``
winners are joined to ``chunks``. Ranking every match of a common word and joining wide rows before the
cut is what made the previous query slow (115 ms at p50 over 100k chunks, against 26 ms, in
``benchmarks/bm25_roles_prototype.py``). The weights keep role tokens out of the term frequencies, but
FTS5 still counts them in a row's length for BM25's length normalisation (it sums every column), so
scores differ from a body-only index by about the roles' share of the row: well under 1% for chunks of
a hundred words or more, more on chunks of a few words, where near-ties can swap places. Rows read back
are checked against the caller's roles once more in Python.

Files written before ``schema_version`` 2 (a one-column ``chunks_fts``, the role filter a join on
``chunk_roles``) are migrated when opened: ``chunks_fts`` is rebuilt from ``chunks`` and
``chunk_roles`` in one transaction.

k-NN scans an in-memory matrix of all
vectors (a float32 matrix-vector product: about 10 ms for 100k chunks of 384 dimensions), restricted
to the rows whose roles intersect the caller's. The matrix is loaded on the first search and reloaded
when ``generation`` has moved, which each search checks with one cheap query, so a write by another
thread, another store object or another process is seen by the next search.

One store object may be shared by threads: all SQLite access goes through one connection under a lock.

    >>> store = SqliteStore(":memory:", dimension=2)
    >>> chunk = Chunk("c1", "d1", "v1", "Revenue grew 4%", "s3://b/k", "Q3", ("finance",), 0)
    >>> store.upsert([chunk], [[3.0, 4.0]])
    >>> [hit.chunk.chunk_id for hit in store.bm25_search("revenue", frozenset({"finance"}), k=5)]
    ['c1']
    >>> round(store.knn_search([3.0, 4.0], frozenset({"finance"}), k=5)[0].score, 6)
    1.0
    >>> store.knn_search([3.0, 4.0], frozenset({"hr"}), k=5)
    []
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragline.models import Chunk, SearchHit
from ragline.words import terms

__all__ = ["SCHEMA_VERSION", "SqliteStore", "fts_query", "role_token"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
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
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (doc_id, version);
CREATE TABLE IF NOT EXISTS chunk_roles (
    chunk_id TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (chunk_id, role)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chunk_roles_by_role ON chunk_roles (role, chunk_id);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
"""

# The FTS table of schema 2. Schema 1 had the same table with ``body`` only.
_FTS_SCHEMA = """
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
    body,
    role_tokens,
    tokenize = 'porter unicode61 remove_diacritics 2'
)
"""

SCHEMA_VERSION = 2

_CHUNK_COLUMNS = "chunk_id, doc_id, version, text, source, title, roles, position, page, heading_path, context"
_C_CHUNK_COLUMNS = ", ".join(f"c.{column.strip()}" for column in _CHUNK_COLUMNS.split(","))

# The BM25 search: the MATCH expression (question terms and role tokens, see _match_expression) and k.
# The best k are picked inside FTS5 over the FTS table alone, ties by rowid as before; only then are the
# k winners joined to the wide ``chunks`` rows.
_BM25 = (
    "WITH ranked AS ("
    " SELECT rowid AS id, bm25(chunks_fts, 1.0, 0.0) AS bm25_rank FROM chunks_fts"
    " WHERE chunks_fts MATCH ? ORDER BY bm25_rank, rowid LIMIT ?)"
    f" SELECT {_C_CHUNK_COLUMNS}, -ranked.bm25_rank FROM ranked JOIN chunks AS c ON c.id = ranked.id"
    " ORDER BY ranked.bm25_rank, c.id"
)

# Below this share of visible rows, k-NN copies the visible rows out and scores them; above it, copying
# costs more than scoring every row (measured at 100k x 384 on 2 cores).
_GATHER_SHARE = 0.1


def fts_query(text: str) -> str:
    """A safe FTS5 MATCH expression for free text: each distinct term quoted, ORed; "" if none.

    The terms are :func:`ragline.words.terms` (lower-cased words without stopwords), each quoted as an
    FTS5 string, so operators, column filters, ``NEAR``, ``*`` and ``^`` in the input stay plain text.

    >>> fts_query('What is "foo" OR roles:* NEAR(')
    '"foo" OR "roles" OR "near"'
    >>> fts_query("the of ?!")
    ''
    """
    unique = dict.fromkeys(terms(text))
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in unique)


def role_token(role: str) -> str:
    """A role as the one FTS5 token that stands for it in ``role_tokens``: a decimal digest.

    Decimal digits because the tokenizer keeps them as they are: ``unicode61`` makes one token of a run
    of digits, and ``porter`` only strips letter suffixes, so the token indexed is the token queried,
    whatever the role's spelling (spaces, quotes, ``OR``, non-ASCII); two roles share a token only if
    the first 64 bits of their SHA-256 do. The role column is only ever addressed by the store's own
    ``{role_tokens} :`` filter, and the question's terms are confined to ``{body}``, so a question
    that happens to contain such a number matches no role.

    >>> role_token("finance")
    '16913095366018693536'
    """
    digest = hashlib.sha256(role.encode("utf-8", "surrogatepass")).digest()
    return str(int.from_bytes(digest[:8], "big"))


def _role_tokens(roles: Iterable[str]) -> str:
    """The ``role_tokens`` column of a chunk with these roles."""
    return " ".join(role_token(role) for role in dict.fromkeys(roles))


def _match_expression(text: str, roles: frozenset[str]) -> str:
    """The MATCH expression of a BM25 search: the question's terms in ``body``, ANDed with any of the
    caller's role tokens in ``role_tokens``; "" when the question has no terms."""
    question = fts_query(text)
    if not question or not roles:
        return ""
    allowed = " OR ".join(f'"{role_token(role)}"' for role in sorted(roles))
    return f"{{body}} : ({question}) AND {{role_tokens}} : ({allowed})"


@dataclass(frozen=True)
class _Rows:
    """Chunks ready to write: the chunks rows, their ids, their (chunk_id, role) pairs, and their FTS
    rows as (indexed text, role tokens, chunk_id)."""

    chunks: list[tuple[Any, ...]]
    ids: list[tuple[str]]
    roles: list[tuple[str, str]]
    texts: list[tuple[str, str, str]]


@dataclass(frozen=True)
class _Index:
    """An immutable snapshot of every vector, as of one ``generation``."""

    generation: int
    ids: np.ndarray  # int64 rowids of ``chunks``, one per matrix row
    matrix: np.ndarray  # float32 [rows, dimension], unit-length rows (or zero)
    rows_by_role: dict[str, np.ndarray]  # role -> int64 matrix rows whose chunk has that role

    def visible_rows(self, roles: frozenset[str]) -> np.ndarray | None:
        """Rows visible to ``roles``, sorted; ``None`` when every row is."""
        arrays = [self.rows_by_role[role] for role in roles if role in self.rows_by_role]
        if not arrays:
            return np.empty(0, dtype=np.int64)
        if len(arrays) == 1:
            rows = arrays[0]
        else:
            mask = np.zeros(len(self.ids), dtype=bool)
            for array in arrays:
                mask[array] = True
            rows = np.flatnonzero(mask)
        return None if len(rows) == len(self.ids) else rows


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
        self._index: _Index | None = None
        self._conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            raise

    # -- life cycle -------------------------------------------------------------------------------

    def _setup(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA busy_timeout = 30000")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        # One write transaction for creating, checking and migrating: two processes opening an old file
        # at once migrate it once (the second sees the first's schema_version).
        with self._write():
            fresh = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunks_fts'").fetchone() is None
            # Statement by statement: executescript would commit the transaction first.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('dimension', ?)", (self.dimension,))
            (stored,) = conn.execute("SELECT value FROM meta WHERE key = 'dimension'").fetchone()
            if stored != self.dimension:
                raise ValueError(f"{self.path} holds vectors of dimension {stored}, not {self.dimension}")
            try:
                if fresh:
                    conn.execute(_FTS_SCHEMA)
                    _set_schema_version(conn)
                else:
                    self._migrate()
            except sqlite3.OperationalError as error:
                if "fts5" in str(error).lower():
                    raise RuntimeError(f"this SQLite ({sqlite3.sqlite_version}) has no FTS5: {error}") from error
                raise

    def _migrate(self) -> None:
        """Bring an existing file to :data:`SCHEMA_VERSION`. Call inside the :meth:`_setup` transaction.

        A file without ``schema_version`` is schema 1: its ``chunks_fts`` has ``body`` only and BM25
        filtered roles through ``chunk_roles``. Its FTS table is rebuilt from ``chunks`` (the indexed
        text) and ``chunk_roles`` (the roles schema 1's BM25 filtered on, so each chunk stays visible to
        exactly the callers who saw it). A file of a later schema is refused rather than misread.
        """
        conn = self._conn
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = 1 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise ValueError(f"{self.path} has schema version {version}; this ragline reads up to {SCHEMA_VERSION}")
        if version == SCHEMA_VERSION:
            return
        conn.execute("DROP TABLE chunks_fts")
        conn.execute(_FTS_SCHEMA)
        cursor = conn.execute(
            f"SELECT c.id, {_C_CHUNK_COLUMNS},"
            " (SELECT json_group_array(r.role) FROM chunk_roles AS r WHERE r.chunk_id = c.chunk_id)"
            " FROM chunks AS c ORDER BY c.id"
        )
        while batch := cursor.fetchmany(1000):
            conn.executemany(
                "INSERT INTO chunks_fts (rowid, body, role_tokens) VALUES (?, ?, ?)",
                [(row[0], _chunk(row[1:]).indexed_text(), _role_tokens(json.loads(row[-1]))) for row in batch],
            )
        _set_schema_version(conn)

    def close(self) -> None:
        """Close the connection and drop the in-memory index. The store is unusable afterwards."""
        with self._lock:
            self._index = None
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
        for position, vector in enumerate(vectors):
            if len(vector) != self.dimension:
                raise ValueError(f"vector {position} has dimension {len(vector)}, the store's is {self.dimension}")
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), self.dimension)
        if not np.isfinite(matrix).all():
            raise ValueError("vectors must be finite (no NaN or infinity)")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = matrix / np.where(norms > 0, norms, 1.0)

        # A chunk id given twice in one call: the last one wins, as it would over two calls.
        latest = {chunk.chunk_id: (chunk, i) for i, chunk in enumerate(chunks)}
        return _Rows(
            chunks=[
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
                    matrix[i].tobytes(),
                )
                for chunk, i in latest.values()
            ],
            ids=[(chunk_id,) for chunk_id in latest],
            roles=[(chunk.chunk_id, role) for chunk, _ in latest.values() for role in chunk.roles],
            texts=[(chunk.indexed_text(), _role_tokens(chunk.roles), chunk.chunk_id) for chunk, _ in latest.values()],
        )

    def _insert(self, rows: _Rows) -> None:
        """Write rows, replacing chunks of the same id. Call inside :meth:`_write`."""
        conn = self._conn
        _delete_chunks(conn, rows.ids)
        conn.executemany(
            f"INSERT INTO chunks ({_CHUNK_COLUMNS}, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows.chunks
        )
        conn.executemany("INSERT OR IGNORE INTO chunk_roles (chunk_id, role) VALUES (?, ?)", rows.roles)
        conn.executemany(
            "INSERT INTO chunks_fts (rowid, body, role_tokens) SELECT id, ?, ? FROM chunks WHERE chunk_id = ?",
            rows.texts,
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
                # BM25 filters on these tokens: left stale, they would show the chunks to the old roles.
                conn.execute(
                    "UPDATE chunks_fts SET role_tokens = ? WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?)",
                    (_role_tokens(unique), doc_id),
                )
                self._bump()
        return len(ids)

    # -- reads ------------------------------------------------------------------------------------

    def count(self, doc_id: str | None = None) -> int:
        """How many chunks the store holds, in all or for one document."""
        with self._lock:
            if doc_id is None:
                row = self._conn.execute("SELECT count(*) FROM chunks").fetchone()
            else:
                row = self._conn.execute("SELECT count(*) FROM chunks WHERE doc_id = ?", (doc_id,)).fetchone()
        return int(row[0])

    def chunk_ids(self, doc_id: str) -> list[str]:
        """The chunk ids of a document, in position order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY position, chunk_id", (doc_id,)
            ).fetchall()
        return [chunk_id for (chunk_id,) in rows]

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]:
        """The ``k`` chunks visible to ``roles`` that best match ``text`` by BM25; score = -bm25(), higher is better.

        FTS5 filters by role (the role tokens in the MATCH) and picks the best ``k``; each chunk read back
        is checked against ``roles`` again, so a role token out of step with ``chunks.roles`` (a writer of
        an older version, a digest collision) can cost a result but never show a chunk to the wrong caller.
        """
        if not roles or k <= 0:
            return []
        expression = _match_expression(text, roles)
        if not expression:
            return []
        with self._lock:
            rows = self._conn.execute(_BM25, (expression, k)).fetchall()
        hits = [SearchHit(_chunk(row), float(row[-1])) for row in rows]
        return [hit for hit in hits if not roles.isdisjoint(hit.chunk.roles)]

    def knn_search(self, vector: Sequence[float], roles: frozenset[str], k: int) -> list[SearchHit]:
        """The ``k`` chunks visible to ``roles`` nearest to ``vector``; score = cosine similarity."""
        if not roles or k <= 0:
            return []
        if len(vector) != self.dimension:
            raise ValueError(f"query vector has dimension {len(vector)}, the store's is {self.dimension}")
        query = np.asarray(vector, dtype=np.float32)
        if not np.isfinite(query).all():
            raise ValueError("query vector must be finite")
        norm = float(np.linalg.norm(query))
        if norm > 0:
            query = query / norm
        # One read transaction: the generation, the index and the rows fetched agree with each other.
        with _Transaction(self._conn, self._lock, "BEGIN"):
            index = self._current_index()
            picked, scores = _top_k(index, query, roles, k)
            if not len(picked):
                return []
            rows = self._conn.execute(
                f"SELECT id, {_CHUNK_COLUMNS} FROM chunks WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(index.ids[picked].tolist()),),
            ).fetchall()
        by_id = {row[0]: _chunk(row[1:]) for row in rows}
        hits = []
        for rowid, score in zip(index.ids[picked].tolist(), scores.tolist()):
            chunk = by_id.get(rowid)
            if chunk is not None and not roles.isdisjoint(chunk.roles):
                hits.append(SearchHit(chunk, score))
        return hits

    # -- the in-memory index ----------------------------------------------------------------------

    def _generation(self) -> int:
        (value,) = self._conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(value)

    def _current_index(self) -> _Index:
        """The index as of the database's generation, reloading it if stale. Call in a transaction."""
        generation = self._generation()
        index = self._index
        if index is None or index.generation != generation:
            index = self._load_index(generation)
            self._index = index
        return index

    def _load_index(self, generation: int) -> _Index:
        cursor = self._conn.execute("SELECT id, roles, vector FROM chunks ORDER BY id")
        ids: list[int] = []
        blobs: list[bytes] = []
        role_rows: dict[str, list[int]] = {}
        parsed: dict[str, list[str]] = {}  # many chunks share one roles string: parse it once
        row_number = 0
        for rowid, roles_json, blob in cursor:
            ids.append(rowid)
            blobs.append(blob)
            roles = parsed.get(roles_json)
            if roles is None:
                roles = parsed[roles_json] = list(dict.fromkeys(json.loads(roles_json)))
            for role in roles:
                role_rows.setdefault(role, []).append(row_number)
            row_number += 1
        matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), self.dimension)
        return _Index(
            generation=generation,
            ids=np.asarray(ids, dtype=np.int64),
            matrix=matrix,
            rows_by_role={role: np.asarray(rows, dtype=np.int64) for role, rows in role_rows.items()},
        )


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


def _top_k(index: _Index, query: np.ndarray, roles: frozenset[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Matrix rows of the best ``k`` chunks visible to ``roles``, best first, and their scores."""
    visible = index.visible_rows(roles)
    if visible is None:
        candidates = np.arange(len(index.ids))
        scores = index.matrix @ query
    elif len(visible) < _GATHER_SHARE * len(index.ids):
        candidates = visible
        scores = index.matrix[visible] @ query
    else:
        # Copying many rows costs more than scoring them all: score every row, keep the visible ones.
        candidates = visible
        scores = (index.matrix @ query)[visible]
    if k < len(scores):
        best = np.argpartition(-scores, k - 1)[:k]
    else:
        best = np.arange(len(scores))
    # Best score first; ties broken by insertion order, so results are deterministic.
    best = best[np.lexsort((best, -scores[best]))]
    return candidates[best], scores[best]


def _delete_chunks(conn: sqlite3.Connection, ids: list[tuple[str]]) -> None:
    conn.executemany("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE chunk_id = ?)", ids)
    conn.executemany("DELETE FROM chunk_roles WHERE chunk_id = ?", ids)
    conn.executemany("DELETE FROM chunks WHERE chunk_id = ?", ids)


def _set_schema_version(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))


def _chunk(row: Sequence[Any]) -> Chunk:
    """A Chunk from a row starting with the columns of ``_CHUNK_COLUMNS``."""
    chunk_id, doc_id, version, text, source, title, roles, position, page, heading_path, context = row[:11]
    return Chunk(
        chunk_id=chunk_id,
        doc_id=doc_id,
        version=version,
        text=text,
        source=source,
        title=title,
        roles=tuple(json.loads(roles)),
        position=int(position),
        page=None if page is None else int(page),
        heading_path=tuple(json.loads(heading_path)),
        context=context,
    )
