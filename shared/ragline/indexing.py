"""From an object's bytes to indexed chunks: parse, chunk, embed, replace. One path for production and eval.

Example:
    >>> chunks = chunks_of(stored, doc_id, ("finance",), settings)  # doctest: +SKIP
    >>> index_chunks(store, embedder, doc_id, chunks)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ragline.chunking import chunk
from ragline.errors import UnparseableDocument
from ragline.ids import chunk_id
from ragline.models import Chunk, IndexingProgress, StoredObject
from ragline.parsing import parse_document
from ragline.ports import Embedder, VectorStore
from ragline.settings import Chunking


class IndexingOptions(Protocol):
    """What parsing and chunking read of the configuration: the ingest function's
    :class:`ragline.ingest.IngestConfig`, and :class:`ragline.settings.Settings` for the evaluation."""

    @property
    def max_object_bytes(self) -> int: ...
    @property
    def max_chunks(self) -> int: ...
    @property
    def chunking(self) -> Chunking: ...
    @property
    def chunk_tokens(self) -> int: ...
    @property
    def chunk_overlap(self) -> int: ...
    @property
    def parent_tokens(self) -> int: ...


def readable_size(size: int) -> str:
    """A size in bytes as a person reads it.

    >>> readable_size(52_428_800), readable_size(40_960), readable_size(12)
    ('50.0 MB', '40.0 KB', '12 bytes')
    """
    if size >= 1_048_576:
        return f"{size / 1_048_576:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


def refuse_oversized(stored: StoredObject, options: IndexingOptions) -> None:
    """:class:`UnparseableDocument` when the object is over ``RAGLINE_MAX_OBJECT_BYTES``: its whole size where
    S3 said it (a HEAD, or a read cut short), else the bytes at hand."""
    size = stored.size if stored.size is not None else len(stored.data)
    limit = options.max_object_bytes
    if max(size, len(stored.data)) > limit:
        raise UnparseableDocument(f"file is {readable_size(size)}, over the limit of {readable_size(limit)}")


def chunks_of(stored: StoredObject, doc_id: str, roles: tuple[str, ...], options: IndexingOptions) -> list[Chunk]:
    """The chunks of an object's current version. Raises :class:`UnparseableDocument` with a reason a
    person understands when it cannot be parsed.

    Only the parser's errors are the document's fault. Any other error (in the chunker, say, or a setting)
    propagates, so the ingest function reports the message as a batch item failure, to be redelivered and
    then dead-lettered, rather than recording a good document as ``failed`` (docs/architecture.md,
    "Configuration").
    """
    refuse_oversized(stored, options)
    try:
        parsed = parse_document(stored.key, stored.data)
    except UnparseableDocument:
        raise
    except Exception as error:  # parsing is pure computation on bytes: retrying gives the same crash
        raise UnparseableDocument(f"could not parse the file ({type(error).__name__})") from error
    drafts = chunk(parsed, options.chunking, options.chunk_tokens, options.chunk_overlap, options.parent_tokens)
    if not drafts:
        raise UnparseableDocument("no text found")
    if len(drafts) > options.max_chunks:
        raise UnparseableDocument(
            f"document makes {len(drafts)} chunks, over the limit of {options.max_chunks} (RAGLINE_MAX_CHUNKS)"
        )
    source = f"s3://{stored.bucket}/{stored.key}"
    return [
        Chunk(
            chunk_id=chunk_id(doc_id, stored.version, position),
            doc_id=doc_id,
            version=stored.version,
            text=draft.text,
            source=source,
            title=parsed.title,
            roles=roles,
            position=position,
            page=draft.page,
            heading_path=draft.heading_path,
            context=draft.context,
        )
        for position, draft in enumerate(drafts)
    ]


# Chunks embedded between two progress reports: a few seconds of the local model, a DynamoDB write apiece.
PROGRESS_SLICE = 64


def index_chunks(
    store: VectorStore,
    embedder: Embedder,
    doc_id: str,
    chunks: Sequence[Chunk],
    on_progress: Callable[[IndexingProgress], None] | None = None,
) -> None:
    """Embed what each chunk is searched by and make these the document's only chunks. With
    ``on_progress``, a document of more than :data:`PROGRESS_SLICE` chunks is embedded a slice at a time,
    and ``on_progress`` hears after each slice how many are done."""
    texts = [chunk.indexed_text() for chunk in chunks]
    if on_progress is None or len(texts) <= PROGRESS_SLICE:
        vectors = embedder.embed_documents(texts)
    else:
        vectors = []
        for start in range(0, len(texts), PROGRESS_SLICE):
            vectors += embedder.embed_documents(texts[start : start + PROGRESS_SLICE])
            on_progress(IndexingProgress(done=len(vectors), total=len(texts)))
    store.replace_document(doc_id, chunks, vectors)
