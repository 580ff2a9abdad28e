"""The DynamoDB adapter of the IndexCatalog port: one reserved item of the registry's table.

Both functions already read the registry's table, so the catalog lives there as the item whose ``doc_id``
is :data:`CATALOG_ID` (a document id is 24 hex digits, so no document can have it), with no ``status`` and
no ``key``: :meth:`ragline.registries.dynamodb.DynamoRegistry.scan` and every listing built on it skip it.
Every change is one ``PutItem`` conditional on the revision it was read at (docs/operations.md).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ragline.indexes import CatalogConflict, Indexes

#: The catalog item's ``doc_id``: reserved, never a document's.
CATALOG_ID = "#ragline/indexes"


def is_reserved(doc_id: str) -> bool:
    """Whether ``doc_id`` names one of ragline's own items, not a document.

    >>> is_reserved(CATALOG_ID), is_reserved("5f0c6b0f2d1e4a8b9c7d6e5f")
    (True, False)
    """
    return doc_id.startswith("#ragline/")


class DynamoIndexCatalog:
    """:class:`ragline.ports.IndexCatalog` as one item of the registry's table.

    >>> catalog = DynamoIndexCatalog(boto3.resource("dynamodb").Table("ragline-registry"))  # doctest: +SKIP
    >>> catalog.get().live.index  # doctest: +SKIP
    'ragline-chunks'
    """

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self) -> Indexes | None:
        item = self._table.get_item(Key={"doc_id": CATALOG_ID}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return Indexes.from_json({**item["catalog"], "revision": int(item["revision"])})

    def put(self, indexes: Indexes) -> None:
        state = indexes.to_json()
        del state["revision"]
        if indexes.revision <= 1:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(doc_id)"}
        else:
            condition = {
                "ConditionExpression": "revision = :read",
                "ExpressionAttributeValues": {":read": indexes.revision - 1},
            }
        try:
            self._table.put_item(
                Item={"doc_id": CATALOG_ID, "catalog": state, "revision": indexes.revision}, **condition
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise CatalogConflict(
                    f"the index catalog is no longer at revision {indexes.revision - 1}: read it again"
                ) from None
            raise
