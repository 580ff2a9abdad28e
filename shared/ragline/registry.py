"""The DynamoDB adapter of the Registry port: one item per document, keyed by ``doc_id``."""

from __future__ import annotations

import dataclasses
from typing import Any

from botocore.exceptions import ClientError

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
        # An item that only holds a claimed sequencer: its event is being applied.
        values.setdefault("bucket", "")
        values.setdefault("key", "")
        values.setdefault("status", "queued")
        values["roles"] = tuple(sorted(item.get("roles", [])))
        values["chunk_count"] = int(item.get("chunk_count", 0))
        return DocumentRecord(**values)

    def claim(self, doc_id: str, sequencer: str) -> bool:
        try:
            self._table.update_item(
                Key={"doc_id": doc_id},
                UpdateExpression="SET sequencer = :sequencer",
                ConditionExpression="attribute_not_exists(sequencer) OR sequencer < :sequencer",
                ExpressionAttributeValues={":sequencer": sequencer},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put(self, record: DocumentRecord) -> bool:
        item: dict[str, Any] = dataclasses.asdict(record)
        item["roles"] = list(record.roles)  # a list, not a string set: DynamoDB refuses empty sets
        if not record.sequencer:
            self._table.put_item(Item=item)
            return True
        try:
            # Never overwrite the record of a newer event.
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(sequencer) OR sequencer <= :sequencer",
                ExpressionAttributeValues={":sequencer": record.sequencer},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
