"""The DynamoDB adapter of the Registry port: one item per document, keyed by ``doc_id``.

Besides the document's record, the item holds the document's *lease* (``lease_owner``, ``lease_until`` in
epoch milliseconds), which serialises every change to one document, and the *pending work* that events
arriving during a lease hand to its holder (``pending``, ``pending_full``, ``pending_sequencer``), and the
holder's progress through a large document (``progress``, a map of ``done`` and ``total``). Every
change is one conditional ``UpdateItem``, so DynamoDB orders them (docs/architecture.md, "Ingest").
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ragline.errors import LeaseLost, TransientError
from ragline.models import DocumentRecord, IndexingProgress, Work
from ragline.registries.index_catalog import is_reserved
from ragline.retry import error_code, is_retryable

_FIELDS = [field.name for field in dataclasses.fields(DocumentRecord)]
_WRITTEN = [name for name in _FIELDS if name != "doc_id"]
_CONDITION_FAILED = "ConditionalCheckFailedException"
_BATCH_GET_KEYS = 100  # BatchGetItem takes at most a hundred keys
_BATCH_GET_ATTEMPTS = 4
_THROTTLED = frozenset({"ProvisionedThroughputExceededException", "RequestLimitExceeded"})  # DynamoDB's own


def _failed_condition(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == _CONDITION_FAILED


def _record(item: dict[str, Any] | None) -> DocumentRecord | None:
    """The record an item holds, or None: nothing, only a lease (the document's first event is being
    applied), or one of ragline's own items (the index catalog: :mod:`ragline.registries.index_catalog`)."""
    if item is None or ("status" not in item and "key" not in item) or is_reserved(str(item.get("doc_id", ""))):
        return None
    values = {name: item[name] for name in _FIELDS if name in item}
    values.setdefault("bucket", "")
    values.setdefault("key", "")
    values.setdefault("status", "queued")
    values["roles"] = tuple(sorted(item.get("roles", [])))
    values["writers"] = tuple(sorted(item.get("writers", [])))
    values["chunk_count"] = int(item.get("chunk_count", 0))
    return DocumentRecord(**values)


class DynamoRegistry:
    """Document records in a DynamoDB table whose partition key is ``doc_id`` (a string).

    Example:
        >>> registry = DynamoRegistry(boto3.resource("dynamodb").Table("ragline-registry"))  # doctest: +SKIP
        >>> registry.get("5f0c...").status  # doctest: +SKIP
        'indexed'
    """

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, doc_id: str) -> DocumentRecord | None:
        return _record(self._table.get_item(Key={"doc_id": doc_id}, ConsistentRead=True).get("Item"))

    def get_many(self, doc_ids: Collection[str]) -> dict[str, DocumentRecord]:
        """``BatchGetItem``, consistent, a hundred keys a request (DynamoDB's limit); the keys DynamoDB
        leaves unprocessed (throttled) are asked again, a few times, then :class:`TransientError`."""
        unique = sorted(set(doc_ids))
        found: dict[str, DocumentRecord] = {}
        for start in range(0, len(unique), _BATCH_GET_KEYS):
            keys = [{"doc_id": doc_id} for doc_id in unique[start : start + _BATCH_GET_KEYS]]
            for item in self._batch_get(keys):
                record = _record(item)
                if record is not None:
                    found[record.doc_id] = record
        return found

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # The table resource's client converts between Python values and DynamoDB's typed ones, as get_item does.
        client, table = self._table.meta.client, self._table.name
        items: list[dict[str, Any]] = []
        for attempt in range(_BATCH_GET_ATTEMPTS):
            try:
                response = client.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
            except (ClientError, BotoCoreError) as error:
                if is_retryable(error) or error_code(error) in _THROTTLED:  # botocore retried it already
                    raise TransientError(f"DynamoDB BatchGetItem of the registry failed: {error}") from error
                raise
            items += response.get("Responses", {}).get(table, [])
            keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not keys:
                return items
            time.sleep(min(0.05 * 2**attempt, 0.5))
        raise TransientError(f"DynamoDB left {len(keys)} registry keys unprocessed; try again")

    def scan(self, after: str | None, limit: int) -> tuple[list[DocumentRecord], str | None]:
        """One ``Scan`` of at most ``limit`` items, from after ``after`` (DynamoDB's ``ExclusiveStartKey``);
        the next position is its ``LastEvaluatedKey``. DynamoDB may end a page early (at 1 MB), and may name
        a position after the last item, whose page is then empty."""
        params: dict[str, Any] = {"Limit": limit, "ConsistentRead": True}
        if after is not None:
            params["ExclusiveStartKey"] = {"doc_id": after}
        response = self._table.scan(**params)
        records = [record for record in map(_record, response.get("Items", [])) if record is not None]
        last = response.get("LastEvaluatedKey")
        return records, None if last is None else str(last["doc_id"])

    def put(self, record: DocumentRecord, lease_owner: str) -> None:
        """Write the record's fields, keeping the lease and pending work, while ``lease_owner`` holds the
        document's lease (else :class:`LeaseLost`)."""
        values: dict[str, Any] = dataclasses.asdict(record)
        values["roles"] = list(record.roles)  # lists, not string sets: DynamoDB refuses empty sets
        values["writers"] = list(record.writers)
        written = self._update(
            record.doc_id,
            "lease_owner = :lease_owner",
            UpdateExpression="SET " + ", ".join(f"#{name} = :field_{name}" for name in _WRITTEN) + " REMOVE progress",
            ExpressionAttributeNames={f"#{name}": name for name in _WRITTEN},
            ExpressionAttributeValues={
                **{f":field_{name}": values[name] for name in _WRITTEN},
                ":lease_owner": lease_owner,
            },
        )
        if written is None:
            raise LeaseLost(f"the lease on document {record.doc_id} is no longer {lease_owner}'s")

    # -- the lease ---------------------------------------------------------------------------------

    def acquire(self, doc_id: str, owner: str, until_ms: int, now_ms: int) -> bool:
        """Take the document's lease until ``until_ms``, if it is free, expired or already ``owner``'s (a
        redelivered message taking back the lease its killed first attempt left)."""
        return (
            self._update(
                doc_id,
                "attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner",
                # The progress of an expired holder is not the new one's; a redelivery starts over too.
                UpdateExpression="SET lease_owner = :owner, lease_until = :until REMOVE progress",
                ExpressionAttributeValues={":owner": owner, ":until": until_ms, ":now": now_ms},
            )
            is not None
        )

    def record_progress(self, doc_id: str, owner: str, progress: IndexingProgress) -> None:
        self._update(
            doc_id,
            "lease_owner = :owner",
            UpdateExpression="SET progress = :progress",
            ExpressionAttributeValues={":owner": owner, ":progress": {"done": progress.done, "total": progress.total}},
        )

    def progress(self, doc_id: str) -> IndexingProgress | None:
        item = self._table.get_item(
            Key={"doc_id": doc_id}, ConsistentRead=True, ProjectionExpression="progress, lease_owner"
        ).get("Item")
        recorded = (item or {}).get("progress")
        if not recorded or "lease_owner" not in item:
            return None
        return IndexingProgress(done=int(recorded["done"]), total=int(recorded["total"]))

    def hand_over(self, doc_id: str, work: Work, now_ms: int) -> bool:
        """Leave ``work`` to the lease's live holder, who does it before releasing; False when no lease is
        live (the caller takes the lease itself)."""
        sets = "SET pending = :true" + (", pending_full = :true" if work.full else "")
        values: dict[str, Any] = {":true": True, ":now": now_ms}
        live = "attribute_exists(lease_until) AND lease_until >= :now"
        newer = "(attribute_not_exists(pending_sequencer) OR pending_sequencer < :sequencer)"
        if (
            work.sequencer
            and self._update(
                doc_id,
                f"{live} AND {newer}",
                UpdateExpression=f"{sets}, pending_sequencer = :sequencer",
                ExpressionAttributeValues={**values, ":sequencer": work.sequencer},
            )
            is not None
        ):
            return True
        # Either no live lease, or a newer sequencer is pending already: only the first is a refusal.
        return self._update(doc_id, live, UpdateExpression=sets, ExpressionAttributeValues=values) is not None

    def take_pending(self, doc_id: str, owner: str) -> Work | None:
        """Clear and return the work handed to ``owner`` (None when there is none)."""
        old = self._update(
            doc_id,
            "lease_owner = :owner",
            UpdateExpression="REMOVE pending, pending_full, pending_sequencer",
            ExpressionAttributeValues={":owner": owner},
            ReturnValues="UPDATED_OLD",
        )
        if old is None:
            raise LeaseLost(f"the lease on document {doc_id} is no longer {owner}'s")
        if not old.get("pending"):
            return None
        return Work(full=bool(old.get("pending_full")), sequencer=str(old.get("pending_sequencer", "")))

    def release(self, doc_id: str, owner: str) -> bool:
        """Give the lease up, unless work was handed over meanwhile: then False, and the owner goes on."""
        released = self._update(
            doc_id,
            "lease_owner = :owner AND attribute_not_exists(pending)",
            UpdateExpression="REMOVE lease_owner, lease_until, progress",
            ExpressionAttributeValues={":owner": owner},
        )
        if released is None:
            self._still_held(doc_id, owner)
            return False
        return True

    def abandon(self, doc_id: str, owner: str) -> None:
        """Give the lease up after a failure, keeping any pending work for whoever takes the lease next."""
        self._update(
            doc_id,
            "lease_owner = :owner",
            UpdateExpression="REMOVE lease_owner, lease_until, progress",
            ExpressionAttributeValues={":owner": owner},
        )

    def _update(self, doc_id: str, condition: str, **params: Any) -> dict[str, Any] | None:
        """One ``UpdateItem`` under ``condition``: the attributes it returns ({} unless asked for), or None
        when the condition does not hold."""
        try:
            response = self._table.update_item(Key={"doc_id": doc_id}, ConditionExpression=condition, **params)
        except ClientError as error:
            if _failed_condition(error):
                return None
            raise
        return dict(response.get("Attributes", {}))

    def _still_held(self, doc_id: str, owner: str) -> None:
        item = self._table.get_item(Key={"doc_id": doc_id}, ConsistentRead=True).get("Item") or {}
        if item.get("lease_owner") != owner:
            raise LeaseLost(f"the lease on document {doc_id} is no longer {owner}'s")
