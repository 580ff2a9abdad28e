"""OpenSearch's indexes for ``ragline reindex``: a physical index per model, the live one behind an alias.

Each new index is named after the configured one and the catalog's revision (``ragline-chunks-r3``) and
made with the new model's dimension; the configured name (``RAGLINE_OPENSEARCH_INDEX``) becomes an alias of
the live index, moved in one ``_aliases`` request (:mod:`~ragline.stores.opensearch.aliases`). The functions
find the live index in the index catalog; the alias is for everything else that reads the index.

A deployment made before ``ragline reindex`` has a *concrete* index of the configured name, which an alias
cannot share: the alias is made when that index is dropped (``ragline reindex drop --old``). Serverless
collections have no aliases, so there only the catalog names the live index (docs/operations.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ragline.indexes import IndexTarget
from ragline.models import IndexedVersion
from ragline.retry import RetryPolicy
from ragline.stores.opensearch.aliases import point_alias
from ragline.stores.opensearch.store import OpenSearchStore

if TYPE_CHECKING:  # pragma: no cover
    from opensearchpy import OpenSearch

logger = logging.getLogger(__name__)


class OpenSearchIndexAdmin:
    """:class:`ragline.ports.IndexAdmin` on one cluster. ``alias`` is the configured index name;
    ``open_store`` makes the store of a target (the factory's settings: engine, replicas, Serverless).

    >>> OpenSearchIndexAdmin(client, "ragline-chunks", opener, retry).name_for(3)  # doctest: +SKIP
    'ragline-chunks-r3'
    """

    def __init__(
        self,
        client: OpenSearch,
        alias: str,
        open_store: Callable[[IndexTarget], OpenSearchStore],
        retry: RetryPolicy,
        serverless: bool = False,
    ) -> None:
        self.client = client
        self.alias = alias
        self.serverless = serverless
        self._open_store = open_store
        self._retry = retry
        self._stores: dict[IndexTarget, OpenSearchStore] = {}
        self._lock = threading.Lock()

    def name_for(self, revision: int) -> str:
        return f"{self.alias}-r{revision}"

    def create(self, target: IndexTarget) -> None:
        """Create the index with the target's dimension; an existing one must have it (``ValueError``)."""
        self._store(target).ensure_index()

    def indexed_versions(self, target: IndexTarget) -> Iterator[IndexedVersion]:
        return self._store(target).indexed_versions()

    def point_readers(self, old: IndexTarget | None, new: IndexTarget) -> None:
        if self.serverless:
            return  # Serverless collections have no aliases: the catalog alone names the live index
        if new.index == self.alias:
            # The concrete index of an older deployment is live again: it is found by its own name, and the
            # alias, which cannot share that name, must go.
            if old is not None and old.index != self.alias:
                self._send({"actions": [{"remove": {"index": old.index, "alias": self.alias}}]})
            return
        if old is not None and old.index == self.alias:
            logger.warning(
                "index %r is a concrete index, not an alias: it names the new index once the old one is dropped",
                self.alias,
            )
            return
        point_alias(self.client, self.alias, None if old is None else old.index, new.index, self._retry)

    def drop(self, target: IndexTarget, live: IndexTarget) -> None:
        """Delete the index; when it was the concrete index of the configured name, the name becomes the
        live index's alias."""
        self._store(target).delete_index()
        if target.index == self.alias and live.index != self.alias and not self.serverless:
            point_alias(self.client, self.alias, None, live.index, self._retry)

    def _send(self, body: dict[str, object]) -> None:
        from ragline.stores.opensearch.connection import is_retryable

        self._retry.call(
            lambda: self.client.indices.update_aliases(body=body), is_retryable, description="OpenSearch aliases"
        )

    def _store(self, target: IndexTarget) -> OpenSearchStore:
        with self._lock:
            if target not in self._stores:
                self._stores[target] = self._open_store(target)
            return self._stores[target]
