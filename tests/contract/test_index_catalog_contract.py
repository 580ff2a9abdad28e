"""The IndexCatalog contract, run against DynamoDB (on moto, in the registry's table) and the unit tests'
fake: the catalog is read back whole, and a put is refused unless it is made from the revision the catalog
is at, so two operators cannot both change it from one state (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ragline.indexes import CatalogConflict, Indexes, IndexTarget
from ragline.ports import IndexCatalog
from ragline.registries.dynamodb import DynamoRegistry
from ragline.registries.index_catalog import DynamoIndexCatalog
from tests.fakes import FakeIndexCatalog

LIVE = IndexTarget("ragline-chunks", "hash", "", 384)
NEW = IndexTarget("ragline-chunks-r1", "bedrock", "amazon.titan-embed-text-v2:0", 512)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="registry",
            KeySchema=[{"AttributeName": "doc_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "doc_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


@pytest.fixture(params=["dynamodb", "fake"])
def catalog(request: pytest.FixtureRequest) -> IndexCatalog:
    if request.param == "fake":
        return FakeIndexCatalog()
    return DynamoIndexCatalog(request.getfixturevalue("table"))


def test_no_catalog_reads_as_none(catalog: IndexCatalog) -> None:
    assert catalog.get() is None


def test_a_catalog_is_read_back_whole(catalog: IndexCatalog) -> None:
    first = Indexes(LIVE).changed(building=NEW)
    catalog.put(first)
    assert catalog.get() == first == Indexes(LIVE, NEW, None, 1)

    second = first.changed(live=NEW, building=None, previous=LIVE)
    catalog.put(second)
    assert catalog.get() == Indexes(NEW, None, LIVE, 2)


def test_of_two_changes_from_one_revision_only_the_first_is_written(catalog: IndexCatalog) -> None:
    read = Indexes(LIVE)
    catalog.put(read.changed(building=NEW))
    with pytest.raises(CatalogConflict):
        catalog.put(read.changed(building=IndexTarget("other", "hash", "", 64)))
    assert catalog.get() == Indexes(LIVE, NEW, None, 1)

    at_one = Indexes(LIVE, NEW, None, 1)
    catalog.put(at_one.changed(live=NEW, building=None, previous=LIVE))
    with pytest.raises(CatalogConflict):
        catalog.put(at_one.changed(building=None))
    assert catalog.get() == Indexes(NEW, None, LIVE, 2)


def test_the_catalog_item_is_no_document_of_the_registry(table: Any) -> None:
    DynamoIndexCatalog(table).put(Indexes(LIVE).changed(building=NEW))
    registry = DynamoRegistry(table)

    assert registry.scan(None, 10) == ([], None)
    assert registry.get("#ragline/indexes") is None
