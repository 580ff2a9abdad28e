"""The HTTP API's typed contract: the request and response models the query function validates with, and
from which Powertools writes its OpenAPI document (``GET /openapi.json``, ``docs/openapi.json``).

Each request field runs the rule of :mod:`ragline.http_api` first (a ``BeforeValidator``), so a bad value
gets that rule's code and message; the ``Field`` constraints beside it say the same in the schema. Only
the query function imports this module, and with it pydantic.

Example:
    >>> QueryBody.model_validate({"question": " What was Q3 revenue? "}).question
    'What was Q3 revenue?'
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ragline.audit import AuditAction, AuditPage, AuditRecord
from ragline.explain import Explanation, FusionStep, MmrStep, NearDuplicate, RerankStep, SearchRank
from ragline.http_api import (
    LIST_LIMIT_RANGE,
    MAX_CURSOR_CHARS,
    MAX_HISTORY_ANSWER_CHARS,
    MAX_HISTORY_TURNS,
    MAX_KEY_BYTES,
    MAX_QUESTION_CHARS,
    MAX_ROLES,
    MAX_USER_ID_CHARS,
    TOP_K_RANGE,
    BadRequest,
    UploadRequest,
    decode_audit_cursor,
    decode_cursor,
    encode_audit_cursor,
    validate_audit_time,
    validate_document_id,
    validate_explain,
    validate_history,
    validate_key,
    validate_limit,
    validate_prefix,
    validate_question,
    validate_role_query,
    validate_roles,
    validate_search,
    validate_size,
    validate_status,
    validate_top_k,
    validate_until,
    validate_user_id,
    validate_writers,
)
from ragline.models import ConversationTurn, DocumentRecord, DocumentStatus, SearchHit
from ragline.settings import Fusion, RetrievalMode

ROLE_NAME = r"^[A-Za-z0-9_.:-]{1,64}$"  # ragline.access.ROLE_PATTERN, as JSON Schema writes it
RoleName = Annotated[str, Field(pattern=ROLE_NAME)]


# -- requests ------------------------------------------------------------------------------------


class QueryBody(BaseModel):
    """``POST /retrieve``, and the fields ``POST /query`` shares (:class:`AskBody`). Other fields are ignored,
    roles among them: a caller's roles come from the authorizer only."""

    model_config = ConfigDict(extra="ignore")

    question: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_QUESTION_CHARS,
            pattern=r"\S",  # not only spaces
            description="the question, in plain text",
        ),
        BeforeValidator(validate_question),
    ]
    top_k: Annotated[
        Annotated[int, Field(ge=TOP_K_RANGE.start, le=TOP_K_RANGE.stop - 1)] | None,
        Field(description="how many sources to return; default: the deployment's RAGLINE_TOP_K"),
        BeforeValidator(validate_top_k),
    ] = None
    explain: Annotated[
        bool,
        Field(description="give each result an explanation of how it got there; default false"),
        BeforeValidator(validate_explain),
    ] = False


class TurnBody(BaseModel):
    """An earlier turn of the conversation, as the API answered it: send ``standalone_question`` back as
    ``question``, and the answer's text."""

    model_config = ConfigDict(extra="forbid")

    question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S")]
    answer: Annotated[str, Field(max_length=MAX_HISTORY_ANSWER_CHARS)] = ""

    def to_turn(self) -> ConversationTurn:
        return ConversationTurn(question=self.question, answer=self.answer)


def _history_values(history: object) -> list[dict[str, str]]:
    return [{"question": turn.question, "answer": turn.answer} for turn in validate_history(history)]


class AskBody(QueryBody):
    """``POST /query``: a question, and the conversation so far when it is a follow-up."""

    history: Annotated[
        list[TurnBody],
        Field(
            max_length=MAX_HISTORY_TURNS,
            description="the conversation so far, oldest first (at most 10 turns): a follow-up such as "
            "'and in Q4?' is rewritten into a standalone question before retrieval; default none",
        ),
        BeforeValidator(_history_values),
    ] = []

    def turns(self) -> tuple[ConversationTurn, ...]:
        return tuple(turn.to_turn() for turn in self.history)


class UploadBody(BaseModel):
    """``POST /documents``: where to upload, who may read the document, its size, and who may change it."""

    model_config = ConfigDict(extra="ignore")

    key: Annotated[
        str,
        Field(min_length=1, max_length=MAX_KEY_BYTES, description="the object key, e.g. finance/q3.md"),
        BeforeValidator(validate_key),
    ]
    roles: Annotated[
        list[RoleName],
        Field(min_length=1, max_length=MAX_ROLES, description="the roles that may read it; ones the caller holds"),
        BeforeValidator(lambda roles: list(validate_roles(roles))),
    ]
    size: Annotated[int, Field(ge=1, description="the file's size in bytes"), BeforeValidator(validate_size)]
    writers: Annotated[
        Annotated[list[RoleName], Field(max_length=MAX_ROLES)] | None,
        Field(
            description="the roles that may replace or delete it besides its owner; [] for none; "
            "absent keeps those of the document being replaced",
        ),
        BeforeValidator(lambda writers: None if writers is None else list(validate_writers(writers))),
    ] = None

    def to_request(self) -> UploadRequest:
        writers = None if self.writers is None else tuple(self.writers)
        return UploadRequest(key=self.key, roles=tuple(self.roles), size=self.size, writers=writers)


# The query string of ``GET /documents``: each parameter checked by its rule, and described in the schema.
# Each Query() comes before its rule: pydantic writes a constraint after a BeforeValidator into the schema
# under its Python name (`ge`) instead of JSON Schema's (`minimum`).
ListLimit = Annotated[
    Annotated[int, Field(ge=LIST_LIMIT_RANGE.start, le=LIST_LIMIT_RANGE.stop - 1)],
    Query(description="documents per page"),
    BeforeValidator(validate_limit),
]
ListCursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_CURSOR_CHARS,
        pattern="^[A-Za-z0-9_-]+$",  # base64url; only a cursor the API made decodes
        description="the next_cursor of the page before, unchanged",
    ),
    BeforeValidator(decode_cursor),
]
ListStatus = Annotated[
    DocumentStatus | None,
    Query(description="only documents of this status; deleted ones are listed only when asked for"),
    BeforeValidator(validate_status),
]
ListPrefix = Annotated[
    str, Query(max_length=MAX_KEY_BYTES, description="only keys starting so"), BeforeValidator(validate_prefix)
]
ListSearch = Annotated[
    str,
    Query(max_length=MAX_KEY_BYTES, description="only documents whose key or title contains this, in any case"),
    BeforeValidator(validate_search),
]


# The query string of ``GET /audit`` (admins only): one document's or one user's records in a time window.
AuditDoc = Annotated[
    str | None,
    Query(min_length=24, max_length=24, description="a document's id: who was given its passages or asked for it"),
    BeforeValidator(validate_document_id),
]
AuditUser = Annotated[
    str | None,
    Query(min_length=1, max_length=MAX_USER_ID_CHARS, description="a user id (sub): what the user asked and received"),
    BeforeValidator(validate_user_id),
]
AuditSince = Annotated[
    str,
    Query(max_length=40, description="from this ISO 8601 time (UTC unless it names an offset), inclusive"),
    BeforeValidator(validate_audit_time),
]
AuditUntil = Annotated[
    str, Query(max_length=40, description="until this ISO 8601 time, exclusive"), BeforeValidator(validate_until)
]
AuditLimit = Annotated[
    Annotated[int, Field(ge=LIST_LIMIT_RANGE.start, le=LIST_LIMIT_RANGE.stop - 1)],
    Query(description="records per page"),
    BeforeValidator(validate_limit),
]
# No pattern: the constraints apply to what the rule returns (a position), not to the cursor as sent.
AuditCursor = Annotated[
    str | None,
    Query(min_length=1, description="the next_cursor of the page before, unchanged"),
    BeforeValidator(decode_audit_cursor),
]
AccessRoles = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_ROLES * 65,
        pattern=r"^[A-Za-z0-9_.:-]{1,64}(,[A-Za-z0-9_.:-]{1,64})*$",
        description="comma-separated roles: what would a caller holding them see",
    ),
    BeforeValidator(lambda roles: ",".join(sorted(validate_role_query(roles)))),
]


def bad_request_of(errors: list[dict[str, Any]]) -> BadRequest:
    """The 400 for what the models refused before any rule ran: a missing body or field, a body that is not
    a JSON object, a value of the wrong type. (A rule's own refusal is a BadRequest already.)"""
    error = errors[0] if errors else {}
    location = tuple(error.get("loc") or ())
    kind = error.get("type", "")
    if kind == "json_invalid":
        return BadRequest("invalid_json", "request body is not valid JSON")
    if location == ("body",):
        if kind == "missing":
            return BadRequest("missing_body", "request body must be a JSON object")
        return BadRequest("invalid_body", "request body must be a JSON object")
    field = str(location[-1]) if len(location) > 1 else "request"
    if kind == "missing":
        return BadRequest(f"invalid_{field}", f"'{field}' is required")
    return BadRequest(f"invalid_{field}", f"'{field}': {error.get('msg', 'invalid value')}")


# -- responses -----------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer, the gateway's own included."""

    message: str
    code: str


class SearchRankBody(BaseModel):
    """Where a result stood in one search. Ranks count only the caller's own results: the role filter runs
    inside each search."""

    rank: int | None = Field(description="its position among the caller's results of this search, from 1; null: absent")
    score: float | None = Field(
        description="dense: the cosine similarity; lexical: the BM25 score min-max normalised over the caller's "
        "own lexical results (never the raw score); null: absent"
    )

    @classmethod
    def of(cls, rank: SearchRank | None) -> SearchRankBody | None:
        return None if rank is None else cls(rank=rank.rank, score=_rounded(rank.score))


class FusionPartBody(BaseModel):
    search: Literal["dense", "lexical"]
    weight: float
    value: float = Field(description="convex: the normalised score; rrf: 1 / (k + rank); 0 when absent from it")
    contribution: float = Field(description="weight x value: what this search added to the fused score")


class FusionBody(BaseModel):
    """How the searches' rankings were fused into this result's score."""

    method: Fusion
    score: float = Field(description="the fused score: the sum of the parts' contributions")
    parts: list[FusionPartBody] = Field(description="one per search that ran")
    rrf_k: int | None = Field(description="rrf's constant k; null for convex")

    @classmethod
    def of(cls, step: FusionStep | None) -> FusionBody | None:
        if step is None:
            return None
        parts = [
            FusionPartBody(
                search=part.search,
                weight=part.weight,
                value=round(part.value, 6),
                contribution=round(part.contribution, 6),
            )
            for part in step.parts
        ]
        return cls(method=step.method, score=round(step.score, 6), parts=parts, rrf_k=step.rrf_k)


class RerankBody(BaseModel):
    score: float | None = Field(description="the reranker's score; null: past the shortlist, not reranked")
    rank_before: int = Field(description="its rank in the fused list, from 1")
    rank_after: int = Field(description="its rank once the shortlist was reranked")

    @classmethod
    def of(cls, step: RerankStep | None) -> RerankBody | None:
        if step is None:
            return None
        return cls(score=_rounded(step.score), rank_before=step.rank_before, rank_after=step.rank_after)


class NearDuplicateBody(BaseModel):
    """Another passage the caller may see, judged a near-duplicate by MMR."""

    chunk_id: str
    doc_id: str
    title: str
    result: int | None = Field(description="its number among the results (the sources, for /query); null: dropped")
    similarity: float = Field(description="the cosine of the two passages' term counts")
    step: int = Field(description="MMR's pick at which it counted")

    @classmethod
    def of(cls, duplicate: NearDuplicate) -> NearDuplicateBody:
        return cls(
            chunk_id=duplicate.chunk_id,
            doc_id=duplicate.doc_id,
            title=duplicate.title,
            result=duplicate.result,
            similarity=round(duplicate.similarity, 6),
            step=duplicate.step,
        )


class MmrBody(BaseModel):
    """What maximal marginal relevance did with this result."""

    considered: bool = Field(description="whether it was in the shortlist MMR picks from (past it, the order stands)")
    step: int | None = Field(description="the pick that kept it, from 1; null when not considered")
    mmr_lambda: float = Field(description="1 keeps the ranking; lower trades relevance for novelty")
    passed_over: NearDuplicateBody | None = Field(
        description="the earlier pick it was first passed over for, as its near-duplicate; null if never"
    )
    displaced: list[NearDuplicateBody] = Field(description="the passages passed over as near-duplicates of it")

    @classmethod
    def of(cls, step: MmrStep) -> MmrBody:
        return cls(
            considered=step.considered,
            step=step.step,
            mmr_lambda=step.mmr_lambda,
            passed_over=None if step.passed_over is None else NearDuplicateBody.of(step.passed_over),
            displaced=[NearDuplicateBody.of(duplicate) for duplicate in step.displaced],
        )


class SpanBody(BaseModel):
    start: int = Field(description="offset of the first character in the result's text")
    end: int = Field(description="offset just past the last character")
    term: str = Field(description="the question's term it matches, lower-cased")


class ExplanationBody(BaseModel):
    """How a result got where it is, from the caller's own results only. A stage the mode did not run is
    null."""

    mode: RetrievalMode = Field(description="the retrieval mode that ran")
    admitted_by: list[str] = Field(description="the caller's roles that the passage's roles include")
    dense: SearchRankBody | None = Field(description="the k-NN search; null when it did not run")
    lexical: SearchRankBody | None = Field(description="the BM25 search; null when it did not run")
    fusion: FusionBody | None = Field(description="null when only one search ran unfused (dense)")
    rerank: RerankBody | None = Field(description="null unless the mode reranks")
    mmr: MmrBody
    matches: list[SpanBody] = Field(description="where the question's terms occur in the result's text")

    @classmethod
    def of(cls, explanation: Explanation) -> ExplanationBody:
        return cls(
            mode=explanation.mode,  # type: ignore[arg-type]  # one of RETRIEVAL_MODES: QueryService ran it
            admitted_by=list(explanation.admitted_by),
            dense=SearchRankBody.of(explanation.dense),
            lexical=SearchRankBody.of(explanation.lexical),
            fusion=FusionBody.of(explanation.fusion),
            rerank=RerankBody.of(explanation.rerank),
            mmr=MmrBody.of(explanation.mmr),
            matches=[SpanBody(start=span.start, end=span.end, term=span.term) for span in explanation.matches],
        )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


class PassageBody(BaseModel):
    """A passage the caller may see, and where its text came from."""

    doc_id: str
    source: str = Field(description="s3://bucket/key")
    title: str
    chunk_id: str
    score: float
    text: str = Field(description="the passage")
    page: int | None = Field(description="the page, for paged formats; else null")
    heading_path: list[str] = Field(description="the headings above the passage, outermost first")
    explanation: ExplanationBody | None = Field(
        default=None, description="how it got there, when the request asked for explain; else null"
    )

    @classmethod
    def related(cls, hit: SearchHit, explanation: Explanation | None = None) -> PassageBody:
        """A passage shown as related to a question that was not answered: no number, it is not cited."""
        return PassageBody(**_passage_fields(hit, explanation))


class SourceBody(PassageBody):
    """A citation or a retrieval result: its number in the answer, and where the text came from."""

    id: int = Field(description="the number the answer cites it by, from 1")

    @classmethod
    def of(cls, number: int, hit: SearchHit, explanation: Explanation | None = None) -> SourceBody:
        return cls(id=number, **_passage_fields(hit, explanation))


def _passage_fields(hit: SearchHit, explanation: Explanation | None) -> dict[str, Any]:
    chunk = hit.chunk
    return {
        "doc_id": chunk.doc_id,
        "source": chunk.source,
        "title": chunk.title,
        "chunk_id": chunk.chunk_id,
        "score": round(hit.score, 6),
        "text": chunk.passage(),
        "page": chunk.page,
        "heading_path": list(chunk.heading_path),
        "explanation": None if explanation is None else ExplanationBody.of(explanation),
    }


class AnswerBody(BaseModel):
    answer: str = Field(description="the answer, citing its sources as [n]; when not answered, a plain decline")
    answered: bool = Field(
        description="false when no answer was found in the passages retrieved: then citations is empty "
        "and related lists those passages"
    )
    question: str = Field(description="the question as asked")
    standalone_question: str = Field(
        description="what retrieval searched for: the question, or a follow-up rewritten to stand alone"
    )
    citations: list[SourceBody]
    related: list[PassageBody] = Field(
        description="when not answered, the passages retrieved for the caller, best first, to read instead; "
        "not citations of an answer; else empty"
    )
    model: str
    timings_ms: dict[str, float]


class RetrievalBody(BaseModel):
    results: list[SourceBody]


class UploadGrantBody(BaseModel):
    upload_url: str
    method: Literal["PUT"]
    headers: dict[str, str] = Field(description="send exactly these with the PUT: they are signed")
    key: str
    doc_id: str
    expires_in: int


class DocumentBody(BaseModel):
    """A document's status. Its roles name other groups, so only admins see them."""

    doc_id: str
    source: str
    title: str
    status: DocumentStatus
    chunk_count: int
    error: str | None = Field(description="why it failed, for a failed document")
    updated_at: str
    can_write: bool = Field(description="whether the caller may replace or delete it")
    roles: list[str] | None = Field(description="who may read it; null but for admins")

    @classmethod
    def of(cls, record: DocumentRecord, show_roles: bool, can_write: bool) -> DocumentBody:
        return cls(
            doc_id=record.doc_id,
            source=record.source,
            title=record.title,
            status=record.status,
            chunk_count=record.chunk_count,
            error=record.error or None,
            updated_at=record.updated_at,
            can_write=can_write,
            roles=list(record.roles) if show_roles else None,
        )


class AccessPageBody(BaseModel):
    """What a caller holding ``roles`` would see (``GET /access/roles``)."""

    roles: list[str]
    documents: list[DocumentBody]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last page")


class ReadersBody(BaseModel):
    """Who may read a document (``GET /access/documents/{doc_id}``): a caller holding one of the roles, and
    the admin group."""

    doc_id: str
    source: str
    title: str
    status: DocumentStatus
    indexed_roles: list[str] = Field(description="the roles its chunks carry now: who can retrieve it")
    bucket_roles: list[str] | None = Field(
        description="the roles ingest gives the object in the bucket now (sidecar, metadata, prefix policy, "
        "default); null when the bucket has none"
    )
    pending: bool = Field(description="the two differ: a re-index is on its way")
    admin_group: str
    owner: str = Field(description="the uploader's user id; empty for a document put into S3 directly")
    writers: list[str] = Field(description="the roles that may replace or delete it, besides owner and admins")


class PolicyWarningBody(BaseModel):
    kind: Literal["visible_to_nobody", "sensitive_and_broad"]
    doc_id: str
    source: str
    title: str
    roles: list[str] = Field(description="the broad roles that reach it; empty for visible_to_nobody")


class WarningPageBody(BaseModel):
    warnings: list[PolicyWarningBody]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last page")


class DocumentPageBody(BaseModel):
    documents: list[DocumentBody]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last page")


class DownloadBody(BaseModel):
    url: str = Field(description="a presigned GET of the source as it was indexed")
    expires_in: int


class DeletionBody(BaseModel):
    doc_id: str
    status: Literal["deleting"]


class AuditSourceBody(BaseModel):
    doc_id: str
    chunk_id: str
    cited: bool = Field(description="whether the answer cited it")


class AuditRecordBody(BaseModel):
    """One audited request (docs/security.md, "The audit trail")."""

    at: str = Field(description="when the function received the request: UTC, to the millisecond")
    request_id: str = Field(description="API Gateway's requestId, as in its access log and the function's log")
    action: AuditAction
    status: int = Field(description="the HTTP status answered")
    code: str = Field(description="the error code answered; empty for a success")
    user: str = Field(description="the caller's user id (sub); - when the request carried no valid token")
    username: str
    groups: list[str]
    question: str = Field(description="the question, when RAGLINE_AUDIT_QUESTIONS=keep; else empty")
    question_hmac: str = Field(description="its HMAC-SHA256 under the deployment's key (hash); else empty")
    standalone_question: str = Field(
        default="", description="a follow-up rewritten to stand alone, what was searched for, when kept; else empty"
    )
    standalone_question_hmac: str = Field(default="", description="its HMAC-SHA256, when questions are hashed")
    requested: str = Field(description="what the request named: a document id, a key, doc:<id> or user:<sub>")
    documents: list[str] = Field(description="the documents it touched: returned, cited or asked for")
    sources: list[AuditSourceBody] = Field(description="the passages returned (for /query: those the answer drew on)")
    detail: str = Field(description="why a token was refused, where the gateway said")

    @classmethod
    def of(cls, record: AuditRecord) -> AuditRecordBody:
        return cls.model_validate(record.to_json())


class AuditPageBody(BaseModel):
    records: list[AuditRecordBody] = Field(description="oldest first")
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last page")

    @classmethod
    def of(cls, page: AuditPage) -> AuditPageBody:
        cursor = None if page.next_position is None else encode_audit_cursor(page.next_position)
        return cls(records=[AuditRecordBody.of(record) for record in page.records], next_cursor=cursor)


class HealthBody(BaseModel):
    status: Literal["ok"]


def published(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document Powertools generates, told what this API answers instead of Powertools'
    defaults: a refused request is 400 with :class:`ErrorBody` (not 422 with Powertools' own body), and
    a response that fails its model is a bare 500 with :class:`ErrorBody` too (the query function's
    exception handlers). ``document`` is the schema dumped as JSON: its status codes are strings."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            if "500" in responses:
                responses["500"] = {"description": "an unexpected error, with no detail", "content": error}
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    return document


def responses(*errors: int, success: int = 200, described: dict[int, str] | None = None) -> dict[int, Any]:
    """A route's OpenAPI ``responses``: its success (with the route's return model) and its errors, each
    with the ``{"message", "code"}`` body; ``described`` says what an error means on this route instead."""
    descriptions = {
        400: "a bad request: the code names the field",
        401: "a missing, invalid or expired token",
        403: "the write model refuses it",
        404: "no such document, or one the caller may not see",
        409: "the document changed meanwhile",
        412: "the key was taken or changed meanwhile",
        415: "the body is not JSON",
        500: "an unexpected error, with no detail",
        503: "a service the answer depends on is unavailable: try again shortly",
    } | (described or {})
    documented: dict[int, Any] = {success: {"description": "success"}}
    for status in (*errors, 500, 503):
        documented[status] = {
            "description": descriptions[status],
            "content": {"application/json": {"model": ErrorBody}},
        }
    return documented
