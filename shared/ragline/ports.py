"""The ports of the core: what it needs from the outside world, as protocols.

Each port has exactly what the core uses of it (ingest, query, documents, indexing, evaluation, the local
stack and the CLI), no more: an adapter may offer more (a store's ``count``, an index's creation), and
tests may reach for it, but the core does not. Adapters implement these; unit tests use the in-memory
fakes of ``tests/fakes``, which the contract tests hold to the same semantics as the real adapters
(docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ragline.models import (
    Answer,
    Chunk,
    ConversationTurn,
    DocumentRecord,
    IndexedVersion,
    IndexingProgress,
    ListedObject,
    SearchHit,
    StoredObject,
    Work,
)

if TYPE_CHECKING:
    from ragline.audit import AuditRecord
    from ragline.indexes import Indexes, IndexTarget


class Embedder(Protocol):
    """Turns text into vectors. Documents and queries may be embedded differently (Cohere does).

    ``name`` says which model made the vectors (an evaluation report names it); ``dimension`` is the
    length of every vector, which the vector store is built for.
    """

    name: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class VectorStore(Protocol):
    """Chunks with their vectors, searchable by k-NN and BM25.

    Every search takes the caller's roles and applies them inside the search, so that ``k`` results come
    back when ``k`` visible ones exist. An empty set of roles matches nothing, and so does a chunk with no
    roles.
    """

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> int:
        """Make ``chunks`` the document's only chunks: upsert them and remove every other chunk of the
        document (an older version, or positions a new chunking no longer makes); returns how many went.
        ``ValueError`` for a chunk of another document, or a vector per chunk missing."""
        ...

    def delete_document(self, doc_id: str) -> int:
        """Remove every chunk of a document; returns how many."""
        ...

    def count_document(self, doc_id: str, version: str) -> int:
        """How many chunks of the document's version ``version`` the store holds (a reindex's backfill asks
        whether a new index has the document as the registry does)."""
        ...

    def update_roles(self, doc_id: str, roles: Sequence[str]) -> int:
        """Change the roles of every chunk of a document without re-embedding; returns how many."""
        ...

    @property
    def refresh_lag_seconds(self) -> float:
        """How long a write may take to become searchable (and a chunk to be found for a change): 0 when
        every write is searchable once it returns; OpenSearch Serverless's refresh interval there."""
        ...

    def settle_document(self, doc_id: str, version: str | None, roles: Sequence[str]) -> int:
        """Make the document's chunks what the registry says once every write is searchable: remove those of
        any version but ``version`` (all of them, when None), keep one copy of each chunk, and give what
        stays ``roles``; returns how many new copies it wrote (a store that changes roles in place writes
        none). Ingest calls it ``refresh_lag_seconds`` after a change, on a store where that is not 0, and
        again after a settle that wrote copies (docs/architecture.md, "OpenSearch Serverless consistency")."""
        ...

    def knn_search(self, vector: Sequence[float], roles: frozenset[str], k: int) -> list[SearchHit]:
        """The ``k`` visible chunks nearest to ``vector``, nearest first; score = cosine similarity."""
        ...

    def bm25_search(self, text: str, roles: frozenset[str], k: int) -> list[SearchHit]:
        """The ``k`` visible chunks that match ``text`` best by BM25, best first; none without a term in common."""
        ...

    def indexed_versions(self) -> Iterator[IndexedVersion]:
        """What the store holds, per document and version, in no particular order: how ``ragline sync``
        finds chunks the registry does not account for (docs/operations.md)."""
        ...

    def close(self) -> None:
        """Let go of the store's connections; the store is not used afterwards."""
        ...


class Reranker(Protocol):
    """Reorders retrieved passages by relevance to the question; returns at most ``top_n`` of them,
    best first, with the reranker's own scores."""

    def rerank(self, question: str, hits: Sequence[SearchHit], top_n: int) -> list[SearchHit]: ...


class Generator(Protocol):
    """Writes an answer to a question from numbered sources (1-based, in the order given); the answer's
    ``cited`` are the numbers of the sources it draws on."""

    def generate(self, question: str, sources: Sequence[SearchHit]) -> Answer:
        """The answer; :data:`ragline.models.NO_ANSWER`, citing nothing, when the sources do not answer."""
        ...


@runtime_checkable
class ChatModel(Protocol):
    """A chat model behind a generator: one system prompt and one user message in, the reply's text out.
    A generator that is one (Bedrock's) also rewrites follow-up questions (:mod:`ragline.rewriting`)."""

    def complete(self, system: str, user: str) -> str: ...


class QuestionRewriter(Protocol):
    """Turns a question asked in a conversation into one that stands alone, for retrieval: "and in Q4?"
    after "How many engineers will Contoso hire in Q3?" becomes "How many engineers will Contoso hire in
    Q4?". A question that already stands alone, or one without history, comes back as it is."""

    def rewrite(self, question: str, history: Sequence[ConversationTurn]) -> str: ...


class Registry(Protocol):
    """The documents table: one record per document, keyed by ``doc_id``, and each document's lease.

    The lease serialises every change to one document (re-ingest, role change, delete): only its holder
    writes the document's chunks and record. An event that finds the lease held hands its work to the holder
    (:meth:`hand_over`), who does it before it may :meth:`release` the lease. A lease is *live* until its
    ``until_ms`` has passed (``now_ms <= until_ms``). A lease alone is not a record: :meth:`get` says None.
    """

    def get(self, doc_id: str) -> DocumentRecord | None:
        """The document's record (roles and writers sorted), or None."""
        ...

    def get_many(self, doc_ids: Collection[str]) -> dict[str, DocumentRecord]:
        """The records of those of ``doc_ids`` that have one, by ``doc_id``; read as :meth:`get` reads."""
        ...

    def scan(self, after: str | None, limit: int) -> tuple[list[DocumentRecord], str | None]:
        """One page of the table in its own fixed order: the records among the next ``limit`` items after
        position ``after`` (None: the start), and the position to go on from (a ``doc_id``), None when the
        table has ended. Lease-only items are evaluated but, as for :meth:`get`, are no records, so a page
        may hold fewer than ``limit`` records (or none) and still be followed by more. Any ``doc_id`` is a
        position, whether or not its item exists: the scan goes on after it."""
        ...

    def put(self, record: DocumentRecord, lease_owner: str) -> None:
        """Write the record, keeping the lease and any pending work, while ``lease_owner`` holds the lease
        (:class:`ragline.errors.LeaseLost` otherwise)."""
        ...

    def acquire(self, doc_id: str, owner: str, until_ms: int, now_ms: int) -> bool:
        """Take the lease until ``until_ms`` if it is free, expired, or ``owner``'s already."""
        ...

    def record_progress(self, doc_id: str, owner: str, progress: IndexingProgress) -> None:
        """Note how far the lease's holder ``owner`` has come through the document; nothing when ``owner``
        does not hold the lease (progress is advisory). :meth:`put`, :meth:`release` and :meth:`abandon`
        clear it."""
        ...

    def progress(self, doc_id: str) -> IndexingProgress | None:
        """The progress recorded by the lease's holder while it indexes the document, else None; also
        while the document has no record yet (its first version being indexed)."""
        ...

    def hand_over(self, doc_id: str, work: Work, now_ms: int) -> bool:
        """Leave work to the live lease's holder, merged with any left before (full if any was, the newest
        sequencer); False, and nothing left, when no lease is live."""
        ...

    def take_pending(self, doc_id: str, owner: str) -> Work | None:
        """Clear and return the work handed over to the holder ``owner`` (None when there is none);
        :class:`ragline.errors.LeaseLost` when ``owner`` does not hold the lease."""
        ...

    def release(self, doc_id: str, owner: str) -> bool:
        """Give the lease up; False (the lease kept) when work was handed over meanwhile;
        :class:`ragline.errors.LeaseLost` when ``owner`` does not hold it."""
        ...

    def abandon(self, doc_id: str, owner: str) -> None:
        """Give the lease up after a failure, keeping the pending work for the next holder; nothing happens
        when ``owner`` does not hold it."""
        ...


class IndexCatalog(Protocol):
    """Which index is live, which is being built, which was live before (:mod:`ragline.indexes`): one item,
    changed only from the revision it was read at."""

    def get(self) -> Indexes | None:
        """The catalog (a consistent read), or None when there is none: the configured index is live."""
        ...

    def put(self, indexes: Indexes) -> None:
        """Write ``indexes`` if the catalog is still at ``indexes.revision - 1`` (0: there is none yet), else
        :class:`ragline.indexes.CatalogConflict` and nothing written."""
        ...


class IndexAdmin(Protocol):
    """Makes, counts, points readers at and removes the physical indexes of a store (``ragline reindex``):
    OpenSearch indexes behind an alias, or SQLite files."""

    def name_for(self, revision: int) -> str:
        """The name of a new index made at catalog revision ``revision`` (unique: revisions only grow)."""
        ...

    def create(self, target: IndexTarget) -> None:
        """Make the target's index, empty, for vectors of its dimension (nothing when it exists as such)."""
        ...

    def indexed_versions(self, target: IndexTarget) -> Iterator[IndexedVersion]:
        """:meth:`VectorStore.indexed_versions` of the target's index."""
        ...

    def point_readers(self, old: IndexTarget | None, new: IndexTarget) -> None:
        """Point whatever finds the live index outside the catalog (OpenSearch's alias) from ``old`` to
        ``new``, atomically; nothing for a store without one."""
        ...

    def drop(self, target: IndexTarget, live: IndexTarget) -> None:
        """Remove the target's index and everything in it; ``live`` is the index that stays."""
        ...


class ObjectStore(Protocol):
    """Where documents live (S3). Metadata names are lower case; ETags come without quotes."""

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> StoredObject | None:
        """The object with its metadata (at most ``max_bytes`` of its body, ``size`` its whole size), or None
        when it does not exist."""
        ...

    def head(self, bucket: str, key: str) -> StoredObject | None:
        """The object's metadata, ETag and size, without its body; None when it does not exist."""
        ...

    def delete(self, bucket: str, key: str, etag: str | None = None) -> None:
        """Delete the object (nothing happens when there is none); with ``etag``, only if it is still that
        object, else :class:`ragline.errors.ObjectChanged`."""
        ...

    def list(self, bucket: str, prefix: str = "", start_after: str = "") -> Iterator[ListedObject]:
        """Every object whose key starts with ``prefix`` (and sorts after ``start_after``), in key order
        (S3's UTF-8 binary order), a page at a time; current versions only."""
        ...


#: The longest an event queue holds a message back (SQS's limit: fifteen minutes).
MAX_QUEUE_DELAY_SECONDS = 900


class EventQueue(Protocol):
    """Where ingest's events wait (the ingest queue): ``ragline sync`` puts its records there, so that
    drift is repaired by the same code as S3's own events, and so does ingest, to settle a document on a
    store whose writes are searchable only later."""

    def send(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        """Put one message per body on the queue, all of them or raise (none is dropped silently); each is
        delivered no sooner than ``delay_seconds`` (at most :data:`MAX_QUEUE_DELAY_SECONDS`)."""
        ...


class DownloadSigner(Protocol):
    """Signs a download of one object (S3: a presigned GET)."""

    def presign_get(self, bucket: str, key: str, version_id: str | None, expires_in: int) -> str:
        """A URL that reads the object for ``expires_in`` seconds: exactly the version ``version_id`` when
        given, else whatever is at the key when it is used."""
        ...


class UploadSigner(Protocol):
    """Signs an upload that only succeeds with exactly the given headers (S3: a presigned PUT)."""

    def presign_put(
        self, bucket: str, key: str, metadata: dict[str, str], size: int, if_match: str | None, expires_in: int
    ) -> str:
        """A URL that uploads exactly ``size`` bytes with ``metadata``, for ``expires_in`` seconds. ``if_match``
        None: create only if the key is free (If-None-Match: *); else replace only the object of that ETag."""
        ...


class AuditLog(Protocol):
    """Where audit records are kept (docs/security.md, "The audit trail"): each findable by its user and by
    each of its documents, oldest first, a time window at a time.

    A record once kept is never replaced nor removed through this port (its retention removes it), and
    deleting a document leaves its records where they are. Times and positions are audit times
    (:func:`ragline.http_api.format_audit_time`) and :attr:`ragline.audit.AuditRecord.position`\\ s.
    """

    def write(self, record: AuditRecord) -> None:
        """Keep the record, under its user and each of its documents, all of it or none of it;
        :class:`ragline.errors.AuditUnavailable` when it cannot, or when a record of the same position and
        user or document is kept already (nothing is replaced)."""
        ...

    def by_document(
        self, doc_id: str, since: str, until: str, limit: int, after: str | None
    ) -> tuple[list[AuditRecord], str | None]:
        """Up to ``limit`` records that touched the document, from ``since`` (inclusive, "" from the first) until
        ``until`` (exclusive, "" to the last), after position ``after``; and the position to go on from (None
        when nothing follows)."""
        ...

    def by_user(
        self, user: str, since: str, until: str, limit: int, after: str | None
    ) -> tuple[list[AuditRecord], str | None]:
        """As :meth:`by_document`, for the records of one user (``sub``; :data:`ragline.audit.ANONYMOUS` for
        requests that carried no valid token)."""
        ...
