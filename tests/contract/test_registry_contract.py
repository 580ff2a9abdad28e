"""The Registry contract, run against DynamoDB (on moto) and the unit tests' fake.

The lease is what keeps two ingests of one document from interleaving (docs/architecture.md, "One writer
per document: the lease"): these tests pin down each of its conditional steps, so that the domain tests
on :class:`tests.fakes.FakeRegistry` hold for :class:`ragline.registries.dynamodb.DynamoRegistry` too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ragline.errors import LeaseLost
from ragline.models import DocumentRecord, IndexingProgress, Work
from ragline.ports import Registry
from ragline.registries.dynamodb import DynamoRegistry
from tests.fakes import FakeRegistry

DOC = "doc-1"
NOW = 1_000_000  # epoch milliseconds
UNTIL = NOW + 60_000


def _dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        table = dynamodb.create_table(
            TableName="registry",
            KeySchema=[{"AttributeName": "doc_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "doc_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoRegistry(table)


def _fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    yield FakeRegistry()


@pytest.fixture(params=["dynamodb", "fake"])
def registry(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    yield from {"dynamodb": _dynamodb, "fake": _fake}[request.param](monkeypatch)


def record(**fields: Any) -> DocumentRecord:
    return dataclasses.replace(DocumentRecord(DOC, "docs", "a.md", "indexed"), **fields)


def held(registry: Registry, owner: str = "ingest-1", until: int = UNTIL) -> Registry:
    assert registry.acquire(DOC, owner, until, NOW)
    return registry


# -- records -------------------------------------------------------------------------------------


def test_a_record_is_written_by_the_lease_holder_and_read_back_whole(registry: Registry) -> None:
    written = record(
        version="v7",
        roles=("staff", "finance"),
        chunk_count=12,
        title="Q3 report",
        error="",
        sequencer="0A",
        updated_at="2026-01-01T00:00:00.000+00:00",
        owner="u-alice",
        writers=("editors", "auditors"),
    )
    held(registry).put(written, lease_owner="ingest-1")

    read = registry.get(DOC)
    assert read == record(
        version="v7",
        roles=("finance", "staff"),  # sorted
        chunk_count=12,
        title="Q3 report",
        sequencer="0A",
        updated_at="2026-01-01T00:00:00.000+00:00",
        owner="u-alice",
        writers=("auditors", "editors"),
    )
    assert read is not written


def test_nothing_and_a_lease_alone_are_no_record(registry: Registry) -> None:
    assert registry.get(DOC) is None
    held(registry)
    assert registry.get(DOC) is None


def test_get_many_reads_the_records_that_exist_as_get_reads_them(registry: Registry) -> None:
    names = [f"doc-{n:03d}" for n in range(150)]  # more than one BatchGetItem's hundred keys
    for n, doc_id in enumerate(names[:120]):
        assert registry.acquire(doc_id, "ingest-1", UNTIL, NOW)
        registry.put(
            dataclasses.replace(record(), doc_id=doc_id, version=f"v{n}", roles=("staff", "finance"), chunk_count=n),
            lease_owner="ingest-1",
        )
    assert registry.acquire("doc-lease-only", "ingest-2", UNTIL, NOW)

    found = registry.get_many([*names, names[0], "doc-lease-only", "missing"])
    assert sorted(found) == names[:120]
    assert all(found[doc_id] == registry.get(doc_id) for doc_id in names[:120])
    assert found["doc-007"].version == "v7" and found["doc-007"].roles == ("finance", "staff")
    assert found["doc-007"].chunk_count == 7
    assert registry.get_many([]) == {}


def test_a_record_is_refused_to_anyone_but_the_holder(registry: Registry) -> None:
    with pytest.raises(LeaseLost):
        registry.put(record(), lease_owner="ingest-1")  # no lease at all
    held(registry, "ingest-1")
    with pytest.raises(LeaseLost):
        registry.put(record(), lease_owner="ingest-2")
    assert registry.get(DOC) is None


def test_a_lease_lost_to_expiry_refuses_the_old_holders_writes(registry: Registry) -> None:
    held(registry, "ingest-1", until=NOW + 10)
    assert registry.acquire(DOC, "ingest-2", UNTIL, now_ms=NOW + 11)

    with pytest.raises(LeaseLost):
        registry.put(record(), lease_owner="ingest-1")
    registry.put(record(title="second"), lease_owner="ingest-2")
    assert registry.get(DOC) == record(title="second")


def test_a_record_outlives_the_lease(registry: Registry) -> None:
    held(registry).put(record(title="kept"), lease_owner="ingest-1")
    assert registry.release(DOC, "ingest-1")
    assert registry.get(DOC) == record(title="kept")


# -- the lease -----------------------------------------------------------------------------------


def test_a_live_lease_is_taken_only_by_its_owner(registry: Registry) -> None:
    held(registry, "ingest-1", until=NOW + 10)

    assert not registry.acquire(DOC, "ingest-2", UNTIL, now_ms=NOW)
    assert not registry.acquire(DOC, "ingest-2", UNTIL, now_ms=NOW + 10)  # live up to its last millisecond
    assert registry.acquire(DOC, "ingest-1", NOW + 20, now_ms=NOW + 5)  # the redelivery of the same message
    assert not registry.acquire(DOC, "ingest-2", UNTIL, now_ms=NOW + 15)  # ... which extended it
    assert registry.acquire(DOC, "ingest-2", UNTIL, now_ms=NOW + 21)  # expired


def test_a_released_lease_is_free_at_once(registry: Registry) -> None:
    held(registry, "ingest-1")
    assert registry.release(DOC, "ingest-1")
    assert registry.acquire(DOC, "ingest-2", UNTIL, NOW)


def test_only_the_holder_releases(registry: Registry) -> None:
    with pytest.raises(LeaseLost):
        registry.release(DOC, "ingest-1")  # nothing held
    held(registry, "ingest-1")
    with pytest.raises(LeaseLost):
        registry.release(DOC, "ingest-2")
    assert not registry.acquire(DOC, "ingest-2", UNTIL, NOW)  # still ingest-1's


def test_work_is_handed_over_only_to_a_live_lease(registry: Registry) -> None:
    assert not registry.hand_over(DOC, Work(full=True, sequencer="0A"), NOW)  # no lease
    held(registry, "ingest-1", until=NOW + 10)
    assert not registry.hand_over(DOC, Work(full=True), now_ms=NOW + 11)  # expired
    assert registry.acquire(DOC, "ingest-2", UNTIL, now_ms=NOW + 11)
    assert registry.take_pending(DOC, "ingest-2") is None  # what was refused was not kept


def test_handed_over_work_adds_up_and_is_taken_once(registry: Registry) -> None:
    held(registry, "ingest-1")
    assert registry.take_pending(DOC, "ingest-1") is None

    assert registry.hand_over(DOC, Work(full=False, sequencer="0000000B"), NOW)
    assert registry.hand_over(DOC, Work(full=True, sequencer="0000000A"), NOW)  # older, but a full re-read
    assert registry.hand_over(DOC, Work(full=False), NOW)  # a sidecar's: no sequencer

    assert registry.take_pending(DOC, "ingest-1") == Work(full=True, sequencer="0000000B")
    assert registry.take_pending(DOC, "ingest-1") is None


def test_only_the_holder_takes_the_work(registry: Registry) -> None:
    with pytest.raises(LeaseLost):
        registry.take_pending(DOC, "ingest-1")  # nothing held
    held(registry, "ingest-1")
    assert registry.hand_over(DOC, Work(full=True), NOW)
    with pytest.raises(LeaseLost):
        registry.take_pending(DOC, "ingest-2")
    assert registry.take_pending(DOC, "ingest-1") == Work(full=True)


def test_the_holder_may_not_let_go_while_work_waits_for_it(registry: Registry) -> None:
    held(registry, "ingest-1")
    assert registry.hand_over(DOC, Work(full=False, sequencer="0C"), NOW)

    assert not registry.release(DOC, "ingest-1")
    assert not registry.acquire(DOC, "ingest-2", UNTIL, NOW)  # the lease was kept
    assert registry.take_pending(DOC, "ingest-1") == Work(full=False, sequencer="0C")
    assert registry.release(DOC, "ingest-1")


def test_writing_the_record_keeps_the_lease_and_the_work(registry: Registry) -> None:
    held(registry, "ingest-1")
    assert registry.hand_over(DOC, Work(full=True), NOW)

    registry.put(record(), lease_owner="ingest-1")

    assert not registry.acquire(DOC, "ingest-2", UNTIL, NOW)
    assert registry.take_pending(DOC, "ingest-1") == Work(full=True)


def test_an_abandoned_lease_is_free_at_once_and_keeps_the_work(registry: Registry) -> None:
    held(registry, "ingest-1")
    assert registry.hand_over(DOC, Work(full=True, sequencer="0D"), NOW)

    registry.abandon(DOC, "ingest-1")

    assert registry.acquire(DOC, "ingest-2", UNTIL, NOW)
    assert registry.take_pending(DOC, "ingest-2") == Work(full=True, sequencer="0D")


def test_abandoning_a_lease_one_does_not_hold_changes_nothing(registry: Registry) -> None:
    registry.abandon(DOC, "ingest-1")  # nothing held: no error
    held(registry, "ingest-1")

    registry.abandon(DOC, "ingest-2")

    assert not registry.acquire(DOC, "ingest-2", UNTIL, NOW)
    assert registry.release(DOC, "ingest-1")


# -- scanning ------------------------------------------------------------------------------------


def write(registry: Registry, doc_id: str, **fields: Any) -> None:
    """A record written as ingest writes one: under the document's lease, which it then gives up."""
    assert registry.acquire(doc_id, "ingest", UNTIL, NOW)
    registry.put(dataclasses.replace(record(**fields), doc_id=doc_id), lease_owner="ingest")
    assert registry.release(doc_id, "ingest")


def scan_all(registry: Registry, limit: int) -> tuple[list[DocumentRecord], int]:
    """Every record, page by page; and how many pages it took."""
    records: list[DocumentRecord] = []
    after: str | None = None
    for pages in range(1, 100):
        page, after = registry.scan(after, limit)
        assert len(page) <= limit
        records += page
        if after is None:
            return records, pages
    raise AssertionError("the scan never ended")


def test_progress_is_read_back_before_the_first_record_and_cleared_by_it(registry: Registry) -> None:
    assert registry.progress(DOC) is None
    assert registry.acquire(DOC, "ingest-1", UNTIL, NOW)
    registry.record_progress(DOC, "ingest-1", IndexingProgress(64, 1858))
    assert registry.get(DOC) is None  # still no record: the first version is being indexed
    assert registry.progress(DOC) == IndexingProgress(64, 1858)
    registry.record_progress(DOC, "ingest-1", IndexingProgress(128, 1858))
    assert registry.progress(DOC) == IndexingProgress(128, 1858)

    registry.put(record(chunk_count=1858), lease_owner="ingest-1")

    assert registry.progress(DOC) is None


def test_progress_is_the_holders_only_and_goes_with_the_lease(registry: Registry) -> None:
    assert registry.acquire(DOC, "ingest-1", UNTIL, NOW)
    registry.record_progress(DOC, "ingest-2", IndexingProgress(1, 2))  # not the holder: nothing
    assert registry.progress(DOC) is None
    registry.record_progress(DOC, "ingest-1", IndexingProgress(1, 2))
    assert registry.release(DOC, "ingest-1")
    assert registry.progress(DOC) is None

    assert registry.acquire(DOC, "ingest-1", UNTIL, NOW)
    registry.record_progress(DOC, "ingest-1", IndexingProgress(1, 2))
    registry.abandon(DOC, "ingest-1")
    assert registry.progress(DOC) is None

    assert registry.acquire(DOC, "ingest-1", UNTIL, NOW)
    registry.record_progress(DOC, "ingest-1", IndexingProgress(1, 2))
    assert registry.acquire(DOC, "ingest-2", UNTIL + 2, UNTIL + 1)  # the first holder's lease expired
    assert registry.progress(DOC) is None  # its progress is not the new holder's


def test_an_empty_table_scans_to_nothing(registry: Registry) -> None:
    assert registry.scan(None, 10) == ([], None)


@pytest.mark.parametrize("limit", [1, 2, 3, 10])
def test_paging_through_the_table_yields_every_record_once(registry: Registry, limit: int) -> None:
    doc_ids = [f"doc-{n:02d}" for n in range(7)]
    for doc_id in doc_ids:
        write(registry, doc_id, title=f"title of {doc_id}")

    records, pages = scan_all(registry, limit)

    assert sorted(r.doc_id for r in records) == doc_ids  # each once
    assert all(r == registry.get(r.doc_id) for r in records)  # whole records, as get reads them
    assert pages >= -(-len(doc_ids) // limit)


def test_a_scan_skips_lease_only_items_as_get_does(registry: Registry) -> None:
    write(registry, "doc-a")
    assert registry.acquire("doc-b", "ingest-2", UNTIL, NOW)  # its first event: a lease, no record yet
    write(registry, "doc-c")

    records, _ = scan_all(registry, 1)

    assert [r.doc_id for r in records] == ["doc-a", "doc-c"]


def test_a_scan_goes_on_after_any_position(registry: Registry) -> None:
    """A position is a doc_id, not a handle on an item: one whose item does not exist still positions."""
    for doc_id in ("doc-a", "doc-c", "doc-e"):
        write(registry, doc_id)
    first, after = registry.scan(None, 2)
    assert after is not None

    rest, _ = registry.scan(after, 10)
    everything, _ = registry.scan(None, 10)
    assert first + rest == everything
    # A position between two items (in DynamoDB's hash order, somewhere): the scan goes on from there.
    from_absent, _ = registry.scan(first[0].doc_id + "-absent", 10)
    assert set(map(repr, from_absent)) <= set(map(repr, everything))
