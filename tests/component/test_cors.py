"""CORS: the query function lets exactly one origin's pages read its answers (RAGLINE_CORS_ORIGIN, the web
app's), errors included, and no other origin's; unset, it sends no CORS header at all."""

from __future__ import annotations

import json

import pytest

from ragline.local.gateway import rest_proxy_event
from ragline.local.lambda_runtime import LocalFunction

APP = "https://d111111abcdef8.cloudfront.net"


def call(function: LocalFunction, path: str, origin: str, groups: list[str] | None = None) -> dict:
    method = "GET"
    claims = None if groups is None else {"sub": "u-1", "cognito:username": "alice", "cognito:groups": ",".join(groups)}
    resource = "/documents" if path == "/documents" else path
    event = rest_proxy_event(method, path, resource, {}, "", {"Origin": origin}, b"", claims)
    return function.invoke(event)


def allowed_origin(response: dict) -> str | None:
    headers = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
    multi = {name.lower(): values for name, values in (response.get("multiValueHeaders") or {}).items()}
    return headers.get("access-control-allow-origin") or next(iter(multi.get("access-control-allow-origin", [])), None)


@pytest.fixture
def query_with_cors(stack, monkeypatch) -> LocalFunction:
    monkeypatch.setenv("RAGLINE_CORS_ORIGIN", APP)
    return LocalFunction("query")


def test_the_app_origin_may_read_answers_and_errors(query_with_cors):
    listed = call(query_with_cors, "/documents", APP, ["finance"])
    assert listed["statusCode"] == 200 and allowed_origin(listed) == APP
    unknown = call(query_with_cors, "/documents", APP, None)
    assert unknown["statusCode"] == 401 and allowed_origin(unknown) == APP
    assert json.loads(unknown["body"])["code"] == "unauthorized"


def test_another_origin_is_not_allowed(query_with_cors):
    for origin in ("https://evil.example", APP + ".evil.example", "null"):
        response = call(query_with_cors, "/documents", origin, ["finance"])
        assert allowed_origin(response) in (None, APP), origin  # never the caller's own origin echoed
        assert allowed_origin(response) != origin


def test_without_the_setting_no_cors_header_is_sent(stack):
    response = call(stack.query, "/documents", APP, ["finance"])
    assert response["statusCode"] == 200 and allowed_origin(response) is None


def test_presigned_urls_name_the_buckets_region_so_a_browser_needs_no_redirect(stack, monkeypatch):
    # S3's global host answers a new bucket outside us-east-1 with a 307, which a CORS preflight does not follow.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    query = LocalFunction("query")

    url = query.module.services().documents.downloads.presign_get("ragline-documents", "a.md", None, 60)

    assert url.startswith("https://ragline-documents.s3.eu-west-1.amazonaws.com/a.md?")
