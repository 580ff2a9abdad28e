"""Query function: the HTTP API behind API Gateway (REST proxy events, Cognito user pool authorizer).

The caller's roles come only from the authorizer's claims. Bad requests get 400 with ``{"message",
"code"}``; an unexpected error gets a bare 500 with no detail, and is logged without document text.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from ragline.access import (
    InvalidSidecar,
    can_see,
    resolve_document_roles,
    roles_from_claims,
    roles_from_sidecar,
    sidecar_key,
)
from ragline.api import BadRequest, QueryRequest, UploadRequest, document_json, source_json
from ragline.ids import document_id, is_document_id
from ragline.objects import S3ObjectStore
from ragline.factory import build_embedder, build_generator, build_registry, build_reranker, build_store
from ragline.ports import Registry
from ragline.query import QueryService
from ragline.settings import Settings

logger = Logger(service="ragline-query")
app = APIGatewayRestResolver()

UPLOAD_URL_SECONDS = 900
MAX_SIDECAR_BYTES = 64 * 1024


@dataclass(frozen=True)
class Services:
    settings: Settings
    query: QueryService
    registry: Registry
    s3: Any  # boto3 S3 client: presigns uploads, deletes objects


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
    # boto3 reads AWS_ENDPOINT_URL(_S3) itself, so locally the presigned URLs point at moto or LocalStack.
    s3 = boto3.client("s3", region_name=settings.region, config=Config(signature_version="s3v4"))
    return Services(settings=settings, query=query, registry=build_registry(settings), s3=s3)


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


@app.post("/documents")
def create_upload() -> dict | Response:
    """A presigned PUT for ``key`` that stores ``roles`` as the object's ``x-amz-meta-roles``.

    A caller may only give roles it holds itself, unless it is in the admin group; and it may not replace
    a document it cannot see (nor may it learn anything about that document beyond "not allowed")."""
    roles = caller_roles()
    request = UploadRequest.from_body(app.current_event.body)
    settings = services().settings
    is_admin = settings.admin_group in roles
    if not is_admin:
        not_held = [role for role in request.roles if role not in roles]
        if not_held:
            # Names only roles the caller asked for: never the caller's other roles, nor anyone else's.
            return _error(403, "forbidden_roles", f"you may not assign roles you do not hold: {', '.join(not_held)}")
    doc_id = document_id(settings.bucket, request.key)
    existing = services().registry.get(doc_id)
    indexed_roles = existing.roles if existing is not None and existing.status != "deleted" else None
    # The bucket too: an object uploaded seconds ago is not in the registry until its ingest finishes.
    in_bucket = _key_in_bucket(settings, request.key)
    if not is_admin and any(
        found is not None and not can_see(found, roles)
        for found in (indexed_roles, in_bucket.roles, in_bucket.sidecar_roles)
    ):
        # Refusing says that something is at this key, which cannot be helped without letting the caller
        # replace a document it cannot see; the answer says nothing more (no roles, status or title).
        return _error(403, "forbidden_key", "you may not upload to this key")
    if in_bucket.sidecar_roles is not None:
        # The sidecar's roles win over the upload's x-amz-meta-roles: signing these roles would be a lie.
        return _error(
            409,
            "sidecar_conflict",
            f"the roles of this key are set by {sidecar_key(request.key)}; change or delete it, then upload",
        )
    # Bind the URL to what was checked (S3 conditional writes): it replaces only the object seen here, or
    # creates the key only if it is still free, so no one's later upload is overwritten unseen.
    headers = {"x-amz-meta-roles": request.roles_metadata}
    params: dict[str, Any] = {"Bucket": settings.bucket, "Key": request.key, "Metadata": {"roles": request.roles_metadata}}
    if in_bucket.etag is None:
        params["IfNoneMatch"] = headers["If-None-Match"] = "*"
    else:
        params["IfMatch"] = headers["If-Match"] = in_bucket.etag
    url = services().s3.generate_presigned_url("put_object", Params=params, ExpiresIn=UPLOAD_URL_SECONDS)
    logger.info("upload presigned", extra={"doc_id": doc_id, "roles": list(request.roles)})
    return {
        "upload_url": url,
        "method": "PUT",
        "headers": headers,  # signed: the upload must send exactly these
        "key": request.key,
        "doc_id": doc_id,
        "expires_in": UPLOAD_URL_SECONDS,
    }


@dataclass(frozen=True)
class _KeyInBucket:
    """What the bucket holds at a key: the roles ingest would give its object (None when there is no
    object), the object's ETag, and the roles its sidecar sets (None when no sidecar sets any; a broken
    sidecar sets none: ``()``, visible to nobody, as in ingest)."""

    roles: tuple[str, ...] | None
    etag: str | None
    sidecar_roles: tuple[str, ...] | None


def _key_in_bucket(settings: Settings, key: str) -> _KeyInBucket:
    objects = S3ObjectStore(services().s3)
    # A sidecar is a few hundred bytes; one that does not fit is not valid JSON, so it fails closed.
    sidecar = objects.get(settings.bucket, sidecar_key(key), max_bytes=MAX_SIDECAR_BYTES)
    sidecar_roles: tuple[str, ...] | None = None
    if sidecar is not None:
        try:
            sidecar_roles = roles_from_sidecar(sidecar.data)
        except InvalidSidecar:
            sidecar_roles = ()
    head = objects.head(settings.bucket, key)
    if head is None:
        return _KeyInBucket(None, None, sidecar_roles)
    roles = resolve_document_roles(key, head.metadata, sidecar_roles, settings.prefix_roles, settings.default_roles)
    return _KeyInBucket(roles, f'"{head.etag}"', sidecar_roles)


def _visible_document(doc_id: str, roles: frozenset[str]) -> tuple[Any, bool]:
    """The registry record when the caller may see it (else None), and whether the caller is an admin."""
    record = services().registry.get(doc_id) if is_document_id(doc_id) else None
    is_admin = services().settings.admin_group in roles
    if record is None or not (is_admin or can_see(record.roles, roles)):
        return None, is_admin
    return record, is_admin


@app.get("/documents/<doc_id>")
def get_document(doc_id: str) -> dict | Response:
    roles = caller_roles()
    record, is_admin = _visible_document(doc_id, roles)
    if record is None:
        # The same answer for "absent" and "not yours": existence is not disclosed.
        return _error(404, "not_found", "no such document")
    return document_json(record, show_roles=is_admin)


@app.delete("/documents/<doc_id>")
def delete_document(doc_id: str) -> Response:
    """Deletes the object; the ObjectRemoved event removes its chunks and marks it deleted."""
    roles = caller_roles()
    record, _ = _visible_document(doc_id, roles)
    if record is None:
        return _error(404, "not_found", "no such document")
    services().s3.delete_object(Bucket=record.bucket, Key=record.key)
    logger.info("document deleted", extra={"doc_id": doc_id})
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
