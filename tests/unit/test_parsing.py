"""Parsing: dispatch by extension, text decoding, structure per format and every failure reason."""

from __future__ import annotations

import codecs
import io
import subprocess
import sys
import zipfile

import pytest
from pypdf import PdfReader
from pypdf.errors import DependencyError

from ragline.errors import UnparseableDocument
from ragline.models import ParsedDocument, Section
from ragline.parsing import SUPPORTED_EXTENSIONS, parse_document
from tests.fixtures.documents import make_docx, make_pdf

TEXT_KEYS = ["notes.txt", "notes.md", "notes.markdown", "notes.html", "notes.htm"]


def reason(key: str, data: bytes) -> str:
    with pytest.raises(UnparseableDocument) as caught:
        parse_document(key, data)
    return str(caught.value)


def texts(parsed: ParsedDocument) -> list[str]:
    return [section.text for section in parsed.sections]


def paths(parsed: ParsedDocument) -> list[tuple[str, ...]]:
    return [section.heading_path for section in parsed.sections]


# --- dispatch and generic failures -------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "data"),
    [
        ("A/B/NOTES.TXT", b"Plain words."),
        ("notes.Md", b"# Notes\n\nPlain words."),
        ("notes.HTM", b"<p>Plain words.</p>"),
        ("notes.PDF", make_pdf(["Plain words."])),
        ("notes.DocX", make_docx([("Plain words.", None)])),
    ],
)
def test_dispatch_is_by_extension_case_insensitive(key: str, data: bytes) -> None:
    parsed = parse_document(key, data)
    assert "Plain words." in " ".join(texts(parsed))


def test_supported_extensions_are_listed() -> None:
    assert SUPPORTED_EXTENSIONS == (".docx", ".htm", ".html", ".markdown", ".md", ".pdf", ".txt")


def test_unsupported_type_names_the_extension_and_what_is_supported() -> None:
    message = reason("report.XYZ", b"content")
    assert message.startswith("unsupported file type '.xyz'; supported: ")
    assert all(extension in message for extension in SUPPORTED_EXTENSIONS)


def test_key_without_extension_is_unsupported() -> None:
    assert reason("folder/README", b"content").startswith("unsupported file type (no extension)")


@pytest.mark.parametrize("key", [*TEXT_KEYS, "doc.pdf", "doc.docx"])
def test_empty_file_is_an_empty_document(key: str) -> None:
    assert reason(key, b"") == "empty document"


@pytest.mark.parametrize(
    ("key", "data"),
    [
        ("blank.txt", b"  \n\n\t \r\n"),
        ("blank.md", b"# Only a heading\n\n## And another\n"),
        ("blank.md", b"\xef\xbb\xbf"),
        ("blank.html", b"<html><head><script>var x = 1;</script></head><body><nav>Menu</nav></body></html>"),
        ("blank.docx", make_docx([("", None), ("   ", None)])),
    ],
)
def test_document_without_text_says_no_text_found(key: str, data: bytes) -> None:
    assert reason(key, data) == "no text found"


@pytest.mark.parametrize("key", TEXT_KEYS)
def test_nul_bytes_in_a_text_type_are_binary(key: str) -> None:
    assert reason(key, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == "binary content in a text file"


def test_control_characters_without_nul_bytes_are_binary() -> None:
    assert reason("blob.txt", bytes(range(1, 9)) * 20) == "binary content in a text file"


def test_failure_reasons_never_contain_document_content() -> None:
    secret = "Confidential merger with Initech"
    message = reason("deal.pdf", b"%PDF-1.4\n" + secret.encode() + b"\n%%EOF")
    assert "Initech" not in message


# --- text decoding -----------------------------------------------------------------------------


def test_utf8_bom_is_stripped() -> None:
    parsed = parse_document("bom.txt", codecs.BOM_UTF8 + "Ünïcode first.".encode())
    assert texts(parsed) == ["Ünïcode first."]


def test_cp1252_text_is_decoded() -> None:
    text = "Café “quoted” — naïve €5 résumé"
    parsed = parse_document("legacy.txt", text.encode("cp1252"))
    assert texts(parsed) == [text]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_decoded(encoding: str) -> None:
    text = "Grüße aus Köln.\n\nZweiter Absatz."
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    parsed = parse_document("de.txt", bom + text.encode(encoding))
    assert texts(parsed) == ["Grüße aus Köln.\n\nZweiter Absatz."]


def test_bytes_undefined_in_cp1252_fall_back_to_latin1() -> None:
    parsed = parse_document("odd.txt", b"The caf\xe9 sign reads \x81 here.")
    assert texts(parsed) == ["The caf\u00e9 sign reads \x81 here."]


def test_cp1252_html_and_markdown_are_decoded() -> None:
    html = parse_document("page.html", "<p>Déjà vu – “yes”</p>".encode("cp1252"))
    markdown = parse_document("page.md", "# Résumé\n\nÉté – “oui”".encode("cp1252"))
    assert texts(html) == ["Déjà vu – “yes”"]
    assert markdown.title == "Résumé"
    assert texts(markdown) == ["Été – “oui”"]


# --- plain text --------------------------------------------------------------------------------


def test_text_title_is_the_humanised_file_stem() -> None:
    parsed = parse_document("reports/2024/q3-report_final.txt", b"Revenue grew.")
    assert parsed.title == "q3 report final"


def test_text_paragraphs_are_separated_by_blank_lines() -> None:
    data = b"First   paragraph\r\nstill first.\r\n\r\n \r\nSecond paragraph.\n\n\n\nThird."
    parsed = parse_document("notes.txt", data)
    assert parsed.sections == [Section("First paragraph\nstill first.\n\nSecond paragraph.\n\nThird.", (), None)]


# --- markdown ----------------------------------------------------------------------------------

MARKDOWN = b"""Preamble before any heading.

# User Guide

Welcome to the *guide*.

## Install ##

Run `pip install ragline` from [PyPI](https://pypi.org/project/ragline).

### On Linux

Use **apt** first.

## Configure

Set snake_case_names and __strong__ words.

Usage
=====

Setext level one.

Options
-------

Setext level two.
"""


def test_markdown_heading_paths_follow_atx_and_setext_levels() -> None:
    parsed = parse_document("guide.md", MARKDOWN)
    assert paths(parsed) == [
        (),
        ("User Guide",),
        ("User Guide", "Install"),
        ("User Guide", "Install", "On Linux"),
        ("User Guide", "Configure"),
        ("Usage",),
        ("Usage", "Options"),
    ]


def test_markdown_inline_syntax_is_stripped() -> None:
    parsed = parse_document("guide.md", MARKDOWN)
    assert texts(parsed)[1:5] == [
        "Welcome to the guide.",
        "Run pip install ragline from PyPI.",
        "Use apt first.",
        "Set snake_case_names and strong words.",
    ]


def test_markdown_title_is_the_first_h1() -> None:
    assert parse_document("guide.md", MARKDOWN).title == "User Guide"


def test_markdown_without_h1_is_titled_by_file_name() -> None:
    parsed = parse_document("docs/getting-started.md", b"## Setup\n\nSteps here.")
    assert parsed.title == "getting started"
    assert paths(parsed) == [("Setup",)]


def test_markdown_code_fences_are_kept_as_text_and_hide_headings() -> None:
    data = b"# Code\n\nExample:\n\n```python\n# not a heading\nprint('hi')\n```\n\nAfter."
    parsed = parse_document("code.md", data)
    assert paths(parsed) == [("Code",)]
    assert texts(parsed) == ["Example:\n\n# not a heading\nprint('hi')\n\nAfter."]


def test_markdown_images_lists_and_quotes_are_reduced_to_text() -> None:
    data = b"# Doc\n\n![Diagram of flow](flow.png)\n\n- first item\n- second item\n\n> quoted line\n\n---\n"
    assert texts(parse_document("doc.md", data)) == ["Diagram of flow\n\nfirst item\nsecond item\n\nquoted line"]


def test_markdown_heading_without_body_makes_no_section() -> None:
    parsed = parse_document("doc.md", b"# Title\n\n## Empty\n\n## Full\n\nBody.")
    assert parsed.sections == [Section("Body.", ("Title", "Full"), None)]


def test_markdown_link_destinations_may_hold_parentheses() -> None:
    data = b"# Doc\n\nSee [Foo](https://en.wikipedia.org/wiki/Foo_(bar)) and [x](y)."
    assert texts(parse_document("doc.md", data)) == ["See Foo and x."]


def test_markdown_stray_markers_are_kept_and_the_link_after_them_stripped() -> None:
    data = b"# Doc\n\nA [ stray bracket, ** stray stars, then [a link](u) and *emphasis*."
    assert texts(parse_document("doc.md", data)) == ["A [ stray bracket, ** stray stars, then a link and emphasis."]


def test_markdown_heading_closing_hashes_need_a_space_before_them() -> None:
    data = b"# C#\n\nOne.\n\n## Install ##   \n\nTwo.\n\n### Tabs\t#\t\n\nThree."
    assert paths(parse_document("doc.md", data)) == [("C#",), ("C#", "Install"), ("C#", "Install", "Tabs")]


# --- HTML --------------------------------------------------------------------------------------

HTML = b"""<!DOCTYPE html>
<html><head><title>Handbook &amp; Rules</title><style>p { color: red; }</style>
<script>document.write("hidden script");</script></head>
<body>
<header>Site header</header><nav><a href="/">Home</a></nav>
<h1>Policies</h1>
<p>Intro with <b>bold</b> and <a href="#">a link</a>.</p>
<h2>Leave</h2>
<div>Caf&eacute; hours&nbsp;apply.<br>New line after br.</div>
<ul><li>First item</li><li>Second item</li></ul>
<h3>Sick leave</h3>
<table><tr><td>Cell one</td><td>Cell two</td></tr></table>
<h2>Travel</h2>
<p>It&#8217;s booked.</p>
<noscript>Enable JavaScript</noscript><template><p>Template text</p></template>
<footer>Copyright footer</footer>
</body></html>"""


def test_html_heading_paths() -> None:
    parsed = parse_document("handbook.html", HTML)
    assert paths(parsed) == [
        ("Policies",),
        ("Policies", "Leave"),
        ("Policies", "Leave", "Sick leave"),
        ("Policies", "Travel"),
    ]


def test_html_blocks_separate_paragraphs_and_entities_are_unescaped() -> None:
    parsed = parse_document("handbook.html", HTML)
    assert texts(parsed) == [
        "Intro with bold and a link.",
        "Café hours apply.\n\nNew line after br.\n\nFirst item\n\nSecond item",
        "Cell one\n\nCell two",
        "It’s booked.",
    ]


def test_html_skips_non_content_elements() -> None:
    body = " ".join(texts(parse_document("handbook.html", HTML)))
    for hidden in ("color", "hidden script", "Site header", "Home", "Enable", "Template", "Copyright"):
        assert hidden not in body


def test_html_title_prefers_title_then_h1_then_file_name() -> None:
    assert parse_document("a.html", HTML).title == "Handbook & Rules"
    assert parse_document("a.html", b"<h1>Main  Heading</h1><p>Text.</p>").title == "Main Heading"
    assert parse_document("x/team-page.htm", b"<p>Text.</p>").title == "team page"


def test_html_pre_keeps_its_lines() -> None:
    parsed = parse_document("code.html", b"<p>Run:</p><pre>make install\nmake test</pre>")
    assert texts(parsed) == ["Run:\n\nmake install\nmake test"]


def test_html_angle_bracket_that_opens_no_tag_is_text() -> None:
    assert texts(parse_document("a.html", b"<p>if a < b and 3 <> 4 then</p>")) == ["if a < b and 3 <> 4 then"]


def test_html_quoted_attribute_may_hold_a_closing_bracket() -> None:
    assert texts(parse_document("a.html", b"<p title='a > b'>Text</p><img alt=\"x>y\">")) == ["Text"]


def test_html_tag_or_comment_left_open_runs_to_the_end_as_in_a_browser() -> None:
    assert texts(parse_document("a.html", b"<p>Kept.</p><p>Also kept <a href='x")) == ["Kept.\n\nAlso kept"]
    assert texts(parse_document("a.html", b"<p>Kept.</p><!-- open comment <p>hidden</p>")) == ["Kept."]


def test_html_numeric_reference_past_unicode_is_a_replacement_character() -> None:
    # html.unescape raised ValueError on references of more than 4,300 digits.
    data = b"<p>A&#" + b"9" * 5000 + b"; B&#0000000066; C&#x110000;</p>"
    assert texts(parse_document("a.html", data)) == ["A\ufffd BB C\ufffd"]


# --- PDF ---------------------------------------------------------------------------------------


def test_pdf_has_one_section_per_page_with_page_numbers() -> None:
    data = make_pdf(["Alpha page text.", "Bravo page text.", "Charlie page text."])
    parsed = parse_document("three.pdf", data)
    assert [(s.page, s.text) for s in parsed.sections] == [
        (1, "Alpha page text."),
        (2, "Bravo page text."),
        (3, "Charlie page text."),
    ]
    assert paths(parsed) == [(), (), ()]


def test_pdf_blank_page_is_skipped_but_numbering_is_kept() -> None:
    parsed = parse_document("gap.pdf", make_pdf(["First.", "", "Third."]))
    assert [s.page for s in parsed.sections] == [1, 3]


def test_pdf_text_with_parentheses_and_backslashes_survives() -> None:
    parsed = parse_document("esc.pdf", make_pdf(["Costs (net) are C:\\data\\x.\nSecond line."]))
    assert texts(parsed) == ["Costs (net) are C:\\data\\x.\nSecond line."]


def test_pdf_title_comes_from_metadata_else_file_name() -> None:
    assert parse_document("a.pdf", make_pdf(["Text."], title="Annual Report")).title == "Annual Report"
    assert parse_document("annual-report.pdf", make_pdf(["Text."])).title == "annual report"
    assert parse_document("annual_report.pdf", make_pdf(["Text."], title="  ")).title == "annual report"


def test_pdf_encrypted_with_a_password_is_rejected() -> None:
    assert reason("secret.pdf", make_pdf(["Secret text."], encrypt_password="hunter2")) == "PDF is encrypted"


def test_pdf_encrypted_with_an_empty_user_password_is_parsed() -> None:
    data = make_pdf(["Readable text."], title="Open", encrypt_password="")
    assert PdfReader(io.BytesIO(data)).is_encrypted
    parsed = parse_document("open.pdf", data)
    assert texts(parsed) == ["Readable text."]


def test_pdf_that_cannot_be_decrypted_for_lack_of_a_library_is_encrypted(monkeypatch: pytest.MonkeyPatch) -> None:
    def decrypt(self: PdfReader, password: str) -> None:
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(PdfReader, "decrypt", decrypt)
    assert reason("aes.pdf", make_pdf(["Text."], encrypt_password="")) == "PDF is encrypted"


def test_pdf_without_text_is_probably_scanned() -> None:
    assert reason("scan.pdf", make_pdf(["", ""])) == "no extractable text (scanned PDF?)"


@pytest.mark.parametrize(
    "data",
    [
        b"this is not a PDF at all",
        b"%PDF-1.7\n1 0 obj << /Type /Catalog",
        make_pdf(["Some text here."])[:150],
    ],
    ids=["garbage", "header-only", "truncated"],
)
def test_corrupt_pdf_is_unreadable(data: bytes) -> None:
    message = reason("broken.pdf", data)
    assert message.startswith("corrupt or unreadable PDF: ")
    assert len(message) <= 120


# --- DOCX --------------------------------------------------------------------------------------


def test_docx_heading_paths_from_heading_styles() -> None:
    data = make_docx(
        [
            ("Opening words.", None),
            ("Overview", "Heading 1"),
            ("Overview body.", None),
            ("Details", "Heading 2"),
            ("Details body.", None),
            ("Deep", "Heading 3"),
            ("Deep body.", None),
            ("Appendix", "Heading 1"),
            ("Appendix body.", None),
        ]
    )
    parsed = parse_document("report.docx", data)
    assert [(s.heading_path, s.text) for s in parsed.sections] == [
        ((), "Opening words."),
        (("Overview",), "Overview body."),
        (("Overview", "Details"), "Details body."),
        (("Overview", "Details", "Deep"), "Deep body."),
        (("Appendix",), "Appendix body."),
    ]


def test_docx_title_style_heads_the_path_and_names_the_document() -> None:
    data = make_docx([("Staff Handbook", "Title"), ("Leave", "Heading 1"), ("Days off.", None)])
    parsed = parse_document("handbook.docx", data)
    assert parsed.title == "Staff Handbook"
    assert paths(parsed) == [("Staff Handbook", "Leave")]


def test_docx_title_prefers_core_property_then_title_style_then_heading_then_file_name() -> None:
    body = [("Styled Title", "Title"), ("First Heading", "Heading 1"), ("Text.", None)]
    assert parse_document("a.docx", make_docx(body, title="Core Title")).title == "Core Title"
    assert parse_document("a.docx", make_docx(body)).title == "Styled Title"
    assert parse_document("a.docx", make_docx(body[1:])).title == "First Heading"
    assert parse_document("team-notes.docx", make_docx(body[2:])).title == "team notes"


def test_docx_paragraphs_are_separated_by_blank_lines() -> None:
    data = make_docx([("One.", None), ("", None), ("Two.", None)])
    assert texts(parse_document("a.docx", data)) == ["One.\n\nTwo."]


def test_docx_table_cells_become_paragraphs() -> None:
    import docx

    document = docx.Document()
    document.add_heading("Prices", level=1)
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, [("Item", "Cost"), ("Tea", "3 EUR")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("After the table.")
    out = io.BytesIO()
    document.save(out)

    parsed = parse_document("prices.docx", out.getvalue())
    assert parsed.sections == [Section("Item\n\nCost\n\nTea\n\n3 EUR\n\nAfter the table.", ("Prices",), None)]


def _docx_with_body(body_xml: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "word/document.xml",
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body>{body_xml}</w:body></w:document>",
        )
    return out.getvalue()


def test_docx_runs_breaks_tabs_and_deletions() -> None:
    body = (
        "<w:p><w:r><w:t>Split </w:t></w:r><w:r><w:t>run</w:t><w:tab/><w:t>tabbed</w:t></w:r>"
        "<w:del><w:r><w:delText>deleted</w:delText></w:r></w:del>"
        "<w:r><w:br/><w:t>after break</w:t></w:r></w:p>"
        '<w:p><w:pPr><w:pStyle w:val="heading2"/></w:pPr><w:r><w:t>Lower Case Style</w:t></w:r></w:p>'
        "<w:p><w:r><w:t>Under it.</w:t></w:r></w:p>"
    )
    parsed = parse_document("raw.docx", _docx_with_body(body))
    assert parsed.sections == [
        Section("Split run tabbed\nafter break", (), None),
        Section("Under it.", ("Lower Case Style",), None),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04 not really a zip",
        b"plain text renamed to docx",
        _docx_with_body("<w:p><w:r><w:t>unclosed"),
    ],
    ids=["bad-zip", "not-zip", "bad-xml"],
)
def test_corrupt_docx_is_unreadable(data: bytes) -> None:
    assert reason("broken.docx", data) == "corrupt or unreadable DOCX"


def test_docx_without_document_part_is_unreadable() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    assert reason("fake.docx", out.getvalue()) == "corrupt or unreadable DOCX"


def test_the_parsers_import_pypdf_only_for_a_pdf():
    # The ingest handler imports every parser; a cold start should not pay for pypdf before a PDF arrives.
    probe = "import sys, ragline.parsing; print('pypdf' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_docx_heading_as_long_as_a_paragraph_is_cut() -> None:
    data = make_docx([("Long " * 2_000, "Heading 1"), ("Body.", None)])
    (section,) = parse_document("long.docx", data).sections
    (heading,) = section.heading_path
    assert len(heading) == 300 and heading.endswith("…")
