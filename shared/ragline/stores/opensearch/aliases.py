"""The alias readers find the live index by: one ``_aliases`` request moves it from one index to another.

An index's name cannot change, so ``ragline reindex`` builds each new index under a name of its own and
points the configured name (``RAGLINE_OPENSEARCH_INDEX``) at the live one as an alias. The remove and the
add are two actions of one request, which OpenSearch applies atomically: no search through the alias ever
finds no index, or two (docs/operations.md, "Changing the embedding model").

    >>> alias_swap_body("ragline-chunks", "ragline-chunks-r1", "ragline-chunks-r3")["actions"][0]
    {'remove': {'index': 'ragline-chunks-r1', 'alias': 'ragline-chunks'}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragline.retry import RetryPolicy
from ragline.stores.opensearch.connection import is_retryable

if TYPE_CHECKING:  # pragma: no cover
    from opensearchpy import OpenSearch


def alias_swap_body(alias: str, old: str | None, new: str) -> dict[str, Any]:
    """The body of the ``_aliases`` request that moves ``alias`` from ``old`` (None: from no index) to ``new``."""
    actions: list[dict[str, Any]] = []
    if old is not None and old != alias:
        actions.append({"remove": {"index": old, "alias": alias}})
    actions.append({"add": {"index": new, "alias": alias}})
    return {"actions": actions}


def point_alias(client: OpenSearch, alias: str, old: str | None, new: str, retry: RetryPolicy) -> None:
    """Move ``alias`` from ``old`` to ``new`` in one request, retried as ``retry`` says."""
    body = alias_swap_body(alias, old, new)
    retry.call(
        lambda: client.indices.update_aliases(body=body),
        is_retryable,
        description=f"OpenSearch alias {alias!r} -> {new!r}",
    )
