"""The ``ragline`` command against a fake HTTP API: the document commands, and one line (no traceback) for a
stack that is not there or does not answer."""

from __future__ import annotations

import argparse
import io
import json
import socket

import pytest

from ragline import __version__
from ragline.api_schema import SourceBody
from ragline.cli import _parser, main
from ragline.explain import Explanation, FusionPart, FusionStep, MmrStep, NearDuplicate, RerankStep, SearchRank, Span
from ragline.ids import document_id
from ragline.local.client import keys_without_roles
from ragline.local.endpoints import Endpoints
from ragline.local.lock import HomeLock
from ragline.models import Chunk, SearchHit
from ragline.settings import Settings
from tests.fakes.http_api import FakeHttpApi

BUCKET = "ragline-documents"
DOC = {
    "doc_id": document_id(BUCKET, "finance/q3.md"),
    "source": f"s3://{BUCKET}/finance/q3.md",
    "title": "Q3",
    "status": "indexed",
    "chunk_count": 3,
    "error": None,
    "updated_at": "2026-12-01T10:00:00+00:00",
}
FAILED = {**DOC, "doc_id": document_id(BUCKET, "hr/scan.pdf"), "source": f"s3://{BUCKET}/hr/scan.pdf"}
FAILED.update(status="failed", chunk_count=0, error="PDF is encrypted")
CALLER = ["--user", "bob", "--groups", "finance"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_endpoints(home, api_url: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    Endpoints(
        api_url=api_url,
        s3_endpoint="http://127.0.0.1:1",
        bucket=BUCKET,
        region="us-east-1",
        registry_table="ragline-registry",
        queue_url="http://127.0.0.1:1/q",
        dead_letter_queue_url="http://127.0.0.1:1/dlq",
        embedder="hash",
    ).write(home)


@pytest.fixture
def running(tmp_path):
    """A home that looks like `ragline up` runs on it: endpoints naming a running lock-holder (this process)."""
    home = tmp_path / "home"
    lock = HomeLock(home)
    lock.acquire()
    yield home
    lock.release()


@pytest.fixture
def api(running):
    with FakeHttpApi() as fake:
        write_endpoints(running, fake.url)
        yield fake


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out == f"ragline {__version__}\n"


def test_every_flag_and_argument_has_help_text():
    parser = _parser()
    [commands] = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    missing = [
        f"{name} {action.dest}"
        for name, command in commands.choices.items()
        for action in command._actions
        if not action.help
    ]
    assert missing == []
    assert {"up", "down", "ls", "status", "delete"} <= set(commands.choices)


def test_ls_pages_through_the_documents_and_prints_a_table(api, running, capsys):
    api.answer(
        "GET",
        "/documents",
        (200, {"documents": [DOC], "next_cursor": "next"}),
        (200, {"documents": [FAILED], "next_cursor": None}),
    )

    status, out, _ = run(capsys, "ls", "--home", str(running), *CALLER, "--status", "indexed", "--prefix", "f")

    assert status == 0
    assert out.splitlines() == [
        "KEY            STATUS   CHUNKS  UPDATED",
        "finance/q3.md  indexed  3       2026-12-01T10:00:00+00:00",
        "hr/scan.pdf    failed   0       2026-12-01T10:00:00+00:00",
    ]
    assert [request.query for request in api.requests] == [
        {"limit": "100", "status": "indexed", "prefix": "f"},
        {"limit": "100", "status": "indexed", "prefix": "f", "cursor": "next"},
    ]
    assert api.requests[0].headers["Authorization"].startswith("Bearer ")


@pytest.mark.parametrize("document", ["finance/q3.md", DOC["doc_id"]], ids=["key", "doc-id"])
def test_status_takes_a_key_or_a_document_id(api, running, capsys, document):
    api.answer("GET", f"/documents/{DOC['doc_id']}", (200, DOC))

    status, out, _ = run(capsys, "status", document, "--home", str(running), *CALLER)

    assert status == 0
    assert "status   indexed" in out and "key      finance/q3.md" in out and f"doc_id   {DOC['doc_id']}" in out


def test_status_shows_why_a_document_failed(api, running, capsys):
    api.answer("GET", f"/documents/{FAILED['doc_id']}", (200, FAILED))
    status, out, _ = run(capsys, "status", "hr/scan.pdf", "--home", str(running), *CALLER)
    assert status == 0 and "error    PDF is encrypted" in out


def test_delete_sends_delete_for_the_keys_document(api, running, capsys):
    api.answer("DELETE", f"/documents/{DOC['doc_id']}", (202, {"doc_id": DOC["doc_id"], "status": "deleting"}))

    status, out, _ = run(capsys, "delete", "finance/q3.md", "--home", str(running), *CALLER)

    assert status == 0 and out.startswith("deleting finance/q3.md")
    assert [(request.method, request.path) for request in api.requests] == [("DELETE", f"/documents/{DOC['doc_id']}")]


def test_a_refusal_is_one_line_with_the_apis_code_and_message(api, running, capsys):
    body = {"message": "you may read this document but not delete it", "code": "forbidden_write"}
    api.answer("DELETE", f"/documents/{DOC['doc_id']}", (403, body))

    status, out, err = run(capsys, "delete", "finance/q3.md", "--home", str(running), *CALLER)

    assert (status, out) == (1, "")
    assert err == "ragline: the API answered 403 forbidden_write: you may read this document but not delete it\n"


def test_ask_prints_the_answer_and_its_sources(api, running, capsys):
    source = {"id": 1, "doc_id": DOC["doc_id"], "source": DOC["source"], "title": "Q3", "chunk_id": "c"}
    api.answer(
        "POST", "/query", (200, {"answer": "$14.2 million [1]", "citations": [{**source, "score": 1, "text": "t"}]})
    )

    status, out, _ = run(capsys, "ask", "Q3 revenue?", "--home", str(running), *CALLER)

    assert status == 0
    assert out == f"$14.2 million [1]\n\nSources:\n  [1] Q3 ({DOC['source']})\n"


PASSAGE = {"doc_id": DOC["doc_id"], "source": DOC["source"], "title": "Q3", "chunk_id": "c", "score": 1, "text": "t"}
DECLINED = {"answer": "No answer.", "answered": False, "citations": [], "related": [PASSAGE], "model": "m"}


def test_ask_without_an_answer_lists_the_passages_searched(api, running, capsys):
    api.answer("POST", "/query", (200, DECLINED))

    status, out, _ = run(capsys, "ask", "Who won the cup?", "--home", str(running), *CALLER)

    assert status == 0
    assert out == f"No answer found in these passages:\n  - Q3 ({DOC['source']})\n      t\n"


def test_ask_needs_a_question_unless_it_chats(api, running, capsys):
    assert run(capsys, "ask", "--home", str(running), *CALLER) == (
        2,
        "",
        "ragline: ask needs a question, or --chat for a conversation\n",
    )


def test_chat_asks_each_line_with_the_turns_before_it_until_exit(api, running, capsys, monkeypatch):
    first = {"answer": "35 [1]", "citations": [{**PASSAGE, "id": 1}], "model": "m"}
    first |= {"question": "Hires in Q3?", "standalone_question": "Hires in Q3?"}
    second = {**first, "answer": "40 [1]", "question": "and in Q4?", "standalone_question": "Hires in Q4?"}
    api.answer("POST", "/query", (200, first), (200, second), (400, {"message": "'question' is over", "code": "c"}))
    monkeypatch.setattr("sys.stdin", io.StringIO("Hires in Q3?\n\nand in Q4?\n" + "x" * 3 + "\nexit\nnot asked\n"))

    status, out, err = run(capsys, "ask", "--chat", "--home", str(running), *CALLER)

    assert status == 0
    sources = f"\nSources:\n  [1] Q3 ({DOC['source']})\n\n"
    assert out == f"35 [1]\n{sources}(searched for: Hires in Q4?)\n40 [1]\n{sources}"
    assert err == "ragline: the API answered 400 c: 'question' is over\n"  # and the conversation went on
    bodies = [request.json() for request in api.requests]
    assert [body["question"] for body in bodies] == ["Hires in Q3?", "and in Q4?", "xxx"]
    assert "history" not in bodies[0]
    assert bodies[1]["history"] == [{"question": "Hires in Q3?", "answer": "35 [1]"}]
    # Each turn goes back as the standalone question the API answered.
    assert bodies[2]["history"][-1] == {"question": "Hires in Q4?", "answer": "40 [1]"}


def test_retrieve_explain_prints_a_table_per_result_with_the_matched_terms_in_brackets(api, running, capsys):
    text = "Revenue in Q3 was $14.2 million."
    explanation = Explanation(
        mode="hybrid+rerank",
        admitted_by=("finance",),
        dense=SearchRank(rank=2, score=0.61),
        lexical=SearchRank(rank=1, score=1.0),
        fusion=FusionStep("convex", 2.0, (FusionPart("dense", 1.0, 1.0, 1.0), FusionPart("lexical", 1.0, 1.0, 1.0))),
        rerank=RerankStep(score=1.4, rank_before=2, rank_after=1),
        mmr=MmrStep(True, 1, 0.5, displaced=(NearDuplicate("c-2", "e" * 24, "Q3 copy", None, 0.97, 2),)),
        matches=(Span(0, 7, "revenue"), Span(11, 13, "q3")),
    )
    hit = SearchHit(Chunk("c", DOC["doc_id"], "v", text, DOC["source"], "Q3", ("finance",), 0), 1.4)
    api.answer("POST", "/retrieve", (200, {"results": [SourceBody.of(1, hit, explanation).model_dump(mode="json")]}))

    status, out, _ = run(capsys, "retrieve", "Q3 revenue?", "--explain", "--home", str(running), *CALLER)

    assert status == 0
    assert api.requests[0].json() == {"question": "Q3 revenue?", "explain": True}
    rows = dict(line.split(None, 1) for line in out.splitlines()[1:])
    assert rows["rank"] == "1 (mode hybrid+rerank)"
    assert rows["BM25"] == "rank 1, normalised score 1.0000" and rows["k-NN"] == "rank 2, cosine 0.6100"
    assert rows["fused"] == "convex: 2.0000 = dense 1 x 1.0000 + lexical 1 x 1.0000"
    assert rows["rerank"] == "score 1.4000, rank 2 -> 1"
    assert rows["MMR"] == "kept at step 1 (lambda 0.5); displaced Q3 copy, chunk c-2 (dropped; similarity 0.97)"
    assert rows["roles"] == "finance"
    assert rows["matched"] == "[Revenue] in [Q3] was $14.2 million."


@pytest.mark.parametrize(
    "argv",
    [["ask", "q"], ["retrieve", "q"], ["ls"], ["status", "a.md"], ["delete", "a.md"]],
    ids=lambda argv: argv[0],
)
def test_a_stack_that_refuses_connections_is_one_line_and_exit_2(running, capsys, argv):
    url = f"http://127.0.0.1:{closed_port()}"
    write_endpoints(running, url)

    status, out, err = run(capsys, *argv, "--home", str(running), *CALLER)

    assert (status, out) == (2, "")
    assert err == (
        f"ragline: the stack on {running} is not responding ({url}); start it with: ragline up --home {running}\n"
    )


def test_endpoints_left_by_a_crashed_stack_say_it_is_not_responding(tmp_path, capsys):
    home = tmp_path / "home"
    write_endpoints(home, "http://127.0.0.1:9")  # nobody holds the lock: its stack is gone

    status, _, err = run(capsys, "ls", "--home", str(home), *CALLER)

    assert status == 2
    url = "http://127.0.0.1:9"
    assert err == f"ragline: the stack on {home} is not responding ({url}); start it with: ragline up --home {home}\n"


@pytest.mark.parametrize("argv", [["ask", "q", *CALLER], ["ingest", "."], ["redrive"]], ids=lambda a: a[0])
def test_a_home_without_a_stack_is_one_line(tmp_path, capsys, argv):
    status, _, err = run(capsys, *argv, "--home", str(tmp_path))
    assert status == 2
    assert err == f"ragline: no local stack on {tmp_path}; start it with: ragline up --home {tmp_path}\n"


def test_down_on_a_home_without_a_stack_says_so(tmp_path, capsys):
    status, out, _ = run(capsys, "down", "--home", str(tmp_path))
    assert (status, out) == (0, f"no stack is running on {tmp_path}\n")


def test_the_keys_that_would_get_no_roles(tmp_path):
    sidecar = tmp_path / "b.md.metadata.json"
    sidecar.write_text(json.dumps({"metadataAttributes": {"roles": ["finance"]}}))
    empty_sidecar = tmp_path / "c.md.metadata.json"
    empty_sidecar.write_text(json.dumps({"metadataAttributes": {}}))
    files = [
        (tmp_path / "a.md", "a.md"),
        (sidecar, "b.md.metadata.json"),
        (tmp_path / "b.md", "b.md"),
        (empty_sidecar, "c.md.metadata.json"),
        (tmp_path / "c.md", "c.md"),
        (tmp_path / "d.md", "hr/d.md"),
    ]

    assert keys_without_roles(files, Settings()) == ["a.md", "c.md", "hr/d.md"]
    assert keys_without_roles(files, Settings(prefix_roles={"hr/": ("hr",)})) == ["a.md", "c.md"]
    assert keys_without_roles(files, Settings(default_roles=("staff",))) == []


def _audit_record(request_id: str, **fields) -> dict:
    return {
        "at": "2026-12-01T10:00:00.123Z",
        "request_id": request_id,
        "action": "query",
        "status": 200,
        "code": "",
        "user": "u-bob",
        "username": "bob",
        "groups": ["finance"],
        "question": "",
        "question_hmac": "ab" * 32,
        "requested": "",
        "documents": [DOC["doc_id"]],
        "sources": [{"doc_id": DOC["doc_id"], "chunk_id": "c1", "cited": True}],
        "detail": "",
        **fields,
    }


def test_audit_of_a_document_by_its_key_reads_every_page_as_an_admin_and_prints_a_table(api, running, capsys):
    refused = _audit_record("r-2", action="download", status=404, code="not_found", username="eve", sources=[])
    api.answer(
        "GET",
        "/audit",
        (200, {"records": [_audit_record("r-1")], "next_cursor": "next"}),
        (200, {"records": [refused], "next_cursor": None}),
    )

    status, out, _ = run(capsys, "audit", "--doc", "finance/q3.md", "--since", "2026-12-01", "--home", str(running))

    assert status == 0
    assert out.splitlines() == [
        "TIME                      USER  ACTION    OUTCOME        DOCUMENT   QUESTION           REQUEST",
        "2026-12-01T10:00:00.123Z  bob   query     200            cited      hmac:abababababab  r-1",
        "2026-12-01T10:00:00.123Z  eve   download  404 not_found  asked for  hmac:abababababab  r-2",
    ]
    assert [request.query for request in api.requests] == [
        {"limit": "100", "doc": DOC["doc_id"], "since": "2026-12-01"},
        {"limit": "100", "doc": DOC["doc_id"], "since": "2026-12-01", "cursor": "next"},
    ]
    import jwt

    token = api.requests[0].headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["cognito:username"], claims["cognito:groups"]) == ("auditor", ["admin"])  # the admin group


def test_audit_of_a_local_user_asks_for_its_sub_and_prints_json(api, running, capsys):
    from ragline.local.tokens import local_user_id

    api.answer("GET", "/audit", (200, {"records": [_audit_record("r-1", question="What was Q3 revenue?")],
                                       "next_cursor": None}))  # fmt: skip

    status, out, _ = run(capsys, "audit", "--user", "bob", "--json", "--home", str(running))

    assert status == 0
    (record,) = json.loads(out)["records"]
    assert record["question"] == "What was Q3 revenue?" and record["sources"][0]["cited"] is True
    assert api.requests[0].query == {"limit": "100", "user": local_user_id("bob")}


def test_audit_needs_exactly_one_of_doc_and_user(running, capsys):
    for argv in ([], ["--doc", "a.md", "--user", "bob"]):
        with pytest.raises(SystemExit) as exited:
            main(["audit", "--home", str(running), *argv])
        assert exited.value.code == 2


def test_access_shows_who_may_read_a_document_indexed_and_in_the_bucket(api, running, capsys):
    readers = {
        "doc_id": DOC["doc_id"],
        "source": DOC["source"],
        "title": "Q3",
        "status": "indexed",
        "indexed_roles": ["everyone"],
        "bucket_roles": ["finance"],
        "pending": True,
        "admin_group": "admin",
        "owner": "",
        "writers": [],
    }
    api.answer("GET", f"/access/documents/{DOC['doc_id']}", (200, readers))

    status, out, _ = run(
        capsys, "access", "--home", str(running), "--doc", "finance/q3.md", "--user", "ann", "--groups", "admin"
    )

    assert status == 0
    assert "indexed  everyone" in out and "bucket   finance" in out and "pending  yes" in out


def test_access_warnings_list_each_and_exit_1(api, running, capsys):
    warning = {"kind": "sensitive_and_broad", "doc_id": DOC["doc_id"], "source": DOC["source"], "title": "Q3"}
    api.answer(
        "GET", "/access/warnings", (200, {"warnings": [{**warning, "roles": ["everyone"]}], "next_cursor": None})
    )

    status, out, err = run(capsys, "access", "--home", str(running), "--warnings", "--user", "ann", "--groups", "admin")

    assert (status, out.strip()) == (1, "finance/q3.md  sensitive, readable by everyone")
    assert "1 warning(s)" in err


def test_access_of_roles_pages_and_a_refusal_is_one_line(api, running, capsys):
    api.answer(
        "GET",
        "/access/roles",
        (200, {"roles": ["finance"], "documents": [{**DOC, "roles": ["finance"]}], "next_cursor": None}),
    )
    status, out, _ = run(
        capsys, "access", "--home", str(running), "--roles", "finance", "--user", "ann", "--groups", "admin"
    )
    assert (status, out.strip()) == (0, "finance/q3.md  finance")
    assert api.requests[-1].query == {"roles": "finance", "limit": "100"}

    refusal = {"message": "only the admin group may inspect the access policy", "code": "forbidden"}
    api.answer("GET", "/access/roles", (403, refusal))
    status, _, err = run(capsys, "access", "--home", str(running), "--roles", "finance", *CALLER)
    assert status != 0 and "only the admin group may inspect the access policy" in err and "Traceback" not in err
