"""The embedded store's indexes for ``ragline reindex``: one SQLite file each, beside the configured one.

A new index is a new file (``index-r3.sqlite3`` beside ``index.sqlite3``); readers find the live one in
the index catalog, so there is no alias to move (docs/operations.md, "Changing the embedding model").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from ragline.indexes import IndexTarget
from ragline.models import IndexedVersion
from ragline.stores.sqlite.store import SqliteStore


class SqliteIndexAdmin:
    """:class:`ragline.ports.IndexAdmin` for SQLite files; ``configured`` is the settings' file.

    >>> SqliteIndexAdmin(".ragline/index.sqlite3").name_for(3)
    '.ragline/index-r3.sqlite3'
    """

    def __init__(self, configured: str | Path) -> None:
        self.configured = Path(configured)
        self._stores: dict[IndexTarget, SqliteStore] = {}
        self._lock = threading.Lock()

    def name_for(self, revision: int) -> str:
        path = self.configured
        return str(path.with_name(f"{path.stem}-r{revision}{path.suffix}"))

    def create(self, target: IndexTarget) -> None:
        self._store(target)

    def indexed_versions(self, target: IndexTarget) -> Iterator[IndexedVersion]:
        return self._store(target).indexed_versions()

    def point_readers(self, old: IndexTarget | None, new: IndexTarget) -> None:
        """Nothing: readers of the embedded store find the live file in the catalog."""

    def drop(self, target: IndexTarget, live: IndexTarget) -> None:
        """Remove the file, with its write-ahead log and shared memory. A function that still has it open
        keeps reading its own copy until it closes it (POSIX), and no catalog names it any more."""
        with self._lock:
            store = self._stores.pop(target, None)
        if store is not None:
            store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(target.index + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.close()

    def _store(self, target: IndexTarget) -> SqliteStore:
        with self._lock:
            if target not in self._stores:
                self._stores[target] = SqliteStore(target.index, target.dimension)
            return self._stores[target]
