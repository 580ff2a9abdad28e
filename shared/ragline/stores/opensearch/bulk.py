"""Bulk requests: many actions in one request, and what to do with the items OpenSearch refuses.

A whole request that fails (a connection error, 409, 429 or 5xx) is sent again by the
:class:`~ragline.stores.opensearch.connection.IndexClient`. Within an answered request, each item has its
own status: the items refused with 429 or 5xx are sent again, alone, after the same backoff; when the
attempts run out, :class:`~ragline.errors.TransientError` (the message goes back to the queue). An item
refused for any other reason (a mapping error: 400) raises :class:`IndexingError`, which retrying will not
fix. Error messages name chunk ids and error types, never the content of a document.
"""

from __future__ import annotations

from typing import Any

from ragline.errors import RaglineError, TransientError
from ragline.stores.opensearch.connection import IndexClient

#: One bulk action: its action line (``{"index": {...}}``, ``{"delete": {...}}``) and the document that
#: follows an ``index`` action (None for a ``delete``).
Action = tuple[dict[str, Any], dict[str, Any] | None]

_SHOWN_REFUSALS = 5


class IndexingError(RaglineError):
    """OpenSearch refused to index a chunk for a reason retrying will not fix (a mapping error, a bad value)."""


def bulk(target: IndexClient, actions: list[Action], description: str, *, refresh: bool) -> list[dict[str, Any]]:
    """Send ``actions``, sending the items refused with 429 or 5xx again; returns every item's result.

    ``refresh`` makes the writes searchable before the request returns (``refresh=wait_for``).
    """
    if not actions:
        return []
    params = {"refresh": "wait_for"} if refresh else {}
    results: list[dict[str, Any]] = []
    pending = actions
    retry = 0
    while True:
        items = _send(target, pending, description, params)
        done, again, refused = _triage(pending, items)
        results.extend(done)
        if refused:
            shown = "; ".join(refused[:_SHOWN_REFUSALS])
            if len(refused) > _SHOWN_REFUSALS:
                shown += f"; and {len(refused) - _SHOWN_REFUSALS} more"
            raise IndexingError(f"{description} into {target.index!r}: {len(refused)} refused: {shown}")
        if not again:
            return results
        if retry + 1 >= target.retry.attempts:
            statuses = sorted({_status(item) for item in items if _failed(item)})
            raise TransientError(
                f"{description} into {target.index!r}: {len(again)} items still failing after "
                f"{retry + 1} attempts (status {', '.join(map(str, statuses))})"
            )
        target.retry.pause(retry)
        retry += 1
        pending = again


def _send(target: IndexClient, actions: list[Action], description: str, params: dict[str, Any]) -> list[dict]:
    """One bulk request; its items, one per action."""
    body: list[dict[str, Any]] = []
    for action, source in actions:
        body.append(action)
        if source is not None:
            body.append(source)
    items = target.bulk(body, description, params).get("items", [])
    if len(items) != len(actions):
        raise TransientError(f"{description}: {len(actions)} actions sent, {len(items)} results received")
    return items


def _triage(actions: list[Action], items: list[dict]) -> tuple[list[dict[str, Any]], list[Action], list[str]]:
    """The results of the items that succeeded, the actions to send again, and the refusals described."""
    done: list[dict[str, Any]] = []
    again: list[Action] = []
    refused: list[str] = []
    for action, item in zip(actions, items, strict=True):
        ((op, result),) = item.items()
        status = int(result.get("status", 0))
        if not _failed(item):
            done.append(result)
        elif status == 429 or status >= 500:
            again.append(action)
        else:
            refused.append(_describe(op, result, action[1]))
    return done, again, refused


def _status(item: dict[str, Any]) -> int:
    ((_, result),) = item.items()
    return int(result.get("status", 0))


def _failed(item: dict[str, Any]) -> bool:
    """Whether an item failed: not a 2xx, and not the 404 of deleting what is already gone."""
    ((op, _),) = item.items()
    status = _status(item)
    return not (200 <= status < 300 or (op == "delete" and status == 404))


def _describe(op: str, result: dict[str, Any], source: dict[str, Any] | None) -> str:
    """An item's failure, naming the chunk and the error type, never a field's value."""
    error = result.get("error") or {}
    kind = error.get("type", "error") if isinstance(error, dict) else str(error)
    reason = error.get("reason", "") if isinstance(error, dict) else ""
    # OpenSearch quotes the offending value after "Preview of field's value"; that is document content.
    reason = str(reason).split("Preview of field", 1)[0].strip().rstrip(".")[:200]
    name = source.get("chunk_id") if source else result.get("_id")
    return f"{op} {name}: {result.get('status')} {kind}" + (f" ({reason})" if reason else "")
