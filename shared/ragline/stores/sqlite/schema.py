"""The tables of the SQLite file, how a chunk is a row of them, and the migration of older files.

Layout of the file:

- ``chunks``: every field of :class:`~ragline.models.Chunk` (``roles`` and ``heading_path`` as JSON)
  and the vector as a float32 blob, normalised to unit length on insert;
- ``chunk_roles(chunk_id, role)``: one row per role of a chunk, indexed by role (the relational record of
  the roles);
- ``chunk_terms(id, terms)``: the terms of each chunk's :meth:`Chunk.indexed_text` (title, headings and
  text) and their counts, ``id`` that of the chunk (:func:`~ragline.stores.sqlite.lexical.encode_terms`);
  ``vocabulary(id, term)`` numbers the terms;
- ``meta``: the dimension, the ``schema_version`` of the file, and a ``generation`` counter bumped by
  every write.

Older files are migrated when opened (:func:`prepare`), in the write transaction that opens them. Schemas 1
and 2 kept an FTS5 table, ``chunks_fts``, whose ``bm25()`` weighed terms with statistics of every chunk,
hidden ones included (docs/security.md, "BM25 statistics"); schema 3 tokenises every chunk into
``chunk_terms`` and drops that table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from ragline.models import Chunk
from ragline.stores.sqlite.lexical import term_blobs
from ragline.stores.terms import Tokenizer

SCHEMA_VERSION = 3

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
CREATE TABLE IF NOT EXISTS vocabulary (
    id INTEGER PRIMARY KEY,
    term TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS chunk_terms (
    id INTEGER PRIMARY KEY,
    terms BLOB NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
"""

#: The columns of ``chunks`` that make a :class:`Chunk` (all but ``id`` and ``vector``), in the order
#: :func:`chunk_of_row` reads them.
CHUNK_COLUMNS = "chunk_id, doc_id, version, text, source, title, roles, position, page, heading_path, context"


def prepare(conn: sqlite3.Connection, name: str, dimension: int, tokenizer: Tokenizer) -> None:
    """Create the tables of a new file, or check and migrate an existing one. Call in a write transaction.

    ``ValueError`` when the file holds vectors of another dimension or has a later schema; ``name`` (the
    file's path) is what the messages call it.
    """
    fresh = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunks'").fetchone() is None
    # Statement by statement: executescript would commit the transaction first.
    for statement in _TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('dimension', ?)", (dimension,))
    (stored,) = conn.execute("SELECT value FROM meta WHERE key = 'dimension'").fetchone()
    if stored != dimension:
        raise ValueError(f"{name} holds vectors of dimension {stored}, not {dimension}")
    if fresh:
        _set_schema_version(conn)
    else:
        _migrate(conn, name, tokenizer)


def _migrate(conn: sqlite3.Connection, name: str, tokenizer: Tokenizer) -> None:
    """Bring an existing file to :data:`SCHEMA_VERSION`.

    A file without ``schema_version`` is schema 1. Schemas 1 and 2 searched an FTS5 table: its rows are
    tokenised into ``chunk_terms`` from ``chunks`` (the indexed text), and the table is dropped. A file of
    a later schema is refused rather than misread.
    """
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = 1 if row is None else int(row[0])
    if version > SCHEMA_VERSION:
        raise ValueError(f"{name} has schema version {version}; this ragline reads up to {SCHEMA_VERSION}")
    if version == SCHEMA_VERSION:
        return
    conn.execute("DELETE FROM chunk_terms")
    cursor = conn.execute(f"SELECT id, {CHUNK_COLUMNS} FROM chunks ORDER BY id")
    while batch := cursor.fetchmany(1000):
        blobs = term_blobs(conn, tokenizer, [chunk_of_row(row[1:]).indexed_text() for row in batch])
        conn.executemany(
            "INSERT INTO chunk_terms (id, terms) VALUES (?, ?)",
            [(row[0], blob) for row, blob in zip(batch, blobs, strict=True)],
        )
    conn.execute("DROP TABLE IF EXISTS chunks_fts")
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
