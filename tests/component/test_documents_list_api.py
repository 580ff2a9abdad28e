"""GET /documents and GET /documents/{doc_id}/download through the query handler on moto."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from ragline.ids import document_id

BUCKET = "ragline-documents"
REVENUE = "# Q3 summary\n\nNorthwind's revenue in Q3 2026 was $14.2 million, up 18% from Q2."
CATHODE = "# Cathode report\n\nThe NW-412 cathode retained 91.4% of its capacity after 2,000 cycles."
KEYS = {
    "finance/q3.md": ("finance", REVENUE),
    "finance/q4.md": ("finance", REVENUE.replace("Q3", "Q4")),
    "finance/broken.pdf": ("finance", "not a PDF at all"),
    "research/cathode.md": ("research", CATHODE),
    "public/handbook.md": ("finance,research", "# Handbook\n\nEveryone reads this."),
}


@pytest.fixture
def corpus(stack):
    for key, (roles, text) in KEYS.items():
        stack.put(key, text, roles=roles.split(","))
    assert stack.drain() == {"batchItemFailures": []}
    return stack


def listing(stack, groups: list[str] | None, query: str = "") -> tuple[int, dict]:
    return stack.request("GET", "/documents" + (f"?{query}" if query else ""), groups=groups)


def every_page(stack, groups: list[str], query: str = "") -> list[dict]:
    documents: list[dict] = []
    cursor = None
    while True:
        page_query = "&".join(part for part in (query, cursor and f"cursor={quote(cursor)}") if part)
        status, body = listing(stack, groups, page_query)
        assert status == 200, body
        assert set(body) == {"documents", "next_cursor"}
        documents += body["documents"]
        if (cursor := body["next_cursor"]) is None:
            return documents


def test_a_caller_lists_exactly_the_documents_it_may_see_as_get_shows_each(corpus):
    status, body = listing(corpus, ["finance"])

    assert status == 200 and body["next_cursor"] is None
    sources = sorted(document["source"] for document in body["documents"])
    assert sources == sorted(f"s3://{BUCKET}/{key}" for key, (roles, _) in KEYS.items() if "finance" in roles)
    for document in body["documents"]:
        assert corpus.request("GET", f"/documents/{document['doc_id']}", groups=["finance"]) == (200, document)
        assert document["roles"] is None  # roles name other groups: only admins see them
    assert "$14.2 million" not in str(listing(corpus, ["research"])[1])
    assert {d["source"] for d in listing(corpus, ["research"])[1]["documents"]} == {
        f"s3://{BUCKET}/research/cathode.md",
        f"s3://{BUCKET}/public/handbook.md",
    }
    assert listing(corpus, ["nobody"]) == (200, {"documents": [], "next_cursor": None})


def test_an_admin_lists_every_document_with_its_roles(corpus):
    documents = every_page(corpus, ["admin"])

    assert len(documents) == len(KEYS)
    assert {d["source"]: ",".join(d["roles"]) for d in documents} == {
        f"s3://{BUCKET}/{key}": roles for key, (roles, _) in KEYS.items()
    }


def test_paging_through_small_pages_yields_each_visible_document_once(corpus):
    status, first = listing(corpus, ["finance"], "limit=1")
    assert status == 200 and len(first["documents"]) == 1 and first["next_cursor"]

    documents = every_page(corpus, ["finance"], "limit=1")

    assert len(documents) == len({d["doc_id"] for d in documents}) == 4
    # A finance caller's cursor given by a research caller positions the scan, and shows no finance document.
    _, other = listing(corpus, ["research"], f"cursor={quote(first['next_cursor'])}")
    assert all("finance/" not in d["source"] for d in other["documents"])


def test_status_and_prefix_filter_the_list(corpus):
    failed = every_page(corpus, ["finance"], "status=failed")
    assert [(d["source"], d["status"]) for d in failed] == [(f"s3://{BUCKET}/finance/broken.pdf", "failed")]
    assert failed[0]["error"]  # why it failed
    under = every_page(corpus, ["finance"], "prefix=finance/&status=indexed")
    assert sorted(d["source"] for d in under) == [f"s3://{BUCKET}/finance/q3.md", f"s3://{BUCKET}/finance/q4.md"]

    corpus.delete("finance/q4.md")
    assert corpus.drain() == {"batchItemFailures": []}
    assert [d["source"] for d in every_page(corpus, ["finance"], "prefix=finance/q")] == [
        f"s3://{BUCKET}/finance/q3.md"
    ]
    deleted = every_page(corpus, ["finance"], "status=deleted")
    assert [(d["source"], d["status"]) for d in deleted] == [(f"s3://{BUCKET}/finance/q4.md", "deleted")]


def test_search_finds_visible_documents_by_key_or_title_in_any_case(corpus):
    found = every_page(corpus, ["finance"], "search=CATHODE")
    assert found == []  # research's document: its name is no clue to a finance caller
    found = every_page(corpus, ["research"], "search=CATHODE")
    assert [d["source"] for d in found] == [f"s3://{BUCKET}/research/cathode.md"]
    titled = every_page(corpus, ["finance"], "search=" + quote("q3 SUMMARY"))
    assert [d["source"] for d in titled] == [f"s3://{BUCKET}/finance/q3.md"]


def test_can_write_says_whether_the_caller_may_replace_or_delete(corpus):
    # Put by an operator (no owner): only admins may change these.
    assert {d["can_write"] for d in every_page(corpus, ["finance"])} == {False}
    assert {d["can_write"] for d in every_page(corpus, ["admin"])} == {True}
    doc_id = document_id(BUCKET, "finance/q3.md")
    assert corpus.request("GET", f"/documents/{doc_id}", groups=["finance"])[1]["can_write"] is False


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("limit=abc", "invalid_limit"),
        ("status=gone", "invalid_status"),
        ("cursor=garbage", "invalid_cursor"),
        ("cursor=", "invalid_cursor"),
        ("prefix=%00", "invalid_prefix"),
        ("sort=title", "invalid_parameter"),
    ],
)
def test_bad_list_parameters_get_400_with_a_code(corpus, query, code):
    status, body = listing(corpus, ["admin"], query)

    assert status == 400, body
    assert body["code"] == code and body["message"]


def test_list_needs_a_token(corpus):
    assert listing(corpus, None)[0] == 401


# -- the download ----------------------------------------------------------------------------------


def download(stack, doc_id: str, groups: list[str] | None) -> tuple[int, dict]:
    return stack.request("GET", f"/documents/{doc_id}/download", groups=groups)


def test_the_download_url_reads_the_source_and_expires(corpus):
    doc_id = document_id(BUCKET, "finance/q3.md")

    status, body = download(corpus, doc_id, ["finance"])

    assert status == 200, body
    assert set(body) == {"url", "expires_in"} and body["expires_in"] == 300
    query = parse_qs(urlsplit(body["url"]).query)
    assert query["X-Amz-Expires"] == ["300"]
    # moto's mock intercepts requests' HTTP calls to AWS, so the presigned URL is used as a browser would.
    response = requests.get(body["url"], timeout=10)
    assert response.status_code == 200 and response.text == REVENUE


def test_another_caller_gets_the_same_404_as_for_the_status(corpus):
    doc_id = document_id(BUCKET, "finance/q3.md")
    not_found = (404, {"message": "no such document", "code": "not_found"})

    assert download(corpus, doc_id, ["research"]) == not_found
    assert corpus.request("GET", f"/documents/{doc_id}", groups=["research"]) == not_found
    assert download(corpus, document_id(BUCKET, "no/such.md"), ["admin"]) == not_found
    assert download(corpus, "not-an-id", ["admin"]) == not_found
    assert download(corpus, doc_id, None)[0] == 401


def test_a_deleted_document_has_no_download(corpus):
    doc_id = document_id(BUCKET, "finance/q3.md")
    corpus.delete("finance/q3.md")
    assert corpus.drain() == {"batchItemFailures": []}

    assert corpus.request("GET", f"/documents/{doc_id}", groups=["finance"])[1]["status"] == "deleted"
    assert download(corpus, doc_id, ["finance"]) == (404, {"message": "no such document", "code": "not_found"})


def test_in_a_versioned_bucket_the_url_reads_the_indexed_version(stack):
    stack.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    stack.put("finance/q3.md", REVENUE, roles=["finance"])
    assert stack.drain() == {"batchItemFailures": []}
    stack.put("finance/q3.md", "# A newer draft", roles=["finance"])  # its ingest not yet run

    status, body = download(stack, document_id(BUCKET, "finance/q3.md"), ["finance"])

    assert status == 200, body
    assert parse_qs(urlsplit(body["url"]).query)["versionId"] == [stack.record("finance/q3.md").version]
    assert requests.get(body["url"], timeout=10).text == REVENUE


def test_in_an_unversioned_bucket_a_replaced_object_is_not_served_in_its_place(corpus):
    corpus.put("finance/q3.md", CATHODE, roles=["research"])  # replaced by an operator, not yet re-indexed

    status, body = download(corpus, document_id(BUCKET, "finance/q3.md"), ["finance"])

    assert status == 404, body  # the object there now is research's
    corpus.put("finance/q3.md", "# A newer draft", roles=["finance"])
    assert download(corpus, document_id(BUCKET, "finance/q3.md"), ["finance"])[1]["code"] == "changed"
