"""Query function: the HTTP API behind API Gateway (REST proxy events, Cognito user pool authorizer).

The caller's roles come only from the authorizer's claims. Bad requests get 400 with ``{"message",
"code"}``; an unexpected error gets a bare 500 with no detail, and is logged without document text.

Every request of an audited route (ragline.audit) leaves an audit record, written once the route has
answered and before the answer is returned; an answer whose record could not be kept is withheld (500
``audit_unavailable``), but for a delete already done (docs/security.md, "The audit trail").

The settings are read at import, in Lambda's init phase: a bad one fails the cold start with a
``ConfigurationError`` in the logs, not the first request (docs/architecture.md, "Configuration").
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from ragline import __version__
from ragline.access import roles_from_claims, user_from_claims
from ragline.api_schema import (
    AccessPageBody,
    AccessRoles,
    AnswerBody,
    AskBody,
    AuditCursor,
    AuditDoc,
    AuditLimit,
    AuditPageBody,
    AuditSince,
    AuditUntil,
    AuditUser,
    DeletionBody,
    DocumentBody,
    DocumentPageBody,
    DownloadBody,
    HealthBody,
    ListCursor,
    ListLimit,
    ListPrefix,
    ListSearch,
    ListStatus,
    PassageBody,
    PolicyWarningBody,
    QueryBody,
    ReadersBody,
    RetrievalBody,
    SourceBody,
    UploadBody,
    UploadGrantBody,
    WarningPageBody,
    bad_request_of,
    published,
    responses,
)
from ragline.audit import ANONYMOUS, AuditAction, AuditCaller, AuditNotes, AuditTrail, audited_action
from ragline.documents import Caller, DocumentsConfig, DocumentsService, Refused
from ragline.errors import TransientError
from ragline.explain import Explanation
from ragline.factory import (
    build_audit_key,
    build_audit_log,
    build_embedder,
    build_generator,
    build_index_router,
    build_registry,
    build_reranker,
    build_store,
)
from ragline.http_api import (
    AUDIT_PARAMETERS,
    DEFAULT_LIST_LIMIT,
    LIST_PARAMETERS,
    AuditRequest,
    BadRequest,
    ListRequest,
    parse_json_object,
    refuse_unknown_parameters,
)
from ragline.ids import document_id
from ragline.models import DocumentRecord
from ragline.objectstores.s3 import S3DownloadSigner, S3ObjectStore, S3UploadSigner
from ragline.policy import PolicyConfig, PolicyService, PolicyWarning
from ragline.query import QueryService, RetrievalConfig
from ragline.settings import Settings

logger = Logger(service="ragline-query")
settings = Settings.from_env()
app = APIGatewayRestResolver(
    # The rules of ragline.http_api run inside the models' validators; a body is parsed by one of them too.
    enable_validation=True,
    json_body_deserializer=parse_json_object,
    response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR,
    cors=CORSConfig(allow_origin=settings.cors_origin, allow_headers=["Authorization"], max_age=600)
    if settings.cors_origin
    else None,
)
TOKEN: list[dict[str, list[str]]] = [{"token": []}]  # every route but /health: the authorizer verifies the token first
PROTECTED_ERRORS = (400, 401)


@dataclass(frozen=True)
class Services:
    settings: Settings
    query: QueryService
    documents: DocumentsService
    policy: PolicyService


@functools.cache
def services() -> Services:
    """Built on first use and kept for the life of the execution environment."""
    embedder = build_embedder(settings)
    store = build_store(settings, embedder.dimension)
    query = QueryService(
        store=store,
        embedder=embedder,
        generator=build_generator(settings, embedder),
        config=RetrievalConfig.from_settings(settings),
        reranker=build_reranker(settings),
        # Each question searches the index the catalog names live, embedded by that index's model.
        indexes=build_index_router(settings, store, embedder),
    )
    # boto3 reads AWS_ENDPOINT_URL(_S3) itself, so locally the presigned URLs point at moto or LocalStack.
    # Virtual-hosted addressing names the bucket's own region (bucket.s3.eu-west-1.amazonaws.com): the global
    # host boto3 picks otherwise answers a new bucket outside us-east-1 with a 307 for up to a day, which a
    # browser's CORS preflight does not follow. Against an IP endpoint (moto) boto3 keeps path style.
    s3 = boto3.client(
        "s3", region_name=settings.region, config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
    )
    documents = DocumentsService(
        build_registry(settings),
        S3ObjectStore(s3),
        S3UploadSigner(s3),
        DocumentsConfig.from_settings(settings),
        S3DownloadSigner(s3),
    )
    policy = PolicyService(documents, PolicyConfig.from_settings(settings))
    return Services(settings=settings, query=query, documents=documents, policy=policy)


@functools.cache
def audit_trail() -> AuditTrail:
    """Built on the first audited request, its HMAC key read then and kept for the life of the execution
    environment (a failure is not cached: the next request tries again)."""
    log = build_audit_log(settings)
    return AuditTrail(log, settings.audit_questions, build_audit_key(settings), settings.admin_group)


def audit_notes() -> AuditNotes:
    """What this request's audit record will say of it; a route notes the question, passages or key here."""
    notes = app.context.setdefault("audit", AuditNotes())
    assert isinstance(notes, AuditNotes)
    return notes


class Unauthorized(Exception):
    pass


def current_caller() -> Caller:
    """The caller from the Cognito authorizer's claims; never from the body or a header the client sets."""
    claims = app.current_event.request_context.authorizer.claims
    if not claims:
        # API Gateway's authorizer rejects such requests first; refuse them here too, in case it is absent.
        raise Unauthorized()
    return Caller(user_from_claims(claims), roles_from_claims(claims), services().settings.admin_group)


@app.get("/health", summary="whether the API answers", responses=responses())
def health() -> HealthBody:
    return HealthBody(status="ok")


@functools.cache
def openapi_document() -> str:
    """Written on the first GET /openapi.json, not at import: Powertools' OpenAPI models take about 130 ms
    to import, a cold start's worth that no other route needs."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server

    app.configure_openapi(
        title="ragline",
        version=__version__,
        description="Permission-aware retrieval-augmented generation: ask questions of the documents your groups "
        "may read, with citations, and manage those documents. Every route but /health takes a Cognito ID token "
        "(locally: `ragline token`) as a bearer token; the caller's groups are its roles.",
        servers=[Server(url=".", description="the stage this document is served from")],
        security_schemes={"token": HTTPBearer(bearerFormat="JWT", description="a Cognito ID token")},
    )
    return json.dumps(published(app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)))


@app.get("/openapi.json", include_in_schema=False, enable_validation=False)
def openapi() -> Response[str]:
    """This API's OpenAPI document, generated from the routes below (a copy: docs/openapi.json)."""
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document())


@app.post(
    "/query",
    security=TOKEN,
    summary="answer a question, citing its sources",
    responses=responses(*PROTECTED_ERRORS),
)
def query(body: Annotated[AskBody, Body()]) -> AnswerBody:
    roles = current_caller().roles  # afresh on every turn: the history carries text, never permissions
    top_k = body.top_k or settings.top_k
    result = services().query.answer(body.question, roles, top_k, explain_sources=body.explain, history=body.turns())
    audit_notes().returned(body.question, result.sources, result.answer.cited, result.standalone_question)
    cited = zip(result.cited_sources(), result.cited_explanations(), strict=True)
    related = zip(result.related(), result.related_explanations(), strict=True)
    return AnswerBody(
        answer=result.answer.text,
        answered=result.answered,
        question=result.question,
        standalone_question=result.standalone_question,
        citations=[SourceBody.of(number, hit, explanation) for (number, hit), explanation in cited],
        related=[PassageBody.related(hit, explanation) for hit, explanation in related],
        model=result.answer.model,
        timings_ms=result.timings_ms,
    )


@app.post("/retrieve", security=TOKEN, summary="the passages a question finds", responses=responses(*PROTECTED_ERRORS))
def retrieve(body: Annotated[QueryBody, Body()]) -> RetrievalBody:
    roles = current_caller().roles
    top_k = body.top_k or settings.top_k
    explanations: Sequence[Explanation | None]
    if body.explain:
        hits, explanations = services().query.retrieve_explained(body.question, roles, top_k)
    else:
        hits = services().query.retrieve(body.question, roles, top_k)
        explanations = [None] * len(hits)
    audit_notes().returned(body.question, hits)
    explained = enumerate(zip(hits, explanations, strict=True), start=1)
    return RetrievalBody(results=[SourceBody.of(number, hit, explanation) for number, (hit, explanation) in explained])


@app.post(
    "/documents",
    security=TOKEN,
    summary="a presigned upload of a new or replaced document",
    responses=responses(*PROTECTED_ERRORS, 403, 409),
)
def create_upload(body: Annotated[UploadBody, Body()]) -> UploadGrantBody:
    """A presigned PUT for ``key`` that stores the roles, the owner and the writers in the object's metadata
    (the rules: ragline.documents)."""
    caller = current_caller()
    audit_notes().asked_for(body.key, document_id(settings.bucket, body.key))
    grant = services().documents.create_upload(caller, body.to_request())
    logger.info("upload presigned", extra={"doc_id": grant.doc_id, "user": caller.user})
    return UploadGrantBody(
        upload_url=grant.url,
        method="PUT",
        headers=grant.headers,  # signed: the upload must send exactly these
        key=grant.key,
        doc_id=grant.doc_id,
        expires_in=grant.expires_in,
    )


@app.get(
    "/documents",
    security=TOKEN,
    summary="the documents the caller may see",
    responses=responses(*PROTECTED_ERRORS),
)
def list_documents(
    limit: ListLimit = DEFAULT_LIST_LIMIT,
    cursor: ListCursor = None,
    status: ListStatus = None,
    prefix: ListPrefix = "",
    search: ListSearch = "",
) -> DocumentPageBody:
    """The documents the caller may see, a page at a time (the rules: ragline.documents)."""
    refuse_unknown_parameters(app.current_event.query_string_parameters, LIST_PARAMETERS)
    caller = current_caller()
    request = ListRequest(limit=limit, after=cursor, status=status, prefix=prefix, search=search)
    page = services().documents.list_documents(caller, request)
    return DocumentPageBody(
        documents=[_document_body(caller, record) for record in page.documents], next_cursor=page.next_cursor
    )


@app.get(
    "/documents/<doc_id>/download",
    security=TOKEN,
    summary="a short-lived link to the document's source",
    responses=responses(*PROTECTED_ERRORS, 404, 409),
)
def download_document(doc_id: str) -> DownloadBody:
    """A short-lived presigned GET of the document's source as indexed, for a caller who may see it."""
    caller = current_caller()
    grant = services().documents.download(caller, doc_id)
    logger.info("download presigned", extra={"doc_id": doc_id, "user": caller.user})
    return DownloadBody(url=grant.url, expires_in=grant.expires_in)


@app.get(
    "/documents/<doc_id>",
    security=TOKEN,
    summary="a document's status",
    responses=responses(*PROTECTED_ERRORS, 404),
)
def get_document(doc_id: str) -> DocumentBody:
    caller = current_caller()
    return _document_body(caller, services().documents.status(caller, doc_id))


def _document_body(caller: Caller, record: DocumentRecord) -> DocumentBody:
    return DocumentBody.of(record, show_roles=caller.is_admin, can_write=caller.may_write(record.owner, record.writers))


@app.delete(
    "/documents/<doc_id>",
    security=TOKEN,
    status_code=202,
    summary="delete a document; the index follows",
    responses=responses(*PROTECTED_ERRORS, 403, 404, 409, success=202),
)
def delete_document(doc_id: str) -> DeletionBody:
    """Deletes the object; the ObjectRemoved event removes its chunks and marks it deleted."""
    caller = current_caller()
    services().documents.delete(caller, doc_id)
    logger.info("document deleted", extra={"doc_id": doc_id, "user": caller.user})
    return DeletionBody(doc_id=doc_id, status="deleting")


@app.get(
    "/audit",
    security=TOKEN,
    summary="the audit trail of one document or one user (admins only)",
    responses=responses(*PROTECTED_ERRORS, 403, described={403: "the caller is not in the admin group"}),
)
def read_audit(
    doc: AuditDoc = None,
    user: AuditUser = None,
    since: AuditSince = "",
    until: AuditUntil = "",
    limit: AuditLimit = DEFAULT_LIST_LIMIT,
    cursor: AuditCursor = None,
) -> AuditPageBody:
    """Who was given passages of document ``doc`` or asked for it, or what ``user`` asked and received, oldest first
    (docs/security.md, "The audit trail"). Reading it is recorded too."""
    refuse_unknown_parameters(app.current_event.query_string_parameters, AUDIT_PARAMETERS)
    caller = current_caller()
    request = AuditRequest(doc=doc, user=user, since=since, until=until, limit=limit, after=cursor)
    audit_notes().asked_for(request.subject)
    return AuditPageBody.of(audit_trail().read(caller, request))


@app.get(
    "/access/roles",
    security=TOKEN,
    summary="admins: the documents a caller holding these roles would see",
    responses=responses(*PROTECTED_ERRORS, 403),
)
def access_of_roles(
    roles: AccessRoles, limit: ListLimit = DEFAULT_LIST_LIMIT, cursor: ListCursor = None
) -> AccessPageBody:
    refuse_unknown_parameters(app.current_event.query_string_parameters, ("roles", "limit", "cursor"))
    caller = current_caller()
    held = frozenset(roles.split(","))
    page = services().policy.visible_to(caller, held, ListRequest(limit=limit, after=cursor))
    documents = [DocumentBody.of(record, show_roles=True, can_write=False) for record in page.documents]
    return AccessPageBody(roles=sorted(held), documents=documents, next_cursor=page.next_cursor)


@app.get(
    "/access/documents/<doc_id>",
    security=TOKEN,
    summary="admins: who may read a document, as indexed and as the bucket has it now",
    responses=responses(*PROTECTED_ERRORS, 403, 404),
)
def access_of_document(doc_id: str) -> ReadersBody:
    readers = services().policy.readers_of(current_caller(), doc_id)
    record = readers.record
    return ReadersBody(
        doc_id=record.doc_id,
        source=record.source,
        title=record.title,
        status=record.status,
        indexed_roles=list(readers.indexed_roles),
        bucket_roles=None if readers.bucket_roles is None else list(readers.bucket_roles),
        pending=readers.pending,
        admin_group=readers.admin_group,
        owner=record.owner,
        writers=list(record.writers),
    )


@app.get(
    "/access/warnings",
    security=TOKEN,
    summary="admins: documents nobody may read, and sensitive ones a broad role may",
    responses=responses(*PROTECTED_ERRORS, 403),
)
def access_warnings(cursor: ListCursor = None) -> WarningPageBody:
    refuse_unknown_parameters(app.current_event.query_string_parameters, ("cursor",))
    page = services().policy.warnings(current_caller(), cursor)
    return WarningPageBody(warnings=[_warning_body(warning) for warning in page.warnings], next_cursor=page.next_cursor)


def _warning_body(warning: PolicyWarning) -> PolicyWarningBody:
    record = warning.record
    return PolicyWarningBody(
        kind=warning.kind, doc_id=record.doc_id, source=record.source, title=record.title, roles=list(warning.roles)
    )


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": message, "code": code}
    )


@app.exception_handler(BadRequest)
def bad_request(error: BadRequest) -> Response:
    if not app.current_event.request_context.authorizer.claims:
        # The models validate before a route runs: a caller without a token learns nothing of the request.
        return unauthorized(Unauthorized())
    return _error(400, error.code, error.message)


@app.exception_handler(RequestUnsupportedContentType)
def unsupported_content_type(_: RequestUnsupportedContentType) -> Response:
    if not app.current_event.request_context.authorizer.claims:
        return unauthorized(Unauthorized())
    return _error(415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)")


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response:
    return bad_request(bad_request_of(list(error.errors())))


@app.exception_handler(UnicodeDecodeError)
def undecodable_body(_: UnicodeDecodeError) -> Response:
    # Powertools decodes a base64 body as UTF-8 before any model sees it.
    return bad_request(BadRequest("invalid_json", "request body is not valid UTF-8 JSON"))


@app.exception_handler(ResponseValidationError)
def invalid_response(error: ResponseValidationError) -> Response:
    logger.error("response does not match its model", extra={"errors": str(error.errors())[:2000]})
    return _error(500, "internal_error", "internal error")


@app.exception_handler(Refused)
def refused(error: Refused) -> Response:
    return _error(error.status, error.code, error.message)


@app.exception_handler(TransientError)
def unavailable(error: TransientError) -> Response:
    # A service the answer depends on (the model, the embedder, the index) still failing after its retries:
    # worth trying again, and the caller learns no more than that (the log has which one, and why).
    logger.warning("a dependency is unavailable", extra={"error": str(error)[:500]})
    return _error(503, "unavailable", "a service the answer depends on is unavailable; try again shortly")


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


# -- the audit record of each request -------------------------------------------------------------------

AUDIT_UNAVAILABLE = {
    "message": "the request could not be recorded in the audit trail; try again",
    "code": "audit_unavailable",
}


def _audit_caller(event: dict) -> AuditCaller:
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims")
    if not claims:
        return AuditCaller()
    username = claims.get("cognito:username")
    return AuditCaller(
        user=user_from_claims(claims) or ANONYMOUS,
        username=username[:128] if isinstance(username, str) else "",
        groups=tuple(sorted(roles_from_claims(claims))),
    )


def _error_code(response: dict) -> str:
    if response["statusCode"] < 400:
        return ""
    try:
        return str(json.loads(response.get("body") or "{}").get("code", ""))
    except (ValueError, AttributeError):
        return ""


def recorded(event: dict, context: LambdaContext, action: AuditAction, notes: AuditNotes, response: dict) -> dict:
    """The response, once the audit record of its request is kept. When the record cannot be kept, the
    answer is withheld (500 ``audit_unavailable``; an unrecorded read is what the trail exists to prevent),
    but for a delete that was done, which no 500 can undo: that one is answered, and the record is logged."""
    doc_id = (event.get("pathParameters") or {}).get("doc_id")
    if doc_id is not None:
        notes.asked_for(doc_id, doc_id)  # download and delete: the document asked for, whatever the answer
    status = int(response["statusCode"])
    request_id = (event.get("requestContext") or {}).get("requestId") or context.aws_request_id
    kept = {"action": action, "request_id": request_id, "status": status}
    try:
        trail = audit_trail()
        record = trail.record(action, request_id, _audit_caller(event), status, _error_code(response), notes)
        kept = record.to_json()
        trail.write(record)
        return response
    except Exception as error:  # any failure, the key's or the table's: the policy above, never a lost record
        # The message is the metric filter's (infra/observability.py): the alarm counts these lines.
        logger.error("audit record not written", extra={"audit": kept, "error_type": type(error).__name__})
    if action == "delete" and 200 <= status < 300:
        return response
    return {**response, "statusCode": 500, "body": json.dumps(AUDIT_UNAVAILABLE), "isBase64Encoded": False}


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    notes = AuditNotes()  # filled in by the route, read once it has answered
    app.append_context(audit=notes)
    response = app.resolve(event, context)
    action = audited_action(event.get("httpMethod"), event.get("resource"))
    return response if action is None else recorded(event, context, action, notes, response)
