"""FakeAuditLog: the AuditLog port in lists, held to the audit log contract."""

from __future__ import annotations

from ragline.audit import AuditRecord
from ragline.errors import AuditUnavailable


class FakeAuditLog:
    """Keeps records in memory, findable as :class:`ragline.auditlogs.dynamodb.DynamoAuditLog` finds them
    (tests/contract/test_audit_log_contract.py): by user and by each document, oldest first, never replaced.
    ``failing`` makes every write raise :class:`AuditUnavailable`, as an unreachable table would.

    >>> log = FakeAuditLog()
    >>> log.write(AuditRecord(at="2026-11-25T10:00:00.000Z", request_id="r-1", action="query", status=200, user="u-1"))
    >>> [record.request_id for record in log.by_user("u-1", "", "", 10, None)[0]]
    ['r-1']
    """

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []  # in the order written
        self.failing = False

    def write(self, record: AuditRecord) -> None:
        if self.failing:
            raise AuditUnavailable("the fake audit log is failing")
        partitions = self._partitions(record)
        if any(partitions & self._partitions(kept) for kept in self.records if kept.position == record.position):
            raise AuditUnavailable(f"a record at {record.position} is kept already")
        self.records.append(record)

    def by_document(
        self, doc_id: str, since: str, until: str, limit: int, after: str | None
    ) -> tuple[list[AuditRecord], str | None]:
        return self._page(f"doc#{doc_id}", since, until, limit, after)

    def by_user(
        self, user: str, since: str, until: str, limit: int, after: str | None
    ) -> tuple[list[AuditRecord], str | None]:
        return self._page(f"user#{user}", since, until, limit, after)

    @staticmethod
    def _partitions(record: AuditRecord) -> set[str]:
        return {f"user#{record.user}", *(f"doc#{doc_id}" for doc_id in record.documents)}

    def _page(
        self, partition: str, since: str, until: str, limit: int, after: str | None
    ) -> tuple[list[AuditRecord], str | None]:
        found = sorted(
            (
                record
                for record in self.records
                if partition in self._partitions(record)
                and (not since or record.position >= since)
                and (not until or record.position <= until)
                and (after is None or record.position > after)
            ),
            key=lambda record: record.position,
        )
        page = found[:limit]
        # As DynamoDB does, a full page names its last position even when nothing follows it.
        return page, page[-1].position if len(page) == limit else None
