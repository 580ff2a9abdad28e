"""The DynamoDB adapter of the Registry port: one item per document, keyed by ``doc_id``."""

from __future__ import annotations

import dataclasses
from typing import Any

from ragline.models import DocumentRecord

_FIELDS = [field.name for field in dataclasses.fields(DocumentRecord)]


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
        item = self._table.get_item(Key={"doc_id": doc_id}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        values = {name: item[name] for name in _FIELDS if name in item}
        values["roles"] = tuple(sorted(item.get("roles", [])))
        values["chunk_count"] = int(item.get("chunk_count", 0))
        return DocumentRecord(**values)

    def put(self, record: DocumentRecord) -> None:
        item: dict[str, Any] = dataclasses.asdict(record)
        item["roles"] = list(record.roles)  # a list, not a string set: DynamoDB refuses empty sets
        self._table.put_item(Item=item)
