"""The admin routes of policy inspection (GET /access/...) through the query handler on moto."""

from __future__ import annotations

import json

import pytest

from ragline.ids import document_id

BUCKET = "ragline-documents"
KEYS = {
    "finance/q3.md": "finance",
    "hr/salaries.md": "hr,everyone",
    "public/handbook.md": "everyone",
}


@pytest.fixture
def corpus(stack, monkeypatch):
    for key, roles in KEYS.items():
        stack.put(key, f"# {key}\n\nSome text about {key}.", roles=roles.split(","))
    assert stack.drain() == {"batchItemFailures": []}
    return stack


def test_admins_see_what_roles_can_see(corpus):
    status, body = corpus.request("GET", "/access/roles?roles=hr,finance", groups=["admin"])
    assert status == 200, body
    assert body["roles"] == ["finance", "hr"] and body["next_cursor"] is None
    assert sorted(d["source"] for d in body["documents"]) == [
        f"s3://{BUCKET}/finance/q3.md",
        f"s3://{BUCKET}/hr/salaries.md",
    ]
    assert all(d["roles"] is not None for d in body["documents"])  # an admin's view: the roles shown


def test_who_may_read_a_document_follows_a_sidecar_before_and_after_re_index(corpus):
    doc_id = document_id(BUCKET, "public/handbook.md")
    status, before = corpus.request("GET", f"/access/documents/{doc_id}", groups=["admin"])
    assert status == 200 and (before["indexed_roles"], before["bucket_roles"], before["pending"]) == (
        ["everyone"],
        ["everyone"],
        False,
    )

    corpus.put("public/handbook.md.metadata.json", json.dumps({"metadataAttributes": {"roles": ["staff"]}}))
    _, changed = corpus.request("GET", f"/access/documents/{doc_id}", groups=["admin"])
    assert (changed["indexed_roles"], changed["bucket_roles"], changed["pending"]) == (["everyone"], ["staff"], True)

    assert corpus.drain() == {"batchItemFailures": []}
    _, applied = corpus.request("GET", f"/access/documents/{doc_id}", groups=["admin"])
    assert (applied["indexed_roles"], applied["bucket_roles"], applied["pending"]) == (["staff"], ["staff"], False)


def test_warnings_flag_sensitive_documents_a_broad_role_reads(stack, monkeypatch):
    monkeypatch.setenv("RAGLINE_SENSITIVE_PREFIXES", "hr/")
    monkeypatch.setenv("RAGLINE_BROAD_ROLES", "everyone")
    from ragline.local.lambda_runtime import LocalFunction

    stack.query = LocalFunction("query")  # read the two settings, as a fresh cold start would
    for key, roles in KEYS.items():
        stack.put(key, f"# {key}\n\nSome text about {key}.", roles=roles.split(","))
    stack.put("notes/orphan.md", "# Orphan\n\nNobody was given this.")
    assert stack.drain() == {"batchItemFailures": []}

    status, body = stack.request("GET", "/access/warnings", groups=["admin"])

    assert status == 200, body
    assert {(w["kind"], w["source"], tuple(w["roles"])) for w in body["warnings"]} == {
        ("sensitive_and_broad", f"s3://{BUCKET}/hr/salaries.md", ("everyone",)),
        ("visible_to_nobody", f"s3://{BUCKET}/notes/orphan.md", ()),
    }


@pytest.mark.parametrize(
    "path",
    ["/access/roles?roles=finance", "/access/warnings", f"/access/documents/{document_id(BUCKET, 'finance/q3.md')}"],
)
def test_nobody_but_admins_may_inspect(corpus, path):
    assert corpus.request("GET", path, groups=["finance", "hr", "everyone"]) == (
        403,
        {"message": "only the admin group may inspect the access policy", "code": "forbidden"},
    )
    assert corpus.request("GET", path, groups=None)[0] == 401


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "invalid_roles"),
        ("roles=", "invalid_roles"),
        ("roles=a%20b", "invalid_roles"),
        ("roles=a&x=1", "invalid_parameter"),
    ],
)
def test_bad_role_queries_get_400(corpus, query, code):
    status, body = corpus.request("GET", f"/access/roles?{query}", groups=["admin"])
    assert (status, body["code"]) == (400, code)
