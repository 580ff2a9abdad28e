"""moto's SQS SendMessage, ReceiveMessage and DeleteMessage at the cost of their messages, not of the
queue's depth.

moto 5 reads one setting of a queue (its retention period, whether it deduplicates by content) by computing
*all* the queue's attributes, its three approximate message counts among them, each a pass over every
message: sending a message to a queue of n costs n steps, and receiving a batch about n² (the retention
check runs per message). A backfill puts tens of thousands of messages on the ingest queue at once
(``ragline sync``); on moto, queuing them and taking them back then cost more than ingesting them. SQS's
own calls do not grow with the queue's depth.

:func:`install_constant_time_retention` makes the retention check read the one attribute it needs; makes
the counts in a queue's attributes computed when they are read (GetQueueAttributes still answers them
exactly), not whenever any attribute is; makes a deletion find its message among those in flight (moto
passed twice over every message of the queue, and copied it, for each deletion); and reads the clock once
per receive's pass over the queue, not twice per message. Local only (the
local stack, the tests and the benchmarks); nothing on a Lambda's import path imports this.

Example:
    >>> install_constant_time_retention()  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

_installed = threading.Lock()
_patched: list[bool] = []  # one True once installed
_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
)


class _CountsWhenRead(dict[str, Any]):
    """A queue's attributes whose message counts are computed on first read of any of them (or of all)."""

    def __init__(self, static: dict[str, Any], counts: Callable[[], dict[str, Any]]) -> None:
        super().__init__(static)
        self._counts: Callable[[], dict[str, Any]] | None = counts

    def _complete(self) -> None:
        if self._counts is not None:
            counts, self._counts = self._counts, None
            self.update(counts())

    def __getitem__(self, key: str) -> Any:
        if key in _COUNTS:
            self._complete()
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in _COUNTS:
            self._complete()
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in _COUNTS or super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self._complete()
        return super().__iter__()

    def __len__(self) -> int:
        self._complete()
        return super().__len__()

    def items(self) -> Any:
        self._complete()
        return super().items()

    def keys(self) -> Any:
        self._complete()
        return super().keys()

    def values(self) -> Any:
        self._complete()
        return super().values()


def install_constant_time_retention() -> None:
    """Make moto's retention check read the queue's retention period alone. Idempotent."""
    from moto.core.utils import unix_time, unix_time_millis
    from moto.sqs.models import Queue, SQSBackend

    with _installed:
        if _patched:
            return

        def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
            retention_seconds = int(self.get_queue(queue_name).message_retention_period)
            return bool(retention_seconds + message.sent_timestamp / 1000 > unix_time())

        counted_attributes = vars(Queue)["attributes"].fget

        def attributes(self: Any) -> dict[str, Any]:
            # moto's own property, with the counts' properties answering nothing for now: one pass over
            # the messages, on demand, instead of three on every read.
            static = counted_attributes(_WithoutCounts(self))
            for name in _COUNTS:
                static.pop(name, None)
            return _CountsWhenRead(static, lambda: {name: counted_attributes(self)[name] for name in _COUNTS})

        deleted_by_moto = Queue.delete_message

        def delete_message(self: Any, receipt_handle: str) -> None:
            # A message being deleted was received and is in flight: found among those, it is removed
            # with one list removal instead of moto's two passes over the queue and a copy of it.
            if receipt_handle not in self.deleted_messages:
                for message in list(self.pending_messages):
                    if message.had_receipt_handle(receipt_handle):
                        self.pending_messages.discard(message)
                        self.deleted_messages.update(message.all_receipt_handles)
                        self._messages.remove(message)
                        return
            deleted_by_moto(self, receipt_handle)  # deleted already, not in flight, or unknown: moto's own way

        def messages(self: Any) -> list[Any]:
            # The visible, undelayed messages, as moto's property, with one clock read for the whole pass
            # instead of two for each message (every receive makes this pass over the whole queue).
            now = unix_time_millis()
            return [message for message in self._messages if now > message.visible_at and now >= message.delayed_until]

        setattr(Queue, "delete_message", delete_message)  # noqa: B010
        setattr(Queue, "messages", property(messages))  # noqa: B010
        setattr(SQSBackend, "is_message_valid_based_on_retention_period", is_message_valid_based_on_retention_period)  # noqa: B010
        setattr(Queue, "attributes", property(attributes))  # noqa: B010
        _patched.append(True)


class _WithoutCounts:
    """A queue seen through moto's ``attributes`` property with its message counts answered as 0."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __getattr__(self, name: str) -> Any:
        if name.startswith("approximate_number_of_messages"):
            return 0
        return getattr(self._queue, name)
