"""What a vector store holds, read directly: for tests and benchmarks, since the port has no such query.

:class:`ragline.ports.VectorStore` writes and searches; it never lists or counts. To check what a write
left behind, these read a store's chunks through the store's own connection (:class:`SqliteStore`, under
its lock, so a count never sees half of another thread's transaction) or its client
(:class:`OpenSearchStore`, retried as the store retries its own requests)::

    count_chunks(store)            # every chunk
    count_chunks(store, "d1")      # one document's
    chunk_ids(store, "d1")         # its chunk ids, in position order, each once

A wrapper around a store (a fault-injecting fake) is not a store: pass the store it wraps.
"""

from __future__ import annotations

from typing import Any

from ragline.stores.opensearch import OpenSearchStore
from ragline.stores.opensearch.connection import IndexClient
from ragline.stores.opensearch.search import scan
from ragline.stores.sqlite import SqliteStore
from tests.fakes import FakeVectorStore

Store = SqliteStore | OpenSearchStore | FakeVectorStore


def count_chunks(store: Store, doc_id: str | None = None) -> int:
    """How many chunks ``store`` holds, in all or for one document (on OpenSearch: stored copies)."""
    if isinstance(store, FakeVectorStore):
        return store.count(doc_id)
    if isinstance(store, SqliteStore):
        if doc_id is None:
            return int(_sqlite_rows(store, "SELECT count(*) FROM chunks")[0][0])
        return int(_sqlite_rows(store, "SELECT count(*) FROM chunks WHERE doc_id = ?", doc_id)[0][0])
    body = None if doc_id is None else {"query": {"term": {"doc_id": doc_id}}}
    target = _index_client(store)
    return int(target.send(lambda: target.client.count(index=target.index, body=body), "count")["count"])


def chunk_ids(store: Store, doc_id: str) -> list[str]:
    """The chunk ids of a document in ``store``, in (position, chunk id) order, each once."""
    if isinstance(store, FakeVectorStore):
        return store.chunk_ids(doc_id)
    if isinstance(store, SqliteStore):
        rows = _sqlite_rows(store, "SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY position, chunk_id", doc_id)
        return [chunk_id for (chunk_id,) in rows]
    copies = scan(_index_client(store), {"term": {"doc_id": doc_id}}, ["chunk_id"], store.page_size)
    return list(dict.fromkeys(hit["_source"]["chunk_id"] for hit in copies))


def _sqlite_rows(store: SqliteStore, sql: str, *params: Any) -> list[Any]:
    with store._lock:
        return store._conn.execute(sql, params).fetchall()


def _index_client(store: Store) -> IndexClient:
    """The store's client and retries, for one index; ``TypeError`` for anything but an OpenSearchStore."""
    if not isinstance(store, OpenSearchStore):
        raise TypeError(f"not a SqliteStore or an OpenSearchStore: {type(store).__name__}")
    return IndexClient(store.client, store.index, store.retry)
