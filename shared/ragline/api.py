"""The HTTP API's request validation and response shapes (DESIGN.md, "HTTP API").

Kept apart from the Lambda handler so the rules are plain functions, testable without an event.

Example:
    >>> QueryRequest.from_body('{"question": "What was Q3 revenue?", "top_k": 3}', default_top_k=5)
    QueryRequest(question='What was Q3 revenue?', top_k=3)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ragline.models import DocumentRecord, SearchHit

MAX_QUESTION_CHARS = 2000
MAX_BODY_BYTES = 16 * 1024
TOP_K_RANGE = range(1, 21)


class BadRequest(Exception):
    """Answered with 400 and ``{"message", "code"}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class QueryRequest:
    question: str
    top_k: int

    @classmethod
    def from_body(cls, body: str | None, default_top_k: int) -> QueryRequest:
        """Validate a ``POST /query`` or ``/retrieve`` body. Fields other than these two are ignored,
        roles among them: a caller's roles come from the authorizer only."""
        if body is None or not body.strip():
            raise BadRequest("missing_body", "request body must be a JSON object with a 'question'")
        if len(body.encode()) > MAX_BODY_BYTES:
            raise BadRequest("body_too_large", f"request body is over {MAX_BODY_BYTES} bytes")
        try:
            payload: Any = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            raise BadRequest("invalid_json", "request body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise BadRequest("invalid_body", "request body must be a JSON object")
        question = payload.get("question")
        if not isinstance(question, str) or not question.strip():
            raise BadRequest("invalid_question", "'question' must be a non-empty string")
        if len(question) > MAX_QUESTION_CHARS:
            raise BadRequest("question_too_long", f"'question' is over {MAX_QUESTION_CHARS} characters")
        try:
            question.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800"
            raise BadRequest("invalid_question", "'question' is not valid Unicode text") from None
        top_k = payload.get("top_k", default_top_k)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k not in TOP_K_RANGE:
            raise BadRequest(
                "invalid_top_k", f"'top_k' must be an integer from {TOP_K_RANGE.start} to {TOP_K_RANGE.stop - 1}"
            )
        return cls(question=question.strip(), top_k=top_k)


def source_json(number: int, hit: SearchHit) -> dict[str, Any]:
    """A citation or retrieval result: the source's number in the answer and where the text came from."""
    chunk = hit.chunk
    result: dict[str, Any] = {
        "id": number,
        "doc_id": chunk.doc_id,
        "source": chunk.source,
        "title": chunk.title,
        "chunk_id": chunk.chunk_id,
        "score": round(hit.score, 6),
        "text": chunk.passage(),
    }
    if chunk.page is not None:
        result["page"] = chunk.page
    if chunk.heading_path:
        result["heading_path"] = list(chunk.heading_path)
    return result


def document_json(record: DocumentRecord, show_roles: bool) -> dict[str, Any]:
    """A document's status. Its roles name other groups, so only admins see them."""
    result: dict[str, Any] = {
        "doc_id": record.doc_id,
        "source": record.source,
        "title": record.title,
        "status": record.status,
        "chunk_count": record.chunk_count,
        "error": record.error or None,
        "updated_at": record.updated_at,
    }
    if show_roles:
        result["roles"] = list(record.roles)
    return result
