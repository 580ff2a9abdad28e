"""ragline.client against a fake HTTP API in a thread: what it sends, what it retries, how it fails."""

from __future__ import annotations

import socket

import pytest

from ragline.api_schema import ExplanationBody, SourceBody
from ragline.client import ApiError, ApiUnreachable, Conversation, Document, Passage, RaglineClient, Source
from ragline.client import SearchRank as ClientSearchRank
from ragline.explain import Explanation, FusionPart, FusionStep, MmrStep, NearDuplicate, RerankStep, SearchRank, Span
from ragline.http_api import MAX_HISTORY_ANSWER_CHARS, MAX_HISTORY_TURNS
from ragline.models import Chunk, ConversationTurn, SearchHit
from ragline.retry import RetryPolicy
from tests.fakes.http_api import FakeHttpApi

SOURCE = {
    "id": 1,
    "doc_id": "d" * 24,
    "source": "s3://docs/finance/q3.md",
    "title": "Q3",
    "chunk_id": "c-1",
    "score": 0.5,
    "text": "Revenue was $14.2 million.",
    "page": 2,
}
DOCUMENT = {
    "doc_id": "d" * 24,
    "source": "s3://docs/finance/q3.md",
    "title": "Q3",
    "status": "indexed",
    "chunk_count": 3,
    "error": None,
    "updated_at": "2026-12-01T10:00:00+00:00",
}


@pytest.fixture
def api():
    with FakeHttpApi() as fake:
        yield fake


def client(url: str, pauses: list[float] | None = None, attempts: int = 4) -> RaglineClient:
    """A client whose retries record their pauses instead of sleeping."""
    recorded = pauses if pauses is not None else []
    return RaglineClient(url, "tok", retry=RetryPolicy(attempts=attempts, sleep=recorded.append, rand=lambda: 1.0))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_query_sends_the_question_and_the_token_and_parses_the_answer(api):
    api.answer("POST", "/query", (200, {"answer": "It was $14.2 million [1].", "citations": [SOURCE], "model": "m"}))

    answer = client(api.url).query("What was Q3 revenue?", top_k=3)

    [request] = api.requests
    assert request.json() == {"question": "What was Q3 revenue?", "top_k": 3}
    assert request.headers["Authorization"] == "Bearer tok"
    assert answer.answer == "It was $14.2 million [1]." and answer.model == "m"
    [citation] = answer.citations
    assert (citation.id, citation.page, citation.source, citation.heading_path) == (1, 2, SOURCE["source"], ())


def test_a_question_not_answered_comes_with_its_related_passages(api):
    related = {key: value for key, value in SOURCE.items() if key != "id"}
    body = {"answer": "No answer.", "answered": False, "citations": [], "related": [related], "model": "m"}
    api.answer("POST", "/query", (200, body | {"question": "q", "standalone_question": "q"}))

    answer = client(api.url).query("q")

    assert not answer.answered and answer.citations == []
    [passage] = answer.related
    assert isinstance(passage, Passage) and not isinstance(passage, Source)
    assert (passage.doc_id, passage.page, passage.text) == (SOURCE["doc_id"], 2, SOURCE["text"])


def test_history_sends_the_last_turns_the_api_accepts_with_answers_cut_to_its_bound(api):
    api.answer("POST", "/query", (200, {"answer": "a", "citations": [], "model": "m"}))
    history = [ConversationTurn(f"question {n}?", "x" * (MAX_HISTORY_ANSWER_CHARS + 5)) for n in range(12)]

    client(api.url).query("and then?", history=history)

    sent = api.requests[0].json()["history"]
    assert [turn["question"] for turn in sent] == [f"question {n}?" for n in range(12 - MAX_HISTORY_TURNS, 12)]
    assert {len(turn["answer"]) for turn in sent} == {MAX_HISTORY_ANSWER_CHARS}


def test_a_conversation_sends_back_the_standalone_questions_answered(api):
    answers = [
        {"answer": "35 [1].", "question": "Hires in Q3?", "standalone_question": "Hires in Q3?"},
        {"answer": "40 [1].", "question": "and in Q4?", "standalone_question": "Hires in Q4?"},
    ]
    api.answer("POST", "/query", *((200, {**body, "citations": [], "model": "m"}) for body in answers))
    chat = Conversation(client(api.url))

    chat.ask("Hires in Q3?")
    chat.ask("and in Q4?")

    assert [request.json().get("history") for request in api.requests] == [
        None,
        [{"question": "Hires in Q3?", "answer": "35 [1]."}],
    ]
    assert chat.turns == [ConversationTurn("Hires in Q3?", "35 [1]."), ConversationTurn("Hires in Q4?", "40 [1].")]


def test_retrieve_without_top_k_leaves_it_to_the_api(api):
    api.answer("POST", "/retrieve", (200, {"results": [SOURCE]}))
    [result] = client(api.url).retrieve("revenue")
    assert api.requests[0].json() == {"question": "revenue"}
    assert result.text == SOURCE["text"]


def test_explain_asks_for_explanations_and_parses_them_typed(api):
    explanation = Explanation(
        mode="hybrid+rerank",
        admitted_by=("finance",),
        dense=SearchRank(rank=2, score=0.61),
        lexical=SearchRank(rank=None, score=None),
        fusion=FusionStep("convex", 1.0, (FusionPart("dense", 1.0, 1.0, 1.0), FusionPart("lexical", 1.0, 0.0, 0.0))),
        rerank=RerankStep(score=1.4, rank_before=2, rank_after=1),
        mmr=MmrStep(True, 1, 0.5, displaced=(NearDuplicate("c-2", "e" * 24, "Q3 copy", None, 0.97, 2),)),
        matches=(Span(0, 7, "revenue"),),
    )
    # The body exactly as the query function writes it (ragline.api_schema).
    body = SourceBody.of(1, SearchHit(Chunk("c-1", "d" * 24, "v", SOURCE["text"], "s", "Q3", ("finance",), 0), 1.4))
    result_json = {**SOURCE, "heading_path": [], "explanation": ExplanationBody.of(explanation).model_dump(mode="json")}
    assert set(result_json) == set(body.model_dump())
    api.answer("POST", "/retrieve", (200, {"results": [result_json]}))

    [result] = client(api.url).retrieve("revenue", explain=True)

    assert api.requests[0].json() == {"question": "revenue", "explain": True}
    explained = result.explanation
    assert explained is not None and explained.mode == "hybrid+rerank" and explained.admitted_by == ("finance",)
    assert explained.dense == ClientSearchRank(rank=2, score=0.61) and explained.lexical == ClientSearchRank(None, None)
    assert explained.fusion is not None and [p.contribution for p in explained.fusion.parts] == [1.0, 0.0]
    assert explained.rerank is not None and (explained.rerank.rank_before, explained.rerank.rank_after) == (2, 1)
    assert explained.mmr.step == 1 and explained.mmr.displaced[0].result is None
    assert explained.matches == ((0, 7, "revenue"),)


def test_without_explain_a_result_has_no_explanation(api):
    api.answer("POST", "/query", (200, {"answer": "a", "citations": [{**SOURCE, "explanation": None}], "model": "m"}))
    answer = client(api.url).query("revenue")
    assert api.requests[0].json() == {"question": "revenue"}
    assert answer.citations[0].explanation is None


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_error_is_retried_with_backoff_then_succeeds(api, status):
    api.answer("GET", "/documents/" + "d" * 24, (status, {"message": "Service Unavailable"}), (200, DOCUMENT))
    pauses: list[float] = []

    document = client(api.url, pauses).document("d" * 24)

    assert document == Document.from_json(DOCUMENT)
    assert len(api.requests) == 2 and len(pauses) == 1


def test_a_gateway_error_that_persists_is_raised_with_its_status_after_the_attempts(api):
    api.answer("POST", "/query", (503, {"message": "Service Unavailable"}))
    pauses: list[float] = []

    with pytest.raises(ApiError) as raised:
        client(api.url, pauses, attempts=3).query("q")

    assert (raised.value.status, raised.value.message) == (503, "Service Unavailable")
    assert len(api.requests) == 3
    assert pauses == [0.2, 0.4]  # exponential: RetryPolicy's base delay, doubled


def test_an_api_error_carries_the_status_code_and_message_and_is_not_retried(api):
    body = {"message": "you may read this document but not delete it", "code": "forbidden_write"}
    api.answer("DELETE", "/documents/" + "d" * 24, (403, body))

    with pytest.raises(ApiError) as raised:
        client(api.url).delete("d" * 24)

    error = raised.value
    assert (error.status, error.code, error.message, error.body) == (403, "forbidden_write", body["message"], body)
    assert str(error) == "403 forbidden_write: you may read this document but not delete it"
    assert len(api.requests) == 1


def test_a_body_without_a_code_still_gives_its_message(api):
    api.answer("POST", "/query", (401, {"message": "Unauthorized"}))
    with pytest.raises(ApiError) as raised:
        client(api.url).query("q")
    assert (raised.value.status, raised.value.code, raised.value.message) == (401, "", "Unauthorized")


def test_a_refused_connection_is_retried_then_raised_as_unreachable():
    url = f"http://127.0.0.1:{closed_port()}"
    pauses: list[float] = []

    with pytest.raises(ApiUnreachable) as raised:
        client(url, pauses, attempts=3).query("q")

    assert raised.value.url == url and raised.value.reason == "connection refused"
    assert len(pauses) == 2


def test_documents_sends_the_filters_and_iter_documents_follows_the_cursor(api):
    second = {**DOCUMENT, "doc_id": "e" * 24, "source": "s3://docs/finance/q4.md"}
    api.answer(
        "GET",
        "/documents",
        (200, {"documents": [DOCUMENT], "next_cursor": "page-2"}),
        (200, {"documents": [second], "next_cursor": None}),
    )

    documents = list(client(api.url).iter_documents(status="indexed", prefix="finance/"))

    assert [document.doc_id for document in documents] == ["d" * 24, "e" * 24]
    first, following = (request.query for request in api.requests)
    assert first == {"limit": "100", "status": "indexed", "prefix": "finance/"}
    assert following == {**first, "cursor": "page-2"}


def test_upload_asks_for_a_presigned_put_then_puts_the_file_with_its_signed_headers(api, tmp_path):
    path = tmp_path / "q3.md"
    path.write_text("# Q3\n\nRevenue was $14.2 million.\n")
    signed = {"x-amz-meta-roles": "finance", "Content-Length": str(path.stat().st_size), "If-None-Match": "*"}
    grant = {
        "upload_url": api.url + "/bucket/finance/q3.md?X-Amz-Signature=abc",
        "method": "PUT",
        "headers": signed,
        "key": "finance/q3.md",
        "doc_id": "d" * 24,
        "expires_in": 900,
    }
    api.answer("POST", "/documents", (200, grant))
    api.answer("PUT", "/bucket/finance/q3.md", (200, b""))

    result = client(api.url).upload(path, "finance/q3.md", ["finance"])

    create, put = api.requests
    assert create.json() == {"key": "finance/q3.md", "roles": ["finance"], "size": path.stat().st_size}
    assert put.method == "PUT" and put.body == path.read_bytes()
    assert put.query == {"X-Amz-Signature": "abc"}
    assert {name: put.headers[name] for name in signed} == signed
    assert put.headers["Content-Type"] == "application/octet-stream"  # never a form's
    assert result.doc_id == "d" * 24


def test_a_refused_upload_put_is_an_api_error(api, tmp_path):
    (tmp_path / "a.md").write_text("a")
    grant = {"upload_url": api.url + "/bucket/a.md", "headers": {}, "key": "a.md", "doc_id": "d" * 24}
    api.answer("POST", "/documents", (200, grant))
    api.answer("PUT", "/bucket/a.md", (412, b"<Error>PreconditionFailed</Error>"))

    with pytest.raises(ApiError) as raised:
        client(api.url).upload(tmp_path / "a.md", "a.md", ["staff"])

    assert (raised.value.status, raised.value.code) == (412, "upload_failed")
