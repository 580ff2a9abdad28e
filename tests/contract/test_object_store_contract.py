"""The ObjectStore contract, run against S3 (on moto) and the unit tests' fake, with versioning off and on.

What ingest and the documents API rely on: a bounded read that says the whole size, the ETag and version
that name one content, metadata as S3 gives it, and a delete bound to the object that was checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from ragline.errors import ObjectChanged
from ragline.objectstores.s3 import S3ObjectStore
from ragline.ports import ObjectStore
from tests.fakes import FakeObjectStore

BUCKET = "docs"


@dataclass
class Harness:
    objects: ObjectStore
    put: Callable[[str, bytes, dict[str, str]], None]  # upload, as a client would: key, bytes, metadata
    versioned: bool


def _s3(monkeypatch: pytest.MonkeyPatch, versioned: bool) -> Iterator[Harness]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        if versioned:
            s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})

        def put(key: str, data: bytes, metadata: dict[str, str]) -> None:
            s3.put_object(Bucket=BUCKET, Key=key, Body=data, Metadata=metadata)

        yield Harness(S3ObjectStore(s3), put, versioned)


def _fake(monkeypatch: pytest.MonkeyPatch, versioned: bool) -> Iterator[Harness]:
    fake = FakeObjectStore(versioned=versioned)

    def put(key: str, data: bytes, metadata: dict[str, str]) -> None:
        fake.put(BUCKET, key, data, metadata)

    yield Harness(fake, put, versioned)


@pytest.fixture(params=["s3", "fake"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[False, True], ids=["unversioned", "versioned"])
def harness(request: pytest.FixtureRequest, backend: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    yield from {"s3": _s3, "fake": _fake}[backend](monkeypatch, request.param)


def test_get_reads_the_object_with_its_metadata(harness: Harness) -> None:
    harness.put("a.md", b"0123456789", {"Roles": "finance", "owner": "u-alice"})

    stored = harness.objects.get(BUCKET, "a.md")

    assert stored is not None
    assert (stored.bucket, stored.key, stored.data, stored.size) == (BUCKET, "a.md", b"0123456789", 10)
    assert stored.metadata == {"roles": "finance", "owner": "u-alice"}  # names lower case, as S3 keeps them
    assert stored.etag and not stored.etag.startswith('"')


def test_a_bounded_get_reads_the_first_bytes_and_tells_the_whole_size(harness: Harness) -> None:
    harness.put("a.md", b"0123456789", {})
    harness.put("empty.md", b"", {})

    first = harness.objects.get(BUCKET, "a.md", max_bytes=4)
    whole = harness.objects.get(BUCKET, "a.md", max_bytes=100)
    empty = harness.objects.get(BUCKET, "empty.md", max_bytes=4)

    assert first is not None and (first.data, first.size) == (b"0123", 10)
    assert whole is not None and (whole.data, whole.size) == (b"0123456789", 10)
    assert empty is not None and (empty.data, empty.size) == (b"", 0)


def test_head_is_the_object_without_its_body(harness: Harness) -> None:
    harness.put("a.md", b"0123456789", {"roles": "finance"})

    head, whole = harness.objects.head(BUCKET, "a.md"), harness.objects.get(BUCKET, "a.md")

    assert head is not None and whole is not None
    assert (head.data, head.size, head.metadata) == (b"", 10, {"roles": "finance"})
    assert (head.etag, head.version_id, head.version) == (whole.etag, whole.version_id, whole.version)


def test_an_absent_key_is_none_both_ways(harness: Harness) -> None:
    assert harness.objects.get(BUCKET, "nothing.md") is None
    assert harness.objects.get(BUCKET, "nothing.md", max_bytes=4) is None
    assert harness.objects.head(BUCKET, "nothing.md") is None


def test_the_version_names_the_content_written(harness: Harness) -> None:
    harness.put("a.md", b"first", {})
    first = harness.objects.head(BUCKET, "a.md")
    harness.put("a.md", b"second", {})
    second = harness.objects.head(BUCKET, "a.md")

    assert first is not None and second is not None
    assert first.etag != second.etag and first.version != second.version
    if harness.versioned:
        assert first.version_id and second.version_id and second.version == second.version_id
    else:
        assert second.version_id is None and second.version == second.etag


def test_the_same_bytes_have_the_same_etag(harness: Harness) -> None:
    harness.put("a.md", b"same", {})
    harness.put("b.md", b"same", {})
    a, b = harness.objects.head(BUCKET, "a.md"), harness.objects.head(BUCKET, "b.md")
    assert a is not None and b is not None and a.etag == b.etag


def test_delete_removes_the_object_and_deleting_nothing_is_no_error(harness: Harness) -> None:
    harness.put("a.md", b"text", {})

    harness.objects.delete(BUCKET, "a.md")
    harness.objects.delete(BUCKET, "a.md")
    harness.objects.delete(BUCKET, "never.md")

    assert harness.objects.head(BUCKET, "a.md") is None
    assert harness.objects.get(BUCKET, "a.md") is None


def test_a_delete_bound_to_an_etag_deletes_only_that_object(harness: Harness) -> None:
    harness.put("a.md", b"first", {})
    first = harness.objects.head(BUCKET, "a.md")
    harness.put("a.md", b"second", {})
    second = harness.objects.head(BUCKET, "a.md")
    assert first is not None and second is not None

    with pytest.raises(ObjectChanged):
        harness.objects.delete(BUCKET, "a.md", etag=first.etag)
    still = harness.objects.get(BUCKET, "a.md")
    assert still is not None and still.data == b"second"

    harness.objects.delete(BUCKET, "a.md", etag=second.etag)
    assert harness.objects.head(BUCKET, "a.md") is None
    with pytest.raises(ObjectChanged):
        harness.objects.delete(BUCKET, "a.md", etag=second.etag)  # gone meanwhile: not the object checked


def test_a_listing_has_every_current_object_under_the_prefix_in_key_order(harness: Harness) -> None:
    for key in ["b/2.md", "a/1.md", "b/1.md", "b/ü.md", "b/Z.md"]:
        harness.put(key, key.encode(), {})
    harness.put("b/1.md", b"rewritten", {})
    harness.objects.delete(BUCKET, "b/Z.md")

    listed = list(harness.objects.list(BUCKET, prefix="b/"))

    assert [item.key for item in listed] == ["b/1.md", "b/2.md", "b/ü.md"]  # UTF-8 binary order
    current = harness.objects.head(BUCKET, "b/1.md")
    assert current is not None and (listed[0].etag, listed[0].size) == (current.etag, len(b"rewritten"))
    assert all(item.last_modified.tzinfo is not None for item in listed)
    assert next(item.key for item in harness.objects.list(BUCKET)) == "a/1.md"


def test_a_listing_pages_past_a_thousand_keys(harness: Harness) -> None:
    for number in range(1003):
        harness.put(f"many/{number:04}.md", b"x", {})

    assert len(list(harness.objects.list(BUCKET, prefix="many/"))) == 1003


def test_a_listing_can_start_after_a_key(harness: Harness) -> None:
    for key in ["a.md", "b.md", "b.md.metadata.json", "c.md"]:
        harness.put(key, b"x", {})

    assert [item.key for item in harness.objects.list(BUCKET, start_after="b.md")] == ["b.md.metadata.json", "c.md"]
    assert [item.key for item in harness.objects.list(BUCKET, start_after="a")] == [
        "a.md",
        "b.md",
        "b.md.metadata.json",
        "c.md",
    ]
