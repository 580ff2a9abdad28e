"""The AuditLog contract, run against DynamoDB (on moto) and the unit tests' fake.

An audit record is kept under its user and under each document it touched, all at once, and never
replaced (docs/security.md, "The audit trail"); both of an auditor's questions are one page-able read.
These tests pin that down, so that the recorder's unit tests on :class:`tests.fakes.FakeAuditLog` hold for
:class:`ragline.auditlogs.dynamodb.DynamoAuditLog` too.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from ragline.audit import ANONYMOUS, AuditRecord, AuditSource
from ragline.auditlogs.dynamodb import DynamoAuditLog
from ragline.errors import AuditUnavailable
from ragline.ports import AuditLog
from tests.fakes import FakeAuditLog

D1, D2 = "a" * 24, "b" * 24


def create_table(dynamodb: object, name: str = "audit") -> object:
    return dynamodb.create_table(  # type: ignore[attr-defined]
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditLog]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield DynamoAuditLog(create_table(boto3.resource("dynamodb", region_name="us-east-1")), retention_days=400)


def _fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditLog]:
    yield FakeAuditLog()


@pytest.fixture(params=["dynamodb", "fake"])
def log(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditLog]:
    yield from {"dynamodb": _dynamodb, "fake": _fake}[request.param](monkeypatch)


def record(second: int, request_id: str = "", user: str = "u-1", documents: tuple[str, ...] = (D1,)) -> AuditRecord:
    return AuditRecord(
        at=f"2026-11-25T10:00:{second:02d}.000Z",
        request_id=request_id or f"r-{second}",
        action="query",
        status=200,
        user=user,
        username="bob",
        groups=("finance", "staff"),
        question_hmac="ab" * 32,
        documents=documents,
        sources=tuple(AuditSource(doc_id, f"{doc_id}-c{n}", cited=n == 0) for n, doc_id in enumerate(documents)),
    )


def test_a_record_is_found_whole_by_its_user_and_by_each_of_its_documents(log: AuditLog) -> None:
    kept = record(1, documents=(D1, D2))
    log.write(kept)

    assert log.by_user("u-1", "", "", 10, None)[0] == [kept]
    assert log.by_document(D1, "", "", 10, None)[0] == [kept]
    assert log.by_document(D2, "", "", 10, None)[0] == [kept]
    assert log.by_user("u-2", "", "", 10, None)[0] == []
    assert log.by_document("c" * 24, "", "", 10, None)[0] == []


def test_records_come_oldest_first_from_since_until_before_until(log: AuditLog) -> None:
    for second in (5, 1, 3, 2, 4):
        log.write(record(second))

    def seconds(records: list[AuditRecord]) -> list[int]:
        return [int(r.at[17:19]) for r in records]

    assert seconds(log.by_user("u-1", "", "", 10, None)[0]) == [1, 2, 3, 4, 5]
    window = ("2026-11-25T10:00:02.000Z", "2026-11-25T10:00:04.000Z")
    assert seconds(log.by_document(D1, *window, 10, None)[0]) == [2, 3]  # since is in, until is out
    assert seconds(log.by_user("u-1", window[0], "", 10, None)[0]) == [2, 3, 4, 5]
    assert seconds(log.by_user("u-1", "", window[1], 10, None)[0]) == [1, 2, 3]


def test_paging_yields_every_record_once(log: AuditLog) -> None:
    for second in range(7):
        log.write(record(second))
        log.write(record(second, request_id=f"s-{second}"))  # same time, another request: both kept

    seen: list[str] = []
    after = None
    while True:
        page, after = log.by_document(D1, "", "", 3, after)
        assert len(page) <= 3
        seen += [r.position for r in page]
        if after is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 14


def test_a_record_is_never_replaced(log: AuditLog) -> None:
    first = record(1)
    log.write(first)
    forged = AuditRecord(at=first.at, request_id=first.request_id, action="query", status=500, user="u-1")

    with pytest.raises(AuditUnavailable):
        log.write(forged)

    assert log.by_user("u-1", "", "", 10, None)[0] == [first]


def test_a_record_is_kept_whole_or_not_at_all(log: AuditLog) -> None:
    log.write(record(1, user="u-1", documents=(D1,)))
    clashing = record(1, user="u-2", documents=(D2, D1))  # same position as the first under D1

    with pytest.raises(AuditUnavailable):
        log.write(clashing)

    assert log.by_user("u-2", "", "", 10, None)[0] == []
    assert log.by_document(D2, "", "", 10, None)[0] == []


def test_requests_without_a_token_are_kept_under_the_anonymous_user(log: AuditLog) -> None:
    refused = AuditRecord(at="2026-11-25T10:00:00.000Z", request_id="r-0", action="download", status=401,
                          code="unauthorized", requested="../etc/passwd")  # fmt: skip
    log.write(refused)
    assert log.by_user(ANONYMOUS, "", "", 10, None)[0] == [refused]


def test_dynamodb_items_expire_after_the_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    running = _dynamodb(monkeypatch)
    log = next(running)
    assert isinstance(log, DynamoAuditLog)
    log.write(record(0, documents=(D1,)))
    items = log._table.scan()["Items"]
    running.close()
    assert {item["pk"] for item in items} == {"user#u-1", f"doc#{D1}"}
    day = 86_400
    assert {int(item["expires_at"]) for item in items} == {1_795_600_800 + 400 * day}  # 2026-11-25T10:00:00Z
