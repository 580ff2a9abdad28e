"""The DynamoDB adapter of the AuditLog port: an item per record and partition, written all at once.

A record is kept under its user (partition key ``pk`` = ``user#<sub>``) and under each document it touched
(``doc#<doc_id>``), sorted by its position (sort key ``sk`` = ``<UTC time>#<request id>``), so that both
questions an auditor asks, *who read or was cited document D* and *what did user U receive*, in a time
window, are one ``Query`` each. Every item carries the whole record, and ``expires_at`` (epoch seconds)
for the table's TTL: the retention.

The items of one record are written in one ``TransactWriteItems``, each ``Put`` conditional on no item
being there (``attribute_not_exists(pk)``): all of them or none, and never over a record kept before.
Transactional puts are authorized as ``dynamodb:PutItem``, so the query function needs no
``BatchWriteItem`` (whose requests may delete) and no ``UpdateItem`` or ``DeleteItem``
(docs/security.md, "The audit trail").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from ragline.audit import AuditRecord
from ragline.errors import AuditUnavailable

MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit on one TransactWriteItems
SECONDS_PER_DAY = 86_400
# The bounds of a time window left open: below and above every audit time.
_FIRST, _LAST = "0", "9999-12-31T23:59:59.999Z~"


def user_partition(user: str) -> str:
    return f"user#{user}"


def document_partition(doc_id: str) -> str:
    return f"doc#{doc_id}"


def _epoch_seconds(at: str) -> int:
    return int(datetime.fromisoformat(at).timestamp())


class DynamoAuditLog:
    """Audit records in a DynamoDB table keyed by ``pk`` (string) and ``sk`` (string), with TTL on
    ``expires_at``; ``retention_days`` after a record's time, DynamoDB removes it.

    Example:
        >>> table = boto3.resource("dynamodb").Table("ragline-audit")  # doctest: +SKIP
        >>> log = DynamoAuditLog(table, retention_days=400)  # doctest: +SKIP
        >>> log.by_document("5f0c...", since="2026-11-01", until="", limit=25, after=None)  # doctest: +SKIP
    """

    def __init__(self, table: Any, retention_days: int) -> None:
        self._table = table
        self._client = table.meta.client  # a resource's client: it takes and gives plain Python values
        self.retention_days = retention_days

    def write(self, record: AuditRecord) -> None:
        values = record.to_json()
        values["expires_at"] = _epoch_seconds(record.at) + self.retention_days * SECONDS_PER_DAY
        partitions = [user_partition(record.user), *map(document_partition, record.documents)]
        puts = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": {"pk": partition, "sk": record.position, **values},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for partition in partitions
        ]
        for start in range(0, len(puts), MAX_TRANSACTION_ITEMS):
            try:
                self._client.transact_write_items(TransactItems=puts[start : start + MAX_TRANSACTION_ITEMS])
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                raise AuditUnavailable(f"the audit record of {record.request_id} was not kept ({code})") from error

    def by_document(
        self, doc_id: str, since: str, until: str, limit: int, after: str | None
    ) -> tuple[list[AuditRecord], str | None]:
        return self._query(document_partition(doc_id), since, until, limit, after)

    def by_user(
        self, user: str, since: str, until: str, limit: int, after: str | None
    ) -> tuple[list[AuditRecord], str | None]:
        return self._query(user_partition(user), since, until, limit, after)

    def _query(
        self, partition: str, since: str, until: str, limit: int, after: str | None
    ) -> tuple[list[AuditRecord], str | None]:
        """One ``Query``: a position sorts after its time (``<time>#<id>`` > ``<time>``), so BETWEEN since AND
        until holds the records from ``since`` and before ``until``."""
        params: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(partition) & Key("sk").between(since or _FIRST, until or _LAST),
            "Limit": limit,
            "ConsistentRead": True,
        }
        if after is not None:
            params["ExclusiveStartKey"] = {"pk": partition, "sk": after}
        response = self._table.query(**params)
        records = [AuditRecord.from_json(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return records, None if last is None else str(last["sk"])
