"""The local API Gateway's own answers: 404 for a route the API does not have, 401 without a valid token,
with the bodies the deployed API's gateway responses give (infra/api.py), and the routes it passes on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ragline.local.gateway import NO_SUCH_ROUTE, UNAUTHORIZED, LocalApiGateway
from ragline.local.tokens import TokenVerifier, issue_token


class RecordingFunction:
    """Stands in for the query function: answers 200 with the event's resource and query string."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        body = {"resource": event["resource"], "query": event["queryStringParameters"]}
        return {"statusCode": 200, "body": json.dumps(body)}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, RecordingFunction, str]]:
    function = RecordingFunction()
    served = LocalApiGateway(function, TokenVerifier(tmp_path))  # type: ignore[arg-type]
    served.start()
    try:
        yield served.url, function, issue_token(tmp_path, "alice", ["finance"])
    finally:
        served.stop()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing"),
        ("GET", "/documents/abc/download/more"),
        ("POST", "/documents/abc"),
        ("PUT", "/documents"),
        ("PATCH", "/documents/abc"),
        ("DELETE", "/documents"),
    ],
)
def test_an_unknown_route_is_404_with_or_without_a_token(gateway, method, path):
    url, function, token = gateway
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        response = requests.request(method, url + path, headers=headers, timeout=10)
        assert (response.status_code, response.json()) == (404, NO_SUCH_ROUTE)
    assert function.events == []


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-jwt", "Basic abc"])
def test_a_missing_or_invalid_token_is_401_with_the_functions_body(gateway, authorization):
    url, function, _ = gateway
    headers = {} if authorization is None else {"Authorization": authorization}

    response = requests.get(url + "/documents", headers=headers, timeout=10)

    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    assert function.events == []


def test_the_list_and_the_download_reach_the_function_with_their_query_string(gateway):
    url, function, token = gateway
    headers = {"Authorization": f"Bearer {token}"}

    listed = requests.get(url + "/documents?limit=2&status=indexed", headers=headers, timeout=10)
    download = requests.get(url + "/documents/" + "0" * 24 + "/download", headers=headers, timeout=10)

    assert listed.json() == {"resource": "/documents", "query": {"limit": "2", "status": "indexed"}}
    assert download.json() == {"resource": "/documents/{doc_id}/download", "query": None}
    assert function.events[1]["pathParameters"] == {"doc_id": "0" * 24}


def test_a_refused_token_on_an_audited_route_leaves_an_anonymous_audit_record(tmp_path: Path) -> None:
    from ragline.audit import ANONYMOUS, AuditTrail
    from tests.fakes import FakeAuditLog

    log = FakeAuditLog()
    served = LocalApiGateway(
        RecordingFunction(),  # type: ignore[arg-type]
        TokenVerifier(tmp_path),
        audit=AuditTrail(log, "omit", None, "admin"),
    )
    served.start()
    doc_id = "a" * 24
    try:
        requests.post(served.url + "/query", json={"question": "q"}, timeout=10)
        requests.get(served.url + f"/documents/{doc_id}/download", headers={"Authorization": "Bearer x.y"}, timeout=10)
        requests.get(served.url + "/documents", timeout=10)  # listing is not audited
    finally:
        served.stop()

    query, download = log.records
    assert (query.action, query.status, query.code, query.user) == ("query", 401, "unauthorized", ANONYMOUS)
    assert query.detail == "no bearer token"
    assert download.action == "download" and download.documents == (doc_id,) and download.detail
    assert len({query.request_id, download.request_id}) == 2
