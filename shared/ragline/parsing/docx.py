"""DOCX with the standard library: ``word/document.xml`` streamed from the zip archive through expat.

A .docx is a zip archive, and a hostile one is refused before it costs much (a 297 KB zip bomb once took
86 s and 1.4 GB). What the archive declares about itself only ever refuses it early, never lets it in:

* zipfile builds an object per entry of the central directory before anything can be counted (a million
  entries: 4.7 s and 470 MB), so a directory too large for :data:`MAX_DOCX_ENTRIES` is refused unread;
* parts are decompressed in chunks and counted as they come, whatever sizes the archive states: past
  :data:`MAX_DOCX_EXPANDED_BYTES` in all, or :data:`MAX_DOCX_COMPRESSION_RATIO` times the compressed
  bytes actually read, reading stops;
* the XML is parsed as it streams and only its text is kept, so memory follows the text, not the markup;
* a DTD is refused: Office Open XML forbids them, and their entities are how "billion laughs" expands.

Each cap raises :class:`~ragline.errors.UnparseableDocument` saying which limit was hit.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol
from xml.parsers import expat

from ragline.errors import UnparseableDocument
from ragline.models import ParsedDocument
from ragline.parsing._common import (
    SectionBuilder,
    clean_paragraph,
    collapse_whitespace,
    finish,
    title_from_key,
)

#: The parts read (the document and its core properties) may decompress to this much in total (100 MiB,
#: reported as "100 MB"); the document.xml of a 1,000-page report is some 10 MB.
MAX_DOCX_EXPANDED_BYTES = 100 * 1024 * 1024
#: Entries in the archive; a Word document has a few dozen, and one per embedded image.
MAX_DOCX_ENTRIES = 10_000
#: Past :data:`_RATIO_CHECKED_AFTER` bytes of a part, it may expand at most this many times the bytes read
#: from the archive. Word's XML compresses about 10 to 1, generated documents of one paragraph repeated
#: thousands of times 150 to 300 to 1, and deflate at its most (a zip bomb) about 1,000 to 1.
MAX_DOCX_COMPRESSION_RATIO = 100
# Up to this size a part may compress as well as it likes (those repetitive documents stay below it); a
# bomb of empty paragraphs is stopped after under a second of parsing, instead of some 20 s at the cap.
_RATIO_CHECKED_AFTER = 4 * 1024 * 1024
# A directory record is 46 bytes with the part's name and extra fields: 256 each is generous.
_DIRECTORY_BYTES_PER_ENTRY = 256
# Small, so that the compressed bytes read (zipfile reads ahead as much as it is asked for) measure the
# ratio closely from the start.
_CHUNK_BYTES = 16 * 1024

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main}"  # expat names are "namespace}local"
_DC_TITLE = "http://purl.org/dc/elements/1.1/}title"
_HEADING_STYLE = re.compile(r"heading\s*([1-9])", re.IGNORECASE)
_TITLE_LEVEL = 0  # a "Title" paragraph sits above every Heading 1
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    KeyError,
    expat.ExpatError,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


def parse_docx(key: str, data: bytes) -> ParsedDocument:
    """Paragraphs and table cells under the heading path given by "Title" and "Heading N" styles.

    The title is the document's core property, else the first "Title" paragraph, else the first
    Heading 1, else the file name.
    """
    try:
        with _Archive(data) as archive:
            document = _DocumentReader()
            _parse_xml(archive.stream("word/document.xml"), document)
            core_title = _core_title(archive)
    except _ARCHIVE_ERRORS as exc:
        raise UnparseableDocument("corrupt or unreadable DOCX") from exc
    if not document.has_body:
        raise UnparseableDocument("corrupt or unreadable DOCX")

    builder = SectionBuilder()
    styled_title = first_h1 = ""
    for level, text in document.blocks:
        if level is None:
            builder.paragraph(text)
            continue
        heading = collapse_whitespace(text)
        if level == _TITLE_LEVEL and not styled_title:
            styled_title = heading
        if level == 1 and not first_h1:
            first_h1 = heading
        builder.heading(level, heading)
    title = core_title or styled_title or first_h1 or title_from_key(key)
    return finish(title, builder.sections())


# --- the archive -------------------------------------------------------------------------------


def _size(count: int) -> str:
    return f"{count / 2**20:g} MB" if count >= 2**20 else f"{count:,} bytes"


class _ArchiveBytes(io.BytesIO):
    """The archive's bytes for zipfile, counting every byte read and refusing reads over ``read_limit``."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.size = len(data)
        self.bytes_read = 0
        self.read_limit: int | None = None

    def read(self, size: int | None = -1) -> bytes:
        if self.read_limit is not None:
            available = max(self.size - self.tell(), 0)
            wanted = available if size is None or size < 0 else min(size, available)
            if wanted > self.read_limit:
                # zipfile reads the whole central directory at once, before it parses any entry.
                raise UnparseableDocument(f".docx has more than {MAX_DOCX_ENTRIES:,} entries")
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


class _Archive:
    """A .docx's zip archive, whose parts are read as chunks within the caps of this module."""

    def __init__(self, data: bytes) -> None:
        self._bytes = _ArchiveBytes(data)
        self._bytes.read_limit = MAX_DOCX_ENTRIES * _DIRECTORY_BYTES_PER_ENTRY
        self._zip = zipfile.ZipFile(self._bytes)
        self._bytes.read_limit = None
        self._expanded = 0
        if len(self._zip.infolist()) > MAX_DOCX_ENTRIES:
            self._zip.close()
            raise UnparseableDocument(f".docx has more than {MAX_DOCX_ENTRIES:,} entries")

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._zip.close()

    def stream(self, name: str) -> Iterator[bytes]:
        """The decompressed bytes of part ``name``, in chunks. Raises KeyError when there is no such part."""
        info = self._zip.getinfo(name)
        # Office Open XML allows only these; bzip2 and LZMA also decompress without an output bound.
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnparseableDocument(".docx part uses an unsupported compression method")
        # The declared size refuses an honest bomb before any work; what is counted below is what decides.
        self._check_total(info.file_size)
        expanded, read_before = 0, self._bytes.bytes_read
        with self._zip.open(info) as member:
            while chunk := member.read(_CHUNK_BYTES):
                expanded += len(chunk)
                self._expanded += len(chunk)
                self._check_total(self._expanded)
                self._check_ratio(expanded, self._bytes.bytes_read - read_before)
                yield chunk

    @staticmethod
    def _check_total(expanded: int) -> None:
        if expanded > MAX_DOCX_EXPANDED_BYTES:
            raise UnparseableDocument(f".docx expands to more than {_size(MAX_DOCX_EXPANDED_BYTES)}")

    @staticmethod
    def _check_ratio(expanded: int, compressed: int) -> None:
        if expanded > _RATIO_CHECKED_AFTER and expanded > MAX_DOCX_COMPRESSION_RATIO * max(compressed, 1):
            raise UnparseableDocument(
                f".docx part expands more than {MAX_DOCX_COMPRESSION_RATIO} times its compressed size (a zip bomb?)"
            )


# --- XML ---------------------------------------------------------------------------------------


class _Handler(Protocol):
    def start(self, name: str, attributes: dict[str, str]) -> None: ...

    def end(self, name: str) -> None: ...

    def data(self, text: str) -> None: ...


def _parse_xml(chunks: Iterable[bytes], handler: _Handler) -> None:
    """Feed ``chunks`` of one XML part to ``handler`` as expat parses them; raises on a DTD."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.data
    parser.buffer_text = True
    for chunk in chunks:
        parser.Parse(chunk, False)
    parser.Parse(b"", True)


def _refuse_dtd(*_: object) -> None:
    # Called when "<!DOCTYPE" starts, before any entity it declares can be expanded.
    raise UnparseableDocument(".docx part declares a DTD, which Office Open XML forbids")


@dataclass(slots=True)
class _Cell:
    paragraphs: list[str] = field(default_factory=list)
    nested: list[str] = field(default_factory=list)  # texts of the tables in it, after its own text


@dataclass(slots=True)
class _Paragraph:
    cell: _Cell | None  # None for a paragraph of the body (or of a content control in it)
    parts: list[str] = field(default_factory=list)
    style: str = ""


@dataclass(slots=True)
class _Frame:
    """An open element and what it is to the document: only the role decides what its children are."""

    role: str
    emit: Callable[[str], None] | None = None  # a table's: where the texts of its cells go
    cell: _Cell | None = None  # a cell's
    opened: bool = False  # a content control's: its first content was read (only that one counts)


# Most elements carry no state of their own and share one frame per role: a document has millions.
_ROOT, _CONTAINER, _PARAGRAPH = _Frame("root"), _Frame("container"), _Frame("paragraph")
_IN_PARAGRAPH, _TEXT, _PROPERTIES, _IGNORED = (
    _Frame("in-paragraph"), _Frame("text"), _Frame("properties"), _Frame("ignored")
)  # fmt: skip
_PARAGRAPH_ROLES = frozenset({"paragraph", "in-paragraph", "text", "properties"})
_BODY, _P, _TBL, _TR, _TC, _SDT, _SDT_CONTENT = (
    f"{_W}body", f"{_W}p", f"{_W}tbl", f"{_W}tr", f"{_W}tc", f"{_W}sdt", f"{_W}sdtContent"
)  # fmt: skip
_T, _TAB, _BREAKS, _PPR, _PSTYLE, _VAL = (
    f"{_W}t", f"{_W}tab", {f"{_W}br", f"{_W}cr"}, f"{_W}pPr", f"{_W}pStyle", f"{_W}val"
)  # fmt: skip


class _DocumentReader:
    """Expat handlers collecting ``(heading level or None, text)`` for each paragraph and table cell of
    ``word/document.xml``, in document order; a table nested in a cell follows that cell's own text.

    Paragraph text is its text runs (``w:t``); tabs become spaces and breaks new lines; deleted text
    (``w:delText``) is skipped. Content controls (``w:sdt``) are read through.
    """

    def __init__(self) -> None:
        self.blocks: list[tuple[int | None, str]] = []
        self.has_body = False
        self._stack: list[_Frame] = []
        self._paragraph: _Paragraph | None = None

    def start(self, name: str, attributes: dict[str, str]) -> None:
        if not self._stack:
            self._stack.append(_ROOT)
            return
        parent = self._stack[-1]
        if parent.role in _PARAGRAPH_ROLES:
            self._stack.append(self._in_paragraph(name, parent, attributes))
        elif parent is _IGNORED:
            self._stack.append(_IGNORED)
        else:
            self._stack.append(self._structure(name, parent))

    def _structure(self, name: str, parent: _Frame) -> _Frame:
        """The frame of an element outside paragraphs: the body, tables and content controls."""
        role = parent.role
        if role == "container":
            return self._block(name, None)
        if role == "cell":
            return self._block(name, parent.cell)
        if role == "root" and name == _BODY and not self.has_body:
            self.has_body = True
            return _CONTAINER
        if role == "content-control" and name == _SDT_CONTENT and not parent.opened:
            parent.opened = True
            return _CONTAINER
        if role == "table" and name == _TR:
            return _Frame("row", emit=parent.emit)
        if role == "row" and name == _TC:
            return _Frame("cell", emit=parent.emit, cell=_Cell())
        return _IGNORED

    def _block(self, name: str, cell: _Cell | None) -> _Frame:
        """A child of the body, of a content control in it, or of a table cell."""
        if name == _P:
            self._paragraph = _Paragraph(cell)
            return _PARAGRAPH
        if name == _TBL:
            emit = (lambda text: self.blocks.append((None, text))) if cell is None else cell.nested.append
            return _Frame("table", emit=emit)
        if name == _SDT and cell is None:
            return _Frame("content-control")
        return _IGNORED

    def _in_paragraph(self, name: str, parent: _Frame, attributes: dict[str, str]) -> _Frame:
        assert self._paragraph is not None
        if name == _T:
            return _TEXT
        if name == _TAB:
            self._paragraph.parts.append(" ")
        elif name in _BREAKS:
            self._paragraph.parts.append("\n")
        elif name == _PPR and parent is _PARAGRAPH:
            return _PROPERTIES
        elif name == _PSTYLE and parent is _PROPERTIES:
            self._paragraph.style = attributes.get(_VAL, "")
        return _IN_PARAGRAPH

    def data(self, text: str) -> None:
        if self._stack and self._stack[-1] is _TEXT:
            assert self._paragraph is not None
            self._paragraph.parts.append(text)

    def end(self, name: str) -> None:
        frame = self._stack.pop()
        if frame is _PARAGRAPH:
            self._end_paragraph()
        elif frame.role == "cell":
            assert frame.cell is not None and frame.emit is not None
            text = "\n".join(frame.cell.paragraphs)
            for cell_text in ([text] if text else []) + frame.cell.nested:
                frame.emit(cell_text)

    def _end_paragraph(self) -> None:
        paragraph, self._paragraph = self._paragraph, None
        assert paragraph is not None
        if not paragraph.parts:
            return
        text = clean_paragraph("".join(paragraph.parts))
        if not text:
            return
        if paragraph.cell is not None:
            paragraph.cell.paragraphs.append(text)
        else:
            self.blocks.append((_heading_level(paragraph.style), text))


class _CoreTitleReader:
    """Expat handlers keeping the text of the first ``dc:title`` under the root of ``docProps/core.xml``."""

    def __init__(self) -> None:
        self.title_parts: list[str] = []
        self._depth = 0
        self._state = "before"  # then "in", then "after": only the first title counts

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self._depth += 1
        if self._state == "before" and self._depth == 2 and name == _DC_TITLE:
            self._state = "in"
        elif self._state == "in" and self._depth > 2:
            self._state = "after"  # the property's own text comes before any child element

    def end(self, name: str) -> None:
        if self._state == "in" and self._depth == 2:
            self._state = "after"
        self._depth -= 1

    def data(self, text: str) -> None:
        if self._state == "in":
            self.title_parts.append(text)


def _core_title(archive: _Archive) -> str:
    """``dc:title`` from ``docProps/core.xml``; the part is optional, so a missing or broken one gives ""."""
    reader = _CoreTitleReader()
    try:
        _parse_xml(archive.stream("docProps/core.xml"), reader)
    except (KeyError, expat.ExpatError):
        return ""
    return collapse_whitespace("".join(reader.title_parts))


def _heading_level(style_id: str) -> int | None:
    if style_id.lower() == "title":
        return _TITLE_LEVEL
    match = _HEADING_STYLE.fullmatch(style_id)
    return int(match.group(1)) if match else None
