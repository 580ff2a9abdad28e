"""The index catalog: which index readers search, which one is being built beside it, which was live before.

A *target* is one physical index and the model its vectors come from: the store's index (an OpenSearch
index name, or a SQLite file's path), the embedder's name, its model and its dimension. The catalog
(:class:`Indexes`) names the ``live`` target, which queries search and embed their question for, a
``building`` one, which ingest writes to as well while ``ragline reindex`` fills it, and the ``previous``
live one, which a switch back makes live again. It is one item in the registry's table
(:class:`ragline.ports.IndexCatalog`), changed only by a conditional put on its ``revision``, so two
operators cannot both change it from the same state (docs/operations.md, "Changing the embedding model").

No catalog is today's behaviour: the configured index and embedder are live, nothing is being built.

:class:`IndexRouter` is how both functions read it: the query function asks for the live target (read at
most every :data:`CATALOG_TTL_SECONDS`, so a switch reaches every reader within that time and a question
costs no extra read), the ingest function for every target it must write (read afresh, under the
document's lease, so that no change is written to one target and not the other).

    >>> live = IndexTarget("ragline-chunks", "hash", "", 384)
    >>> Indexes(live).writes == (live,)
    True
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from ragline.ports import Embedder, IndexCatalog, VectorStore

logger = logging.getLogger(__name__)

#: How long a reader keeps the live target it read before reading the catalog again.
CATALOG_TTL_SECONDS = 5.0

T = TypeVar("T")


class CatalogConflict(RuntimeError):
    """The catalog changed since it was read (another operator, or another command): read it again."""


@dataclass(frozen=True)
class IndexTarget:
    """One physical index and the model of its vectors. ``model`` is the embedder's model id where it takes
    one (Bedrock), else ""."""

    index: str
    embedder: str
    model: str
    dimension: int

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "embedder": self.embedder, "model": self.model, "dimension": self.dimension}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> IndexTarget:
        return cls(str(value["index"]), str(value["embedder"]), str(value.get("model", "")), int(value["dimension"]))

    def describe(self) -> str:
        """``ragline-chunks-r2 (bedrock amazon.titan-embed-text-v2:0, 512 dimensions)``."""
        model = f" {self.model}" if self.model else ""
        return f"{self.index} ({self.embedder}{model}, {self.dimension} dimensions)"


@dataclass(frozen=True)
class Indexes:
    """The catalog's state. ``revision`` counts its changes: 0 is the absent catalog (the configured target
    live), each put adds one."""

    live: IndexTarget
    building: IndexTarget | None = None
    previous: IndexTarget | None = None
    revision: int = 0

    @property
    def writes(self) -> tuple[IndexTarget, ...]:
        """Every target a change to a document goes to: the live one first, then one being built, and the
        previous live one, kept up to date until it is dropped so that a switch back loses nothing."""
        extra = [target for target in (self.building, self.previous) if target is not None and target != self.live]
        return (self.live, *dict.fromkeys(extra))

    def to_json(self) -> dict[str, Any]:
        return {
            "live": self.live.to_json(),
            "building": None if self.building is None else self.building.to_json(),
            "previous": None if self.previous is None else self.previous.to_json(),
            "revision": self.revision,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Indexes:
        def target(name: str) -> IndexTarget | None:
            found = value.get(name)
            return None if not found else IndexTarget.from_json(found)

        live = target("live")
        if live is None:
            raise ValueError("an index catalog names a live index")
        return cls(live, target("building"), target("previous"), int(value.get("revision", 0)))

    def changed(self, **changes: IndexTarget | None) -> Indexes:
        """This state with ``changes`` and the next revision: what :meth:`IndexCatalog.put` writes."""
        return replace(self, **changes, revision=self.revision + 1)  # type: ignore[arg-type]


def current_indexes(catalog: IndexCatalog, configured: IndexTarget) -> Indexes:
    """The catalog's state, or the configured target live (revision 0) when there is no catalog."""
    return catalog.get() or Indexes(configured)


@dataclass(frozen=True)
class OpenTarget:
    """A target with its store and embedder, opened once for the life of a function."""

    target: IndexTarget
    store: VectorStore
    embedder: Embedder


class _Opened(Generic[T]):
    """Values made once per key, under a lock (stores are opened from several threads of the local stack)."""

    def __init__(self, make: Callable[[IndexTarget], T]) -> None:
        self._make = make
        self._values: dict[IndexTarget, T] = {}
        self._lock = threading.Lock()

    def get(self, target: IndexTarget) -> T:
        with self._lock:
            if target not in self._values:
                self._values[target] = self._make(target)
            return self._values[target]

    def seed(self, target: IndexTarget, value: T) -> None:
        self._values[target] = value


class IndexRouter:
    """The targets of the catalog, opened: :meth:`live` for readers, :meth:`writes` for ingest.

    ``open_target`` opens a target's store and embedder (the factory's); ``configured`` is the target the
    settings name, live while there is no catalog, already opened as ``configured_open`` when given.

    >>> from tests.fakes.index_catalog import FakeIndexCatalog  # doctest: +SKIP
    >>> router = IndexRouter(FakeIndexCatalog(), opener, configured)  # doctest: +SKIP
    >>> router.live().store  # doctest: +SKIP
    """

    def __init__(
        self,
        catalog: IndexCatalog,
        open_target: Callable[[IndexTarget], OpenTarget],
        configured: IndexTarget,
        configured_open: OpenTarget | None = None,
        ttl_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog = catalog
        self.configured = configured
        self._opened = _Opened(open_target)
        if configured_open is not None:
            self._opened.seed(configured, configured_open)
        self._ttl = CATALOG_TTL_SECONDS if ttl_seconds is None else ttl_seconds
        self._clock = clock
        self._cached: tuple[float, IndexTarget] | None = None
        self._lock = threading.Lock()

    def indexes(self) -> Indexes:
        """The catalog as it is now (one consistent read)."""
        return current_indexes(self.catalog, self.configured)

    def live(self) -> OpenTarget:
        """The live target, as the catalog said it at most ``ttl_seconds`` ago. When the catalog cannot be
        read, the one read last stays live (a question need not fail for a table it only reads every few
        seconds); the first read's failure propagates."""
        now = self._clock()
        with self._lock:
            cached = self._cached
        if cached is None or now - cached[0] >= self._ttl:
            try:
                cached = (now, self.indexes().live)
            except Exception:
                if cached is None:
                    raise
                logger.warning("the index catalog could not be read; %s stays live", cached[1].index, exc_info=True)
                cached = (now, cached[1])
            with self._lock:
                self._cached = cached
        return self._opened.get(cached[1])

    def writes(self) -> Sequence[OpenTarget]:
        """Every target a change goes to, as the catalog says now: the live one first."""
        return [self._opened.get(target) for target in self.indexes().writes]
