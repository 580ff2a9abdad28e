"""Hostile documents: parsing and chunking stay linear in time, and a .docx zip bomb bounded in memory.

Timing is never asserted in absolute seconds: each adversarial input is timed against an ordinary
document of the same size, in the same process, and may take at most ``FACTOR`` times as long plus
``SLACK`` seconds. A quadratic pattern fails that by orders of magnitude at 1 MB (the patterns these
tests were written against took minutes on 100 KB); a run that overshoots its bound threefold is
interrupted, so a regression fails in seconds instead of hanging the suite.

Only the modules are imported, never their new constants, so the file runs against older code too.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import io
import random
import signal
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from ragline import chunking
from ragline.errors import UnparseableDocument
from ragline.models import ParsedDocument, Section
from ragline.parsing import docx as docx_parser
from ragline.parsing import parse_document

# Bounded time is measured here against a baseline in the same test; `make test` runs these alone, after
# the parallel run, so that another worker's load cannot land between the baseline and the measurement.
pytestmark = pytest.mark.timing

FACTOR = 10
SLACK = 0.5  # seconds: keeps sub-millisecond baselines from making the bound meaninglessly tight
SIZES = {"100KB": 100_000, "1MB": 1_000_000}
MAX_PEAK_BYTES = 50 * 2**20


# --- timing ------------------------------------------------------------------------------------


class _TooSlow(Exception):
    pass


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise _TooSlow in the block after ``seconds`` (regex matching checks for signals too)."""

    def expire(signum: int, frame: object) -> None:
        raise _TooSlow

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _seconds(call: Callable[[], object], deadline: float = 600.0) -> float:
    """Wall time of one ``call``; a document refused as unparseable ("no text found") counts as done.

    What the rest of the test session left alive is frozen out of the garbage collector meanwhile: in a
    full run it is millions of objects, which every collection would scan again, and a hostile input that
    allocates more than the ordinary document triggers more collections, so it paid for the session's heap
    rather than for its own work (a 1 MB run of one-word sentences measured 3.4 s against 1.2 s alone).
    """
    gc.freeze()
    try:
        start = time.perf_counter()
        with _deadline(deadline), contextlib.suppress(UnparseableDocument):
            call()
        return time.perf_counter() - start
    finally:
        gc.unfreeze()


def assert_linear(run: Callable[[], object], baseline: Callable[[bool], float], what: str) -> None:
    """``run`` takes at most FACTOR times the baseline's seconds plus SLACK.

    ``baseline(fresh)`` times the ordinary document (``fresh=False`` may answer from a cache). Past the
    bound the baseline is timed afresh and the run once more, so that a machine that got busier between
    the two measurements does not fail the test: only a run slow against its neighbour does.
    """
    seconds = baseline(False)
    for attempt in range(2):
        if attempt:
            seconds = max(seconds, baseline(True))
        bound = FACTOR * seconds + SLACK
        try:
            took = _seconds(run, deadline=3 * bound)
        except _TooSlow:
            pytest.fail(f"{what}: interrupted after {3 * bound:.2f} s; an ordinary document takes {seconds:.3f} s")
        if took <= bound:
            return
    pytest.fail(f"{what}: {took:.2f} s; an ordinary document of the same size takes {seconds:.3f} s")


def _fastest(call: Callable[[], object], runs: int = 2) -> float:
    return min(_seconds(call) for _ in range(runs))


# --- ordinary documents of a given size --------------------------------------------------------

_VOCABULARY = (
    "the policy applies to every employee who travels for work and files an expense report within thirty "
    "days of returning receipts must show the date amount and vendor managers approve requests before "
    "booking flights hotels or rental cars exceptions need written approval from finance"
).split()


def _sentences(count: int, seed: int = 7) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(count):
        words = [rng.choice(_VOCABULARY) for _ in range(rng.randint(8, 20))]
        yield " ".join(words).capitalize() + "."


def _prose_paragraphs(size: int) -> list[str]:
    """Paragraphs of three to six sentences, about ``size`` characters in all."""
    paragraphs: list[str] = []
    total = 0
    sentences = _sentences(size)  # far more than needed
    rng = random.Random(size)
    while total < size:
        paragraph = " ".join(next(sentences) for _ in range(rng.randint(3, 6)))
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return paragraphs


def _wrapped(paragraph: str, width: int = 80) -> str:
    lines, line = [], ""
    for word in paragraph.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line])


def _ordinary_markdown(size: int) -> str:
    blocks = []
    for index, paragraph in enumerate(_prose_paragraphs(size)):
        if index % 6 == 0:
            blocks.append(f"## Section {index}")
        words = paragraph.split(" ")
        words[1] = f"**{words[1]}**"
        words[4] = f"[{words[4]}](https://example.com/{index}/page)"
        words[7] = f"`{words[7]}`"
        blocks.append(_wrapped(" ".join(words)))
    return "\n\n".join(blocks)


def _ordinary_html(size: int) -> str:
    blocks = ["<html><head><title>Handbook</title></head><body>"]
    for index, paragraph in enumerate(_prose_paragraphs(size)):
        if index % 6 == 0:
            blocks.append(f"<h2>Section {index}</h2>")
        words = paragraph.split(" ")
        words[1] = f"<b>{words[1]}</b>"
        words[4] = f'<a href="/{index}/page">{words[4]}</a>'
        words[7] = f"{words[7]}&nbsp;&amp;"
        blocks.append(f"<p>{' '.join(words)}</p>")
    return "\n".join([*blocks, "</body></html>"])


def _ordinary_text(size: int) -> str:
    return "\n\n".join(_wrapped(paragraph) for paragraph in _prose_paragraphs(size))


def _ordinary_parsed(size: int) -> ParsedDocument:
    """Sections of six paragraphs; one in four is as long as a page of a PDF (pypdf rarely finds blank
    lines), which the chunker splits into sentences."""
    paragraphs: list[str] = []
    ordinary = _prose_paragraphs(size)
    for start in range(0, len(ordinary), 11):
        group = ordinary[start : start + 11]
        paragraphs += [" ".join(group[:8]), *group[8:]]
    sections = [
        Section("\n\n".join(paragraphs[start : start + 6]), ("Handbook", f"Section {start}"))
        for start in range(0, len(paragraphs), 6)
    ]
    return ParsedDocument("Handbook", sections)


# --- parsers -----------------------------------------------------------------------------------


def _repeat(unit: str, size: int, prefix: str = "", suffix: str = "") -> str:
    return prefix + unit * max(1, (size - len(prefix) - len(suffix)) // len(unit)) + suffix


MARKDOWN_ATTACKS: dict[str, Callable[[int], str]] = {
    "hashes": lambda n: "#" * n,
    "heading-of-hashes": lambda n: "# " + "#" * n,
    "heading-spaces-tabs-then-hash": lambda n: _repeat(" \t", n, prefix="# a", suffix="#x"),
    "heading-spaced-hashes": lambda n: _repeat(" #", n, prefix="# x", suffix="x"),
    "many-heading-lines": lambda n: _repeat("# a\n", n),
    "many-empty-headings": lambda n: _repeat("#\n", n),
    "open-brackets": lambda n: "[" * n,
    "bracket-x": lambda n: _repeat("[x", n),
    "close-paren-open": lambda n: _repeat("](", n),
    "unclosed-links": lambda n: _repeat("[a](", n),
    "unclosed-images": lambda n: _repeat("![", n),
    "reference-links": lambda n: _repeat("[a][", n),
    "stars": lambda n: "*" * n,
    "spaced-stars": lambda n: _repeat(" *x", n),
    "double-stars": lambda n: _repeat(" **x", n),
    "underscores": lambda n: "_" * n,
    "spaced-underscores": lambda n: _repeat(" _x", n),
    "backticks": lambda n: _repeat("`x", n),
    "tildes": lambda n: _repeat(" ~~x", n),
    "angle-brackets": lambda n: "<" * n,
    "unclosed-autolinks": lambda n: _repeat("<http:", n),
    "no-whitespace": lambda n: "a" * n,
    "thematic-break-lookalike": lambda n: _repeat(" *", n, prefix="*", suffix="x"),
    "quote-markers": lambda n: _repeat("> ", n, suffix="x"),
    "unclosed-fence": lambda n: _repeat("x\n", n, prefix="```\n"),
    "link-definition-lookalike": lambda n: "[" + "a" * n,
}

HTML_ATTACKS: dict[str, Callable[[int], str]] = {
    "angle-brackets": lambda n: "<" * n,
    "unclosed-tags": lambda n: _repeat("<a", n),
    "unclosed-tags-spaced": lambda n: _repeat("<a ", n),
    "unclosed-comments": lambda n: _repeat("<!--", n),
    "one-unclosed-comment": lambda n: "<!--" + "x" * n,
    "end-tag-openers": lambda n: _repeat("</", n),
    "declaration-openers": lambda n: _repeat("<!", n),
    "instruction-openers": lambda n: _repeat("<?", n),
    "cdata-openers": lambda n: _repeat("<![CDATA[", n),
    "unclosed-attribute-quote": lambda n: "<a b='" + "x" * n,
    "many-attributes": lambda n: _repeat("b=c ", n, prefix="<a "),
    "ampersands": lambda n: "&" * n,
    "ampersand-x": lambda n: _repeat("&x", n),
    "numeric-reference-openers": lambda n: _repeat("&#", n),
    "huge-numeric-reference": lambda n: "<p>&#" + "1" * n + ";</p>",
    "unclosed-paragraphs": lambda n: _repeat("<p>x", n),
    "deeply-nested-divs": lambda n: _repeat("<div>", n, suffix="x"),
    "deeply-nested-headings": lambda n: _repeat("<h1>", n, suffix="x"),
    "unclosed-script": lambda n: _repeat("<", n, prefix="<script>"),
    "no-whitespace": lambda n: "a" * n,
}

TEXT_ATTACKS: dict[str, Callable[[int], str]] = {
    "no-whitespace": lambda n: "a" * n,
    "newlines": lambda n: "\n" * n + "x",
    "blank-lines-of-spaces": lambda n: _repeat("\n ", n, suffix="x"),
    "spaces": lambda n: " " * n + "x",
    "abbreviations": lambda n: _repeat("Dr. ", n),
    "full-stops": lambda n: _repeat(". ", n, suffix="x"),
}

PARSERS = {
    "markdown": ("doc.md", _ordinary_markdown),
    "html": ("doc.html", _ordinary_html),
    "text": ("doc.txt", _ordinary_text),
}
ATTACKS = {"markdown": MARKDOWN_ATTACKS, "html": HTML_ATTACKS, "text": TEXT_ATTACKS}


_baselines: dict[tuple[str, ...], float] = {}


def _baseline(name: tuple[str, ...], run: Callable[[], object], fresh: bool) -> float:
    """Seconds ``run`` takes on an ordinary document (the fastest of a few), cached under ``name``."""
    if fresh or name not in _baselines:
        _baselines[name] = _fastest(run)
    return _baselines[name]


@functools.cache
def _ordinary_bytes(parser: str, size: int) -> bytes:
    return PARSERS[parser][1](size).encode()


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize(
    ("parser", "attack"), [(parser, name) for parser, attacks in ATTACKS.items() for name in attacks]
)
def test_parsing_is_linear_in_hostile_input(parser: str, attack: str, size: int) -> None:
    key, _ = PARSERS[parser]
    data, ordinary = ATTACKS[parser][attack](size).encode(), _ordinary_bytes(parser, size)
    baseline = functools.partial(_baseline, (parser, str(size)), lambda: parse_document(key, ordinary))
    assert_linear(lambda: parse_document(key, data), baseline, f"{parser} {attack}")


def test_a_heading_as_long_as_a_document_is_cut() -> None:
    line = b"word " * 200_000
    for key, data in [("a.md", b"# " + line + b"\n\ntext"), ("a.html", b"<h2>" + line + b"</h2>text")]:
        (section,) = parse_document(key, data).sections
        assert all(len(heading) <= 300 for heading in section.heading_path)


# --- chunking ----------------------------------------------------------------------------------


@functools.cache
def _base64(size: int) -> str:
    rng = random.Random(3)
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(size))


CHUNK_ATTACKS: dict[str, Callable[[int], str]] = {
    "no-whitespace": lambda n: "a" * n,
    "base64": _base64,
    "punctuation-run": lambda n: "#" * n,
    "tokens-without-spaces": lambda n: _repeat("[a](", n),
    "abbreviations": lambda n: _repeat("Dr. ", n),
    "one-word-sentences": lambda n: _repeat("A. ", n),
    "japanese-without-full-stops": lambda n: _repeat("日本語の文章です", n),
    "japanese-sentences": lambda n: _repeat("今日は雨が降っています。", n),
    "thai": lambda n: _repeat("ภาษาไทยเป็นภาษา", n),
    "whitespace-run": lambda n: "x" + " " * n + "y",
    "blank-lines": lambda n: _repeat("x\n\n", n),
}
# parent-child chunks every parent twice over: it is timed on the smaller size only, to keep the file fast
STRATEGY_SIZES = [(strategy, size) for strategy in ("structure", "fixed") for size in SIZES] + [
    ("parent-child", "100KB")
]


_ordinary_parsed_cached = functools.cache(_ordinary_parsed)


@pytest.mark.parametrize(("strategy", "size_id"), STRATEGY_SIZES, ids=[f"{s}-{z}" for s, z in STRATEGY_SIZES])
@pytest.mark.parametrize("attack", CHUNK_ATTACKS)
def test_chunking_is_linear_in_hostile_input(attack: str, strategy: str, size_id: str) -> None:
    size = SIZES[size_id]
    parsed = ParsedDocument("Attack", [Section(CHUNK_ATTACKS[attack](size))])
    ordinary = _ordinary_parsed_cached(size)
    baseline = functools.partial(
        _baseline, (strategy, str(size)), lambda: chunking.chunk(ordinary, strategy, 220, 40, 600)
    )
    run = functools.partial(chunking.chunk, parsed, strategy, 220, 40, 600)
    assert_linear(run, baseline, f"{strategy} chunking of {attack}")


@pytest.mark.parametrize("attack", ["no-whitespace", "base64", "japanese-without-full-stops", "whitespace-run"])
@pytest.mark.parametrize("strategy", ["structure", "fixed"])
def test_chunking_with_no_token_budget_to_speak_of_is_linear_too(attack: str, strategy: str) -> None:
    # Only the character bound cuts here, which must not make each cut read the rest of a long run.
    size, budget = SIZES["1MB"], 10_000_000
    parsed = ParsedDocument("Attack", [Section(CHUNK_ATTACKS[attack](size))])
    ordinary = _ordinary_parsed_cached(size)
    baseline = functools.partial(
        _baseline, (strategy, "unbounded", str(size)), lambda: chunking.chunk(ordinary, strategy, budget, 0)
    )
    assert_linear(functools.partial(chunking.chunk, parsed, strategy, budget, 0), baseline, f"{strategy} {attack}")


# --- .docx archives ----------------------------------------------------------------------------

_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_BODY_START = f'<?xml version="1.0" encoding="UTF-8"?><w:document {_W}><w:body>'.encode()
_BODY_END = b"</w:body></w:document>"


def _docx(
    filler: bytes, size: int, *, compression: int = zipfile.ZIP_DEFLATED, extra: dict[str, bytes] | None = None
) -> bytes:
    """A .docx whose document.xml is a body of ``filler`` repeated to ``size`` bytes, streamed into the
    archive a megabyte at a time so that building a 200 MB bomb costs the test no memory."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        with archive.open("word/document.xml", "w") as part:
            part.write(_BODY_START)
            piece = filler * max(1, min(size, 2**20) // len(filler))
            for _ in range(max(1, size // len(piece))):
                part.write(piece)
            part.write(b"<w:p><w:r><w:t>the end</w:t></w:r></w:p>" + _BODY_END)
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return out.getvalue()


@functools.cache
def _bomb() -> bytes:
    """200 MB of document.xml, 200 KB zipped: whitespace between paragraphs, as compressible as it gets."""
    return _docx(b" ", 200 * 2**20)


def _understated(data: bytes, part: str, declared: int) -> bytes:
    """``data`` (an archive without a comment) with its central directory claiming ``part`` expands to
    ``declared`` bytes."""
    record = struct.unpack_from("<L", data, len(data) - 22 + 16)[0]  # the end record's directory offset
    while True:
        name_length, extra_length, comment_length = struct.unpack_from("<3H", data, record + 28)
        if data[record + 46 : record + 46 + name_length] == part.encode():
            return data[: record + 24] + struct.pack("<L", declared) + data[record + 28 :]
        record += 46 + name_length + extra_length + comment_length


def _refusal(data: bytes) -> tuple[str, float, int]:
    """The reason ``data`` is refused, the seconds that took and the peak of memory allocated meanwhile."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with _deadline(60), pytest.raises(UnparseableDocument) as caught:
            parse_document("bomb.docx", data)
        return str(caught.value), time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_docx_zip_bomb_is_refused_at_once() -> None:
    reason, seconds, peak = _refusal(_bomb())
    assert reason == ".docx expands to more than 100 MB"
    assert seconds < 2 and peak < MAX_PEAK_BYTES


def test_docx_zip_bomb_that_understates_its_size_is_refused_too() -> None:
    # zipfile stops at the declared size; the truncated part then fails its checksum.
    reason, seconds, peak = _refusal(_understated(_bomb(), "word/document.xml", 10_000))
    assert reason == "corrupt or unreadable DOCX"
    assert seconds < 2 and peak < MAX_PEAK_BYTES


@pytest.mark.parametrize(
    "filler",
    [b" ", b"<w:p/>", b"<w:p><w:r><w:t>" + b"a" * 10_000 + b"</w:t></w:r></w:p>"],
    ids=["whitespace", "empty-paragraphs", "text"],
)
def test_docx_zip_bomb_under_the_size_cap_is_stopped_by_its_compression_ratio(filler: bytes) -> None:
    reason, seconds, peak = _refusal(_docx(filler, 40 * 2**20))
    assert reason == ".docx part expands more than 100 times its compressed size (a zip bomb?)"
    assert seconds < 10 and peak < MAX_PEAK_BYTES  # tracemalloc itself makes parsing several times slower


def test_docx_expansion_is_counted_across_parts_as_they_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each part declares less than the cap, so only the running count can refuse the second.
    monkeypatch.setattr(docx_parser, "MAX_DOCX_EXPANDED_BYTES", 3 * 2**20)
    core = b"<x>" + random.Random(5).randbytes(2**20).hex().encode() + b"</x>"  # 2 MB, hardly compressible
    data = _docx(b" ", 2 * 2**20, extra={"docProps/core.xml": core})
    reason, _, _ = _refusal(data)
    assert reason == ".docx expands to more than 3 MB"


def test_docx_with_too_many_entries_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", _BODY_START + b"<w:p><w:r><w:t>x</w:t></w:r></w:p>" + _BODY_END)
        for index in range(10_000):
            archive.writestr(f"word/media/{index}", b"")
    reason, _, _ = _refusal(out.getvalue())
    assert reason == ".docx has more than 10,000 entries"


def test_docx_central_directory_of_a_million_entries_is_refused_unread() -> None:
    # Entries with no data: zipfile would build a ZipInfo for each (4.7 s and 470 MB for a million).
    name = b"x"
    entry = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, 0)
    directory = (entry + name) * 1_000_000
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, len(directory), 0, 0)
    reason, seconds, peak = _refusal(directory + end)
    assert reason == ".docx has more than 10,000 entries"
    assert seconds < 1 and peak < MAX_PEAK_BYTES


def _docx_with_document(xml: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", xml)
    return out.getvalue()


_BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE w:document [\n<!ENTITY lol "lol">\n'
    + b"".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">\n'.encode() for n in range(1, 10)
    )
    + f"]>\n<w:document {_W}><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>".encode()
)


@pytest.mark.parametrize(
    "xml",
    [
        _BILLION_LAUGHS,
        b'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
        + f"<w:document {_W}><w:body><w:p><w:r><w:t>&secret;</w:t></w:r></w:p></w:body></w:document>".encode(),
        b"<!DOCTYPE w:document>" + _BODY_START[_BODY_START.index(b"<w:document") :] + _BODY_END,
    ],
    ids=["billion-laughs", "external-entity", "plain-doctype"],
)
def test_docx_with_a_dtd_is_refused_before_any_entity_expands(xml: bytes) -> None:
    reason, seconds, peak = _refusal(_docx_with_document(xml))
    assert reason == ".docx part declares a DTD, which Office Open XML forbids"
    assert seconds < 1 and peak < MAX_PEAK_BYTES


def test_docx_core_properties_with_a_dtd_are_refused_too() -> None:
    core = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><x>&a;</x>'
    data = _docx(b"<w:p><w:r><w:t>words</w:t></w:r></w:p>", 1, extra={"docProps/core.xml": core})
    assert _refusal(data)[0] == ".docx part declares a DTD, which Office Open XML forbids"


def test_docx_part_compressed_with_bzip2_is_refused() -> None:
    # bzip2 and LZMA decompress a whole read at once, with no bound on the output.
    data = _docx(b"<w:p><w:r><w:t>words</w:t></w:r></w:p>", 1, compression=zipfile.ZIP_BZIP2)
    assert _refusal(data)[0] == ".docx part uses an unsupported compression method"


def test_docx_under_every_cap_still_parses() -> None:
    data = _docx(b"<w:p><w:r><w:t>Quarterly figures.</w:t></w:r></w:p>", 2**20)
    parsed = parse_document("report.docx", data)
    assert parsed.sections[0].text.startswith("Quarterly figures.\n\nQuarterly figures.")
    assert parsed.sections[0].text.endswith("the end")
