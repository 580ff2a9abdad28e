"""A local API Gateway: verifies the bearer token, then calls the query function with a REST proxy event.

Like API Gateway with a Cognito user pool authorizer and the stack's gateway responses, it answers 401
itself for a missing or invalid token and 404 for a route the API does not have (both with the function's
``{"message", "code"}`` body), puts the token's claims under ``requestContext.authorizer.claims`` (every
value a string), and passes the client's headers and body through untouched, so a client-set header
never becomes a claim.

Given a :class:`~ragline.local.webapp_server.LocalWebApp`, it serves the web app beside the API, on the same
origin: the app's files, ``config.json`` and ``POST /local/sign-in``, routes the API does not have.

Given an audit trail, it keeps an audit record of each 401 it answers on an audited route, which the function
never sees (on AWS, API Gateway's access log has them: docs/security.md, "The audit trail").
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ragline.audit import AuditCaller, AuditNotes, AuditTrail, audited_action
from ragline.errors import AuditUnavailable
from ragline.local.lambda_runtime import LocalFunction
from ragline.local.tokens import InvalidToken, TokenVerifier, authorizer_claims
from ragline.local.webapp_server import LocalWebApp, Reply

logger = logging.getLogger(__name__)

STAGE = "local"

# (method, resource template, needs a token): the routes the REST API defines.
ROUTES: list[tuple[str, str, bool]] = [
    ("GET", "/health", False),
    ("GET", "/openapi.json", False),
    ("POST", "/query", True),
    ("POST", "/retrieve", True),
    ("POST", "/documents", True),
    ("GET", "/documents", True),
    ("GET", "/documents/{doc_id}", True),
    ("GET", "/documents/{doc_id}/download", True),
    ("DELETE", "/documents/{doc_id}", True),
    ("GET", "/access/roles", True),
    ("GET", "/access/documents/{doc_id}", True),
    ("GET", "/access/warnings", True),
    ("GET", "/audit", True),
]
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
# The deployed API's gateway responses (infra/api.py) answer with these bodies, as the function does.
NO_SUCH_ROUTE = {"message": "no such route", "code": "not_found"}
UNAUTHORIZED = {"message": "missing or invalid token", "code": "unauthorized"}


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")


_COMPILED = [(method, template, auth, _template_regex(template)) for method, template, auth in ROUTES]


def match_route(method: str, path: str) -> tuple[str, dict[str, str], bool] | None:
    """The resource template, path parameters and whether a token is needed; None when no route matches."""
    for route_method, template, auth, pattern in _COMPILED:
        found = pattern.match(path)
        if found and route_method == method:
            return template, found.groupdict(), auth
    return None


def rest_proxy_event(
    method: str,
    path: str,
    resource: str,
    path_parameters: dict[str, str],
    query: str,
    headers: dict[str, str],
    body: bytes,
    claims: dict[str, str] | None,
) -> dict[str, Any]:
    """An API Gateway REST proxy (payload 1.0) event."""
    query_values = parse_qs(query, keep_blank_values=True)
    try:
        text_body: str | None = body.decode("utf-8") if body else None
        is_base64 = False
    except UnicodeDecodeError:
        text_body, is_base64 = base64.b64encode(body).decode(), True
    request_context: dict[str, Any] = {
        "resourcePath": resource,
        "httpMethod": method,
        "path": f"/{STAGE}{path}",
        "stage": STAGE,
        "requestId": str(uuid.uuid4()),
        "requestTimeEpoch": int(time.time() * 1000),
        "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
        "accountId": "000000000000",
        "apiId": "local",
    }
    if claims is not None:
        request_context["authorizer"] = {"claims": claims}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query_values.items()} or None,
        "multiValueQueryStringParameters": query_values or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": text_body,
        "isBase64Encoded": is_base64,
    }


class LocalApiGateway:
    """Serves the REST API (and the web app, when given one) on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        function: LocalFunction,
        verifier: TokenVerifier,
        port: int = 0,
        webapp: LocalWebApp | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        gateway = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gateway._serve(self, "GET")

            def do_POST(self) -> None:
                gateway._serve(self, "POST")

            def do_DELETE(self) -> None:
                gateway._serve(self, "DELETE")

            def do_PUT(self) -> None:
                gateway._serve(self, "PUT")  # no route: answered 404 as API Gateway does, not 501

            def do_PATCH(self) -> None:
                gateway._serve(self, "PATCH")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the function logs each request already

        self._function = function
        self._verifier = verifier
        self._webapp = webapp
        self._audit = audit
        self._server = ThreadingHTTPServer(("127.0.0.1", port), RequestHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-gateway", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        reply = self._reply(request, method)
        request.send_response(reply.status)
        for name, value in reply.headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(reply.body)))
        request.end_headers()
        request.wfile.write(reply.body)

    def _reply(self, request: BaseHTTPRequestHandler, method: str) -> Reply:
        """The web app's answer, where the request is for the app; else the API's."""
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            return _json_reply(413, {"message": "Request Too Long"})
        body = request.rfile.read(length) if length else b""
        if self._webapp is not None:
            reply = self._webapp.reply(method, url.path, request.headers.get("Host", ""), body)
            if reply is not None:
                return reply
        status, response_body = self._dispatch(request, method, body)
        return _json_reply(status, response_body)

    def _dispatch(self, request: BaseHTTPRequestHandler, method: str, body: bytes) -> tuple[int, Any]:
        url = urlsplit(request.path)
        route = match_route(method, url.path)
        if route is None:
            return 404, NO_SUCH_ROUTE  # API Gateway's MISSING_AUTHENTICATION_TOKEN, as the stack configures it
        resource, path_parameters, needs_token = route
        claims = None
        if needs_token:
            scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not token:
                return self._unauthorized(method, resource, path_parameters, "no bearer token")
            try:
                claims = authorizer_claims(self._verifier.verify(token.strip()))
            except InvalidToken as error:
                return self._unauthorized(method, resource, path_parameters, str(error))
        event = rest_proxy_event(
            method, url.path, resource, path_parameters, url.query, dict(request.headers.items()), body, claims
        )
        response = self._function.invoke(event)
        response_body = response.get("body") or ""
        if response.get("isBase64Encoded"):
            return response["statusCode"], base64.b64decode(response_body)
        return response["statusCode"], response_body.encode()

    def _unauthorized(
        self, method: str, resource: str, path_parameters: dict[str, str], reason: str
    ) -> tuple[int, Any]:
        """The authorizer's 401, and its audit record when the route is audited. The token's claims are not
        the caller's (it was refused), so the record is the anonymous user's, with the verifier's reason."""
        action = audited_action(method, resource)
        if self._audit is not None and action is not None:
            notes = AuditNotes()
            if "doc_id" in path_parameters:
                notes.asked_for(path_parameters["doc_id"], path_parameters["doc_id"])
            record = self._audit.record(
                action, str(uuid.uuid4()), AuditCaller(), 401, UNAUTHORIZED["code"], notes, detail=reason
            )
            try:
                self._audit.write(record)
            except AuditUnavailable:  # as API Gateway's own access log, this record never holds up the 401
                logger.warning("could not keep the audit record of a refused token", exc_info=True)
        return 401, UNAUTHORIZED


def _json_reply(status: int, body: Any) -> Reply:
    payload = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return Reply(status, payload, {"Content-Type": "application/json"})
