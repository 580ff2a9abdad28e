"""The query function on moto: the HTTP API's routes, validation and access control."""

from __future__ import annotations

import json

import pytest

from ragline.ids import document_id
from ragline.models import NO_ANSWER
from tests.conftest import load_event

CATHODE = "# Cathode report\n\nThe NW-412 cathode retained 91.4% of its capacity after 2,000 cycles."
REVENUE = "# Q3 summary\n\nNorthwind's revenue in Q3 2026 was $14.2 million, up 18% from Q2."
LEAVE = "# Parental leave\n\nEmployees get 16 weeks of fully paid parental leave."


@pytest.fixture
def corpus(stack):
    stack.put("research/cathode.md", CATHODE, roles=["research"])
    stack.put("finance/q3.md", REVENUE, roles=["finance"])
    stack.put("hr/leave.md", LEAVE, roles=["everyone"])
    assert stack.drain() == {"batchItemFailures": []}
    return stack


def test_health_needs_no_token(stack):
    assert stack.request("GET", "/health") == (200, {"status": "ok"})


def test_query_answers_with_citations_from_permitted_documents(corpus):
    status, body = corpus.request("POST", "/query", {"question": "What was the revenue in Q3 2026?"}, ["finance"])

    assert status == 200
    assert "14.2 million" in body["answer"]
    assert body["citations"], body
    citation = body["citations"][0]
    assert citation["source"] == "s3://ragline-documents/finance/q3.md"
    assert citation["doc_id"] == document_id("ragline-documents", "finance/q3.md")
    assert f"[{citation['id']}]" in body["answer"]
    assert {"id", "doc_id", "source", "title", "chunk_id", "score", "text"} <= set(citation)
    assert body["model"] == "extractive"
    assert set(body["timings_ms"]) >= {"embed", "knn", "bm25", "generate"}


def test_a_caller_without_the_role_gets_no_trace_of_the_document(corpus):
    for route in ("/query", "/retrieve"):
        status, body = corpus.request("POST", route, {"question": "What was the revenue in Q3 2026?"}, ["everyone"])
        assert status == 200
        text = json.dumps(body)
        assert "$14.2 million" not in text and "finance/q3.md" not in text
        assert document_id("ragline-documents", "finance/q3.md") not in text


def test_roles_in_the_body_or_headers_are_ignored(corpus):
    event = load_event("apigw-query-roles-in-body.json")  # mallory, group "everyone", smuggling "finance"

    response = corpus.query.invoke(event)

    assert response["statusCode"] == 200
    assert "finance/q3.md" not in response["body"] and "$14.2 million" not in response["body"]


def test_sample_query_event_from_a_research_user(corpus):
    response = corpus.query.invoke(load_event("apigw-query-research.json"))

    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert [c["source"] for c in body["citations"]] == ["s3://ragline-documents/research/cathode.md"]


def test_a_request_without_authorizer_claims_is_refused(corpus):
    assert corpus.request("POST", "/query", {"question": "revenue?"}, groups=None)[0] == 401
    assert corpus.request("GET", "/documents/abc", groups=None)[0] == 401


def test_retrieve_returns_ranked_visible_passages(corpus):
    status, body = corpus.request("POST", "/retrieve", {"question": "parental leave weeks", "top_k": 2}, ["everyone"])

    assert status == 200
    assert [r["id"] for r in body["results"]] == [1]  # one visible document has one chunk
    assert body["results"][0]["source"].endswith("hr/leave.md")


def test_explain_gives_each_result_and_citation_how_it_got_there(corpus):
    question = {"question": "What was revenue in Q3?", "top_k": 3}
    status, plain = corpus.request("POST", "/retrieve", question, ["finance", "everyone"])
    assert status == 200 and all(result["explanation"] is None for result in plain["results"])

    status, body = corpus.request("POST", "/retrieve", {**question, "explain": True}, ["finance", "everyone"])
    assert status == 200
    assert [r["chunk_id"] for r in body["results"]] == [r["chunk_id"] for r in plain["results"]]
    first = body["results"][0]
    assert first["source"].endswith("finance/q3.md")
    explanation = first["explanation"]
    assert explanation["mode"] == corpus.settings.retrieval_mode
    assert explanation["admitted_by"] == ["finance"]
    assert explanation["lexical"]["rank"] == 1 and explanation["dense"]["rank"] is not None
    assert explanation["fusion"]["score"] == pytest.approx(
        sum(p["contribution"] for p in explanation["fusion"]["parts"])
    )
    final = explanation["rerank"] if explanation["mode"] == "hybrid+rerank" else explanation["fusion"]
    assert final["score"] == first["score"]
    matched = {first["text"][span["start"] : span["end"]].lower() for span in explanation["matches"]}
    assert {"revenue", "q3"} <= matched

    status, answer = corpus.request("POST", "/query", {**question, "explain": True}, ["finance", "everyone"])
    assert status == 200 and answer["citations"]
    assert all(citation["explanation"]["admitted_by"] for citation in answer["citations"])


def test_an_unanswerable_question_is_declined_without_citations(corpus):
    status, body = corpus.request("POST", "/query", {"question": "Who won the 1998 football world cup?"}, ["everyone"])

    assert status == 200
    assert body["citations"] == []
    assert body["answer"] == NO_ANSWER and body["answered"] is False
    # The decline shows what was searched, of what the caller may see: only the leave policy, unnumbered.
    assert body["related"], body
    assert {passage["source"] for passage in body["related"]} == {"s3://ragline-documents/hr/leave.md"}
    assert all("id" not in passage for passage in body["related"])
    assert "access" not in body["answer"] and "permission" not in body["answer"]


def test_an_answer_lists_no_related_passages(corpus):
    status, body = corpus.request("POST", "/query", {"question": "What was the revenue in Q3 2026?"}, ["finance"])

    assert status == 200 and body["answered"] is True and body["citations"]
    assert body["related"] == []
    assert body["question"] == body["standalone_question"] == "What was the revenue in Q3 2026?"


def test_a_follow_up_is_rewritten_and_retrieved_with_the_callers_roles_of_this_turn(corpus):
    history = [{"question": "What was the revenue in Q3 2026?", "answer": "$14.2 million [1]."}]

    status, body = corpus.request("POST", "/query", {"question": "and in Q2?", "history": history}, ["finance"])
    assert status == 200
    assert body["question"] == "and in Q2?"
    assert body["standalone_question"] == "What was the revenue in Q2 2026?"
    assert [c["source"] for c in body["citations"]] == ["s3://ragline-documents/finance/q3.md"]

    # The same history from a caller without the finance role: its own roles decide, not the conversation's.
    status, body = corpus.request("POST", "/query", {"question": "and in Q2?", "history": history}, ["everyone"])
    assert status == 200
    text = json.dumps(body)
    assert "finance/q3.md" not in text and document_id("ragline-documents", "finance/q3.md") not in text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (None, "missing_body"),
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_body"),
        ({}, "invalid_question"),
        ({"question": ""}, "invalid_question"),
        ({"question": 42}, "invalid_question"),
        ({"question": "x" * 2001}, "question_too_long"),
        ({"question": "ok", "top_k": 0}, "invalid_top_k"),
        ({"question": "ok", "top_k": 21}, "invalid_top_k"),
        ({"question": "ok", "top_k": "5"}, "invalid_top_k"),
        ({"question": "ok", "top_k": True}, "invalid_top_k"),
        ({"question": "ok", "top_k": 2.5}, "invalid_top_k"),
        ({"question": "ok", "explain": "true"}, "invalid_explain"),
        ({"question": "ok", "explain": 1}, "invalid_explain"),
        ({"question": "ok", "explain": None}, "invalid_explain"),
        ({"question": "ok", "history": "earlier"}, "invalid_history"),
        ({"question": "ok", "history": [{"answer": "no question"}]}, "invalid_history"),
        ({"question": "ok", "history": [{"question": "q", "answer": 3}]}, "invalid_history"),
        ({"question": "ok", "history": [{"question": "q", "roles": ["finance"]}]}, "invalid_history"),
        ({"question": "ok", "history": [{"question": "q"}] * 11}, "history_too_long"),
        ({"question": "ok", "history": [{"question": "q", "answer": "a" * 2001}]}, "history_too_long"),
        ({"question": "ok", "history": [{"question": "q" * 2001}]}, "history_too_long"),
        ("x" * 20000, "body_too_large"),
        ("[" * 5000, "invalid_json"),
        ('{"question": "\\ud800 revenue"}', "invalid_question"),
    ],
)
def test_bad_requests_get_400_with_a_message_and_code(stack, body, code):
    routes = ("/query",) if "history" in str(body) else ("/query", "/retrieve")  # only /query converses
    for route in routes:
        status, response = stack.request("POST", route, body, ["everyone"])
        assert status == 400
        assert response["code"] == code
        assert response["message"]


def test_document_status_is_visible_only_to_its_roles(corpus):
    doc_id = document_id("ragline-documents", "finance/q3.md")

    status, body = corpus.request("GET", f"/documents/{doc_id}", groups=["finance"])
    assert status == 200
    assert body["status"] == "indexed" and body["chunk_count"] >= 1 and body["doc_id"] == doc_id

    assert body["roles"] is None  # they name other groups: admins only
    hidden = corpus.request("GET", f"/documents/{doc_id}", groups=["everyone"])
    absent = corpus.request("GET", "/documents/000000000000000000000000", groups=["everyone"])
    malformed = corpus.request("GET", "/documents/" + "a" * 3000, groups=["everyone"])
    assert hidden == absent == malformed == (404, {"message": "no such document", "code": "not_found"})


def test_admins_see_every_document_status_with_its_roles(corpus):
    doc_id = document_id("ragline-documents", "finance/q3.md")
    status, body = corpus.request("GET", f"/documents/{doc_id}", groups=["admin"])
    assert status == 200 and body["roles"] == ["finance"]


def test_document_status_of_a_failed_document_carries_the_reason(stack):
    stack.put("reports/empty.txt", b"", roles=["research"])
    stack.drain()

    status, body = stack.request(
        "GET", f"/documents/{document_id('ragline-documents', 'reports/empty.txt')}", groups=["research"]
    )
    assert status == 200
    assert body["status"] == "failed" and "empty" in body["error"]


def test_an_unknown_route_is_a_404_not_a_500(stack):
    response = stack.query.invoke(
        {**load_event("apigw-health.json"), "path": "/nope", "resource": "/nope", "httpMethod": "GET"}
    )
    assert response["statusCode"] == 404


def test_an_answer_model_that_is_down_is_a_503_the_client_may_retry(monkeypatch, request):
    """RAGLINE_GENERATOR=openai pointed at a port nobody listens on: the generator's retries run out, and
    the caller gets 503 (worth retrying), not a bare 500, and no word of which service failed."""
    import socket

    with socket.socket() as probe:  # a free port, closed again: connections to it are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAGLINE_GENERATOR", "openai")
    monkeypatch.setenv("RAGLINE_OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("RAGLINE_OPENAI_MODEL", "a-model")
    monkeypatch.setenv("RAGLINE_OPENAI_TIMEOUT_SECONDS", "1")
    stack = request.getfixturevalue("stack")
    stack.put("hr/leave.md", LEAVE, roles=["everyone"])
    assert stack.drain() == {"batchItemFailures": []}

    status, body = stack.request("POST", "/query", {"question": "How long is parental leave?"}, ["everyone"])

    assert (status, body["code"]) == (503, "unavailable")
    assert "127.0.0.1" not in body["message"] and "openai" not in body["message"].lower()
    # Retrieval needs no model: the passages are still there.
    status, body = stack.request("POST", "/retrieve", {"question": "How long is parental leave?"}, ["everyone"])
    assert status == 200 and body["results"]
