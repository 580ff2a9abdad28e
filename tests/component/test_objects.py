"""The S3 adapter on moto: whole objects, their first bytes, metadata alone, and absent keys."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from ragline.objectstores.s3 import S3ObjectStore


@pytest.fixture
def objects(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="docs")
        s3.put_object(Bucket="docs", Key="k.md", Body=b"0123456789", Metadata={"Roles": "finance"})
        yield S3ObjectStore(s3)


def test_get_reads_the_object_or_its_first_bytes(objects):
    assert objects.get("docs", "k.md").data == b"0123456789"
    assert objects.get("docs", "k.md", max_bytes=4).data == b"0123"


def test_head_gives_metadata_and_etag_without_the_body(objects):
    head, whole = objects.head("docs", "k.md"), objects.get("docs", "k.md")
    assert head.data == b"" and head.metadata == {"roles": "finance"}
    assert head.etag == whole.etag and not head.etag.startswith('"')


def test_an_absent_key_is_none_both_ways(objects):
    assert objects.get("docs", "nothing.md") is None
    assert objects.head("docs", "nothing.md") is None
