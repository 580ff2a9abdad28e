"""ragline.local.moto_transactions: moto's TransactWriteItems, undone item by item instead of by copying tables."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table

from ragline.local.moto_transactions import install_item_rollback


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    install_item_rollback()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="audit",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb


def put(pk: str, sk: str, value: str) -> dict:
    return {
        "Put": {
            "TableName": "audit",
            "Item": {"pk": {"S": pk}, "sk": {"S": sk}, "value": {"S": value}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def items(client) -> set[tuple[str, str, str]]:
    found = client.scan(TableName="audit")["Items"]
    return {(item["pk"]["S"], item["sk"]["S"], item["value"]["S"]) for item in found}


def test_a_transaction_writes_every_item(client):
    client.transact_write_items(TransactItems=[put("user#u", "t1", "a"), put("doc#d", "t1", "a")])
    assert items(client) == {("user#u", "t1", "a"), ("doc#d", "t1", "a")}


def test_a_failed_transaction_leaves_nothing_of_itself_and_the_kept_item_untouched(client):
    client.transact_write_items(TransactItems=[put("doc#d", "t1", "kept")])

    with pytest.raises(ClientError) as failed:
        # The first two are written by moto before the third's condition fails: undone, all of them.
        client.transact_write_items(
            TransactItems=[put("user#u", "t2", "new"), put("doc#e", "t2", "new"), put("doc#d", "t1", "overwrite")]
        )

    assert failed.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert items(client) == {("doc#d", "t1", "kept")}


def test_no_table_is_copied(client, monkeypatch):
    def refuse(self, memo):
        raise AssertionError("a transaction deep-copied its table")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    client.transact_write_items(TransactItems=[put("user#u", "t1", "a"), put("doc#d", "t1", "a")])
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[put("user#u", "t2", "b"), put("doc#d", "t1", "b")])
    assert items(client) == {("user#u", "t1", "a"), ("doc#d", "t1", "a")}
