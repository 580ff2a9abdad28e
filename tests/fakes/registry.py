"""FakeRegistry: the Registry port in a dict, leases and handed-over work included."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass

from ragline.errors import LeaseLost
from ragline.models import DocumentRecord, IndexingProgress, Work


@dataclass
class _Item:
    """One document's entry: what DynamoDB keeps in the document's item."""

    record: DocumentRecord | None = None  # None while only a lease has been taken
    lease_owner: str | None = None
    lease_until: int | None = None  # epoch milliseconds; the lease is live while now <= lease_until
    pending: Work | None = None  # work handed over to the lease's holder
    progress: IndexingProgress | None = None  # how far the holder has come through the document


class FakeRegistry:
    """The Registry port in memory, held to the registry contract (tests/contract/test_registry_contract.py).

    Each change is what the conditional ``UpdateItem`` of :class:`ragline.registries.dynamodb.DynamoRegistry`
    makes it: the lease is taken when free, expired or the taker's own; work handed to a live lease's holder
    waits for it, and :meth:`release` refuses while any does; :meth:`put` and :meth:`take_pending` raise
    :class:`LeaseLost` for anyone but the holder; :meth:`scan` pages through the items in ``doc_id`` order,
    lease-only ones evaluated but not returned. Records come back as copies, roles and writers sorted.

    >>> registry = FakeRegistry()
    >>> registry.acquire("d1", "ingest-1", until_ms=2_000, now_ms=1_000)
    True
    >>> registry.hand_over("d1", Work(full=True), now_ms=1_500)
    True
    >>> registry.release("d1", "ingest-1")  # the handed-over work comes first
    False
    >>> registry.take_pending("d1", "ingest-1"), registry.release("d1", "ingest-1")
    (Work(full=True, sequencer=''), True)
    """

    def __init__(self) -> None:
        self._items: dict[str, _Item] = {}

    def get(self, doc_id: str) -> DocumentRecord | None:
        item = self._items.get(doc_id)
        if item is None or item.record is None:
            return None
        record = item.record
        return dataclasses.replace(record, roles=tuple(sorted(record.roles)), writers=tuple(sorted(record.writers)))

    def get_many(self, doc_ids: Collection[str]) -> dict[str, DocumentRecord]:
        return {doc_id: record for doc_id in set(doc_ids) if (record := self.get(doc_id)) is not None}

    def scan(self, after: str | None, limit: int) -> tuple[list[DocumentRecord], str | None]:
        """The items in ``doc_id`` order (moto's order; DynamoDB's is its hash order, as fixed)."""
        following = [doc_id for doc_id in sorted(self._items) if after is None or doc_id > after]
        page = following[:limit]
        records = [record for record in map(self.get, page) if record is not None]
        return records, page[-1] if len(following) > limit else None

    def put(self, record: DocumentRecord, lease_owner: str) -> None:
        item = self._held(record.doc_id, lease_owner)
        item.record, item.progress = dataclasses.replace(record), None

    def record_progress(self, doc_id: str, owner: str, progress: IndexingProgress) -> None:
        item = self._items.get(doc_id)
        if item is not None and item.lease_owner == owner:
            item.progress = progress

    def progress(self, doc_id: str) -> IndexingProgress | None:
        item = self._items.get(doc_id)
        return item.progress if item is not None and item.lease_owner is not None else None

    def acquire(self, doc_id: str, owner: str, until_ms: int, now_ms: int) -> bool:
        item = self._items.setdefault(doc_id, _Item())
        if item.lease_until is not None and item.lease_until >= now_ms and item.lease_owner != owner:
            return False
        if item.lease_owner != owner:
            item.progress = None  # an expired holder's, not the new one's
        item.lease_owner, item.lease_until = owner, until_ms
        return True

    def hand_over(self, doc_id: str, work: Work, now_ms: int) -> bool:
        item = self._items.get(doc_id)
        if item is None or item.lease_until is None or item.lease_until < now_ms:
            return False
        item.pending = work.merge(item.pending)
        return True

    def take_pending(self, doc_id: str, owner: str) -> Work | None:
        item = self._held(doc_id, owner)
        work, item.pending = item.pending, None
        return work

    def release(self, doc_id: str, owner: str) -> bool:
        item = self._held(doc_id, owner)
        if item.pending is not None:
            return False
        item.lease_owner = item.lease_until = item.progress = None
        return True

    def abandon(self, doc_id: str, owner: str) -> None:
        item = self._items.get(doc_id)
        if item is not None and item.lease_owner == owner:
            item.lease_owner = item.lease_until = item.progress = None

    def _held(self, doc_id: str, owner: str) -> _Item:
        item = self._items.get(doc_id)
        if item is None or item.lease_owner != owner:
            raise LeaseLost(f"the lease on document {doc_id} is no longer {owner}'s")
        return item
