"""The values that flow between ingest, the stores and the query path."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class Section:
    """A run of text from a parsed document, with where it sits in the document.

    Parsers emit sections; the chunker never splits across a heading change, so every chunk keeps
    its page number and heading path.
    """

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    context: str = ""  # parent-child chunking: the larger passage this one sits in


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    sections: list[Section]


@dataclass(frozen=True)
class Chunk:
    """One indexed unit of a document version. ``roles`` are the roles allowed to see it."""

    chunk_id: str
    doc_id: str
    version: str
    text: str
    source: str
    title: str
    roles: tuple[str, ...]
    position: int
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    context: str = ""  # the larger passage a generator reads (parent-child chunking); "" means ``text``

    def passage(self) -> str:
        """What a reader of this chunk sees: its parent passage when it has one, else its own text."""
        return self.context or self.text

    def indexed_text(self) -> str:
        """What the BM25 index and the embedder see: title and headings give a chunk its context."""
        headings = self.heading_path[1:] if self.heading_path[:1] == (self.title,) else self.heading_path
        context = " > ".join(part for part in (self.title, *headings) if part)
        return f"{context}\n{self.text}" if context else self.text


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    score: float


#: What a generator answers when the sources do not answer the question: a plain statement about the
#: passages searched, which neither suggests a permission problem nor hints that other documents exist
#: (docs/security.md, "Declines"). A model is told to reply exactly this (ragline.generators.prompt).
NO_ANSWER = "No answer to that was found in the documents searched."


@dataclass(frozen=True)
class Answer:
    """A generator's answer. ``cited`` holds 1-based numbers of the sources it cites, in order.

    An answer whose text is :data:`NO_ANSWER` is a decline: every generator says exactly that when its
    sources do not answer (an LLM's variants of it are normalised by
    :func:`ragline.generators.prompt.normalise_decline`).

    >>> Answer(NO_ANSWER).declined, Answer("Revenue grew [1].", [1]).declined
    (True, False)
    """

    text: str
    cited: list[int] = field(default_factory=list)
    model: str = ""

    @property
    def declined(self) -> bool:
        return self.text == NO_ANSWER


@dataclass(frozen=True)
class ConversationTurn:
    """One earlier turn of a conversation, as the caller sent it back (``POST /query``'s ``history``): the
    question (standalone, as the API answered it) and the answer's text. Caller-supplied, so untrusted."""

    question: str
    answer: str = ""


DocumentStatus = Literal["queued", "indexed", "failed", "deleted"]


@dataclass
class DocumentRecord:
    """A document's row in the registry."""

    doc_id: str
    bucket: str
    key: str
    status: DocumentStatus
    version: str = ""
    roles: tuple[str, ...] = ()
    chunk_count: int = 0
    title: str = ""
    error: str = ""
    sequencer: str = ""  # the newest S3 event of the key applied (sortable form, ragline.ingest.sortable_sequencer)
    updated_at: str = ""
    owner: str = ""  # who uploaded it through the API (the caller's ``sub``); "" when put straight into S3
    writers: tuple[str, ...] = ()  # roles that may replace or delete it, besides its owner and admins
    etag: str = ""  # the indexed version's ETag, which a bucket listing shows (``version`` may be a version id)

    @property
    def source(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class StoredObject:
    """An object read from the documents bucket. ``metadata`` is S3 user metadata (``x-amz-meta-*``)."""

    bucket: str
    key: str
    data: bytes
    metadata: dict[str, str]
    etag: str
    version_id: str | None = None
    size: int | None = None  # the object's whole size in bytes, when S3 said (HEAD, or a ranged GET)

    @property
    def version(self) -> str:
        """What identifies this content: the S3 version id where versioning is on, else the ETag."""
        return self.version_id or self.etag


@dataclass(frozen=True)
class ListedObject:
    """One object of a bucket listing: what S3's ListObjectsV2 says of it, without reading it."""

    key: str
    etag: str
    last_modified: datetime
    size: int


@dataclass(frozen=True)
class IndexedVersion:
    """What the vector store holds of one version of one document: ``chunks`` chunks, from ``source``
    (``s3://bucket/key``, so that chunks the registry has no record of can still be traced to their key)."""

    doc_id: str
    version: str
    source: str
    chunks: int


@dataclass(frozen=True)
class IndexingProgress:
    """How far an ingest has come through one document: ``done`` of its ``total`` chunks embedded."""

    done: int
    total: int


@dataclass(frozen=True)
class Work:
    """What events ask of one document's ingest: ``full`` re-reads and re-embeds the object; otherwise the
    document is *refreshed* (re-embedded only when the indexed version is not the bucket's, else its roles
    recomputed). ``sequencer`` is the newest S3 sequencer of the document's key behind the work, "" if none.

    >>> Work(full=False, sequencer="0A").merge(Work(full=True))
    Work(full=True, sequencer='0A')
    """

    full: bool
    sequencer: str = ""

    def merge(self, other: Work | None) -> Work:
        if other is None:
            return self
        return Work(full=self.full or other.full, sequencer=max(self.sequencer, other.sequencer))
