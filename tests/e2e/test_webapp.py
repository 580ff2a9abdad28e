"""End to end in a real browser: the web app that `ragline up` serves at `/`, in headless Chromium.

Two users of different groups sign in, upload by drag and drop straight to S3 (moto server) through the
presigned PUT, ask, open a citation and download its source, and see only what their groups allow (their
explained answers too: "Why this passage?" and the passage's marked words); every stage of an explanation
in plain words (a fake answer with each one); a keyboard-only session; every control's accessible name;
and Cognito's sign-in (the authorization code flow with PKCE) against a fake hosted UI. What the page
shows is checked against the API through `RaglineClient`. Screenshots of every step go to
$RAGLINE_SCREENSHOTS, else a pytest temporary folder (printed at the start).

Chromium is Debian's (`make browser` installs it); Playwright drives it without its own browser download.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from ragline.api_schema import (
    ExplanationBody,
    FusionBody,
    FusionPartBody,
    MmrBody,
    NearDuplicateBody,
    RerankBody,
    RetrievalBody,
    SearchRankBody,
    SourceBody,
    SpanBody,
)
from ragline.client import RaglineClient, SearchRank
from ragline.explain import matched_spans
from ragline.local.client import StackClient
from ragline.local.tokens import issue_token
from ragline.local.webapp_server import LocalWebApp
from ragline.words import terms
from tests.e2e.test_local_stack import home  # noqa: F401  (the module's stack: `ragline up` in a subprocess)

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INDEXING_TIMEOUT_MS = 60_000
# Every expectation waits this long (Playwright's default is 5 s): the suite shares 2 cores with the stack,
# its model and other test workers, and a first question can take seconds.
expect.set_options(timeout=20_000)

LEDGER = "# Ledger\n\nNorthwind's operating margin in Q3 2026 was 23.5%, the highest in five years.\n"
BENEFITS = "# Benefits\n\nNorthwind's benefits budget for 2026 is $1.2 million, set by HR with finance.\n"
CATHODE = "# Cathode report\n\nThe NW-412 cathode retained 91.4% of its capacity after 2,000 cycles.\n"
MARGIN_QUESTION = "What was Northwind's operating margin in Q3 2026?"
BENEFITS_QUESTION = "What is Northwind's benefits budget for 2026?"
# The controls' roles, as Chromium names them ("DisclosureTriangle": the <summary> of a <details>).
CONTROL_ROLES = {
    *("textbox", "searchbox", "combobox", "checkbox", "radio", "button", "link", "spinbutton", "slider"),
    "DisclosureTriangle",
}


@pytest.fixture(scope="module")
def backend() -> str:
    """moto only: the browser's PUT relies on moto server answering CORS preflights (on AWS, the bucket's
    CORS rule does; LocalStack's S3 follows a bucket's CORS configuration, which the local stack sets none of)."""
    return "moto"


@pytest.fixture(scope="module")
def stack(home) -> StackClient:  # noqa: F811
    return StackClient(home)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make browser` installs Debian's (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots(request, tmp_path_factory) -> Path:
    configured = os.environ.get("RAGLINE_SCREENSHOTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print(f"\ntests/e2e/test_webapp.py: screenshots in {folder}")
    return folder


class Session:
    """One user's browser tab on the app, with the JavaScript errors it raised."""

    def __init__(self, browser: Browser, url: str, screenshots: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1200, "height": 860})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.url = url
        self.screenshots = screenshots

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.screenshots / f"{name}.png"), full_page=True)

    def sign_in(self, user: str, groups: list[str]) -> None:
        self.page.goto(self.url)
        self.page.get_by_label("User name").fill(user)
        self.page.get_by_label("Groups").fill(", ".join(groups))
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.locator("#who")).to_have_text(re.compile(rf"Signed in as\s+{user}\s+in {', '.join(groups)}"))

    def view(self, name: str) -> None:
        self.page.get_by_role("navigation").get_by_role("link", name=name).click()
        expect(self.page.get_by_role("heading", level=1, name=name)).to_be_visible()

    def drop(self, files: dict[str, str]) -> None:
        """A real drop event on the drop zone, its DataTransfer holding these files (name -> text)."""
        transfer = self.page.evaluate_handle(
            """(files) => {
                const transfer = new DataTransfer();
                for (const [name, text] of Object.entries(files)) {
                    const type = name.endsWith(".md") ? "text/markdown" : "application/octet-stream";
                    transfer.items.add(new File([text], name, {type}));
                }
                return transfer;
            }""",
            files,
        )
        self.page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})

    def upload(self, name: str, text: str, prefix: str, readers: list[str], writers: tuple[str, ...] = ()) -> str:
        """Drop one file, fill the form, upload, and wait until the page says it is indexed or failed; the
        page's line about it then."""
        self.view("Upload")
        self.drop({name: text})
        self.page.get_by_label("Key prefix (optional)").fill(prefix)
        for group in readers:
            self.page.get_by_role("group", name="Who may read it").get_by_label(group).check()
        for group in writers:
            self.page.get_by_role("group", name="Who may also replace or delete it").get_by_label(group).check()
        self.page.get_by_role("button", name="Upload").click()
        key = prefix + name
        progress = self.page.locator("#upload-progress li", has_text=key).first
        expect(progress).to_have_text(re.compile(rf"{re.escape(key)}: (indexed|failed)"), timeout=INDEXING_TIMEOUT_MS)
        return progress.inner_text()

    def ask(self, question: str) -> None:
        self.view("Ask")
        self.page.get_by_label("Question").fill(question)
        self.page.get_by_label("Question").press("Enter")
        expect(self.page.locator("#ask-status")).to_have_text(re.compile(r"Answered from|No answer was found"))

    def document_keys(self) -> list[str]:
        expect(self.page.locator("#documents-status")).not_to_have_text(re.compile("Loading"))
        return self.page.locator("#documents-rows td.key").all_inner_texts()

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], self.errors


def ask_request(page: Page, route: str) -> Any:
    """Ask the question in the box again (Enter); the JSON body the page sent to ``route``."""
    with page.expect_request(lambda request: urlsplit(request.url).path == route) as asked:
        page.get_by_label("Question").press("Enter")
    return asked.value.post_data_json


def explanation_rows(disclosure: Locator) -> dict[str, str]:
    """A "Why this passage?" disclosure's rows: each name and its text."""
    return disclosure.evaluate(
        """(details) => Object.fromEntries([...details.querySelectorAll("dl > div")].map(
            (row) => [row.querySelector("dt").textContent, row.querySelector("dd").textContent]))"""
    )


def search_row(search: SearchRank, score_name: str, note: str) -> str:
    """What the disclosure says of one search: its rank and score (three significant digits, as explain.js
    writes numbers), or that the search did not return the passage."""
    if search.rank is None or search.score is None:
        return "not returned by this search"
    return f"rank {search.rank}, {score_name} {float(f'{search.score:.3g}'):g} ({note})"


def wait_until(condition, timeout: float = 60.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} did not hold within {timeout} s")


def api_pages(client: RaglineClient) -> list[list[str]]:
    """The keys of every page of GET /documents with limit=1, as the API pages them."""
    pages, cursor = [], None
    while True:
        page = client.documents(limit=1, cursor=cursor)
        pages.append([document.source.split("/", 3)[3] for document in page.documents])
        cursor = page.next_cursor
        if not cursor:
            return pages


def indexed(client: RaglineClient, path: Path, key: str, roles: list[str]) -> str:
    """Upload through the API (outside the browser) and wait until indexed; the doc_id."""
    doc_id = client.upload(path, key, roles).doc_id

    def is_indexed() -> bool:
        status, body = client.call("GET", f"/documents/{doc_id}")  # 404 until the ingest records it
        return status == 200 and body["status"] == "indexed"

    wait_until(is_indexed, what=f"{key} indexed")
    return doc_id


def test_each_user_sees_only_what_their_groups_allow(stack, browser, screenshots, tmp_path):
    app = stack.endpoints.api_url + "/"
    alice_api, bob_api = stack.api("alice", ["finance", "hr"]), stack.api("bob", ["hr"])

    # alice (finance, hr) uploads a finance-only document by drag and drop, and it is indexed.
    alice = Session(browser, app, screenshots)
    alice.sign_in("alice", ["finance", "hr"])
    alice.shot("01-alice-signed-in")
    alice.view("Upload")
    alice.drop({"ledger.md": LEDGER})
    alice.page.get_by_label("Key prefix (optional)").fill("finance/")
    alice.page.get_by_role("group", name="Who may read it").get_by_label("finance").check()
    expect(alice.page.get_by_label("Key for ledger.md")).to_have_value("ledger.md")
    alice.shot("02-alice-drops-a-file")
    alice.page.get_by_role("button", name="Upload").click()
    progress = alice.page.locator("#upload-progress li").first
    expect(progress).to_have_text(
        re.compile(r"finance/ledger\.md: indexed \(\d+ chunks?\)"), timeout=INDEXING_TIMEOUT_MS
    )
    alice.shot("03-alice-upload-indexed")
    [ledger] = alice_api.documents(prefix="finance/ledger.md").documents
    assert ledger.status == "indexed" and alice_api.download(ledger.doc_id) == LEDGER.encode()  # the browser's PUT

    # She asks; the answer cites it, as the API answers her.
    alice.ask(MARGIN_QUESTION)
    expect(alice.page.locator("#answer-text")).to_contain_text("23.5%")
    api_answer = alice_api.query(MARGIN_QUESTION)
    citations = alice.page.locator("#answer-text button.cite")
    assert citations.all_inner_texts() == [f"[{number}]" for number in re.findall(r"\[(\d+)\]", api_answer.answer)]
    sources = alice.page.locator("#sources > li")
    assert sources.count() == len(api_answer.citations) >= 1
    assert [source.title for source in api_answer.citations] == sources.locator("button").all_inner_texts()
    alice.shot("04-alice-answer-with-citations")

    # The citation opens its passage, with a link that downloads exactly the bytes she uploaded.
    cited = next(source for source in api_answer.citations if source.doc_id == ledger.doc_id)
    alice.page.locator("#answer-text button.cite", has_text=f"[{cited.id}]").click()
    passage = alice.page.get_by_role("dialog", name="Ledger")
    expect(passage).to_be_visible()
    expect(passage.locator("#passage-text")).to_contain_text("23.5%")
    link = passage.get_by_role("link", name="Open the source document")
    expect(link).to_be_visible()
    alice.shot("05-alice-cited-passage")
    assert requests.get(link.get_attribute("href") or "", timeout=30).content == LEDGER.encode()
    alice.page.keyboard.press("Escape")
    expect(passage).to_be_hidden()

    # Retrieve only: the passages, no answer.
    alice.page.get_by_label("Retrieve only").check()
    alice.page.get_by_label("Question").press("Enter")
    retrieved = alice_api.retrieve(MARGIN_QUESTION)
    expect(alice.page.locator("#ask-status")).to_have_text(f"{len(retrieved)} passage(s) found.")
    expect(alice.page.get_by_role("heading", name="Answer")).to_be_hidden()
    assert sources.locator("button").all_inner_texts() == [source.title for source in retrieved]
    alice.page.get_by_label("Retrieve only").uncheck()
    expect(sources.locator("details")).to_have_count(0)  # no explanation unless asked for

    # "Explain the ranking": the request asks for explanations, and the ledger's "Why this passage?" says
    # what the API's explanation says: its rank in both searches, and the one role of hers that admitted it.
    explain = alice.page.get_by_label("Explain the ranking")
    expect(explain).not_to_be_checked()
    explain.check()
    assert ask_request(alice.page, "/query") == {"question": MARGIN_QUESTION, "explain": True}
    expect(alice.page.locator("#ask-status")).to_have_text(re.compile("Answered from"))
    explained = alice_api.query(MARGIN_QUESTION, explain=True).citations
    [ledger_source] = [source for source in explained if source.doc_id == ledger.doc_id]
    explanation = ledger_source.explanation
    assert explanation is not None and explanation.dense is not None and explanation.lexical is not None
    assert explanation.admitted_by == ("finance",)  # the ledger is finance's only, though she is also in hr
    why = sources.filter(has=alice.page.get_by_role("button", name="Ledger", exact=True)).locator("details.why")
    why.locator("summary").focus()
    alice.page.keyboard.press("Enter")  # a disclosure opens from the keyboard
    expect(why).to_have_attribute("open", "")
    rows = explanation_rows(why)
    assert rows["Keyword search (BM25)"] == search_row(explanation.lexical, "score", "scaled 0 to 1 over your results")
    assert rows["Meaning search (k-NN)"] == search_row(explanation.dense, "similarity", "cosine")
    assert rows["Mode"].startswith(f"{explanation.mode}: ") and rows["Admitted by your roles"] == "finance"
    admitted = [explanation_rows(item)["Admitted by your roles"] for item in sources.locator("details").all()]
    assert admitted == [", ".join(source.explanation.admitted_by) if source.explanation else "" for source in explained]
    assert not re.search(r"\bhr\b", alice.page.locator("#sources").text_content() or "")  # her other group
    alice.shot("05b-alice-explained-answer")

    # The passage's words of the question are marked, exactly the API's spans.
    alice.page.locator("#answer-text button.cite", has_text=f"[{ledger_source.id}]").click()
    expect(passage).to_be_visible()
    marks = passage.locator("#passage-text mark")
    expect(marks.first).to_be_visible()
    assert marks.all_inner_texts() == [ledger_source.text[start:end] for start, end, _ in explanation.matches]
    assert {mark.lower() for mark in marks.all_inner_texts()} <= set(terms(MARGIN_QUESTION))
    expect(passage.locator("#passage-text")).to_have_text(ledger_source.text)  # the text itself unchanged
    alice.shot("05c-alice-highlighted-passage")
    alice.page.keyboard.press("Escape")

    # On a phone's width the explanation reflows too.
    alice.page.set_viewport_size({"width": 360, "height": 780})
    assert alice.page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    alice.shot("05d-alice-explained-on-a-phone")
    alice.page.set_viewport_size({"width": 1200, "height": 860})

    # Retrieve only, explained: every result has its disclosure. Then the checkbox off: none, and no marks.
    alice.page.get_by_label("Retrieve only").check()
    assert ask_request(alice.page, "/retrieve") == {"question": MARGIN_QUESTION, "explain": True}
    expect(alice.page.locator("#ask-status")).to_have_text(f"{len(retrieved)} passage(s) found.")
    expect(sources.locator("details.why")).to_have_count(len(retrieved))
    alice.page.get_by_label("Retrieve only").uncheck()
    explain.uncheck()
    assert ask_request(alice.page, "/query") == {"question": MARGIN_QUESTION, "explain": False}
    expect(alice.page.locator("#ask-status")).to_have_text(re.compile("Answered from"))
    expect(sources).to_have_count(len(api_answer.citations))
    expect(sources.locator("details")).to_have_count(0)
    alice.page.locator("#answer-text button.cite").first.click()
    expect(passage.locator("#passage-text")).to_contain_text("23.5%")
    expect(passage.locator("mark")).to_have_count(0)
    expect(passage.locator("#passage-marks")).to_be_hidden()
    alice.page.keyboard.press("Escape")

    # A second document, for finance and hr, which hr may also replace or delete; and one that fails.
    shared_key = "shared/benefits.md"
    assert re.fullmatch(
        r"shared/benefits\.md: indexed \(\d+ chunks?\)",
        alice.upload("benefits.md", BENEFITS, "shared/", ["finance", "hr"], writers=("hr",)),
    )
    [shared] = alice_api.documents(prefix=shared_key).documents
    failed_line = alice.upload("broken.pdf", "this is not a PDF", "", ["finance"])
    [broken] = alice_api.documents(prefix="broken.pdf").documents
    assert broken.status == "failed" and broken.error and failed_line == f"broken.pdf: failed: {broken.error}"

    # The documents she may see; a failed one says why; the status filter.
    alice.view("Documents")
    assert sorted(alice.document_keys()) == ["broken.pdf", "finance/ledger.md", "shared/benefits.md"]
    assert len(alice.page.get_by_role("button", name=re.compile("^Delete ")).all()) == 3  # she owns them all
    expect(alice.page.get_by_role("row", name=re.compile("broken.pdf"))).to_contain_text(f"failed{broken.error}")
    alice.shot("06-alice-documents")
    alice.page.get_by_label("Status").select_option("failed")
    assert alice.document_keys() == ["broken.pdf"]
    alice.page.get_by_label("Status").select_option("")

    # Paging, one document a page (the page's list requests rewritten to limit=1): Next and Previous walk
    # the API's own pages.
    one_a_page = re.compile(r"/documents\?")
    alice.page.route(one_a_page, lambda route: route.continue_(url=route.request.url.replace("limit=25", "limit=1")))
    alice.page.get_by_role("button", name="Search").click()
    pages = [alice.document_keys()]
    while alice.page.get_by_role("button", name="Next page").is_enabled():
        alice.page.get_by_role("button", name="Next page").click()
        pages.append(alice.document_keys())
    assert pages == api_pages(alice_api) and len(pages) >= 3
    alice.page.get_by_role("button", name="Previous page").click()
    assert alice.document_keys() == pages[-2]
    expect(alice.page.locator("#page-label")).to_have_text(f"Page {len(pages) - 1}")
    alice.page.unroute(one_a_page)
    alice.page.get_by_role("button", name="Search").click()  # from the first page again, 25 a page
    assert len(alice.document_keys()) == 3

    # bob (hr) sees nothing of the finance-only document: not cited, not listed, not found by name.
    bob = Session(browser, app, screenshots)
    bob.sign_in("bob", ["hr"])
    bob.ask(MARGIN_QUESTION)
    page_text = bob.page.locator("#ask").inner_text()
    assert "23.5" not in page_text and "Ledger" not in page_text and "ledger.md" not in page_text
    assert ledger.doc_id not in {source.doc_id for source in bob_api.query(MARGIN_QUESTION).citations}
    bob.shot("07-bob-answer")

    # Explained, his sources were admitted by his own group, and no explanation names alice's finance (the
    # benefits document is finance's too). The answer's own words are the document's, so only the sources
    # list, every explanation in it, is checked.
    bob.page.get_by_label("Explain the ranking").check()
    bob.ask(BENEFITS_QUESTION)
    bob_sources = bob.page.locator("#sources > li")
    expect(bob_sources.first).to_be_visible()
    disclosures = bob_sources.locator("details.why").all()
    assert len(disclosures) == bob_sources.count() == len(bob_api.query(BENEFITS_QUESTION).citations)
    for disclosure in disclosures:
        disclosure.locator("summary").click()
        assert explanation_rows(disclosure)["Admitted by your roles"] == "hr"
    assert "finance" not in (bob.page.locator("#sources").text_content() or "").lower()
    bob.shot("07b-bob-explained-answer")
    bob.view("Documents")
    assert bob.document_keys() == ["shared/benefits.md"]
    assert [document.doc_id for document in bob_api.iter_documents()] == [shared.doc_id]
    bob.shot("08-bob-documents")
    bob.page.get_by_label("Search by name").fill("ledger")
    bob.page.get_by_label("Search by name").press("Enter")
    expect(bob.page.locator("#documents-status")).to_have_text("No documents here.")
    assert bob.document_keys() == []
    assert bob_api.documents(search="ledger").documents == []
    bob.shot("09-bob-searches-ledger")
    bob.page.get_by_label("Search by name").fill("BENEFITS")  # any case
    bob.page.get_by_role("button", name="Search").click()
    assert bob.document_keys() == ["shared/benefits.md"]

    # bob holds a writer role of it, so his page offers Delete. Before he clicks, alice replaces it through
    # her page's Replace, with no writers any more; his delete is refused, with the API's message.
    delete = bob.page.get_by_role("button", name="Delete Benefits")
    expect(delete).to_be_visible()
    assert bob_api.document(shared.doc_id).can_write
    alice.view("Documents")
    alice.page.get_by_role("button", name="Replace Benefits").click()
    expect(alice.page.get_by_role("heading", level=1, name="Upload")).to_be_visible()
    expect(alice.page.locator("#replacing")).to_have_text("Replacing shared/benefits.md: drop or choose its new file.")
    alice.drop({"benefits.md": BENEFITS})
    expect(alice.page.get_by_label("Key for benefits.md")).to_have_value(shared_key)
    for group in ("finance", "hr"):
        alice.page.get_by_role("group", name="Who may read it").get_by_label(group).check()
    alice.page.get_by_label("Keep the writers it has").uncheck()
    alice.shot("10-alice-replaces-it-without-writers")
    alice.page.get_by_role("button", name="Upload").click()
    replaced = alice.page.locator("#upload-progress li").first
    expect(replaced).to_have_text(re.compile(r"shared/benefits\.md: indexed"), timeout=INDEXING_TIMEOUT_MS)
    assert alice_api.document(shared.doc_id).updated_at != shared.updated_at
    bob.page.once("dialog", lambda dialog: dialog.accept())  # "Delete shared/benefits.md?"
    delete.click()
    refusal = bob.page.get_by_role("alert").filter(has_text="Could not delete")
    expect(refusal).to_have_text("Could not delete shared/benefits.md: you may read this document but not delete it")
    bob.shot("11-bob-delete-refused")
    assert alice_api.document(shared.doc_id).status == "indexed"

    # Looking again, his page no longer offers him Delete.
    bob.page.get_by_role("button", name="Search").click()
    assert bob.document_keys() == ["shared/benefits.md"]
    expect(bob.page.get_by_role("button", name="Delete Benefits")).to_have_count(0)
    assert not bob_api.document(shared.doc_id).can_write
    bob.shot("12-bob-may-no-longer-delete")

    # Signing out leaves nothing of his session in the page.
    bob.page.get_by_role("button", name="Sign out").click()
    expect(bob.page.get_by_label("User name")).to_be_focused()
    assert "Benefits" not in bob.page.content() and "shared/benefits.md" not in bob.page.content()
    alice.close()
    bob.close()


ANODE_QUESTION = "How much did the NW-7 anode swell?"


def fake_explained_results() -> dict[str, Any]:
    """A FAKE ``/retrieve`` answer with every stage an explanation may show, built with the API's own models
    (so it is a shape the API sends) and the API's own matched spans: a passage the keyword search did not
    return, a move up by the reranker and one past its shortlist, near-duplicates MMR passed over (one among
    the results, one dropped), a result past MMR's shortlist; and a passage whose text has an emoji before its
    matches (the spans count code points) and markup (which must stay text)."""
    rrf = 60

    def result(
        number: int, title: str, text: str, *, dense: int, lexical: int | None, rerank: RerankBody, mmr: MmrBody
    ) -> SourceBody:
        values: dict[Literal["dense", "lexical"], float] = {
            "dense": 1 / (rrf + dense),
            "lexical": 0.0 if lexical is None else 1 / (rrf + lexical),
        }
        fusion = FusionBody(
            method="rrf",
            score=sum(values.values()),
            parts=[
                FusionPartBody(search=name, weight=1, value=value, contribution=value) for name, value in values.items()
            ],
            rrf_k=rrf,
        )
        explanation = ExplanationBody(
            mode="hybrid+rerank",
            admitted_by=["lab"],
            dense=SearchRankBody(rank=dense, score=0.8 - dense / 20),
            lexical=SearchRankBody(rank=lexical, score=None if lexical is None else 1 / lexical),
            fusion=fusion,
            rerank=rerank,
            mmr=mmr,
            matches=[
                SpanBody(start=span.start, end=span.end, term=span.term) for span in matched_spans(text, ANODE_QUESTION)
            ],
        )
        return SourceBody(
            id=number,
            doc_id=f"fake-doc-{number}",
            source=f"s3://fake-bucket/lab/{number}.md",
            title=title,
            chunk_id=f"fake-doc-{number}-00000",
            score=fusion.score,
            text=text,
            page=None,
            heading_path=[title],
            explanation=explanation,
        )

    def near(number: int | None, title: str, similarity: float, step: int) -> NearDuplicateBody:
        """Result ``number``'s passage, or (None) one of another document that is not among the results."""
        doc, chunk = (
            (f"fake-doc-{number}", f"fake-doc-{number}-00000") if number else ("fake-draft", "fake-draft-00001")
        )
        return NearDuplicateBody(
            chunk_id=chunk, doc_id=doc, title=title, result=number, similarity=similarity, step=step
        )

    def choice(
        step: int | None, passed_over: NearDuplicateBody | None = None, *displaced: NearDuplicateBody
    ) -> MmrBody:
        return MmrBody(
            considered=step is not None, step=step, mmr_lambda=0.7, passed_over=passed_over, displaced=list(displaced)
        )

    return RetrievalBody(
        results=[
            result(
                1,
                "Anode notes",
                "🔋 The NW-7 anode swelled 4% after 500 charge cycles. <b>Not bold</b>",
                dense=2,
                lexical=1,
                rerank=RerankBody(score=2.5, rank_before=2, rank_after=1),
                mmr=choice(1, None, near(3, "Anode notes, copy", 0.93, 2), near(None, "Anode notes, draft", 0.9, 3)),
            ),
            result(
                2,
                "Canteen",
                "Lunch is served from noon.",
                dense=3,
                lexical=None,
                rerank=RerankBody(score=None, rank_before=3, rank_after=3),
                mmr=choice(2),
            ),
            result(
                3,
                "Anode notes, copy",
                "The NW-7 anode swelled 4% after 500 cycles in the rig.",
                dense=1,
                lexical=2,
                rerank=RerankBody(score=2.1, rank_before=1, rank_after=2),
                mmr=choice(3, near(1, "Anode notes", 0.93, 2)),
            ),
            result(
                4,
                "Cathode notes",
                "The cathode held.",
                dense=4,
                lexical=None,
                rerank=RerankBody(score=None, rank_before=4, rank_after=4),
                mmr=choice(None),
            ),
        ]
    ).model_dump(mode="json")


def test_each_stage_of_an_explanation_reads_in_plain_words(stack, browser, screenshots):
    body = fake_explained_results()
    session = Session(browser, stack.endpoints.api_url + "/", screenshots)
    page = session.page
    session.sign_in("nia", ["lab"])
    page.route(re.compile(r"/retrieve$"), lambda route: route.fulfill(json=body))
    page.get_by_label("Retrieve only").check()
    page.get_by_label("Explain the ranking").check()
    page.get_by_label("Question").fill(ANODE_QUESTION)
    page.get_by_label("Question").press("Enter")
    expect(page.locator("#ask-status")).to_have_text("4 passage(s) found.")
    disclosures = page.locator("#sources details.why")
    expect(disclosures).to_have_count(4)
    for disclosure in disclosures.all():
        disclosure.locator("summary").click()
    anode, canteen, copy, cathode = (explanation_rows(disclosure) for disclosure in disclosures.all())
    names, unnamed = accessible_controls(page)  # each disclosure says which source it explains
    assert unnamed == [] and {f"Why this passage? (source {number})" for number in range(1, 5)} <= set(names)

    assert anode["Keyword search (BM25)"].startswith("rank 1, ")
    assert canteen["Keyword search (BM25)"] == "not returned by this search"
    assert "reciprocal rank fusion" in anode["Fused score"] and "1 / (60 + its rank)" in anode["Fused score"]
    assert anode["Reranking"] == "rank 2 → 1 (moved up); the reranker's score 2.5"
    assert canteen["Reranking"] == "rank 3 → 3 (unchanged); not scored: past the reranker's shortlist"
    assert copy["Reranking"].startswith("rank 1 → 2 (moved down)")
    # Near-duplicates: by their number when among the results, else by chunk id.
    assert "[3] Anode notes, copy (similarity 0.93), at pick 2" in anode["Diversity (MMR)"]
    assert (
        "Anode notes, draft, chunk fake-draft-00001 (not among the sources; similarity 0.9)" in anode["Diversity (MMR)"]
    )
    assert (
        "first passed over at pick 2, as a near-duplicate of [1] Anode notes (similarity 0.93)"
        in copy["Diversity (MMR)"]
    )
    assert cathode["Diversity (MMR)"] == "past the shortlist MMR picks from: kept in ranking order"
    # Each search's share of the fused score, as a bar and in words; none for a search that did not return it.
    for disclosure, result in zip(disclosures.all(), body["results"], strict=True):
        fusion = result["explanation"]["fusion"]
        bars = disclosure.locator("meter").evaluate_all("(meters) => meters.map((meter) => meter.value)")
        assert bars == pytest.approx([part["contribution"] / fusion["score"] for part in fusion["parts"]])
    assert "0%, adds 0" in canteen["Fused score"]
    session.shot("05e-every-stage-explained")

    # The passage: the question's words marked where the API's spans (code points) say, markup left as text.
    page.locator("#sources > li").first.get_by_role("button", name="Anode notes").click()
    passage = page.get_by_role("dialog", name="Anode notes")
    first = body["results"][0]
    text = first["text"]
    assert passage.locator("#passage-text mark").all_inner_texts() == [
        text[m["start"] : m["end"]] for m in first["explanation"]["matches"]
    ]
    assert passage.locator("#passage-text mark").all_inner_texts() == ["NW", "7", "anode"]
    expect(passage.locator("#passage-text")).to_have_text(text)
    expect(passage.locator("#passage-text b")).to_have_count(0)
    session.shot("05f-marks-after-an-emoji")
    session.close()


def focused(page: Page) -> dict[str, str]:
    """The focused element's id, class, and whether a focus ring shows."""
    return page.evaluate(
        """() => {
            const element = document.activeElement;
            const style = getComputedStyle(element);
            return {id: element.id, class: element.className, ring: style.outlineStyle + " " + style.outlineWidth,
                    inDialog: String(Boolean(element.closest("dialog")))};
        }"""
    )


def tab_to(page: Page, wanted, presses: int = 10) -> dict[str, str]:
    for _ in range(presses):
        page.keyboard.press("Tab")
        state = focused(page)
        if wanted(state):
            return state
    pytest.fail(f"{presses} presses of Tab never reached the element (last: {focused(page)})")


def test_sign_in_and_ask_with_the_keyboard_only(stack, browser, screenshots, tmp_path):
    (tmp_path / "cathode.md").write_text(CATHODE)
    indexed(stack.api("kim", ["research"]), tmp_path / "cathode.md", "research/cathode.md", ["research"])
    session = Session(browser, stack.endpoints.api_url + "/", screenshots)
    page = session.page
    page.goto(session.url)
    expect(page.get_by_label("User name")).to_be_visible()

    state = tab_to(page, lambda state: state["id"] == "user")
    assert state["ring"] == "solid 3px"  # a visible focus ring
    page.keyboard.type("kim")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "groups"
    page.keyboard.type("research")
    page.keyboard.press("Enter")
    expect(page.locator("#who")).to_contain_text("kim")
    assert focused(page)["id"] == "question"  # signed in, ready to ask

    page.keyboard.type("How many cycles did the cathode retain its capacity for?")
    page.keyboard.press("Enter")
    expect(page.locator("#answer-text")).to_contain_text("2,000 cycles")
    state = tab_to(page, lambda state: "cite" in state["class"])
    assert state["ring"] == "solid 3px"
    session.shot("13-keyboard-citation-focused")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Cathode report")).to_be_visible()
    assert focused(page)["inDialog"] == "true"
    session.shot("14-keyboard-passage")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert "cite" in focused(page)["class"]  # back where it was
    session.close()


HIRING = "# Hiring plan\n\nContoso will hire 35 engineers in Q3 2026 and 20 engineers in Q4 2026.\n"
HIRING_QUESTION = "How many engineers will Contoso hire in Q3 2026?"


def test_the_page_keeps_the_thread_and_a_question_not_answered_lists_related_passages(
    stack, browser, screenshots, tmp_path
):
    (tmp_path / "hiring.md").write_text(HIRING)
    indexed(stack.api("sam", ["sales"]), tmp_path / "hiring.md", "sales/hiring.md", ["sales"])
    session = Session(browser, stack.endpoints.api_url + "/", screenshots)
    page = session.page
    session.sign_in("sam", ["sales"])
    new_conversation = page.get_by_role("button", name="New conversation")
    expect(new_conversation).to_be_hidden()

    session.ask(HIRING_QUESTION)
    expect(page.locator("#answer-text")).to_contain_text("35 engineers")
    expect(page.locator("#thread-box")).to_be_hidden()  # the answer shown is the only turn

    # A follow-up goes with the turn before it, is searched for as a standalone question, and the page
    # says so; the earlier turn moves up into the thread.
    page.get_by_label("Question").fill("and in Q4?")
    sent = ask_request(page, "/query")
    answer = page.locator("#answer-text").inner_text()
    assert sent["history"] == [{"question": HIRING_QUESTION, "answer": answer}]
    expect(page.locator("#standalone")).to_have_text("Searched for: How many engineers will Contoso hire in Q4 2026?")
    expect(page.locator("#answer-text")).to_contain_text("20 engineers")
    thread = page.locator("#thread > li")
    expect(thread).to_have_count(1)
    expect(thread.first).to_contain_text(HIRING_QUESTION)
    session.shot("17-follow-up-in-a-thread")

    # No answer: the passages searched are listed as related, unnumbered and not cited, and the page says
    # nothing of permissions.
    session.ask("Who won the 1998 football world cup?")
    expect(page.locator("#ask-status")).to_have_text(re.compile("No answer was found in the passages searched"))
    expect(page.get_by_role("heading", name="Answer")).to_be_hidden()
    expect(page.locator("#sources > li")).to_have_count(0)
    related = page.locator("#related > li")
    expect(related.first).to_be_visible()
    assert related.locator("button").all_inner_texts() == ["Hiring plan"]
    assert page.locator("#related").evaluate("(list) => list.tagName") == "UL"  # no numbers
    ask_text = (page.locator("#ask").inner_text() or "").lower()
    assert "permission" not in ask_text and "access" not in ask_text
    related.first.get_by_role("button", name="Hiring plan").click()
    expect(page.get_by_role("dialog", name="Hiring plan")).to_be_visible()
    page.keyboard.press("Escape")
    expect(thread).to_have_count(2)
    session.shot("18-related-passages")

    # A new conversation forgets the thread: the next question goes alone.
    new_conversation.click()
    expect(page.locator("#thread-box")).to_be_hidden()
    expect(new_conversation).to_be_hidden()
    page.get_by_label("Question").fill("and in Q4?")
    assert "history" not in ask_request(page, "/query")
    session.close()


def accessible_controls(page: Page) -> tuple[list[str], list[dict[str, Any]]]:
    """The names Chromium computes for the page's controls, and the controls it finds no name for."""
    cdp = page.context.new_cdp_session(page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    cdp.detach()
    controls = [
        node for node in nodes if not node.get("ignored") and node.get("role", {}).get("value") in CONTROL_ROLES
    ]
    named = [str(node.get("name", {}).get("value", "")).strip() for node in controls]
    return [name for name in named if name], [node for node, name in zip(controls, named, strict=True) if not name]


def landmarks(page: Page) -> set[str]:
    cdp = page.context.new_cdp_session(page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    cdp.detach()
    return {
        node["role"]["value"] for node in nodes if node.get("role", {}).get("value") in ("banner", "navigation", "main")
    }


def test_every_control_has_an_accessible_name_and_the_page_reflows_on_a_phone(stack, browser, screenshots, tmp_path):
    (tmp_path / "labels.md").write_text(LEDGER.replace("Ledger", "Labels"))
    indexed(stack.api("lee", ["finance", "hr"]), tmp_path / "labels.md", "finance/labels.md", ["finance"])
    session = Session(browser, stack.endpoints.api_url + "/", screenshots)
    page = session.page
    page.goto(session.url)
    expect(page.get_by_label("User name")).to_be_visible()
    expected_by_view = {"sign-in": {"Skip to content", "User name", "Groups", "Sign in"}}

    def check(view: str, expected: set[str]) -> None:
        names, unnamed = accessible_controls(page)
        assert unnamed == [], f"{view}: controls without an accessible name: {unnamed}"
        assert expected <= set(names), f"{view}: {sorted(expected - set(names))} missing from {names}"

    check("sign-in", expected_by_view["sign-in"])
    session.sign_in("lee", ["finance", "hr"])
    assert landmarks(page) == {"banner", "navigation", "main"}
    session.ask(MARGIN_QUESTION)
    retrieve_only, explain = (
        "Retrieve only: the passages, without an answer",
        "Explain the ranking: why each passage was chosen",
    )
    check("ask", {"Sign out", "Ask", "Documents", "Upload", "Question", retrieve_only, explain})
    page.locator("#answer-text button.cite").first.click()
    expect(page.get_by_role("link", name="Open the source document")).to_be_visible()
    check("passage", {"Close", "Open the source document"})
    page.keyboard.press("Escape")
    session.view("Documents")
    session.document_keys()
    check("documents", {"Search by name", "Status", "Search", "Delete Labels", "Replace Labels", "Next page"})
    session.view("Upload")
    session.drop({"a.md": "# A\n\nalpha\n", "b.md": "# B\n\nbeta\n"})
    check("upload", {"Files", "Key prefix (optional)", "Key for a.md (11 B)", "Key for b.md (10 B)", "finance", "hr"})
    session.shot("15-upload-with-two-files")
    page.get_by_role("button", name="Upload").click()  # with no group chosen to read them
    expect(page.get_by_role("alert")).to_have_text("Choose at least one group who may read it.")
    assert page.locator("#upload-progress li").count() == 0  # nothing was sent

    # On a phone's width every view reflows (WCAG 1.4.10): nothing makes the page scroll sideways (the
    # documents table scrolls within its own box).
    page.set_viewport_size({"width": 360, "height": 780})
    for view in ("Ask", "Documents", "Upload"):
        session.view(view)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{view}: the page is {overflow} px wider than a 360 px screen"
        session.shot(f"16-phone-{view.lower()}")
    session.close()


def test_a_token_the_api_refuses_returns_to_sign_in(stack, browser, screenshots, tmp_path):
    session = Session(browser, stack.endpoints.api_url + "/", screenshots)
    session.sign_in("sam", ["finance"])
    # A token as good as the stack's, but signed with another key: the API answers 401.
    foreign = issue_token(tmp_path, "sam", ["finance"])
    session.page.evaluate("(token) => sessionStorage.setItem('ragline.id_token', token)", foreign)
    session.page.get_by_label("Question").fill(MARGIN_QUESTION)
    session.page.get_by_label("Question").press("Enter")

    expect(session.page.get_by_label("User name")).to_be_visible()
    expect(session.page.locator("#notice")).to_have_text("Your sign-in has ended: sign in again.")
    assert session.page.evaluate("() => sessionStorage.getItem('ragline.id_token')") is None
    session.shot("17-signed-out-by-a-401")
    session.close()


class FakeCognitoHostedUi:
    """Cognito's hosted UI, token endpoint and logout, as far as the app uses them, on one origin with the
    app's files (served by LocalWebApp) and a config.json in Cognito mode. Its token endpoint checks the
    PKCE verifier against the challenge, as Cognito does, and answers with an ID token for carol."""

    CLIENT_ID = "fake-client-id"

    def __init__(self, signing_home: Path) -> None:
        self.signing_home = signing_home  # whose key signs carol's ID token
        self.webapp = LocalWebApp(signing_home, "")
        self.challenges: dict[str, str] = {}  # authorization code -> its code_challenge
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.tamper_state = False  # answer with another state than the page sent
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.get(self)

            def do_POST(self) -> None:
                fake.post(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def config(self) -> dict[str, Any]:
        cognito = {"domain": self.url, "client_id": self.CLIENT_ID, "redirect_uri": self.url + "/"}
        return {
            "auth": "cognito",
            "api_url": self.url + "/v1",
            "cognito": {**cognito, "scopes": ["openid", "email", "profile"]},
        }

    def get(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        if url.path == "/config.json":
            return self.send(request, 200, json.dumps(self.config()).encode(), "application/json")
        if url.path == "/oauth2/authorize":
            self.authorize_requests.append(query)
            code = secrets.token_urlsafe(16)
            self.challenges[code] = query["code_challenge"]
            state = "forged" if self.tamper_state else query["state"]
            return self.redirect(request, f"{query['redirect_uri']}?{urlencode({'code': code, 'state': state})}")
        if url.path == "/logout":
            return self.redirect(request, query["logout_uri"])
        reply = self.webapp.reply("GET", url.path, request.headers.get("Host", ""), b"")
        if reply is None:
            return self.send(request, 404, b"{}", "application/json")
        return self.send(request, reply.status, reply.body, reply.headers["Content-Type"], reply.headers)

    def post(self, request: BaseHTTPRequestHandler) -> None:
        if urlsplit(request.path).path != "/oauth2/token":
            return self.send(request, 404, b"{}", "application/json")
        form = {
            name: values[-1]
            for name, values in parse_qs(request.rfile.read(int(request.headers["Content-Length"])).decode()).items()
        }
        self.token_requests.append(form)
        challenge = self.challenges.pop(form.get("code", ""), None)
        verified = challenge is not None and challenge == base64.urlsafe_b64encode(
            hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        ).decode().rstrip("=")
        expected = {"grant_type": "authorization_code", "client_id": self.CLIENT_ID, "redirect_uri": self.url + "/"}
        if not verified or any(form.get(name) != value for name, value in expected.items()):
            return self.send(request, 400, json.dumps({"error": "invalid_grant"}).encode(), "application/json")
        tokens = {"id_token": issue_token(self.signing_home, "carol", ["research", "finance"]), "token_type": "Bearer"}
        return self.send(request, 200, json.dumps(tokens).encode(), "application/json")

    @staticmethod
    def send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        request.send_response(status)
        for name, value in {**(headers or {}), "Content-Type": content_type, "Content-Length": str(len(body))}.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)

    @staticmethod
    def redirect(request: BaseHTTPRequestHandler, location: str) -> None:
        request.send_response(302)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hosted_ui(tmp_path) -> Iterator[FakeCognitoHostedUi]:
    fake = FakeCognitoHostedUi(tmp_path)
    yield fake
    fake.stop()


def test_cognito_sign_in_is_the_code_flow_with_pkce_and_keeps_the_token_in_the_tab(browser, screenshots, hosted_ui):
    session = Session(browser, hosted_ui.url + "/", screenshots)
    page = session.page
    page.goto(session.url)
    session.shot("18-cognito-sign-in")
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("#who")).to_have_text(re.compile(r"Signed in as\s+carol\s+in finance, research"))
    [authorize] = hosted_ui.authorize_requests
    assert authorize["response_type"] == "code" and authorize["code_challenge_method"] == "S256"
    assert (authorize["client_id"], authorize["redirect_uri"]) == (hosted_ui.CLIENT_ID, hosted_ui.url + "/")
    assert authorize["scope"] == "openid email profile" and len(authorize["state"]) >= 16
    [exchange] = hosted_ui.token_requests  # the fake checked its verifier against the challenge
    assert "client_secret" not in exchange and len(exchange["code_verifier"]) >= 43
    assert "code=" not in page.url  # the single-use code is not left in the address or the history
    stored = page.evaluate("() => [sessionStorage.getItem('ragline.id_token'), localStorage.length]")
    assert stored[0] and stored[1] == 0  # the ID token in this tab's sessionStorage, nothing in localStorage
    session.shot("19-cognito-signed-in")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()  # back from /logout
    assert page.evaluate("() => sessionStorage.getItem('ragline.id_token')") is None
    session.close()


def test_a_cognito_answer_with_another_state_is_refused(browser, screenshots, hosted_ui):
    hosted_ui.tamper_state = True
    session = Session(browser, hosted_ui.url + "/", screenshots)
    session.page.goto(session.url)
    session.page.get_by_role("button", name="Sign in").click()

    expect(session.page.get_by_role("alert")).to_contain_text("does not belong to a sign-in started in this tab")
    assert hosted_ui.token_requests == []  # the code was never exchanged
    assert session.page.evaluate("() => sessionStorage.getItem('ragline.id_token')") is None
    session.shot("20-cognito-state-refused")
    session.close()
