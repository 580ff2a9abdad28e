"""Ingest: turn one S3 object event into the index and the registry agreeing with the bucket.

The ingest function hands each S3 notification record to :class:`Ingestor`. Created objects are parsed,
chunked, embedded and upserted with deterministic chunk ids, then the chunks of the previous version are
removed; removed objects lose all their chunks; a sidecar ``<key>.metadata.json`` changes a document's
roles without re-embedding it.

Example:
    >>> ingestor = Ingestor(objects, registry, store, embedder, settings)  # doctest: +SKIP
    >>> ingestor.handle(ObjectEvent.from_s3_record(record))  # doctest: +SKIP
    'indexed'
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Literal

from ragline.access import (
    InvalidSidecar,
    document_key_of_sidecar,
    is_sidecar,
    resolve_document_roles,
    roles_from_sidecar,
    sidecar_key,
)
from ragline.errors import TransientError, UnparseableDocument
from ragline.ids import document_id
from ragline.indexing import chunks_of, index_chunks
from ragline.models import DocumentRecord, StoredObject
from ragline.ports import Embedder, ObjectStore, Registry, VectorStore
from ragline.settings import Settings

RECONCILE_ATTEMPTS = 3


class DocumentNotReady(TransientError):
    """An event that must wait for another to finish: raised so the queue redelivers it later."""


Outcome = Literal["indexed", "failed", "deleted", "roles-updated", "skipped"]


@dataclass(frozen=True)
class ObjectEvent:
    """One record of an S3 event notification, reduced to what ingest needs."""

    kind: Literal["created", "removed"]
    bucket: str
    key: str
    sequencer: str = ""

    @classmethod
    def from_s3_record(cls, record: Mapping[str, Any]) -> ObjectEvent:
        name = record["eventName"]
        kind: Literal["created", "removed"]
        if name.startswith("ObjectCreated"):
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
            sequencer=s3["object"].get("sequencer", ""),  # moto omits it
        )


def sortable_sequencer(sequencer: str) -> str:
    """S3 sequencers are hex numbers of varying width; zero-padded to one width they sort as strings,
    which is how DynamoDB's conditions compare them. Empty stays empty (an event without one: moto)."""
    return sequencer.upper().rjust(32, "0") if sequencer else ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Ingestor:
    """Applies S3 object events to the vector store and the registry."""

    def __init__(
        self,
        objects: ObjectStore,
        registry: Registry,
        store: VectorStore,
        embedder: Embedder,
        settings: Settings,
    ) -> None:
        self.objects = objects
        self.registry = registry
        self.store = store
        self.embedder = embedder
        self.settings = settings

    def handle(self, event: ObjectEvent) -> Outcome:
        """Make the index agree with what the bucket holds now for the event's key.

        Every event reconciles its key with the bucket's current state rather than replaying itself, so a
        late, repeated or reordered event cannot bring back an old version. Where S3 gives a sequencer, an
        event first claims it in the registry (a conditional write): a repeated or overtaken one changes
        nothing. After writing, it checks that no newer event claimed the key meanwhile; if one did, the
        two writes may have crossed, so it reconciles again.
        """
        if is_sidecar(event.key):
            return self._apply_sidecar(event.bucket, document_key_of_sidecar(event.key))
        doc_id = document_id(event.bucket, event.key)
        sequencer = sortable_sequencer(event.sequencer)
        if sequencer and not self.registry.claim(doc_id, sequencer):
            return "skipped"  # this event, or a newer one for the key, has been applied already
        for _ in range(RECONCILE_ATTEMPTS):
            outcome = self._reconcile(doc_id, event, sequencer)
            latest = self.registry.get(doc_id)
            if not sequencer or latest is None or latest.sequencer <= sequencer:
                return outcome
            sequencer = latest.sequencer  # overtaken while writing: converge on the bucket as it is now
        raise DocumentNotReady(f"{event.key} keeps changing; the event will be redelivered")

    def _reconcile(self, doc_id: str, event: ObjectEvent, sequencer: str) -> Outcome:
        stored = self.objects.get(event.bucket, event.key)
        if stored is not None:
            # Created, or removed while the key holds a newer object (an old version deleted, or the key
            # written again since): index what the bucket holds now.
            return self._index(doc_id, stored, sequencer)
        return self._remove(doc_id, event, self.registry.get(doc_id), sequencer)

    # -- created ---------------------------------------------------------------------------------

    def _index(self, doc_id: str, stored: StoredObject, sequencer: str) -> Outcome:
        record = DocumentRecord(
            doc_id=doc_id,
            bucket=stored.bucket,
            key=stored.key,
            status="indexed",
            version=stored.version,
            sequencer=sequencer,
            updated_at=_now(),
        )
        try:
            roles = self._roles_of(stored)
            record = replace(record, roles=roles)  # so the status of a failed document shows to its roles
            chunks = chunks_of(stored, doc_id, roles, self.settings)
        except (UnparseableDocument, InvalidSidecar) as error:
            # The old version must not outlive its replacement, even when the replacement is broken.
            self.store.delete_document(doc_id)
            self.registry.put(replace(record, status="failed", error=str(error)))
            return "failed"
        index_chunks(self.store, self.embedder, doc_id, chunks)
        self.registry.put(
            replace(record, chunk_count=len(chunks), title=chunks[0].title)
        )
        return "indexed"

    def _roles_of(self, stored: StoredObject) -> tuple[str, ...]:
        sidecar = self.objects.get(stored.bucket, sidecar_key(stored.key))
        return resolve_document_roles(
            stored.key,
            stored.metadata,
            roles_from_sidecar(sidecar.data) if sidecar is not None else None,
            self.settings.prefix_roles,
            self.settings.default_roles,
        )

    # -- removed ---------------------------------------------------------------------------------

    def _remove(
        self, doc_id: str, event: ObjectEvent, previous: DocumentRecord | None, sequencer: str
    ) -> Outcome:
        self.store.delete_document(doc_id)
        self.registry.put(
            DocumentRecord(
                doc_id=doc_id,
                bucket=event.bucket,
                key=event.key,
                status="deleted",
                version=previous.version if previous else "",
                roles=previous.roles if previous else (),
                title=previous.title if previous else "",
                sequencer=sequencer,
                updated_at=_now(),
            )
        )
        return "deleted"

    # -- sidecar ---------------------------------------------------------------------------------

    def _apply_sidecar(self, bucket: str, key: str) -> Outcome:
        """A sidecar was written or removed: recompute the document's roles, keep its vectors."""
        stored = self.objects.get(bucket, key)
        if stored is None:
            return "skipped"  # a sidecar for no document: its document's ingest will read it
        doc_id = document_id(bucket, key)
        record = self.registry.get(doc_id)
        if record is None or record.version != stored.version:
            # The document's current version is still being ingested, and that ingest may have read the
            # roles before this sidecar existed. Come back once it is done, rather than lose the change.
            raise DocumentNotReady(f"{key} is not indexed yet; its sidecar will be applied on redelivery")
        if record.status != "indexed":
            # Failed (perhaps by an earlier broken sidecar) or deleted: ingest the document again, which
            # reads the sidecar afresh.
            return self._index(doc_id, stored, record.sequencer)
        try:
            roles = self._roles_of(stored)
        except InvalidSidecar as error:
            # Fail closed: a broken sidecar hides the document rather than leaving old roles in force.
            self.store.update_roles(doc_id, ())
            self.registry.put(replace(record, roles=(), status="failed", error=str(error), updated_at=_now()))
            return "failed"
        self.store.update_roles(doc_id, roles)
        self.registry.put(replace(record, roles=roles, error="", updated_at=_now()))
        return "roles-updated"
