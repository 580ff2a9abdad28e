"""Query function: the HTTP API behind API Gateway (REST proxy events, Cognito user pool authorizer).

The caller's roles come only from the authorizer's claims. Bad requests get 400 with ``{"message",
"code"}``; an unexpected error gets a bare 500 with no detail, and is logged without document text.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from ragline.access import can_see, roles_from_claims
from ragline.api import BadRequest, QueryRequest, document_json, source_json
from ragline.ids import is_document_id
from ragline.factory import build_embedder, build_generator, build_registry, build_reranker, build_store
from ragline.ports import Registry
from ragline.query import QueryService
from ragline.settings import Settings

logger = Logger(service="ragline-query")
app = APIGatewayRestResolver()


@dataclass(frozen=True)
class Services:
    settings: Settings
    query: QueryService
    registry: Registry


@functools.cache
def services() -> Services:
    """Built on first use and kept for the life of the execution environment."""
    settings = Settings.from_env()
    embedder = build_embedder(settings)
    query = QueryService(
        store=build_store(settings, embedder.dimension),
        embedder=embedder,
        generator=build_generator(settings),
        settings=settings,
        reranker=build_reranker(settings),
    )
    return Services(settings=settings, query=query, registry=build_registry(settings))


class Unauthorized(Exception):
    pass


def caller_roles() -> frozenset[str]:
    """Roles from the Cognito authorizer's claims; never from the body or a header the client sets."""
    claims = app.current_event.request_context.authorizer.claims
    if not claims:
        # API Gateway's authorizer rejects such requests first; refuse them here too, in case it is absent.
        raise Unauthorized()
    return roles_from_claims(claims)


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/query")
def query() -> dict:
    roles = caller_roles()
    request = QueryRequest.from_body(app.current_event.body, services().settings.top_k)
    result = services().query.answer(request.question, roles, request.top_k)
    return {
        "answer": result.answer.text,
        "citations": [source_json(number, hit) for number, hit in result.cited_sources()],
        "model": result.answer.model,
        "timings_ms": result.timings_ms,
    }


@app.post("/retrieve")
def retrieve() -> dict:
    roles = caller_roles()
    request = QueryRequest.from_body(app.current_event.body, services().settings.top_k)
    hits = services().query.retrieve(request.question, roles, request.top_k)
    return {"results": [source_json(number, hit) for number, hit in enumerate(hits, start=1)]}


@app.get("/documents/<doc_id>")
def get_document(doc_id: str) -> dict | Response:
    roles = caller_roles()
    record = services().registry.get(doc_id) if is_document_id(doc_id) else None
    is_admin = services().settings.admin_group in roles
    if record is None or not (is_admin or can_see(record.roles, roles)):
        # The same answer for "absent" and "not yours": existence is not disclosed.
        return _error(404, "not_found", "no such document")
    return document_json(record, show_roles=is_admin)


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": message, "code": code}
    )


@app.exception_handler(BadRequest)
def bad_request(error: BadRequest) -> Response:
    return _error(400, error.code, error.message)


@app.exception_handler(Unauthorized)
def unauthorized(_: Unauthorized) -> Response:
    return _error(401, "unauthorized", "missing or invalid token")


@app.not_found
def not_found(_: Exception) -> Response:
    return _error(404, "not_found", "no such route")


@app.exception_handler(Exception)
def internal_error(error: Exception) -> Response:
    logger.exception("unhandled error", extra={"error_type": type(error).__name__})
    return _error(500, "internal_error", "internal error")


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
