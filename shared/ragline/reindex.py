"""``ragline reindex``: build a new index beside the live one (another model, or the same rebuilt), switch
readers to it atomically, switch back, and drop the old one, with queries answered throughout.

The steps, each one change of the index catalog (:mod:`ragline.indexes`, conditional on its revision):

1. :meth:`Reindexer.start` makes the new index (the new model's dimension), names it ``building`` in the
   catalog, from which moment ingest writes every change to it too, and sends one backfill record
   (:data:`ragline.ingest.SYNC_BACKFILL`) per indexed document to the ingest queue: each puts the
   document's current version into the new index under the document's lease, as any other change.
2. :meth:`Reindexer.progress` counts the documents the new index has as the registry does (its version,
   its chunk count); :meth:`Reindexer.switch` refuses until it has them all, then makes it ``live`` (and
   moves OpenSearch's alias) and keeps the old one as ``previous``, still written to.
3. :meth:`Reindexer.switch_back` makes the previous index live again; :meth:`Reindexer.drop_old` removes
   the one not live, only when asked.

Queries read the catalog at most every few seconds (:data:`ragline.indexes.CATALOG_TTL_SECONDS`) and
embed each question with the live index's model, so a switch reaches every reader within that time and no
question is embedded by one model and searched in the other's index (docs/operations.md, "Changing the
embedding model").

    >>> reindexer = Reindexer(catalog, registry, admin, SqsEventQueue(sqs, url), configured, "docs")  # doctest: +SKIP
    >>> reindexer.start(IndexTarget("", "bedrock", "amazon.titan-embed-text-v2:0", 512)).building  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ragline.indexes import Indexes, IndexTarget, current_indexes
from ragline.ingest import SYNC_BACKFILL, sync_message, sync_record
from ragline.models import DocumentRecord
from ragline.ports import Embedder, EventQueue, IndexAdmin, IndexCatalog, Registry
from ragline.sync import records_of


class ReindexRefused(ValueError):
    """The step cannot be taken from the catalog's state (the message says what to do instead)."""


@dataclass(frozen=True)
class Progress:
    """How much of the registry's indexed documents an index holds as the registry does."""

    documents: int  # indexed documents in the registry
    present: int  # of them, those the index holds at their version, every chunk
    missing: list[str] = field(default_factory=list)  # the doc ids of the others

    @property
    def complete(self) -> bool:
        return self.present == self.documents

    def to_json(self) -> dict[str, Any]:
        return {"documents": self.documents, "present": self.present, "missing": self.missing[:100]}


@dataclass(frozen=True)
class Status:
    """The catalog, and how far the index being built has come (None when none is)."""

    indexes: Indexes
    progress: Progress | None

    def to_json(self) -> dict[str, Any]:
        return {
            "indexes": self.indexes.to_json(),
            "progress": None if self.progress is None else self.progress.to_json(),
        }


class Reindexer:
    """The steps of a reindex on the catalog, the registry, the store's indexes and the ingest queue.

    ``configured`` is the index the settings name, live while there is no catalog; ``bucket`` the
    documents' bucket.
    """

    def __init__(
        self,
        catalog: IndexCatalog,
        registry: Registry,
        admin: IndexAdmin,
        queue: EventQueue,
        configured: IndexTarget,
        bucket: str,
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.admin = admin
        self.queue = queue
        self.configured = configured
        self.bucket = bucket

    def indexes(self) -> Indexes:
        return current_indexes(self.catalog, self.configured)

    def status(self) -> Status:
        indexes = self.indexes()
        building = indexes.building
        return Status(indexes, None if building is None else self.progress(building))

    def start(self, model: IndexTarget) -> Indexes:
        """Make a new index for ``model`` (its embedder, model and dimension; its ``index`` is named here),
        write to it from now on, and queue the backfill of every indexed document. Refused while another
        is being built, or while an old index is kept (drop it first)."""
        indexes = self.indexes()
        if indexes.building is not None:
            raise ReindexRefused(
                f"{indexes.building.index} is being built already: switch to it (ragline reindex switch) first"
            )
        if indexes.previous is not None:
            raise ReindexRefused(
                f"{indexes.previous.index} is still kept as the old index: remove it first (ragline reindex drop --old)"
            )
        changed = indexes.changed(building=replace(model, index=self.admin.name_for(indexes.revision + 1)))
        assert changed.building is not None
        self.admin.create(changed.building)
        self.catalog.put(changed)  # from here on, ingest writes every change to the new index too
        self.backfill()
        return changed

    def backfill(self) -> int:
        """Queue one backfill record per indexed document (:func:`ragline.ingest.sync_record`, S3-shaped, on
        the ingest queue); returns how many. Safe to repeat: a document the new index has already costs its
        ingest one count, nothing more."""
        now = datetime.now(UTC)
        records = [sync_record(SYNC_BACKFILL, self.bucket, record.key, "backfill", now) for record in self._indexed()]
        self.queue.send([sync_message(record) for record in records])
        return len(records)

    def progress(self, target: IndexTarget) -> Progress:
        """Which indexed documents ``target`` holds at the registry's version with every chunk: what the index
        holds, read once (:meth:`ragline.ports.VectorStore.indexed_versions`), against every record."""
        held = {(held.doc_id, held.version): held.chunks for held in self.admin.indexed_versions(target)}
        documents, missing = 0, []
        for record in self._indexed():
            documents += 1
            if held.get((record.doc_id, record.version), 0) != record.chunk_count:
                missing.append(record.doc_id)
        return Progress(documents, documents - len(missing), missing)

    def switch(self, force: bool = False) -> Indexes:
        """Make the index being built live, once it holds every indexed document (``force``: without that
        check, for tests that show why it exists); the old live index is kept, and written to, as
        ``previous``."""
        indexes = self.indexes()
        building = indexes.building
        if building is None:
            raise ReindexRefused("no index is being built: start one (ragline reindex start --embedder ...)")
        if not force:
            progress = self.progress(building)
            if not progress.complete:
                raise ReindexRefused(
                    f"{building.index} holds {progress.present} of {progress.documents} indexed documents: wait "
                    "for the backfill to drain (ragline reindex status), or queue it again (ragline reindex backfill)"
                )
        changed = indexes.changed(live=building, building=None, previous=indexes.live)
        self.catalog.put(changed)
        self.admin.point_readers(indexes.live, building)
        return changed

    def switch_back(self) -> Indexes:
        """Make the previous index live again; the one left becomes ``previous``, still written to."""
        indexes = self.indexes()
        if indexes.previous is None:
            raise ReindexRefused("there is no previous index to switch back to")
        changed = indexes.changed(live=indexes.previous, previous=indexes.live)
        self.catalog.put(changed)
        self.admin.point_readers(indexes.live, indexes.previous)
        return changed

    def drop_old(self) -> IndexTarget:
        """Stop writing to the previous index, then remove it; returns it."""
        indexes = self.indexes()
        old = indexes.previous
        if old is None:
            raise ReindexRefused("there is no old index to drop")
        self.catalog.put(indexes.changed(previous=None))  # ingest stops writing to it before it goes
        self.admin.drop(old, indexes.live)
        return old

    def abandon(self) -> IndexTarget:
        """Stop building the new index (a model ``compare`` found worse, say), then remove it; returns it."""
        indexes = self.indexes()
        building = indexes.building
        if building is None:
            raise ReindexRefused("no index is being built")
        self.catalog.put(indexes.changed(building=None))  # ingest stops writing to it before it goes
        self.admin.drop(building, indexes.live)
        return building

    def _indexed(self) -> Iterator[DocumentRecord]:
        return (record for record in records_of(self.registry) if record.status == "indexed")


@dataclass(frozen=True)
class Comparison:
    """nDCG@10 (and the rest of each report's metrics) of the live and the new model on one dataset."""

    live: IndexTarget
    new: IndexTarget
    live_metrics: dict[str, float]
    new_metrics: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "live": {**self.live.to_json(), "metrics": self.live_metrics},
            "new": {**self.new.to_json(), "metrics": self.new_metrics},
        }

    def table(self) -> str:
        """The metrics side by side, one a line."""
        rows = [("", "live", "new")] + [
            (name, f"{self.live_metrics[name]:.4f}", f"{self.new_metrics.get(name, float('nan')):.4f}")
            for name in self.live_metrics
        ]
        lines = [f"live: {self.live.describe()}", f"new:  {self.new.describe()}", ""]
        lines += [f"{name:12} {live:>8} {new:>8}" for name, live, new in rows]
        return "\n".join(lines)


def compare(
    indexes: Indexes,
    embedder_of: Callable[[IndexTarget], Embedder],
    evaluate: Callable[[Embedder], dict[str, float]],
) -> Comparison:
    """Score the live model and the new one (the index being built, else the previous one) with
    ``evaluate`` (``ragline eval``'s, on a dataset, with one embedder); ``embedder_of`` opens a target's."""
    new = indexes.building or indexes.previous
    if new is None:
        raise ReindexRefused("no other index to compare with: start one (ragline reindex start --embedder ...)")
    live_metrics = evaluate(embedder_of(indexes.live))
    return Comparison(indexes.live, new, live_metrics, evaluate(embedder_of(new)))
