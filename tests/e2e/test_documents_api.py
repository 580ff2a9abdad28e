"""End to end: upload through a presigned URL from `POST /documents`, list, download, then delete with
`DELETE /documents/{id}`.

Runs on the stack of tests/e2e/test_local_stack.py (its module-scoped fixtures, a stack of this module's own).
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from ragline.local.client import StackClient
from tests.e2e.test_local_stack import ask, backend, cited_keys, home  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e

FORECAST = "# Forecast\n\nNorthwind forecasts Q4 2026 revenue of $16.9 million, driven by the Tilburg plant.\n"
QUESTION = "What revenue does Northwind forecast for Q4 2026?"


@pytest.fixture(scope="module")
def client(home) -> StackClient:  # noqa: F811
    return StackClient(home)


def put(url: str, data: bytes, headers: dict[str, str]) -> int:
    # A content type of its own: urllib's default (a form) makes moto server read the body as form fields.
    headers = {"Content-Type": "application/octet-stream", **headers}
    request = urllib.request.Request(url, data=data, method="PUT", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def wait_for_status(client: StackClient, doc_id: str, token: str, wanted: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        status, body = client.call("GET", f"/documents/{doc_id}", token=token)
        if status == 200 and body["status"] == wanted:
            return body
        time.sleep(0.2)
    pytest.fail(f"document {doc_id} did not become {wanted!r} within {timeout} s (last: {body})")


def test_upload_through_a_presigned_url_then_delete(client):
    finance, research = client.token("fiona", ["finance"]), client.token("rick", ["research"])

    size = len(FORECAST.encode())
    request = {"key": "finance/forecast.md", "roles": ["finance"], "size": size}
    status, upload = client.call("POST", "/documents", request, finance)
    assert status == 200, upload
    assert upload["upload_url"].startswith(client.endpoints.s3_endpoint)
    owner = upload["headers"]["x-amz-meta-owner"]  # fiona's sub
    assert upload["headers"] == {
        "x-amz-meta-roles": "finance",
        "x-amz-meta-owner": owner,
        "Content-Length": str(size),
        "If-None-Match": "*",
    }
    assert put(upload["upload_url"], FORECAST.encode(), upload["headers"]) == 200

    doc_id = upload["doc_id"]
    indexed = wait_for_status(client, doc_id, finance, "indexed")
    assert indexed["chunk_count"] >= 1 and indexed["source"].endswith("/finance/forecast.md")
    answer = ask(client, QUESTION, ["finance"])
    assert "16.9 million" in answer["answer"] and cited_keys(answer) == {"finance/forecast.md"}

    # Someone without the role sees nothing of it, cannot take over its key, and cannot delete it.
    outsider = ask(client, QUESTION, ["research"])
    assert "16.9" not in json.dumps(outsider) and "forecast.md" not in json.dumps(outsider)
    assert client.call("GET", f"/documents/{doc_id}", token=research)[0] == 404
    status, body = client.call("POST", "/documents", {**request, "roles": ["research"]}, research)
    assert (status, body["code"]) == (403, "forbidden_key")
    status, body = client.call("POST", "/documents", {**request, "key": "research/x.md"}, research)
    assert (status, body["code"]) == (403, "forbidden_roles")
    # Another reader of it may neither replace nor delete it: reading never implies writing.
    reader = client.token("frank", ["finance"])
    assert client.call("POST", "/documents", request, reader)[1]["code"] == "forbidden_write"
    assert client.call("DELETE", f"/documents/{doc_id}", token=reader)[1]["code"] == "forbidden_write"
    assert client.call("DELETE", f"/documents/{doc_id}", token=research) == (
        404,
        {"message": "no such document", "code": "not_found"},
    )
    assert wait_for_status(client, doc_id, finance, "indexed", timeout=1)

    # The owner deletes it: within seconds it is no longer retrieved, and its status says so.
    assert client.call("DELETE", f"/documents/{doc_id}", token=finance) == (
        202,
        {"doc_id": doc_id, "status": "deleting"},
    )
    started = time.monotonic()
    while time.monotonic() - started < 10:
        body = ask(client, QUESTION, ["finance"], route="/retrieve")
        if not any(r["source"].endswith("finance/forecast.md") for r in body["results"]):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the deleted document was still retrieved 10 s after DELETE /documents")
    wait_for_status(client, doc_id, finance, "deleted", timeout=10)


def test_bad_upload_requests_are_refused_over_http(client):
    token = client.token("fiona", ["finance"])
    status, body = client.call("POST", "/documents", {"key": "../x.md", "roles": ["finance"], "size": 1}, token)
    assert (status, body["code"]) == (400, "invalid_key")
    status, body = client.call("POST", "/documents", {"key": "x.md", "roles": ["finance"]}, token)
    assert (status, body["code"]) == (400, "invalid_size")
    assert client.call("POST", "/documents", {"key": "x.md", "roles": ["finance"], "size": 1})[0] == 401
    assert client.call("DELETE", "/documents/" + "0" * 24)[0] == 401


def test_list_and_download_over_http_and_unknown_routes_are_404(client):
    finance, research = client.token("fiona", ["finance"]), client.token("rick", ["research"])
    text = FORECAST.replace("forecasts", "budgets")
    request = {"key": "finance/budget.md", "roles": ["finance"], "size": len(text.encode())}
    status, upload = client.call("POST", "/documents", request, finance)
    assert status == 200, upload
    assert put(upload["upload_url"], text.encode(), upload["headers"]) == 200
    doc_id = upload["doc_id"]
    wait_for_status(client, doc_id, finance, "indexed")

    status, page = client.call("GET", "/documents?prefix=finance/budget&limit=5", token=finance)
    assert status == 200, page
    assert page == {"documents": [client.call("GET", f"/documents/{doc_id}", token=finance)[1]], "next_cursor": None}
    status, page = client.call("GET", "/documents?prefix=finance/budget", token=research)
    assert (status, page) == (200, {"documents": [], "next_cursor": None})
    assert client.call("GET", "/documents?limit=0", token=finance)[1]["code"] == "invalid_limit"

    status, download = client.call("GET", f"/documents/{doc_id}/download", token=finance)
    assert status == 200 and download["expires_in"] == 300
    with urllib.request.urlopen(download["url"], timeout=30) as response:
        assert response.read() == text.encode()
    assert client.call("GET", f"/documents/{doc_id}/download", token=research) == (
        404,
        {"message": "no such document", "code": "not_found"},
    )

    assert client.call("GET", "/no/such/route", token=finance) == (
        404,
        {"message": "no such route", "code": "not_found"},
    )
    assert client.call("GET", "/documents") == (401, {"message": "missing or invalid token", "code": "unauthorized"})
