"""The audit trail through the query function on moto: a record of every audited request, success or
refusal, readable by admins only with GET /audit, kept when the document goes, and no answer without it
(docs/security.md, "The audit trail")."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlencode

import pytest

from ragline.audit import ANONYMOUS, question_hmac
from ragline.ids import document_id

REVENUE = "# Q3 summary\n\nNorthwind's revenue in Q3 2026 was $14.2 million, up 18% from Q2."
LEAVE = "# Parental leave\n\nEmployees get 16 weeks of fully paid parental leave."
Q3 = document_id("ragline-documents", "finance/q3.md")
LEAVE_ID = document_id("ragline-documents", "hr/leave.md")
QUESTION = "What was the revenue in Q3 2026?"


@pytest.fixture
def corpus(stack):
    stack.put("finance/q3.md", REVENUE, roles=["finance"])
    stack.put("hr/leave.md", LEAVE, roles=["everyone"])
    assert stack.drain() == {"batchItemFailures": []}
    return stack


def audit(stack, **params: str) -> list[dict]:
    """The records GET /audit gives an admin, every page of them."""
    records: list[dict] = []
    while True:
        status, body = stack.request("GET", "/audit?" + urlencode(params), groups=["admin"], user="ada")
        assert status == 200, body
        records += body["records"]
        if body["next_cursor"] is None:
            return records
        params["cursor"] = body["next_cursor"]


def only(records: list[dict], action: str) -> dict:
    (found,) = [record for record in records if record["action"] == action]
    return found


def test_a_query_is_recorded_under_its_user_and_each_document_with_what_was_cited(corpus):
    status, answer = corpus.request("POST", "/query", {"question": QUESTION}, ["finance", "staff"], user="bob")
    assert status == 200 and answer["citations"]
    assert "audit" not in json.dumps(answer).lower() and "question_hmac" not in answer

    (record,) = audit(corpus, user="bob")
    assert (record["action"], record["status"], record["code"]) == ("query", 200, "")
    assert (record["user"], record["username"], record["groups"]) == ("bob", "bob", ["finance", "staff"])
    assert record["at"].endswith("Z") and len(record["at"]) == len("2026-11-25T10:00:00.123Z")
    assert record["request_id"]
    key = Path(os.environ["RAGLINE_AUDIT_KEY_FILE"]).read_bytes()
    assert record["question"] == "" and record["question_hmac"] == question_hmac(key, QUESTION)
    cited = {source["chunk_id"] for source in record["sources"] if source["cited"]}
    assert cited == {citation["chunk_id"] for citation in answer["citations"]}
    assert Q3 in record["documents"]
    assert only(audit(corpus, doc=Q3), "query")["request_id"] == record["request_id"]


def test_a_retrieval_records_every_passage_returned_none_cited(corpus):
    status, body = corpus.request("POST", "/retrieve", {"question": "parental leave"}, ["everyone"], user="eve")
    assert status == 200
    (record,) = audit(corpus, user="eve")
    assert record["action"] == "retrieve"
    assert [s["chunk_id"] for s in record["sources"]] == [r["chunk_id"] for r in body["results"]]
    assert not any(source["cited"] for source in record["sources"])
    assert Q3 not in record["documents"]  # never returned to eve, so not in her record


def test_the_related_passages_of_a_question_not_answered_are_recorded_as_returned_none_cited(corpus):
    question = {"question": "Who won the 1998 football world cup?"}
    status, body = corpus.request("POST", "/query", question, ["everyone"], user="eve")
    assert status == 200 and body["answered"] is False and body["related"]

    (record,) = audit(corpus, user="eve")
    assert [s["chunk_id"] for s in record["sources"]] == [passage["chunk_id"] for passage in body["related"]]
    assert not any(source["cited"] for source in record["sources"])
    assert record["documents"] == [LEAVE_ID]


def test_a_follow_ups_standalone_question_is_recorded_hashed_like_the_question(corpus):
    history = [{"question": QUESTION, "answer": "$14.2 million [1]."}]
    body = {"question": "and in Q2?", "history": history}
    status, answer = corpus.request("POST", "/query", body, ["finance"], user="bob")
    assert status == 200 and answer["standalone_question"] == "What was the revenue in Q2 2026?"

    (record,) = audit(corpus, user="bob")
    key = Path(os.environ["RAGLINE_AUDIT_KEY_FILE"]).read_bytes()
    assert record["question_hmac"] == question_hmac(key, "and in Q2?")
    assert record["standalone_question_hmac"] == question_hmac(key, "What was the revenue in Q2 2026?")
    assert record["standalone_question"] == "" and "$14.2 million" not in json.dumps(record)  # nor the history


def test_questions_are_kept_or_omitted_as_configured(corpus, monkeypatch):
    from ragline.local.lambda_runtime import LocalFunction

    for mode, expected in (("keep", QUESTION), ("omit", "")):
        monkeypatch.setenv("RAGLINE_AUDIT_QUESTIONS", mode)
        corpus.query = LocalFunction("query")
        corpus.request("POST", "/query", {"question": QUESTION}, ["finance"], user=f"u-{mode}")
        (record,) = audit(corpus, user=f"u-{mode}")
        assert (record["question"], record["question_hmac"]) == (expected, "")


def test_a_download_is_recorded_and_so_is_a_refused_one_with_the_id_asked_for(corpus):
    assert corpus.request("GET", f"/documents/{Q3}/download", groups=["finance"], user="bob")[0] == 200
    forbidden = corpus.request("GET", f"/documents/{Q3}/download", groups=["everyone"], user="eve")
    absent = corpus.request("GET", f"/documents/{'f' * 24}/download", groups=["everyone"], user="eve")
    # The refusal says nothing the absent document's does not: the record is for auditors only.
    assert forbidden == absent == (404, {"message": "no such document", "code": "not_found"})

    records = audit(corpus, doc=Q3)
    assert [(r["user"], r["action"], r["status"], r["code"]) for r in records] == [
        ("bob", "download", 200, ""),
        ("eve", "download", 404, "not_found"),
    ]
    assert [r["requested"] for r in audit(corpus, doc="f" * 24)] == ["f" * 24]


def test_upload_grants_are_recorded_granted_or_refused(corpus):
    corpus.put("finance/q9.md.metadata.json", json.dumps({"metadataAttributes": {"roles": ["finance"]}}))
    attempts = [
        ("bob", ["finance"], {"key": "finance/q4.md", "roles": ["finance"], "size": 10}, 200, ""),
        ("eve", ["everyone"], {"key": "finance/q5.md", "roles": ["finance"], "size": 10}, 403, "forbidden_roles"),
        ("bob", ["finance"], {"key": "hr/leave.md", "roles": ["finance"], "size": 10}, 403, "forbidden_key"),
        ("bob", ["finance"], {"key": "finance/q3.md", "roles": ["finance"], "size": 10}, 403, "forbidden_write"),
        ("bob", ["finance"], {"key": "finance/q9.md", "roles": ["finance"], "size": 10}, 409, "sidecar_conflict"),
    ]
    for user, groups, body, status, code in attempts:
        answered = corpus.request("POST", "/documents", body, groups, user=user)
        assert answered[0] == status, answered
        (record,) = [r for r in audit(corpus, user=user) if r["requested"] == body["key"]]
        assert (record["action"], record["status"], record["code"]) == ("upload", status, code)
        assert record["documents"] == [document_id("ragline-documents", body["key"])]


def test_deleting_a_document_keeps_its_audit_history(corpus):
    corpus.request("POST", "/query", {"question": QUESTION}, ["finance"], user="bob")
    corpus.request("GET", f"/documents/{Q3}/download", groups=["finance"], user="bob")
    assert corpus.request("DELETE", f"/documents/{Q3}", groups=["admin"], user="ada")[0] == 202
    assert corpus.drain() == {"batchItemFailures": []}
    assert corpus.record("finance/q3.md").status == "deleted"

    history = [(r["action"], r["status"]) for r in audit(corpus, doc=Q3)]
    assert history == [("query", 200), ("download", 200), ("delete", 202)]


def test_a_refused_delete_is_recorded(corpus):
    status, body = corpus.request("DELETE", f"/documents/{LEAVE_ID}", groups=["everyone"], user="eve")
    assert (status, body["code"]) == (403, "forbidden_write")
    assert only(audit(corpus, doc=LEAVE_ID), "delete")["code"] == "forbidden_write"


def test_bad_requests_and_requests_without_claims_are_recorded(corpus):
    assert corpus.request("POST", "/query", {"question": ""}, ["finance"], user="bob")[0] == 400
    assert corpus.request("POST", "/retrieve", {"question": "x" * 3000}, ["finance"], user="bob")[0] == 400
    assert corpus.request("GET", f"/documents/{Q3}/download", groups=None)[0] == 401

    codes = [(r["action"], r["status"], r["code"]) for r in audit(corpus, user="bob")]
    assert codes == [("query", 400, "invalid_question"), ("retrieve", 400, "question_too_long")]
    assert all(r["question_hmac"] == "" for r in audit(corpus, user="bob"))  # no valid question, none kept
    (anonymous,) = audit(corpus, user=ANONYMOUS)
    assert (anonymous["action"], anonymous["status"], anonymous["documents"]) == ("download", 401, [Q3])


def test_only_admins_read_the_trail_and_every_read_is_recorded(corpus):
    assert corpus.request("GET", f"/audit?doc={Q3}", groups=["finance"], user="bob") == (
        403,
        {"message": "only the admin group may read the audit trail", "code": "forbidden"},
    )
    audit(corpus, doc=Q3)

    refused = only(audit(corpus, user="bob"), "audit")
    assert (refused["status"], refused["code"], refused["requested"]) == (403, "forbidden", f"doc:{Q3}")
    reads = [r for r in audit(corpus, user="ada") if r["action"] == "audit"]
    assert reads[0]["requested"] == f"doc:{Q3}" and reads[0]["status"] == 200
    assert audit(corpus, doc=Q3) == []  # reading a document's trail is not reading the document


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "invalid_subject"),
        (f"doc={Q3}&user=bob", "invalid_subject"),
        ("doc=finance/q3.md", "invalid_doc"),
        ("user=a%20b", "invalid_user"),
        (f"doc={Q3}&since=yesterday", "invalid_since"),
        (f"doc={Q3}&since=2026-11-25&until=2026-11-24", "invalid_range"),
        (f"doc={Q3}&limit=0", "invalid_limit"),
        (f"doc={Q3}&cursor=abc", "invalid_cursor"),
        (f"doc={Q3}&document=x", "invalid_parameter"),
    ],
)
def test_bad_audit_requests_are_400(corpus, query, code):
    status, body = corpus.request("GET", f"/audit?{query}", groups=["admin"], user="ada")
    assert (status, body["code"]) == (400, code), body


def test_a_time_window_and_pages(corpus):
    for _ in range(5):
        corpus.request("POST", "/retrieve", {"question": "parental leave"}, ["everyone"], user="eve")
    everything = audit(corpus, user="eve")
    assert len(everything) == 5 and [r["at"] for r in everything] == sorted(r["at"] for r in everything)
    paged = audit(corpus, user="eve", limit="2")
    assert paged == everything
    later = audit(corpus, user="eve", since=everything[2]["at"])
    assert [r["request_id"] for r in later] == [r["request_id"] for r in everything[2:]]
    assert audit(corpus, user="eve", until=everything[0]["at"]) == []


def _lose_the_audit_table(stack) -> None:
    """Every write to the audit trail fails from now on, as with a table that cannot be reached."""
    import boto3

    boto3.client("dynamodb", region_name=stack.settings.region).delete_table(TableName=stack.settings.audit_table)


def test_no_answer_and_no_download_link_without_its_audit_record(corpus, caplog):
    _lose_the_audit_table(corpus)
    withheld = (500, {"message": "the request could not be recorded in the audit trail; try again",
                      "code": "audit_unavailable"})  # fmt: skip

    assert corpus.request("POST", "/query", {"question": QUESTION}, ["finance"], user="bob") == withheld
    assert corpus.request("POST", "/retrieve", {"question": QUESTION}, ["finance"], user="bob") == withheld
    assert corpus.request("GET", f"/documents/{Q3}/download", groups=["finance"], user="bob") == withheld
    grant = {"key": "finance/q4.md", "roles": ["finance"], "size": 10}
    assert corpus.request("POST", "/documents", grant, ["finance"], user="bob") == withheld


def test_a_delete_done_is_answered_even_when_its_record_is_not_kept_and_the_failure_is_logged(corpus, caplog):
    _lose_the_audit_table(corpus)

    assert corpus.request("DELETE", f"/documents/{Q3}", groups=["admin"], user="ada")[0] == 202
    assert corpus.s3.list_objects_v2(Bucket="ragline-documents", Prefix="finance/q3.md").get("KeyCount") == 0
    (failure,) = [line for line in caplog.records if line.getMessage() == "audit record not written"]
    assert failure.levelname == "ERROR"
    assert failure.audit["action"] == "delete" and failure.audit["documents"] == [Q3]  # type: ignore[attr-defined]
    # A refused delete changed nothing: it is withheld like a read.
    assert corpus.request("DELETE", f"/documents/{LEAVE_ID}", groups=["everyone"], user="eve")[0] == 500


def test_an_inspection_of_the_policy_is_recorded_allowed_or_refused(corpus):
    assert corpus.request("GET", f"/access/documents/{Q3}", groups=["admin"], user="ada")[0] == 200
    assert corpus.request("GET", f"/access/documents/{Q3}", groups=["finance"], user="bob")[0] == 403
    assert corpus.request("GET", "/access/roles?roles=finance", groups=["admin"], user="ada")[0] == 200

    on_document = [(r["user"], r["action"], r["status"]) for r in audit(corpus, doc=Q3)]
    assert on_document == [("ada", "policy", 200), ("bob", "policy", 403)]
    assert [(r["action"], r["status"]) for r in audit(corpus, user="ada") if r["action"] == "policy"] == [
        ("policy", 200),
        ("policy", 200),
    ]
