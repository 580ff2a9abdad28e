"""An on-disk cache of document embeddings in front of any embedder.

Embedding a corpus with the local model takes minutes on a small machine; re-embedding the same texts
with the same model gives the same vectors. :class:`CachedEmbedder` keeps each document vector in a SQLite
file, keyed by the inner embedder's ``name``, its ``dimension`` and the SHA-256 of the text, as float32
blobs, and sends only the texts it has not seen to the inner embedder, in one call. Query embeddings are
not cached: they are cheap, and ``ragline eval`` measures their latency.

Vectors come back as float32 values (as stored) whether they were cached or just computed, so a run
gives the same results cold or warm.

    >>> from ragline.embedders.hashing import HashEmbedder
    >>> embedder = CachedEmbedder(HashEmbedder(dimension=8), ":memory:")
    >>> first = embedder.embed_documents(["revenue grew", "costs fell"])
    >>> embedder.embed_documents(["costs fell"]) == first[1:], embedder.hits, embedder.misses
    (True, 1, 2)
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from array import array
from collections.abc import Sequence
from pathlib import Path

from ragline.ports import Embedder

__all__ = ["CachedEmbedder", "cache_folder"]


def cache_folder() -> Path:
    """Where ragline keeps what it computes once locally (document vectors, the fused local model):
    ``$RAGLINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ragline``, else ``~/.cache/ragline``."""
    folder = os.environ.get("RAGLINE_CACHE_DIR")
    if folder:
        return Path(folder)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ragline"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    digest BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, dimension, digest)
) WITHOUT ROWID
"""
_LOOKUP_BATCH = 500  # digests per SELECT, under SQLite's limit on bound parameters


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _float32(vector: Sequence[float]) -> array:
    return array("f", vector)


class CachedEmbedder:
    """:class:`ragline.ports.Embedder` that caches ``inner``'s document vectors in the SQLite file ``path``
    (parent folders are created; ``":memory:"`` for a private cache). ``misses`` counts the texts sent to
    ``inner`` (each distinct one once), ``hits`` the others.

    One object may be shared by the threads of a process: the file is reached through one connection
    under a lock, and the inner embedder is called outside it.
    """

    def __init__(self, inner: Embedder, path: str | Path) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.dimension: int = inner.dimension
        self.path = path if str(path) == ":memory:" else Path(path)
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False)
        try:
            self._conn.execute("PRAGMA busy_timeout = 30000")
            if isinstance(self.path, Path):
                self._conn.execute("PRAGMA journal_mode = WAL")
            with self._conn:
                self._conn.execute(_SCHEMA)
        except BaseException:
            self._conn.close()
            raise

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if isinstance(texts, str):
            raise TypeError("embed_documents takes a sequence of texts, not one string")
        digests = [_digest(text) for text in texts]
        found = self._lookup(list(dict.fromkeys(digests)))
        missing = {digest: text for digest, text in zip(digests, texts, strict=True) if digest not in found}
        if missing:
            vectors = self.inner.embed_documents(list(missing.values()))
            if len(vectors) != len(missing):
                raise ValueError(f"{self.name} returned {len(vectors)} vectors for {len(missing)} texts")
            computed = {}
            for digest, vector in zip(missing, vectors, strict=True):
                if len(vector) != self.dimension:
                    raise ValueError(f"{self.name} returned a vector of dimension {len(vector)}, not {self.dimension}")
                computed[digest] = _float32(vector)
            self._store(computed)
            found.update(computed)
        with self._lock:
            self.misses += len(missing)
            self.hits += len(digests) - len(missing)
        return [found[digest].tolist() for digest in digests]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def _lookup(self, digests: list[bytes]) -> dict[bytes, array]:
        found: dict[bytes, array] = {}
        with self._lock:
            for start in range(0, len(digests), _LOOKUP_BATCH):
                batch = digests[start : start + _LOOKUP_BATCH]
                rows = self._conn.execute(
                    "SELECT digest, vector FROM embeddings WHERE model = ? AND dimension = ?"
                    f" AND digest IN ({', '.join('?' * len(batch))})",
                    (self.name, self.dimension, *batch),
                )
                for digest, blob in rows:
                    vector = array("f")
                    vector.frombytes(blob)
                    if len(vector) == self.dimension:
                        found[digest] = vector
        return found

    def _store(self, vectors: dict[bytes, array]) -> None:
        rows = [(self.name, self.dimension, digest, vector.tobytes()) for digest, vector in vectors.items()]
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO embeddings (model, dimension, digest, vector) VALUES (?, ?, ?, ?)", rows
            )

    def __len__(self) -> int:
        """How many vectors the cache holds, for every model."""
        with self._lock:
            (count,) = self._conn.execute("SELECT count(*) FROM embeddings").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> CachedEmbedder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.inner!r}, {str(self.path)!r})"
