"""The documents API on moto: presigned uploads that carry their roles, and deletes, with access control."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ragline.ids import document_id

BUCKET = "ragline-documents"
REVENUE = "# Q3 summary\n\nNorthwind's revenue in Q3 2026 was $14.2 million, up 18% from Q2."
CATHODE = "# Cathode report\n\nThe NW-412 cathode retained 91.4% of its capacity after 2,000 cycles."


@pytest.fixture
def corpus(stack):
    stack.put("finance/q3.md", REVENUE, roles=["finance"])
    stack.put("research/cathode.md", CATHODE, roles=["research"])
    assert stack.drain() == {"batchItemFailures": []}
    return stack


def presign(
    stack, key: str, roles: list[str], groups: list[str], user: str = "alice", size: int = 100, writers=None
) -> tuple[int, dict]:
    body = {"key": key, "roles": roles, "size": size, **({} if writers is None else {"writers": writers})}
    return stack.request("POST", "/documents", body, groups, user=user)


def upload_as(stack, user: str, groups: list[str], key: str, text: str, roles: list[str], writers=None) -> str:
    """Upload through the API as ``user`` and ingest it; returns the doc_id."""
    status, body = presign(stack, key, roles, groups, user=user, size=len(text.encode()), writers=writers)
    assert status == 200, body
    assert upload(body, text) == 200
    assert stack.drain() == {"batchItemFailures": []}
    return body["doc_id"]


def test_a_caller_gets_a_presigned_put_that_signs_the_roles_header(stack):
    status, body = presign(stack, "finance/q4.md", ["finance"], ["finance", "staff"])

    assert status == 200, body
    assert body["method"] == "PUT"
    assert body["headers"] == {
        "x-amz-meta-roles": "finance",
        "x-amz-meta-owner": "alice",  # the caller's sub
        "Content-Length": "100",
        "If-None-Match": "*",  # the key is free
    }
    assert body["key"] == "finance/q4.md"
    assert body["doc_id"] == document_id(BUCKET, "finance/q4.md")
    assert body["expires_in"] == 900
    url = urlsplit(body["upload_url"])
    assert BUCKET in url.netloc + url.path and url.path.endswith("/finance/q4.md")
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "900"
    # The headers are signed: an upload without them, with other roles, another owner or another length
    # does not match the signature. (moto checks no signature: this is what S3 enforces, so it is tested here.)
    assert set(query["X-Amz-SignedHeaders"].split(";")) == {
        "host",
        "x-amz-meta-roles",
        "x-amz-meta-owner",
        "content-length",
        "if-none-match",
    }
    assert query["X-Amz-Signature"]


def test_the_upload_through_the_url_is_indexed_with_its_roles(stack):
    _, body = presign(stack, "finance/q3.md", ["finance"], ["finance"], size=len(REVENUE.encode()))

    # moto's mock intercepts requests' HTTP calls to AWS, so the presigned URL is used as a client would.
    response = requests.put(body["upload_url"], data=REVENUE.encode(), headers=body["headers"], timeout=10)

    assert response.status_code == 200, response.text
    head = stack.s3.head_object(Bucket=BUCKET, Key="finance/q3.md")
    assert head["Metadata"] == {"roles": "finance", "owner": "alice"}
    assert stack.drain() == {"batchItemFailures": []}
    record = stack.ingest.module.ingestor().registry.get(body["doc_id"])
    assert (record.owner, record.writers) == ("alice", ())
    status, answer = stack.request("POST", "/query", {"question": "What was the revenue in Q3 2026?"}, ["finance"])
    assert status == 200 and "14.2 million" in answer["answer"]
    status, answer = stack.request("POST", "/query", {"question": "What was the revenue in Q3 2026?"}, ["research"])
    assert status == 200 and "$14.2 million" not in json.dumps(answer)


def upload(body: dict, text: str) -> int:
    return requests.put(body["upload_url"], data=text.encode(), headers=body["headers"], timeout=10).status_code


def test_a_url_for_a_free_key_does_not_overwrite_what_someone_put_there_since(stack):
    _, body = presign(stack, "finance/q4.md", ["finance"], ["finance"], size=len(REVENUE.encode()))
    stack.put("finance/q4.md", CATHODE, roles=["research"])  # someone else, between the check and the upload

    assert upload(body, REVENUE) == 412
    assert stack.s3.head_object(Bucket=BUCKET, Key="finance/q4.md")["Metadata"] == {"roles": "research"}


def test_a_url_replaces_only_the_object_that_was_checked(corpus):
    size = len(REVENUE.encode())
    _, body = presign(corpus, "finance/q3.md", ["finance"], ["admin"], size=size)
    assert set(body["headers"]) == {"x-amz-meta-roles", "Content-Length", "If-Match"}  # an operator's: no owner
    corpus.put("finance/q3.md", CATHODE, roles=["research"])  # replaced in between: not what was checked

    assert upload(body, REVENUE) == 412

    assert corpus.drain() == {"batchItemFailures": []}
    _, fresh = presign(corpus, "finance/q3.md", ["research"], ["admin"], size=size)
    assert upload(fresh, REVENUE) == 200
    assert upload(fresh, REVENUE) == 412  # once: the object it was bound to is gone


def test_roles_are_sorted_and_deduplicated_into_the_header(stack):
    status, body = presign(stack, "shared/plan.md", ["research", "finance", "research"], ["finance", "research"])

    assert status == 200
    assert body["headers"]["x-amz-meta-roles"] == "finance,research"


def test_a_caller_may_not_assign_a_role_it_does_not_hold(stack):
    status, body = presign(stack, "finance/q4.md", ["finance", "board"], ["finance", "secret-project"])

    assert status == 403
    assert body["code"] == "forbidden_roles"
    assert "board" in body["message"]
    assert "secret-project" not in body["message"] and "finance" not in body["message"]


def test_a_caller_without_roles_may_assign_none(stack):
    assert presign(stack, "a.md", ["finance"], [])[0] == 403


def test_an_admin_may_assign_any_role(stack):
    status, body = presign(stack, "board/minutes.md", ["board", "finance"], ["admin"])

    assert status == 200
    assert body["headers"]["x-amz-meta-roles"] == "board,finance"


def test_a_caller_may_not_replace_a_document_it_cannot_see(corpus):
    status, body = presign(corpus, "finance/q3.md", ["research"], ["research"])

    assert status == 403
    assert body == {"message": "you may not upload to this key", "code": "forbidden_key"}
    assert "$14.2 million" not in json.dumps(body)


def test_reading_a_document_put_into_s3_does_not_allow_replacing_it(corpus):
    assert presign(corpus, "finance/q3.md", ["finance"], ["finance"]) == (
        403,
        {"message": "you may read this document but not replace it", "code": "forbidden_write"},
    )
    assert presign(corpus, "finance/q3.md", ["research"], ["admin"])[0] == 200


def test_the_owner_replaces_a_reader_does_not_a_writer_role_does(stack):
    upload_as(stack, "alice", ["staff", "editors"], "public/handbook.md", REVENUE, ["staff"], writers=["editors"])

    assert presign(stack, "public/handbook.md", ["staff"], ["staff"], user="eve")[1]["code"] == "forbidden_write"
    status, body = presign(stack, "public/handbook.md", ["staff"], ["staff"], user="alice")
    assert status == 200 and body["headers"]["x-amz-meta-owner"] == "alice"
    status, body = presign(stack, "public/handbook.md", ["staff"], ["staff", "editors"], user="bob")
    assert status == 200
    # A writer's replacement keeps the owner and the writers; only the owner or an admin changes writers.
    assert (body["headers"]["x-amz-meta-owner"], body["headers"]["x-amz-meta-writers"]) == ("alice", "editors")
    status, body = presign(stack, "public/handbook.md", ["staff"], ["staff", "editors"], user="bob", writers=["staff"])
    assert (status, body["code"]) == (403, "forbidden_writers")
    status, body = presign(stack, "public/handbook.md", ["staff"], ["staff", "editors"], user="alice", writers=[])
    assert status == 200 and "x-amz-meta-writers" not in body["headers"]


def test_writer_roles_must_be_held_like_reader_roles(stack):
    status, body = presign(stack, "a.md", ["staff"], ["staff"], writers=["editors"])
    assert (status, body["code"]) == (403, "forbidden_roles")


def test_the_bucket_is_checked_as_well_as_the_registry(stack):
    """The registry says alice owns it, but the object in the bucket now is an operator's: admins only."""
    upload_as(stack, "alice", ["staff"], "notes.md", REVENUE, ["staff"])
    stack.put("notes.md", CATHODE, roles=["staff"])  # an operator's overwrite, its ingest not yet run

    assert presign(stack, "notes.md", ["staff"], ["staff"], user="alice")[1]["code"] == "forbidden_write"
    doc_id = document_id(BUCKET, "notes.md")
    assert stack.request("DELETE", f"/documents/{doc_id}", groups=["staff"], user="alice")[0] == 403
    assert stack.s3.head_object(Bucket=BUCKET, Key="notes.md")["Metadata"] == {"roles": "staff"}


def test_an_upload_over_the_size_limit_is_refused(stack):
    status, body = presign(stack, "big.pdf", ["staff"], ["staff"], size=stack.settings.max_object_bytes + 1)
    assert (status, body["code"]) == (400, "too_large")
    assert presign(stack, "big.pdf", ["staff"], ["staff"], size=stack.settings.max_object_bytes)[0] == 200


def test_an_empty_sidecar_fails_closed_and_never_500(stack):
    stack.put("finance/q4.md", REVENUE, roles=["finance"])
    stack.put("finance/q4.md.metadata.json", b"")

    assert presign(stack, "finance/q4.md", ["finance"], ["finance"])[0] == 403  # visible to nobody, as in ingest
    assert presign(stack, "finance/q4.md", ["finance"], ["admin"])[1]["code"] == "sidecar_conflict"


def test_a_deleted_document_key_may_be_reused(corpus):
    corpus.delete("finance/q3.md")
    assert corpus.drain() == {"batchItemFailures": []}

    assert presign(corpus, "finance/q3.md", ["research"], ["research"])[0] == 200


def test_a_document_still_being_ingested_is_not_taken_over(stack):
    stack.put("finance/q4.md", REVENUE, roles=["finance"])  # uploaded, its ingest not yet run

    assert presign(stack, "finance/q4.md", ["research"], ["research"])[1]["code"] == "forbidden_key"
    assert presign(stack, "finance/q4.md", ["finance"], ["finance"])[1]["code"] == "forbidden_write"  # an operator's
    assert presign(stack, "finance/q4.md", ["finance"], ["admin"])[0] == 200


def test_a_key_under_a_broken_sidecar_is_refused_to_everyone(stack):
    stack.put("finance/q4.md", REVENUE, roles=["finance"])
    stack.put("finance/q4.md.metadata.json", "not json")

    assert presign(stack, "finance/q4.md", ["finance"], ["finance"])[0] == 403  # fails closed, as ingest does
    status, body = presign(stack, "finance/q4.md", ["finance"], ["admin"])
    assert (status, body["code"]) == (409, "sidecar_conflict")  # an admin learns why, and can fix the sidecar


def test_a_sidecar_alone_is_not_disclosed_to_a_caller_outside_its_roles(stack):
    stack.put("board/minutes.md.metadata.json", json.dumps({"metadataAttributes": {"roles": ["board"]}}))

    status, body = presign(stack, "board/minutes.md", ["finance"], ["finance"])

    assert (status, body) == (403, {"message": "you may not upload to this key", "code": "forbidden_key"})


def test_a_sidecar_that_sets_no_roles_overrides_nothing(stack):
    stack.put("finance/q4.md.metadata.json", json.dumps({"metadataAttributes": {"year": 2026}}))

    assert presign(stack, "finance/q4.md", ["finance"], ["finance"])[0] == 200


def test_roles_a_sidecar_would_override_are_not_signed(stack):
    upload_as(stack, "alice", ["finance"], "finance/q3.md", REVENUE, ["finance"])
    stack.put("finance/q3.md.metadata.json", json.dumps({"metadataAttributes": {"roles": ["finance", "board"]}}))

    status, body = presign(stack, "finance/q3.md", ["finance"], ["finance"], user="alice")

    assert status == 409
    assert body == {
        "message": "the roles of this key are set by finance/q3.md.metadata.json; change or delete it, then upload",
        "code": "sidecar_conflict",
    }


def test_a_delete_is_bound_to_the_object_checked(stack, monkeypatch):
    """An object replaced between the check and the delete is not deleted (S3's conditional delete)."""
    doc_id = upload_as(stack, "alice", ["finance"], "finance/q3.md", REVENUE, ["finance"])
    documents = stack.query.module.services().documents
    real_head = documents.objects.head

    def head_then_replaced(bucket, key):
        seen = real_head(bucket, key)
        stack.s3.put_object(Bucket=bucket, Key=key, Body=b"# New", Metadata={"roles": "finance", "owner": "alice"})
        return seen

    monkeypatch.setattr(documents.objects, "head", head_then_replaced)
    status, body = stack.request("DELETE", f"/documents/{doc_id}", groups=["finance"], user="alice")

    assert (status, body["code"]) == (409, "changed")
    assert stack.s3.get_object(Bucket=BUCKET, Key="finance/q3.md")["Body"].read() == b"# New"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (None, "missing_body"),
        ("{not json", "invalid_json"),
        ("[1]", "invalid_body"),
        ({"roles": ["finance"]}, "invalid_key"),
        ({"key": "", "roles": ["finance"]}, "invalid_key"),
        ({"key": 7, "roles": ["finance"]}, "invalid_key"),
        ({"key": "/abs.md", "roles": ["finance"]}, "invalid_key"),
        ({"key": "folder/", "roles": ["finance"]}, "invalid_key"),
        ({"key": "a/../b.md", "roles": ["finance"]}, "invalid_key"),
        ({"key": "..", "roles": ["finance"]}, "invalid_key"),
        ({"key": "a/./b.md", "roles": ["finance"]}, "invalid_key"),
        ({"key": "a.md.metadata.json", "roles": ["finance"]}, "invalid_key"),
        ({"key": "a\nb.md", "roles": ["finance"]}, "invalid_key"),
        ({"key": "a\x00b.md", "roles": ["finance"]}, "invalid_key"),
        ({"key": "a\x7fb.md", "roles": ["finance"]}, "invalid_key"),
        ({"key": "\ud800.md", "roles": ["finance"]}, "invalid_key"),
        ({"key": "x" * 1025, "roles": ["finance"]}, "invalid_key"),
        ({"key": "é" * 513, "roles": ["finance"]}, "invalid_key"),  # 1026 bytes in UTF-8
        ({"key": "a.md"}, "invalid_roles"),
        ({"key": "a.md", "roles": []}, "invalid_roles"),
        ({"key": "a.md", "roles": "finance"}, "invalid_roles"),
        ({"key": "a.md", "roles": [""]}, "invalid_roles"),
        ({"key": "a.md", "roles": [3]}, "invalid_roles"),
        ({"key": "a.md", "roles": ["fin,ance"]}, "invalid_roles"),
        ({"key": "a.md", "roles": ["fin ance"]}, "invalid_roles"),
        ({"key": "a.md", "roles": ["x" * 65]}, "invalid_roles"),
        ({"key": "a.md", "roles": [f"r{i}" for i in range(21)]}, "invalid_roles"),
        ({"key": "a.md", "roles": ["a"]}, "invalid_size"),
        ({"key": "a.md", "roles": ["a"], "size": 0}, "invalid_size"),
        ({"key": "a.md", "roles": ["a"], "size": "10"}, "invalid_size"),
        ({"key": "a.md", "roles": ["a"], "size": True}, "invalid_size"),
        ({"key": "a.md", "roles": ["a"], "size": 1, "writers": "a"}, "invalid_writers"),
        ({"key": "a.md", "roles": ["a"], "size": 1, "writers": ["a,b"]}, "invalid_writers"),
    ],
)
def test_bad_upload_requests_get_400_with_a_code(stack, body, code):
    status, answer = stack.request("POST", "/documents", body, ["admin"])

    assert status == 400, answer
    assert answer["code"] == code and answer["message"]


def test_limits_are_inclusive(stack):
    assert presign(stack, "x" * 1024, ["admin"], ["admin"])[0] == 200
    assert presign(stack, "a.md", ["x" * 64, *[f"r{i}" for i in range(19)]], ["admin"])[0] == 200
    assert presign(stack, "dir/file.with.dots..md", ["a.b:c-d_e"], ["admin"])[0] == 200


def test_upload_needs_a_token(stack):
    assert stack.request("POST", "/documents", {"key": "a.md", "roles": ["x"]}, groups=None)[0] == 401


def test_the_owner_deletes_a_document_a_reader_may_not(stack):
    doc_id = upload_as(stack, "alice", ["finance"], "finance/q3.md", REVENUE, ["finance"])
    assert stack.request("GET", f"/documents/{doc_id}", groups=["finance"], user="alice")[1]["can_write"] is True
    assert stack.request("GET", f"/documents/{doc_id}", groups=["finance"], user="eve")[1]["can_write"] is False

    assert stack.request("DELETE", f"/documents/{doc_id}", groups=["finance"], user="eve") == (
        403,
        {"message": "you may read this document but not delete it", "code": "forbidden_write"},
    )
    status, body = stack.request("DELETE", f"/documents/{doc_id}", groups=["finance"], user="alice")

    assert (status, body) == (202, {"doc_id": doc_id, "status": "deleting"})
    corpus = stack
    assert "Contents" not in corpus.s3.list_objects_v2(Bucket=BUCKET, Prefix="finance/")
    assert corpus.drain() == {"batchItemFailures": []}
    assert corpus.request("GET", f"/documents/{doc_id}", groups=["finance"])[1]["status"] == "deleted"
    _, answer = corpus.request("POST", "/retrieve", {"question": "revenue in Q3 2026"}, ["finance"])
    assert answer == {"results": []}


def test_a_document_the_caller_cannot_see_is_not_found_and_stays(corpus):
    doc_id = document_id(BUCKET, "finance/q3.md")

    delete = corpus.request("DELETE", f"/documents/{doc_id}", groups=["research"])
    absent = corpus.request("DELETE", f"/documents/{document_id(BUCKET, 'no/such.md')}", groups=["research"])

    assert delete == absent == (404, {"message": "no such document", "code": "not_found"})
    assert delete == corpus.request("GET", f"/documents/{doc_id}", groups=["research"])
    assert corpus.s3.head_object(Bucket=BUCKET, Key="finance/q3.md")["Metadata"] == {"roles": "finance"}


def test_an_admin_deletes_any_document(corpus):
    doc_id = document_id(BUCKET, "research/cathode.md")

    assert corpus.request("DELETE", f"/documents/{doc_id}", groups=["admin"])[0] == 202
    assert "Contents" not in corpus.s3.list_objects_v2(Bucket=BUCKET, Prefix="research/")


@pytest.mark.parametrize("doc_id", ["abc", "..", "A" * 24, "0" * 25, "%2e%2e"])
def test_a_malformed_document_id_is_not_found(corpus, doc_id):
    assert corpus.request("DELETE", f"/documents/{doc_id}", groups=["admin"]) == (
        404,
        {"message": "no such document", "code": "not_found"},
    )


def test_delete_needs_a_token(corpus):
    doc_id = document_id(BUCKET, "finance/q3.md")
    assert corpus.request("DELETE", f"/documents/{doc_id}", groups=None)[0] == 401
