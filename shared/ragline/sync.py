"""Sync: find where the bucket, the registry and the index disagree, and send each disagreement through
the ingest queue, as S3's own events go, so that one code path repairs everything (docs/operations.md).

S3 notifications are at least once, not exactly always: objects written before the notifications existed,
a notification configuration changed by hand, a dead-letter queue emptied after its 14 days, an index
restored from an older snapshot. A sync compares three inventories of one bucket (or of a prefix):

- the bucket's listing (key, ETag, last modified),
- the registry's records (key, the indexed version's ETag, status, when it was last written),
- the index's documents and versions (:meth:`ragline.ports.VectorStore.indexed_versions`),

and classifies each key that disagrees (:data:`Drift`). Nothing is repaired here: each key becomes one
S3-shaped record on the ingest queue (:func:`sync_record`), and the ingest function reconciles the document
with the bucket as it is *then*, under the document's lease, exactly as for an S3 event. So a sync that
runs beside live events cannot undo them: a key listed before a deletion is refreshed after it, and the
refresh finds it gone (the ordering rules of docs/architecture.md hold unchanged).

A sync that would remove more than ``max_delete_share`` of the indexed documents removes none of them
(the other repairs still go) unless ``allow_mass_delete``: an empty listing (a wrong prefix, a bucket
policy that hides objects) must not empty the index.

Example:
    >>> report = Sync(objects, registry, store, queue, SyncConfig()).run("docs")  # doctest: +SKIP
    >>> report.counts()  # doctest: +SKIP
    {'missing': 3, 'stale': 0, 'roles': 0, 'orphaned': 1, 'unindexed': 0, 'stray': 0}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from ragline.access import document_key_of_sidecar, is_sidecar
from ragline.ids import document_id
from ragline.ingest import SYNC_REFRESH, SYNC_REINDEX, sync_message, sync_record
from ragline.models import DocumentRecord, IndexedVersion, ListedObject
from ragline.ports import EventQueue, ObjectStore, Registry, VectorStore
from ragline.settings import Settings

#: Why a key needs repair:
#: ``missing``: in the bucket, but the registry has no live record of it (written before the notifications,
#: or its event was lost); ``stale``: the registry's version is not the bucket's; ``roles``: its sidecar
#: changed after the record was written; ``orphaned``: the registry has it indexed, the bucket no longer
#: has it (the one repair that removes a document); ``unindexed``: the registry has it indexed but the
#: index lacks chunks of that version; ``stray``: the index holds chunks of a version the registry does
#: not (an old version left behind, or a document the registry has no record of).
Drift = Literal["missing", "stale", "roles", "orphaned", "unindexed", "stray"]
DRIFTS: tuple[Drift, ...] = get_args(Drift)

#: What each drift asks of ingest: a refresh re-embeds only when the indexed version is not the bucket's; a
#: reindex re-embeds whatever the registry says (its chunks are missing, or others must go).
_REPAIR: dict[Drift, str] = {
    "missing": SYNC_REFRESH,
    "stale": SYNC_REFRESH,
    "roles": SYNC_REFRESH,
    "orphaned": SYNC_REFRESH,
    "unindexed": SYNC_REINDEX,
    "stray": SYNC_REINDEX,
}
_LIVE = ("indexed", "failed")  # records that stand for an object; "queued" and "deleted" do not
REGISTRY_PAGE = 1000


class MassDeletion(Exception):
    """The sync would have removed more of the indexed documents than allowed; it removed none of them."""


@dataclass(frozen=True)
class SyncConfig:
    """``max_delete_share``: the largest share of the indexed documents (in the sync's scope) one run may
    remove without ``allow_mass_delete`` (``RAGLINE_SYNC_MAX_DELETE_SHARE``).

    >>> SyncConfig(max_delete_share=0.5).max_delete_share
    0.5
    """

    max_delete_share: float = Settings.sync_max_delete_share
    allow_mass_delete: bool = False

    def __post_init__(self) -> None:
        # Out of range fails here as in Settings, which holds the one set of bounds.
        Settings(sync_max_delete_share=self.max_delete_share)

    @classmethod
    def from_settings(cls, settings: Settings, allow_mass_delete: bool = False) -> SyncConfig:
        return cls(max_delete_share=settings.sync_max_delete_share, allow_mass_delete=allow_mass_delete)


@dataclass
class DriftReport:
    """What one sync found and did: the keys of each drift, how many records went on the queue, and the
    removals the mass-deletion guard withheld."""

    bucket: str
    prefix: str
    dry_run: bool
    objects: int = 0  # documents in the bucket (sidecars not counted)
    indexed: int = 0  # documents the registry has indexed
    drift: dict[Drift, list[str]] = field(default_factory=lambda: {drift: [] for drift in DRIFTS})
    enqueued: int = 0
    withheld: list[str] = field(default_factory=list)  # removals the guard kept back
    resume_after: str | None = None  # a windowed sync's next start (None: the listing ended)

    def counts(self) -> dict[str, int]:
        return {drift: len(keys) for drift, keys in self.drift.items()}

    @property
    def total(self) -> int:
        return sum(len(keys) for keys in self.drift.values())

    @property
    def guard_tripped(self) -> bool:
        return bool(self.withheld)

    def as_json(self, keys_shown: int | None = None) -> dict[str, Any]:
        """The report as JSON; ``keys_shown`` caps the keys listed per drift (the counts stay whole)."""
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "dry_run": self.dry_run,
            "objects": self.objects,
            "indexed": self.indexed,
            "counts": self.counts(),
            "drift": {drift: sorted(keys)[:keys_shown] for drift, keys in self.drift.items()},
            "enqueued": self.enqueued,
            "withheld": sorted(self.withheld)[:keys_shown],
            "guard_tripped": self.guard_tripped,
            "resume_after": self.resume_after,
        }


class Sync:
    """Compares the bucket, the registry and the index, and queues one record per key that drifted."""

    def __init__(
        self, objects: ObjectStore, registry: Registry, store: VectorStore, queue: EventQueue, config: SyncConfig
    ) -> None:
        self.objects = objects
        self.registry = registry
        self.store = store
        self.queue = queue
        self.config = config

    def run(
        self,
        bucket: str,
        prefix: str = "",
        dry_run: bool = False,
        start_after: str = "",
        max_objects: int | None = None,
    ) -> DriftReport:
        """Find the drift under ``prefix`` and, unless ``dry_run``, queue its repairs. Raises nothing for
        the guard: :attr:`DriftReport.withheld` says what it kept back.

        ``start_after`` and ``max_objects`` make it one window of a larger sync: the keys after
        ``start_after`` up to the ``max_objects``-th listed (a document's sidecar stays with it). The
        report's :attr:`~DriftReport.resume_after` is where the next window starts, None once the listing
        has ended; every window compares only the keys of its own range, so the windows of one pass cover
        each key once and their memory is bounded by ``max_objects``.
        """
        listing, window = _window(self.objects.list(bucket, prefix, start_after), max_objects)
        report = find_drift(
            bucket,
            prefix,
            listing,
            records_of(self.registry),
            self.store.indexed_versions(),
            dry_run=dry_run,
            key_range=(start_after, window.last_key if window.truncated else None),
        )
        report.resume_after = window.last_key if window.truncated else None
        deletions = report.drift["orphaned"]
        too_many = len(deletions) > self.config.max_delete_share * max(report.indexed, 1)
        if deletions and too_many and not self.config.allow_mass_delete:
            report.withheld = list(deletions)
        if not dry_run:
            bodies = [sync_message(record) for record in self._records(report)]
            self.queue.send(bodies)
            report.enqueued = len(bodies)
        return report

    def _records(self, report: DriftReport) -> Iterator[dict[str, Any]]:
        withheld = set(report.withheld)
        now = datetime.now(UTC)
        for drift, keys in report.drift.items():
            for key in keys:
                if key not in withheld:
                    yield sync_record(_REPAIR[drift], report.bucket, key, drift, now)


@dataclass
class _Window:
    """How far a bounded listing went: the last key it took, and whether the bucket has more after it."""

    last_key: str = ""
    truncated: bool = False


def _window(listing: Iterator[ListedObject], max_objects: int | None) -> tuple[list[ListedObject], _Window]:
    """The first ``max_objects`` objects of ``listing`` (all when None), and the sidecar right after the
    last one when it is that document's, so that a document is never cut from its sidecar."""
    window = _Window()
    taken: list[ListedObject] = []
    for listed in listing:
        boundary = max_objects is not None and len(taken) >= max_objects
        if boundary and not (is_sidecar(listed.key) and document_key_of_sidecar(listed.key) == window.last_key):
            window.truncated = True
            break
        taken.append(listed)
        window.last_key = listed.key
    return taken, window


def records_of(registry: Registry) -> Iterator[DocumentRecord]:
    """Every record of the registry, a page at a time."""
    after: str | None = None
    while True:
        records, after = registry.scan(after, REGISTRY_PAGE)
        yield from records
        if after is None:
            return


def find_drift(
    bucket: str,
    prefix: str,
    listing: Iterable[ListedObject],
    records: Iterable[DocumentRecord],
    held: Iterable[IndexedVersion],
    dry_run: bool = False,
    key_range: tuple[str, str | None] = ("", None),
) -> DriftReport:
    """The drift between the three inventories of ``bucket`` under ``prefix`` (a pure function: each key
    lands in at most one drift, the first that applies in :data:`DRIFTS`' order). ``key_range`` limits the
    registry's and the index's keys to those after its first and up to its second (None: no end), the
    range the listing covered."""
    after, until = key_range

    def in_scope(key: str) -> bool:
        encoded = key.encode()
        return key.startswith(prefix) and encoded > after.encode() and (until is None or encoded <= until.encode())

    report = DriftReport(bucket=bucket, prefix=prefix, dry_run=dry_run)
    documents, sidecars = _documents_and_sidecars(listing)
    report.objects = len(documents)
    by_key = {record.key: record for record in records if record.bucket == bucket and in_scope(record.key)}
    source_prefix = f"s3://{bucket}/"
    versions: dict[str, dict[str, int]] = defaultdict(dict)
    sources: dict[str, str] = {}
    for version in held:
        if version.source.startswith(source_prefix) and in_scope(version.source.removeprefix(source_prefix)):
            versions[version.doc_id][version.version] = version.chunks
            sources[version.doc_id] = version.source
    report.indexed = sum(1 for record in by_key.values() if record.status == "indexed")

    for key, listed in documents.items():
        drift = _drift_of_object(listed, by_key.get(key), sidecars.get(key), versions.get(document_id(bucket, key)))
        if drift is not None:
            report.drift[drift].append(key)
    for key, record in by_key.items():
        if key not in documents and record.status in _LIVE:
            report.drift["orphaned"].append(key)
    # Chunks of documents that are neither in the bucket nor live in the registry: removed documents whose
    # chunks stayed (an index restored from an older snapshot, a lost registry).
    live_ids = {document_id(bucket, key) for key in documents} | {
        record.doc_id for record in by_key.values() if record.status in _LIVE
    }
    for doc_id, source in sources.items():
        if doc_id not in live_ids:
            report.drift["stray"].append(source.removeprefix(source_prefix))
    return report


def _documents_and_sidecars(listing: Iterable[ListedObject]) -> tuple[dict[str, ListedObject], dict[str, ListedObject]]:
    """The listing's documents by key, and its sidecars by their document's key."""
    documents: dict[str, ListedObject] = {}
    sidecars: dict[str, ListedObject] = {}
    for listed in listing:
        if is_sidecar(listed.key):
            sidecars[document_key_of_sidecar(listed.key)] = listed
        else:
            documents[listed.key] = listed
    return documents, sidecars


def _drift_of_object(
    listed: ListedObject,
    record: DocumentRecord | None,
    sidecar: ListedObject | None,
    held: dict[str, int] | None,
) -> Drift | None:
    if record is None or record.status not in _LIVE:
        return "missing"
    # Records written before the registry kept ETags hold only the version (a version id on a versioned
    # bucket): a refresh costs no embedding when the version is current, and writes the ETag down.
    if (record.etag or record.version) != listed.etag:
        return "stale"
    if sidecar is not None and sidecar.last_modified > _written_at(record):
        return "roles"
    if record.status != "indexed":
        return None  # failed, and still the version that failed: its reason is in the registry
    held = held or {}
    if record.chunk_count and held.get(record.version, 0) < record.chunk_count:
        return "unindexed"
    if any(version != record.version for version in held):
        return "stray"
    return None


def _written_at(record: DocumentRecord) -> datetime:
    """When the record was written, to S3's precision (LastModified has whole seconds); the epoch if unknown."""
    try:
        written = datetime.fromisoformat(record.updated_at)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return (written if written.tzinfo else written.replace(tzinfo=UTC)).replace(microsecond=0)
