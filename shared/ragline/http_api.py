"""The HTTP API's rules for what a request may carry (README, "HTTP API"), as plain functions.

Each rule takes the raw value and returns it checked (and normalised), or raises :class:`BadRequest` with
the code and message the API answers 400 with. :mod:`ragline.api_schema` attaches them to the typed
request models the query function validates with and describes in its OpenAPI document; the use cases
(:mod:`ragline.documents`) take the dataclasses here. Nothing here imports pydantic: the ingest function
reads these limits too.

Example:
    >>> validate_roles(["research", "finance", "finance"])
    ('finance', 'research')
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

from ragline.access import ROLE_PATTERN, SIDECAR_SUFFIX
from ragline.ids import is_document_id
from ragline.models import ConversationTurn, DocumentStatus

MAX_QUESTION_CHARS = 2000
MAX_HISTORY_TURNS = 10  # earlier turns of a conversation a POST /query may carry
MAX_HISTORY_ANSWER_CHARS = 2000  # each earlier answer, as sent back (clients cut longer ones)
MAX_BODY_BYTES = 16 * 1024
TOP_K_RANGE = range(1, 21)
MAX_KEY_BYTES = 1024  # S3's limit on an object key
MAX_ROLES = 20
LIST_LIMIT_RANGE = range(1, 101)
DEFAULT_LIST_LIMIT = 25
DOCUMENT_STATUSES: tuple[str, ...] = get_args(DocumentStatus)
MAX_CURSOR_CHARS = 256
LIST_PARAMETERS = ("limit", "cursor", "status", "prefix", "search")


class BadRequest(Exception):
    """Answered with 400 and ``{"message", "code"}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def validate_question(question: object) -> str:
    """A ``POST /query`` or ``/retrieve`` question: a non-empty string of at most 2000 characters, as
    valid Unicode; stripped.

    >>> validate_question("  What was Q3 revenue? ")
    'What was Q3 revenue?'
    """
    if not isinstance(question, str) or not question.strip():
        raise BadRequest("invalid_question", "'question' must be a non-empty string")
    if len(question) > MAX_QUESTION_CHARS:
        raise BadRequest("question_too_long", f"'question' is over {MAX_QUESTION_CHARS} characters")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800"
        raise BadRequest("invalid_question", "'question' is not valid Unicode text") from None
    return question.strip()


def validate_top_k(top_k: object) -> int:
    """How many sources to return: an integer (not a boolean, not a string) from 1 to 20."""
    top_k = _integral(top_k)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k not in TOP_K_RANGE:
        raise BadRequest(
            "invalid_top_k", f"'top_k' must be an integer from {TOP_K_RANGE.start} to {TOP_K_RANGE.stop - 1}"
        )
    return top_k


def validate_explain(explain: object) -> bool:
    """Whether to explain each result: JSON's true or false, nothing else (not "true", not 1)."""
    if not isinstance(explain, bool):
        raise BadRequest("invalid_explain", "'explain' must be true or false")
    return explain


def validate_history(history: object) -> tuple[ConversationTurn, ...]:
    """The conversation so far of a ``POST /query``: at most 10 turns, oldest first, each
    ``{"question": str, "answer"?: str}``, a question as :func:`validate_question` checks it and an answer
    of at most 2000 characters. The caller's own text, untrusted: it shapes the question searched for,
    never whose documents are searched (docs/security.md, "Follow-up questions").

    >>> validate_history([{"question": "Hires in Q3? ", "answer": "35 [1]."}])
    (ConversationTurn(question='Hires in Q3?', answer='35 [1].'),)
    """
    if not isinstance(history, list):
        raise BadRequest("invalid_history", "'history' must be a list of {question, answer} turns")
    if len(history) > MAX_HISTORY_TURNS:
        raise BadRequest("history_too_long", f"'history' may hold at most {MAX_HISTORY_TURNS} turns")
    return tuple(_turn(turn) for turn in history)


def _turn(turn: object) -> ConversationTurn:
    if not isinstance(turn, dict) or set(turn) - {"question", "answer"}:
        raise BadRequest("invalid_history", "each turn of 'history' must be {question, answer}")
    try:
        question = validate_question(turn.get("question"))
    except BadRequest as error:
        code = "history_too_long" if error.code == "question_too_long" else "invalid_history"
        raise BadRequest(code, f"a turn of 'history': {error.message}") from None
    answer = turn.get("answer", "")
    if not isinstance(answer, str):
        raise BadRequest("invalid_history", "the answer of a turn of 'history' must be a string")
    if len(answer) > MAX_HISTORY_ANSWER_CHARS:
        raise BadRequest("history_too_long", f"an answer in 'history' is over {MAX_HISTORY_ANSWER_CHARS} characters")
    try:
        answer.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("invalid_history", "an answer in 'history' is not valid Unicode text") from None
    return ConversationTurn(question=question, answer=answer)


def _integral(value: object) -> object:
    """JSON has one number type: 5.0 is the integer 5 to JSON Schema, and so to the API; 2.5 stays a float."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def parse_json_object(body: str) -> dict[str, Any]:
    """A request body as a JSON object, or BadRequest: at most 16 KB, valid JSON, an object."""
    if not body.strip():
        raise BadRequest("missing_body", "request body must be a JSON object")
    try:
        size = len(body.encode())
    except UnicodeEncodeError:  # a lone surrogate in the raw body
        raise BadRequest("invalid_json", "request body is not valid UTF-8 JSON") from None
    if size > MAX_BODY_BYTES:
        raise BadRequest("body_too_large", f"request body is over {MAX_BODY_BYTES} bytes")
    try:
        payload: Any = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise BadRequest("invalid_json", "request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("invalid_body", "request body must be a JSON object")
    return payload


def validate_key(key: object) -> str:
    """An object key a caller may upload to: a non-empty string of at most 1024 UTF-8 bytes, no leading
    "/", no "." or ".." path segment, no trailing "/" (a folder marker), no control characters, and not a
    ``.metadata.json`` sidecar (sidecars set roles; they are not uploaded through the API).

    >>> validate_key("finance/q3.md")
    'finance/q3.md'
    """
    if not isinstance(key, str) or not key:
        raise BadRequest("invalid_key", "'key' must be a non-empty string")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadRequest("invalid_key", "'key' is not valid Unicode text") from None
    if size > MAX_KEY_BYTES:
        raise BadRequest("invalid_key", f"'key' is over {MAX_KEY_BYTES} bytes in UTF-8")
    if any(unicodedata.category(char) == "Cc" for char in key):
        raise BadRequest("invalid_key", "'key' must not contain control characters")
    if key.startswith("/") or key.endswith("/"):
        raise BadRequest("invalid_key", "'key' must not start or end with '/'")
    if any(segment in (".", "..") for segment in key.split("/")):
        raise BadRequest("invalid_key", "'key' must not have '.' or '..' path segments")
    if key.endswith(SIDECAR_SUFFIX):
        raise BadRequest("invalid_key", f"'key' must not end in {SIDECAR_SUFFIX!r}: sidecars are not uploaded this way")
    return key


def validate_roles(roles: object, field: str = "roles") -> tuple[str, ...]:
    """Roles to give an uploaded document: 1 to 20 names of ``[A-Za-z0-9_.:-]{1,64}``; sorted, without
    duplicates. (No commas or spaces: they separate roles in ``x-amz-meta-roles``.)

    >>> validate_roles(["research", "finance", "finance"])
    ('finance', 'research')
    """
    code = f"invalid_{field}"
    if not isinstance(roles, list) or not roles:
        raise BadRequest(code, f"'{field}' must be a non-empty list of role names")
    if len(roles) > MAX_ROLES:
        raise BadRequest(code, f"'{field}' may name at most {MAX_ROLES} roles")
    for role in roles:
        if not isinstance(role, str) or ROLE_PATTERN.fullmatch(role) is None:
            raise BadRequest(code, "each role must be a string of 1 to 64 letters, digits or the characters _ . : -")
    return tuple(sorted(set(roles)))


def validate_writers(writers: object) -> tuple[str, ...]:
    """The roles that may replace or delete a document: as :func:`validate_roles`, or ``[]`` for none."""
    return () if writers == [] else validate_roles(writers, "writers")


def validate_role_query(roles: object) -> frozenset[str]:
    """``finance,hr``: the roles of ``GET /access/roles``, 1 to 20 role names, comma-separated.

    >>> sorted(validate_role_query("hr,finance"))
    ['finance', 'hr']
    """
    return frozenset(validate_roles(roles.split(",") if isinstance(roles, str) else roles))


def validate_size(size: object) -> int:
    """The upload's size in bytes, which the signed URL then requires (S3 refuses any other length)."""
    size = _integral(size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise BadRequest("invalid_size", "'size' must be the file's size in bytes, a positive integer")
    return size


@dataclass(frozen=True)
class UploadRequest:
    """A ``POST /documents`` body: where to upload, which roles may read the document, its size in bytes,
    and optionally which roles may replace or delete it (``writers``; None keeps those of the document
    being replaced).

    >>> UploadRequest(key="finance/q3.md", roles=("finance",), size=2048).roles_metadata
    'finance'
    """

    key: str
    roles: tuple[str, ...]
    size: int
    writers: tuple[str, ...] | None = None

    @property
    def roles_metadata(self) -> str:
        """The value of ``x-amz-meta-roles``: the roles, comma-separated."""
        return ",".join(self.roles)


def encode_cursor(after: str) -> str:
    """The opaque ``next_cursor`` of ``GET /documents``: where the next page's scan starts (a ``doc_id``).
    It only positions the scan, so it needs no signature: whoever sends one sees only what they may see.

    >>> decode_cursor(encode_cursor("0" * 24)) == "0" * 24
    True
    """
    return _encode_position(after)


def decode_cursor(cursor: object) -> str:
    """The position a cursor from :func:`encode_cursor` names; BadRequest for anything else."""
    return _decode_position(cursor, is_document_id)


def _encode_position(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def _decode_position(cursor: object, is_position: Callable[[str], bool]) -> str:
    """The position a cursor of :func:`_encode_position` names, if ``is_position`` says it is one."""
    invalid = BadRequest("invalid_cursor", "'cursor' must be a next_cursor from an earlier page, unchanged")
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
        raise invalid
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload: Any = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except (ValueError, binascii.Error, UnicodeEncodeError):  # ValueError covers bad JSON and bad UTF-8
        raise invalid from None
    after = payload.get("after") if isinstance(payload, dict) else None
    if not isinstance(after, str) or not is_position(after):
        raise invalid
    return after


@dataclass(frozen=True)
class ListRequest:
    """The query string of ``GET /documents``: at most ``limit`` documents, from the position of
    ``cursor``, only of ``status``, under key ``prefix``, and whose key or title contains ``search`` (in
    any case) when given.

    >>> ListRequest(limit=10, status="failed", search="q3").matches("finance/q3.md", "Q3 summary")
    True
    """

    limit: int = DEFAULT_LIST_LIMIT
    after: str | None = None  # the position the cursor names; None: the start
    status: str | None = None
    prefix: str = ""
    search: str = ""  # casefolded; "" matches every document

    def matches(self, key: str, title: str) -> bool:
        """Whether a document at ``key`` with ``title`` passes the prefix and search filters."""
        if not key.startswith(self.prefix):
            return False
        return not self.search or self.search in key.casefold() or self.search in title.casefold()


def refuse_unknown_parameters(parameters: Mapping[str, str] | None, known: tuple[str, ...]) -> None:
    """A misspelt filter would otherwise list everything, as if it had matched."""
    unknown = sorted(set(parameters or {}) - set(known))
    if unknown:
        raise BadRequest("invalid_parameter", f"unknown query parameter: {unknown[0]!r}")


def validate_limit(limit: object) -> int:
    """A page size: 1 to 100, as ASCII digits in a query string (or an integer)."""
    if isinstance(limit, str) and limit.isascii() and limit.isdigit():
        limit = int(limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit not in LIST_LIMIT_RANGE:
        raise BadRequest(
            "invalid_limit", f"'limit' must be an integer from {LIST_LIMIT_RANGE.start} to {LIST_LIMIT_RANGE.stop - 1}"
        )
    return limit


def validate_status(status: object) -> str:
    if status not in DOCUMENT_STATUSES:
        raise BadRequest("invalid_status", f"'status' must be one of {', '.join(DOCUMENT_STATUSES)}")
    return str(status)


def validate_prefix(prefix: object) -> str:
    return _validate_text_filter("prefix", prefix)


def validate_search(search: object) -> str:
    """A part of a key or title to look for; casefolded, as the match is."""
    return _validate_text_filter("search", search).casefold()


def _validate_text_filter(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"invalid_{name}", f"'{name}' must be a string")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadRequest(f"invalid_{name}", f"'{name}' is not valid Unicode text") from None
    if size > MAX_KEY_BYTES or any(unicodedata.category(char) == "Cc" for char in value):
        raise BadRequest(
            f"invalid_{name}", f"'{name}' must be at most {MAX_KEY_BYTES} bytes, without control characters"
        )
    return value


# -- GET /audit --------------------------------------------------------------------------------------

AUDIT_PARAMETERS = ("doc", "user", "since", "until", "limit", "cursor")
MAX_USER_ID_CHARS = 128  # a Cognito sub is a 36-character UUID
# An audit position: the sort key of a record, "<UTC time to the millisecond>Z#<request id>".
_AUDIT_POSITION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[\x21-\x7e]{1,128}")


def format_audit_time(moment: datetime) -> str:
    """The form every audit time takes, UTC to the millisecond, so that text order is time order.

    >>> format_audit_time(datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC))
    '2026-11-25T10:00:00.123Z'
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def validate_audit_time(value: object, field: str = "since") -> str:
    """``since`` or ``until``: an ISO 8601 date or time (UTC unless it names an offset), as an audit time.

    >>> validate_audit_time("2026-11-25"), validate_audit_time("2026-11-25T12:00:00+02:00", "until")
    ('2026-11-25T00:00:00.000Z', '2026-11-25T10:00:00.000Z')
    """
    invalid = BadRequest(f"invalid_{field}", f"'{field}' must be an ISO 8601 date or time, e.g. 2026-11-25T10:00:00Z")
    if not isinstance(value, str) or not value or len(value) > 40:
        raise invalid
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid from None
    return format_audit_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def validate_until(value: object) -> str:
    return validate_audit_time(value, "until")


def validate_document_id(value: object) -> str:
    """``doc``: a document's id (24 hex digits; the CLI turns a key into one)."""
    if not isinstance(value, str) or not is_document_id(value):
        raise BadRequest("invalid_doc", "'doc' must be a document id (24 hexadecimal digits)")
    return value


def validate_user_id(value: object) -> str:
    """``user``: a user id (Cognito's ``sub``), printable ASCII of at most 128 characters."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_USER_ID_CHARS or not value.isascii():
        raise BadRequest("invalid_user", f"'user' must be a user id (sub) of 1 to {MAX_USER_ID_CHARS} characters")
    if not value.isprintable() or " " in value:
        raise BadRequest("invalid_user", "'user' must not contain spaces or control characters")
    return value


def encode_audit_cursor(position: str) -> str:
    """The opaque ``next_cursor`` of ``GET /audit``: the position (a record's sort key) the next page starts
    after, within the same document's or user's records. Like :func:`encode_cursor`, it only positions.

    >>> decode_audit_cursor(encode_audit_cursor("2026-11-25T10:00:00.123Z#r-1"))
    '2026-11-25T10:00:00.123Z#r-1'
    """
    return _encode_position(position)


def decode_audit_cursor(cursor: object) -> str:
    return _decode_position(cursor, lambda position: _AUDIT_POSITION.fullmatch(position) is not None)


@dataclass(frozen=True)
class AuditRequest:
    """The query string of ``GET /audit``: the records of one document (``doc``) or of one user (``user``),
    exactly one of them, from ``since`` (inclusive) until ``until`` (exclusive), ``limit`` at a time, after
    the position ``after`` (a cursor's).

    >>> AuditRequest(doc="0" * 24, since="2026-11-25T00:00:00.000Z").subject
    'doc:000000000000000000000000'
    """

    doc: str | None = None
    user: str | None = None
    since: str = ""  # "" from the first record
    until: str = ""  # "" to the last
    limit: int = DEFAULT_LIST_LIMIT
    after: str | None = None

    def __post_init__(self) -> None:
        if (self.doc is None) == (self.user is None):
            raise BadRequest("invalid_subject", "give exactly one of 'doc' and 'user'")
        if self.since and self.until and self.since >= self.until:
            raise BadRequest("invalid_range", "'since' must be before 'until'")

    @property
    def subject(self) -> str:
        """What the request reads, as an audit record of it names it: ``doc:<id>`` or ``user:<sub>``."""
        return f"doc:{self.doc}" if self.doc is not None else f"user:{self.user}"
