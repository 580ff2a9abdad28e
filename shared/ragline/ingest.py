"""Ingest: turn one S3 object event into the index and the registry agreeing with the bucket.

The ingest function hands each S3 notification record to :class:`Ingestor`. Created objects are parsed,
chunked, embedded and upserted with deterministic chunk ids, then the chunks of the previous version are
removed; removed objects lose all their chunks; a sidecar ``<key>.metadata.json`` changes a document's
roles without re-embedding it. On a store whose writes become searchable only later (OpenSearch
Serverless), each change also queues a *settle* of its document, delivered once they are searchable, which
removes whatever the change could not yet see (docs/architecture.md, "OpenSearch Serverless consistency").

Every change to one document happens under that document's lease in the registry, so no two ingests of a
document interleave: an event that finds the lease taken hands its work to the holder, who does it before
letting go. An event is acknowledged only once its work is done or handed to a holder whose own message is
still unacknowledged, so a failure at any step leaves a message to redeliver (docs/architecture.md).

Example:
    >>> ingestor = Ingestor(objects, registry, store, embedder, IngestConfig.from_settings(settings))  # doctest: +SKIP
    >>> ingestor.handle(ObjectEvent.from_s3_record(record))  # doctest: +SKIP
    'indexed'
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

from ragline.access import (
    InvalidSidecar,
    document_key_of_sidecar,
    is_sidecar,
    owner_from_metadata,
    read_sidecar_roles,
    resolve_document_roles,
    writers_from_metadata,
)
from ragline.errors import TransientError, UnparseableDocument
from ragline.ids import document_id
from ragline.indexes import IndexRouter
from ragline.indexing import chunks_of, index_chunks, refuse_oversized
from ragline.models import DocumentRecord, StoredObject, Work
from ragline.ports import MAX_QUEUE_DELAY_SECONDS, Embedder, EventQueue, ObjectStore, Registry, VectorStore
from ragline.settings import Chunking, Settings, settings_values

# How long a lease lasts when the caller gives no deadline (a direct call): past Lambda's longest timeout.
DEFAULT_LEASE_MS = 16 * 60 * 1000
# Added to the function's deadline: a lease must outlive its holder, but not its holder's redelivery, which
# SQS makes at least a visibility timeout (6x the function's timeout) later.
LEASE_MARGIN_MS = 10_000
ACQUIRE_ATTEMPTS = 5
MAX_ROUNDS = 20  # rounds of handed-over work one holder does before it leaves the rest to redelivery
# Added to a store's refresh lag before a settle is delivered: clocks differ, and the lag is not exact.
SETTLE_MARGIN_SECONDS = 15


class DocumentNotReady(TransientError):
    """An event that must wait for another to finish: raised so the queue redelivers it later."""


Outcome = Literal[
    "indexed",
    "failed",
    "deleted",
    "roles-updated",
    "backfilled",
    "unchanged",
    "skipped",
    "handed-over",
    "settled",
    "settle-deferred",
]


#: ``eventSource`` of the records :mod:`ragline.sync` puts on the ingest queue: S3-shaped, so that drift
#: goes through the same queue and the same code as S3's own events (docs/operations.md).
SYNC_EVENT_SOURCE = "ragline:sync"
#: Their ``eventName``\ s: a refresh makes the document agree with the bucket, re-embedding it only when the
#: indexed version is not the bucket's; a reindex re-reads and re-embeds it whatever the registry says.
SYNC_REFRESH = "Sync:Refresh"
SYNC_REINDEX = "Sync:Reindex"
#: A backfill is a refresh that also puts the bucket's current version of the document into every index
#: that lacks it: ``ragline reindex`` sends one for each document while a new index is built
#: (docs/operations.md, "Changing the embedding model"). Every refresh does the same, so a backfill handed
#: over to a lease's holder is not lost.
SYNC_BACKFILL = "Sync:Backfill"
#: A settle makes the stored chunks of a document exactly what its record says (the record's version, one
#: copy of each chunk, the record's roles): ingest queues one, delayed past the store's refresh lag, with
#: each change on a store whose writes become searchable only later (OpenSearch Serverless).
SYNC_SETTLE = "Sync:Settle"

EventKind = Literal["created", "removed", "refresh", "reindex", "backfill", "settle"]


@dataclass(frozen=True)
class ObjectEvent:
    """One record of an S3 event notification (or of a sync, :data:`SYNC_EVENT_SOURCE`), reduced to what
    ingest needs. A sync record has no sequencer: it orders nothing, it only asks for a reconcile."""

    kind: EventKind
    bucket: str
    key: str
    sequencer: str = ""

    @property
    def full(self) -> bool:
        """Whether the event asks for the object to be read and embedded again, whatever the registry says."""
        return self.kind in ("created", "reindex")

    @classmethod
    def from_s3_record(cls, record: Mapping[str, Any]) -> ObjectEvent:
        name = record["eventName"]
        kind: EventKind
        if record.get("eventSource") == SYNC_EVENT_SOURCE:
            kinds: dict[str, EventKind] = {
                SYNC_REFRESH: "refresh",
                SYNC_REINDEX: "reindex",
                SYNC_BACKFILL: "backfill",
                SYNC_SETTLE: "settle",
            }
            if name not in kinds:
                raise ValueError(f"unsupported sync event {name!r}")
            kind = kinds[name]
        elif name.startswith("ObjectCreated"):
            kind = "created"
        elif name.startswith("ObjectRemoved"):
            kind = "removed"
        else:
            raise ValueError(f"unsupported S3 event {name!r}")
        s3 = record["s3"]
        return cls(
            kind=kind,
            bucket=s3["bucket"]["name"],
            key=urllib.parse.unquote_plus(s3["object"]["key"]),  # S3 URL-encodes keys in events
            sequencer=s3["object"].get("sequencer", ""),  # LocalStack may omit it
        )


def sync_record(name: str, bucket: str, key: str, drift: str, now: datetime | None = None) -> dict[str, Any]:
    """One record of an S3 event notification's shape, from ragline itself (a sync, a reindex's backfill,
    ingest's own settle): ``name`` is one of the ``SYNC_*`` event names; the key is URL-encoded as S3
    encodes it; there is no sequencer (such a record orders nothing); ``drift`` says why it was sent.

    >>> sync_record("Sync:Refresh", "docs", "a b.md", "missing", datetime(2026, 1, 1, tzinfo=UTC))["s3"]
    {'bucket': {'name': 'docs'}, 'object': {'key': 'a+b.md'}}
    """
    moment = (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "eventVersion": "2.1",
        "eventSource": SYNC_EVENT_SOURCE,
        "eventName": name,
        "eventTime": moment,
        "s3": {"bucket": {"name": bucket}, "object": {"key": urllib.parse.quote_plus(key, safe="/")}},
        "ragline": {"drift": drift},
    }


def sync_message(record: dict[str, Any]) -> str:
    """The ingest queue's message of one :func:`sync_record`, shaped as S3's notification of one event.

    >>> json.loads(sync_message({"eventName": "Sync:Refresh"}))
    {'Records': [{'eventName': 'Sync:Refresh'}]}
    """
    return json.dumps({"Records": [record]})


def sortable_sequencer(sequencer: str) -> str:
    """S3 sequencers are hex numbers of varying width; zero-padded to one width they sort as strings,
    which is how DynamoDB's conditions compare them. Empty stays empty (an event without one)."""
    return sequencer.upper().rjust(32, "0") if sequencer else ""


@dataclass(frozen=True)
class IngestConfig:
    """The settings ingest works by (README, "Configuration"); the defaults are :class:`Settings`'.

    >>> IngestConfig.from_settings(Settings(max_chunks=3)).max_chunks
    3
    """

    max_object_bytes: int = Settings.max_object_bytes  # a larger object is failed without being read
    max_chunks: int = Settings.max_chunks  # a document that makes more is failed, not embedded
    chunking: Chunking = Settings.chunking
    chunk_tokens: int = Settings.chunk_tokens
    chunk_overlap: int = Settings.chunk_overlap
    parent_tokens: int = Settings.parent_tokens
    prefix_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # roles by key prefix
    default_roles: tuple[str, ...] = Settings.default_roles  # roles of a document that names none
    # The ingest function starts no record with less than this left.
    ingest_reserve_seconds: int = Settings.ingest_reserve_seconds

    def __post_init__(self) -> None:
        # Out-of-range numbers fail here as they do in Settings, which holds the one set of bounds.
        Settings(**{config_field.name: getattr(self, config_field.name) for config_field in fields(self)})

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestConfig:
        return cls(**settings_values(settings, cls))


@dataclass(frozen=True)
class _Writer:
    """One index a change goes to, with the embedder its vectors come from."""

    store: VectorStore
    embedder: Embedder


class Ingestor:
    """Applies S3 object events to the vector store and the registry.

    With ``indexes`` (the index catalog, :mod:`ragline.indexes`), every change goes to each index the
    catalog names for writes, each embedded by its own model: the live one, one being built by ``ragline
    reindex``, and the one live before a switch, until it is dropped. The catalog is read under the
    document's lease, afresh for each document, so no change reaches one index and misses another. Without
    it, ``store`` and ``embedder`` are the one index.

    ``settles`` is the ingest queue, which a store whose writes become searchable only later needs (its
    ``refresh_lag_seconds`` is not 0): each change to a document puts a :data:`SYNC_SETTLE` record of it
    there, delayed past the lag. ``clock`` gives epoch seconds, for leases and the records' ``updated_at``.
    """

    def __init__(
        self,
        objects: ObjectStore,
        registry: Registry,
        store: VectorStore,
        embedder: Embedder,
        config: IngestConfig,
        clock: Callable[[], float] = time.time,
        indexes: IndexRouter | None = None,
        settles: EventQueue | None = None,
    ) -> None:
        if store.refresh_lag_seconds > 0 and settles is None:
            raise ValueError("a store whose writes are searchable only later needs a queue for its settles")
        self.objects = objects
        self.registry = registry
        self.store = store
        self.embedder = embedder
        self.config = config
        self.clock = clock
        self.indexes = indexes
        self.settles = settles

    def _timestamp(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds")

    def _writers(self) -> list[_Writer]:
        """The indexes a change goes to now, the live one first."""
        own = _Writer(self.store, self.embedder)
        if self.indexes is None:
            return [own]
        configured = self.indexes.configured  # the settings' index is this ingestor's own store and embedder
        return [
            own if opened.target == configured else _Writer(opened.store, opened.embedder)
            for opened in self.indexes.writes()
        ]

    def handle(self, event: ObjectEvent, owner: str | None = None, remaining_ms: int | None = None) -> Outcome:
        """Make the index agree with what the bucket holds now for the event's document.

        ``owner`` names this attempt's lease (the SQS message id, so that a redelivery takes back the lease
        its killed first attempt left); ``remaining_ms`` is how long until the function is stopped.

        Every event reconciles its document with the bucket's current state rather than replaying itself, so
        a late, repeated or reordered event cannot bring back an old version. An event whose S3 sequencer is
        not newer than the one applied last is skipped: what it announced has been read already.
        """
        key = document_key_of_sidecar(event.key) if is_sidecar(event.key) else event.key
        doc_id = document_id(event.bucket, key)
        if event.kind == "settle" or is_sidecar(event.key):
            # A settle orders nothing; a sidecar's sequencers order the sidecar's key, not the document's.
            # Either, handed over to a lease's holder, is one more round of reconciling, which queues a settle.
            work = Work(full=False)
        else:
            work = Work(full=event.full, sequencer=sortable_sequencer(event.sequencer))
            applied = self.registry.get(doc_id)
            if work.sequencer and applied is not None and applied.sequencer >= work.sequencer:
                return "skipped"
        owner = owner or uuid.uuid4().hex
        deadline_ms = None if remaining_ms is None else int(self.clock() * 1000) + remaining_ms
        if not self._acquire(doc_id, owner, work, deadline_ms):
            return "handed-over"
        try:
            settle = event.kind == "settle"
            return self._work_until_released(doc_id, event.bucket, key, work, owner, deadline_ms, settle)
        except Exception:
            # Let the next event (or this one's redelivery) take the lease now, not once it expires.
            self._abandon(doc_id, owner)
            raise

    def _acquire(self, doc_id: str, owner: str, work: Work, deadline_ms: int | None) -> bool:
        """True once ``owner`` holds the lease; False when the work went to the live holder instead."""
        for _ in range(ACQUIRE_ATTEMPTS):
            now = int(self.clock() * 1000)
            until = deadline_ms + LEASE_MARGIN_MS if deadline_ms is not None else now + DEFAULT_LEASE_MS
            if self.registry.acquire(doc_id, owner, until, now):
                return True
            if self.registry.hand_over(doc_id, work, now):
                return False
            # The holder let go between the two calls: try to take the lease again.
        raise DocumentNotReady(f"document {doc_id} keeps changing hands; the event will be redelivered")

    def _work_until_released(
        self, doc_id: str, bucket: str, key: str, work: Work, owner: str, deadline_ms: int | None, settle: bool
    ) -> Outcome:
        """Rounds under the lease until no work was handed over meanwhile: the first a settle when ``settle``
        (work handed over is left for the next round), every other one a reconcile."""
        outcome: Outcome = "unchanged"
        for round_number in range(MAX_ROUNDS):
            if settle and round_number == 0:
                outcome = self._settle(doc_id, bucket, key)
            else:
                work = work.merge(self.registry.take_pending(doc_id, owner))
                outcome = self._reconcile(doc_id, bucket, key, work, owner)
            if self.registry.release(doc_id, owner):
                return outcome
            work = Work(full=False)  # more was handed over meanwhile: the next round takes it
            if deadline_ms is not None and self.clock() * 1000 > deadline_ms:
                break
        raise DocumentNotReady(f"document {doc_id} keeps changing; the rest is left to redelivery")

    def _abandon(self, doc_id: str, owner: str) -> None:
        # The lease expires by itself if this fails too; the original error is the one worth raising.
        with contextlib.suppress(Exception):
            self.registry.abandon(doc_id, owner)

    # -- reconcile -------------------------------------------------------------------------------

    def _reconcile(self, doc_id: str, bucket: str, key: str, work: Work, owner: str) -> Outcome:
        writers = self._writers()
        outcome = self._apply(doc_id, bucket, key, work, owner, writers)
        # After the round's last write and its record: a settle delivered the lag later sees every copy the
        # round and those before it wrote. A round that fails before this leaves its message to redeliver,
        # and the round that applies it queues the settle.
        self._queue_settle(bucket, key, _refresh_lag(writers))
        return outcome

    def _apply(self, doc_id: str, bucket: str, key: str, work: Work, owner: str, writers: list[_Writer]) -> Outcome:
        record = self.registry.get(doc_id)
        head = self.objects.head(bucket, key)
        if head is None:
            if record is None:
                # A sidecar, or a removal, of a document the registry never had. Chunks under its id can
                # still exist (an index restored from a backup, a registry lost): a sync asks this to remove them.
                removed = sum(writer.store.delete_document(doc_id) for writer in writers)
                return "deleted" if removed else "skipped"
            return self._remove(doc_id, bucket, key, record, work, owner, writers)
        if not work.full and record is not None and record.status == "indexed" and record.version == head.version:
            # The indexed version is the bucket's: only its roles can have changed (a sidecar, or an old
            # version deleted). Keep the vectors, and put them into any index being built that lacks them.
            return self._refresh_roles(record, head, work, owner, writers)
        return self._index(doc_id, head, record, work, owner, writers)

    def _applied(self, record: DocumentRecord | None, work: Work) -> str:
        return max(record.sequencer if record else "", work.sequencer)

    # -- settle ----------------------------------------------------------------------------------

    def _queue_settle(self, bucket: str, key: str, wait_seconds: float) -> None:
        """Queue a settle of the document, delivered ``wait_seconds`` (and a margin) from now; nothing when
        there is no wait (every write is searchable when it returns)."""
        if wait_seconds <= 0:
            return
        assert self.settles is not None  # the constructor refuses a lagging store without a queue
        delay = min(MAX_QUEUE_DELAY_SECONDS, math.ceil(wait_seconds) + SETTLE_MARGIN_SECONDS)
        self.settles.send([sync_message(sync_record(SYNC_SETTLE, bucket, key, "unsettled"))], delay_seconds=delay)

    def _settle(self, doc_id: str, bucket: str, key: str) -> Outcome:
        """Make each index's chunks of the document what its record says: the record's version only (none
        when it is not indexed), one copy of each chunk, the record's roles. Done once the last change is
        searchable: a settle delivered sooner (the change took longer than the margin) is queued again, and
        so is one after a settle that wrote copies."""
        writers = self._writers()
        lag = _refresh_lag(writers)
        record = self.registry.get(doc_id)
        if record is not None and record.updated_at:
            waited = self.clock() - datetime.fromisoformat(record.updated_at).timestamp()
            if waited < lag:
                self._queue_settle(bucket, key, lag - waited)
                return "settle-deferred"
        version = record.version if record is not None and record.status == "indexed" else None
        roles = record.roles if record is not None else ()
        written = sum(writer.store.settle_document(doc_id, version, roles) for writer in writers)
        if written:
            # The copies it wrote are searchable only later, so a settle delivered meanwhile may have
            # copied the same chunks: the next one keeps one copy of each.
            self._queue_settle(bucket, key, lag)
        return "settled"

    # -- created ---------------------------------------------------------------------------------

    def _index(
        self,
        doc_id: str,
        head: StoredObject,
        previous: DocumentRecord | None,
        work: Work,
        owner: str,
        writers: list[_Writer],
    ) -> Outcome:
        record = DocumentRecord(
            doc_id=doc_id,
            bucket=head.bucket,
            key=head.key,
            status="indexed",
            version=head.version,
            etag=head.etag,
            sequencer=self._applied(previous, work),
            updated_at=self._timestamp(),
        )
        try:
            stored = self._read_bounded(head)
            record = replace(
                record,
                version=stored.version,
                etag=stored.etag,
                roles=self._roles_of(stored),  # so the status of a failed document shows to its roles
                owner=owner_from_metadata(stored.metadata),
                writers=writers_from_metadata(stored.metadata),
            )
            chunks = chunks_of(stored, doc_id, record.roles, self.config)
        except (UnparseableDocument, InvalidSidecar) as error:
            # The old version must not outlive its replacement, even when the replacement is broken.
            for writer in writers:
                writer.store.delete_document(doc_id)
            self.registry.put(replace(record, status="failed", error=str(error)), lease_owner=owner)
            return "failed"
        # A large document's progress shows while it is embedded (ragline ingest's progress bar): the live
        # index's embedding, which readers wait for.
        report = functools.partial(self.registry.record_progress, doc_id, owner)
        live, *others = writers
        index_chunks(live.store, live.embedder, doc_id, chunks, on_progress=report)
        for writer in others:
            index_chunks(writer.store, writer.embedder, doc_id, chunks)
        self.registry.put(replace(record, chunk_count=len(chunks), title=chunks[0].title), lease_owner=owner)
        return "indexed"

    def _read_bounded(self, head: StoredObject) -> StoredObject:
        """The object's bytes, never more than one past the size limit: checked on the HEAD before reading,
        and again on what was read (the object may have grown since the HEAD)."""
        refuse_oversized(head, self.config)
        stored = self.objects.get(head.bucket, head.key, max_bytes=self.config.max_object_bytes + 1)
        if stored is None:
            raise DocumentNotReady(f"{head.key} was deleted while being read; its removal event follows")
        refuse_oversized(stored, self.config)
        return stored

    def _roles_of(self, stored: StoredObject) -> tuple[str, ...]:
        return resolve_document_roles(
            stored.key,
            stored.metadata,
            read_sidecar_roles(self.objects, stored.bucket, stored.key),
            self.config.prefix_roles,
            self.config.default_roles,
        )

    def _refresh_roles(
        self, record: DocumentRecord, head: StoredObject, work: Work, owner: str, writers: list[_Writer]
    ) -> Outcome:
        # The record says when its roles were last checked (a sync compares a sidecar's age with it), and
        # records written before the registry kept ETags get the indexed version's ETag here.
        updated = replace(record, etag=head.etag, sequencer=self._applied(record, work), updated_at=self._timestamp())
        try:
            roles = self._roles_of(head)
        except InvalidSidecar as error:
            # Fail closed: a broken sidecar hides the document rather than leaving old roles in force.
            for writer in writers:
                writer.store.update_roles(record.doc_id, ())
            self.registry.put(replace(updated, roles=(), status="failed", error=str(error)), lease_owner=owner)
            return "failed"
        outcome: Outcome = "unchanged"
        if roles != record.roles:
            for writer in writers:
                writer.store.update_roles(record.doc_id, roles)
            updated = replace(updated, roles=roles, error="")
            outcome = "roles-updated"
        # Before the record is written: a failure here leaves the message to redeliver, with nothing applied.
        backfilled = self._backfill(updated, head, writers[1:])
        self.registry.put(updated, lease_owner=owner)
        return "backfilled" if backfilled and outcome == "unchanged" else outcome

    def _backfill(self, record: DocumentRecord, head: StoredObject, writers: list[_Writer]) -> bool:
        """Put the indexed version into each of ``writers`` that lacks it (an index being built: not as many
        chunks of that version as the record counts); True when any did."""
        lacking = [
            writer
            for writer in writers
            if writer.store.count_document(record.doc_id, record.version) != record.chunk_count
        ]
        if not lacking:
            return False
        stored = self._read_bounded(head)
        if stored.version != record.version:
            raise DocumentNotReady(f"{head.key} changed while being backfilled; its event follows")
        chunks = chunks_of(stored, record.doc_id, record.roles, self.config)
        for writer in lacking:
            index_chunks(writer.store, writer.embedder, record.doc_id, chunks)
        return True

    # -- removed ---------------------------------------------------------------------------------

    def _remove(
        self,
        doc_id: str,
        bucket: str,
        key: str,
        previous: DocumentRecord,
        work: Work,
        owner: str,
        writers: list[_Writer],
    ) -> Outcome:
        for writer in writers:
            writer.store.delete_document(doc_id)
        self.registry.put(
            replace(
                previous,
                bucket=bucket,
                key=key,
                status="deleted",
                chunk_count=0,
                error="",
                sequencer=self._applied(previous, work),
                updated_at=self._timestamp(),
            ),
            lease_owner=owner,
        )
        return "deleted"


def _refresh_lag(writers: list[_Writer]) -> float:
    """How long the slowest of the indexes takes to make a write searchable."""
    return max(writer.store.refresh_lag_seconds for writer in writers)
