"""The documents API's rules (ragline.documents) on in-memory fakes: who may upload, replace and delete."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragline.access import can_write
from ragline.documents import Caller, DocumentsConfig, DocumentsService, Refused
from ragline.http_api import BadRequest, UploadRequest
from ragline.ids import document_id
from ragline.models import DocumentRecord, StoredObject
from ragline.objectstores.s3 import ObjectChanged

BUCKET = "docs"
ROLES = ["staff", "editors", "finance"]


class InMemoryFakeObjectStore:
    """A bucket in a dict: key -> StoredObject."""

    def __init__(self) -> None:
        self.objects: dict[str, StoredObject] = {}

    def put(self, key: str, data: bytes, **metadata: str) -> None:
        self.objects[key] = StoredObject(
            BUCKET, key, data, dict(metadata), etag=f"etag-{len(self.objects)}-{key}", size=len(data)
        )

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> StoredObject | None:
        stored = self.objects.get(key)
        if stored is None or max_bytes is None:
            return stored
        return StoredObject(bucket, key, stored.data[:max_bytes], stored.metadata, stored.etag, size=stored.size)

    def head(self, bucket: str, key: str) -> StoredObject | None:
        stored = self.objects.get(key)
        return (
            None if stored is None else StoredObject(bucket, key, b"", stored.metadata, stored.etag, size=stored.size)
        )

    def delete(self, bucket: str, key: str, etag: str | None = None) -> None:
        if etag is not None and (key not in self.objects or self.objects[key].etag != etag):
            raise ObjectChanged(key)
        self.objects.pop(key, None)


class InMemoryFakeRegistry:
    def __init__(self) -> None:
        self.records: dict[str, DocumentRecord] = {}

    def get(self, doc_id: str) -> DocumentRecord | None:
        return self.records.get(doc_id)

    def ingested(self, objects: InMemoryFakeObjectStore, key: str) -> None:
        """What ingest would record for the object now at ``key``."""
        stored = objects.objects[key]
        self.records[document_id(BUCKET, key)] = DocumentRecord(
            document_id(BUCKET, key),
            BUCKET,
            key,
            "indexed",
            version=stored.etag,
            roles=tuple(sorted(stored.metadata["roles"].split(","))),
            owner=stored.metadata.get("owner", ""),
            writers=tuple(sorted(w for w in stored.metadata.get("writers", "").split(",") if w)),
        )


class RecordingFakeSigner:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def presign_put(self, bucket, key, metadata, size, if_match, expires_in) -> str:
        self.calls.append((bucket, key, metadata, size, if_match))
        return f"https://example.invalid/{key}"


@pytest.fixture
def parts():
    objects, registry, signer = InMemoryFakeObjectStore(), InMemoryFakeRegistry(), RecordingFakeSigner()
    service = DocumentsService(registry, objects, signer, DocumentsConfig(bucket=BUCKET, max_object_bytes=1000))
    return service, objects, registry, signer


def caller(user: str, *roles: str) -> Caller:
    return Caller(user, frozenset(roles), "admin")


def request(key: str = "a.md", roles=("staff",), size: int = 10, writers=None) -> UploadRequest:
    return UploadRequest(key, tuple(roles), size, writers)


def refusal(call) -> tuple[int, str]:
    with pytest.raises(Refused) as raised:
        call()
    return raised.value.status, raised.value.code


def test_a_new_document_is_the_callers(parts):
    service, _, _, signer = parts

    grant = service.create_upload(caller("u-alice", "staff"), request(writers=()))

    assert grant.headers == {
        "x-amz-meta-roles": "staff",
        "x-amz-meta-owner": "u-alice",
        "Content-Length": "10",
        "If-None-Match": "*",
    }
    assert signer.calls == [(BUCKET, "a.md", {"roles": "staff", "owner": "u-alice"}, 10, None)]


def test_size_over_the_limit_is_a_bad_request(parts):
    service = parts[0]
    with pytest.raises(BadRequest) as raised:
        service.create_upload(caller("u", "staff"), request(size=1001))
    assert raised.value.code == "too_large"


def test_an_operators_document_is_the_admins(parts):
    service, objects, registry, _ = parts
    objects.put("a.md", b"text", roles="staff")
    registry.ingested(objects, "a.md")

    assert refusal(lambda: service.create_upload(caller("u-alice", "staff"), request())) == (403, "forbidden_write")
    assert refusal(lambda: service.delete(caller("u-alice", "staff"), document_id(BUCKET, "a.md"))) == (
        403,
        "forbidden_write",
    )
    grant = service.create_upload(caller("u-root", "admin"), request())
    assert "x-amz-meta-owner" not in grant.headers  # it stays an operator's document
    service.delete(caller("u-root", "admin"), document_id(BUCKET, "a.md"))
    assert "a.md" not in objects.objects


def test_a_sidecar_that_is_empty_or_too_large_fails_closed(parts):
    service, objects, _, _ = parts
    objects.put("a.md", b"text", roles="staff", owner="u-alice")
    for sidecar in (b"", b" " * (65 * 1024)):
        objects.put("a.md.metadata.json", sidecar)
        assert refusal(lambda: service.create_upload(caller("u-alice", "staff"), request())) == (403, "forbidden_key")


def test_a_sidecar_that_sets_roles_conflicts_with_signed_roles(parts):
    service, objects, _, _ = parts
    objects.put("a.md", b"text", roles="staff", owner="u-alice")
    objects.put("a.md.metadata.json", json.dumps({"metadataAttributes": {"roles": ["staff"]}}).encode())
    assert refusal(lambda: service.create_upload(caller("u-alice", "staff"), request())) == (409, "sidecar_conflict")


def test_a_deleted_object_is_not_deleted_again_and_a_changed_one_is_not_deleted(parts):
    service, objects, registry, _ = parts
    objects.put("a.md", b"text", roles="staff", owner="u-alice")
    registry.ingested(objects, "a.md")
    doc_id = document_id(BUCKET, "a.md")
    objects.delete = lambda bucket, key, etag=None: (_ for _ in ()).throw(ObjectChanged(key))

    assert refusal(lambda: service.delete(caller("u-alice", "staff"), doc_id)) == (409, "changed")


@given(
    owner=st.sampled_from(["", "u-1", "u-2"]),
    writers=st.sets(st.sampled_from(ROLES), max_size=2),
    registry_owner=st.sampled_from(["", "u-1", "u-2"]),
    user=st.sampled_from(["", "u-1", "u-2"]),
    roles=st.sets(st.sampled_from([*ROLES, "admin"]), min_size=1, max_size=3),
)
def test_replace_and_delete_are_allowed_exactly_to_who_may_write_both_bucket_and_registry(
    owner, writers, registry_owner, user, roles
):
    objects, registry = InMemoryFakeObjectStore(), InMemoryFakeRegistry()
    service = DocumentsService(registry, objects, RecordingFakeSigner(), DocumentsConfig(bucket=BUCKET))
    readers = ",".join(ROLES)  # everyone here may read: only writing is in question
    objects.put("a.md", b"text", roles=readers, owner=registry_owner, writers=",".join(sorted(writers)))
    registry.ingested(objects, "a.md")  # the registry describes an older object ...
    objects.put(
        "a.md", b"text", roles=readers, owner=owner, writers=",".join(sorted(writers))
    )  # ... the bucket a newer
    who = caller(user, *roles)
    allowed = all(can_write(o, tuple(writers), user, frozenset(roles), "admin") for o in (owner, registry_owner))
    doc_id = document_id(BUCKET, "a.md")

    def replace() -> None:
        service.create_upload(who, request(roles=sorted(set(roles) & set(ROLES)) or ["staff"]))

    for call in (replace, lambda: service.delete(who, doc_id)):
        try:
            call()
            outcome = "allowed"
        except Refused as refused:
            outcome = refused.code
        assert outcome == ("allowed" if allowed else "forbidden_write")
        objects.put("a.md", b"text", roles=readers, owner=owner, writers=",".join(sorted(writers)))
