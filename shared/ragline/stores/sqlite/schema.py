"""The tables of the SQLite file, how a chunk is a row of them, and the migration of older files.

Layout of the file:

- ``chunks``: every field of :class:`~ragline.models.Chunk` (``roles`` and ``heading_path`` as JSON)
  and the vector as a float32 blob, normalised to unit length on insert;
- ``chunk_roles(chunk_id, role)``: one row per role of a chunk, indexed by role (the relational record of
  the roles; schema migrations rebuild the FTS role tokens from it);
- ``chunks_fts``: an FTS5 table, its rowid that of the chunk, tokenizer ``porter unicode61
  remove_diacritics 2``, with two columns: ``body``, :meth:`Chunk.indexed_text` (title, headings and
  text), and ``role_tokens``, one token per role of the chunk (:func:`~ragline.stores.sqlite.fts.role_token`);
- ``meta``: the dimension, the ``schema_version`` of the file, and a ``generation`` counter bumped by
  every write.

Files written before ``schema_version`` 2 (a one-column ``chunks_fts``, the role filter a join on
``chunk_roles``) are migrated when opened (:func:`prepare`): ``chunks_fts`` is rebuilt from ``chunks`` and
``chunk_roles`` in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from ragline.models import Chunk
from ragline.stores.sqlite.fts import role_tokens

SCHEMA_VERSION = 2

_TABLES = """
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
_FTS_TABLE = """
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
    body,
    role_tokens,
    tokenize = 'porter unicode61 remove_diacritics 2'
)
"""

#: The columns of ``chunks`` that make a :class:`Chunk` (all but ``id`` and ``vector``), in the order
#: :func:`chunk_of_row` reads them; ``C_CHUNK_COLUMNS`` the same with the table alias ``c.``.
CHUNK_COLUMNS = "chunk_id, doc_id, version, text, source, title, roles, position, page, heading_path, context"
C_CHUNK_COLUMNS = ", ".join(f"c.{column.strip()}" for column in CHUNK_COLUMNS.split(","))


def prepare(conn: sqlite3.Connection, name: str, dimension: int) -> None:
    """Create the tables of a new file, or check and migrate an existing one. Call in a write transaction.

    ``ValueError`` when the file holds vectors of another dimension or has a later schema; ``name`` (the
    file's path) is what the messages call it.
    """
    fresh = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunks_fts'").fetchone() is None
    # Statement by statement: executescript would commit the transaction first.
    for statement in _TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('dimension', ?)", (dimension,))
    (stored,) = conn.execute("SELECT value FROM meta WHERE key = 'dimension'").fetchone()
    if stored != dimension:
        raise ValueError(f"{name} holds vectors of dimension {stored}, not {dimension}")
    try:
        if fresh:
            conn.execute(_FTS_TABLE)
            _set_schema_version(conn)
        else:
            _migrate(conn, name)
    except sqlite3.OperationalError as error:
        if "fts5" in str(error).lower():
            raise RuntimeError(f"this SQLite ({sqlite3.sqlite_version}) has no FTS5: {error}") from error
        raise


def _migrate(conn: sqlite3.Connection, name: str) -> None:
    """Bring an existing file to :data:`SCHEMA_VERSION`.

    A file without ``schema_version`` is schema 1: its ``chunks_fts`` has ``body`` only and BM25
    filtered roles through ``chunk_roles``. Its FTS table is rebuilt from ``chunks`` (the indexed
    text) and ``chunk_roles`` (the roles schema 1's BM25 filtered on, so each chunk stays visible to
    exactly the callers who saw it). A file of a later schema is refused rather than misread.
    """
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = 1 if row is None else int(row[0])
    if version > SCHEMA_VERSION:
        raise ValueError(f"{name} has schema version {version}; this ragline reads up to {SCHEMA_VERSION}")
    if version == SCHEMA_VERSION:
        return
    conn.execute("DROP TABLE chunks_fts")
    conn.execute(_FTS_TABLE)
    cursor = conn.execute(
        f"SELECT c.id, {C_CHUNK_COLUMNS},"
        " (SELECT json_group_array(r.role) FROM chunk_roles AS r WHERE r.chunk_id = c.chunk_id)"
        " FROM chunks AS c ORDER BY c.id"
    )
    while batch := cursor.fetchmany(1000):
        conn.executemany(
            "INSERT INTO chunks_fts (rowid, body, role_tokens) VALUES (?, ?, ?)",
            [(row[0], chunk_of_row(row[1:]).indexed_text(), role_tokens(json.loads(row[-1]))) for row in batch],
        )
    _set_schema_version(conn)


def _set_schema_version(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))


def chunk_row(chunk: Chunk, vector: bytes) -> tuple[Any, ...]:
    """The values of :data:`CHUNK_COLUMNS` for ``chunk``, then its ``vector`` blob."""
    return (
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
        vector,
    )


def chunk_of_row(row: Sequence[Any]) -> Chunk:
    """The chunk of a row that starts with the columns of :data:`CHUNK_COLUMNS`."""
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
