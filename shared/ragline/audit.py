"""The access audit trail: one record of every read of documents and every change, for auditors only.

Every ``POST /query``, ``POST /retrieve``, ``GET /documents/{doc_id}/download``, ``POST /documents``,
``DELETE /documents/{doc_id}`` and ``GET /audit`` leaves one :class:`AuditRecord`, whatever its outcome: when
(UTC, to the millisecond), who (the caller's ``sub``, username and groups), what (the action, what it named),
how it ended (the HTTP status and the error code), the question (its text, a keyed HMAC-SHA256 of it, or
nothing: ``RAGLINE_AUDIT_QUESTIONS``), the passages it returned and which of them the answer cited, and the
request id (API Gateway's ``requestId``). Nothing of a record reaches the caller. What is kept, for how long,
who reads it and what it does not protect against: docs/security.md, "The audit trail".

The query function keeps a :class:`AuditNotes` for each request, which its routes fill in on the way (the
question, the passages); once the route has answered, :meth:`AuditTrail.record` makes the record of the
request and its answer, and :meth:`AuditTrail.write` keeps it before the answer is returned. Admins read
records back by document or by user (:meth:`AuditTrail.read`), each one :class:`~ragline.ports.AuditLog`
query.

Example:
    >>> trail = AuditTrail(None, questions="hash", key=b"k" * 32, admin_group="admin")  # a record needs no log yet
    >>> notes = AuditNotes(started_ms=1_764_064_800_123)
    >>> notes.asked_for("finance/q3.md", "0" * 24)
    >>> caller = AuditCaller(user="u-1", username="bob", groups=("finance",))
    >>> record = trail.record("upload", "r-1", caller, status=403, code="forbidden_write", notes=notes)
    >>> record.at, record.documents, record.code
    ('2025-11-25T10:00:00.123Z', ('000000000000000000000000',), 'forbidden_write')
    >>> trail.write(record)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

from ragline.documents import Caller, Refused
from ragline.errors import AuditUnavailable, ConfigurationError
from ragline.http_api import AuditRequest, format_audit_time
from ragline.ids import is_document_id
from ragline.models import SearchHit
from ragline.settings import AuditQuestions

if TYPE_CHECKING:
    from ragline.ports import AuditLog

AuditAction = Literal["query", "retrieve", "download", "upload", "delete", "audit", "policy"]
AUDIT_ACTIONS: tuple[AuditAction, ...] = get_args(AuditAction)

# (method, resource) of each route that is audited, and its action. Listing documents and reading one's
# status show registry metadata only, never document text, and are not recorded.
AUDITED_ROUTES: Mapping[tuple[str, str], AuditAction] = {
    ("POST", "/query"): "query",
    ("POST", "/retrieve"): "retrieve",
    ("GET", "/documents/{doc_id}/download"): "download",
    ("POST", "/documents"): "upload",
    ("DELETE", "/documents/{doc_id}"): "delete",
    ("GET", "/audit"): "audit",
    # An admin's inspection of the access policy: who looked at whose permissions (ragline.policy).
    ("GET", "/access/roles"): "policy",
    ("GET", "/access/documents/{doc_id}"): "policy",
    ("GET", "/access/warnings"): "policy",
}
ANONYMOUS = "-"  # the user of a record whose request carried no (valid) token
MAX_REQUESTED_CHARS = 1024  # what a request named is kept to this length (an S3 key's limit)
MAX_DETAIL_CHARS = 200


def audited_action(method: str | None, resource: str | None) -> AuditAction | None:
    """The action a request of this route is recorded as; None for a route that is not audited."""
    return AUDITED_ROUTES.get((method or "", resource or ""))


def question_hmac(key: bytes, question: str) -> str:
    """The keyed HMAC-SHA256 of a question (hex): the same question gives the same value under one key, so
    an auditor holding the key can tell whether a given question was asked, and nobody without it can read
    one back.

    >>> question_hmac(b"key", "What was Q3 revenue?")[:16]
    '2ea968d8466705b8'
    """
    return hmac.new(key, question.encode("utf-8"), hashlib.sha256).hexdigest()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class AuditSource:
    """A passage a request returned: its document and chunk, and whether the answer cited it."""

    doc_id: str
    chunk_id: str
    cited: bool = False


@dataclass(frozen=True)
class AuditCaller:
    """Who made the request, from the authorizer's claims: :data:`ANONYMOUS` when there were none."""

    user: str = ANONYMOUS  # Cognito's sub
    username: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditRecord:
    """One audited request, as kept. Every field is for auditors; none of it is returned to the caller."""

    at: str  # UTC to the millisecond ("2026-11-25T10:00:00.123Z"): when the function received the request
    request_id: str  # API Gateway's requestId, the function's correlation id
    action: AuditAction
    status: int  # the HTTP status answered
    code: str = ""  # the error code answered ("" for a success)
    user: str = ANONYMOUS
    username: str = ""
    groups: tuple[str, ...] = ()
    question: str = ""  # the question's text, when questions are kept
    question_hmac: str = ""  # its keyed HMAC-SHA256, when questions are hashed
    # A follow-up's standalone rewrite, what retrieval searched for, kept as the question is; "" otherwise.
    standalone_question: str = ""
    standalone_question_hmac: str = ""
    # What the request named: a document id (download, delete), a key (upload), doc:<id> or user:<sub> (audit).
    requested: str = ""
    documents: tuple[str, ...] = ()  # the documents it touched: those of its passages, or the one asked for
    sources: tuple[AuditSource, ...] = ()  # the passages it returned, and which were cited
    detail: str = ""  # why the local gateway refused a token

    @property
    def position(self) -> str:
        """Where the record sorts among a document's or a user's records: by time, then request id."""
        return f"{self.at}#{self.request_id}"

    def cited(self, doc_id: str) -> bool:
        return any(source.cited and source.doc_id == doc_id for source in self.sources)

    def to_json(self) -> dict[str, Any]:
        """The record as JSON values: the admin route's body, and the log line of a record not written."""
        return asdict(self) | {"groups": list(self.groups), "documents": list(self.documents)}

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> AuditRecord:
        return cls(
            at=str(values["at"]),
            request_id=str(values["request_id"]),
            action=values["action"],
            status=int(values["status"]),
            code=str(values.get("code", "")),
            user=str(values.get("user", ANONYMOUS)),
            username=str(values.get("username", "")),
            groups=tuple(values.get("groups") or ()),
            question=str(values.get("question", "")),
            question_hmac=str(values.get("question_hmac", "")),
            standalone_question=str(values.get("standalone_question", "")),
            standalone_question_hmac=str(values.get("standalone_question_hmac", "")),
            requested=str(values.get("requested", "")),
            documents=tuple(values.get("documents") or ()),
            sources=tuple(
                AuditSource(str(source["doc_id"]), str(source["chunk_id"]), bool(source.get("cited")))
                for source in values.get("sources") or ()
            ),
            detail=str(values.get("detail", "")),
        )


@dataclass(frozen=True)
class AuditPage:
    """Records of one document or user, oldest first, and the cursor of the next page (None: the last)."""

    records: list[AuditRecord]
    next_position: str | None


@dataclass
class AuditNotes:
    """What a route found out about its request, for its audit record; one per request."""

    started_ms: int = field(default_factory=now_ms)
    question: str | None = None
    standalone_question: str | None = None  # a follow-up's rewrite, when it differs from the question
    sources: list[AuditSource] = field(default_factory=list)
    requested: str = ""
    documents: list[str] = field(default_factory=list)

    def returned(
        self, question: str, hits: Sequence[SearchHit], cited: Collection[int] = (), standalone_question: str = ""
    ) -> None:
        """The question and the passages the request returned, numbered from 1; ``cited``: the numbers the
        answer cites. For ``/query`` these are every passage the generator read (its answer may draw on any),
        which a declined answer returns as related passages, none cited; ``standalone_question``: what a
        follow-up was rewritten to and retrieval searched for."""
        self.question = question
        if standalone_question and standalone_question != question:
            self.standalone_question = standalone_question
        self.sources = [
            AuditSource(hit.chunk.doc_id, hit.chunk.chunk_id, number in cited)
            for number, hit in enumerate(hits, start=1)
        ]

    def asked_for(self, requested: str, doc_id: str | None = None) -> None:
        """What the request named (a document id, a key, an audit subject), and the document it names when it
        is one: the record is kept under that document too, whatever the answer, 404 included."""
        self.requested = requested[:MAX_REQUESTED_CHARS]
        if doc_id is not None and is_document_id(doc_id) and doc_id not in self.documents:
            self.documents.append(doc_id)


class AuditTrail:
    """Makes, keeps and reads audit records on an :class:`~ragline.ports.AuditLog`.

    ``questions`` says what a record keeps of a question (``keep``, ``hash`` with ``key``, ``omit``);
    ``admin_group`` may read records.
    """

    def __init__(self, log: AuditLog, questions: AuditQuestions, key: bytes | None, admin_group: str) -> None:
        if questions == "hash" and not key:
            raise ConfigurationError("RAGLINE_AUDIT_QUESTIONS='hash' needs a key (RAGLINE_AUDIT_KEY_SECRET or _FILE)")
        self.log = log
        self.questions = questions
        self._key = key
        self.admin_group = admin_group

    def record(
        self,
        action: AuditAction,
        request_id: str,
        caller: AuditCaller,
        status: int,
        code: str,
        notes: AuditNotes,
        detail: str = "",
    ) -> AuditRecord:
        """The record of a request that was answered ``status`` (and ``code``, for an error); ``detail``: why
        a token was refused."""
        documents = dict.fromkeys([*notes.documents, *(source.doc_id for source in notes.sources)])
        return AuditRecord(
            at=format_audit_time(datetime.fromtimestamp(notes.started_ms / 1000, UTC)),
            request_id=request_id,
            action=action,
            status=status,
            code=code,
            user=caller.user or ANONYMOUS,
            username=caller.username,
            groups=tuple(sorted(caller.groups)),
            **self._question("question", notes.question),
            **self._question("standalone_question", notes.standalone_question),
            requested=notes.requested,
            documents=tuple(doc_id for doc_id in documents if is_document_id(doc_id)),
            sources=tuple(notes.sources),
            detail=detail[:MAX_DETAIL_CHARS],
        )

    def _question(self, name: str, question: str | None) -> dict[str, str]:
        """The record's fields for a question called ``name``: ``name`` (its text) or ``name_hmac``, as
        configured; none when omitted."""
        if question is None or self.questions == "omit":
            return {}
        if self.questions == "keep":
            return {name: question}
        assert self._key is not None  # checked in __init__
        return {f"{name}_hmac": question_hmac(self._key, question)}

    def write(self, record: AuditRecord) -> None:
        """Keep the record; :class:`AuditUnavailable` when it was not kept, whatever the reason."""
        try:
            self.log.write(record)
        except AuditUnavailable:
            raise
        except Exception as error:  # throttled, unreachable, refused: the record is not kept all the same
            raise AuditUnavailable(f"the audit record was not kept ({type(error).__name__})") from error

    def read(self, caller: Caller, request: AuditRequest) -> AuditPage:
        """The records of the request's document or user in its time window, for the admin group only."""
        if not caller.is_admin:
            raise Refused(403, "forbidden", "only the admin group may read the audit trail")
        window = (request.since, request.until, request.limit, request.after)
        if request.doc is not None:
            records, after = self.log.by_document(request.doc, *window)
        else:
            assert request.user is not None  # AuditRequest has exactly one of them
            records, after = self.log.by_user(request.user, *window)
        return AuditPage(records, after)
