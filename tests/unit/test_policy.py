"""Policy inspection (ragline.policy) on in-memory fakes: admins only, the same rule as every caller's."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragline.documents import Caller, DocumentsConfig, DocumentsService, Refused
from ragline.http_api import ListRequest, decode_cursor
from ragline.ids import document_id
from ragline.models import DocumentRecord
from ragline.policy import PolicyConfig, PolicyService
from tests.fakes import FakeDownloadSigner, FakeObjectStore, FakeRegistry, FakeUploadSigner

BUCKET = "docs"
ADMIN = Caller("u-admin", frozenset({"admin"}), "admin")
ROLES = ("finance", "hr", "everyone")


def write(registry: FakeRegistry, key: str, roles: tuple[str, ...], status: str = "indexed") -> str:
    doc_id = document_id(BUCKET, key)
    assert registry.acquire(doc_id, "ingest", until_ms=1, now_ms=0)
    registry.put(DocumentRecord(doc_id, BUCKET, key, status, roles=roles), lease_owner="ingest")  # type: ignore[arg-type]
    assert registry.release(doc_id, "ingest")
    return doc_id


def policy_on(registry: FakeRegistry, objects: FakeObjectStore | None = None, **config: tuple[str, ...]):
    documents = DocumentsService(
        registry, objects or FakeObjectStore(), FakeUploadSigner(), DocumentsConfig(bucket=BUCKET), FakeDownloadSigner()
    )
    return PolicyService(documents, PolicyConfig(**config))


def every_page(policy: PolicyService, roles: frozenset[str], limit: int = 2) -> set[str]:
    seen, cursor = set(), None
    while True:
        page = policy.visible_to(ADMIN, roles, ListRequest(limit=limit, after=cursor and decode_cursor(cursor)))
        seen |= {record.doc_id for record in page.documents}
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_only_admins_inspect_the_policy():
    registry = FakeRegistry()
    doc_id = write(registry, "hr/salaries.md", ("hr",))
    policy, curator = policy_on(registry), Caller("u-1", frozenset({"hr"}), "admin")
    for inspect in (
        lambda: policy.visible_to(curator, frozenset({"hr"}), ListRequest()),
        lambda: policy.readers_of(curator, doc_id),
        lambda: policy.warnings(curator, None),
    ):
        with pytest.raises(Refused) as refused:
            inspect()
        assert (refused.value.status, refused.value.code) == (403, "forbidden")


@settings(max_examples=40, deadline=None)
@given(
    table=st.lists(
        st.tuples(st.frozensets(st.sampled_from(ROLES), max_size=2), st.sampled_from(["indexed", "failed", "deleted"])),
        max_size=12,
    ),
    roles=st.frozensets(st.sampled_from(ROLES), min_size=1),
)
def test_what_roles_can_see_is_what_a_caller_holding_them_lists(table, roles):
    registry = FakeRegistry()
    for n, (document_roles, status) in enumerate(table):
        write(registry, f"doc-{n}.md", tuple(sorted(document_roles)), status)
    policy = policy_on(registry)

    expected = {
        document_id(BUCKET, f"doc-{n}.md")
        for n, (document_roles, status) in enumerate(table)
        if document_roles & roles and status != "deleted"
    }
    assert every_page(policy, roles) == expected


def test_readers_show_the_indexed_roles_beside_what_a_new_sidecar_gives():
    registry, objects = FakeRegistry(), FakeObjectStore()
    doc_id = write(registry, "hr/handbook.md", ("everyone",))
    objects.put(BUCKET, "hr/handbook.md", b"# Handbook", {"roles": "everyone"})
    policy = policy_on(registry, objects)

    before = policy.readers_of(ADMIN, doc_id)
    assert (before.indexed_roles, before.bucket_roles, before.pending) == (("everyone",), ("everyone",), False)

    sidecar = json.dumps({"metadataAttributes": {"roles": ["hr"]}}).encode()
    objects.put(BUCKET, "hr/handbook.md.metadata.json", sidecar, {})
    after = policy.readers_of(ADMIN, doc_id)
    assert (after.indexed_roles, after.bucket_roles, after.pending) == (("everyone",), ("hr",), True)

    objects.delete(BUCKET, "hr/handbook.md")
    assert policy.readers_of(ADMIN, doc_id).bucket_roles is None


def test_warnings_name_documents_nobody_sees_and_sensitive_ones_a_broad_role_sees():
    registry = FakeRegistry()
    orphan = write(registry, "notes/orphan.md", ())
    exposed = write(registry, "hr/salaries.md", ("everyone", "hr"))
    write(registry, "hr/policy.md", ("hr",))  # sensitive, but not broad
    write(registry, "public/handbook.md", ("everyone",))  # broad, but not sensitive
    write(registry, "hr/old.md", ("everyone",), "deleted")  # gone
    policy = policy_on(registry, sensitive_prefixes=("hr/",), broad_roles=("everyone",))

    pages, cursor = [], None
    while True:
        page = policy.warnings(ADMIN, cursor and decode_cursor(cursor))
        pages += page.warnings
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert {(w.kind, w.record.doc_id, w.roles) for w in pages} == {
        ("visible_to_nobody", orphan, ()),
        ("sensitive_and_broad", exposed, ("everyone",)),
    }


def test_a_bounded_scan_pages_its_warnings():
    registry = FakeRegistry()
    orphans = {write(registry, f"doc-{n}.md", ()) for n in range(7)}
    policy = policy_on(registry)
    policy.documents.scan_page_items, policy.documents.max_scan_pages = 2, 2

    first = policy.warnings(ADMIN, None)
    assert first.next_cursor is not None and len(first.warnings) == 4
    rest = policy.warnings(ADMIN, decode_cursor(first.next_cursor))
    assert {w.record.doc_id for w in first.warnings + rest.warnings} == orphans and rest.next_cursor is None
