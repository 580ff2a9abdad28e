"""GET /documents and the download (ragline.documents) on in-memory fakes: who sees what, page by page.

The invariant (docs/security.md, "Who sees what"): a page never holds a document its caller may not see,
whatever cursor the caller sends, and paging to the end yields every document the caller may see, once.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from ragline.api_schema import ListCursor, ListLimit, ListPrefix, ListSearch, ListStatus
from ragline.documents import DOWNLOAD_URL_SECONDS, NOT_FOUND, Caller, DocumentsConfig, DocumentsService, Refused
from ragline.http_api import LIST_PARAMETERS, BadRequest, ListRequest, encode_cursor, refuse_unknown_parameters
from ragline.ids import document_id
from ragline.models import DocumentRecord, DocumentStatus
from tests.fakes import FakeDownloadSigner, FakeObjectStore, FakeRegistry, FakeUploadSigner, SignedDownload

BUCKET = "docs"
ROLES = ("finance", "research", "staff")
STATUSES: tuple[DocumentStatus, ...] = ("queued", "indexed", "failed", "deleted")


# The query function's typed parameters of GET /documents, validated here as Powertools validates them.
PARAMETERS = {
    "limit": ListLimit,
    "cursor": ListCursor,
    "status": ListStatus,
    "prefix": ListPrefix,
    "search": ListSearch,
}


def list_request(query: dict[str, str] | None) -> ListRequest:
    refuse_unknown_parameters(query, LIST_PARAMETERS)
    values = {name: TypeAdapter(PARAMETERS[name]).validate_python(value) for name, value in (query or {}).items()}
    return ListRequest(after=values.pop("cursor", None), **values)


def service_on(registry: FakeRegistry, objects: FakeObjectStore | None = None) -> DocumentsService:
    return DocumentsService(
        registry, objects or FakeObjectStore(), FakeUploadSigner(), DocumentsConfig(bucket=BUCKET), FakeDownloadSigner()
    )


def write(registry: FakeRegistry, key: str, roles: tuple[str, ...], status: DocumentStatus = "indexed", **fields):
    doc_id = document_id(BUCKET, key)
    assert registry.acquire(doc_id, "ingest", until_ms=1, now_ms=0)
    registry.put(DocumentRecord(doc_id, BUCKET, key, status, roles=roles, **fields), lease_owner="ingest")
    assert registry.release(doc_id, "ingest")
    return doc_id


def caller(*roles: str) -> Caller:
    return Caller("u-1", frozenset(roles), "admin")


def visible(record: DocumentRecord, who: Caller) -> bool:
    return who.is_admin or bool(set(record.roles) & who.roles)


def every_page(service: DocumentsService, who: Caller, **query) -> list[list[DocumentRecord]]:
    pages = []
    request = ListRequest(**query)
    for _ in range(1000):
        page = service.list_documents(who, request)
        pages.append(page.documents)
        if page.next_cursor is None:
            return pages
        request = list_request({**{k: str(v) for k, v in query.items()}, "cursor": page.next_cursor})
    raise AssertionError("the pages never ended")


documents = st.lists(
    st.tuples(
        st.sampled_from(["finance/", "research/", "public/", ""]),
        st.frozensets(st.sampled_from(ROLES), max_size=2),
        st.sampled_from(STATUSES),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(
    table=documents,
    leases=st.integers(min_value=0, max_value=5),
    caller_roles=st.frozensets(st.sampled_from((*ROLES, "admin", "other")), max_size=3),
    limit=st.integers(min_value=1, max_value=7),
    page_items=st.integers(min_value=1, max_value=8),
    max_pages=st.integers(min_value=1, max_value=4),
)
def test_no_page_holds_an_invisible_document_and_all_pages_hold_every_visible_one(
    table, leases, caller_roles, limit, page_items, max_pages
):
    registry = FakeRegistry()
    for n, (prefix, roles, status) in enumerate(table):
        write(registry, f"{prefix}doc-{n}.md", tuple(sorted(roles)), status)
    for n in range(leases):  # documents whose first event is being applied: a lease, no record
        assert registry.acquire(document_id(BUCKET, f"leased-{n}.md"), "ingest", until_ms=1, now_ms=0)
    service = service_on(registry)
    service.scan_page_items, service.max_scan_pages = page_items, max_pages
    who = Caller("u-1", caller_roles, "admin")

    pages = every_page(service, who, limit=limit)

    listed = [record for page in pages for record in page]
    assert all(len(page) <= limit for page in pages)
    assert all(visible(record, who) and record.status != "deleted" for record in listed)
    expected = [
        document_id(BUCKET, f"{prefix}doc-{n}.md")
        for n, (prefix, roles, status) in enumerate(table)
        if status != "deleted" and (who.is_admin or roles & caller_roles)
    ]
    assert sorted(record.doc_id for record in listed) == sorted(expected)  # each once


@settings(max_examples=40, deadline=None)
@given(
    table=documents,
    caller_roles=st.frozensets(st.sampled_from(ROLES), max_size=2),
    forged=st.binary(min_size=12, max_size=12),
)
def test_a_cursor_only_positions_the_scan_whatever_position_it_names(table, caller_roles, forged):
    registry = FakeRegistry()
    for n, (prefix, roles, status) in enumerate(table):
        write(registry, f"{prefix}doc-{n}.md", tuple(sorted(roles)), status)
    who = Caller("u-1", caller_roles, "admin")

    page = service_on(registry).list_documents(who, list_request({"cursor": encode_cursor(forged.hex())}))

    assert all(visible(record, who) for record in page.documents)


def test_the_filters_narrow_what_the_caller_sees():
    registry = FakeRegistry()
    q3 = write(registry, "finance/q3.md", ("finance",))
    broken = write(registry, "finance/broken.pdf", ("finance",), "failed", error="not a PDF")
    gone = write(registry, "finance/old.md", ("finance",), "deleted")
    write(registry, "finance-archive/q1.md", ("finance",))
    write(registry, "finance/board.md", ("board",))  # not the caller's
    service, who = service_on(registry), caller("finance")

    def listed(**query: str) -> set[str]:
        return {record.doc_id for page in every_page_of(service, who, query) for record in page}

    assert listed(prefix="finance/") == {q3, broken}  # deleted ones only when asked for
    assert listed(prefix="finance/", status="failed") == {broken}
    assert listed(status="deleted") == {gone}
    assert listed(prefix="nothing/") == set()
    assert len(listed()) == 3
    assert listed(search="Q3") == listed(search="q3.MD") == {q3}  # any case, in the key
    assert listed(search="board") == set()  # matches, but not the caller's
    assert listed(search="finance", status="failed") == {broken}


def test_search_matches_the_title_as_well_as_the_key():
    registry = FakeRegistry()
    annual = write(registry, "reports/2026.pdf", ("finance",), title="Annual Report: Ünïcode Edition")
    write(registry, "reports/2025.pdf", ("finance",), title="Budget")
    service, who = service_on(registry), caller("finance")

    def listed(**query: str) -> set[str]:
        return {record.doc_id for page in every_page_of(service, who, query) for record in page}

    assert listed(search="annual report") == listed(search="ÜNÏCODE") == {annual}
    assert len(listed(search="reports/")) == 2


def every_page_of(service: DocumentsService, who: Caller, query: dict[str, str]) -> list[list[DocumentRecord]]:
    pages, cursor = [], None
    while True:
        page = service.list_documents(who, list_request({**query, **({"cursor": cursor} if cursor else {})}))
        pages.append(page.documents)
        if (cursor := page.next_cursor) is None:
            return pages


def test_a_scan_is_bounded_and_says_where_to_go_on():
    registry = FakeRegistry()
    for n in range(20):
        write(registry, f"board/{n}.md", ("board",))
    mine = write(registry, "zz.md", ("staff",))
    service = service_on(registry)
    service.scan_page_items, service.max_scan_pages = 3, 2
    calls = []
    real_scan = registry.scan
    registry.scan = lambda after, limit: calls.append(limit) or real_scan(after, limit)  # type: ignore[method-assign]

    first = service.list_documents(caller("staff"), ListRequest(limit=5))

    assert calls == [3, 3]  # two pages of three items, then the request ends
    assert first.next_cursor is not None
    assert [record.doc_id for page in every_page(service, caller("staff"), limit=5) for record in page] == [mine]


def test_the_last_page_has_no_cursor_and_a_full_page_mid_table_has_one():
    registry = FakeRegistry()
    doc_ids = sorted(write(registry, f"{n}.md", ("staff",)) for n in range(4))
    service = service_on(registry)

    whole = service.list_documents(caller("staff"), ListRequest(limit=4))
    half = service.list_documents(caller("staff"), ListRequest(limit=2))

    assert ([r.doc_id for r in whole.documents], whole.next_cursor) == (doc_ids, None)
    assert [r.doc_id for r in half.documents] == doc_ids[:2] and half.next_cursor == encode_cursor(doc_ids[1])
    rest = service.list_documents(caller("staff"), list_request({"cursor": half.next_cursor, "limit": "2"}))
    assert ([r.doc_id for r in rest.documents], rest.next_cursor) == (doc_ids[2:], None)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "101"}, "invalid_limit"),
        ({"limit": "-1"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"limit": ""}, "invalid_limit"),
        ({"limit": "٣"}, "invalid_limit"),  # a digit, but not an ASCII one
        ({"status": "done"}, "invalid_status"),
        ({"status": ""}, "invalid_status"),
        ({"cursor": ""}, "invalid_cursor"),
        ({"cursor": "not a cursor"}, "invalid_cursor"),
        ({"cursor": "e30"}, "invalid_cursor"),  # {}
        ({"cursor": encode_cursor("../etc")}, "invalid_cursor"),
        ({"cursor": encode_cursor("0" * 24) + "A"}, "invalid_cursor"),
        ({"cursor": "A" * 257}, "invalid_cursor"),
        ({"cursor": "\ud800"}, "invalid_cursor"),
        ({"prefix": "a\x00"}, "invalid_prefix"),
        ({"prefix": "x" * 1025}, "invalid_prefix"),
        ({"prefix": "\ud800"}, "invalid_prefix"),
        ({"search": "a\x00"}, "invalid_search"),
        ({"search": "\ud800"}, "invalid_search"),
        ({"stauts": "failed"}, "invalid_parameter"),
    ],
)
def test_bad_list_parameters_are_refused_with_a_code(query, code):
    with pytest.raises(BadRequest) as raised:
        list_request(query)
    assert raised.value.code == code and raised.value.message


def test_list_parameters_have_defaults_and_inclusive_bounds():
    assert list_request(None) == ListRequest(limit=25, after=None, status=None, prefix="", search="")
    assert list_request({"limit": "1"}).limit == 1
    assert list_request({"limit": "100"}).limit == 100
    assert list_request({"cursor": encode_cursor("0" * 24)}).after == "0" * 24
    for status in STATUSES:
        assert list_request({"status": status}).status == status


# -- the download ----------------------------------------------------------------------------------


def indexed(objects: FakeObjectStore, registry: FakeRegistry, key: str, roles: str, status="indexed") -> str:
    stored = objects.put(BUCKET, key, b"# text", {"roles": roles})
    return write(registry, key, tuple(roles.split(",")), status, version=stored.version)


def test_a_download_names_the_indexed_version():
    objects, registry = FakeObjectStore(versioned=True), FakeRegistry()
    doc_id = indexed(objects, registry, "finance/q3.md", "finance")
    version = registry.get(doc_id).version
    objects.put(BUCKET, "finance/q3.md", b"# newer", {"roles": "finance"})  # replaced, not yet re-indexed
    service = service_on(registry, objects)

    grant = service.download(caller("finance"), doc_id)

    assert grant.expires_in == DOWNLOAD_URL_SECONDS == 300
    assert grant.url.startswith("https://fake-download.invalid/docs/finance/q3.md")
    assert service.downloads.signed == [SignedDownload(BUCKET, "finance/q3.md", version, 300)]


def test_an_unversioned_download_is_of_the_key_while_it_still_holds_the_indexed_object():
    objects, registry = FakeObjectStore(), FakeRegistry()
    doc_id = indexed(objects, registry, "finance/q3.md", "finance")
    service = service_on(registry, objects)

    service.download(caller("finance"), doc_id)
    assert service.downloads.signed == [SignedDownload(BUCKET, "finance/q3.md", None, 300)]

    objects.put(BUCKET, "finance/q3.md", b"# newer", {"roles": "finance"})
    with pytest.raises(Refused) as raised:
        service.download(caller("finance"), doc_id)
    assert (raised.value.status, raised.value.code) == (409, "changed")
    assert len(service.downloads.signed) == 1


def not_found(service: DocumentsService, who: Caller, doc_id: str) -> bool:
    with pytest.raises(Refused) as raised:
        service.download(who, doc_id)
    return raised.value is NOT_FOUND


def test_a_download_is_not_found_exactly_where_the_status_is_not_and_for_deleted_documents():
    objects, registry = FakeObjectStore(versioned=True), FakeRegistry()
    finance = indexed(objects, registry, "finance/q3.md", "finance")
    deleted = indexed(objects, registry, "old.md", "finance", status="deleted")
    service = service_on(registry, objects)

    assert not_found(service, caller("research"), finance)
    with pytest.raises(Refused) as raised:
        service.status(caller("research"), finance)
    assert raised.value is NOT_FOUND
    assert not_found(service, caller("finance"), document_id(BUCKET, "no/such.md"))
    assert not_found(service, caller("finance"), "../etc")
    assert not_found(service, caller("admin"), deleted)
    assert service.download(caller("admin"), finance).url  # an admin sees every document
    assert len(service.downloads.signed) == 1


def test_a_download_follows_the_bucket_now_and_fails_closed():
    objects, registry = FakeObjectStore(versioned=True), FakeRegistry()
    doc_id = indexed(objects, registry, "finance/q3.md", "finance")
    service = service_on(registry, objects)
    objects.put(BUCKET, "finance/q3.md.metadata.json", b'{"metadataAttributes": {"roles": ["board"]}}')

    assert not_found(service, caller("finance"), doc_id)  # its sidecar now says board: its refresh follows

    objects.delete(BUCKET, "finance/q3.md.metadata.json")
    objects.delete(BUCKET, "finance/q3.md")
    assert not_found(service, caller("finance"), doc_id)  # deleted from the bucket, its removal on its way
    assert service.downloads.signed == []


def test_a_document_never_indexed_has_no_download():
    registry = FakeRegistry()
    doc_id = write(registry, "a.md", ("staff",), "queued")
    assert registry.get(doc_id).version == ""
    assert not_found(service_on(registry), caller("staff"), doc_id)
