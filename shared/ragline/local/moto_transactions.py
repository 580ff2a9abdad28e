"""DynamoDB transactions on moto at the cost of the items they write, not of the whole table.

To undo a transaction that fails, moto's ``TransactWriteItems`` deep-copies every table it touches, once per
item of the transaction, before it writes anything: each audit record (one transaction of a few conditional
puts, ragline.auditlogs.dynamodb) then costs time in proportion to the audit table, and a long ``ragline up``
session grows slower with every question asked. DynamoDB's cost does not grow so.

:func:`install_item_rollback` keeps moto's own transaction (its checks, its writes, its errors) and only
changes what it saves to undo one: the items the transaction touches, put back as they were when it fails.
Local only (the local stack and the tests); nothing on a Lambda's import path imports this.

Example:
    >>> install_item_rollback()  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

_installed = threading.Lock()


class _TablesByReference:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend: a table is "copied" by reference
    (the items it holds are saved one by one instead), anything else deep-copied as before."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def install_item_rollback() -> None:
    """Make moto's ``TransactWriteItems`` save and restore only the items it touches. Idempotent."""
    import moto.dynamodb.models as backend_module
    from moto.dynamodb.models import DynamoDBBackend

    with _installed:
        if getattr(DynamoDBBackend.transact_write_items, "ragline_item_rollback", False):
            return
        moto_transaction = DynamoDBBackend.transact_write_items

        @functools.wraps(moto_transaction)
        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            undo = [_saved(self, transact_item) for transact_item in transact_items]
            try:
                moto_transaction(self, transact_items)
            except Exception:
                for restore in reversed(undo):
                    restore()
                raise

        transact_write_items.ragline_item_rollback = True  # type: ignore[attr-defined]
        backend_module.copy = _TablesByReference  # type: ignore[assignment]
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _saved(backend: Any, transact_item: dict[str, Any]) -> Callable[[], None]:
    """What puts the item this part of a transaction names back as it is now (absent included)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    _, operation = next(iter(transact_item.items()))
    table = backend.tables.get(operation.get("TableName"))
    attributes = operation.get("Key") or operation.get("Item") or {}
    if table is None or table.hash_key_attr not in attributes:
        return lambda: None  # moto refuses it before writing anything
    hash_value = DynamoType(attributes[table.hash_key_attr])
    range_value = None
    if table.range_key_attr is not None:
        if table.range_key_attr not in attributes:
            return lambda: None
        range_value = DynamoType(attributes[table.range_key_attr])
    before = copy.deepcopy(table.get_item(hash_value, range_value))

    def restore() -> None:
        if range_value is None:
            if before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
            return
        items = table.items[hash_value]
        if before is None:
            items.pop(range_value, None)
            if not items:
                table.items.pop(hash_value, None)
        else:
            items[range_value] = before

    return restore
