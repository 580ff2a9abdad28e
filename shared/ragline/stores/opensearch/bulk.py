"""Bulk requests: many actions in one request, and what to do with the items OpenSearch refuses.

A whole request that fails (a connection error, 409, 429 or 5xx) is sent again by the
:class:`~ragline.stores.opensearch.connection.IndexClient`. Within an answered request, each item has its
own status: the items refused with 429 or 5xx are sent again, alone, after the same backoff; when the
attempts run out, :class:`~ragline.errors.TransientError` (the message goes back to the queue). An item
refused for any other reason (a mapping error: 400) raises :class:`IndexingError`, which retrying will not
fix. Error messages name chunk ids and error types, never the content of a document.

A request is never larger than :data:`MAX_BULK_BYTES`: the actions are sent in as many requests as that
takes. Should the cluster still answer 413 (Payload Too Large: a smaller limit than assumed), the request
is split in half and each half sent, down to a single action, which then fails with :class:`IndexingError`.

Retrying a request cannot duplicate a chunk where every ``index`` action carries its ``_id`` (the chunk
id, on a managed domain): a second write of the same ``_id`` replaces the first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ragline.errors import RaglineError, TransientError
from ragline.stores.opensearch.connection import IndexClient

#: One bulk action: its action line (``{"index": {...}}``, ``{"delete": {...}}``) and the document that
#: follows an ``index`` action (None for a ``delete``).
Action = tuple[dict[str, Any], dict[str, Any] | None]

_SHOWN_REFUSALS = 5

#: The largest bulk request body sent, in bytes. Amazon OpenSearch Service bounds an HTTP request's payload
#: by instance type, 10 MiB on the smallest (t3.small.search, the stack's default) and 100 MiB on large
#: ones (docs/deploy.md, "Sizing"); staying under the smallest keeps every request accepted on any of them.
MAX_BULK_BYTES = 10 * 1024 * 1024

_PAYLOAD_TOO_LARGE = 413


class IndexingError(RaglineError):
    """OpenSearch refused to index a chunk for a reason retrying will not fix (a mapping error, a bad value)."""


def bulk(
    target: IndexClient, actions: list[Action], description: str, *, refresh: bool, max_bytes: int = MAX_BULK_BYTES
) -> list[dict[str, Any]]:
    """Send ``actions`` in requests of at most ``max_bytes``, sending the items refused with 429 or 5xx
    again; returns every item's result.

    ``refresh`` makes the writes searchable before the request returns (``refresh=wait_for``).
    """
    params = {"refresh": "wait_for"} if refresh else {}
    results: list[dict[str, Any]] = []
    for group in _within(actions, max_bytes):
        results.extend(_bulk_retrying_items(target, group, description, params))
    return results


def _bulk_retrying_items(
    target: IndexClient, actions: list[Action], description: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """One group of actions, the items refused with 429 or 5xx sent again as the retry policy allows."""
    results: list[dict[str, Any]] = []
    pending = actions
    started = target.retry.clock()
    retry = 0
    while True:
        items = _send_splitting(target, pending, description, params)
        done, again, refused = _triage(pending, items)
        results.extend(done)
        if refused:
            shown = "; ".join(refused[:_SHOWN_REFUSALS])
            if len(refused) > _SHOWN_REFUSALS:
                shown += f"; and {len(refused) - _SHOWN_REFUSALS} more"
            raise IndexingError(f"{description} into {target.index!r}: {len(refused)} refused: {shown}")
        if not again:
            return results
        pause = target.retry.next_pause(retry, started)
        if pause is None:
            statuses = sorted({_status(item) for item in items if _failed(item)})
            raise TransientError(
                f"{description} into {target.index!r}: {len(again)} items still failing after "
                f"{retry + 1} attempts (status {', '.join(map(str, statuses))})"
            )
        target.retry.sleep(pause)
        retry += 1
        pending = again


def _lines(action: Action) -> list[dict[str, Any]]:
    line, source = action
    return [line] if source is None else [line, source]


def _size(action: Action) -> int:
    """The bytes an action takes in the request body, serialised as opensearch-py does (one line each)."""
    return sum(len(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()) + 1 for line in _lines(action))


def _within(actions: list[Action], max_bytes: int) -> Iterator[list[Action]]:
    """``actions`` in order, in groups whose request bodies stay within ``max_bytes`` (an action larger
    than that alone makes a group of one, for the cluster to judge)."""
    group: list[Action] = []
    size = 0
    for action in actions:
        action_size = _size(action)
        if group and size + action_size > max_bytes:
            yield group
            group, size = [], 0
        group.append(action)
        size += action_size
    if group:
        yield group


def _send_splitting(target: IndexClient, actions: list[Action], description: str, params: dict[str, Any]) -> list[dict]:
    """One bulk request's items; on a 413, the two halves' items, each half split again if need be."""
    from opensearchpy.exceptions import TransportError

    try:
        return _send(target, actions, description, params)
    except TransportError as error:
        if error.status_code != _PAYLOAD_TOO_LARGE:
            raise
        if len(actions) == 1:
            line, source = actions[0]
            ((op, meta),) = line.items()
            name = source.get("chunk_id") if source else meta.get("_id")
            raise IndexingError(
                f"{description} into {target.index!r}: {op} {name} alone is larger than the cluster accepts "
                f"(413, {_size(actions[0])} bytes)"
            ) from error
    half = len(actions) // 2
    return _send_splitting(target, actions[:half], description, params) + _send_splitting(
        target, actions[half:], description, params
    )


def _send(target: IndexClient, actions: list[Action], description: str, params: dict[str, Any]) -> list[dict]:
    """One bulk request; its items, one per action."""
    body: list[dict[str, Any]] = []
    for action in actions:
        body.extend(_lines(action))
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
