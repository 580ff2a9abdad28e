"""The documents API's rules (ragline.documents) on in-memory fakes: who may upload, replace and delete."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragline.access import can_write
from ragline.documents import UPLOAD_URL_SECONDS, Caller, DocumentsConfig, DocumentsService, Refused
from ragline.errors import ObjectChanged
from ragline.http_api import BadRequest, UploadRequest
from ragline.ids import document_id
from ragline.models import DocumentRecord
from tests.fakes import FakeDownloadSigner, FakeObjectStore, FakeRegistry, FakeUploadSigner, SignedUpload

BUCKET = "docs"
ROLES = ["staff", "editors", "finance"]


def put(objects: FakeObjectStore, key: str, data: bytes, **metadata: str) -> None:
    objects.put(BUCKET, key, data, metadata)


def ingested(registry: FakeRegistry, objects: FakeObjectStore, key: str) -> None:
    """Record what ingest would for the object now at ``key``, under the document's lease as ingest does."""
    stored = objects.head(BUCKET, key)
    assert stored is not None
    doc_id = document_id(BUCKET, key)
    record = DocumentRecord(
        doc_id,
        BUCKET,
        key,
        "indexed",
        version=stored.version,
        roles=tuple(sorted(stored.metadata["roles"].split(","))),
        owner=stored.metadata.get("owner", ""),
        writers=tuple(sorted(w for w in stored.metadata.get("writers", "").split(",") if w)),
    )
    assert registry.acquire(doc_id, "ingest", until_ms=1, now_ms=0)
    registry.put(record, lease_owner="ingest")
    assert registry.release(doc_id, "ingest")


@pytest.fixture
def parts():
    objects, registry, signer = FakeObjectStore(), FakeRegistry(), FakeUploadSigner()
    service = DocumentsService(
        registry, objects, signer, DocumentsConfig(bucket=BUCKET, max_object_bytes=1000), FakeDownloadSigner()
    )
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
    assert signer.signed == [
        SignedUpload(BUCKET, "a.md", {"roles": "staff", "owner": "u-alice"}, 10, None, UPLOAD_URL_SECONDS)
    ]


def test_size_over_the_limit_is_a_bad_request(parts):
    service = parts[0]
    with pytest.raises(BadRequest) as raised:
        service.create_upload(caller("u", "staff"), request(size=1001))
    assert raised.value.code == "too_large"


def test_an_operators_document_is_the_admins(parts):
    service, objects, registry, _ = parts
    put(objects, "a.md", b"text", roles="staff")
    ingested(registry, objects, "a.md")

    assert refusal(lambda: service.create_upload(caller("u-alice", "staff"), request())) == (403, "forbidden_write")
    assert refusal(lambda: service.delete(caller("u-alice", "staff"), document_id(BUCKET, "a.md"))) == (
        403,
        "forbidden_write",
    )
    grant = service.create_upload(caller("u-root", "admin"), request())
    assert "x-amz-meta-owner" not in grant.headers  # it stays an operator's document
    service.delete(caller("u-root", "admin"), document_id(BUCKET, "a.md"))
    assert objects.head(BUCKET, "a.md") is None


def test_a_sidecar_that_is_empty_or_too_large_fails_closed(parts):
    service, objects, _, _ = parts
    put(objects, "a.md", b"text", roles="staff", owner="u-alice")
    for sidecar in (b"", b" " * (65 * 1024)):
        put(objects, "a.md.metadata.json", sidecar)
        assert refusal(lambda: service.create_upload(caller("u-alice", "staff"), request())) == (403, "forbidden_key")


def test_a_sidecar_that_sets_roles_conflicts_with_signed_roles(parts):
    service, objects, _, _ = parts
    put(objects, "a.md", b"text", roles="staff", owner="u-alice")
    put(objects, "a.md.metadata.json", json.dumps({"metadataAttributes": {"roles": ["staff"]}}).encode())
    assert refusal(lambda: service.create_upload(caller("u-alice", "staff"), request())) == (409, "sidecar_conflict")


def test_a_deleted_object_is_not_deleted_again_and_a_changed_one_is_not_deleted(parts, monkeypatch):
    service, objects, registry, _ = parts
    put(objects, "a.md", b"text", roles="staff", owner="u-alice")
    ingested(registry, objects, "a.md")
    doc_id = document_id(BUCKET, "a.md")
    monkeypatch.setattr(objects, "delete", lambda bucket, key, etag=None: (_ for _ in ()).throw(ObjectChanged(key)))

    assert refusal(lambda: service.delete(caller("u-alice", "staff"), doc_id)) == (409, "changed")


def test_a_replacement_is_bound_to_the_object_checked(parts):
    service, objects, registry, signer = parts
    put(objects, "a.md", b"text", roles="staff", owner="u-alice")
    ingested(registry, objects, "a.md")
    current = objects.head(BUCKET, "a.md")
    assert current is not None

    grant = service.create_upload(caller("u-alice", "staff"), request())

    assert grant.headers["If-Match"] == f'"{current.etag}"' and "If-None-Match" not in grant.headers
    assert signer.signed[-1].if_match == current.etag
    assert grant.headers["x-amz-meta-owner"] == "u-alice"  # a replacement keeps its owner


def test_roles_the_caller_does_not_hold_are_refused_and_named(parts):
    service, _, _, signer = parts

    with pytest.raises(Refused) as raised:
        service.create_upload(caller("u-alice", "staff", "hr"), request(roles=("staff", "finance"), writers=("legal",)))

    assert (raised.value.status, raised.value.code) == (403, "forbidden_roles")
    assert "finance" in raised.value.message and "legal" in raised.value.message
    assert "hr" not in raised.value.message  # never the caller's other roles
    assert signer.signed == []


def test_a_key_holding_what_the_caller_cannot_see_is_refused_and_its_status_is_not_found(parts):
    service, objects, registry, _ = parts
    put(objects, "a.md", b"text", roles="finance", owner="u-bob")
    ingested(registry, objects, "a.md")
    doc_id = document_id(BUCKET, "a.md")

    assert refusal(lambda: service.create_upload(caller("u-eve", "staff"), request())) == (403, "forbidden_key")
    assert refusal(lambda: service.status(caller("u-eve", "staff"), doc_id)) == (404, "not_found")
    assert refusal(lambda: service.status(caller("u-eve", "staff"), document_id(BUCKET, "b.md"))) == (404, "not_found")
    assert refusal(lambda: service.delete(caller("u-eve", "staff"), doc_id)) == (404, "not_found")
    assert service.status(caller("u-bob", "finance"), doc_id).roles == ("finance",)
    assert objects.head(BUCKET, "a.md") is not None


def test_a_document_gone_from_the_bucket_is_deleted_without_another_delete(parts, monkeypatch):
    service, objects, registry, _ = parts
    put(objects, "a.md", b"text", roles="staff", owner="u-alice")
    ingested(registry, objects, "a.md")
    objects.delete(BUCKET, "a.md")  # its removal event has not reached the registry yet
    monkeypatch.setattr(objects, "delete", lambda *args, **kwargs: pytest.fail("deleted twice"))

    service.delete(caller("u-alice", "staff"), document_id(BUCKET, "a.md"))


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
    objects, registry = FakeObjectStore(), FakeRegistry()
    service = DocumentsService(
        registry, objects, FakeUploadSigner(), DocumentsConfig(bucket=BUCKET), FakeDownloadSigner()
    )
    readers = ",".join(ROLES)  # everyone here may read: only writing is in question
    put(objects, "a.md", b"text", roles=readers, owner=registry_owner, writers=",".join(sorted(writers)))
    ingested(registry, objects, "a.md")  # the registry describes an older object ...
    # ... the bucket a newer
    put(objects, "a.md", b"text", roles=readers, owner=owner, writers=",".join(sorted(writers)))
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
        put(objects, "a.md", b"text", roles=readers, owner=owner, writers=",".join(sorted(writers)))
