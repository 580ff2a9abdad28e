"""Writes: on a managed domain (:class:`ManagedWrites`) and on Serverless (:class:`ServerlessWrites`).

Managed domains and Serverless collections differ (Amazon OpenSearch Serverless, "AOSS"):

========================  ======================================  ===========================================
operation                 managed (``serverless=False``)           Serverless (``serverless=True``)
========================  ======================================  ===========================================
upsert                    bulk ``index`` with ``_id`` = chunk id  find the chunk ids' current copies, bulk
                          (idempotent by construction)            ``index`` without ``_id``, bulk ``delete`` the
                                                                  old copies (vector collections refuse a
                                                                  client-chosen ``_id``)
delete_document,          ``_delete_by_query``                    search the ids (``search_after`` paging),
replace_document                                                  bulk ``delete``
update_roles              ``_update_by_query`` + painless script  copy each chunk with the new roles (bulk
                                                                  ``index``), bulk ``delete`` the old copies
settle_document           ``_delete_by_query`` of the other       list the document's copies, bulk ``delete``
                          versions, ``_update_by_query`` roles    those of other versions and second copies,
                                                                  copy the rest with the roles if theirs differ
refresh                   bulk ``refresh=wait_for``; by-query     never sent: AOSS has no refresh API; writes
                          operations ``refresh=true``             become searchable after its own interval
========================  ======================================  ===========================================

On Serverless, searches see writes only after the collection's refresh interval, and a document's copies
are found by searching. So a write made within the interval after another can miss the other's copies: a
second version leaves the first's chunks, a delete the chunks just written, a role update the copies just
written with the old roles, and a retried bulk request a second copy. Searches drop repeated chunk ids,
and the query function checks every hit against the registry (docs/architecture.md, "OpenSearch
Serverless consistency"); what is left behind goes when ingest *settles* the document, once the interval
has passed: ``settle`` makes the copies exactly what the registry says.

Both take the same calls from :class:`~ragline.stores.opensearch.store.OpenSearchStore`: ``index`` a batch
of chunks with their unit vectors, ``delete_matching`` a query, ``update_roles`` of a document, ``settle``
a document.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from ragline.errors import TransientError
from ragline.models import Chunk
from ragline.stores.opensearch.bulk import Action, IndexingError, bulk
from ragline.stores.opensearch.connection import IndexClient
from ragline.stores.opensearch.index import VECTOR_FIELD, document
from ragline.stores.opensearch.search import scan

#: Chunks with their unit vectors, at most one bulk request's worth.
Batch = Sequence[tuple[Chunk, list[float]]]

_ROLES_SCRIPT = "ctx._source.roles = params.roles"


class ManagedWrites:
    """Writes on a managed domain: documents keyed by chunk id, by-query deletes and role updates.

    ``refresh`` makes every write searchable before it returns.
    """

    def __init__(self, target: IndexClient, *, refresh: bool) -> None:
        self._target = target
        self._refresh = refresh

    def index(self, batch: Batch) -> None:
        """Index the chunks under their chunk ids, replacing what those ids held."""
        actions: list[Action] = [
            ({"index": {"_id": chunk.chunk_id}}, document(chunk, vector, copy_id=chunk.chunk_id))
            for chunk, vector in batch
        ]
        bulk(self._target, actions, "bulk index", refresh=self._refresh)

    def delete_matching(self, query: dict[str, Any]) -> int:
        """Delete every chunk matching ``query``; returns how many."""
        response = self._target.delete_by_query(query, self._by_query_params())
        _raise_on_failures(response, "delete by query")
        return int(response.get("deleted", 0))

    def update_roles(self, doc_id: str, roles: list[str]) -> int:
        """Give every chunk of a document these roles; returns how many chunks."""
        body = {
            "query": {"term": {"doc_id": doc_id}},
            "script": {"source": _ROLES_SCRIPT, "lang": "painless", "params": {"roles": roles}},
        }
        response = self._target.update_by_query(body, self._by_query_params())
        _raise_on_failures(response, "update by query")
        return int(response.get("updated", 0))

    def settle(self, doc_id: str, version: str | None, roles: list[str]) -> int:
        """Delete the document's chunks of other versions than ``version`` (all, when None) and give the
        rest ``roles`` in place; returns 0, the new copies written. (A managed domain's writes are searchable
        when they return, so nothing is ever left to settle: this is here for the port.)"""
        query: dict[str, Any] = {"bool": {"filter": [{"term": {"doc_id": doc_id}}]}}
        if version is not None:
            query["bool"]["must_not"] = [{"term": {"version": version}}]
        self.delete_matching(query)
        if version is not None:
            self.update_roles(doc_id, roles)
        return 0

    def _by_query_params(self) -> dict[str, Any]:
        return {"refresh": True} if self._refresh else {}


class ServerlessWrites:
    """Writes on a Serverless vector collection: no client-chosen ``_id``, no by-query writes, no refresh.

    ``batch_size`` bounds the actions per bulk request; ``page_size`` the hits per page when listing
    stored copies.
    """

    def __init__(self, target: IndexClient, *, batch_size: int, page_size: int) -> None:
        self._target = target
        self._batch_size = batch_size
        self._page_size = page_size

    def index(self, batch: Batch) -> None:
        """Index new copies of the chunks, then delete the copies they replace."""
        # Old copies are looked up before the new ones are written, so only they can be deleted.
        ids = [chunk.chunk_id for chunk, _ in batch]
        old = [hit["_id"] for hit in self._scan({"terms": {"chunk_id": ids}})]
        actions: list[Action] = [
            ({"index": {}}, document(chunk, vector, copy_id=uuid.uuid4().hex)) for chunk, vector in batch
        ]
        bulk(self._target, actions, "bulk index", refresh=False)
        self._delete(old)

    def delete_matching(self, query: dict[str, Any]) -> int:
        """Delete every copy of the chunks matching ``query``; returns how many chunks (not copies) went."""
        hits = list(self._scan(query))
        deleted = self._delete([hit["_id"] for hit in hits])
        return len({hit["_source"]["chunk_id"] for hit in hits if hit["_id"] in deleted})

    def update_roles(self, doc_id: str, roles: list[str]) -> int:
        """Copy each chunk of a document with these roles, then delete the old copies; returns how many chunks."""
        # Every stored copy of the document's chunks, listed before anything is written.
        hits = list(self._scan({"term": {"doc_id": doc_id}}))
        if not hits:
            return 0
        keep: dict[str, str] = {}  # chunk id -> the _id of one copy, whose source is copied
        for hit in hits:
            keep.setdefault(hit["_source"]["chunk_id"], hit["_id"])
        wanted = list(keep.values())
        for start in range(0, len(wanted), self._batch_size):
            self._copy_with_roles(doc_id, wanted[start : start + self._batch_size], roles)
        self._delete([hit["_id"] for hit in hits])
        return len(keep)

    def settle(self, doc_id: str, version: str | None, roles: list[str]) -> int:
        """Make the document's stored copies what the registry says: one copy of each chunk of ``version``
        (none, when None), with ``roles``. Copies of other versions and second copies are deleted; a chunk
        whose copies all have other roles is copied with ``roles`` first. Returns how many copies it wrote.

        Only copies written one refresh interval ago or earlier are seen: ingest settles a document once
        that long has passed since its last change (:mod:`ragline.ingest`), and again after a settle that
        wrote copies (another settle meanwhile, not seeing them, may copy the same chunks: the next settle
        keeps one copy of each).
        """
        hits = list(scan(self._target, {"term": {"doc_id": doc_id}}, ["chunk_id", "version", "roles"], self._page_size))
        wanted = set(roles)
        keep: dict[str, str] = {}  # chunk id -> the one copy that stays
        other_roles: dict[str, str] = {}  # chunk id -> a copy of the version with other roles
        for hit in hits:
            source = hit["_source"]
            if version is None or source.get("version") != version:
                continue
            if set(source.get("roles") or ()) == wanted:
                keep.setdefault(source["chunk_id"], hit["_id"])
            else:
                other_roles.setdefault(source["chunk_id"], hit["_id"])
        recopy = [copy for chunk_id, copy in other_roles.items() if chunk_id not in keep]
        for start in range(0, len(recopy), self._batch_size):
            self._copy_with_roles(doc_id, recopy[start : start + self._batch_size], roles)
        kept = set(keep.values())
        self._delete([hit["_id"] for hit in hits if hit["_id"] not in kept])
        return len(recopy)

    def _copy_with_roles(self, doc_id: str, ids: list[str], roles: list[str]) -> None:
        """Index a new copy of each stored document ``ids`` names, with ``roles`` and a new copy id.

        The whole ``_source`` is asked for: a collection may leave the vector out of it by default, and a
        copy without its vector would silently drop out of k-NN search, so one is refused instead.
        """
        body = {"size": len(ids), "query": {"ids": {"values": ids}}, "_source": True}
        response = self._target.search(body)
        copies: list[Action] = []
        for hit in response["hits"]["hits"]:
            source = dict(hit["_source"])
            if not source.get(VECTOR_FIELD):
                raise IndexingError(
                    f"update roles of {doc_id}: chunk {source.get('chunk_id')} came back without its "
                    f"{VECTOR_FIELD!r} field; nothing was copied (is the vector excluded from _source?)"
                )
            source["roles"] = list(roles)
            source["copy_id"] = uuid.uuid4().hex
            copies.append(({"index": {}}, source))
        if len(copies) != len(ids):
            raise TransientError(f"update roles of {doc_id}: {len(ids) - len(copies)} chunks vanished meanwhile")
        bulk(self._target, copies, "bulk index", refresh=False)

    def _scan(self, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return scan(self._target, query, ["chunk_id"], self._page_size)

    def _delete(self, ids: Sequence[str]) -> set[str]:
        """Delete stored documents by ``_id``; returns the ids that were deleted (not already gone)."""
        deleted: set[str] = set()
        for start in range(0, len(ids), self._batch_size):
            actions: list[Action] = [({"delete": {"_id": _id}}, None) for _id in ids[start : start + self._batch_size]]
            results = bulk(self._target, actions, "bulk delete", refresh=False)
            deleted.update(result["_id"] for result in results if result.get("result") == "deleted")
        return deleted


def _raise_on_failures(response: dict[str, Any], description: str) -> None:
    """A by-query response that lists failures (a shard refused, a version conflict) is a transient error."""
    failures = response.get("failures") or []
    if failures:
        kinds = sorted({str((f.get("cause") or {}).get("type", f.get("status", "?"))) for f in failures})
        raise TransientError(f"OpenSearch {description}: {len(failures)} failures ({', '.join(kinds)})")
