"""The embedded store's indexes for ``ragline reindex``: a new SQLite file beside the configured one, of
the new model's dimension, and removed with its write-ahead log when dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragline.indexes import IndexTarget
from ragline.models import Chunk
from ragline.stores.sqlite import SqliteStore
from ragline.stores.sqlite.admin import SqliteIndexAdmin


def test_a_new_index_is_a_file_beside_the_configured_one_with_its_own_dimension(tmp_path: Path) -> None:
    admin = SqliteIndexAdmin(tmp_path / "index.sqlite3")
    target = IndexTarget(admin.name_for(2), "hash", "", 16)

    admin.create(target)

    assert target.index == str(tmp_path / "index-r2.sqlite3") and Path(target.index).exists()
    with pytest.raises(ValueError):  # the file is made for its dimension
        SqliteStore(target.index, 384)
    admin.close()


def test_indexed_versions_are_the_files_and_drop_removes_it(tmp_path: Path) -> None:
    admin = SqliteIndexAdmin(tmp_path / "index.sqlite3")
    target = IndexTarget(admin.name_for(1), "hash", "", 2)
    live = IndexTarget(str(tmp_path / "index.sqlite3"), "hash", "", 2)
    with SqliteStore(target.index, 2) as store:  # what the ingest function writes into it
        store.upsert([Chunk("c1", "d1", "v1", "text", "s3://b/k.md", "T", ("staff",), 0)], [[1.0, 0.0]])

    assert [(v.doc_id, v.version, v.chunks) for v in admin.indexed_versions(target)] == [("d1", "v1", 1)]

    admin.drop(target, live)
    assert not list(tmp_path.glob("index-r1.sqlite3*"))
