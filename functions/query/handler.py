"""Query function: the HTTP API behind API Gateway (REST proxy events, Cognito user pool authorizer).

The caller's roles come only from the authorizer's claims. Bad requests get 400 with ``{"message",
"code"}``; an unexpected error gets a bare 500 with no detail, and is logged without document text.

The settings are read at import, in Lambda's init phase: a bad one fails the cold start with a
``ConfigurationError`` in the logs, not the first request (docs/architecture.md, "Configuration").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from ragline.access import roles_from_claims, user_from_claims
from ragline.documents import Caller, DocumentsConfig, DocumentsService, Refused
from ragline.factory import build_embedder, build_generator, build_registry, build_reranker, build_store
from ragline.http_api import BadRequest, ListRequest, QueryRequest, UploadRequest, document_json, source_json
from ragline.models import DocumentRecord
from ragline.objectstores.s3 import S3DownloadSigner, S3ObjectStore, S3UploadSigner
from ragline.query import QueryService, RetrievalConfig
from ragline.settings import Settings

logger = Logger(service="ragline-query")
app = APIGatewayRestResolver()
settings = Settings.from_env()


@dataclass(frozen=True)
class Services:
    settings: Settings
    query: QueryService
    documents: DocumentsService


@functools.cache
def services() -> Services:
    """Built on first use and kept for the life of the execution environment."""
    embedder = build_embedder(settings)
    query = QueryService(
        store=build_store(settings, embedder.dimension),
        embedder=embedder,
        generator=build_generator(settings),
        config=RetrievalConfig.from_settings(settings),
        reranker=build_reranker(settings),
    )
    # boto3 reads AWS_ENDPOINT_URL(_S3) itself, so locally the presigned URLs point at moto or LocalStack.
    s3 = boto3.client("s3", region_name=settings.region, config=Config(signature_version="s3v4"))
    documents = DocumentsService(
        build_registry(settings),
        S3ObjectStore(s3),
        S3UploadSigner(s3),
        DocumentsConfig.from_settings(settings),
        S3DownloadSigner(s3),
    )
    return Services(settings=settings, query=query, documents=documents)


class Unauthorized(Exception):
    pass


def current_caller() -> Caller:
    """The caller from the Cognito authorizer's claims; never from the body or a header the client sets."""
    claims = app.current_event.request_context.authorizer.claims
    if not claims:
        # API Gateway's authorizer rejects such requests first; refuse them here too, in case it is absent.
        raise Unauthorized()
    return Caller(user_from_claims(claims), roles_from_claims(claims), services().settings.admin_group)


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/query")
def query() -> dict:
    roles = current_caller().roles
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
    roles = current_caller().roles
    request = QueryRequest.from_body(app.current_event.body, services().settings.top_k)
    hits = services().query.retrieve(request.question, roles, request.top_k)
    return {"results": [source_json(number, hit) for number, hit in enumerate(hits, start=1)]}


@app.post("/documents")
def create_upload() -> dict:
    """A presigned PUT for ``key`` that stores the roles, the owner and the writers in the object's metadata
    (the rules: ragline.documents)."""
    caller = current_caller()
    grant = services().documents.create_upload(caller, UploadRequest.from_body(app.current_event.body))
    logger.info("upload presigned", extra={"doc_id": grant.doc_id, "user": caller.user})
    return {
        "upload_url": grant.url,
        "method": "PUT",
        "headers": grant.headers,  # signed: the upload must send exactly these
        "key": grant.key,
        "doc_id": grant.doc_id,
        "expires_in": grant.expires_in,
    }


@app.get("/documents")
def list_documents() -> dict:
    """The documents the caller may see, a page at a time (the rules: ragline.documents)."""
    caller = current_caller()
    request = ListRequest.from_query(app.current_event.query_string_parameters)
    page = services().documents.list_documents(caller, request)
    return {
        "documents": [_document_json(caller, record) for record in page.documents],
        "next_cursor": page.next_cursor,
    }


@app.get("/documents/<doc_id>/download")
def download_document(doc_id: str) -> dict:
    """A short-lived presigned GET of the document's source as indexed, for a caller who may see it."""
    caller = current_caller()
    grant = services().documents.download(caller, doc_id)
    logger.info("download presigned", extra={"doc_id": doc_id, "user": caller.user})
    return {"url": grant.url, "expires_in": grant.expires_in}


@app.get("/documents/<doc_id>")
def get_document(doc_id: str) -> dict:
    caller = current_caller()
    return _document_json(caller, services().documents.status(caller, doc_id))


def _document_json(caller: Caller, record: DocumentRecord) -> dict:
    return document_json(record, show_roles=caller.is_admin, can_write=caller.may_write(record.owner, record.writers))


@app.delete("/documents/<doc_id>")
def delete_document(doc_id: str) -> Response:
    """Deletes the object; the ObjectRemoved event removes its chunks and marks it deleted."""
    caller = current_caller()
    services().documents.delete(caller, doc_id)
    logger.info("document deleted", extra={"doc_id": doc_id, "user": caller.user})
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body={"doc_id": doc_id, "status": "deleting"},
    )


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": message, "code": code}
    )


@app.exception_handler(BadRequest)
def bad_request(error: BadRequest) -> Response:
    return _error(400, error.code, error.message)


@app.exception_handler(Refused)
def refused(error: Refused) -> Response:
    return _error(error.status, error.code, error.message)


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
