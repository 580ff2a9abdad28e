"""A Python client of ragline's HTTP API (docs/architecture.md, "HTTP API"), for the CLI and your own code.

Every call sends the bearer token (a Cognito ID token on AWS; ``ragline token`` signs one locally). A
dropped or refused connection and a 502, 503 or 504 are tried again with jittered exponential backoff
(:class:`ragline.retry.RetryPolicy`); any other answer that is not a success raises :class:`ApiError`
with the status and the API's ``{"message", "code"}``. When the API cannot be reached at all, even after
the retries, :class:`ApiUnreachable` is raised.

Example:
    >>> client = RaglineClient("https://abc.execute-api.us-east-1.amazonaws.com/prod", token)  # doctest: +SKIP
    >>> client.upload(Path("q3.md"), "finance/q3.md", roles=["finance"]).doc_id  # doctest: +SKIP
    '5f0c...'
    >>> print(client.query("What was Q3 revenue?").answer)  # doctest: +SKIP
    Revenue in Q3 2026 was $14.2 million [1].
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ragline.audit import AuditRecord
from ragline.http_api import MAX_HISTORY_ANSWER_CHARS, MAX_HISTORY_TURNS
from ragline.models import ConversationTurn
from ragline.retry import RetryPolicy

#: Answers worth another try: the gateway or the function behind it was briefly unavailable.
RETRY_STATUSES = frozenset({502, 503, 504})
DEFAULT_RETRY = RetryPolicy(attempts=4, base_delay=0.25, max_delay=2.0)


class ApiError(Exception):
    """The API answered with an error: ``status``, and the ``code`` and ``message`` of its body.

    ``body`` is the decoded body as sent (API Gateway's own 401 carries a message and no code)."""

    def __init__(self, status: int, message: str, code: str = "", body: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}" if code else f"{status}: {message}")
        self.status = status
        self.message = message
        self.code = code
        self.body = body


class ApiUnreachable(Exception):
    """No answer from the API: the connection was refused, dropped or timed out (after the retries)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url} is not responding ({reason})")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class SearchRank:
    """A result's place in one search: ``rank`` from 1 among the caller's own results of it, and its
    ``score`` (dense: cosine similarity; lexical: BM25 normalised over those results); None when absent."""

    rank: int | None
    score: float | None

    @classmethod
    def from_json(cls, body: dict[str, Any] | None) -> SearchRank | None:
        return None if body is None else cls(rank=body.get("rank"), score=body.get("score"))


@dataclass(frozen=True)
class FusionPart:
    """One search's part of a fused score: ``contribution = weight * value``."""

    search: str
    weight: float
    value: float
    contribution: float


@dataclass(frozen=True)
class FusionScore:
    """How the searches were fused into ``score`` (``convex`` or ``rrf``, with its ``rrf_k``)."""

    method: str
    score: float
    parts: tuple[FusionPart, ...]
    rrf_k: int | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any] | None) -> FusionScore | None:
        if body is None:
            return None
        parts = tuple(FusionPart(p["search"], p["weight"], p["value"], p["contribution"]) for p in body["parts"])
        return cls(method=body["method"], score=body["score"], parts=parts, rrf_k=body.get("rrf_k"))


@dataclass(frozen=True)
class RerankMove:
    """The reranker's ``score`` (None: past the shortlist) and the rank it moved the result from and to."""

    score: float | None
    rank_before: int
    rank_after: int


@dataclass(frozen=True)
class NearDuplicate:
    """Another of the caller's passages that MMR judged a near-duplicate; ``result`` None: it was dropped."""

    chunk_id: str
    doc_id: str
    title: str
    result: int | None
    similarity: float
    step: int

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> NearDuplicate:
        return cls(
            chunk_id=body["chunk_id"],
            doc_id=body["doc_id"],
            title=body.get("title", ""),
            result=body.get("result"),
            similarity=body["similarity"],
            step=body["step"],
        )


@dataclass(frozen=True)
class MmrChoice:
    """What MMR did: the pick ``step`` that kept the result (None: past the shortlist, not ``considered``)."""

    considered: bool
    step: int | None
    mmr_lambda: float
    passed_over: NearDuplicate | None = None
    displaced: tuple[NearDuplicate, ...] = ()

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> MmrChoice:
        passed_over = body.get("passed_over")
        return cls(
            considered=body["considered"],
            step=body.get("step"),
            mmr_lambda=body["mmr_lambda"],
            passed_over=None if passed_over is None else NearDuplicate.from_json(passed_over),
            displaced=tuple(NearDuplicate.from_json(d) for d in body.get("displaced") or ()),
        )


@dataclass(frozen=True)
class Explanation:
    """How a result got where it is (``"explain": true``); a stage its ``mode`` did not run is None.
    ``matches`` are ``(start, end, term)``: ``text[start:end]`` is one of the question's terms."""

    mode: str
    admitted_by: tuple[str, ...]
    dense: SearchRank | None
    lexical: SearchRank | None
    fusion: FusionScore | None
    rerank: RerankMove | None
    mmr: MmrChoice
    matches: tuple[tuple[int, int, str], ...]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Explanation:
        rerank = body.get("rerank")
        return cls(
            mode=body["mode"],
            admitted_by=tuple(body.get("admitted_by") or ()),
            dense=SearchRank.from_json(body.get("dense")),
            lexical=SearchRank.from_json(body.get("lexical")),
            fusion=FusionScore.from_json(body.get("fusion")),
            rerank=None
            if rerank is None
            else RerankMove(rerank.get("score"), rerank["rank_before"], rerank["rank_after"]),
            mmr=MmrChoice.from_json(body["mmr"]),
            matches=tuple((m["start"], m["end"], m["term"]) for m in body.get("matches") or ()),
        )


@dataclass(frozen=True)
class Passage:
    r"""A passage the caller may see, where its text came from, and (``explain=True``) how it got there.
    An answer's citations are :class:`Source`\ s; a question not answered lists passages as ``related``."""

    doc_id: str
    source: str
    title: str
    chunk_id: str
    score: float
    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    explanation: Explanation | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Passage:
        return cls(**_passage_fields(body))


@dataclass(frozen=True, kw_only=True)
class Source(Passage):
    """A citation of an answer, or a retrieval result: ``id`` is its number in the answer (``[1]``);
    ``explanation`` only when asked for (``explain=True``)."""

    id: int

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Source:
        return cls(id=body["id"], **_passage_fields(body))


def _passage_fields(body: dict[str, Any]) -> dict[str, Any]:
    explanation = body.get("explanation")
    return {
        "doc_id": body["doc_id"],
        "source": body["source"],
        "title": body["title"],
        "chunk_id": body["chunk_id"],
        "score": body["score"],
        "text": body["text"],
        "page": body.get("page"),
        "heading_path": tuple(body.get("heading_path") or ()),
        "explanation": None if explanation is None else Explanation.from_json(explanation),
    }


@dataclass(frozen=True)
class Answer:
    """``POST /query``: the answer, the sources it cites, the model that wrote it and where time went.

    When no answer was found (``answered`` false), ``citations`` is empty and ``related`` lists the passages
    that were searched, best first. ``standalone_question`` is what was searched for: the question, or a
    follow-up rewritten to stand alone."""

    answer: str
    citations: list[Source]
    model: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    answered: bool = True
    related: list[Passage] = field(default_factory=list)
    question: str = ""
    standalone_question: str = ""

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Answer:
        return cls(
            answer=body["answer"],
            citations=[Source.from_json(citation) for citation in body.get("citations", [])],
            model=body.get("model", ""),
            timings_ms=dict(body.get("timings_ms") or {}),
            answered=bool(body.get("answered", True)),
            related=[Passage.from_json(passage) for passage in body.get("related", [])],
            question=body.get("question", ""),
            standalone_question=body.get("standalone_question", ""),
        )


@dataclass(frozen=True)
class Document:
    """A document's status as the registry records it (``roles`` only for admins); ``can_write``: whether the
    caller may replace or delete it."""

    doc_id: str
    source: str
    title: str
    status: str
    chunk_count: int
    updated_at: str
    error: str | None = None
    roles: tuple[str, ...] | None = None
    can_write: bool = False

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Document:
        roles = body.get("roles")
        return cls(
            doc_id=body["doc_id"],
            source=body.get("source", ""),
            title=body.get("title", ""),
            status=body["status"],
            chunk_count=int(body.get("chunk_count") or 0),
            updated_at=str(body.get("updated_at") or ""),
            error=body.get("error"),
            roles=None if roles is None else tuple(roles),
            can_write=bool(body.get("can_write")),
        )


@dataclass(frozen=True)
class DocumentPage:
    """One page of ``GET /documents``; ``next_cursor`` fetches the next, None on the last page."""

    documents: list[Document]
    next_cursor: str | None


@dataclass(frozen=True)
class UploadGrant:
    """``POST /documents``: a presigned PUT that must send exactly ``headers``, valid ``expires_in`` seconds."""

    upload_url: str
    method: str
    headers: dict[str, str]
    key: str
    doc_id: str
    expires_in: int

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> UploadGrant:
        return cls(
            upload_url=body["upload_url"],
            method=body.get("method", "PUT"),
            headers=dict(body.get("headers") or {}),
            key=body["key"],
            doc_id=body["doc_id"],
            expires_in=int(body.get("expires_in") or 0),
        )


@dataclass(frozen=True)
class DownloadLink:
    """``GET /documents/{doc_id}/download``: a presigned GET of the source as indexed, valid ``expires_in`` s."""

    url: str
    expires_in: int


@dataclass(frozen=True)
class AuditTrailPage:
    """One page of ``GET /audit``, oldest first; ``next_cursor`` fetches the next, None on the last page."""

    records: list[AuditRecord]
    next_cursor: str | None


class RaglineClient:
    """The HTTP API at ``base_url`` (the stage's URL, no trailing slash needed), as the holder of ``token``.

    ``retry`` sets how often and how long a refused connection or a 502/503/504 is tried again; ``timeout``
    is each request's, in seconds. ``token=None`` makes unauthenticated calls (``GET /health``)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = 120.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retry = retry
        self.timeout = timeout
        self.session = session or requests.Session()

    # -- questions ------------------------------------------------------------------------------

    def query(
        self,
        question: str,
        top_k: int | None = None,
        explain: bool = False,
        history: Sequence[ConversationTurn] = (),
    ) -> Answer:
        """Ask a question: an answer written from the passages the caller may see, with citations (each
        with its :class:`Explanation` when ``explain``). ``history``: the conversation so far, when the
        question follows up on it (:class:`Conversation` keeps one); its last turns are sent, as the API
        bounds them."""
        body = _question(question, top_k, explain)
        if history:
            body["history"] = [
                {"question": turn.question, "answer": turn.answer[:MAX_HISTORY_ANSWER_CHARS]}
                for turn in history[-MAX_HISTORY_TURNS:]
            ]
        return Answer.from_json(self.request("POST", "/query", body))

    def retrieve(self, question: str, top_k: int | None = None, explain: bool = False) -> list[Source]:
        """The passages a question retrieves, best first, without an answer (each with its
        :class:`Explanation` when ``explain``)."""
        body = self.request("POST", "/retrieve", _question(question, top_k, explain))
        return [Source.from_json(result) for result in body["results"]]

    # -- documents ------------------------------------------------------------------------------

    def create_upload(
        self, key: str, roles: Sequence[str], size: int, writers: Sequence[str] | None = None
    ) -> UploadGrant:
        """A presigned PUT for ``size`` bytes at ``key``, readable by ``roles`` (and replaceable by
        ``writers``, besides its owner and admins)."""
        body: dict[str, Any] = {"key": key, "roles": list(roles), "size": size}
        if writers is not None:
            body["writers"] = list(writers)
        return UploadGrant.from_json(self.request("POST", "/documents", body))

    def upload(self, path: Path, key: str, roles: Sequence[str], writers: Sequence[str] | None = None) -> UploadGrant:
        """Upload the file at ``path`` to ``key``: a presigned PUT, then the PUT itself. Indexing follows
        asynchronously: :meth:`document` tells when it is ``indexed`` (or ``failed``, and why)."""
        data = path.read_bytes()
        grant = self.create_upload(key, roles, len(data), writers)
        # A content type of its own: without one, some clients send a form's, and S3 stores it as such.
        headers = {"Content-Type": "application/octet-stream", **grant.headers}
        response = self._send(grant.method, grant.upload_url, data=data, headers=headers)
        if not response.ok:
            raise ApiError(response.status_code, response.text[:300] or response.reason, "upload_failed")
        return grant

    def document(self, doc_id: str) -> Document:
        """One document's status; 404 (:class:`ApiError`) when it does not exist or the caller may not see it."""
        return Document.from_json(self.request("GET", f"/documents/{doc_id}"))

    def documents(
        self,
        limit: int = 100,
        cursor: str | None = None,
        status: str | None = None,
        prefix: str | None = None,
        search: str | None = None,
    ) -> DocumentPage:
        """One page (``limit``: 1 to 100) of the documents the caller may see, optionally only those of a
        ``status``, whose key starts with ``prefix``, or whose key or title contains ``search`` (any case)."""
        filters = {"cursor": cursor, "status": status, "prefix": prefix, "search": search}
        params = {"limit": str(limit), **{name: value for name, value in filters.items() if value}}
        body = self.request("GET", "/documents", params=params)
        return DocumentPage([Document.from_json(d) for d in body["documents"]], body.get("next_cursor"))

    def iter_documents(
        self, status: str | None = None, prefix: str | None = None, search: str | None = None
    ) -> Iterator[Document]:
        """Every document the caller may see (of the filters :meth:`documents` takes), page after page."""
        cursor: str | None = None
        while True:
            page = self.documents(cursor=cursor, status=status, prefix=prefix, search=search)
            yield from page.documents
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def download_link(self, doc_id: str) -> DownloadLink:
        """A short-lived URL of the document's source as it was indexed; 404 (:class:`ApiError`) wherever
        :meth:`document` is 404, and for a deleted document or one not read yet."""
        body = self.request("GET", f"/documents/{doc_id}/download")
        return DownloadLink(url=body["url"], expires_in=int(body.get("expires_in") or 0))

    def download(self, doc_id: str) -> bytes:
        """The bytes of the document's source as it was indexed (:meth:`download_link`, then the GET)."""
        response = self._send("GET", self.download_link(doc_id).url)
        if not response.ok:
            raise ApiError(response.status_code, response.text[:300] or response.reason, "download_failed")
        return response.content

    # -- policy inspection (admins only; 403 otherwise) ---------------------------------------------

    def visible_to(self, roles: Sequence[str]) -> Iterator[Document]:
        """Every document a caller holding ``roles`` would see, page after page."""
        cursor: str | None = None
        while True:
            params = {"roles": ",".join(roles), "limit": "100", **({"cursor": cursor} if cursor else {})}
            body = self.request("GET", "/access/roles", params=params)
            yield from (Document.from_json(document) for document in body["documents"])
            if not (cursor := body.get("next_cursor")):
                return

    def readers(self, doc_id: str) -> dict[str, Any]:
        """Who may read a document: ``indexed_roles``, ``bucket_roles`` (what ingest gives the object in the
        bucket now), ``pending``, ``owner``, ``writers`` (``GET /access/documents/{doc_id}``)."""
        body: dict[str, Any] = self.request("GET", f"/access/documents/{doc_id}")
        return body

    def policy_warnings(self) -> Iterator[dict[str, Any]]:
        """Documents nobody may read, and sensitive ones a broad role may: ``{"kind", "doc_id", "source",
        "title", "roles"}`` each, page after page."""
        cursor: str | None = None
        while True:
            body = self.request("GET", "/access/warnings", params={"cursor": cursor} if cursor else None)
            yield from body["warnings"]
            if not (cursor := body.get("next_cursor")):
                return

    def delete(self, doc_id: str) -> None:
        """Delete a document: it stops being retrieved within seconds (the API answers 202)."""
        self.request("DELETE", f"/documents/{doc_id}")

    # -- the audit trail (admins only) ----------------------------------------------------------

    def audit(
        self,
        doc: str | None = None,
        user: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> AuditTrailPage:
        """One page of the audit records of document ``doc`` (its id) or of user ``user`` (a sub), exactly one
        of them, from ``since`` until before ``until`` (ISO 8601); 403 (:class:`ApiError`) unless the caller is
        an admin."""
        filters = {"doc": doc, "user": user, "since": since, "until": until, "cursor": cursor}
        params = {"limit": str(limit), **{name: value for name, value in filters.items() if value}}
        body = self.request("GET", "/audit", params=params)
        return AuditTrailPage([AuditRecord.from_json(r) for r in body["records"]], body.get("next_cursor"))

    def iter_audit(
        self, doc: str | None = None, user: str | None = None, since: str | None = None, until: str | None = None
    ) -> Iterator[AuditRecord]:
        """Every audit record :meth:`audit` finds, page after page, oldest first."""
        cursor: str | None = None
        while True:
            page = self.audit(doc=doc, user=user, since=since, until=until, cursor=cursor)
            yield from page.records
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def health(self) -> bool:
        """Whether the API answers ``GET /health``."""
        return self.request("GET", "/health") == {"status": "ok"}

    # -- the wire -------------------------------------------------------------------------------

    def request(
        self, method: str, route: str, body: dict[str, Any] | None = None, params: dict[str, str] | None = None
    ) -> Any:
        """Call ``route`` and return the decoded JSON body of a 2xx answer; raise :class:`ApiError` on any
        other. For routes this client has no method for."""
        status, decoded = self.call(method, route, body, params)
        if not 200 <= status < 300:
            message, code = "error", ""
            if isinstance(decoded, dict):
                message, code = str(decoded.get("message", message)), str(decoded.get("code", ""))
            raise ApiError(status, message, code, decoded)
        return decoded

    def call(
        self, method: str, route: str, body: dict[str, Any] | None = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """Call ``route`` and return its status and decoded JSON body, whatever the status (None for an
        empty body). Raises only :class:`ApiUnreachable`."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self._send(method, self.base_url + route, json=body, params=params, headers=headers)
        return response.status_code, _decode(response)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request, tried again on a connection error or a 502/503/504 as :attr:`retry` allows."""
        for attempt in range(self.retry.attempts):
            last = attempt + 1 == self.retry.attempts
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.ConnectionError as error:  # refused, reset, or the connect timed out
                if last:
                    raise ApiUnreachable(self.base_url, _reason(error)) from error
            except requests.Timeout as error:  # no answer in time: trying again would only wait again
                raise ApiUnreachable(self.base_url, f"no answer within {self.timeout:g} s") from error
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    return response
            self.retry.pause(attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")


class Conversation:
    """A conversation with the API: each question is asked with the turns before it, so a follow-up ("and
    in Q4?") is answered as the API rewrites it. Each turn keeps the standalone question, which carries the
    subject on to the next follow-up. Nothing is stored by the API: the history is sent with each question.

    >>> chat = Conversation(RaglineClient(url, token))  # doctest: +SKIP
    >>> chat.ask("How many engineers will Contoso hire in Q3?").answer  # doctest: +SKIP
    >>> chat.ask("and in Q4?").standalone_question  # doctest: +SKIP
    'How many engineers will Contoso hire in Q4?'
    """

    def __init__(self, client: RaglineClient, top_k: int | None = None, explain: bool = False) -> None:
        self.client = client
        self.top_k = top_k
        self.explain = explain
        self.turns: list[ConversationTurn] = []

    def ask(self, question: str) -> Answer:
        answer = self.client.query(question, self.top_k, self.explain, history=self.turns)
        self.turns = [*self.turns, ConversationTurn(answer.standalone_question or question, answer.answer)]
        self.turns = self.turns[-MAX_HISTORY_TURNS:]
        return answer


def _question(question: str, top_k: int | None, explain: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"question": question}
    if top_k is not None:
        body["top_k"] = top_k
    if explain:
        body["explain"] = True
    return body


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"message": response.text[:300]}


def _reason(error: Exception) -> str:
    text = str(error)
    for known in ("Connection refused", "Connection reset", "timed out", "Name or service not known"):
        if known in text:
            return known.lower()
    return type(error).__name__
