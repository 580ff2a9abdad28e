"""The audit trail's records on the fakes: what a record keeps of a request, and who may read records."""

from __future__ import annotations

import pytest

from ragline.audit import (
    ANONYMOUS,
    AuditCaller,
    AuditNotes,
    AuditRecord,
    AuditTrail,
    audited_action,
    question_hmac,
)
from ragline.documents import Caller, Refused
from ragline.errors import AuditUnavailable, ConfigurationError
from ragline.http_api import (
    AuditRequest,
    BadRequest,
    decode_audit_cursor,
    encode_audit_cursor,
    validate_audit_time,
    validate_user_id,
)
from ragline.models import Chunk, SearchHit
from tests.fakes import FakeAuditLog

KEY = b"k" * 32
D1, D2 = "1" * 24, "2" * 24
BOB = AuditCaller(user="u-bob", username="bob", groups=("staff", "finance"))
ADMIN = Caller("u-ada", frozenset({"admin"}), "admin")


def hit(doc_id: str, position: int) -> SearchHit:
    chunk = Chunk(f"{doc_id}-v-{position:05d}", doc_id, "v", "text", f"s3://b/{doc_id}", "T", ("finance",), position)
    return SearchHit(chunk, 0.5)


def trail(questions: str = "hash", log: FakeAuditLog | None = None) -> AuditTrail:
    return AuditTrail(log or FakeAuditLog(), questions, KEY if questions == "hash" else None, "admin")  # type: ignore[arg-type]


def answered(question: str = "What was Q3 revenue?") -> AuditNotes:
    notes = AuditNotes(started_ms=1_795_600_800_042)
    notes.returned(question, [hit(D1, 0), hit(D2, 3), hit(D1, 1)], cited={1, 3})
    return notes


def test_a_record_says_who_when_what_how_it_ended_and_which_passages_were_returned_and_cited():
    record = trail().record("query", "req-1", BOB, 200, "", answered())

    assert record.at == "2026-11-25T10:00:00.042Z" and record.request_id == "req-1"
    assert (record.user, record.username, record.groups) == ("u-bob", "bob", ("finance", "staff"))
    assert (record.action, record.status, record.code) == ("query", 200, "")
    assert record.documents == (D1, D2)  # each once, in the order returned
    assert [(s.chunk_id, s.cited) for s in record.sources] == [
        (f"{D1}-v-00000", True),
        (f"{D2}-v-00003", False),
        (f"{D1}-v-00001", True),
    ]
    assert record.cited(D1) and not record.cited(D2)


@pytest.mark.parametrize(
    ("questions", "text", "hashed"),
    [
        ("keep", "What was Q3 revenue?", ""),
        ("hash", "", question_hmac(KEY, "What was Q3 revenue?")),
        ("omit", "", ""),
    ],
)
def test_a_question_is_kept_hashed_with_the_key_or_left_out(questions, text, hashed):
    record = trail(questions).record("retrieve", "r", BOB, 200, "", answered())
    assert (record.question, record.question_hmac) == (text, hashed)
    assert "What was Q3" not in repr(record) or questions == "keep"


@pytest.mark.parametrize("questions", ["keep", "hash", "omit"])
def test_a_follow_ups_standalone_question_is_kept_as_questions_are(questions):
    notes = AuditNotes(started_ms=1_795_600_800_042)
    notes.returned("and in Q4?", [hit(D1, 0)], standalone_question="What was revenue in Q4?")

    record = trail(questions).record("query", "r", BOB, 200, "", notes)

    kept = {"keep": ("What was revenue in Q4?", ""), "omit": ("", "")}
    hashed = ("", question_hmac(KEY, "What was revenue in Q4?"))
    assert (record.standalone_question, record.standalone_question_hmac) == kept.get(questions, hashed)
    assert AuditRecord.from_json(record.to_json()) == record


def test_a_question_that_needed_no_rewrite_is_kept_once():
    notes = AuditNotes(started_ms=1_795_600_800_042)
    notes.returned("What was Q3 revenue?", [hit(D1, 0)], standalone_question="What was Q3 revenue?")

    record = trail("keep").record("query", "r", BOB, 200, "", notes)

    assert (record.question, record.standalone_question) == ("What was Q3 revenue?", "")


def test_the_related_passages_of_a_decline_are_recorded_as_returned_and_not_cited():
    notes = AuditNotes(started_ms=1_795_600_800_042)
    notes.returned("Who won the cup?", [hit(D1, 0), hit(D2, 1)], cited=())

    record = trail().record("query", "r", BOB, 200, "", notes)

    assert [(s.doc_id, s.cited) for s in record.sources] == [(D1, False), (D2, False)]
    assert record.documents == (D1, D2)


def test_the_same_question_hashes_the_same_and_another_key_differently():
    assert question_hmac(KEY, "q") == question_hmac(KEY, "q") != question_hmac(b"x" * 32, "q")
    assert len(question_hmac(KEY, "q")) == 64


def test_hashing_questions_needs_a_key():
    with pytest.raises(ConfigurationError, match="RAGLINE_AUDIT_QUESTIONS='hash' needs a key"):
        AuditTrail(FakeAuditLog(), "hash", None, "admin")


def test_the_document_asked_for_is_recorded_whatever_the_answer_and_only_an_id_becomes_a_partition():
    notes = AuditNotes(started_ms=0)
    notes.asked_for(D1, D1)
    refused = trail().record("download", "r", BOB, 404, "not_found", notes)
    assert refused.documents == (D1,) and refused.requested == D1 and refused.code == "not_found"

    odd = AuditNotes(started_ms=0)
    odd.asked_for("../../etc/passwd" * 100, "../../etc/passwd")
    record = trail().record("delete", "r", BOB, 404, "not_found", odd)
    assert record.documents == () and len(record.requested) == 1024


def test_a_request_without_claims_is_the_anonymous_users():
    record = trail().record("query", "r", AuditCaller(), 401, "unauthorized", AuditNotes(started_ms=0))
    assert record.user == ANONYMOUS and record.username == "" and record.groups == ()


def test_a_record_round_trips_through_json():
    record = trail("keep").record("query", "r", BOB, 200, "", answered())
    assert AuditRecord.from_json(record.to_json()) == record


def test_a_write_that_fails_for_any_reason_is_audit_unavailable():
    log = FakeAuditLog()
    log.failing = True
    with pytest.raises(AuditUnavailable):
        trail(log=log).write(trail().record("query", "r", BOB, 200, "", answered()))

    class Throttled(FakeAuditLog):
        def write(self, record: AuditRecord) -> None:
            raise RuntimeError("ProvisionedThroughputExceededException")

    with pytest.raises(AuditUnavailable, match="RuntimeError"):
        trail(log=Throttled()).write(trail().record("query", "r", BOB, 200, "", answered()))


def test_only_the_admin_group_reads_the_trail_by_document_or_by_user():
    log = FakeAuditLog()
    audit = trail(log=log)
    audit.write(audit.record("query", "r-1", BOB, 200, "", answered()))

    with pytest.raises(Refused) as refused:
        audit.read(Caller("u-bob", frozenset({"finance"}), "admin"), AuditRequest(doc=D1))
    assert (refused.value.status, refused.value.code) == (403, "forbidden")

    assert [r.request_id for r in audit.read(ADMIN, AuditRequest(doc=D2)).records] == ["r-1"]
    assert [r.request_id for r in audit.read(ADMIN, AuditRequest(user="u-bob")).records] == ["r-1"]
    assert audit.read(ADMIN, AuditRequest(user="u-eve")).records == []


def test_the_routes_audited_are_the_reads_of_documents_the_changes_and_the_trail_itself():
    assert audited_action("POST", "/query") == "query"
    assert audited_action("GET", "/documents/{doc_id}/download") == "download"
    assert audited_action("DELETE", "/documents/{doc_id}") == "delete"
    assert audited_action("POST", "/documents") == "upload"
    assert audited_action("GET", "/audit") == "audit"
    assert audited_action("GET", "/documents") is None and audited_action("GET", "/health") is None


# -- the rules of GET /audit -----------------------------------------------------------------------


def test_an_audit_request_names_exactly_one_subject_and_a_window_in_order():
    with pytest.raises(BadRequest, match="exactly one"):
        AuditRequest()
    with pytest.raises(BadRequest, match="exactly one"):
        AuditRequest(doc=D1, user="u-1")
    with pytest.raises(BadRequest) as backwards:
        AuditRequest(doc=D1, since="2026-11-25T00:00:00.000Z", until="2026-11-24T00:00:00.000Z")
    assert backwards.value.code == "invalid_range"
    assert AuditRequest(user="u-1").subject == "user:u-1"


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("2026-11-25", "2026-11-25T00:00:00.000Z"),
        ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000Z"),
        ("2026-11-25T10:00:00.5", "2026-11-25T10:00:00.500Z"),
        ("2026-11-25T12:00:00+02:00", "2026-11-25T10:00:00.000Z"),
    ],
)
def test_times_are_read_as_iso_8601_in_utc(text, time):
    assert validate_audit_time(text) == time


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "1" * 41, 5])
def test_other_times_are_refused(text):
    with pytest.raises(BadRequest) as refused:
        validate_audit_time(text, "until")
    assert refused.value.code == "invalid_until"


def test_user_ids_and_cursors():
    assert validate_user_id("0b1c-uuid") == "0b1c-uuid"
    for bad in ("", "a b", "x" * 129, "é", "a\nb"):
        with pytest.raises(BadRequest):
            validate_user_id(bad)
    position = "2026-11-25T10:00:00.123Z#9f1e-req"
    assert decode_audit_cursor(encode_audit_cursor(position)) == position
    for bad in ("", "not-base64!", encode_audit_cursor("not a position"), "A" * 300):
        with pytest.raises(BadRequest):
            decode_audit_cursor(bad)
